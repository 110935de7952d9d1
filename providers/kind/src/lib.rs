//! The kind provider: owns the `cluster` resource, a kind cluster whose nodes are
//! Docker containers.
//!
//! It will observe node containers through Docker and the API through the
//! cluster's kubeconfig, and create, repair, replace and delete clusters with
//! `kind`. Those behaviours arrive with the plan and apply issues; until then the
//! crate deliberately holds none, so nothing can appear to work that does not.
