//! Waiting for conditions, like `kubectl wait`: objects of a kind chosen by
//! name or label selector become ready, reach a status condition, or are
//! deleted.

use std::time::{Duration, Instant};

use kindform_api::{WaitCondition, WaitFor};
use kube::api::ListParams;
use serde_json::Value;

use crate::objects::{Objects, ObjectsError};
use crate::rollout::rollout_status;

/// How long a wait without its own `timeout` may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// Why a wait failed.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// The kind is not served by the API.
    #[error("the API serves no kind `{0}`")]
    Kind(String),
    /// Reading failed.
    #[error(transparent)]
    Objects(#[from] ObjectsError),
    /// The condition did not hold in time.
    #[error("{what} did not hold within {waited}s: {last}")]
    Timeout {
        /// The condition, in words.
        what: String,
        /// How long kindform waited.
        waited: u64,
        /// What it saw last.
        last: String,
    },
}

/// Where to find a kind by its name alone, as `kubectl wait` resolves it.
fn api_version_of(kind: &str) -> &'static [&'static str] {
    match kind {
        "Pod"
        | "Service"
        | "ConfigMap"
        | "Secret"
        | "Namespace"
        | "PersistentVolumeClaim"
        | "ServiceAccount" => &["v1"],
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => &["apps/v1"],
        "Job" => &["batch/v1"],
        "Ingress" | "IngressClass" => &["networking.k8s.io/v1"],
        "CustomResourceDefinition" => &["apiextensions.k8s.io/v1"],
        _ => &[],
    }
}

fn condition(object: &Value, kind: &str) -> bool {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|c| {
            c.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some(kind)
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

/// Waits for `wait` (in `namespace` unless it names its own).
pub async fn wait_for(
    objects: &Objects,
    wait: &WaitCondition,
    namespace: Option<&str>,
) -> Result<(), WaitError> {
    let timeout = wait.timeout.map(|t| t.get()).unwrap_or(DEFAULT_TIMEOUT);
    let started = Instant::now();
    loop {
        let Some(last) = unmet(objects, wait, namespace).await? else {
            return Ok(());
        };
        if started.elapsed() >= timeout {
            return Err(WaitError::Timeout {
                what: describe(wait),
                waited: timeout.as_secs(),
                last,
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A wait condition in words: `Deployment app Ready`.
pub fn describe(wait: &WaitCondition) -> String {
    let which = wait
        .name
        .clone()
        .or_else(|| wait.selector.clone())
        .unwrap_or_default();
    format!("{} {which} {}", wait.kind, wait.condition)
}

/// Whether `wait` holds now: `None` when it does, otherwise what is
/// missing (`not ready: app`).
pub async fn unmet(
    objects: &Objects,
    wait: &WaitCondition,
    namespace: Option<&str>,
) -> Result<Option<String>, WaitError> {
    let mut info = None;
    for api_version in api_version_of(&wait.kind) {
        info = objects.kind(api_version, &wait.kind).await?;
    }
    let Some(info) = info else {
        return Err(WaitError::Kind(wait.kind.clone()));
    };
    let namespace = wait.namespace.as_deref().or(namespace);
    let api = objects.api(&info, namespace);
    let found: Vec<Value> = match &wait.name {
        Some(name) => api
            .get_opt(name)
            .await
            .ok()
            .flatten()
            .into_iter()
            .filter_map(|o| serde_json::to_value(o).ok())
            .collect(),
        None => {
            let mut params = ListParams::default();
            if let Some(selector) = &wait.selector {
                params = params.labels(selector);
            }
            api.list(&params)
                .await
                .map(|l| l.items)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|o| serde_json::to_value(o).ok())
                .collect()
        }
    };
    Ok(match &wait.condition {
        WaitFor::Deleted => (!found.is_empty()).then(|| format!("{} still exist", found.len())),
        _ if found.is_empty() => Some("none exist yet".to_owned()),
        WaitFor::Condition(kind) => {
            let not: Vec<&str> = found
                .iter()
                .filter(|o| !condition(o, kind))
                .filter_map(|o| o.pointer("/metadata/name").and_then(Value::as_str))
                .collect();
            (!not.is_empty()).then(|| format!("not {kind}: {}", not.join(", ")))
        }
        WaitFor::Ready => {
            let mut not = Vec::new();
            for o in &found {
                let name = o
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let ready = match wait.kind.as_str() {
                    "Deployment" | "StatefulSet" | "DaemonSet" => {
                        let ns = o
                            .pointer("/metadata/namespace")
                            .and_then(Value::as_str)
                            .unwrap_or_default();
                        rollout_status(objects.client(), &wait.kind.to_lowercase(), ns, name)
                            .await
                            .ok()
                            .flatten()
                            .is_none()
                    }
                    "Job" => condition(o, "Complete"),
                    _ => condition(o, "Ready"),
                };
                if !ready {
                    not.push(name.to_owned());
                }
            }
            (!not.is_empty()).then(|| format!("not ready: {}", not.join(", ")))
        }
    })
}
