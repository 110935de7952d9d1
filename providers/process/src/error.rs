//! Why a child could not be run to its end.

use std::time::Duration;

/// Why a child could not be run to its end. The caller names the command.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The program could not be started.
    #[error("cannot start it")]
    Spawn {
        #[source]
        source: std::io::Error,
    },
    /// It did not finish in time; its process group was killed.
    #[error("it did not finish within {}s and was stopped", waited.as_secs())]
    Timeout {
        /// How long it was given.
        waited: Duration,
    },
    /// It printed more than it may; its process group was killed.
    #[error("it printed more than the {} limit and was stopped", kindform_api::bounded::human(*cap))]
    TooMuchOutput {
        /// The cap, per stream.
        cap: usize,
    },
    /// Its output could not be read, or its exit not waited for.
    #[error("cannot read what it printed")]
    Io {
        #[source]
        source: std::io::Error,
    },
}
