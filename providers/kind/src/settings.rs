//! A cluster's settings as the plan shows and compares them: kind's
//! effective config as JSON, the node images it implies, what the applied
//! record keeps, and how long each wait for the cluster may take.

use std::time::Duration;

use kindform_api::ClusterSpec;
use kindform_kube::RecordEntry;
use serde_json::Value;

/// kind v0.32.0's default node image.
pub const KIND_DEFAULT_IMAGE: &str =
    "kindest/node:v1.36.1@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5";

/// The effective kind config as JSON: what kindform hands to kind.
pub fn settings(spec: &ClusterSpec) -> Value {
    serde_json::to_value(spec.effective_config()).unwrap_or(Value::Null)
}

/// The node image each node runs, in config order.
pub fn node_images(spec: &ClusterSpec) -> Vec<String> {
    spec.effective_config()
        .nodes
        .iter()
        .map(|n| {
            n.image
                .clone()
                .unwrap_or_else(|| KIND_DEFAULT_IMAGE.to_owned())
        })
        .collect()
}

/// An image name without its digest, as Docker shows a tagged image.
pub fn without_digest(image: &str) -> &str {
    image.split('@').next().unwrap_or(image)
}

/// What the applied record keeps for the cluster: its effective config.
pub fn record_entry(desired: &ClusterSpec) -> RecordEntry {
    let settings = settings(desired);
    RecordEntry {
        fingerprint: kindform_api::settings::fingerprint(&settings),
        settings,
    }
}

/// How long a new cluster may take to be ready.
const CREATE_READY: Duration = Duration::from_secs(300);
/// How long started nodes may take.
const START_READY: Duration = Duration::from_secs(120);
/// How long to wait for an API that does not answer before restarting.
const API_GRACE: Duration = Duration::from_secs(60);

/// How long each wait of a create or a repair may take.
pub(crate) struct Waits {
    /// After `kind create cluster`.
    pub create: Duration,
    /// After starting or restarting node containers.
    pub start: Duration,
    /// For an API that does not answer, before restarting.
    pub grace: Duration,
}

impl Waits {
    /// The spec's `ready_timeout` for every wait (half of it for the
    /// grace), or kindform's defaults.
    pub fn of(desired: &ClusterSpec) -> Waits {
        match desired.ready_timeout {
            Some(t) => Waits {
                create: t.get(),
                start: t.get(),
                grace: t.get() / 2,
            },
            None => Waits {
                create: CREATE_READY,
                start: START_READY,
                grace: API_GRACE,
            },
        }
    }
}
