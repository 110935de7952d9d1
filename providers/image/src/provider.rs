//! The image provider: compares the local Docker image (and, for a `build`,
//! its context hash label) with what each target node holds, and names the
//! workloads a reload must restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bollard::Docker;
use kindform_api::image::normalized_reference;
use kindform_api::provider::{
    Diff, Difference, Effect, Outcome, Progress, Provider, live_or_observe,
};
use kindform_api::{Health, HealthState, ImageSpec};
use kindform_kube::Workload;
use serde::Serialize;
use serde_json::{Value, json};

use crate::context::{CONTEXT_LABEL, ContextError, context_hash};
use crate::nodes::NodeRefs;

/// An image as the spec means it: its target nodes and, for a build, the
/// hash of its context now.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredImage {
    /// `images.<name>`.
    pub address: String,
    /// The spec's definition.
    pub spec: ImageSpec,
    /// The nodes it must be on.
    pub nodes: Vec<String>,
    /// The build context's hash, with `build`.
    pub context_hash: Option<String>,
    /// The spec's folder, which the build context is relative to.
    pub base_dir: PathBuf,
}

/// Why an image could not be read or observed.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The build context could not be hashed.
    #[error(transparent)]
    Context(#[from] ContextError),
    /// Docker refused to inspect the image.
    #[error("cannot inspect the local image {reference}")]
    Inspect {
        /// The image.
        reference: String,
        /// Why.
        #[source]
        source: bollard::errors::Error,
    },
    /// Building failed.
    #[error(transparent)]
    Build(#[from] crate::build::BuildError),
    /// Loading into a node failed.
    #[error(transparent)]
    Load(#[from] crate::load::LoadError),
    /// Restarting a workload that runs the image failed.
    #[error(transparent)]
    Rollout(#[from] kindform_kube::rollout::RolloutError),
    /// The image is not local and the spec cannot build it.
    #[error(
        "image {reference} is not present locally and {address} has no `build`: build it first (docker build -t {reference} <context>), or add `build = {{ context = \"…\" }}` to {address}"
    )]
    NotLocal {
        /// The image.
        reference: String,
        /// Its address.
        address: String,
    },
}

/// Hashes the build context, when there is one, and settles the nodes.
pub fn resolve(
    name: &str,
    spec: &ImageSpec,
    base_dir: &Path,
    all_nodes: &[String],
) -> Result<DesiredImage, ImageError> {
    let context_hash = match &spec.build {
        Some(build) => Some(context_hash(build, base_dir)?),
        None => None,
    };
    Ok(DesiredImage {
        address: format!("images.{name}"),
        spec: spec.clone(),
        nodes: spec.nodes.clone().unwrap_or_else(|| all_nodes.to_vec()),
        context_hash,
        base_dir: base_dir.to_owned(),
    })
}

/// The local image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LocalImage {
    /// Docker's image ID (`sha256:…`).
    pub id: String,
    /// The context hash label, for images kindform built.
    pub context_hash: Option<String>,
}

/// What one node holds of the image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum OnNode {
    /// The local image's ID is there.
    Present,
    /// The tag is there but names another image.
    Stale,
    /// Neither.
    Missing,
    /// The node could not be read.
    Unreachable {
        /// Why.
        reason: String,
    },
}

/// The image as observed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ImageLive {
    /// The local image; `None` when Docker has none of that name.
    pub local: Option<LocalImage>,
    /// Each target node, in spec order.
    pub nodes: Vec<(String, OnNode)>,
    /// The workloads whose pods run the image.
    pub workloads: Vec<Workload>,
}

/// Reads and compares images; what the nodes hold and the cluster's
/// workloads are read once per plan and shared.
pub struct ImageProvider {
    docker: Docker,
    node_refs: Arc<NodeRefs>,
    workloads: Arc<Vec<Workload>>,
    client: kube::Client,
    /// Each node's snapshotter, read once per run however many images load.
    snapshotters: tokio::sync::Mutex<std::collections::HashMap<String, String>>,
}

impl ImageProvider {
    /// A provider over the shared node and workload readings, restarting
    /// workloads through `client`.
    pub fn new(
        docker: Docker,
        node_refs: Arc<NodeRefs>,
        workloads: Arc<Vec<Workload>>,
        client: kube::Client,
    ) -> Self {
        ImageProvider {
            docker,
            node_refs,
            workloads,
            client,
            snapshotters: Default::default(),
        }
    }

    async fn snapshotter(&self, node: &str) -> String {
        let mut known = self.snapshotters.lock().await;
        if let Some(found) = known.get(node) {
            return found.clone();
        }
        let found = crate::load::snapshotter(&self.docker, node).await;
        known.insert(node.to_owned(), found.clone());
        found
    }
}

/// How long a restarted workload may take to roll out.
const ROLLOUT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

impl ImageProvider {
    async fn local_id(&self, reference: &str) -> Result<Option<String>, ImageError> {
        match self.docker.inspect_image(reference).await {
            Ok(image) => Ok(image.id),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(source) => Err(ImageError::Inspect {
                reference: reference.to_owned(),
                source,
            }),
        }
    }
}

fn short(id: &str) -> &str {
    let hex = id.trim_start_matches("sha256:");
    &hex[..hex.len().min(12)]
}

impl Provider for ImageProvider {
    type Desired = DesiredImage;
    type Live = ImageLive;
    type Error = ImageError;

    async fn observe(&self, desired: &DesiredImage) -> Result<ImageLive, ImageError> {
        let reference = &desired.spec.reference;
        let local = match self.docker.inspect_image(reference).await {
            Ok(image) => Some(LocalImage {
                id: image.id.unwrap_or_default(),
                context_hash: image
                    .config
                    .and_then(|c| c.labels)
                    .and_then(|l| l.get(CONTEXT_LABEL).cloned()),
            }),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => None,
            Err(source) => {
                return Err(ImageError::Inspect {
                    reference: reference.clone(),
                    source,
                });
            }
        };
        if local.is_none() && desired.spec.build.is_none() {
            return Err(ImageError::NotLocal {
                reference: reference.clone(),
                address: desired.address.clone(),
            });
        }
        let qualified = normalized_reference(reference);
        let nodes = desired
            .nodes
            .iter()
            .map(|node| {
                let state = match self.node_refs.get(node) {
                    None => OnNode::Unreachable {
                        reason: "not read".to_owned(),
                    },
                    Some(Err(reason)) => OnNode::Unreachable {
                        reason: reason.clone(),
                    },
                    Some(Ok(refs)) => match &local {
                        Some(l) if refs.contains(&l.id) => OnNode::Present,
                        _ if refs.contains(&qualified) => OnNode::Stale,
                        _ => OnNode::Missing,
                    },
                };
                (node.clone(), state)
            })
            .collect();
        let workloads = self
            .workloads
            .iter()
            .filter(|w| {
                w.images
                    .iter()
                    .any(|i| normalized_reference(i) == qualified)
            })
            .cloned()
            .collect();
        Ok(ImageLive {
            local,
            nodes,
            workloads,
        })
    }

    fn health(&self, desired: &DesiredImage, live: &ImageLive) -> Health {
        let mut health = Health::healthy();
        let reference = &desired.spec.reference;
        for (node, state) in &live.nodes {
            match state {
                OnNode::Present => {}
                OnNode::Stale if live.local.is_none() => health.note(
                    HealthState::Degraded,
                    format!(
                        "{node} holds {reference}, but there is no local image to compare it with"
                    ),
                ),
                OnNode::Stale => health.note(
                    HealthState::Degraded,
                    format!("{node} holds an older {reference} than the local image"),
                ),
                OnNode::Missing => health.note(
                    HealthState::Broken,
                    format!("{node} does not hold {reference}"),
                ),
                OnNode::Unreachable { reason } => health.note(
                    HealthState::Broken,
                    format!("cannot read the images of {node}: {reason}"),
                ),
            }
        }
        if health.state == HealthState::Healthy {
            let id = live
                .local
                .as_ref()
                .map(|l| short(&l.id))
                .unwrap_or_default();
            health
                .evidence
                .push(format!("{id} on {}", desired.nodes.join(", ")));
        }
        health
    }

    fn diff(&self, desired: &DesiredImage, live: &ImageLive) -> Diff {
        let reference = &desired.spec.reference;
        let mut differences = Vec::new();
        let mut steps = Vec::new();
        let work = work(desired, live);
        let rebuild = work.rebuild;
        let names = |wanted: fn(&OnNode) -> bool| -> Vec<&str> {
            live.nodes
                .iter()
                .filter(|(_, s)| wanted(s))
                .map(|(n, _)| n.as_str())
                .collect()
        };
        let stale = names(|s| matches!(s, OnNode::Stale));
        let missing = names(|s| matches!(s, OnNode::Missing));
        let unreachable: Vec<String> = live
            .nodes
            .iter()
            .filter_map(|(n, s)| match s {
                OnNode::Unreachable { reason } => Some(format!("{n} ({reason})")),
                _ => None,
            })
            .collect();
        let on_none = live
            .nodes
            .iter()
            .all(|(_, s)| !matches!(s, OnNode::Present | OnNode::Stale));
        if rebuild {
            let why = match &live.local {
                None => "not built yet".to_owned(),
                Some(_) => "its build context changed since it was built".to_owned(),
            };
            differences.push(Difference::new(
                if live.local.is_none() {
                    "absent"
                } else {
                    "context-changed"
                },
                if on_none {
                    Effect::Create
                } else {
                    Effect::Update
                },
                format!("{reference}: {why}"),
            ));
            let build = desired.spec.build.as_ref().expect("rebuild needs build");
            steps.push(format!(
                "build {reference} from {} (Dockerfile {})",
                build.context.display(),
                build.dockerfile.display()
            ));
        } else if on_none && !live.nodes.is_empty() && unreachable.is_empty() {
            differences.push(Difference::new(
                "absent",
                Effect::Create,
                format!("{reference} is on none of {}", desired.nodes.join(", ")),
            ));
        } else {
            if !stale.is_empty() {
                differences.push(Difference::new(
                    "image-stale",
                    Effect::Update,
                    format!(
                        "{} {} another image under {reference}",
                        stale.join(", "),
                        if stale.len() == 1 { "holds" } else { "hold" }
                    ),
                ));
            }
            if !missing.is_empty() {
                differences.push(Difference::new(
                    "image-missing",
                    Effect::Update,
                    format!(
                        "{} {} {reference}",
                        missing.join(", "),
                        if missing.len() == 1 { "lacks" } else { "lack" }
                    ),
                ));
            }
        }
        if !unreachable.is_empty() {
            differences.push(Difference::new(
                "node-unreachable",
                Effect::Repair,
                format!("cannot see the images of {}", unreachable.join(", ")),
            ));
        }
        let id = live.local.as_ref().map(|l| short(&l.id).to_owned());
        let load_into = &work.load_into;
        if !load_into.is_empty() {
            steps.push(format!(
                "load {reference}{} into {} (one docker image export streamed into ctr import, nodes in parallel)",
                match (&id, rebuild) {
                    (Some(id), false) => format!(" ({id})"),
                    _ => String::new(),
                },
                load_into.join(", ")
            ));
            for workload in &live.workloads {
                steps.push(format!(
                    "rollout restart {workload} (it runs {reference}) and wait for it"
                ));
            }
        }
        if !unreachable.is_empty() {
            steps.push("look at the unreachable nodes again once they run, and load the image where it lacks".to_owned());
        }
        let shown = |state: &OnNode| match state {
            OnNode::Present => "present",
            OnNode::Stale => "stale",
            OnNode::Missing => "missing",
            OnNode::Unreachable { .. } => "unknown",
        };
        let before = json!({
            "ref": reference,
            "id": id,
            "nodes": live.nodes.iter().map(|(n, s)| (n.clone(), json!(shown(s)))).collect::<serde_json::Map<_, _>>(),
        });
        let after = json!({
            "ref": reference,
            "id": if rebuild { json!("(rebuilt)") } else { json!(id) },
            "nodes": desired.nodes.iter().map(|n| (n.clone(), json!("present"))).collect::<serde_json::Map<_, _>>(),
        });
        Diff {
            differences,
            steps,
            before,
            after,
        }
    }

    async fn apply(
        &self,
        desired: &DesiredImage,
        live: Option<&ImageLive>,
        progress: &dyn Progress,
    ) -> Result<Outcome, ImageError> {
        let live = live_or_observe(self, desired, live).await?;
        let live = live.as_ref();
        let reference = &desired.spec.reference;
        let work = work(desired, live);
        if work.rebuild {
            let build = desired.spec.build.as_ref().expect("a rebuild needs build");
            progress.step(&format!(
                "build {reference} from {}",
                build.context.display()
            ));
            let hash = desired.context_hash.clone().unwrap_or_default();
            crate::build::build(
                &self.docker,
                reference,
                build,
                &desired.base_dir,
                &hash,
                progress,
            )
            .await?;
        }
        let mut load_into = work.load_into;
        if !work.unreachable.is_empty() {
            // The plan said: look again once they run, and load where it lacks.
            let id = self.local_id(reference).await?;
            for node in &work.unreachable {
                let refs = crate::nodes::node_refs(&self.docker, node).await;
                if !refs.is_ok_and(|r| id.as_ref().is_some_and(|id| r.contains(id))) {
                    load_into.push(node.clone());
                }
            }
        }
        if load_into.is_empty() {
            return Ok(Outcome::Done);
        }
        progress.step(&format!("load {reference} into {}", load_into.join(", ")));
        let size = self
            .docker
            .inspect_image(reference)
            .await
            .ok()
            .and_then(|i| i.size)
            .and_then(|s| u64::try_from(s).ok());
        let mut targets = Vec::new();
        for node in load_into {
            let snapshotter = self.snapshotter(&node).await;
            targets.push((node, snapshotter));
        }
        crate::load::load(&self.docker, reference, &targets, size, progress).await?;
        for workload in &live.workloads {
            progress.step(&format!("rollout restart {workload}"));
        }
        kindform_kube::rollout::restart_and_wait(&self.client, &live.workloads, ROLLOUT_TIMEOUT)
            .await?;
        Ok(Outcome::Done)
    }

    async fn delete(
        &self,
        _desired: &DesiredImage,
        _live: Option<&ImageLive>,
        _progress: &dyn Progress,
    ) -> Result<(), ImageError> {
        // Local images are never touched; what the nodes hold goes with
        // the cluster.
        Ok(())
    }

    fn plan_create(&self, desired: &DesiredImage) -> Diff {
        plan_create(desired)
    }
}

/// What apply does to an image, decided from what was observed; the plan's
/// steps say the same.
struct Work {
    /// Build it first.
    rebuild: bool,
    /// The nodes to load it into.
    load_into: Vec<String>,
    /// The nodes whose images could not be read, to look at again.
    unreachable: Vec<String>,
}

fn work(desired: &DesiredImage, live: &ImageLive) -> Work {
    let rebuild = desired.spec.build.is_some()
        && match &live.local {
            None => true,
            Some(local) => local.context_hash != desired.context_hash,
        };
    let load_into = live
        .nodes
        .iter()
        .filter(|(_, s)| rebuild || matches!(s, OnNode::Stale | OnNode::Missing))
        .filter(|(_, s)| !matches!(s, OnNode::Unreachable { .. }))
        .map(|(n, _)| n.clone())
        .collect();
    let unreachable = live
        .nodes
        .iter()
        .filter(|(_, s)| matches!(s, OnNode::Unreachable { .. }))
        .map(|(n, _)| n.clone())
        .collect();
    Work {
        rebuild,
        load_into,
        unreachable,
    }
}

/// What putting the image on fresh nodes takes.
pub fn plan_create(desired: &DesiredImage) -> Diff {
    let reference = &desired.spec.reference;
    let mut steps = Vec::new();
    if let Some(build) = &desired.spec.build {
        steps.push(format!(
            "build {reference} from {} (Dockerfile {}) when absent or its context changed",
            build.context.display(),
            build.dockerfile.display()
        ));
    }
    steps.push(format!(
        "load {reference} into {} (one docker image export streamed into ctr import, nodes in parallel)",
        desired.nodes.join(", ")
    ));
    Diff {
        differences: vec![Difference::new(
            "absent",
            Effect::Create,
            format!("{reference} is not on the nodes"),
        )],
        steps,
        before: Value::Null,
        after: json!({
            "ref": reference,
            "nodes": desired.nodes.iter().map(|n| (n.clone(), json!("present"))).collect::<serde_json::Map<_, _>>(),
        }),
    }
}
