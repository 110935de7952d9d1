//! What each fuzz target feeds its input to. Shared with the corpus replay
//! in kindform's own tests, so the corpus is checked on every `cargo test`
//! and the targets on every fuzzing run. An input may be refused with an
//! error; it may not panic, and it may not take memory or time out of
//! proportion to its size.

use std::path::Path;

/// A folder that does not exist, so that paths in a spec resolve to
/// nothing on the fuzzing machine.
const NOWHERE: &str = "/nonexistent/kindform-fuzz";

/// The spec loader: TOML, variables, every rule, the graph.
pub fn spec(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let options = kindform::spec::LoadOptions::default();
    let _ = kindform::spec::load_text(text.to_owned(), "fuzz.toml", Path::new(NOWHERE), &options);
}

/// Durations (`90s`, `1h30m`), as the spec's timeouts take them.
pub fn duration(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(duration) = text.parse::<kindform_api::Duration>() {
        // What parses is within the cap and prints back as a duration.
        assert!(duration.get() <= std::time::Duration::from_secs(24 * 3600));
        let _ = duration.to_string();
    }
}

/// A kind config file, through the bounded YAML reader and kind's schema.
pub fn kind_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = kindform_api::yaml::from_str::<kindform_api::kind_config::KindConfig>(text)
    {
        let _ = serde_json::to_string(&config);
    }
}

/// A manifest's YAML, as an inline manifest: documents, Lists, objects.
pub fn manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(spec) =
        serde_json::from_value::<kindform_api::ManifestSpec>(serde_json::json!({ "inline": text }))
    else {
        return;
    };
    let _ = kindform_manifest::resolve("fuzz", &spec, "fuzz", Path::new(NOWHERE), None);
}

/// A values file: one YAML document, bounded, as helm's values are read.
pub fn values(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(value) = kindform_api::yaml::from_str::<serde_json::Value>(text) {
        let _ = serde_json::to_string(&value);
    }
    let _ = kindform_api::yaml::documents(text);
}
