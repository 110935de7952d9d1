//! The provider contract: what every kind of resource offers the engine.
//!
//! Modelled on Terraform's provider protocol: a provider reads the live state
//! of one resource ([`Provider::observe`]) and tells the differences it sees
//! between that and the desired state ([`Provider::diff`]), marking which
//! force a replacement and which are repairs, with the steps apply would take
//! to close them. [`Provider::plan_create`] says what creating the resource
//! takes without observing it (for a cluster that does not exist yet). The
//! engine, not the provider, turns differences into the plan's actions and
//! cascades, and walks the graph; providers never see other resources.
//! [`Provider::apply`] makes one resource match the spec by doing exactly
//! the steps its diff showed (the same live state gives the same steps), and
//! [`Provider::delete`] removes it; both report progress through a
//! [`Progress`] the engine turns into events.

use std::future::Future;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One difference a provider sees between desired and live state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Difference {
    /// A short machine-readable reason: `absent`, `config-changed`,
    /// `node-stopped`, `values-changed`, …
    pub reason: String,
    /// What closing the difference takes.
    pub effect: Effect,
    /// One line for people: what differs, naming fields, nodes or objects.
    pub detail: String,
}

impl Difference {
    /// A difference with its reason, effect and detail.
    pub fn new(reason: &str, effect: Effect, detail: impl Into<String>) -> Self {
        Difference {
            reason: reason.to_owned(),
            effect,
            detail: detail.into(),
        }
    }
}

/// What closing a difference takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Effect {
    /// The resource does not exist and must be created.
    Create,
    /// An in-place update.
    Update,
    /// The resource matches the spec but is broken and must be repaired.
    Repair,
    /// The resource must be destroyed and created again.
    ForcesReplacement,
    /// The resource left the spec and must be removed.
    Delete,
}

/// Everything a provider sees for one resource.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Diff {
    /// The differences, most important first; empty when desired and live agree.
    pub differences: Vec<Difference>,
    /// What apply would do to close them, in order, side effects included
    /// (for repairs, the escalation ladder).
    pub steps: Vec<String>,
    /// The live settings, normalised, sensitive values as `"(sensitive)"`;
    /// `null` when the resource does not exist.
    pub before: Value,
    /// The desired settings, normalised the same way.
    pub after: Value,
}

impl Diff {
    /// Whether desired and live state agree.
    pub fn is_empty(&self) -> bool {
        self.differences.is_empty()
    }
}

/// Reads and compares one kind of resource.
pub trait Provider: Send + Sync {
    /// The desired state of one resource (a spec definition).
    type Desired: Send + Sync;
    /// The live state of one resource as observed: plain data, so a saved
    /// plan can fingerprint it and apply can check it has not moved.
    type Live: Serialize + Send + Sync;
    /// Why observing failed.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Reads the live state of the resource `desired` describes.
    fn observe(
        &self,
        desired: &Self::Desired,
    ) -> impl Future<Output = Result<Self::Live, Self::Error>> + Send;

    /// The differences between desired and live state.
    fn diff(&self, desired: &Self::Desired, live: &Self::Live) -> Diff;

    /// What creating the resource takes, without observing anything.
    fn plan_create(&self, desired: &Self::Desired) -> Diff;

    /// How well the resource works, as `live` shows it.
    fn health(&self, _desired: &Self::Desired, _live: &Self::Live) -> crate::Health {
        crate::Health::healthy()
    }

    /// Makes the resource match `desired`, doing the steps of
    /// `diff(desired, live)`; with no live state (a resource in a cluster
    /// just created), the steps of `plan_create`.
    fn apply(
        &self,
        desired: &Self::Desired,
        live: Option<&Self::Live>,
        progress: &dyn Progress,
    ) -> impl Future<Output = Result<Outcome, Self::Error>> + Send;

    /// Removes the resource.
    fn delete(
        &self,
        desired: &Self::Desired,
        live: Option<&Self::Live>,
        progress: &dyn Progress,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// The live state apply was given, or, without one (a resource in a
/// cluster made during this run), the live state observed now.
pub async fn live_or_observe<'a, P: Provider>(
    provider: &P,
    desired: &P::Desired,
    live: Option<&'a P::Live>,
) -> Result<std::borrow::Cow<'a, P::Live>, P::Error>
where
    P::Live: Clone,
{
    match live {
        Some(live) => Ok(std::borrow::Cow::Borrowed(live)),
        None => Ok(std::borrow::Cow::Owned(provider.observe(desired).await?)),
    }
}

/// A message with its causes, `: `-separated, for one line of a report.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(&format!(": {inner}"));
        cause = inner.source();
    }
    text
}

/// How an apply ended, when it succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The planned steps were done.
    Done,
    /// A repair escalated to making the resource again from nothing (the
    /// last step of its ladder), so whatever it contains must be made again.
    Rebuilt,
}

/// Where a provider reports what it is doing while it applies.
pub trait Progress: Send + Sync {
    /// The step now running, in the words of the plan's steps.
    fn step(&self, text: &str);
    /// A line of output worth keeping (build output, a tool's message).
    fn output(&self, line: &str);
    /// Bytes moved so far of `total` (when known), for image loads.
    fn bytes(&self, moved: u64, total: Option<u64>);
}

/// A [`Progress`] that reports nowhere.
pub struct Quiet;

impl Progress for Quiet {
    fn step(&self, _text: &str) {}
    fn output(&self, _line: &str) {}
    fn bytes(&self, _moved: u64, _total: Option<u64>) {}
}
