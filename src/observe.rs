//! Observation: reads the live state of every resource through its provider
//! and collects the diffs the planner needs.
//!
//! First every in-cluster resource's desired state is resolved from the spec
//! (values files, secrets, charts, build contexts, manifest YAML), so that a
//! missing secret stops the plan before anything is looked at. Then the
//! cluster: when it is to be created or replaced, nothing in it is observed
//! (there is nothing to see) and each resource's plan to create stands in;
//! when its API does not answer, what is in it waits for the repair. Then
//! what several resources share is read once (the applied record, `helm
//! list`, each node's images, the workloads), and the resources are observed
//! concurrently, at most `parallelism` at a time. Manifests the applied
//! record lists but the spec no longer has are the orphans.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use futures::StreamExt as _;
use kindform_api::provider::{Diff, Difference, Effect, Provider};
use kindform_api::{Address, Spec};
use kindform_check::CheckProvider;
use kindform_helm::{DesiredRelease, Helm, ReleaseProvider};
use kindform_image::{DesiredImage, ImageProvider};
use kindform_kind::{ApiState, ClusterProvider};
use kindform_kube::manifest::{DesiredManifest, ManifestProvider};
use kindform_kube::{AppliedRecord, Objects};

use crate::graph::Graph;
use crate::plan::{Observed, PlanOptions, cascades, included};

/// What observation needs: Docker, the environment's state folder.
pub struct Session {
    /// The Docker engine.
    pub docker: Docker,
    /// `.kindform/<environment>/` beside the spec.
    pub state_dir: PathBuf,
    /// How many resources are observed at once.
    pub parallelism: usize,
}

/// Why observation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Docker is not reachable.
    #[error(
        "Docker is not reachable ({host}): start the Docker engine, or point DOCKER_HOST at one"
    )]
    Docker {
        /// Where it was looked for.
        host: String,
        /// Why.
        #[source]
        source: bollard::errors::Error,
    },
    /// A tool kindform drives is not on PATH.
    #[error("`{tool}` is not on PATH: {how}")]
    MissingTool {
        /// The tool.
        tool: &'static str,
        /// How to get it.
        how: &'static str,
    },
    /// The cluster could not be observed.
    #[error("cannot observe the cluster")]
    Cluster(#[source] kindform_kind::ClusterError),
    /// A resource's desired state could not be read from the spec.
    #[error("cannot read what the spec asks of {address}")]
    Desired {
        /// Which.
        address: Address,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The cluster's API did not answer although the cluster looked healthy.
    #[error("cannot reach the cluster's API")]
    Connect(#[source] kindform_kube::ConnectError),
    /// Something every resource shares could not be read.
    #[error("cannot read {what}")]
    Shared {
        /// What.
        what: &'static str,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A resource could not be observed.
    #[error("cannot observe {address}")]
    Resource {
        /// Which.
        address: Address,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Connects to Docker (negotiating the API version) and checks that `kind`
/// (and `helm`, when the spec has releases) are on PATH, before anything runs.
pub async fn session(
    spec: &Spec,
    state_dir: PathBuf,
    parallelism: usize,
) -> Result<Session, Error> {
    let host =
        std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_owned());
    let connected = async {
        let docker = Docker::connect_with_defaults()?;
        docker.ping().await?;
        docker.negotiate_version().await
    };
    let docker = connected
        .await
        .map_err(|source| Error::Docker { host, source })?;
    if !on_path("kind") {
        return Err(Error::MissingTool {
            tool: "kind",
            how: "install kind from https://kind.sigs.k8s.io/docs/user/quick-start/#installation",
        });
    }
    if !spec.releases.is_empty() && !on_path("helm") {
        return Err(Error::MissingTool {
            tool: "helm",
            how: "install Helm 3.14 or later from https://helm.sh/docs/intro/install/",
        });
    }
    Ok(Session {
        docker,
        state_dir,
        parallelism: parallelism.max(1),
    })
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
}

/// A resource's desired state, resolved from the spec.
enum Desired {
    Image(DesiredImage),
    Release(Box<DesiredRelease>),
    Manifest(DesiredManifest),
    Check,
}

/// Resolves the desired state of each in-cluster address.
fn resolve(
    spec: &Spec,
    addresses: &[&Address],
    state_dir: &std::path::Path,
) -> Result<BTreeMap<Address, Desired>, Error> {
    let nodes = spec.cluster.node_names();
    let base = &spec.base_dir;
    let mut out = BTreeMap::new();
    for &address in addresses {
        let boxed = |e: Box<dyn std::error::Error + Send + Sync>| Error::Desired {
            address: address.clone(),
            source: e,
        };
        let desired = match address {
            Address::Cluster => continue,
            Address::Image(n) => Desired::Image(
                kindform_image::resolve(n, &spec.images[n], base, &nodes)
                    .map_err(|e| boxed(Box::new(e)))?,
            ),
            Address::Release(n) => Desired::Release(Box::new(
                kindform_helm::resolve(n, &spec.releases[n], base)
                    .map_err(|e| boxed(Box::new(e)))?,
            )),
            Address::Manifest(n) => Desired::Manifest(
                kindform_kube::manifest::resolve(
                    n,
                    &spec.manifests[n],
                    &spec.name,
                    base,
                    state_dir,
                )
                .map_err(|e| boxed(Box::new(e)))?,
            ),
            Address::Check(_) => Desired::Check,
        };
        out.insert(address.clone(), desired);
    }
    Ok(out)
}

/// What creating a resource takes, without observing it.
fn plan_create(spec: &Spec, address: &Address, desired: &Desired) -> Diff {
    match (address, desired) {
        (_, Desired::Image(d)) => kindform_image::provider::plan_create(d),
        (_, Desired::Release(d)) => kindform_helm::release::plan_create(d),
        (_, Desired::Manifest(d)) => kindform_kube::manifest::plan_create(d),
        (Address::Check(n), Desired::Check) => CheckProvider.plan_create(&spec.checks[n]),
        _ => Diff::default(),
    }
}

/// The diff of a resource in a cluster whose API does not answer: it cannot
/// be seen until the cluster's repair is done.
fn waits_for_cluster(address: &Address) -> Diff {
    Diff {
        differences: vec![Difference::new(
            "cluster-unreachable",
            Effect::Repair,
            "cannot be observed until the cluster is repaired",
        )],
        steps: vec![format!(
            "observe {address} again once the cluster answers, then converge it to the spec"
        )],
        ..Diff::default()
    }
}

/// The providers, over what the resources share.
struct Providers {
    images: Option<ImageProvider>,
    releases: Option<ReleaseProvider>,
    manifests: ManifestProvider,
}

/// Observes what the plan needs.
pub async fn observe(
    spec: &Spec,
    graph: &Graph,
    session: &Session,
    options: &PlanOptions,
) -> Result<Observed, Error> {
    let mut observed = Observed::default();
    let kubeconfig = session.state_dir.join("kubeconfig");
    let keep = included(graph, options);
    let inside: Vec<&Address> = graph
        .topological()
        .into_iter()
        .filter(|a| a.is_in_cluster())
        .filter(|a| keep.as_ref().is_none_or(|k| k.contains(a)))
        .collect();
    let started = std::time::Instant::now();
    let ms = || started.elapsed().as_millis();
    let desired = resolve(spec, &inside, &session.state_dir)?;
    tracing::debug!(
        "resolved {} resources from the spec in {} ms",
        desired.len(),
        ms()
    );
    let cluster = ClusterProvider::new(session.docker.clone(), kubeconfig.clone());
    let live = cluster
        .observe(&spec.cluster)
        .await
        .map_err(Error::Cluster)?;
    let cluster_diff = cluster.diff(&spec.cluster, &live);
    tracing::debug!("observed the cluster at {} ms", ms());
    observed
        .fingerprints
        .insert(Address::Cluster, live_fingerprint(&live));
    let cascade = cascades(&cluster_diff, options.replace.contains(&Address::Cluster));
    observed.diffs.insert(Address::Cluster, cluster_diff);
    if cascade {
        for (address, d) in &desired {
            observed
                .diffs
                .insert(address.clone(), plan_create(spec, address, d));
        }
        return Ok(observed);
    }
    if !matches!(live.api, ApiState::Reachable { .. }) {
        for address in desired.keys() {
            let diff = match address {
                Address::Check(n) => CheckProvider.plan_create(&spec.checks[n]),
                _ => waits_for_cluster(address),
            };
            observed.diffs.insert(address.clone(), diff);
        }
        return Ok(observed);
    }
    let context = format!("kind-{}", spec.cluster.name);
    let client = kindform_kube::connect(&kubeconfig, &context, Duration::from_secs(10))
        .await
        .map_err(Error::Connect)?;
    tracing::debug!("connected to the API at {} ms", ms());
    let shared = |what: &'static str| {
        move |e: Box<dyn std::error::Error + Send + Sync>| Error::Shared { what, source: e }
    };
    let record = Arc::new(
        AppliedRecord::read(&client)
            .await
            .map_err(|e| shared("kindform's applied record")(Box::new(e)))?,
    );
    let objects = Arc::new(Objects::new(client.clone()));
    let has = |f: fn(&Address) -> bool| desired.keys().any(f);
    // What several resources share is read once, all of it at the same time.
    let images = async {
        if !has(|a| matches!(a, Address::Image(_))) {
            return Ok(None);
        }
        let nodes = spec.cluster.node_names();
        let (node_refs, workloads) = tokio::join!(
            kindform_image::all_node_refs(&session.docker, &nodes),
            kindform_kube::workloads(&client)
        );
        let workloads = workloads.map_err(|e| shared("the cluster's workloads")(Box::new(e)))?;
        Ok(Some(ImageProvider::new(
            session.docker.clone(),
            Arc::new(node_refs),
            Arc::new(workloads),
        )))
    };
    let releases = async {
        if !has(|a| matches!(a, Address::Release(_))) {
            return Ok(None);
        }
        let helm = Helm::new(&kubeconfig, &spec.cluster.name, &spec.base_dir);
        let listing = helm
            .list()
            .await
            .map_err(|e| shared("the cluster's Helm releases")(Box::new(e)))?;
        Ok::<_, Error>(Some(ReleaseProvider::new(
            helm,
            Arc::new(listing),
            Arc::clone(&record),
            Arc::clone(&objects),
        )))
    };
    let (images, releases) = tokio::join!(images, releases);
    let (images, releases) = (images?, releases?);
    tracing::debug!("read what resources share at {} ms", ms());
    let providers = Providers {
        images,
        releases,
        manifests: ManifestProvider::new(Arc::clone(&objects), Arc::clone(&record)),
    };
    let providers = &providers;
    let results: Vec<(Address, Result<Seen, Error>)> = futures::stream::iter(&desired)
        .map(|(address, d)| async move {
            let at = std::time::Instant::now();
            let seen = observe_one(spec, address, d, providers).await;
            tracing::debug!("observed {address} in {} ms", at.elapsed().as_millis());
            (address.clone(), seen)
        })
        .buffer_unordered(session.parallelism)
        .collect()
        .await;
    for (address, result) in results {
        let (diff, fingerprint) = result?;
        observed.diffs.insert(address.clone(), diff);
        observed.fingerprints.insert(address, fingerprint);
    }
    tracing::debug!("observed every resource at {} ms", ms());
    if keep.is_none() {
        for (key, entry) in &record.0 {
            let Some(name) = key.strip_prefix("manifests.") else {
                continue;
            };
            if spec.manifests.contains_key(name) {
                continue;
            }
            let address = Address::Manifest(name.to_owned());
            let existing = providers
                .manifests
                .observe_orphan(entry)
                .await
                .map_err(|e| Error::Resource {
                    address: address.clone(),
                    source: Box::new(e),
                })?;
            observed
                .fingerprints
                .insert(address.clone(), live_fingerprint(&existing));
            observed.orphans.push((
                address,
                kindform_kube::manifest::orphan_diff(entry, &existing),
            ));
        }
    }
    Ok(observed)
}

/// A resource's diff, with the fingerprint of the live state it came from.
type Seen = (Diff, String);

async fn observe_one(
    spec: &Spec,
    address: &Address,
    desired: &Desired,
    providers: &Providers,
) -> Result<Seen, Error> {
    let nothing = || Ok((Diff::default(), String::new()));
    match (address, desired) {
        (_, Desired::Image(d)) => match &providers.images {
            Some(p) => observe_with(p, d, address).await,
            None => nothing(),
        },
        (_, Desired::Release(d)) => match &providers.releases {
            Some(p) => observe_with(p, d.as_ref(), address).await,
            None => nothing(),
        },
        (_, Desired::Manifest(d)) => observe_with(&providers.manifests, d, address).await,
        (Address::Check(n), Desired::Check) => {
            observe_with(&CheckProvider, &spec.checks[n], address).await
        }
        _ => nothing(),
    }
}

/// A fingerprint of live state as a provider observed it (which holds no
/// secrets: providers keep digests of them at most).
fn live_fingerprint(live: &impl serde::Serialize) -> String {
    kindform_api::settings::fingerprint(&serde_json::to_value(live).unwrap_or_default())
}

/// Observes one resource through its provider and diffs it; with the
/// fingerprint of what was seen.
async fn observe_with<P: Provider>(
    provider: &P,
    desired: &P::Desired,
    address: &Address,
) -> Result<Seen, Error> {
    match provider.observe(desired).await {
        Ok(live) => Ok((provider.diff(desired, &live), live_fingerprint(&live))),
        Err(e) => Err(Error::Resource {
            address: address.clone(),
            source: Box::new(e),
        }),
    }
}
