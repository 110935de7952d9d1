//! Rolling workloads: a restart as `kubectl rollout restart` does it (a
//! `kubectl.kubernetes.io/restartedAt` annotation on the pod template), and
//! waiting until a workload has rolled out, with what it looked like when
//! the wait ran out.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use kube::api::{Patch, PatchParams};
use serde_json::json;

use crate::workloads::{Workload, daemonset_rolling, deployment_rolling, statefulset_rolling};

/// The annotation `kubectl rollout restart` sets.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// Why a rollout did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    /// The API refused.
    #[error("cannot {what} {workload}")]
    Api {
        /// What was being done.
        what: &'static str,
        workload: String,
        #[source]
        source: kube::Error,
    },
    /// The kind is not one that rolls out.
    #[error("{0} is not a deployment, statefulset or daemonset")]
    Kind(String),
    /// It did not roll out in time.
    #[error("{workload} did not roll out within {waited}s: {last}")]
    Timeout {
        workload: String,
        /// How long kindform waited.
        waited: u64,
        /// Its status when the wait ran out.
        last: String,
    },
}

/// Restarts a workload's pods the way `kubectl rollout restart` does.
pub async fn restart(client: &kube::Client, workload: &Workload) -> Result<(), RolloutError> {
    let now = jiff::Timestamp::now().to_string();
    let patch = json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}});
    let params = PatchParams::default();
    let ns = &workload.namespace;
    let done = match workload.kind.as_str() {
        "deployment" => kube::Api::<Deployment>::namespaced(client.clone(), ns)
            .patch(&workload.name, &params, &Patch::Merge(&patch))
            .await
            .map(|_| ()),
        "statefulset" => kube::Api::<StatefulSet>::namespaced(client.clone(), ns)
            .patch(&workload.name, &params, &Patch::Merge(&patch))
            .await
            .map(|_| ()),
        "daemonset" => kube::Api::<DaemonSet>::namespaced(client.clone(), ns)
            .patch(&workload.name, &params, &Patch::Merge(&patch))
            .await
            .map(|_| ()),
        other => return Err(RolloutError::Kind(other.to_owned())),
    };
    done.map_err(|source| RolloutError::Api {
        what: "restart",
        workload: workload.to_string(),
        source,
    })
}

/// Restarts every workload of `workloads` at once, then waits for each to
/// roll out, `timeout` each.
pub async fn restart_and_wait(
    client: &kube::Client,
    workloads: &[Workload],
    timeout: Duration,
) -> Result<(), RolloutError> {
    for workload in workloads {
        restart(client, workload).await?;
    }
    for workload in workloads {
        wait_rolled_out(client, workload, timeout).await?;
    }
    Ok(())
}

/// Whether a workload has rolled out: `Ok(None)` when it has, otherwise a
/// line saying how far it got.
pub async fn rollout_status(
    client: &kube::Client,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Result<Option<String>, RolloutError> {
    let failed = |source| RolloutError::Api {
        what: "read",
        workload: format!("{kind}/{name} in {namespace}"),
        source,
    };
    match kind {
        "deployment" => kube::Api::<Deployment>::namespaced(client.clone(), namespace)
            .get(name)
            .await
            .map(|d| deployment_rolling(&d))
            .map_err(failed),
        "statefulset" => kube::Api::<StatefulSet>::namespaced(client.clone(), namespace)
            .get(name)
            .await
            .map(|d| statefulset_rolling(&d))
            .map_err(failed),
        "daemonset" => kube::Api::<DaemonSet>::namespaced(client.clone(), namespace)
            .get(name)
            .await
            .map(|d| daemonset_rolling(&d))
            .map_err(failed),
        other => Err(RolloutError::Kind(other.to_owned())),
    }
}

/// Waits until a workload has rolled out.
pub async fn wait_rolled_out(
    client: &kube::Client,
    workload: &Workload,
    timeout: Duration,
) -> Result<(), RolloutError> {
    let started = Instant::now();
    loop {
        let status =
            rollout_status(client, &workload.kind, &workload.namespace, &workload.name).await?;
        let Some(last) = status else {
            return Ok(());
        };
        if started.elapsed() >= timeout {
            return Err(RolloutError::Timeout {
                workload: workload.to_string(),
                waited: timeout.as_secs(),
                last,
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
