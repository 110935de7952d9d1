//! The manifest's steps: what its plans say and what apply does.

use std::fmt;

use kindform_kube::ObjectRef;
use serde::Serialize;

/// One step of a manifest plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum ManifestStep {
    /// Server-side apply every object of the manifest, as field manager
    /// `kindform`.
    Apply {
        /// The objects, as the plan found them.
        objects: Vec<ObjectRef>,
    },
    /// Delete one object (it left the manifest, or the manifest goes).
    Delete { object: ObjectRef },
    /// Wait for one of the manifest's wait conditions.
    Wait {
        /// Which of the spec's `wait` entries, from 0.
        index: usize,
        /// The condition, in words.
        what: String,
    },
    /// Write the manifest's objects to kindform's applied record.
    Record {
        /// The objects, as the plan found them.
        objects: Vec<ObjectRef>,
    },
    /// Remove the manifest from kindform's applied record.
    Forget,
}

impl fmt::Display for ManifestStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManifestStep::Apply { objects } if objects.is_empty() => {
                f.write_str("server-side apply its objects (field manager kindform)")
            }
            ManifestStep::Apply { objects } => write!(
                f,
                "server-side apply {} (field manager kindform)",
                objects
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            ManifestStep::Delete { object } => write!(f, "delete {object}"),
            ManifestStep::Wait { what, .. } => write!(f, "wait for {what}"),
            ManifestStep::Record { .. } => f.write_str("record its objects in the applied record"),
            ManifestStep::Forget => f.write_str("forget it in the applied record"),
        }
    }
}
