//! The plan's one step type: each provider's own steps, the engine's, and
//! a step that waits for platforms to be repaired. Written as text in the
//! plan and the JSON document; kept whole for a saved plan's comparison.

use std::fmt;

use kindform_api::Address;
use kindform_check::CheckStep;
use kindform_helm::ReleaseStep;
use kindform_image::ImageStep;
use kindform_kind::ClusterStep;
use kindform_manifest::ManifestStep;
use serde::{Serialize, Serializer};
use serde_json::{Value, json};

/// One step of a change.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// The cluster provider's.
    Cluster(ClusterStep),
    /// The image provider's.
    Image(ImageStep),
    /// The release provider's.
    Release(ReleaseStep),
    /// The manifest provider's.
    Manifest(ManifestStep),
    /// The check provider's.
    Check(CheckStep),
    /// The engine's own.
    Engine(EngineStep),
    /// A step done once the platforms it runs on are repaired (the walk's
    /// order sees to it).
    After {
        /// The releases repaired first.
        platforms: Vec<Address>,
        /// The step.
        step: Box<Step>,
    },
}

/// What the engine itself does or says in a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum EngineStep {
    /// After the cluster is made again, everything in it is created.
    RemakeContents,
    /// A resource in a cluster whose API does not answer: observed once the
    /// cluster is repaired, then converged.
    Reobserve { address: Address },
    /// Destroy: a resource in the cluster goes with it.
    GoesWithCluster,
    /// Destroy: an image's copies go with the cluster; the local image stays.
    KeepLocalImage { reference: String },
}

impl fmt::Display for EngineStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineStep::RemakeContents => f.write_str("create everything in the cluster again"),
            EngineStep::Reobserve { address } => write!(
                f,
                "observe {address} again once the cluster answers, then converge it to the spec"
            ),
            EngineStep::GoesWithCluster => f.write_str("deleted with the cluster, not one by one"),
            EngineStep::KeepLocalImage { reference } => write!(
                f,
                "its copies in the nodes go with the cluster; the local image {reference} is kept"
            ),
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Cluster(s) => s.fmt(f),
            Step::Image(s) => s.fmt(f),
            Step::Release(s) => s.fmt(f),
            Step::Manifest(s) => s.fmt(f),
            Step::Check(s) => s.fmt(f),
            Step::Engine(s) => s.fmt(f),
            Step::After { platforms, step } => {
                let names: Vec<String> = platforms.iter().map(ToString::to_string).collect();
                write!(f, "once {} is repaired, {step}", names.join(", "))
            }
        }
    }
}

/// The JSON document writes a step as its line of the plan.
impl Serialize for Step {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl Step {
    /// The step whole, as a saved plan keeps it to compare with a fresh one.
    pub fn typed(&self) -> Value {
        let value = |v: Result<Value, serde_json::Error>| v.unwrap_or(Value::Null);
        match self {
            Step::Cluster(s) => json!({"cluster": value(serde_json::to_value(s))}),
            Step::Image(s) => json!({"image": value(serde_json::to_value(s))}),
            Step::Release(s) => json!({"release": value(serde_json::to_value(s))}),
            Step::Manifest(s) => json!({"manifest": value(serde_json::to_value(s))}),
            Step::Check(s) => json!({"check": value(serde_json::to_value(s))}),
            Step::Engine(s) => json!({"engine": value(serde_json::to_value(s))}),
            Step::After { platforms, step } => {
                json!({"after": platforms, "step": step.typed()})
            }
        }
    }

    /// The step itself, without the wait for platforms.
    pub fn inner(&self) -> &Step {
        match self {
            Step::After { step, .. } => step.inner(),
            other => other,
        }
    }
}
