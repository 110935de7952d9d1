//! The provider traits: what every kind of resource offers the engine.
//!
//! Modelled on Terraform's provider protocol: a provider reads the live state of
//! one resource and tells the differences it sees between that and the desired
//! state, marking which force a replacement and which are repairs. The engine,
//! not the provider, turns differences into the plan's actions and cascades, and
//! walks the graph; providers never see other resources.

use std::future::Future;

use serde::Serialize;

/// One difference a provider sees between desired and live state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// The setting or part of the resource that differs, e.g. `nodes` or `values`.
    pub field: String,
    /// A short machine-readable reason, e.g. `absent`, `values-changed`, `node-stopped`.
    pub reason: String,
    /// The live value, normalised, when it can be shown.
    pub before: Option<String>,
    /// The desired value, normalised, when it can be shown.
    pub after: Option<String>,
    /// What closing the difference takes.
    pub effect: Effect,
}

/// What closing a difference takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Effect {
    /// The resource does not exist and must be created.
    Create,
    /// An in-place update.
    Update,
    /// The resource must be destroyed and created again.
    ForcesReplacement,
    /// The resource matches the spec but is broken and must be repaired.
    Repair,
}

/// Reads and compares one kind of resource.
pub trait Provider: Send + Sync {
    /// The desired state of one resource (a spec definition).
    type Desired: Send + Sync;
    /// The live state of one resource as observed.
    type Live: Send + Sync;
    /// Why observing failed.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Reads the live state of the resource `desired` describes.
    fn observe(
        &self,
        desired: &Self::Desired,
    ) -> impl Future<Output = Result<Self::Live, Self::Error>> + Send;

    /// The differences between desired and live state; empty when they agree.
    fn diff(&self, desired: &Self::Desired, live: &Self::Live) -> Vec<Difference>;
}
