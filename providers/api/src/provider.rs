//! The provider contract: what every kind of resource offers the engine.
//!
//! Modelled on Terraform's provider protocol: a provider reads the live state
//! of one resource ([`Provider::observe`]) and tells the differences it sees
//! between that and the desired state ([`Provider::diff`]), marking which
//! force a replacement and which are repairs, with the typed steps that
//! close them. [`Provider::plan_create`] says what creating the resource
//! takes without observing it (for a cluster that does not exist yet),
//! [`Provider::plan_delete`] what removing it takes. The engine, not the
//! provider, turns differences into the plan's actions and cascades, and
//! walks the graph; providers never see other resources.
//! [`Provider::apply`] is handed back the planned steps and does exactly
//! those, reporting progress through a [`Progress`] in the steps' own words.

use std::fmt;
use std::future::Future;

use serde::Serialize;
use serde_json::Value;

use crate::Reason;

/// One difference a provider sees between desired and live state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// Why, as the plan names it.
    pub reason: Reason,
    /// What closing the difference takes.
    pub effect: Effect,
    /// One line for people: what differs, naming fields, nodes or objects.
    pub detail: String,
}

impl Difference {
    /// A difference with its reason, effect and detail.
    pub fn new(reason: Reason, effect: Effect, detail: impl Into<String>) -> Self {
        Difference {
            reason,
            effect,
            detail: detail.into(),
        }
    }
}

/// What closing a difference takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
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

/// One step of a provider's plan: shown to people by `Display` (the plan
/// text, the JSON document, progress), kept whole by `Serialize` (a saved
/// plan compares them), and handed back to the provider to be done.
pub trait Step: fmt::Display + fmt::Debug + Clone + PartialEq + Serialize + Send + Sync {}

impl<T: fmt::Display + fmt::Debug + Clone + PartialEq + Serialize + Send + Sync> Step for T {}

/// Everything a provider sees for one resource.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Diff<S> {
    /// The differences, most important first; empty when desired and live agree.
    pub differences: Vec<Difference>,
    /// What apply will do to close them, in order, side effects included
    /// (for repairs, the escalation ladder).
    pub steps: Vec<S>,
    /// The live settings, normalised, sensitive values as `"(sensitive)"`;
    /// `null` when the resource does not exist.
    pub before: Value,
    /// The desired settings, normalised the same way.
    pub after: Value,
}

impl<S> Default for Diff<S> {
    fn default() -> Self {
        Diff {
            differences: Vec::new(),
            steps: Vec::new(),
            before: Value::Null,
            after: Value::Null,
        }
    }
}

impl<S> Diff<S> {
    /// Whether desired and live state agree.
    pub fn is_empty(&self) -> bool {
        self.differences.is_empty()
    }

    /// The same diff with each step wrapped (the engine's one step type).
    pub fn map_steps<T>(self, wrap: impl Fn(S) -> T) -> Diff<T> {
        Diff {
            differences: self.differences,
            steps: self.steps.into_iter().map(wrap).collect(),
            before: self.before,
            after: self.after,
        }
    }
}

/// Reads and compares one kind of resource, and carries out its steps.
pub trait Provider: Send + Sync {
    /// The desired state of one resource (a spec definition).
    type Desired: Send + Sync;
    /// The live state of one resource as observed: plain data, so a saved
    /// plan can fingerprint it.
    type Live: Serialize + Send + Sync;
    /// One step of this provider's plans.
    type Step: Step;
    /// Why observing or applying failed.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Reads the live state of the resource `desired` describes.
    fn observe(
        &self,
        desired: &Self::Desired,
    ) -> impl Future<Output = Result<Self::Live, Self::Error>> + Send;

    /// The differences between desired and live state, with the steps that
    /// close them.
    fn diff(&self, desired: &Self::Desired, live: &Self::Live) -> Diff<Self::Step>;

    /// What creating the resource takes, without observing anything (and
    /// without a provider: nothing may be connected yet, as for what is in
    /// a cluster that is made anew).
    fn plan_create(desired: &Self::Desired) -> Diff<Self::Step>;

    /// What removing the resource takes.
    fn plan_delete(&self, desired: &Self::Desired, live: Option<&Self::Live>) -> Vec<Self::Step>;

    /// What destroying the resource and making it again takes (`--replace`).
    fn plan_replace(&self, desired: &Self::Desired, live: &Self::Live) -> Vec<Self::Step> {
        let mut steps = self.plan_delete(desired, Some(live));
        steps.extend(Self::plan_create(desired).steps);
        steps
    }

    /// What restarting the resource's pods takes once something it runs on
    /// (a sidecar injector, an operator) was repaired under it; nothing for
    /// most kinds.
    fn plan_restart(&self, _desired: &Self::Desired) -> Vec<Self::Step> {
        Vec::new()
    }

    /// How well the resource works, as `live` shows it.
    fn health(&self, _desired: &Self::Desired, _live: &Self::Live) -> crate::Health {
        crate::Health::healthy()
    }

    /// Does `steps` (planned by this provider for `desired`), in order.
    fn apply(
        &self,
        desired: &Self::Desired,
        steps: &[Self::Step],
        progress: &dyn Progress,
    ) -> impl Future<Output = Result<Outcome, Self::Error>> + Send;
}

/// Reading a resource's desired state from its definition in the spec,
/// before anything live is looked at (values files and secrets, charts,
/// build contexts, manifest YAML, a pinned download), so that a missing
/// secret stops the plan before anything runs.
pub trait Resolve: Provider {
    /// What resolving reads besides the definition: the spec's folder, the
    /// cluster's nodes, the state folder, the tools' versions.
    type Input<'a>: Send;

    /// The desired state.
    fn resolve<'a>(
        input: Self::Input<'a>,
    ) -> impl Future<Output = Result<Self::Desired, Self::Error>> + Send + 'a;
}

/// A provider whose resources can outlive their place in the spec
/// (kindform's applied record still lists them): it finds them, and plans
/// and does what leaving the spec means for them.
pub trait Orphans: Provider {
    /// One resource that left the spec, as found.
    type Orphan: Serialize + Send + Sync;

    /// The resources that left the spec (whose names `in_spec` does not
    /// know), with their names.
    fn orphans(
        &self,
        in_spec: &(dyn Fn(&str) -> bool + Sync),
    ) -> impl Future<Output = Result<Vec<(String, Self::Orphan)>, Self::Error>> + Send;

    /// What leaving the spec takes for it (nothing, when it is to stay).
    fn plan_orphan(orphan: &Self::Orphan) -> Diff<Self::Step>;

    /// Does `steps`, planned by [`Orphans::plan_orphan`].
    fn apply_orphan(
        &self,
        orphan: &Self::Orphan,
        steps: &[Self::Step],
        progress: &dyn Progress,
    ) -> impl Future<Output = Result<Outcome, Self::Error>> + Send;
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
    /// The step now running, as the plan shows it.
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
