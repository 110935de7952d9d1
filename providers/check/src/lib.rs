//! The check provider: owns `checks.*`, probes run after their dependencies on
//! every apply (HTTP, a command, pods ready).
//!
//! Running them arrives with the apply issue; until then the crate deliberately
//! holds none.
