//! Each in-cluster resource's desired state, resolved from the spec before
//! anything live is looked at (values files and secrets, charts, build
//! contexts, manifest YAML), and its live state as its provider saw it.
//! Typed per provider, so that apply hands each provider exactly what it
//! planned from.

use std::collections::BTreeMap;
use std::path::Path;

use kindform_api::provider::{Diff, Provider as _, Resolve as _};
use kindform_api::{Address, Spec};
use kindform_check::{CheckInput, CheckProvider, DesiredCheck};
use kindform_helm::{DesiredRelease, HelmVersion, ReleaseInput, ReleaseLive, ReleaseProvider};
use kindform_image::{DesiredImage, ImageInput, ImageLive, ImageProvider};
use kindform_manifest::{DesiredManifest, ManifestInput, ManifestLive, ManifestProvider};

use crate::graph::Graph;
use crate::plan::Step;

/// A resource's desired state (comparable, so that `watch` can tell an
/// edit of the spec or of a file it names from drift).
#[derive(Clone, Debug, PartialEq)]
pub enum Desired {
    Image(DesiredImage),
    /// A release (it holds secrets: never printed whole).
    Release(Box<DesiredRelease>),
    Manifest(DesiredManifest),
    Check(DesiredCheck),
}

/// A resource's live state.
#[derive(Clone, Debug)]
pub enum Live {
    Image(ImageLive),
    Release(Box<ReleaseLive>),
    Manifest(ManifestLive),
    /// A check (nothing to see).
    Check,
}

/// Why a resource's desired state could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read what the spec asks of {address}")]
pub struct ResolveError {
    pub address: Address,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// Resolves the desired state of each in-cluster address, each through
/// its provider's [`Resolve`](kindform_api::provider::Resolve).
pub async fn resolve(
    spec: &Spec,
    graph: &Graph,
    addresses: &[&Address],
    state_dir: &Path,
    helm: Option<&HelmVersion>,
) -> Result<BTreeMap<Address, Desired>, ResolveError> {
    let nodes = spec.cluster.node_names();
    let base = &spec.base_dir;
    let mut out = BTreeMap::new();
    for &address in addresses {
        let failed = |e: Box<dyn std::error::Error + Send + Sync>| ResolveError {
            address: address.clone(),
            source: e,
        };
        let desired = match address {
            Address::Cluster => continue,
            Address::Image(n) => Desired::Image(
                ImageProvider::resolve(ImageInput {
                    name: n,
                    spec: &spec.images[n],
                    base_dir: base,
                    nodes: &nodes,
                })
                .await
                .map_err(|e| failed(Box::new(e)))?,
            ),
            Address::Release(n) => {
                let helm =
                    helm.ok_or_else(|| failed("the version of `helm` was not read".into()))?;
                let input = ReleaseInput {
                    name: n,
                    spec: &spec.releases[n],
                    base_dir: base,
                    helm,
                };
                Desired::Release(Box::new(
                    ReleaseProvider::resolve(input)
                        .await
                        .map_err(|e| failed(Box::new(e)))?,
                ))
            }
            Address::Manifest(n) => Desired::Manifest(
                ManifestProvider::resolve(ManifestInput {
                    name: n,
                    spec: &spec.manifests[n],
                    environment: &spec.name,
                    base_dir: base,
                    state_dir,
                })
                .await
                .map_err(|e| failed(Box::new(e)))?,
            ),
            Address::Check(n) => Desired::Check(
                CheckProvider::resolve(CheckInput {
                    spec: &spec.checks[n],
                    namespaces: dependency_namespaces(spec, graph, address),
                })
                .await
                .map_err(|e| failed(Box::new(e)))?,
            ),
        };
        out.insert(address.clone(), desired);
    }
    Ok(out)
}

/// The namespaces of what a check depends on directly, whose pods explain
/// it when it fails.
fn dependency_namespaces(spec: &Spec, graph: &Graph, address: &Address) -> Vec<String> {
    let mut namespaces: Vec<String> = graph
        .dependencies(address)
        .into_iter()
        .filter_map(|d| match d {
            Address::Release(n) => spec.releases.get(n).map(|r| r.namespace.clone()),
            Address::Manifest(n) => spec.manifests.get(n).and_then(|m| m.namespace.clone()),
            _ => None,
        })
        .collect();
    namespaces.sort();
    namespaces.dedup();
    namespaces
}

/// What creating a resource takes, without observing it, by its provider.
pub fn plan_create(desired: &Desired) -> Diff<Step> {
    match desired {
        Desired::Image(d) => ImageProvider::plan_create(d).map_steps(Step::Image),
        Desired::Release(d) => ReleaseProvider::plan_create(d).map_steps(Step::Release),
        Desired::Manifest(d) => ManifestProvider::plan_create(d).map_steps(Step::Manifest),
        Desired::Check(d) => CheckProvider::plan_create(d).map_steps(Step::Check),
    }
}
