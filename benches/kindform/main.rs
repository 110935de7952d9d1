//! The benchmark harness: `cargo bench --bench kindform` runs every
//! benchmark against the test world (real Docker and containerd nodes, the
//! real Helm, the stand-in `kind` and API server) and rewrites `BENCHMARKS.md` with
//! the machine, the method and each result as a ratio to a baseline measured
//! in the same run. `cargo bench --bench kindform -- plan images` runs only
//! the named ones and prints, leaving `BENCHMARKS.md` alone.
//!
//! Benchmarks are not tests: nothing here fails on a slow number; a missed
//! target is marked in the table for a person to look into.

mod drift;
#[path = "../../tests/support/generate.rs"]
mod generate;
mod images;
mod inputs;
mod parallelism;
mod plan;
mod rebuild;
#[path = "../../tests/support/reddog.rs"]
mod reddog;
mod report;
mod run;

use report::Report;

/// The benchmarks, by the name that selects them.
const ALL: &[&str] = &[
    "plan",
    "parallelism",
    "images",
    "rebuild",
    "inputs",
    "drift",
];

fn main() {
    let chosen: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let unknown: Vec<&String> = chosen
        .iter()
        .filter(|c| !ALL.contains(&c.as_str()))
        .collect();
    if !unknown.is_empty() {
        eprintln!(
            "error: unknown benchmark {}; choose among {}",
            unknown
                .iter()
                .map(|u| format!("`{u}`"))
                .collect::<Vec<_>>()
                .join(", "),
            ALL.join(", ")
        );
        std::process::exit(1);
    }
    let runs = |name: &str| chosen.is_empty() || chosen.iter().any(|c| c == name);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let started = std::time::Instant::now();
    let mut report = Report::new();
    runtime.block_on(async {
        if runs("plan") {
            plan::bench(&mut report).await;
        }
        if runs("parallelism") {
            parallelism::bench(&mut report).await;
        }
        if runs("images") {
            images::bench(&mut report).await;
        }
        if runs("rebuild") {
            rebuild::bench(&mut report).await;
        }
        if runs("inputs") {
            inputs::bench(&mut report).await;
        }
        if runs("drift") {
            drift::bench(&mut report).await;
        }
    });
    report.took(started.elapsed());
    let text = report.markdown();
    println!("{text}");
    if chosen.is_empty() && !report.is_empty() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
        std::fs::write(&path, text).expect("BENCHMARKS.md is writable");
        eprintln!("wrote {}", path.display());
    }
}
