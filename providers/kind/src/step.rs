//! The cluster's steps: what its plans say and what apply does, one value
//! per line of the plan. A repair is a ladder: a rung that escalates runs
//! only when the step before it failed, and is passed over otherwise.

use std::fmt;

use kindform_api::Duration;
use kindform_kube::Workload;
use serde::Serialize;

/// One step of a cluster plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum ClusterStep {
    /// `kind create cluster` with the spec's effective config.
    Create {
        cluster: String,
        /// How many nodes it has.
        nodes: usize,
        /// The node images, without digests.
        images: Vec<String>,
    },
    /// Wait for a cluster just made: the API answers, every node Ready.
    AwaitCreated,
    /// `kind delete cluster`.
    Delete { cluster: String },
    /// Refuse: the cluster must be replaced but may not be rebuilt.
    RefuseReplace {
        cluster: String,
        /// What forces the replacement.
        why: String,
    },
    /// `docker start` the stopped node containers.
    StartNodes { nodes: Vec<String> },
    /// Wait for the API and every node to be Ready.
    AwaitReady {
        /// For how long.
        wait: Duration,
    },
    /// Wait for the API to answer.
    AwaitApi {
        /// For how long.
        wait: Duration,
    },
    /// Rung: restart the control-plane container and wait for the API.
    RestartControlPlane {
        container: String,
        /// How long to wait after.
        wait: Duration,
    },
    /// Wait for every node to be Ready.
    AwaitNodes {
        /// For how long.
        wait: Duration,
    },
    /// Rung: restart the containers of nodes still not Ready, then wait.
    RestartNotReady {
        nodes: Vec<String>,
        /// How long to wait after.
        wait: Duration,
    },
    /// Rung: delete the cluster and make it again.
    Rebuild {
        cluster: String,
        /// When, in the plan's words (`if they do not come back`).
        when: String,
    },
    /// Rung: stop, the cluster may not be rebuilt.
    RefuseRebuild {
        cluster: String,
        /// When, in the plan's words.
        when: String,
    },
    /// `kubectl rollout restart` the stuck kube-system workloads.
    RestartSystem { workloads: Vec<Workload> },
    /// Wait for them to roll out.
    AwaitSystem {
        workloads: Vec<Workload>,
        /// For how long.
        wait: Duration,
    },
    /// Write the cluster's settings to kindform's applied record.
    Record,
}

impl ClusterStep {
    /// Whether it is a rung of a ladder: done only when the step before failed.
    pub fn escalates(&self) -> bool {
        matches!(
            self,
            ClusterStep::RestartControlPlane { .. }
                | ClusterStep::RestartNotReady { .. }
                | ClusterStep::Rebuild { .. }
                | ClusterStep::RefuseRebuild { .. }
        )
    }
}

use kindform_api::cluster::NO_REBUILD;

impl fmt::Display for ClusterStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterStep::Create {
                cluster,
                nodes,
                images,
            } => write!(
                f,
                "kind create cluster --name {cluster} ({nodes} node{}, {})",
                if *nodes == 1 { "" } else { "s" },
                images.join(", ")
            ),
            ClusterStep::AwaitCreated => f.write_str("wait for the API and every node to be Ready"),
            ClusterStep::Delete { cluster } => write!(f, "kind delete cluster --name {cluster}"),
            ClusterStep::RefuseReplace { cluster, .. } => write!(
                f,
                "stop: replacing the cluster \"{cluster}\" is not allowed ({NO_REBUILD})"
            ),
            ClusterStep::StartNodes { nodes } => {
                write!(f, "start stopped node containers: {}", nodes.join(", "))
            }
            ClusterStep::AwaitReady { wait } => {
                write!(f, "wait for the API and every node to be Ready ({wait})")
            }
            ClusterStep::AwaitApi { wait } => write!(f, "wait for the API to answer ({wait})"),
            ClusterStep::RestartControlPlane { container, wait } => write!(
                f,
                "restart the {container} container and wait for the API ({wait})"
            ),
            ClusterStep::AwaitNodes { wait } => {
                write!(f, "wait for every node to be Ready ({wait})")
            }
            ClusterStep::RestartNotReady { nodes, .. } => write!(
                f,
                "restart the containers of nodes still not Ready: {}",
                nodes.join(", ")
            ),
            ClusterStep::Rebuild { cluster, when } => {
                write!(f, "replace the cluster \"{cluster}\" {when}")
            }
            ClusterStep::RefuseRebuild { when, .. } => write!(
                f,
                "stop {when}: rebuilding the cluster is not allowed ({NO_REBUILD})"
            ),
            ClusterStep::RestartSystem { workloads } => write!(
                f,
                "rollout restart the stuck kube-system workloads: {}",
                workloads
                    .iter()
                    .map(|w| format!("{}/{}", w.kind, w.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            ClusterStep::AwaitSystem { wait, .. } => {
                write!(f, "wait for them to roll out ({wait})")
            }
            ClusterStep::Record => f.write_str(
                "record the cluster's settings in the applied record (kube-system/kindform)",
            ),
        }
    }
}
