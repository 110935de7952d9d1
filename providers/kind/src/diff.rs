//! The cluster's diff: what differs between the spec and the cluster as
//! observed, and the steps that close it. Pure: no I/O.

use kindform_api::provider::{Diff, Difference, Effect};
use kindform_api::{ClusterSpec, Duration, Reason};
use serde_json::json;

use crate::cluster::{ApiState, CLUSTER_LABEL, ClusterLive, NodeContainer, pod_line, stuck};
use crate::settings::{Waits, node_images, settings, without_digest};
use crate::step::ClusterStep;
use kindform_api::settings::{changed_paths, fingerprint};

/// What making the cluster takes when it does not exist.
pub fn plan_create(desired: &ClusterSpec) -> Diff<ClusterStep> {
    Diff {
        differences: vec![Difference::new(
            Reason::Absent,
            Effect::Create,
            format!(
                "no node containers labelled {CLUSTER_LABEL}={}",
                desired.name
            ),
        )],
        steps: create_steps(desired),
        before: serde_json::Value::Null,
        after: settings(desired),
    }
}

fn create_steps(desired: &ClusterSpec) -> Vec<ClusterStep> {
    let mut images: Vec<String> = node_images(desired)
        .iter()
        .map(|i| without_digest(i).to_owned())
        .collect();
    images.dedup();
    vec![
        ClusterStep::Create {
            cluster: desired.name.clone(),
            nodes: desired.node_names().len(),
            images,
        },
        ClusterStep::AwaitCreated,
        ClusterStep::Record,
    ]
}

/// What deleting the cluster and making it again takes; `why` says what
/// forces it, for the refusal when it may not be rebuilt.
pub fn replace_steps(desired: &ClusterSpec, why: &str) -> Vec<ClusterStep> {
    if !desired.allow_rebuild {
        return vec![ClusterStep::RefuseReplace {
            cluster: desired.name.clone(),
            why: why.to_owned(),
        }];
    }
    let mut steps = vec![ClusterStep::Delete {
        cluster: desired.name.clone(),
    }];
    steps.extend(create_steps(desired));
    steps
}

/// The last rung of a repair ladder.
fn last_resort(desired: &ClusterSpec, when: &str) -> ClusterStep {
    let (cluster, when) = (desired.name.clone(), when.to_owned());
    if desired.allow_rebuild {
        ClusterStep::Rebuild { cluster, when }
    } else {
        ClusterStep::RefuseRebuild { cluster, when }
    }
}

/// The differences between the spec and the cluster as observed.
pub fn diff(desired: &ClusterSpec, live: &ClusterLive) -> Diff<ClusterStep> {
    if live.nodes.is_empty() {
        return plan_create(desired);
    }
    let after = settings(desired);
    let mut differences = replacements(desired, live, &after);
    let before = match &live.applied {
        Some(entry) => entry.settings.clone(),
        None => {
            json!({"nodes": live.nodes.iter().map(|n| json!({"name": n.name, "role": n.role, "image": n.image})).collect::<Vec<_>>()})
        }
    };
    if !differences.is_empty() {
        let why: Vec<&str> = differences.iter().map(|d| d.detail.as_str()).collect();
        return Diff {
            steps: replace_steps(desired, &why.join("; ")),
            differences,
            before,
            after,
        };
    }
    let mut steps = Vec::new();
    let waits = Waits::of(desired);
    let (start, grace) = (Duration::new(waits.start), Duration::new(waits.grace));
    let stopped: Vec<String> = live
        .nodes
        .iter()
        .filter(|c| !c.running)
        .map(|c| c.name.clone())
        .collect();
    if !stopped.is_empty() {
        differences.push(Difference::new(
            Reason::NodeStopped,
            Effect::Repair,
            format!("stopped node containers: {}", stopped.join(", ")),
        ));
        steps.push(ClusterStep::StartNodes { nodes: stopped });
        steps.push(ClusterStep::AwaitReady { wait: start });
        steps.push(last_resort(desired, "if they do not come back"));
    } else {
        match &live.api {
            ApiState::Unreachable { reason } => {
                differences.push(Difference::new(
                    Reason::ApiUnreachable,
                    Effect::Repair,
                    format!("node containers run but the API does not answer: {reason}"),
                ));
                steps.push(ClusterStep::AwaitApi { wait: grace });
                steps.push(ClusterStep::RestartControlPlane {
                    container: format!("{}-control-plane", desired.name),
                    wait: start,
                });
                steps.push(last_resort(desired, "if the API does not come back"));
            }
            ApiState::Reachable { not_ready } if !not_ready.is_empty() => {
                differences.push(Difference::new(
                    Reason::NodeNotReady,
                    Effect::Repair,
                    format!("nodes not Ready: {}", not_ready.join(", ")),
                ));
                steps.push(ClusterStep::AwaitNodes { wait: start });
                steps.push(ClusterStep::RestartNotReady {
                    nodes: not_ready.clone(),
                    wait: start,
                });
            }
            _ => {}
        }
        if !live.stuck_system.is_empty() {
            let pods: Vec<String> = live
                .system
                .iter()
                .filter(|p| stuck(p))
                .map(pod_line)
                .collect();
            differences.push(Difference::new(
                Reason::SystemPodsStuck,
                Effect::Repair,
                format!("kube-system pods will not start: {}", pods.join("; ")),
            ));
            steps.push(ClusterStep::RestartSystem {
                workloads: live.stuck_system.clone(),
            });
            steps.push(ClusterStep::AwaitSystem {
                workloads: live.stuck_system.clone(),
                wait: start,
            });
        }
    }
    if live.applied.is_none() && matches!(live.api, ApiState::Reachable { .. }) {
        differences.push(Difference::new(
            Reason::Unrecorded,
            Effect::Update,
            "the cluster's settings are not in kindform's applied record (made by hand, or the record was lost)",
        ));
        steps.push(ClusterStep::Record);
    }
    Diff {
        differences,
        steps,
        before,
        after,
    }
}

/// The differences that force the cluster to be made again.
fn replacements(
    desired: &ClusterSpec,
    live: &ClusterLive,
    after: &serde_json::Value,
) -> Vec<Difference> {
    let mut differences = Vec::new();
    let wanted_names = desired.node_names();
    let wanted_images = node_images(desired);
    let missing: Vec<&str> = wanted_names
        .iter()
        .filter(|n| !live.nodes.iter().any(|c| &c.name == *n))
        .map(String::as_str)
        .collect();
    let extra: Vec<&NodeContainer> = live
        .nodes
        .iter()
        .filter(|c| c.role != "external-load-balancer" && !wanted_names.contains(&c.name))
        .collect();
    if !missing.is_empty() {
        differences.push(Difference::new(
            Reason::NodeMissing,
            Effect::ForcesReplacement,
            format!("node containers missing: {}", missing.join(", ")),
        ));
    }
    if !extra.is_empty() {
        let names: Vec<&str> = extra.iter().map(|c| c.name.as_str()).collect();
        differences.push(Difference::new(
            Reason::ConfigChanged,
            Effect::ForcesReplacement,
            format!("nodes not in the config: {}", names.join(", ")),
        ));
    }
    for (name, image) in wanted_names.iter().zip(&wanted_images) {
        if let Some(container) = live.nodes.iter().find(|c| &c.name == name) {
            if without_digest(&container.image) != without_digest(image) {
                differences.push(Difference::new(
                    Reason::NodeImageChanged,
                    Effect::ForcesReplacement,
                    format!(
                        "{name} runs {}, the spec wants {}",
                        container.image,
                        without_digest(image)
                    ),
                ));
            }
        }
    }
    if let Some(entry) = &live.applied {
        if entry.fingerprint != fingerprint(after) {
            let fields = changed_paths(&entry.settings, after);
            differences.push(Difference::new(
                Reason::ConfigChanged,
                Effect::ForcesReplacement,
                format!("changed: {}", fields.join(", ")),
            ));
        }
    }
    differences
}

#[cfg(test)]
mod tests {
    use kindform_api::provider::Effect;
    use kindform_api::{ClusterSpec, KindConfig, Reason};
    use kindform_kube::RecordEntry;

    use super::{diff, replace_steps};
    use crate::cluster::{ApiState, ClusterLive, NodeContainer};
    use crate::settings::{node_images, record_entry, without_digest};

    fn spec(allow_rebuild: bool) -> ClusterSpec {
        let config: KindConfig = serde_json::from_value(
            serde_json::json!({"nodes": [{"role": "control-plane"}, {"role": "worker"}]}),
        )
        .unwrap();
        ClusterSpec {
            name: "kf".into(),
            node_image: None,
            config_file: None,
            config,
            ready_timeout: Some("10s".parse().unwrap()),
            allow_rebuild,
        }
    }

    /// The cluster as the spec wants it, every node running, the API
    /// answering, the record written.
    fn converged(spec: &ClusterSpec) -> ClusterLive {
        let image = without_digest(&node_images(spec)[0]).to_owned();
        ClusterLive {
            nodes: vec![
                node("kf-control-plane", "control-plane", &image),
                node("kf-worker", "worker", &image),
            ],
            api: ApiState::Reachable {
                not_ready: Vec::new(),
            },
            applied: Some(record_entry(spec)),
            system: Vec::new(),
            stuck_system: Vec::new(),
        }
    }

    fn node(name: &str, role: &str, image: &str) -> NodeContainer {
        NodeContainer {
            name: name.into(),
            role: role.into(),
            running: true,
            image: image.into(),
        }
    }

    /// One row: a change to the converged cluster, the reasons and effects
    /// the diff must give, and its plan's lines.
    struct Row {
        what: &'static str,
        allow_rebuild: bool,
        change: fn(&mut ClusterLive),
        reasons: &'static [(Reason, Effect)],
        steps: &'static [&'static str],
    }

    #[test]
    fn the_cluster_diff_over_observed_states() {
        let rows = [
            Row {
                what: "converged",
                allow_rebuild: true,
                change: |_| {},
                reasons: &[],
                steps: &[],
            },
            Row {
                what: "a stopped worker",
                allow_rebuild: true,
                change: |live| live.nodes[1].running = false,
                reasons: &[(Reason::NodeStopped, Effect::Repair)],
                steps: &[
                    "start stopped node containers: kf-worker",
                    "wait for the API and every node to be Ready (10s)",
                    "replace the cluster \"kf\" if they do not come back",
                ],
            },
            Row {
                what: "a stopped worker, no rebuild",
                allow_rebuild: false,
                change: |live| live.nodes[1].running = false,
                reasons: &[(Reason::NodeStopped, Effect::Repair)],
                steps: &[
                    "start stopped node containers: kf-worker",
                    "wait for the API and every node to be Ready (10s)",
                    "stop if they do not come back: rebuilding the cluster is not allowed (--no-rebuild, or allow_rebuild = false under [cluster])",
                ],
            },
            Row {
                what: "an API that does not answer",
                allow_rebuild: true,
                change: |live| {
                    live.api = ApiState::Unreachable {
                        reason: "connection refused".into(),
                    }
                },
                reasons: &[(Reason::ApiUnreachable, Effect::Repair)],
                steps: &[
                    "wait for the API to answer (5s)",
                    "restart the kf-control-plane container and wait for the API (10s)",
                    "replace the cluster \"kf\" if the API does not come back",
                ],
            },
            Row {
                what: "a node not Ready",
                allow_rebuild: true,
                change: |live| {
                    live.api = ApiState::Reachable {
                        not_ready: vec!["kf-worker".into()],
                    }
                },
                reasons: &[(Reason::NodeNotReady, Effect::Repair)],
                steps: &[
                    "wait for every node to be Ready (10s)",
                    "restart the containers of nodes still not Ready: kf-worker",
                ],
            },
            Row {
                what: "a missing worker",
                allow_rebuild: true,
                change: |live| {
                    live.nodes.pop();
                },
                reasons: &[(Reason::NodeMissing, Effect::ForcesReplacement)],
                steps: &[
                    "kind delete cluster --name kf",
                    "kind create cluster --name kf (2 nodes, kindest/node:v1.36.1)",
                    "wait for the API and every node to be Ready",
                    "record the cluster's settings in the applied record (kube-system/kindform)",
                ],
            },
            Row {
                what: "a missing worker, no rebuild",
                allow_rebuild: false,
                change: |live| {
                    live.nodes.pop();
                },
                reasons: &[(Reason::NodeMissing, Effect::ForcesReplacement)],
                steps: &[
                    "stop: replacing the cluster \"kf\" is not allowed (--no-rebuild, or allow_rebuild = false under [cluster])",
                ],
            },
            Row {
                what: "another node image",
                allow_rebuild: true,
                change: |live| live.nodes[0].image = "kindest/node:v1.30.0".into(),
                reasons: &[(Reason::NodeImageChanged, Effect::ForcesReplacement)],
                steps: &[
                    "kind delete cluster --name kf",
                    "kind create cluster --name kf (2 nodes, kindest/node:v1.36.1)",
                    "wait for the API and every node to be Ready",
                    "record the cluster's settings in the applied record (kube-system/kindform)",
                ],
            },
            Row {
                what: "a record of other settings",
                allow_rebuild: true,
                change: |live| {
                    live.applied = Some(RecordEntry {
                        fingerprint: "other".into(),
                        settings: serde_json::json!({"nodes": []}),
                    })
                },
                reasons: &[(Reason::ConfigChanged, Effect::ForcesReplacement)],
                steps: &[
                    "kind delete cluster --name kf",
                    "kind create cluster --name kf (2 nodes, kindest/node:v1.36.1)",
                    "wait for the API and every node to be Ready",
                    "record the cluster's settings in the applied record (kube-system/kindform)",
                ],
            },
            Row {
                what: "no record",
                allow_rebuild: true,
                change: |live| live.applied = None,
                reasons: &[(Reason::Unrecorded, Effect::Update)],
                steps: &[
                    "record the cluster's settings in the applied record (kube-system/kindform)",
                ],
            },
            Row {
                what: "no node containers",
                allow_rebuild: true,
                change: |live| live.nodes.clear(),
                reasons: &[(Reason::Absent, Effect::Create)],
                steps: &[
                    "kind create cluster --name kf (2 nodes, kindest/node:v1.36.1)",
                    "wait for the API and every node to be Ready",
                    "record the cluster's settings in the applied record (kube-system/kindform)",
                ],
            },
        ];
        for row in rows {
            let spec = spec(row.allow_rebuild);
            let mut live = converged(&spec);
            (row.change)(&mut live);
            let diff = diff(&spec, &live);
            let reasons: Vec<(Reason, Effect)> = diff
                .differences
                .iter()
                .map(|d| (d.reason.clone(), d.effect))
                .collect();
            let steps: Vec<String> = diff.steps.iter().map(ToString::to_string).collect();
            assert_eq!(reasons, row.reasons, "{}", row.what);
            assert_eq!(steps, row.steps, "{}", row.what);
        }
    }

    #[test]
    fn only_a_rung_escalates() {
        let spec = spec(true);
        let mut live = converged(&spec);
        live.nodes[1].running = false;
        let escalates: Vec<bool> = diff(&spec, &live)
            .steps
            .iter()
            .map(|s| s.escalates())
            .collect();
        assert_eq!(escalates, [false, false, true]);
        assert!(replace_steps(&spec, "").iter().all(|s| !s.escalates()));
    }
}
