//! The cluster provider: observe the node containers, the API and the
//! applied record; diff them against the spec.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::ListContainersOptionsBuilder;
use k8s_openapi::api::core::v1::{Node, Pod};
use kindform_api::provider::{Diff, Outcome, Progress, Provider, error_chain};
use kindform_api::{Address, ClusterSpec};
use kindform_api::{Health, HealthState};
use kindform_kube::Workload;
use kindform_kube::pods::PodState;
use kindform_kube::{AppliedRecord, RecordEntry};
use serde::Serialize;

use crate::kind_cli;
use crate::step::ClusterStep;

/// kind's label naming a node's cluster.
pub const CLUSTER_LABEL: &str = "io.x-k8s.kind.cluster";
/// kind's label naming a node's role.
pub const ROLE_LABEL: &str = "io.x-k8s.kind.role";

/// Reads and compares the kind cluster.
pub struct ClusterProvider {
    pub(crate) docker: Docker,
    pub(crate) kubeconfig: PathBuf,
    /// The spec's folder: relative paths in kind settings start there.
    pub(crate) base_dir: PathBuf,
    /// The environment whose applied record holds the cluster's entry.
    pub(crate) environment: String,
}

/// One node container as Docker shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeContainer {
    /// Its name, `<cluster>-<role>[N]`.
    pub name: String,
    /// `control-plane`, `worker` or `external-load-balancer`.
    pub role: String,
    /// Whether it runs.
    pub running: bool,
    /// The image it was created from.
    pub image: String,
}

/// What the API looked like.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum ApiState {
    /// Not looked at: there are no node containers.
    NotChecked,
    /// It answered; the nodes that are not Ready.
    Reachable {
        /// Nodes without a Ready condition.
        not_ready: Vec<String>,
    },
    /// It did not answer.
    Unreachable { reason: String },
}

/// The cluster as observed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClusterLive {
    /// Its node containers, in Docker's order.
    pub nodes: Vec<NodeContainer>,
    /// Its API.
    pub api: ApiState,
    /// What kindform last applied to it, from the applied record.
    pub applied: Option<RecordEntry>,
    /// The kube-system pods that are not Ready (read when the API answers).
    /// Left out of the fingerprint, as are the next: pods come and go, and
    /// restart counts grow, without anyone changing the cluster.
    #[serde(skip)]
    pub system: Vec<PodState>,
    /// The kube-system workloads whose containers will not start by
    /// themselves (crash-looping, …), for a rollout restart to mend.
    #[serde(skip)]
    pub stuck_system: Vec<Workload>,
}

impl ClusterLive {
    fn without_api(nodes: Vec<NodeContainer>, api: ApiState) -> ClusterLive {
        ClusterLive {
            nodes,
            api,
            applied: None,
            system: Vec::new(),
            stuck_system: Vec::new(),
        }
    }
}

/// Why the cluster could not be observed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Docker refused.
    #[error("cannot list the cluster's node containers")]
    Docker(#[source] bollard::errors::Error),
    /// The applied record could not be read or written.
    #[error(transparent)]
    Record(#[from] kindform_kube::RecordError),
    /// `kind` failed.
    #[error(transparent)]
    Kind(#[from] kind_cli::KindError),
    /// The kind config could not be written to the state folder.
    #[error("cannot write the kind config {path}")]
    Config {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Docker refused to start or restart a node container.
    #[error("cannot {what} node container {node}")]
    Node {
        /// `start` or `restart`.
        what: &'static str,
        node: String,
        #[source]
        source: bollard::errors::Error,
    },
    /// The kube-system pods or workloads could not be read.
    #[error("cannot read the kube-system pods and workloads")]
    System(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A kube-system workload could not be restarted or did not roll out.
    #[error(transparent)]
    Rollout(#[from] kindform_kube::rollout::RolloutError),
    /// The repair would rebuild the cluster, which the spec or the command
    /// line forbids.
    #[error(
        "the cluster \"{cluster}\" needs rebuilding ({why}), but rebuilding is not allowed ({no_rebuild}); the cluster was left as it is. To rebuild it and everything in it from the spec, plan and apply without that",
        no_rebuild = kindform_api::cluster::NO_REBUILD
    )]
    RebuildForbidden {
        cluster: String,
        /// What the repair tried and saw.
        why: String,
    },
    /// The cluster did not become ready in time.
    #[error("the cluster was not ready after {waited}s: {last}")]
    NotReady {
        /// How long kindform waited.
        waited: u64,
        /// What it saw last.
        last: String,
    },
}

impl ClusterProvider {
    /// A provider that reads through `docker` and keeps the cluster's
    /// kubeconfig at `kubeconfig` (the state folder's).
    pub fn new(docker: Docker, kubeconfig: PathBuf, base_dir: &Path, environment: &str) -> Self {
        ClusterProvider {
            docker,
            kubeconfig,
            base_dir: base_dir.to_owned(),
            environment: environment.to_owned(),
        }
    }

    async fn containers(&self, cluster: &str) -> Result<Vec<NodeContainer>, ClusterError> {
        let mut filters = HashMap::new();
        filters.insert(
            "label".to_owned(),
            vec![format!("{CLUSTER_LABEL}={cluster}")],
        );
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let list = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(ClusterError::Docker)?;
        Ok(list
            .into_iter()
            .filter_map(|c| {
                let name = c.names?.first()?.trim_start_matches('/').to_owned();
                let labels = c.labels.unwrap_or_default();
                Some(NodeContainer {
                    name,
                    role: labels.get(ROLE_LABEL).cloned().unwrap_or_default(),
                    running: c.state.is_some_and(|s| s.to_string() == "running"),
                    image: c.image.unwrap_or_default(),
                })
            })
            .collect())
    }

    /// A client for the cluster's API: the state folder's kubeconfig, fetched
    /// again with `kind get kubeconfig` when missing or stale.
    async fn client(&self, cluster: &str) -> Result<kube::Client, String> {
        let context = format!("kind-{cluster}");
        let timeout = Duration::from_secs(5);
        if self.kubeconfig.is_file() {
            if let Ok(client) = kindform_kube::connect(&self.kubeconfig, &context, timeout).await {
                return Ok(client);
            }
        }
        kind_cli::fetch_kubeconfig(cluster, &self.kubeconfig)
            .await
            .map_err(|e| e.to_string())?;
        kindform_kube::connect(&self.kubeconfig, &context, timeout)
            .await
            .map_err(|e| error_chain(&e))
    }
}

/// The namespace of the cluster's own workloads.
const SYSTEM: &str = "kube-system";

/// The kube-system pods that are not Ready (finished ones aside).
async fn system_pods(
    client: &kube::Client,
) -> Result<Vec<PodState>, Box<dyn std::error::Error + Send + Sync>> {
    let pods = kube::Api::<Pod>::namespaced(client.clone(), SYSTEM)
        .list(&Default::default())
        .await?;
    Ok(pods
        .items
        .iter()
        .map(PodState::of)
        .filter(|p| !p.ready && p.phase != "Succeeded")
        .collect())
}

/// Whether one of a pod's containers will not start by itself.
pub(crate) fn stuck(pod: &PodState) -> bool {
    pod.stuck().next().is_some()
}

/// One line about a pod that is not Ready.
pub(crate) fn pod_line(pod: &PodState) -> String {
    let ready = pod.containers.iter().filter(|c| c.ready).count();
    let restarts: i32 = pod.containers.iter().map(|c| c.restarts).sum();
    let waiting: Vec<String> = pod
        .containers
        .iter()
        .filter_map(|c| Some(format!("{} {}", c.name, c.waiting.as_deref()?)))
        .collect();
    let mut line = format!(
        "pod {}: {} {ready}/{} ready, {restarts} restarts",
        pod.name,
        pod.phase,
        pod.containers.len()
    );
    if !waiting.is_empty() {
        line.push_str(&format!(" ({})", waiting.join(", ")));
    }
    line
}

pub(crate) fn node_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

impl Provider for ClusterProvider {
    type Desired = ClusterSpec;
    type Live = ClusterLive;
    type Step = ClusterStep;
    type Error = ClusterError;

    async fn observe(&self, desired: &ClusterSpec) -> Result<ClusterLive, ClusterError> {
        let started = std::time::Instant::now();
        let nodes = self.containers(&desired.name).await?;
        tracing::debug!(
            "listed {} node containers in {} ms",
            nodes.len(),
            started.elapsed().as_millis()
        );
        if nodes.is_empty() {
            return Ok(ClusterLive::without_api(nodes, ApiState::NotChecked));
        }
        let control_plane_up = nodes.iter().any(|n| n.role == "control-plane" && n.running);
        if !control_plane_up {
            let reason = "the control-plane container is not running".to_owned();
            return Ok(ClusterLive::without_api(
                nodes,
                ApiState::Unreachable { reason },
            ));
        }
        let client = match self.client(&desired.name).await {
            Ok(client) => client,
            Err(reason) => {
                return Ok(ClusterLive::without_api(
                    nodes,
                    ApiState::Unreachable { reason },
                ));
            }
        };
        tracing::debug!("the API answered at {} ms", started.elapsed().as_millis());
        let listed = kube::Api::<Node>::all(client.clone())
            .list(&Default::default())
            .await;
        let api = match listed {
            Ok(list) => ApiState::Reachable {
                not_ready: list
                    .items
                    .iter()
                    .filter(|n| !node_ready(n))
                    .filter_map(|n| n.metadata.name.clone())
                    .collect(),
            },
            Err(e) => {
                let reason = e.to_string();
                return Ok(ClusterLive::without_api(
                    nodes,
                    ApiState::Unreachable { reason },
                ));
            }
        };
        let (record, system) = tokio::join!(
            AppliedRecord::read(&client, &self.environment),
            system_pods(&client)
        );
        let applied = record?.get(&Address::Cluster.to_string()).cloned();
        let system = system.map_err(ClusterError::System)?;
        let stuck_system = if system.iter().any(stuck) {
            kindform_kube::workloads(&client)
                .await
                .map_err(|e| ClusterError::System(Box::new(e)))?
                .into_iter()
                .filter(|w| {
                    w.namespace == SYSTEM && system.iter().filter(|p| stuck(p)).any(|p| w.runs(p))
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(ClusterLive {
            nodes,
            api,
            applied,
            system,
            stuck_system,
        })
    }

    fn diff(&self, desired: &ClusterSpec, live: &ClusterLive) -> Diff<ClusterStep> {
        crate::diff::diff(desired, live)
    }

    fn plan_create(desired: &ClusterSpec) -> Diff<ClusterStep> {
        crate::diff::plan_create(desired)
    }

    fn plan_delete(&self, desired: &ClusterSpec, _live: Option<&ClusterLive>) -> Vec<ClusterStep> {
        vec![ClusterStep::Delete {
            cluster: desired.name.clone(),
        }]
    }

    fn plan_replace(&self, desired: &ClusterSpec, _live: &ClusterLive) -> Vec<ClusterStep> {
        crate::diff::replace_steps(desired, "--replace cluster")
    }

    fn health(&self, desired: &ClusterSpec, live: &ClusterLive) -> Health {
        let mut health = Health::healthy();
        if live.nodes.is_empty() {
            health.note(
                HealthState::Broken,
                format!(
                    "no node containers labelled {CLUSTER_LABEL}={}",
                    desired.name
                ),
            );
            return health;
        }
        for node in &live.nodes {
            if !node.running {
                health.note(
                    HealthState::Broken,
                    format!("node container {} is stopped", node.name),
                );
            }
        }
        let missing: Vec<String> = desired
            .node_names()
            .into_iter()
            .filter(|n| !live.nodes.iter().any(|c| &c.name == n))
            .collect();
        if !missing.is_empty() {
            health.note(
                HealthState::Broken,
                format!("node containers missing: {}", missing.join(", ")),
            );
        }
        match &live.api {
            ApiState::NotChecked => {}
            ApiState::Unreachable { reason } => {
                health.note(
                    HealthState::Broken,
                    format!("the API does not answer: {reason}"),
                );
            }
            ApiState::Reachable { not_ready } => {
                for node in not_ready {
                    health.note(HealthState::Broken, format!("node {node} is not Ready"));
                }
                for pod in &live.system {
                    health.note(
                        HealthState::Degraded,
                        format!("kube-system {}", pod_line(pod)),
                    );
                }
            }
        }
        if health.state == HealthState::Healthy {
            let running = live.nodes.len();
            health.evidence.push(format!(
                "{running} node container{} running, the API answers, every node Ready, kube-system pods Ready",
                if running == 1 { "" } else { "s" }
            ));
        }
        health
    }

    async fn apply(
        &self,
        desired: &ClusterSpec,
        steps: &[ClusterStep],
        progress: &dyn Progress,
    ) -> Result<Outcome, ClusterError> {
        self.converge(desired, steps, progress).await
    }
}
