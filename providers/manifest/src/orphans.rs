//! Manifests that left the spec: the applied record still lists their
//! objects. Applied with `prune`, they are deleted; otherwise they stay,
//! and the plan says so.

use kindform_api::Reason;
use kindform_api::provider::{Diff, Difference, Effect};
use kindform_api::settings::fingerprint;
use kindform_kube::{ObjectRef, RecordEntry};
use serde::Serialize;
use serde_json::{Value, json};

use crate::diff::{NotOurs, delete_steps};
use crate::secrets::comparable;
use crate::source::DesiredManifest;
use crate::step::ManifestStep;

/// A manifest the applied record lists and the spec no longer has.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Orphan {
    /// Its name under `manifests`.
    pub name: String,
    /// Its record entry.
    pub entry: RecordEntry,
    /// The objects the entry lists that still exist and carry this
    /// environment's label.
    pub existing: Vec<ObjectRef>,
    /// Those that exist without it: never deleted.
    pub not_ours: Vec<NotOurs>,
}

impl Orphan {
    /// Whether it was applied with `prune` (so leaving the spec deletes it).
    pub fn prunes(&self) -> bool {
        recorded_prune(&self.entry)
    }

    /// Its plan: delete its objects and forget it when it was applied with
    /// `prune`, otherwise nothing (its objects stay).
    pub(crate) fn diff(&self) -> Diff<ManifestStep> {
        let names: Vec<String> = self.existing.iter().map(ToString::to_string).collect();
        let before = json!({"objects": self.existing});
        let left_alone = if self.not_ours.is_empty() {
            String::new()
        } else {
            let others: Vec<String> = self.not_ours.iter().map(ToString::to_string).collect();
            format!(
                "; left alone, not this environment's: {}",
                others.join(", ")
            )
        };
        if !self.prunes() {
            return Diff {
                before: before.clone(),
                after: before,
                ..Diff::default()
            };
        }
        Diff {
            differences: vec![Difference::new(
                Reason::Orphaned,
                Effect::Delete,
                if names.is_empty() && self.not_ours.is_empty() {
                    "left the spec; its objects are already gone".to_owned()
                } else if names.is_empty() {
                    format!("left the spec; none of its objects is this environment's{left_alone}")
                } else {
                    format!(
                        "left the spec (prune is on): {}{left_alone}",
                        names.join(", ")
                    )
                },
            )],
            steps: delete_steps(&self.existing),
            before,
            after: Value::Null,
        }
    }
}

pub(crate) fn recorded_objects(entry: &RecordEntry) -> Vec<ObjectRef> {
    entry
        .settings
        .get("objects")
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default()
}

fn recorded_prune(entry: &RecordEntry) -> bool {
    entry
        .settings
        .get("prune")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// What the applied record keeps for a manifest: the objects applied (so
/// that those that leave it can be pruned), whether pruning was on, and a
/// fingerprint of the objects' content.
pub fn record_entry(desired: &DesiredManifest, applied: &[ObjectRef]) -> RecordEntry {
    RecordEntry {
        fingerprint: fingerprint(&Value::Array(
            desired.objects.iter().map(comparable).collect(),
        )),
        settings: json!({"objects": applied, "prune": desired.spec.prune}),
    }
}
