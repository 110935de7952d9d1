//! The image's diff: the local image and what each target node holds,
//! against the spec, and the steps that close it. Pure: no I/O.

use kindform_api::Reason;
use kindform_api::provider::{Diff, Difference, Effect};
use serde_json::{Value, json};

use crate::provider::{DesiredImage, ImageLive, OnNode, short};
use crate::step::ImageStep;

/// The differences between the spec and the image as observed.
pub(crate) fn diff(desired: &DesiredImage, live: &ImageLive) -> Diff<ImageStep> {
    let reference = &desired.spec.reference;
    let mut differences = Vec::new();
    let mut steps = Vec::new();
    let rebuild = desired.spec.build.is_some()
        && live
            .local
            .as_ref()
            .is_none_or(|local| local.context_hash != desired.context_hash);
    let names = |wanted: fn(&OnNode) -> bool| -> Vec<String> {
        live.nodes
            .iter()
            .filter(|(_, s)| wanted(s))
            .map(|(n, _)| n.clone())
            .collect()
    };
    let stale = names(|s| matches!(s, OnNode::Stale));
    let missing = names(|s| matches!(s, OnNode::Missing));
    let unreachable_nodes = names(|s| matches!(s, OnNode::Unreachable { .. }));
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
        let (reason, why) = match &live.local {
            None => (Reason::Absent, "not built yet"),
            Some(_) => (
                Reason::ContextChanged,
                "its build context changed since it was built",
            ),
        };
        differences.push(Difference::new(
            reason,
            if on_none {
                Effect::Create
            } else {
                Effect::Update
            },
            format!("{reference}: {why}"),
        ));
        steps.extend(build_step(desired, false));
    } else if on_none && !live.nodes.is_empty() && unreachable.is_empty() {
        differences.push(Difference::new(
            Reason::Absent,
            Effect::Create,
            format!("{reference} is on none of {}", desired.nodes.join(", ")),
        ));
    } else {
        if !stale.is_empty() {
            differences.push(Difference::new(
                Reason::ImageStale,
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
                Reason::ImageMissing,
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
            Reason::NodeUnreachable,
            Effect::Repair,
            format!("cannot see the images of {}", unreachable.join(", ")),
        ));
    }
    let id = live.local.as_ref().map(|l| short(&l.id).to_owned());
    let load_into: Vec<String> = live
        .nodes
        .iter()
        .filter(|(_, s)| rebuild || matches!(s, OnNode::Stale | OnNode::Missing))
        .filter(|(_, s)| !matches!(s, OnNode::Unreachable { .. }))
        .map(|(n, _)| n.clone())
        .collect();
    if !load_into.is_empty() {
        steps.push(ImageStep::Load {
            reference: reference.clone(),
            id: if rebuild { None } else { id.clone() },
            nodes: load_into,
        });
        steps.extend(restart_steps(desired, live));
    }
    if !unreachable_nodes.is_empty() {
        steps.push(ImageStep::LoadWhereLacking {
            reference: reference.clone(),
            nodes: unreachable_nodes,
        });
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

fn build_step(desired: &DesiredImage, when_needed: bool) -> Option<ImageStep> {
    desired.spec.build.as_ref().map(|build| ImageStep::Build {
        reference: desired.spec.reference.clone(),
        context: build.context.clone(),
        dockerfile: build.dockerfile.clone(),
        when_needed,
    })
}

fn restart_steps<'a>(
    desired: &'a DesiredImage,
    live: &'a ImageLive,
) -> impl Iterator<Item = ImageStep> + 'a {
    live.workloads.iter().map(|workload| ImageStep::Restart {
        workload: workload.clone(),
        reference: desired.spec.reference.clone(),
    })
}

/// What putting the image on fresh nodes takes.
pub fn plan_create(desired: &DesiredImage) -> Diff<ImageStep> {
    let reference = &desired.spec.reference;
    let mut steps: Vec<ImageStep> = build_step(desired, true).into_iter().collect();
    steps.push(ImageStep::Load {
        reference: reference.clone(),
        id: None,
        nodes: desired.nodes.clone(),
    });
    Diff {
        differences: vec![Difference::new(
            Reason::Absent,
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

/// What loading the image again into every node takes (`--replace`): a
/// build if its context changed, the load, and restarts of what runs it.
pub(crate) fn reload_steps(desired: &DesiredImage, live: &ImageLive) -> Vec<ImageStep> {
    let mut steps: Vec<ImageStep> = build_step(desired, true).into_iter().collect();
    steps.push(ImageStep::Load {
        reference: desired.spec.reference.clone(),
        id: live.local.as_ref().map(|l| short(&l.id).to_owned()),
        nodes: desired.nodes.clone(),
    });
    steps.extend(restart_steps(desired, live));
    steps
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use kindform_api::provider::Effect;
    use kindform_api::{BuildSpec, ImageSpec, Reason};
    use kindform_kube::Workload;

    use super::{diff, plan_create, reload_steps};
    use crate::provider::{DesiredImage, ImageLive, LocalImage, OnNode};

    fn desired(build: bool) -> DesiredImage {
        DesiredImage {
            address: "images.app".into(),
            spec: ImageSpec {
                reference: "app:dev".into(),
                nodes: None,
                build: build.then(|| BuildSpec {
                    context: "app".into(),
                    dockerfile: "Dockerfile".into(),
                    args: Default::default(),
                    target: None,
                }),
                depends_on: Vec::new(),
            },
            nodes: vec!["kf-control-plane".into(), "kf-worker".into()],
            context_hash: build.then(|| "ctx1".to_owned()),
            base_dir: PathBuf::from("."),
        }
    }

    fn loaded() -> ImageLive {
        ImageLive {
            local: Some(LocalImage {
                id: "sha256:3e0cbfb52dd2aaaa".into(),
                context_hash: Some("ctx1".into()),
            }),
            nodes: vec![
                ("kf-control-plane".into(), OnNode::Present),
                ("kf-worker".into(), OnNode::Present),
            ],
            workloads: vec![Workload {
                kind: "deployment".into(),
                namespace: "apps".into(),
                name: "web".into(),
                images: vec!["app:dev".into()],
                release: None,
                selector: Default::default(),
                rolling: None,
            }],
        }
    }

    struct Row {
        what: &'static str,
        build: bool,
        change: fn(&mut ImageLive),
        reasons: &'static [(Reason, Effect)],
        steps: &'static [&'static str],
    }

    const LOAD_BOTH: &str = "load app:dev into kf-control-plane, kf-worker (one docker image export streamed into ctr import, nodes in parallel)";
    const RESTART: &str =
        "rollout restart deployment/web in apps (it runs app:dev) and wait for it";

    #[test]
    fn the_image_diff_over_observed_states() {
        let rows = [
            Row {
                what: "on every node",
                build: true,
                change: |_| {},
                reasons: &[],
                steps: &[],
            },
            Row {
                what: "stale on one node",
                build: false,
                change: |live| live.nodes[1].1 = OnNode::Stale,
                reasons: &[(Reason::ImageStale, Effect::Update)],
                steps: &[
                    "load app:dev (3e0cbfb52dd2) into kf-worker (one docker image export streamed into ctr import, nodes in parallel)",
                    RESTART,
                ],
            },
            Row {
                what: "missing from one node",
                build: false,
                change: |live| live.nodes[0].1 = OnNode::Missing,
                reasons: &[(Reason::ImageMissing, Effect::Update)],
                steps: &[
                    "load app:dev (3e0cbfb52dd2) into kf-control-plane (one docker image export streamed into ctr import, nodes in parallel)",
                    RESTART,
                ],
            },
            Row {
                what: "its context changed",
                build: true,
                change: |live| live.local.as_mut().unwrap().context_hash = Some("ctx0".into()),
                reasons: &[(Reason::ContextChanged, Effect::Update)],
                steps: &[
                    "build app:dev from app (Dockerfile Dockerfile)",
                    LOAD_BOTH,
                    RESTART,
                ],
            },
            Row {
                what: "never built",
                build: true,
                change: |live| {
                    live.local = None;
                    live.nodes.iter_mut().for_each(|n| n.1 = OnNode::Missing);
                    live.workloads.clear();
                },
                reasons: &[(Reason::Absent, Effect::Create)],
                steps: &["build app:dev from app (Dockerfile Dockerfile)", LOAD_BOTH],
            },
            Row {
                what: "a node that cannot be read",
                build: false,
                change: |live| {
                    live.nodes[1].1 = OnNode::Unreachable {
                        reason: "stopped".into(),
                    }
                },
                reasons: &[(Reason::NodeUnreachable, Effect::Repair)],
                steps: &[
                    "look at the unreachable nodes again once they run, and load the image where it lacks",
                ],
            },
        ];
        for row in rows {
            let desired = desired(row.build);
            let mut live = loaded();
            (row.change)(&mut live);
            let diff = diff(&desired, &live);
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
    fn creating_builds_only_when_needed_and_a_replace_reloads_everywhere() {
        let desired = desired(true);
        let create: Vec<String> = plan_create(&desired)
            .steps
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            create,
            [
                "build app:dev from app (Dockerfile Dockerfile) when absent or its context changed",
                LOAD_BOTH,
            ]
        );
        let replace: Vec<String> = reload_steps(&desired, &loaded())
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            replace,
            [
                "build app:dev from app (Dockerfile Dockerfile) when absent or its context changed",
                "load app:dev (3e0cbfb52dd2) into kf-control-plane, kf-worker (one docker image export streamed into ctr import, nodes in parallel)",
                RESTART,
            ]
        );
    }
}
