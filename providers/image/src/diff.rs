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
