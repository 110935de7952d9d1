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
    out.join("\n")
}
