//! What the engine tells while it applies: one event per thing that
//! happens to a resource. The engine never prints; the command line turns
//! events into a progress display or plain lines, and the journal keeps
//! them. Events carry no secrets: steps are the plan's words, and errors
//! are the providers', which never hold values.

use serde::Serialize;

use crate::plan::Action;

/// One thing that happened during an apply.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// Work on a resource began.
    Started {
        address: String,
        /// What is done to it.
        action: Action,
    },
    /// A step of that work began.
    Step {
        address: String,
        /// The step, in the plan's words.
        text: String,
    },
    /// A line of output worth keeping.
    Output {
        address: String,
        /// The line.
        line: String,
    },
    /// Bytes moved (image loads).
    Bytes {
        address: String,
        /// So far.
        moved: u64,
        /// In all, when known.
        total: Option<u64>,
    },
    /// The work finished.
    Finished {
        address: String,
        /// What was done.
        action: Action,
        /// How long it took.
        seconds: f64,
    },
    /// The work failed.
    Failed {
        address: String,
        /// What was being done.
        action: Action,
        /// How long it ran.
        seconds: f64,
        /// Why, with its causes.
        error: String,
    },
    /// The work did not start because something it needs failed.
    Skipped {
        address: String,
        /// What would have been done.
        action: Action,
        because: String,
    },
    /// Something to tell that belongs to no resource.
    Note {
        /// The text.
        text: String,
    },
}
