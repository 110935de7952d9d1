//! The exact argv of every `helm` call kindform makes, for both majors:
//! the cluster's flags on each, positionals after `--` so that no name,
//! chart or revision can be read as a flag.

use std::path::Path;

use kindform_api::{Cancel, ReleaseSpec};
use serde_json::json;

use crate::cli::{Helm, HelmVersion};
use crate::desired::{DesiredRelease, resolve};
use crate::repair::{rollback_args, uninstall_args, uninstall_orphan_args};

fn helm(version: &str) -> Helm {
    Helm::new(
        Path::new("/state/kubeconfig"),
        "demo",
        Path::new("/spec"),
        HelmVersion::parse(version).unwrap(),
        Cancel::new(),
    )
}

fn release(spec: serde_json::Value) -> DesiredRelease {
    let spec: ReleaseSpec = serde_json::from_value(spec).unwrap();
    resolve(
        "dapr",
        &spec,
        Path::new("/spec"),
        &HelmVersion::parse("v3.17.2").unwrap(),
    )
    .unwrap()
}

fn argv(helm: &Helm, args: &[String]) -> Vec<String> {
    helm.invocation(args, None, std::time::Duration::from_secs(1))
        .argv()
}

const CLUSTER: [&str; 4] = [
    "--kube-context",
    "kind-demo",
    "--kubeconfig",
    "/state/kubeconfig",
];

fn line(parts: &[&[&str]]) -> Vec<String> {
    parts.concat().into_iter().map(str::to_owned).collect()
}

#[test]
fn every_helm_call_has_its_exact_argv() {
    let dapr = release(json!({
        "chart": "dapr", "repo": "https://dapr.github.io/helm-charts/", "version": "1.16.2",
        "namespace": "dapr-system", "create_namespace": true, "wait": true, "timeout": "5m",
    }));
    for (version, wait, list) in [
        ("v3.17.2", "--wait", vec!["list", "-a", "-A", "-o", "json"]),
        ("v4.3.1", "--wait=watcher", vec!["list", "-A", "-o", "json"]),
    ] {
        let helm = helm(version);
        let table: Vec<(Vec<String>, Vec<String>)> = vec![
            (
                HelmVersion::version_call().argv(),
                line(&[&["helm", "version", "--template", "{{.Version}}"]]),
            ),
            (
                argv(
                    &helm,
                    &list.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>(),
                ),
                line(&[&["helm"], &list, &CLUSTER]),
            ),
            (
                argv(&helm, &dapr.upgrade_args(true, helm.version(), false)),
                line(&[
                    &["helm", "upgrade", "--install"],
                    &[
                        "--repo",
                        "https://dapr.github.io/helm-charts/",
                        "--version",
                        "1.16.2",
                    ],
                    &["--namespace", "dapr-system", "--create-namespace"],
                    &["-f", "-", wait, "--timeout", "5m"],
                    &CLUSTER,
                    &["--", "dapr", "dapr"],
                ]),
            ),
            (
                argv(&helm, &dapr.template_args()),
                line(&[
                    &["helm", "template"],
                    &[
                        "--repo",
                        "https://dapr.github.io/helm-charts/",
                        "--version",
                        "1.16.2",
                    ],
                    &["--namespace", "dapr-system", "-f", "-"],
                    &CLUSTER,
                    &["--", "dapr", "dapr"],
                ]),
            ),
            (
                argv(&helm, &rollback_args(&dapr, 3, wait, Some("5m".into()))),
                line(&[
                    &[
                        "helm",
                        "rollback",
                        "--namespace",
                        "dapr-system",
                        wait,
                        "--timeout",
                        "5m",
                    ],
                    &CLUSTER,
                    &["--", "dapr", "3"],
                ]),
            ),
            (
                argv(&helm, &uninstall_args(&dapr, wait)),
                line(&[
                    &["helm", "uninstall", "--namespace", "dapr-system", wait],
                    &CLUSTER,
                    &["--", "dapr"],
                ]),
            ),
            (
                argv(&helm, &uninstall_orphan_args("old", "apps")),
                line(&[
                    &[
                        "helm",
                        "uninstall",
                        "--namespace",
                        "apps",
                        "--ignore-not-found",
                    ],
                    &CLUSTER,
                    &["--", "old"],
                ]),
            ),
        ];
        for (got, want) in table {
            assert_eq!(got, want, "helm {version}");
        }
    }
}

#[test]
fn a_local_chart_and_values_files_are_absolute_paths_before_the_positionals() {
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("chart");
    std::fs::create_dir_all(&chart).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("values.yaml"), "a: 1\n").unwrap();
    let spec: ReleaseSpec = serde_json::from_value(json!({
        "chart": "./chart", "namespace": "apps", "values": ["values.yaml"],
    }))
    .unwrap();
    let web = resolve(
        "web",
        &spec,
        dir.path(),
        &HelmVersion::parse("v4.3.1").unwrap(),
    )
    .unwrap();
    // Fields in drift: Helm 4 takes them back; Helm 3's merge does anyway.
    let forced = web.upgrade_args(false, &HelmVersion::parse("v4.3.1").unwrap(), true);
    assert!(
        forced.contains(&"--force-conflicts".to_owned()),
        "{forced:?}"
    );
    let forced = web.upgrade_args(false, &HelmVersion::parse("v3.17.2").unwrap(), true);
    assert!(
        !forced.contains(&"--force-conflicts".to_owned()),
        "{forced:?}"
    );
    let args = web.upgrade_args(false, &HelmVersion::parse("v4.3.1").unwrap(), false);
    let values = dir.path().join("values.yaml").display().to_string();
    let chart = dir.path().join("./chart").display().to_string();
    assert_eq!(
        args,
        [
            "upgrade",
            "--install",
            "--namespace",
            "apps",
            "-f",
            &values,
            "--",
            "web",
            &chart
        ]
    );
}
