//! The stand-in `kind` (docs/tools.md, kind), for what kindform uses:
//! `create cluster`, `delete cluster`, `get clusters|nodes|kubeconfig`,
//! `export kubeconfig`, `load docker-image` and `version`, with kind's
//! stdout/stderr split, messages and exit codes. Nodes are real containers
//! running real containerd; the API server is the world's stand-in.
//!
//! Simplifications: the config's host ports are not published (tests run side
//! by side) and neither is the API server port (the stand-in API server listens
//! on the host, and the kubeconfig points at it); `get clusters` and
//! `get nodes` see only this world's clusters, so parallel tests do not see
//! each other; the presence check of `load docker-image` uses
//! `ctr images ls` (the node image has no `crictl`); `--wait` returns at once.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bollard::models::{ContainerCreateBody, HostConfig, NetworkCreateRequest};
use bollard::query_parameters::CreateContainerOptionsBuilder;
use futures::StreamExt as _;
use serde::Deserialize;

use crate::Shared;
use crate::args::{Args, switch, value};
use crate::cluster::{Cluster, NodeSpec};
use crate::control::{Invocation, Output};
use crate::docker::{
    CLUSTER_LABEL, ROLE_LABEL, WORLD_LABEL, containers_with, exec, remove_containers,
};
use crate::kubeconfig;
use crate::node_image;

/// kind v0.32.0's default node image.
pub const DEFAULT_NODE_IMAGE: &str =
    "kindest/node:v1.36.1@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5";

/// kind's config, decoded strictly as kind does (unknown fields fail).
/// Every field is decoded, so kind's strictness holds; the stand-in acts on
/// the name, nodes, roles, images and labels only.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
struct Config {
    kind: Option<String>,
    api_version: Option<String>,
    name: Option<String>,
    #[serde(default)]
    nodes: Vec<ConfigNode>,
    networking: Option<Networking>,
    feature_gates: Option<BTreeMap<String, bool>>,
    runtime_config: Option<BTreeMap<String, String>>,
    kubeadm_config_patches: Option<Vec<String>>,
    #[serde(rename = "kubeadmConfigPatchesJSON6902")]
    kubeadm_config_patches_json6902: Option<Vec<serde_json::Value>>,
    containerd_config_patches: Option<Vec<String>>,
    #[serde(rename = "containerdConfigPatchesJSON6902")]
    containerd_config_patches_json6902: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
struct ConfigNode {
    role: Option<String>,
    image: Option<String>,
    labels: Option<BTreeMap<String, String>>,
    extra_mounts: Option<Vec<serde_json::Value>>,
    extra_port_mappings: Option<Vec<PortMapping>>,
    kubeadm_config_patches: Option<Vec<String>>,
    #[serde(rename = "kubeadmConfigPatchesJSON6902")]
    kubeadm_config_patches_json6902: Option<Vec<serde_json::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
struct PortMapping {
    container_port: i32,
    host_port: Option<i32>,
    listen_address: Option<String>,
    protocol: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
struct Networking {
    ip_family: Option<String>,
    api_server_address: Option<String>,
    api_server_port: Option<i32>,
    pod_subnet: Option<String>,
    service_subnet: Option<String>,
    #[serde(rename = "disableDefaultCNI")]
    disable_default_cni: Option<bool>,
    kube_proxy_mode: Option<String>,
    dns_search: Option<Vec<String>>,
}

fn fail(message: impl std::fmt::Display) -> Output {
    Output {
        stderr: format!("ERROR: {message}\n"),
        code: 1,
        ..Output::default()
    }
}

const GLOBAL: [crate::args::Flag; 2] = [value(&["verbosity", "v"]), switch(&["quiet", "q"])];

/// Runs one `kind` invocation.
pub async fn run(shared: &Arc<Shared>, inv: Invocation) -> Output {
    let words: Vec<&str> = inv
        .args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with('-'))
        .take(2)
        .collect();
    let command = words.join(" ");
    if let Some(message) = shared.take_fault("kind", &command) {
        return fail(message);
    }
    match words.as_slice() {
        ["create", "cluster"] => create(shared, &inv).await,
        ["delete", "cluster"] => delete(shared, &inv).await,
        ["get", "clusters"] => get_clusters(shared, &inv).await,
        ["get", "nodes"] => get_nodes(shared, &inv).await,
        ["get", "kubeconfig"] => get_kubeconfig(shared, &inv).await,
        ["export", "kubeconfig"] => export_kubeconfig(shared, &inv).await,
        ["load", "docker-image"] => load(shared, &inv).await,
        ["version"] | ["version", ..] => Output::ok("kind v0.32.0 go1.24.6 linux/amd64\n"),
        [] => Output::ok(
            "kind creates and manages local Kubernetes clusters using Docker container 'nodes'\n",
        ),
        [first, ..] => fail(format!("unknown command \"{first}\" for \"kind\"")),
    }
}

fn parse(inv: &Invocation, flags: &[crate::args::Flag]) -> Result<Args, Output> {
    let mut all: Vec<crate::args::Flag> = GLOBAL.into_iter().collect();
    for f in flags {
        all.push(crate::args::Flag {
            names: f.names,
            value: f.value,
        });
    }
    Args::parse(&inv.args, &all).map_err(fail)
}

/// `--name`, else a non-empty `KIND_CLUSTER_NAME`, else `fallback`.
fn cluster_name(args: &Args, inv: &Invocation, fallback: &str) -> String {
    args.get("name")
        .map(str::to_owned)
        .or_else(|| {
            inv.env
                .get("KIND_CLUSTER_NAME")
                .filter(|n| !n.is_empty())
                .cloned()
        })
        .unwrap_or_else(|| fallback.to_owned())
}

async fn create(shared: &Arc<Shared>, inv: &Invocation) -> Output {
    let args = match parse(
        inv,
        &[
            value(&["name", "n"]),
            value(&["config"]),
            value(&["image"]),
            switch(&["retain"]),
            value(&["wait"]),
            value(&["kubeconfig"]),
        ],
    ) {
        Ok(a) => a,
        Err(o) => return o,
    };
    let config: Config = match args.get("config") {
        None => Config::default(),
        Some(path) => {
            let text = if path == "-" {
                String::from_utf8_lossy(&inv.stdin_bytes()).into_owned()
            } else {
                match std::fs::read_to_string(inv.cwd.join(path)) {
                    Ok(t) => t,
                    Err(e) => {
                        return fail(format!(
                            "failed to create cluster: error reading file: open {path}: {e}"
                        ));
                    }
                }
            };
            match serde_yaml_ng::from_str::<Config>(&text) {
                Ok(c) => c,
                Err(e) => {
                    return fail(format!(
                        "failed to create cluster: unable to decode config: {e}"
                    ));
                }
            }
        }
    };
    if args.get("config").is_some()
        && (config.kind.as_deref() != Some("Cluster")
            || config.api_version.as_deref() != Some("kind.x-k8s.io/v1alpha4"))
    {
        return fail(format!(
            "failed to create cluster: unable to decode config: unknown apiVersion/kind {}/{}",
            config.api_version.as_deref().unwrap_or(""),
            config.kind.as_deref().unwrap_or("")
        ));
    }
    let fallback = config.name.clone().unwrap_or_else(|| "kind".to_owned());
    let name = cluster_name(&args, inv, &fallback);
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
    {
        return fail(format!(
            "failed to create cluster: '{name}' is not a valid cluster name, cluster names must match `^[a-z0-9.-]+$`"
        ));
    }
    let docker = &shared.docker;
    match containers_with(docker, &[(CLUSTER_LABEL, &name), (WORLD_LABEL, &shared.id)]).await {
        Ok(existing) if !existing.is_empty() => {
            return fail(format!(
                "failed to create cluster: node(s) already exist for a cluster with the name \"{name}\""
            ));
        }
        Err(e) => return fail(format!("failed to create cluster: {e}")),
        Ok(_) => {}
    }
    let mut nodes = config.nodes;
    if nodes.is_empty() {
        nodes.push(ConfigNode::default());
    }
    let mut stderr = format!("Creating cluster \"{name}\" ...\n");
    let built = match node_image::node_image(docker).await {
        Ok(b) => b,
        Err(e) => return fail(format!("failed to create cluster: {e}")),
    };
    let network = match ensure_network(docker).await {
        Ok(id) => id,
        Err(e) => {
            return fail(format!(
                "failed to create cluster: failed to ensure docker network: {e}"
            ));
        }
    };
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut specs = Vec::new();
    let mut first_image = String::new();
    for node in &nodes {
        let role = node.role.clone().unwrap_or_else(|| "control-plane".into());
        if role != "control-plane" && role != "worker" {
            return fail(format!(
                "failed to create cluster: invalid configuration: unknown role {role:?}"
            ));
        }
        let count = counts.entry(role.clone()).or_default();
        *count += 1;
        let container = if *count == 1 {
            format!("{name}-{role}")
        } else {
            format!("{name}-{role}{count}")
        };
        let requested = args
            .get("image")
            .map(str::to_owned)
            .or_else(|| node.image.clone())
            .unwrap_or_else(|| DEFAULT_NODE_IMAGE.to_owned());
        let image = match node_image::tag_as(docker, &built, &requested).await {
            Ok(i) => i,
            Err(e) => return fail(format!("failed to create cluster: {e}")),
        };
        if first_image.is_empty() {
            first_image = requested.clone();
        }
        let labels: serde_json::Map<String, serde_json::Value> = node
            .labels
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect();
        specs.push((
            NodeSpec {
                name: container,
                role,
                labels,
            },
            image,
        ));
    }
    stderr.push_str(&format!(" ✓ Ensuring node image ({first_image}) 🖼\n"));
    let mut created = Vec::new();
    for (node, image) in &specs {
        let mut labels = HashMap::new();
        labels.insert(CLUSTER_LABEL.to_owned(), name.clone());
        labels.insert(ROLE_LABEL.to_owned(), node.role.clone());
        labels.insert(WORLD_LABEL.to_owned(), shared.id.clone());
        let mut tmpfs = HashMap::new();
        tmpfs.insert("/run".to_owned(), "exec".to_owned());
        let body = ContainerCreateBody {
            hostname: Some(node.name.clone()),
            image: Some(image.clone()),
            labels: Some(labels),
            volumes: Some(vec!["/var/lib/containerd".to_owned()]),
            host_config: Some(HostConfig {
                cap_add: Some(vec!["SYS_ADMIN".into()]),
                security_opt: Some(vec![
                    "seccomp=unconfined".into(),
                    "apparmor=unconfined".into(),
                ]),
                tmpfs: Some(tmpfs),
                network_mode: Some(network.clone()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default()
            .name(&node.name)
            .build();
        let result = async {
            docker.create_container(Some(options), body).await?;
            created.push(node.name.clone());
            docker
                .start_container(
                    &node.name,
                    None::<bollard::query_parameters::StartContainerOptions>,
                )
                .await
        }
        .await;
        if let Err(e) = result {
            if !args.on("retain") {
                remove_containers(docker, &created).await;
            }
            return fail(format!(
                "failed to create cluster: command \"docker run --name {}\" failed: {e}",
                node.name
            ));
        }
    }
    stderr.push_str(" ✓ Preparing nodes 📦\n ✓ Writing configuration 📜\n");
    for (node, _) in &specs {
        let mut ready = false;
        for _ in 0..100 {
            if exec(docker, &node.name, &["ctr", "version"], None)
                .await
                .is_ok_and(|o| o.code == 0)
            {
                ready = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        if !ready {
            if !args.on("retain") {
                remove_containers(docker, &created).await;
            }
            return fail(format!(
                "failed to create cluster: containerd did not start in node \"{}\"",
                node.name
            ));
        }
    }
    let version = first_image
        .split('@')
        .next()
        .and_then(|i| i.rsplit_once(':'))
        .map(|(_, t)| t.to_owned())
        .unwrap_or_else(|| "v1.36.1".into());
    let cluster = match Cluster::start(
        docker.clone(),
        &shared.id,
        &name,
        &version,
        specs.into_iter().map(|(n, _)| n).collect(),
    )
    .await
    {
        Ok(c) => c,
        Err(e) => {
            if !args.on("retain") {
                remove_containers(docker, &created).await;
            }
            return fail(format!("failed to create cluster: {e}"));
        }
    };
    shared
        .clusters
        .lock()
        .unwrap()
        .insert(name.clone(), Arc::clone(&cluster));
    stderr.push_str(
        " ✓ Starting control-plane 🕹️\n ✓ Installing CNI 🔌\n ✓ Installing StorageClass 💾\n",
    );
    let target = merge_target(&args, inv);
    let rendered = kubeconfig::render(&name, &cluster.api.url(), &cluster.api.pki);
    if let Err(e) = kubeconfig::merge(&target, &name, &rendered) {
        return fail(format!("failed to create cluster: {e}"));
    }
    stderr.push_str(&format!(
        "Set kubectl context to \"kind-{name}\"\nYou can now use your cluster with:\n\nkubectl cluster-info --context kind-{name}\n\nHave a nice day! 👋\n"
    ));
    Output {
        stderr,
        ..Output::default()
    }
}

async fn delete(shared: &Arc<Shared>, inv: &Invocation) -> Output {
    let args = match parse(inv, &[value(&["name", "n"]), value(&["kubeconfig"])]) {
        Ok(a) => a,
        Err(o) => return o,
    };
    let name = cluster_name(&args, inv, "kind");
    let mut stderr = format!("Deleting cluster \"{name}\" ...\n");
    let nodes: Vec<String> = containers_with(
        &shared.docker,
        &[(CLUSTER_LABEL, &name), (WORLD_LABEL, &shared.id)],
    )
    .await
    .map(|c| c.into_iter().map(|(n, _, _)| n).collect())
    .unwrap_or_default();
    if let Some(cluster) = shared.clusters.lock().unwrap().remove(&name) {
        cluster.shutdown();
    }
    remove_containers(&shared.docker, &nodes).await;
    let target = merge_target(&args, inv);
    if let Err(e) = kubeconfig::remove(&target, &name) {
        return fail(format!("failed to update kubeconfig: {e}"));
    }
    let shown: Vec<String> = nodes.iter().map(|n| format!("\"{n}\"")).collect();
    stderr.push_str(&format!("Deleted nodes: [{}]\n", shown.join(" ")));
    Output {
        stderr,
        ..Output::default()
    }
}

async fn get_clusters(shared: &Arc<Shared>, inv: &Invocation) -> Output {
    if let Err(o) = parse(inv, &[]) {
        return o;
    }
    let containers = match containers_with(&shared.docker, &[(WORLD_LABEL, &shared.id)]).await {
        Ok(c) => c,
        Err(e) => return fail(format!("failed to list clusters: {e}")),
    };
    let mut names: Vec<String> = containers
        .into_iter()
        .filter_map(|(_, labels, _)| labels.get(CLUSTER_LABEL).cloned())
        .collect();
    names.sort();
    names.dedup();
    if names.is_empty() {
        return Output {
            stderr: "No kind clusters found.\n".into(),
            ..Output::default()
        };
    }
    Output::ok(names.iter().map(|n| format!("{n}\n")).collect::<String>())
}

async fn get_nodes(shared: &Arc<Shared>, inv: &Invocation) -> Output {
    let args = match parse(
        inv,
        &[value(&["name", "n"]), switch(&["all-clusters", "A"])],
    ) {
        Ok(a) => a,
        Err(o) => return o,
    };
    let name = cluster_name(&args, inv, "kind");
    let all = args.on("all-clusters");
    let filters: Vec<(&str, &str)> = if all {
        vec![(WORLD_LABEL, &shared.id)]
    } else {
        vec![(CLUSTER_LABEL, &name), (WORLD_LABEL, &shared.id)]
    };
    let nodes = match containers_with(&shared.docker, &filters).await {
        Ok(c) => c,
        Err(e) => return fail(format!("failed to list nodes: {e}")),
    };
    if nodes.is_empty() {
        return Output {
            stderr: format!("No kind nodes found for cluster \"{name}\".\n"),
            ..Output::default()
        };
    }
    Output::ok(
        nodes
            .into_iter()
            .map(|(n, _, _)| format!("{n}\n"))
            .collect::<String>(),
    )
}

/// The file kind merges into or removes from (see [`kubeconfig::target`]).
fn merge_target(args: &Args, inv: &Invocation) -> std::path::PathBuf {
    let env = |k: &str| inv.env.get(k).map(String::as_str);
    kubeconfig::target(
        args.get("kubeconfig"),
        &inv.cwd,
        env("KUBECONFIG"),
        env("HOME"),
    )
}

/// The kubeconfig of cluster `name` (its internal endpoint with `--internal`).
fn cluster_kubeconfig(shared: &Shared, args: &Args, name: &str) -> Result<String, Output> {
    let Some(cluster) = shared.clusters.lock().unwrap().get(name).cloned() else {
        return Err(control_plane_missing(name));
    };
    let server = if args.on("internal") {
        format!("https://{name}-control-plane:6443")
    } else {
        cluster.api.url()
    };
    Ok(kubeconfig::render(name, &server, &cluster.api.pki))
}

fn control_plane_missing(name: &str) -> Output {
    fail(format!(
        "could not locate any control plane nodes for cluster named '{name}'. Use the --name option to select a different cluster"
    ))
}

async fn get_kubeconfig(shared: &Arc<Shared>, inv: &Invocation) -> Output {
    let args = match parse(inv, &[value(&["name", "n"]), switch(&["internal"])]) {
        Ok(a) => a,
        Err(o) => return o,
    };
    let name = cluster_name(&args, inv, "kind");
    match cluster_kubeconfig(shared, &args, &name) {
        Ok(rendered) => Output::ok(format!("{rendered}\n")),
        Err(out) => out,
    }
}

async fn export_kubeconfig(shared: &Arc<Shared>, inv: &Invocation) -> Output {
    let args = match parse(
        inv,
        &[
            value(&["name", "n"]),
            value(&["kubeconfig"]),
            switch(&["internal"]),
        ],
    ) {
        Ok(a) => a,
        Err(o) => return o,
    };
    let name = cluster_name(&args, inv, "kind");
    let rendered = match cluster_kubeconfig(shared, &args, &name) {
        Ok(rendered) => rendered,
        Err(out) => return out,
    };
    let target = merge_target(&args, inv);
    match kubeconfig::merge(&target, &name, &rendered) {
        Ok(()) => Output {
            stderr: format!("Set kubectl context to \"kind-{name}\"\n"),
            ..Output::default()
        },
        Err(e) => fail(e),
    }
}

/// Creates kind's `kind` bridge network unless it exists. Docker lets two
/// networks share a name, so creation is serialised within the process.
async fn ensure_network(docker: &bollard::Docker) -> Result<String, bollard::errors::Error> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _guard = LOCK.lock().await;
    let mut filters = HashMap::new();
    filters.insert("name".to_owned(), vec!["kind".to_owned()]);
    let options = bollard::query_parameters::ListNetworksOptionsBuilder::default()
        .filters(&filters)
        .build();
    let existing = docker.list_networks(Some(options)).await?;
    // Another process may have made a second one: any of them will do, by ID.
    if let Some(id) = existing
        .iter()
        .filter(|n| n.name.as_deref() == Some("kind"))
        .find_map(|n| n.id.clone())
    {
        return Ok(id);
    }
    let created = docker
        .create_network(NetworkCreateRequest {
            name: "kind".into(),
            driver: Some("bridge".into()),
            ..Default::default()
        })
        .await?;
    Ok(created.id)
}

/// The snapshotter a node's containerd uses, read from `containerd config dump`.
pub async fn snapshotter(docker: &bollard::Docker, node: &str) -> String {
    let dump = exec(docker, node, &["containerd", "config", "dump"], None)
        .await
        .map(|o| o.stdout)
        .unwrap_or_default();
    let version3 = dump
        .lines()
        .any(|l| l.trim() == "version = 3" || l.trim() == "version = 4");
    let section = if version3 {
        "[plugins.\"io.containerd.cri.v1.images\"]"
    } else {
        "[plugins.\"io.containerd.grpc.v1.cri\".containerd]"
    };
    let mut inside = false;
    for line in dump.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            inside = line == section;
        } else if inside {
            if let Some(value) = line.strip_prefix("snapshotter = ") {
                return value.trim_matches('"').to_owned();
            }
        }
    }
    "overlayfs".to_owned()
}

/// Whether `node` holds image ID `id` (`sha256:…`).
pub async fn node_has_image(docker: &bollard::Docker, node: &str, id: &str) -> bool {
    exec(
        docker,
        node,
        &["ctr", "--namespace=k8s.io", "images", "ls", "-q"],
        None,
    )
    .await
    .is_ok_and(|o| o.stdout.lines().any(|l| l.trim() == id))
}

async fn load(shared: &Arc<Shared>, inv: &Invocation) -> Output {
    let args = match parse(inv, &[value(&["name", "n"]), value(&["nodes"])]) {
        Ok(a) => a,
        Err(o) => return o,
    };
    let name = cluster_name(&args, inv, "kind");
    let mut images: Vec<String> = Vec::new();
    for image in args.positional.iter().skip(2) {
        if !images.contains(image) {
            images.push(image.clone());
        }
    }
    let docker = &shared.docker;
    let mut ids = Vec::new();
    for image in &images {
        match docker.inspect_image(image).await {
            Ok(i) => ids.push(i.id.unwrap_or_default()),
            Err(_) => return fail(format!("image: \"{image}\" not present locally")),
        }
    }
    let nodes: Vec<String> =
        containers_with(docker, &[(CLUSTER_LABEL, &name), (WORLD_LABEL, &shared.id)])
            .await
            .map(|c| c.into_iter().map(|(n, _, _)| n).collect())
            .unwrap_or_default();
    if nodes.is_empty() {
        return fail(format!("no nodes found for cluster \"{name}\""));
    }
    let selected: Vec<String> = match args.get("nodes") {
        None => nodes.clone(),
        Some(list) => {
            let mut out = Vec::new();
            for n in list.split(',').filter(|n| !n.is_empty()) {
                if !nodes.iter().any(|x| x == n) {
                    return fail(format!("unknown node: \"{n}\""));
                }
                out.push(n.to_owned());
            }
            out
        }
    };
    let mut stderr = String::new();
    let mut needing = Vec::new();
    for node in &selected {
        let mut needs = false;
        for (image, id) in images.iter().zip(&ids) {
            if !node_has_image(docker, node, id).await {
                stderr.push_str(&format!("Image: \"{image}\" with ID \"{id}\" not yet present on node \"{node}\", loading...\n"));
                needs = true;
            }
        }
        if needs {
            needing.push(node.clone());
        }
    }
    if needing.is_empty() {
        for (image, id) in images.iter().zip(&ids) {
            stderr.push_str(&format!(
                "Image: \"{image}\" with ID \"{id}\" found to be already present on all nodes.\n"
            ));
        }
        return Output {
            stderr,
            ..Output::default()
        };
    }
    // One export of every requested image goes to each node that lacks any.
    let refs: Vec<&str> = images.iter().map(String::as_str).collect();
    let mut tarball = Vec::new();
    let mut export = docker.export_images(&refs);
    while let Some(chunk) = export.next().await {
        match chunk {
            Ok(bytes) => tarball.extend_from_slice(&bytes),
            Err(e) => return fail(format!("failed to save images: {e}")),
        }
    }
    let tarball = bytes::Bytes::from(tarball);
    let imports = needing.iter().map(|node| {
        let tarball = tarball.clone();
        async move {
            let snapshotter = format!("--snapshotter={}", snapshotter(docker, node).await);
            let input = futures::stream::once(async move { Ok(tarball) }).boxed();
            let cmd = [
                "ctr",
                "--namespace=k8s.io",
                "images",
                "import",
                "--all-platforms",
                "--digests",
                snapshotter.as_str(),
                "-",
            ];
            (node.clone(), exec(docker, node, &cmd, Some(input)).await)
        }
    });
    for (node, result) in futures::future::join_all(imports).await {
        match result {
            Ok(o) if o.code == 0 => {}
            Ok(o) => {
                return fail(format!(
                    "failed to load image: command \"docker exec --privileged -i {node} ctr --namespace=k8s.io images import --all-platforms --digests --snapshotter=overlayfs -\" failed with error: exit status {}\nCommand Output: {}{}",
                    o.code, o.stdout, o.stderr
                ));
            }
            Err(e) => return fail(format!("failed to load image: {e}")),
        }
    }
    Output {
        stderr,
        ..Output::default()
    }
}
