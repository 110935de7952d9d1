//! How well a resource works, beside whether it matches the spec: healthy,
//! degraded or broken, with the evidence (pod states, nodes, conditions) a
//! person needs to believe it.

use serde::{Deserialize, Serialize};

/// How well a resource works.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HealthState {
    /// It works.
    Healthy,
    /// It works, but not fully (some pods not Ready, restarts growing).
    Degraded,
    /// It does not work.
    Broken,
}

impl HealthState {
    /// Its name, as `status` and its JSON write it.
    pub fn word(self) -> &'static str {
        match self {
            HealthState::Healthy => "healthy",
            HealthState::Degraded => "degraded",
            HealthState::Broken => "broken",
        }
    }
}

/// A resource's health and what shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// The verdict.
    pub state: HealthState,
    /// One line per fact behind it.
    pub evidence: Vec<String>,
}

impl Health {
    /// Healthy, with nothing to show.
    pub fn healthy() -> Health {
        Health {
            state: HealthState::Healthy,
            evidence: Vec::new(),
        }
    }

    /// The worse of what has been seen so far and `state`, with `line` as evidence.
    pub fn note(&mut self, state: HealthState, line: impl Into<String>) {
        self.state = self.state.max(state);
        self.evidence.push(line.into());
    }
}

impl Default for Health {
    fn default() -> Self {
        Health::healthy()
    }
}
