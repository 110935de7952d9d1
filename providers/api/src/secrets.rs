//! The secret values of this run, so that every way out of kindform (the
//! terminal, `-v`/`-vv` logs, the journal, JSON, saved plans, error texts
//! from helm, the API and pod logs) can be scrubbed of them at its sink.
//!
//! Plans never hold a secret to begin with (sensitive values show as
//! [`SENSITIVE`](crate::settings::SENSITIVE)); this is the second line, for
//! text kindform did not write itself: a chart that echoes a value into an
//! error, a pod that logs its password, a library that logs a request.
//! Providers [`register`] each sensitive value when they read it; sinks
//! call [`scrub`].

use std::borrow::Cow;
use std::sync::RwLock;

use crate::settings::SENSITIVE;

/// Values shorter than this are not scrubbed: replacing every `1` or `ab`
/// in a log would hide everything and protect nothing.
pub const SHORTEST: usize = 4;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Adds `value` to what is scrubbed, for the rest of the process. Each line
/// of a multi-line value is added too, since tools print them line by line.
pub fn register(value: &str) {
    let mut secrets = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    let trimmed = value.trim();
    // As it is, line by line, and as quoted strings show it (`\"`, `\n`:
    // Debug output and JSON).
    let escaped = format!("{trimmed:?}");
    let escaped = escaped[1..escaped.len() - 1].to_owned();
    let json = serde_json::to_string(trimmed).unwrap_or_default();
    let json = json
        .get(1..json.len().saturating_sub(1))
        .unwrap_or("")
        .to_owned();
    let forms = std::iter::once(trimmed.to_owned())
        .chain(trimmed.lines().map(|l| l.trim().to_owned()))
        .chain([escaped, json]);
    for candidate in forms {
        if candidate.len() >= SHORTEST && !secrets.contains(&candidate) {
            secrets.push(candidate);
        }
    }
    // The longest first, so that a secret holding another is replaced whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// `text` with every registered secret replaced by `(sensitive)`.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let secrets = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    if !secrets.iter().any(|s| text.contains(s.as_str())) {
        return Cow::Borrowed(text);
    }
    let mut out = text.to_owned();
    for secret in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), SENSITIVE);
        }
    }
    Cow::Owned(out)
}

/// Every string in `value` scrubbed (before it is encoded, so that a
/// secret holding quotes or newlines is found as it is).
pub fn scrub_json(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(s) => {
            if let Cow::Owned(clean) = scrub(s) {
                *s = clean;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(scrub_json),
        Value::Object(map) => map.values_mut().for_each(scrub_json),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_values_and_their_lines_are_scrubbed_short_ones_are_not() {
        register("canary-secret-71c2");
        register("line-one-x\nline-two-y");
        register("ab");
        assert_eq!(
            scrub("Error: password canary-secret-71c2 rejected"),
            "Error: password (sensitive) rejected"
        );
        assert_eq!(scrub("got line-two-y"), "got (sensitive)");
        assert_eq!(scrub("abc"), "abc");
        register("with\"quote-c3");
        assert_eq!(
            scrub(r#"Debug: "with\"quote-c3""#),
            r#"Debug: "(sensitive)""#
        );
        assert!(matches!(scrub("nothing here"), Cow::Borrowed(_)));
    }
}
