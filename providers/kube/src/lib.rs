//! The Kubernetes provider: owns `manifests.*`, plain objects applied through the
//! Kubernetes API.
//!
//! It will read objects with kube-rs, apply them server-side and prune what left
//! the spec. Those behaviours arrive with the plan and apply issues; until then
//! the crate deliberately holds none.
