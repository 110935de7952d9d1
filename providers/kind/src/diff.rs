//! The cluster's diff: what differs between the spec and the cluster as
//! observed, and the steps that close it. Pure: no I/O.

use kindform_api::provider::{Diff, Difference, Effect};
use kindform_api::{ClusterSpec, Duration, Reason};
use serde_json::json;

use crate::cluster::{ApiState, CLUSTER_LABEL, ClusterLive, NodeContainer, pod_line, stuck};
use crate::converge::Waits;
use crate::settings::{node_images, settings, without_digest};
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
