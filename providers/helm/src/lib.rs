//! The Helm provider: owns `releases.*`, Helm releases driven through the `helm`
//! executable.
//!
//! It will read releases from Helm's JSON outputs and install, upgrade, recover
//! and uninstall them. Those behaviours arrive with the plan and apply issues;
//! until then the crate deliberately holds none.
