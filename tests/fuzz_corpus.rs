//! Every input of the fuzz corpus (`fuzz/corpus/<target>/`) replayed
//! through the same function its fuzz target calls: none may panic. The
//! targets themselves run with `cargo +nightly fuzz run <target>` (see
//! docs/testing.md); inputs they find go into the corpus and are checked
//! here from then on.

#[path = "../fuzz/src/targets.rs"]
mod targets;

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    inputs.sort();
    assert!(
        inputs.len() >= 5,
        "the {target} corpus holds {} inputs",
        inputs.len()
    );
    for input in inputs {
        let data = std::fs::read(&input).unwrap();
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{} panicked", input.display());
    }
}

#[test]
fn no_spec_in_the_corpus_panics() {
    replay("spec", targets::spec);
}

#[test]
fn no_duration_in_the_corpus_panics() {
    replay("duration", targets::duration);
}

#[test]
fn no_kind_config_in_the_corpus_panics() {
    replay("kind_config", targets::kind_config);
}

#[test]
fn no_manifest_in_the_corpus_panics() {
    replay("manifest", targets::manifest);
}

#[test]
fn no_values_file_in_the_corpus_panics() {
    replay("values", targets::values);
}
