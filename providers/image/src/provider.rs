//! The image provider: compares the local Docker image (and, for a `build`,
//! its context hash label) with what each target node holds, and names the
//! workloads a reload must restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bollard::Docker;
use kindform_api::image::normalized_reference;
use kindform_api::provider::{Diff, Outcome, Progress, Provider, Resolve};
use kindform_api::{Health, HealthState, ImageSpec};
use kindform_kube::Workload;
use serde::Serialize;

use crate::context::{CONTEXT_LABEL, ContextError, context_hash};
use crate::nodes::NodeRefs;
use crate::step::ImageStep;

/// An image as the spec means it: its target nodes and, for a build, the
/// hash of its context now.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredImage {
    /// `images.<name>`.
    pub address: String,
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
        reference: String,
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
    NotLocal { reference: String, address: String },
}

/// What resolving an image reads.
pub struct ImageInput<'a> {
    /// Its name under `images`.
    pub name: &'a str,
    /// Its definition.
    pub spec: &'a ImageSpec,
    /// The spec's folder (build contexts are relative to it).
    pub base_dir: &'a Path,
    /// Every node of the cluster (where it goes without `nodes`).
    pub nodes: &'a [String],
}

impl Resolve for ImageProvider {
    type Input<'a> = ImageInput<'a>;

    async fn resolve<'a>(input: Self::Input<'a>) -> Result<DesiredImage, ImageError> {
        resolve(input.name, input.spec, input.base_dir, input.nodes)
    }
}

/// Hashes the build context, when there is one, and settles the nodes.
fn resolve(
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
    Unreachable { reason: String },
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
    /// One import at a time into each node. Two images that share a layer,
    /// each streamed into several nodes at once, deadlock otherwise: in one
    /// node the first holds the layer's ingest while its stream waits on
    /// another node, where the second holds it.
    importing: std::sync::Mutex<std::collections::BTreeMap<String, Arc<tokio::sync::Mutex<()>>>>,
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
            importing: Default::default(),
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
        Ok(self.local(reference).await?.map(|l| l.id))
    }
}

pub(crate) fn short(id: &str) -> &str {
    let hex = id.trim_start_matches("sha256:");
    &hex[..hex.len().min(12)]
}

impl Provider for ImageProvider {
    type Desired = DesiredImage;
    type Live = ImageLive;
    type Step = ImageStep;
    type Error = ImageError;

    async fn observe(&self, desired: &DesiredImage) -> Result<ImageLive, ImageError> {
        let reference = &desired.spec.reference;
        let local = self.local(reference).await?;
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

    fn diff(&self, desired: &DesiredImage, live: &ImageLive) -> Diff<ImageStep> {
        crate::diff::diff(desired, live)
    }

    fn plan_create(desired: &DesiredImage) -> Diff<ImageStep> {
        crate::diff::plan_create(desired)
    }

    fn plan_delete(&self, _desired: &DesiredImage, _live: Option<&ImageLive>) -> Vec<ImageStep> {
        // Local images are never touched; what the nodes hold goes with
        // the cluster.
        Vec::new()
    }

    fn plan_replace(&self, desired: &DesiredImage, live: &ImageLive) -> Vec<ImageStep> {
        crate::diff::reload_steps(desired, live)
    }

    async fn apply(
        &self,
        desired: &DesiredImage,
        steps: &[ImageStep],
        progress: &dyn Progress,
    ) -> Result<Outcome, ImageError> {
        let mut restarted = Vec::new();
        for step in steps {
            progress.step(&step.to_string());
            match step {
                ImageStep::Build { when_needed, .. } => {
                    self.build(desired, *when_needed, progress).await?;
                }
                ImageStep::Load { nodes, .. } => self.load(desired, nodes, progress).await?,
                ImageStep::LoadWhereLacking { nodes, .. } => {
                    let id = self.local_id(&desired.spec.reference).await?;
                    let mut lacking = Vec::new();
                    for node in nodes {
                        let refs = crate::nodes::node_refs(&self.docker, node).await;
                        if !refs.is_ok_and(|r| id.as_ref().is_some_and(|id| r.contains(id))) {
                            lacking.push(node.clone());
                        }
                    }
                    if !lacking.is_empty() {
                        self.load(desired, &lacking, progress).await?;
                    }
                }
                ImageStep::Restart { workload, .. } => {
                    kindform_kube::rollout::restart(&self.client, workload).await?;
                    restarted.push(workload);
                }
            }
        }
        // Restarted together, then waited for together: the rollouts overlap.
        for workload in restarted {
            kindform_kube::rollout::wait_rolled_out(&self.client, workload, ROLLOUT_TIMEOUT)
                .await?;
        }
        Ok(Outcome::Done)
    }
}

impl ImageProvider {
    /// The local image, `None` when Docker has none of that name.
    async fn local(&self, reference: &str) -> Result<Option<LocalImage>, ImageError> {
        match self.docker.inspect_image(reference).await {
            Ok(image) => Ok(Some(LocalImage {
                id: image.id.unwrap_or_default(),
                context_hash: image
                    .config
                    .and_then(|c| c.labels)
                    .and_then(|l| l.get(CONTEXT_LABEL).cloned()),
            })),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(source) => Err(ImageError::Inspect {
                reference: reference.to_owned(),
                source,
            }),
        }
    }

    /// Builds the image; `when_needed`, only when it is absent or was built
    /// from another context.
    async fn build(
        &self,
        desired: &DesiredImage,
        when_needed: bool,
        progress: &dyn Progress,
    ) -> Result<(), ImageError> {
        let reference = &desired.spec.reference;
        let Some(build) = desired.spec.build.as_ref() else {
            return Err(ImageError::NotLocal {
                reference: reference.clone(),
                address: desired.address.clone(),
            });
        };
        if when_needed {
            let local = self.local(reference).await?;
            if local.is_some_and(|l| l.context_hash == desired.context_hash) {
                return Ok(());
            }
        }
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
        Ok(())
    }

    /// Streams the local image into `nodes`.
    async fn load(
        &self,
        desired: &DesiredImage,
        nodes: &[String],
        progress: &dyn Progress,
    ) -> Result<(), ImageError> {
        let reference = &desired.spec.reference;
        let size = self
            .docker
            .inspect_image(reference)
            .await
            .ok()
            .and_then(|i| i.size)
            .and_then(|s| u64::try_from(s).ok());
        let mut targets = Vec::new();
        for node in nodes {
            let snapshotter = self.snapshotter(node).await;
            targets.push((node.clone(), snapshotter));
        }
        // Every node this load streams into, taken in one order (by name)
        // by every load, so that no two loads wait on each other.
        let locks: Vec<Arc<tokio::sync::Mutex<()>>> = {
            let mut importing = self.importing.lock().unwrap_or_else(|e| e.into_inner());
            let mut sorted: Vec<&String> = nodes.iter().collect();
            sorted.sort();
            sorted.dedup();
            sorted
                .into_iter()
                .map(|node| Arc::clone(importing.entry(node.clone()).or_default()))
                .collect()
        };
        let mut held = Vec::with_capacity(locks.len());
        for lock in &locks {
            held.push(lock.lock().await);
        }
        crate::load::load(&self.docker, reference, &targets, size, progress).await?;
        drop(held);
        Ok(())
    }
}
