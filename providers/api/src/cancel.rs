//! Cancellation handed to providers: the command line asks (Ctrl-C), and
//! a provider whose step runs long (a `helm --wait`) winds it down so that
//! what it leaves can be recovered. Cheap to clone; every clone sees the ask.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether running work has been asked to stop.
#[derive(Clone, Debug, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A token nobody has asked yet.
    pub fn new() -> Self {
        Cancel::default()
    }

    /// Asks every holder to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether stopping was asked.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
