//! The children kindform runs: `helm`, `kind` and the programs of `run`
//! checks. Every child starts in a process group of its own and is told by
//! the kernel to die with kindform (`PR_SET_PDEATHSIG` on Linux), so a
//! SIGKILL of kindform leaves no `helm upgrade` going on behind it; every
//! call is bounded in time and in output, and a timeout, an overflow or a
//! dropped call kills the whole group, not only its leader. Only the
//! environment an [`Invocation`] names reaches a child that asks for a
//! cleared one.
//!
//! [`running`] answers the other half: whether some process (of another
//! kindform, or a person's own shell) still runs a given command line.

mod error;
mod invocation;
mod scan;

pub use error::ProcessError;
pub use invocation::{Invocation, Output};
pub use scan::{Running, running};
