//! Apply parallelism: graphs of `run` checks that sleep, whose critical path
//! is known, applied with enough parallelism; apply's time against that
//! critical path.

use std::time::Duration;

use kindform_world::World;

use crate::report::{Report, Row, Section, ratio, shown};
use crate::run::{kindform_ok, median, project, walk_time};

/// Repetitions of each apply (the median is kept).
const RUNS: usize = 3;

/// A graph of sleeping checks.
struct Shape {
    name: &'static str,
    /// `[checks.*]` tables.
    checks: String,
    /// The longest chain of sleeps.
    critical: Duration,
    /// The number of checks.
    count: usize,
    /// At least the graph's widest layer.
    parallelism: usize,
}

fn check(name: &str, seconds: f64, after: &[String]) -> String {
    let mut text = format!("\n[checks.{name}]\nrun = [\"sleep\", \"{seconds}\"]\n");
    if !after.is_empty() {
        let list: Vec<String> = after.iter().map(|a| format!("\"checks.{a}\"")).collect();
        text.push_str(&format!("depends_on = [{}]\n", list.join(", ")));
    }
    text
}

fn shapes() -> Vec<Shape> {
    // A wide fan-out: one root, 30 leaves of 2 s after it.
    let mut fan = check("root", 0.5, &[]);
    for i in 0..30 {
        fan.push_str(&check(&format!("leaf{i}"), 2.0, &["root".into()]));
    }
    // A deep chain of 8 half-second checks.
    let mut chain = String::new();
    for i in 0..8 {
        let after: Vec<String> = (i > 0).then(|| format!("c{}", i - 1)).into_iter().collect();
        chain.push_str(&check(&format!("c{i}"), 0.5, &after));
    }
    // A diamond lattice: 5 layers of 6, each check after every check of
    // the layer before, 1 s each.
    let mut lattice = String::new();
    for layer in 0..5 {
        for i in 0..6 {
            let after: Vec<String> = if layer == 0 {
                Vec::new()
            } else {
                (0..6).map(|j| format!("l{}n{j}", layer - 1)).collect()
            };
            lattice.push_str(&check(&format!("l{layer}n{i}"), 1.0, &after));
        }
    }
    vec![
        Shape {
            name: "wide fan-out (1 + 30 checks)",
            checks: fan,
            critical: Duration::from_millis(2_500),
            count: 31,
            parallelism: 30,
        },
        Shape {
            name: "deep chain (8 checks)",
            checks: chain,
            critical: Duration::from_secs(4),
            count: 8,
            parallelism: 10,
        },
        Shape {
            name: "diamond lattice (5 layers of 6)",
            checks: lattice,
            critical: Duration::from_secs(5),
            count: 30,
            parallelism: 10,
        },
    ]
}

pub async fn bench(report: &mut Report) {
    let Some(world) = World::start("bench-parallelism").await else {
        return;
    };
    let cluster = world.cluster_name("par");
    let header = format!(
        "version = 1\nname = \"par\"\n\n[cluster]\nname = \"{cluster}\"\nnode_image = \"kindest/node:v1.34.0\"\n"
    );
    let dir = world.dir().join("parallelism");
    project(&dir, &header);
    kindform_ok(&world, &dir, &["apply", "--auto-approve", "-q"], 0);
    let mut rows = Vec::new();
    for shape in shapes() {
        eprintln!("parallelism: {}", shape.name);
        project(&dir, &format!("{header}{}", shape.checks));
        let parallelism = shape.parallelism.to_string();
        let mut walls = Vec::new();
        let mut walks = Vec::new();
        for _ in 0..RUNS {
            let ran = kindform_ok(
                &world,
                &dir,
                &[
                    "apply",
                    "--auto-approve",
                    "-q",
                    "--parallelism",
                    &parallelism,
                ],
                0,
            );
            assert!(
                ran.output
                    .contains(&format!("Apply complete: {} done", shape.count)),
                "{}",
                ran.output
            );
            walls.push(ran.took);
            walks.push(walk_time(&dir, "par").expect("the journal has the walk"));
        }
        let (wall, walk) = (median(walls), median(walks));
        let critical = shape.critical.as_secs_f64();
        rows.push(Row {
            case: format!(
                "{}: the walk, parallelism {}",
                shape.name, shape.parallelism
            ),
            measured: shown(walk),
            baseline: format!("{} (critical path)", shown(shape.critical)),
            ratio: ratio(walk.as_secs_f64(), critical),
            target: "≤ 1.10".into(),
            met: Some(walk.as_secs_f64() / critical <= 1.10),
        });
        rows.push(Row {
            case: format!("{}: the whole apply, process start to exit", shape.name),
            measured: shown(wall),
            baseline: format!("{} (critical path)", shown(shape.critical)),
            ratio: ratio(wall.as_secs_f64(), critical),
            target: "≤ 1.10".into(),
            met: Some(wall.as_secs_f64() / critical <= 1.10),
        });
    }
    report.add(Section {
        title: "Apply parallelism".into(),
        method: format!(
            "Graphs of `run = [\"sleep\", …]` checks whose critical path is known, applied to a \
             one-node cluster of the test world that already exists, with `--parallelism` at \
             least the widest layer; median of {RUNS} applies. \"The walk\" is the time from the \
             walk's first event to its last in the journal; \"the whole apply\" adds starting the \
             process, reading the spec and observing the cluster. Baseline: the critical path, the \
             least time any scheduler could take."
        ),
        command: "cargo bench --bench kindform -- parallelism".into(),
        rows,
        notes: vec![
            "What the walk adds to the critical path is starting each check's process and \
             noticing that it ended; the whole apply adds starting kindform, reading the spec \
             and observing the cluster (tens of milliseconds here)."
                .into(),
        ],
    });
}
