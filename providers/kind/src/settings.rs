//! A cluster's settings as the plan shows and compares them: kind's
//! effective config as JSON and the node images it implies.

use kindform_api::ClusterSpec;
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
