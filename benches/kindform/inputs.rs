//! Hostile inputs: a manifest that amplifies through YAML aliases (one
//! large anchor aliased thousands of times, the shape the YAML parser's own
//! billion-laughs guard lets through) at 25 KB and 100 KB, validated by the
//! built binary. Before the bounded reader, 25 KB took 14.7 s and 2.5 GB,
//! 100 KB passed 11.9 GB. Baseline: a plain manifest of the same size, no
//! aliases, which is what a file that size costs anyway.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::report::{Report, Row, Section};
use crate::run::median;

/// A manifest of `size` bytes or a little more: an anchor of 1,000 items
/// aliased as often as the size allows, or, `plain`, as many small keys.
fn manifest(size: usize, plain: bool) -> String {
    let mut text = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: m\n");
    if plain {
        text.push_str("data:\n");
        let mut i = 0;
        while text.len() < size {
            text.push_str(&format!("  k{i}: v\n"));
            i += 1;
        }
    } else {
        text.push_str("a: &a\n");
        text.push_str(&"  - xxxx\n".repeat(1000));
        text.push_str("b:\n");
        while text.len() < size {
            text.push_str("- *a\n");
        }
    }
    text
}

/// Runs `kindform validate -v` in `dir`; how long it took, its peak
/// resident memory in MB as it reports it (Linux's `VmHWM`, which counts
/// from its own start, not its parent's), and its exit code.
fn validate(dir: &Path) -> (Duration, u64, i32) {
    let started = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kindform"))
        .current_dir(dir)
        .args(["validate", "-v"])
        .output()
        .expect("kindform runs");
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let peak = crate::run::peak_mb(&stderr).unwrap_or(u64::MAX);
    (took, peak, out.status.code().unwrap_or(-1))
}

pub async fn bench(report: &mut Report) {
    let root = tempfile::tempdir().expect("a temp folder");
    let mut rows = Vec::new();
    for size in [25 << 10, 100 << 10] {
        let mut measured = Vec::new();
        for plain in [false, true] {
            let dir = root.path().join(format!("{size}-{plain}"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("m.yaml"), manifest(size, plain)).unwrap();
            std::fs::write(
                dir.join("kindform.toml"),
                "version = 1\nname = \"bench\"\n[cluster]\nname = \"bench\"\n[manifests.m]\npath = \"m.yaml\"\n",
            )
            .unwrap();
            let runs: Vec<(Duration, u64, i32)> = (0..3).map(|_| validate(&dir)).collect();
            let refused = runs.iter().all(|r| r.2 == 1);
            let ok = runs.iter().all(|r| r.2 == 0);
            let time = median(runs.iter().map(|r| r.0).collect());
            let memory = runs.iter().map(|r| r.1).max().unwrap_or(0);
            measured.push((time, memory, refused, ok));
        }
        let (amplified, plain) = (measured[0], measured[1]);
        let kb = size >> 10;
        rows.push(Row {
            case: format!(
                "{kb} KB of aliases: validate, time ({})",
                if amplified.2 {
                    "refused"
                } else {
                    "**not refused**"
                }
            ),
            measured: format!("{} ms", amplified.0.as_millis()),
            baseline: format!(
                "{} ms (plain, {})",
                plain.0.as_millis(),
                if plain.3 { "valid" } else { "invalid" }
            ),
            ratio: format!(
                "{:.2}",
                amplified.0.as_secs_f64() / plain.0.as_secs_f64().max(1e-9)
            ),
            target: "< 1 s".into(),
            met: Some(amplified.2 && amplified.0 < Duration::from_secs(1)),
        });
        rows.push(Row {
            case: format!("{kb} KB of aliases: validate, peak memory"),
            measured: format!("{} MB", amplified.1),
            baseline: format!("{} MB (plain)", plain.1),
            ratio: format!("{:.2}", amplified.1 as f64 / plain.1.max(1) as f64),
            target: "< 100 MB".into(),
            met: Some(amplified.1 < 100),
        });
    }
    report.add(Section {
        title: "Hostile inputs".into(),
        method: "A manifest of one anchor of 1,000 items aliased as often as its size allows \
                 (the shape the YAML parser's billion-laughs guard lets through), at 25 KB and \
                 100 KB, named by a spec and read by `kindform validate` (the built binary, \
                 process start to exit, median of 3; peak memory is what `-v` reports, Linux's \
                 `VmHWM`, the most of 3). Before the bounded reader, the 25 KB file \
                 took 14.7 s and 2.5 GB, and 100 KB passed 11.9 GB. Baseline: a plain manifest \
                 of the same size, no aliases."
            .into(),
        command: "cargo bench --bench kindform -- inputs".into(),
        rows,
        notes: vec![
            "The bounded reader charges every node it builds (64 bytes) and every scalar its \
             length against a budget of 32 MiB plus 48 bytes per byte of input, so what a text \
             may expand to grows with the text, and an alias-amplified one stops at the node \
             that crosses it."
                .into(),
        ],
    });
}
