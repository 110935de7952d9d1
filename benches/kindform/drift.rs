//! Reading releases without helm, and the cost of object drift detection.
//!
//! The reddog-like environment (three releases, ingress-nginx, nine
//! images, 31 resources) converged by hand in the test world, then planned
//! with nothing to change: the time (median of 5, process start to exit),
//! the helm processes started (the world's helm wrapper logs each) and the
//! API requests served (the stand-in API server counts them), after one
//! warm-up run that caches helm's version. With `KINDFORM_BENCH_BEFORE`
//! naming an earlier kindform binary, the same is measured for it.
//!
//! Then one release of a local chart of N ConfigMaps (10, 100, 1,000),
//! installed by `kindform apply` into its own cluster, planned with nothing
//! to change (median of 5). Baseline: the reads drift detection cannot do
//! without, through the same client library in process: one list of
//! Helm's release Secrets and one list of the ConfigMaps of the release's
//! namespace.

use std::path::Path;
use std::time::{Duration, Instant};

use kindform_world::World;
use kindform_world::real_tools::HelmMajor;

use crate::report::{Report, Row, Section, ratio, shown};
use crate::run::{median, project};

/// What one binary's no-op plan of the reddog-like world cost.
struct NoOp {
    took: Duration,
    helm: usize,
    requests: u64,
}

fn no_op(reddog: &crate::reddog::Reddog, binary: &str) -> NoOp {
    let api = reddog.world.cluster(&reddog.cluster).expect("the cluster");
    // Warm: helm's version cached, the page cache full.
    let (code, text, stderr) = reddog.run(
        binary,
        &["plan", "--detailed-exitcode", "-f", "reddog-local.toml"],
    );
    assert_eq!(code, 0, "{text}\n{stderr}");
    reddog.world.take_invocations();
    let mut times = Vec::new();
    let (mut helm, mut requests) = (0, 0);
    for _ in 0..5 {
        let before = api.api.served();
        let started = Instant::now();
        let (code, text, stderr) = reddog.run(
            binary,
            &["plan", "--detailed-exitcode", "-f", "reddog-local.toml"],
        );
        times.push(started.elapsed());
        assert_eq!(code, 0, "{text}\n{stderr}");
        requests = api.api.served() - before;
        helm = reddog.world.take_invocations().len();
    }
    NoOp {
        took: median(times),
        helm,
        requests,
    }
}

/// A local chart of `n` ConfigMaps.
fn chart(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir.join("chart/templates")).unwrap();
    std::fs::write(
        dir.join("chart/Chart.yaml"),
        "apiVersion: v2\nname: many\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("chart/templates/configmaps.yaml"),
        format!(
            "{{{{- range $i := until {n} }}}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{{{{ $i }}}}\n  labels: {{app: many, index: \"{{{{ $i }}}}\"}}\ndata:\n  key: value-{{{{ $i }}}}\n  other: something longer than the key, as settings are\n{{{{- end }}}}\n"
        ),
    )
    .unwrap();
}

/// The no-op plan of one release of `n` objects, and its baseline.
async fn objects(world: &World, n: usize) -> (Duration, Duration) {
    let dir = world.dir().join(format!("objects-{n}"));
    let cluster = world.cluster_name(&format!("drift{n}"));
    project(
        &dir,
        &format!(
            "version = 1\nname = \"drift\"\n[cluster]\nname = \"{cluster}\"\n[releases.many]\nchart = \"chart\"\nnamespace = \"many\"\ncreate_namespace = true\n"
        ),
    );
    chart(&dir, n);
    crate::run::kindform_ok(world, &dir, &["apply", "--auto-approve"], 0);
    let mut times = Vec::new();
    for _ in 0..5 {
        let ran = crate::run::kindform_ok(world, &dir, &["plan", "--detailed-exitcode"], 0);
        times.push(ran.took);
    }
    let kubeconfig = dir.join(".kindform/drift/kubeconfig");
    let client = kindform_kube::connect(
        &kubeconfig,
        &format!("kind-{cluster}"),
        Duration::from_secs(10),
    )
    .await
    .expect("the cluster answers");
    let mut baseline = Vec::new();
    for _ in 0..5 {
        use k8s_openapi::api::core::v1::{ConfigMap, Secret};
        use kube::api::{Api, ListParams};
        let started = Instant::now();
        let records = Api::<Secret>::all(client.clone())
            .list(&ListParams::default().labels("owner=helm"))
            .await
            .unwrap();
        let listed = Api::<ConfigMap>::namespaced(client.clone(), "many")
            .list(&ListParams::default())
            .await
            .unwrap();
        baseline.push(started.elapsed());
        assert!(!records.items.is_empty() && listed.items.len() >= n);
    }
    (median(times), median(baseline))
}

pub async fn bench(report: &mut Report) {
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    if let Some((reddog, spec, _)) =
        crate::reddog::reddog("bench-drift", HelmMajor::V3, false).await
    {
        eprintln!("drift: the reddog-like world");
        reddog.converge(&spec).await;
        let now = no_op(&reddog, env!("CARGO_BIN_EXE_kindform"));
        let before = std::env::var("KINDFORM_BENCH_BEFORE")
            .ok()
            .map(|binary| no_op(&reddog, &binary));
        let row = |case: &str, measured: String, baseline: String, r: String| Row {
            case: case.to_owned(),
            measured,
            baseline,
            ratio: r,
            target: String::new(),
            met: None,
        };
        match &before {
            Some(b) => {
                rows.push(row(
                    "reddog-like no-op plan: time (before: helm list, get values)",
                    shown(now.took),
                    format!("{} (before)", shown(b.took)),
                    ratio(now.took.as_secs_f64(), b.took.as_secs_f64()),
                ));
                rows.push(row(
                    "reddog-like no-op plan: helm processes started",
                    now.helm.to_string(),
                    format!("{} (before)", b.helm),
                    "-".into(),
                ));
                rows.push(row(
                    "reddog-like no-op plan: API requests",
                    now.requests.to_string(),
                    format!("{} (before)", b.requests),
                    "-".into(),
                ));
            }
            None => {
                rows.push(row(
                    "reddog-like no-op plan: time",
                    shown(now.took),
                    "-".into(),
                    "-".into(),
                ));
                rows.push(row(
                    "reddog-like no-op plan: helm processes started",
                    now.helm.to_string(),
                    "-".into(),
                    "-".into(),
                ));
                rows.push(row(
                    "reddog-like no-op plan: API requests",
                    now.requests.to_string(),
                    "-".into(),
                    "-".into(),
                ));
                notes.push(
                    "Run without `KINDFORM_BENCH_BEFORE`: no earlier binary to compare with."
                        .to_owned(),
                );
            }
        }
    }
    let Some(world) = World::with_helm("bench-drift-objects", HelmMajor::V3).await else {
        return;
    };
    let mut sized = Vec::new();
    for n in [10, 100, 1_000] {
        eprintln!("drift: one release of {n} objects");
        sized.push((n, objects(&world, n).await));
    }
    for (n, (plan, baseline)) in &sized {
        rows.push(Row {
            case: format!("no-op plan, one release of {n} objects"),
            measured: shown(*plan),
            baseline: format!("{} (the two lists)", shown(*baseline)),
            ratio: ratio(plan.as_secs_f64(), baseline.as_secs_f64()),
            target: String::new(),
            met: None,
        });
    }
    let (small, large) = (&sized[0], &sized[sized.len() - 1]);
    let extra = |s: &(usize, (Duration, Duration))| s.1.0.saturating_sub(small.1.0);
    rows.push(Row {
        case: format!(
            "what {} more objects add to the plan, against what they add to the lists",
            large.0 - small.0
        ),
        measured: shown(extra(large)),
        baseline: shown(large.1.1.saturating_sub(small.1.1)),
        ratio: ratio(
            extra(large).as_secs_f64(),
            large.1.1.saturating_sub(small.1.1).as_secs_f64(),
        ),
        target: String::new(),
        met: None,
    });
    notes.push("\"Before\" in the committed table is kindform at commit 88e5693, the last before releases were read from Helm's storage: its no-op plan ran `helm version`, `helm list` and one `helm get values` per release, each of which made its own API requests (they are counted in its column). Now the plan makes one list of Helm's release Secrets and one list per kind and namespace of the releases' objects, and starts no process.".to_owned());
    notes.push("Found by this benchmark: each object was looked for in its list by a scan, which made the 1,000-object plan 154 ms; with the lists indexed by name it is under 100 ms. What is left per object (about 80 µs at 1,000) is parsing the manifest from Helm's record and comparing each object with its chart's on the fields the chart sets.".to_owned());
    report.add(Section {
        title: "Releases read from Helm's storage, and object drift".to_owned(),
        method: "The reddog-like environment (three releases, ingress-nginx, nine images) converged by hand in the test world, then planned with nothing to change: the time (median of 5, process start to exit), the helm processes started (the world's helm wrapper logs each run) and the API requests served (the stand-in API server counts them), after one warm-up run that caches helm's version. \"Before\" is the same measured with an earlier kindform, named by `KINDFORM_BENCH_BEFORE`. Then one release of a local chart of N ConfigMaps, installed by `kindform apply` into a cluster of its own and planned with nothing to change (median of 5). Baseline: the reads drift detection cannot do without, in process through the same client library: one list of Helm's release Secrets and one list of the ConfigMaps of the release's namespace.".to_owned(),
        command: "KINDFORM_BENCH_BEFORE=/path/to/an/earlier/kindform cargo bench --bench kindform -- drift".to_owned(),
        rows,
        notes,
    });
}
