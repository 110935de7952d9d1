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
//! concurrently, at most `parallelism` at a time. Manifests and releases
//! the applied record lists but the spec no longer has are the orphans.

use std::collections::BTreeMap;

use futures::StreamExt as _;
use kindform_api::provider::{Diff, Difference, Effect, Orphans, Provider};
use kindform_api::{Address, Health, Reason, Spec};
use kindform_helm::{ReleaseOrphan, ReleaseProvider};
use kindform_kind::{ApiState, ClusterLive};
use kindform_manifest::ManifestProvider;

use crate::graph::Graph;
use crate::in_cluster::{InCluster, InClusterError};
use crate::plan::{EngineStep, Observed, PlanOptions, Step, cascades, included};
use crate::resources::{Desired, Live, ResolveError, plan_create, resolve};
use crate::session::{Session, cluster_provider};

/// Why observation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The cluster could not be observed.
    #[error("cannot observe the cluster")]
    Cluster(#[source] kindform_kind::ClusterError),
    /// A resource's desired state could not be read from the spec.
    #[error(transparent)]
    Desired(#[from] ResolveError),
    /// What the resources in the cluster share could not be read.
    #[error(transparent)]
    InCluster(#[from] InClusterError),
    /// A target is neither in the spec nor one that left it.
    #[error("`{0}` is not a resource of the spec, nor one kindform applied for it that left it")]
    UnknownTarget(Address),
    /// A resource could not be observed.
    #[error("cannot observe {address}")]
    Resource {
        address: Address,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The diff of a resource in a cluster whose API does not answer: it cannot
/// be seen until the cluster's repair is done.
fn waits_for_cluster(address: &Address) -> Diff<Step> {
    Diff {
        differences: vec![Difference::new(
            Reason::ClusterUnreachable,
            Effect::Repair,
            "cannot be observed until the cluster is repaired",
        )],
        steps: vec![Step::Engine(EngineStep::Reobserve {
            address: address.clone(),
        })],
        ..Diff::default()
    }
}

/// A resource that left the spec, as its provider found it.
#[derive(serde::Serialize)]
#[serde(untagged)]
pub enum Orphan {
    /// A manifest.
    Manifest(kindform_manifest::Orphan),
    /// A release.
    Release(ReleaseOrphan),
}

/// What a plan was made from, typed per provider, for apply: each
/// resource's desired state and, where it was observed, its live state.
#[derive(Default)]
pub struct Planned {
    /// The cluster as observed.
    pub cluster: Option<ClusterLive>,
    /// Desired state by address (in-cluster resources).
    pub desired: BTreeMap<Address, Desired>,
    /// Live state by address, where it was observed.
    pub live: BTreeMap<Address, Live>,
    /// The manifests and releases that left the spec.
    pub orphans: BTreeMap<Address, Orphan>,
    /// The in-cluster providers observation used, for apply to go on with
    /// while the cluster is the one observed.
    pub in_cluster: Option<InCluster>,
}

/// What observation produced: the diffs for the planner, and the typed
/// states for apply.
pub struct Observation {
    /// For the planner.
    pub observed: Observed,
    /// For apply.
    pub planned: Planned,
}

/// Observes what the plan needs.
pub async fn observe(
    spec: &Spec,
    graph: &Graph,
    session: &Session,
    options: &PlanOptions,
) -> Result<Observation, Error> {
    let mut observed = Observed::default();
    let mut planned = Planned::default();
    let keep = included(graph, options);
    let inside: Vec<&Address> = graph
        .topological()
        .into_iter()
        .filter(|a| a.is_in_cluster())
        .filter(|a| keep.as_ref().is_none_or(|k| k.contains(a)))
        .collect();
    let started = std::time::Instant::now();
    let ms = || started.elapsed().as_millis();
    planned.desired = resolve(
        spec,
        graph,
        &inside,
        &session.state_dir,
        session.helm.as_ref(),
    )
    .await?;
    tracing::debug!(
        "resolved {} resources from the spec in {} ms",
        planned.desired.len(),
        ms()
    );
    let cluster = cluster_provider(session);
    let live = cluster
        .observe(&spec.cluster)
        .await
        .map_err(Error::Cluster)?;
    let cluster_diff = cluster.diff(&spec.cluster, &live).map_steps(Step::Cluster);
    if options.replace.contains(&Address::Cluster) {
        let steps = cluster.plan_replace(&spec.cluster, &live);
        observed.replacements.insert(
            Address::Cluster,
            steps.into_iter().map(Step::Cluster).collect(),
        );
    }
    observed
        .health
        .insert(Address::Cluster, cluster.health(&spec.cluster, &live));
    tracing::debug!("observed the cluster at {} ms", ms());
    observed
        .fingerprints
        .insert(Address::Cluster, live_fingerprint(&live));
    let cascade = cascades(
        &cluster_diff,
        options.replace.contains(&Address::Cluster),
        spec.cluster.allow_rebuild,
    );
    observed.diffs.insert(Address::Cluster, cluster_diff);
    let reachable = matches!(live.api, ApiState::Reachable { .. });
    planned.cluster = Some(live);
    observed.cluster_remade = cascade;
    if cascade {
        for (address, d) in &planned.desired {
            observed.diffs.insert(address.clone(), plan_create(d));
        }
        return Ok(Observation { observed, planned });
    }
    if !reachable {
        for (address, d) in &planned.desired {
            let diff = match d {
                Desired::Check(check) => {
                    kindform_check::CheckProvider::plan_create(check).map_steps(Step::Check)
                }
                _ => waits_for_cluster(address),
            };
            observed.diffs.insert(address.clone(), diff);
        }
        return Ok(Observation { observed, planned });
    }
    let (images, releases) = InCluster::needs(planned.desired.keys());
    let shared = InCluster::connect(spec, session, images, releases).await?;
    tracing::debug!("read what resources share at {} ms", ms());
    let providers = &shared;
    let results: Vec<(Address, Result<Seen, Error>)> = futures::stream::iter(&planned.desired)
        .map(|(address, d)| async move {
            let at = std::time::Instant::now();
            let forced = options.replace.contains(address);
            let seen = observe_one(address, d, providers, forced).await;
            tracing::debug!("observed {address} in {} ms", at.elapsed().as_millis());
            (address.clone(), seen)
        })
        .buffer_unordered(session.parallelism)
        .collect()
        .await;
    for (address, result) in results {
        let seen = result?;
        observed.diffs.insert(address.clone(), seen.diff);
        if let Some(steps) = seen.replacement {
            observed.replacements.insert(address.clone(), steps);
        }
        if !seen.restart.is_empty() {
            observed.restarts.insert(address.clone(), seen.restart);
        }
        observed
            .fingerprints
            .insert(address.clone(), seen.fingerprint);
        if let Some(health) = seen.health {
            observed.health.insert(address.clone(), health);
        }
        planned.live.insert(address, seen.live);
    }
    tracing::debug!("observed every resource at {} ms", ms());
    // What left the spec goes, unless the targets leave it out.
    let wanted = |address: &Address| keep.as_ref().is_none_or(|k| k.contains(address));
    let in_spec = |name: &str| spec.manifests.contains_key(name);
    let orphans =
        providers
            .manifests
            .orphans(&in_spec)
            .await
            .map_err(|e| InClusterError::Shared {
                what: "the manifests that left the spec",
                source: Box::new(e),
            })?;
    for (name, orphan) in orphans {
        let address = Address::Manifest(name);
        if !wanted(&address) {
            continue;
        }
        observed
            .fingerprints
            .insert(address.clone(), live_fingerprint(&orphan.existing));
        observed.orphans.push((
            address.clone(),
            ManifestProvider::plan_orphan(&orphan).map_steps(Step::Manifest),
        ));
        planned.orphans.insert(address, Orphan::Manifest(orphan));
    }
    if let Some(releases) = &providers.releases {
        let in_spec = |name: &str| spec.releases.contains_key(name);
        let orphans = releases
            .orphans(&in_spec)
            .await
            .map_err(|e| InClusterError::Shared {
                what: "the releases that left the spec",
                source: Box::new(e),
            })?;
        for (name, orphan) in orphans {
            let address = Address::Release(name);
            if !wanted(&address) {
                continue;
            }
            observed
                .fingerprints
                .insert(address.clone(), live_fingerprint(&orphan));
            observed.orphans.push((
                address.clone(),
                ReleaseProvider::plan_orphan(&orphan).map_steps(Step::Release),
            ));
            planned.orphans.insert(address, Orphan::Release(orphan));
        }
    }
    observed.orphan_after = orphan_order(&planned.orphans);
    for target in &options.targets {
        if !graph.contains(target) && !planned.orphans.contains_key(target) {
            return Err(Error::UnknownTarget(target.clone()));
        }
    }
    planned.in_cluster = Some(shared);
    Ok(Observation { observed, planned })
}

/// The order of what left the spec: a release goes after the orphans that
/// depended on it (its record keeps what it depended on) and after every
/// manifest that left (a manifest's objects are often of kinds a release's
/// CRDs define, such as Dapr's components).
fn orphan_order(orphans: &BTreeMap<Address, Orphan>) -> BTreeMap<Address, Vec<Address>> {
    let mut after: BTreeMap<Address, Vec<Address>> = BTreeMap::new();
    for (address, orphan) in orphans {
        let Orphan::Release(release) = orphan else {
            continue;
        };
        let before = orphans.iter().filter_map(|(other, o)| {
            let first = match o {
                Orphan::Manifest(_) => true,
                Orphan::Release(r) => {
                    other != address
                        && r.depends_on
                            .iter()
                            .any(|pattern| depends_on_matches(pattern, address))
                }
            };
            first.then(|| other.clone())
        });
        let list: Vec<Address> = before.collect();
        if !list.is_empty() {
            after.insert(Address::Release(release.name.clone()), list);
        }
    }
    after
}

/// Whether a `depends_on` entry (an address or a glob) names `address`.
fn depends_on_matches(pattern: &str, address: &Address) -> bool {
    let text = address.to_string();
    if !pattern.contains(['*', '?', '[', '{']) {
        return pattern == text;
    }
    globset::GlobBuilder::new(pattern)
        .literal_separator(false)
        .build()
        .is_ok_and(|g| g.compile_matcher().is_match(&text))
}

/// A resource as seen: its diff, the fingerprint of its live state, and
/// that state.
pub struct Seen {
    /// The provider's diff.
    pub diff: Diff<Step>,
    /// What replacing it takes, when `--replace` names it.
    pub replacement: Option<Vec<Step>>,
    /// What restarting its pods takes (releases only).
    pub restart: Vec<Step>,
    /// The fingerprint of `live`.
    pub fingerprint: String,
    /// The live state.
    pub live: Live,
    /// How well it works; `None` for checks, which only apply runs.
    pub health: Option<Health>,
}

/// Observes one in-cluster resource with the provider that owns it; with
/// `forced`, also plans its replacement.
pub async fn observe_one(
    address: &Address,
    desired: &Desired,
    providers: &InCluster,
    forced: bool,
) -> Result<Seen, Error> {
    let missing = || Error::Resource {
        address: address.clone(),
        source: "no provider was set up for it".into(),
    };
    match desired {
        Desired::Image(d) => {
            let p = providers.images.as_ref().ok_or_else(missing)?;
            observe_with(p, d, address, forced, Live::Image, Step::Image).await
        }
        Desired::Release(d) => {
            let p = providers.releases.as_ref().ok_or_else(missing)?;
            let wrap = |l| Live::Release(Box::new(l));
            observe_with(p, d.as_ref(), address, forced, wrap, Step::Release).await
        }
        Desired::Manifest(d) => {
            let p = &providers.manifests;
            observe_with(p, d, address, forced, Live::Manifest, Step::Manifest).await
        }
        Desired::Check(d) => {
            let p = &providers.checks;
            let mut seen =
                observe_with(p, d, address, forced, |()| Live::Check, Step::Check).await?;
            seen.health = None;
            Ok(seen)
        }
    }
}

/// A fingerprint of live state as a provider observed it (which holds no
/// secrets: providers keep digests of them at most).
fn live_fingerprint(live: &impl serde::Serialize) -> String {
    kindform_api::settings::fingerprint(&serde_json::to_value(live).unwrap_or_default())
}

/// Observes one resource through its provider and diffs it.
async fn observe_with<P: Provider>(
    provider: &P,
    desired: &P::Desired,
    address: &Address,
    forced: bool,
    wrap: impl FnOnce(P::Live) -> Live,
    step: impl Fn(P::Step) -> Step + Copy,
) -> Result<Seen, Error> {
    match provider.observe(desired).await {
        Ok(live) => Ok(Seen {
            diff: provider.diff(desired, &live).map_steps(step),
            replacement: forced.then(|| {
                provider
                    .plan_replace(desired, &live)
                    .into_iter()
                    .map(step)
                    .collect()
            }),
            restart: provider
                .plan_restart(desired)
                .into_iter()
                .map(step)
                .collect(),
            health: Some(provider.health(desired, &live)),
            fingerprint: live_fingerprint(&live),
            live: wrap(live),
        }),
        Err(e) => Err(Error::Resource {
            address: address.clone(),
            source: Box::new(e),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(name: &str, depends_on: &[&str]) -> (Address, Orphan) {
        (
            Address::Release(name.to_owned()),
            Orphan::Release(ReleaseOrphan {
                name: name.to_owned(),
                namespace: Some("apps".to_owned()),
                depends_on: depends_on.iter().map(|d| (*d).to_owned()).collect(),
                installed: true,
            }),
        )
    }

    #[test]
    fn what_depended_on_an_orphan_goes_before_it_and_manifests_before_releases() {
        let manifest = (
            Address::Manifest("components".to_owned()),
            Orphan::Manifest(kindform_manifest::Orphan {
                name: "components".to_owned(),
                entry: kindform_kube::RecordEntry {
                    fingerprint: String::new(),
                    settings: serde_json::json!({"objects": [], "prune": true}),
                },
                existing: Vec::new(),
                not_ours: Vec::new(),
            }),
        );
        let orphans: BTreeMap<Address, Orphan> = [
            release("platform", &[]),
            release("app", &["releases.platform", "images.*"]),
            release("infra", &[]),
            release("worker", &["releases.{app,infra}"]),
            manifest,
        ]
        .into_iter()
        .collect();
        let order = orphan_order(&orphans);
        let names = |a: &str| -> Vec<String> {
            let mut names: Vec<String> = order
                .get(&a.parse::<Address>().unwrap())
                .map(|list| list.iter().map(ToString::to_string).collect())
                .unwrap_or_default();
            names.sort();
            names
        };
        assert_eq!(
            names("releases.platform"),
            ["manifests.components", "releases.app"]
        );
        assert_eq!(
            names("releases.app"),
            ["manifests.components", "releases.worker"]
        );
        assert_eq!(
            names("releases.infra"),
            ["manifests.components", "releases.worker"]
        );
        assert_eq!(names("releases.worker"), ["manifests.components"]);
        assert!(names("manifests.components").is_empty());
    }
}
