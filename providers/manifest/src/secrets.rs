//! Secrets never leave kindform: what is shown and compared of a Secret.

use base64::Engine as _;
use kindform_api::settings::{SENSITIVE, digest, sorted};
use serde_json::{Value, json};

/// Secret values never leave kindform: `data` and `stringData` show as
/// `(sensitive)`.
pub(crate) fn redacted(object: &Value) -> Value {
    let mut shown = object.clone();
    if shown.get("kind").and_then(Value::as_str) == Some("Secret") {
        for field in ["data", "stringData"] {
            if let Some(map) = shown.get_mut(field).and_then(Value::as_object_mut) {
                for v in map.values_mut() {
                    *v = json!(SENSITIVE);
                }
            }
        }
    }
    sorted(&shown)
}

/// A Secret as kindform compares it: `stringData` is write-only (the API
/// keeps it base64-encoded in `data`), and `data` values are replaced by
/// their digests, so live state never holds a secret.
pub(crate) fn comparable(object: &Value) -> Value {
    let mut out = object.clone();
    if out.get("kind").and_then(Value::as_str) != Some("Secret") {
        return out;
    }
    let strings = out.as_object_mut().and_then(|o| o.remove("stringData"));
    if let Some(Value::Object(strings)) = strings {
        let data = out
            .as_object_mut()
            .map(|o| o.entry("data").or_insert_with(|| json!({})));
        if let Some(Value::Object(data)) = data {
            for (k, v) in strings {
                let text = v
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string());
                data.insert(
                    k,
                    json!(base64::engine::general_purpose::STANDARD.encode(text)),
                );
            }
        }
    }
    if let Some(Value::Object(data)) = out.get_mut("data") {
        for v in data.values_mut() {
            let encoded = v.as_str().unwrap_or_default();
            *v = json!(format!("digest:{}", digest(encoded.as_bytes())));
        }
    }
    out
}
