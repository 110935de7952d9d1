//! Pods by label selector: whether they are Ready, and what explains it when
//! they are not (their states, the namespace's recent events, the last lines
//! of their logs), for checks and waits that fail.

use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{ListParams, LogParams};

/// Whether a pod's Ready condition is true.
pub fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// One line about a pod: name, phase, ready containers, restarts and why
/// a container waits.
pub fn describe(pod: &Pod) -> String {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    let containers = status.container_statuses.unwrap_or_default();
    let ready = containers.iter().filter(|c| c.ready).count();
    let restarts: i32 = containers.iter().map(|c| c.restart_count).sum();
    let waiting: Vec<String> = containers
        .iter()
        .filter_map(|c| {
            let reason = c.state.as_ref()?.waiting.as_ref()?.reason.clone()?;
            Some(format!("{} {reason}", c.name))
        })
        .collect();
    let mut line = format!(
        "{name}: {} {ready}/{} ready, {restarts} restarts",
        status.phase.unwrap_or_else(|| "Unknown".into()),
        containers.len()
    );
    if !waiting.is_empty() {
        line.push_str(&format!(" ({})", waiting.join(", ")));
    }
    line
}

/// The pods `selector` chooses in `namespace`.
pub async fn pods(
    client: &kube::Client,
    namespace: &str,
    selector: &str,
) -> Result<Vec<Pod>, kube::Error> {
    let list = kube::Api::<Pod>::namespaced(client.clone(), namespace)
        .list(&ListParams::default().labels(selector))
        .await?;
    Ok(list.items)
}

/// What explains pods that are not Ready: one line per pod, the latest
/// events of the namespace, and the last log lines of pods not Ready. With
/// `only_trouble`, nothing when every pod is Ready.
pub async fn explain(
    client: &kube::Client,
    namespace: &str,
    selector: &str,
    only_trouble: bool,
) -> String {
    let mut out = Vec::new();
    let pods = match pods(client, namespace, selector).await {
        Ok(pods) => pods,
        Err(e) => return format!("cannot list pods {selector} in {namespace}: {e}"),
    };
    if only_trouble && pods.iter().all(pod_ready) {
        return String::new();
    }
    if pods.is_empty() {
        out.push(format!("no pods match {selector} in namespace {namespace}"));
    }
    for pod in &pods {
        out.push(format!("pod {}", describe(pod)));
    }
    if let Ok(events) = kube::Api::<Event>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await
    {
        let mut events = events.items;
        events.sort_by_key(|e| e.last_timestamp.clone().map(|t| t.0));
        for event in events.iter().rev().take(5).rev() {
            out.push(format!(
                "event {} {}: {}",
                event.involved_object.name.clone().unwrap_or_default(),
                event.reason.clone().unwrap_or_default(),
                event.message.clone().unwrap_or_default().trim()
            ));
        }
    }
    let api = kube::Api::<Pod>::namespaced(client.clone(), namespace);
    for pod in pods.iter().filter(|p| !pod_ready(p)).take(3) {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let params = LogParams {
            tail_lines: Some(5),
            ..LogParams::default()
        };
        if let Ok(log) = api.logs(&name, &params).await {
            for line in log.lines() {
                out.push(format!("log {name}: {line}"));
            }
        }
    }
    kindform_api::printable::printable(&out.join("\n")).into_owned()
}

/// A container as health sees it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct ContainerState {
    pub name: String,
    /// Whether it is ready.
    pub ready: bool,
    /// How often it restarted.
    pub restarts: i32,
    /// Why it waits (`CrashLoopBackOff`, `ImagePullBackOff`, …), if it does.
    pub waiting: Option<String>,
}

/// A pod as health sees it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct PodState {
    pub namespace: String,
    pub name: String,
    /// Its labels.
    pub labels: std::collections::BTreeMap<String, String>,
    /// Its phase.
    pub phase: String,
    /// Whether it is Ready.
    pub ready: bool,
    /// Its containers.
    pub containers: Vec<ContainerState>,
}

impl PodState {
    /// The state of `pod`.
    pub fn of(pod: &Pod) -> PodState {
        let status = pod.status.clone().unwrap_or_default();
        PodState {
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            name: pod.metadata.name.clone().unwrap_or_default(),
            labels: pod.metadata.labels.clone().unwrap_or_default(),
            phase: status.phase.clone().unwrap_or_else(|| "Unknown".into()),
            ready: pod_ready(pod),
            containers: status
                .container_statuses
                .unwrap_or_default()
                .into_iter()
                .map(|c| ContainerState {
                    waiting: c
                        .state
                        .as_ref()
                        .and_then(|s| s.waiting.as_ref())
                        .and_then(|w| w.reason.clone()),
                    name: c.name,
                    ready: c.ready,
                    restarts: c.restart_count,
                })
                .collect(),
        }
    }

    /// The containers that will not start by themselves (see [`STUCK`]),
    /// with why.
    pub fn stuck(&self) -> impl Iterator<Item = (&ContainerState, &str)> {
        self.containers.iter().filter_map(|c| {
            let reason = c.waiting.as_deref().filter(|r| STUCK.contains(r))?;
            Some((c, reason))
        })
    }

    /// Whether its labels satisfy an equality-based selector (`a=b,c!=d,e`).
    pub fn matches(&self, selector: &str) -> bool {
        selector
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .all(|term| {
                if let Some((k, v)) = term.split_once("!=") {
                    self.labels.get(k.trim()).map(String::as_str) != Some(v.trim())
                } else if let Some((k, v)) = term.split_once('=') {
                    let v = v.trim_start_matches('=');
                    self.labels.get(k.trim()).map(String::as_str) == Some(v.trim())
                } else {
                    self.labels.contains_key(term)
                }
            })
    }
}

/// Reasons a waiting container will not start by itself.
pub const STUCK: &[&str] = &[
    "CrashLoopBackOff",
    "Error",
    "ImagePullBackOff",
    "ErrImagePull",
    "CreateContainerConfigError",
    "RunContainerError",
];

/// Every pod in every namespace.
pub async fn all(client: &kube::Client) -> Result<Vec<PodState>, kube::Error> {
    let list = kube::Api::<Pod>::all(client.clone())
        .list(&ListParams::default())
        .await?;
    Ok(list.items.iter().map(PodState::of).collect())
}
