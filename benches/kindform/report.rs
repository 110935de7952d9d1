//! The results of a run, and `BENCHMARKS.md` made from them: the machine,
//! then per benchmark its method, the command that reruns it and a table of
//! measurements, each beside its baseline and target.

use std::fmt::Write as _;
use std::time::Duration;

/// One measurement beside its baseline.
pub struct Row {
    /// What was measured (`1,000 resources`).
    pub case: String,
    /// kindform's number, with its unit.
    pub measured: String,
    /// The baseline's number, with its unit.
    pub baseline: String,
    /// measured / baseline (or the benchmark's own ratio), `-` when none.
    pub ratio: String,
    /// The target, in words; empty when the row has none.
    pub target: String,
    /// Whether the target was met; `None` without a target.
    pub met: Option<bool>,
}

/// One benchmark's part of the report.
pub struct Section {
    /// Its title.
    pub title: String,
    /// How it measures, and what the baseline is.
    pub method: String,
    /// The command that runs it alone.
    pub command: String,
    /// Its rows.
    pub rows: Vec<Row>,
    /// What a person should know about the numbers (why a target is
    /// missed, what bounds it).
    pub notes: Vec<String>,
}

/// Every section of a run.
pub struct Report {
    sections: Vec<Section>,
    took: Duration,
}

impl Report {
    pub fn new() -> Report {
        Report {
            sections: Vec::new(),
            took: Duration::ZERO,
        }
    }

    pub fn add(&mut self, section: Section) {
        self.sections.push(section);
    }

    pub fn took(&mut self, took: Duration) {
        self.took = took;
    }

    pub fn is_empty(&self) -> bool {
        self.sections.is_empty()
    }

    /// The report as `BENCHMARKS.md`.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# Benchmarks\n");
        let _ = writeln!(
            out,
            "Written by `cargo bench --bench kindform` (the harness in `benches/kindform/`), which \
             reruns every benchmark below and rewrites this file; \
             `cargo bench --bench kindform -- NAME...` runs some of them (`plan`, `parallelism`, \
             `images`, `rebuild`, `inputs`, `drift`) and only prints. Each number is kindform's, beside a baseline \
             measured in the same run on the same machine; times are the median of the runs \
             stated. Everything runs in the test world: real Docker and real containerd nodes, \
             the real Helm and kubectl, the stand-in `kind` and API server (see `docs/testing.md`). Benchmarks are \
             not tests: nothing fails on a slow number; a missed target is marked **missed** \
             and explained in the notes.\n"
        );
        let _ = writeln!(out, "## Machine\n");
        for line in machine() {
            let _ = writeln!(out, "- {line}");
        }
        let _ = writeln!(
            out,
            "- the whole run took {:.0} s\n",
            self.took.as_secs_f64()
        );
        for section in &self.sections {
            let _ = writeln!(out, "## {}\n", section.title);
            let _ = writeln!(out, "{}\n", section.method);
            let _ = writeln!(out, "Rerun: `{}`\n", section.command);
            let _ = writeln!(
                out,
                "| case | kindform | baseline | ratio | target | |\n|---|---|---|---|---|---|"
            );
            for row in &section.rows {
                let verdict = match row.met {
                    Some(true) => "met",
                    Some(false) => "**missed**",
                    None => "",
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {verdict} |",
                    row.case, row.measured, row.baseline, row.ratio, row.target
                );
            }
            if !section.notes.is_empty() {
                let _ = writeln!(out);
                for note in &section.notes {
                    let _ = writeln!(out, "- {note}");
                }
            }
            let _ = writeln!(out);
        }
        out
    }
}

/// What the numbers were measured on.
fn machine() -> Vec<String> {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kb| format!("{:.1} GB", kb as f64 / 1_048_576.0))
        .unwrap_or_default();
    let kernel = read("/proc/sys/kernel/osrelease").trim().to_owned();
    let command = |program: &str, args: &[&str]| {
        std::process::Command::new(program)
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    let docker = command("docker", &["version", "--format", "{{.Server.Version}}"]);
    let commit = command(
        "git",
        &[
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "rev-parse",
            "--short",
            "HEAD",
        ],
    );
    vec![
        format!("{model}, {cores} cores available, {memory} of memory, Linux {kernel}"),
        format!("Docker engine {docker}"),
        format!(
            "kindform {} at commit {commit}, release build (`cargo bench` profile), on {}",
            env!("CARGO_PKG_VERSION"),
            jiff::Zoned::now().strftime("%Y-%m-%d")
        ),
    ]
}

/// A duration for the tables: milliseconds below 10 s, else seconds.
pub fn shown(d: Duration) -> String {
    if d < Duration::from_secs(10) {
        format!("{:.0} ms", d.as_secs_f64() * 1000.0)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// A ratio for the tables.
pub fn ratio(a: f64, b: f64) -> String {
    if b == 0.0 {
        "-".to_owned()
    } else {
        format!("{:.2}", a / b)
    }
}
