//! Normalised settings, the plain JSON every provider shows as `before` and
//! `after` and keeps in the applied record: keys sorted, fingerprints that do
//! not depend on key order, the paths where two settings differ, and
//! redaction of sensitive paths.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// What a sensitive value shows as, everywhere.
pub const SENSITIVE: &str = "(sensitive)";

/// The same value with every map's keys sorted, so that diffs and
/// fingerprints do not depend on the order things were written in.
pub fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&map[k])))
                    .collect::<Map<String, Value>>(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// A short fingerprint (16 hex digits of SHA-256) of settings; key order
/// does not matter.
pub fn fingerprint(settings: &Value) -> String {
    digest(&serde_json::to_vec(&sorted(settings)).unwrap_or_default())
}

/// 16 hex digits of the SHA-256 of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The paths (`nodes[0].extraPortMappings[0].hostPort`) where two settings
/// differ, sorted; `(all)` when they differ at the top.
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
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => walk(&child, p, q, out),
                    _ => out.push(child),
                }
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

/// Replaces the value at each path (a list of map keys) with
/// [`SENSITIVE`], where it exists.
pub fn redact(value: &mut Value, paths: &[Vec<String>]) {
    for path in paths {
        if let Some(at) = path
            .iter()
            .try_fold(&mut *value, |at, key| at.get_mut(key.as_str()))
        {
            if !path.is_empty() {
                *at = Value::String(SENSITIVE.to_owned());
            }
        }
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
        assert_ne!(fingerprint(&a), fingerprint(&b));
    }

    #[test]
    fn fingerprints_ignore_key_order() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": {"y": 2, "x": 3}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a": {"x": 3, "y": 2}, "b": 1}"#).unwrap();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        let a_sorted = sorted(&a);
        let keys: Vec<&String> = a_sorted.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["a", "b"]);
    }

    #[test]
    fn redacts_only_paths_that_exist() {
        let mut v = json!({"db": {"password": "hunter2", "user": "sa"}, "list": [1]});
        redact(
            &mut v,
            &[
                vec!["db".into(), "password".into()],
                vec!["nope".into(), "x".into()],
            ],
        );
        assert_eq!(
            v,
            json!({"db": {"password": "(sensitive)", "user": "sa"}, "list": [1]})
        );
    }
}
