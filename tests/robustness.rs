//! However broken the input, loading gives errors, never a panic; and a large
//! generated spec loads whole (its speed is measured by the bench harness,
//! not asserted here).

use std::path::Path;

use kindform::spec::{Error, LoadOptions, load_text};

#[path = "support/generate.rs"]
mod generate;
use generate::generated_spec;

fn check_no_panic(text: String, base: &Path) {
    match load_text(text, "fuzz.toml", base, &LoadOptions::default()) {
        Ok(_) => {}
        Err(Error::Invalid(diagnostics)) => {
            assert!(!diagnostics.is_empty());
            let shown = diagnostics.to_string();
            assert!(shown.ends_with(" error") || shown.ends_with(" errors"));
        }
        Err(other) => panic!("unexpected error: {other}"),
    }
}

/// Deterministic pseudo-random numbers, so a failure reproduces.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % bound.max(1)
    }
}

#[test]
fn truncated_and_mangled_specs_never_panic() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let demo = std::fs::read_to_string(repo.join("environments/demo.toml")).unwrap();
    let base = repo.join("environments");
    for (cut, _) in demo.char_indices() {
        check_no_panic(demo[..cut].to_owned(), &base);
    }
    let pieces = [
        "\"",
        "[",
        "]",
        "=",
        "${",
        "}",
        "\n",
        "[[cluster.nodes]]\n",
        "-1",
        "{",
        "'''",
        "\u{feff}",
        "é",
        "\0",
        "depends_on = [\"*\"]\n",
    ];
    let mut rng = Lcg(7);
    for _ in 0..3000 {
        let mut text = demo.clone();
        for _ in 0..=rng.next(3) {
            let mut at = rng.next(text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            if rng.next(2) == 0 {
                text.insert_str(at, pieces[rng.next(pieces.len())]);
            } else {
                let mut end = (at + rng.next(12)).min(text.len());
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                text.replace_range(at..end, "");
            }
        }
        check_no_panic(text, &base);
    }
}

#[test]
fn a_generated_five_thousand_resource_spec_loads() {
    let dir = tempfile::tempdir().unwrap();
    let text = generated_spec(5000);
    let loaded = load_text(text, "big.toml", dir.path(), &LoadOptions::default()).unwrap();
    assert_eq!(loaded.graph.len(), 5001);
    assert!(loaded.graph.layers().len() >= 3);
}

#[test]
fn a_spec_past_the_size_cap_is_refused_before_it_is_parsed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.toml");
    let mut text = "version = 1\nname = \"huge\"\n[cluster]\nname = \"huge\"\n".to_owned();
    text.push_str(&format!(
        "# {}\n",
        "x".repeat(kindform_api::bounded::MAX_SPEC_BYTES)
    ));
    std::fs::write(&path, text).unwrap();
    let Err(error) = kindform::spec::load(&path, "huge.toml", &LoadOptions::default()) else {
        panic!("a 4 MiB spec was loaded");
    };
    let shown = format!("{error}: {}", std::error::Error::source(&error).unwrap());
    assert_eq!(shown, "cannot read huge.toml: larger than the 4 MiB limit");
}
