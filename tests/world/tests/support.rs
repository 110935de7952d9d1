//! Helpers shared by the world's own tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use kindform_world::World;

/// What a stand-in tool printed.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs a stand-in tool (or any program) the way kindform would: from PATH.
pub fn tool(world: &World, program: &str, args: &[&str]) -> Run {
    let out = world
        .command(program)
        .args(args)
        .output()
        .expect("the tool runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Creates a cluster with the stand-in kind; returns its kubeconfig path.
pub fn create_cluster(world: &World, name: &str, workers: usize) -> PathBuf {
    let config = world.dir().join(format!("{name}.yaml"));
    let mut text = String::from(
        "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n",
    );
    for _ in 0..workers {
        text.push_str("- role: worker\n");
    }
    std::fs::write(&config, text).unwrap();
    let kubeconfig = world.dir().join(format!("{name}.kubeconfig"));
    let out = tool(
        world,
        "kind",
        &[
            "create",
            "cluster",
            "--name",
            name,
            "--config",
            config.to_str().unwrap(),
            "--image",
            "kindest/node:v1.34.0",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 0, "kind create cluster failed: {}", out.stderr);
    kubeconfig
}

/// A kube-rs client for a kubeconfig.
pub async fn kube_client(kubeconfig: &Path) -> kube::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
    let config =
        kube::Config::from_custom_kubeconfig(config, &kube::config::KubeConfigOptions::default())
            .await
            .unwrap();
    kube::Client::try_from(config).unwrap()
}

/// Writes a small chart: a Deployment running `image`, a Service, and a
/// ConfigMap named `<release>-extra` when `.Values.extra` is set.
pub fn write_chart(dir: &Path, version: &str) -> PathBuf {
    let chart = dir.join(format!("chart-{version}"));
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        format!("apiVersion: v2\nname: web\nversion: {version}\nappVersion: \"1.0\"\n"),
    )
    .unwrap();
    std::fs::write(
        chart.join("values.yaml"),
        "image: app:local\nreplicas: 1\nextra: false\n",
    )
    .unwrap();
    std::fs::write(
        chart.join("templates/deployment.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  replicas: {{ .Values.replicas }}\n  selector:\n    matchLabels: {app: {{ .Release.Name }}}\n  template:\n    metadata:\n      labels: {app: {{ .Release.Name }}}\n    spec:\n      containers:\n      - name: web\n        image: {{ .Values.image | quote }}\n",
    )
    .unwrap();
    std::fs::write(
        chart.join("templates/service.yaml"),
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  selector: {app: {{ .Release.Name }}}\n  ports: [{port: 80}]\n",
    )
    .unwrap();
    std::fs::write(
        chart.join("templates/extra.yaml"),
        "{{- if .Values.extra }}\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-extra\ndata:\n  a: b\n{{- end }}\n",
    )
    .unwrap();
    chart
}
