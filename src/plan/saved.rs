//! A plan saved by `plan --out`: the plan (its JSON document, and each
//! change's steps whole), a hash of the spec it was made from, and a
//! fingerprint of the live state of each resource it observed. `apply
//! PLANFILE` never runs the file: it plans afresh and runs that plan only
//! when it is the saved one, action for action and step for step, and the
//! world has not moved; otherwise it refuses, naming what differs. Nothing
//! secret is saved: plans show secrets as `(sensitive)`, live fingerprints
//! are taken of state that holds no secrets, and `apply` reads secrets
//! again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kindform_api::Spec;
use kindform_api::settings::fingerprint;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Observed, Plan};

/// The saved form of a plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedPlan {
    /// Always `"1"`.
    pub format_version: String,
    /// The kindform version that made it.
    pub kindform_version: String,
    /// A hash of the spec and of what the plan would make (its `after`s).
    pub spec_hash: String,
    /// A fingerprint of the live state of each observed address.
    pub observed: BTreeMap<String, String>,
    /// Whether the plan may rebuild the cluster (false when made with
    /// `--no-rebuild`), so that apply keeps to it.
    #[serde(default = "allowed")]
    pub allow_rebuild: bool,
    /// The plan, as its JSON document.
    pub plan: Value,
    /// Each change's steps whole, by address.
    #[serde(default)]
    pub steps: BTreeMap<String, Vec<Value>>,
}

/// What a saved plan's document says of one change.
#[derive(Debug, Deserialize, PartialEq)]
struct SavedChange {
    address: String,
    action: String,
    #[serde(default)]
    reasons: Vec<String>,
    #[serde(default)]
    steps: Vec<String>,
}

fn changes_of(document: &Value) -> Option<Vec<SavedChange>> {
    serde_json::from_value(document.get("changes")?.clone()).ok()
}

fn typed_steps(plan: &Plan) -> BTreeMap<String, Vec<Value>> {
    plan.changes
        .iter()
        .map(|c| {
            (
                c.address.to_string(),
                c.steps.iter().map(|s| s.typed()).collect(),
            )
        })
        .collect()
}

fn allowed() -> bool {
    true
}

/// Why a saved plan could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum SavedPlanError {
    /// The file could not be written.
    #[error("cannot write the plan to {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file could not be read.
    #[error("cannot read the plan file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not a saved plan.
    #[error("{path} is not a plan saved by `kindform plan --out`")]
    Format {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// The hash of a spec and of the desired settings a plan derived from it.
pub fn spec_hash(spec: &Spec, plan: &Plan) -> String {
    let afters: Vec<(String, &serde_json::Value)> = plan
        .changes
        .iter()
        .map(|c| (c.address.to_string(), &c.after))
        .collect();
    fingerprint(&serde_json::json!({
        "spec": serde_json::to_value(spec).unwrap_or_default(),
        "after": serde_json::to_value(afters).unwrap_or_default(),
    }))
}

impl SavedPlan {
    /// The saved form of `plan`, made from `spec` and `observed`.
    pub fn new(spec: &Spec, plan: &Plan, observed: &Observed) -> Self {
        SavedPlan {
            format_version: "1".to_owned(),
            kindform_version: env!("CARGO_PKG_VERSION").to_owned(),
            spec_hash: spec_hash(spec, plan),
            observed: observed
                .fingerprints
                .iter()
                .map(|(a, f)| (a.to_string(), f.clone()))
                .collect(),
            allow_rebuild: spec.cluster.allow_rebuild,
            plan: serde_json::to_value(plan).unwrap_or_default(),
            steps: typed_steps(plan),
        }
    }

    /// Writes it as JSON.
    pub fn write(&self, path: &Path) -> Result<(), SavedPlanError> {
        let text = crate::render::scrubbed_json(self);
        std::fs::write(path, text + "\n").map_err(|source| SavedPlanError::Write {
            path: path.to_owned(),
            source,
        })
    }

    /// Reads a saved plan.
    pub fn read(path: &Path) -> Result<SavedPlan, SavedPlanError> {
        let text = std::fs::File::open(path)
            .and_then(|file| {
                kindform_api::bounded::read_string_capped(
                    file,
                    kindform_api::bounded::MAX_TOOL_OUTPUT_BYTES,
                )
            })
            .map_err(|source| SavedPlanError::Read {
                path: path.to_owned(),
                source,
            })?;
        serde_json::from_str(&text).map_err(|source| SavedPlanError::Format {
            path: path.to_owned(),
            source,
        })
    }

    /// What stands between this plan and `fresh`, the plan made now from
    /// the spec (its hash `spec_hash`) and a fresh observation: one line per
    /// difference; empty when `fresh` is this plan and may run.
    pub fn differences(&self, spec_hash: &str, observed: &Observed, fresh: &Plan) -> Vec<String> {
        let mut moved = Vec::new();
        if spec_hash != self.spec_hash {
            moved.push("the spec (or a file it names) changed since the plan was made".to_owned());
        }
        let now: BTreeMap<String, &String> = observed
            .fingerprints
            .iter()
            .map(|(a, f)| (a.to_string(), f))
            .collect();
        for (address, then) in &self.observed {
            match now.get(address) {
                Some(f) if *f == then => {}
                Some(_) => moved.push(format!("{address}: its live state changed")),
                None => moved.push(format!("{address}: no longer observed")),
            }
        }
        for address in now.keys() {
            if !self.observed.contains_key(address) {
                moved.push(format!("{address}: observed now but not when planned"));
            }
        }
        let Some(saved) = changes_of(&self.plan) else {
            moved.push("the file holds no plan kindform can read".to_owned());
            return moved;
        };
        let document = serde_json::to_value(fresh).unwrap_or_default();
        let fresh_changes = changes_of(&document).unwrap_or_default();
        let fresh_steps = typed_steps(fresh);
        for change in &saved {
            let Some(now) = fresh_changes.iter().find(|c| c.address == change.address) else {
                moved.push(format!(
                    "{}: in the saved plan, not in a plan made now",
                    change.address
                ));
                continue;
            };
            if now.action != change.action {
                moved.push(format!(
                    "{}: the saved plan says {}, a plan made now says {}",
                    change.address, change.action, now.action
                ));
            } else if now.reasons != change.reasons {
                moved.push(format!(
                    "{}: the saved plan gives the reasons ({}), a plan made now ({})",
                    change.address,
                    change.reasons.join(", "),
                    now.reasons.join(", ")
                ));
            } else if now.steps != change.steps
                || self.steps.get(&change.address) != fresh_steps.get(&change.address)
            {
                moved.push(format!(
                    "{}: its steps in the saved plan are not those of a plan made now",
                    change.address
                ));
            }
        }
        for change in &fresh_changes {
            if !saved.iter().any(|c| c.address == change.address) {
                moved.push(format!(
                    "{}: in a plan made now, not in the saved plan",
                    change.address
                ));
            }
        }
        moved
    }
}
