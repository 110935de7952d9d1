//! The plan: pure data saying what apply will change, why, and in what steps
//! ([`Action`], [`Change`], [`Plan`]); the planner that decides it from the
//! spec, the graph and what the providers saw; and its saved form.

mod planner;
mod saved;
mod step;

pub use planner::{Observed, PlanOptions, cascades, included, plan};
pub use saved::{SavedPlan, SavedPlanError, spec_hash};
pub use step::{EngineStep, Step};

use kindform_api::{Address, Reason};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What apply does to one resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Make it.
    Create,
    /// Change it in place.
    Update,
    /// Destroy it and make it again.
    Replace,
    /// It matches the spec but is broken: mend it.
    Repair,
    /// Remove it (it left the spec).
    Delete,
    /// Nothing to do.
    NoOp,
    /// A check, run after its dependencies; not a change.
    Run,
}

impl Action {
    /// The symbol the plan text shows.
    pub fn symbol(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Repair => "!",
            Action::Delete => "-",
            Action::NoOp => " ",
            Action::Run => ">",
        }
    }

    /// Its name, as the JSON document and the progress lines write it.
    pub fn word(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::Repair => "repair",
            Action::Delete => "delete",
            Action::NoOp => "no-op",
            Action::Run => "run",
        }
    }

    /// Whether it changes the environment (checks and no-ops do not).
    pub fn is_change(self) -> bool {
        !matches!(self, Action::NoOp | Action::Run)
    }
}

/// One resource's entry in the plan.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Change {
    /// The resource's address.
    pub address: Address,
    /// What apply does.
    pub action: Action,
    /// Why, for people and the JSON document (never for decisions).
    pub reasons: Vec<Reason>,
    /// What apply will do, in order, side effects included: handed to the
    /// resource's provider as they are.
    pub steps: Vec<Step>,
    /// Live settings, normalised; `null` when absent.
    pub before: Value,
    /// Desired settings, normalised; `null` when deleted.
    pub after: Value,
    /// One line per difference, for people (not part of the JSON document).
    #[serde(skip)]
    pub details: Vec<String>,
    /// What must be done before it, beyond the graph's order: set for
    /// orphans, which the graph does not hold (what depended on an orphan
    /// is removed before it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub done_after: Vec<Address>,
}

/// The plan of one environment.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plan {
    /// Always `"1"`.
    pub format_version: String,
    pub environment: String,
    /// Every resource of the spec (and every orphan), in graph order.
    pub changes: Vec<Change>,
}

/// How many changes of each action a plan holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// To create.
    pub create: usize,
    /// To update.
    pub update: usize,
    /// To replace.
    pub replace: usize,
    /// To repair.
    pub repair: usize,
    /// To delete.
    pub delete: usize,
}

impl Plan {
    /// The counts of each action.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for change in &self.changes {
            match change.action {
                Action::Create => c.create += 1,
                Action::Update => c.update += 1,
                Action::Replace => c.replace += 1,
                Action::Repair => c.repair += 1,
                Action::Delete => c.delete += 1,
                Action::NoOp | Action::Run => {}
            }
        }
        c
    }

    /// Whether anything would change.
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| c.action.is_change())
    }

    /// Whether apply makes the cluster anew (or deletes it), so that what
    /// observation connected to is gone.
    pub fn remakes_cluster(&self) -> bool {
        self.change(&Address::Cluster)
            .is_some_and(|c| matches!(c.action, Action::Create | Action::Replace | Action::Delete))
    }

    /// The change of one address.
    pub fn change(&self, address: &Address) -> Option<&Change> {
        self.changes.iter().find(|c| &c.address == address)
    }
}

#[cfg(test)]
mod tests {
    use super::Action;

    #[test]
    fn each_action_is_named_as_the_json_document_names_it() {
        for action in [
            Action::Create,
            Action::Update,
            Action::Replace,
            Action::Repair,
            Action::Delete,
            Action::NoOp,
            Action::Run,
        ] {
            assert_eq!(serde_json::to_value(action).unwrap(), action.word());
        }
    }
}
