//! A cluster's settings as the plan shows and compares them: kind's
//! effective config as JSON, its fingerprint, and which fields differ.

use kindform_api::ClusterSpec;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// kind v0.32.0's default node image.
pub const KIND_DEFAULT_IMAGE: &str =
    "kindest/node:v1.36.1@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5";

/// The effective kind config as JSON: what kindform hands to kind.
pub fn settings(spec: &ClusterSpec) -> Value {
    serde_json::to_value(spec.effective_config()).unwrap_or(Value::Null)
}

/// A short fingerprint of settings (key order does not matter: serde_json's
/// maps are sorted).
pub fn fingerprint(settings: &Value) -> String {
    let digest = Sha256::digest(serde_json::to_vec(settings).unwrap_or_default());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
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

/// The paths (`nodes[0].extraPortMappings[0].hostPort`) where two settings differ.
pub fn changed_paths(before: &Value, after: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk("", before, after, &mut out);
    out
}

fn walk(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(
                    &child,
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                walk(&format!("{path}[{i}]"), p, q, out);
            }
        }
        (p, q) if p != q => out.push(if path.is_empty() {
            "(all)".to_owned()
        } else {
            path.to_owned()
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_the_fields_that_changed() {
        let a = json!({"name": "x", "nodes": [{"role": "control-plane", "extraPortMappings": [{"hostPort": 80}]}]});
        let b = json!({"name": "x", "nodes": [{"role": "control-plane", "extraPortMappings": [{"hostPort": 8080}]}], "networking": {"ipFamily": "ipv4"}});
        assert_eq!(
            changed_paths(&a, &b),
            ["networking", "nodes[0].extraPortMappings[0].hostPort"]
        );
        assert_eq!(fingerprint(&a), fingerprint(&a.clone()));
        assert_ne!(fingerprint(&a), fingerprint(&b));
    }
}
