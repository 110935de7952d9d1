//! The stand-in `kind` against kind's contract (docs/tools.md), one test per fact
//! kindform relies on. Each runs the stand-in as a user would (the script on
//! PATH) in its own world.

mod support;

use k8s_openapi::api::core::v1::Node;
use kindform_world::World;
use kube::api::ListParams;
use support::{create_cluster, kube_client, tool};

macro_rules! world {
    ($name:literal) => {
        match World::start($name).await {
            Some(world) => world,
            None => return,
        }
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_makes_labelled_nodes_an_api_and_a_kubeconfig() {
    let world = world!("create_makes_labelled_nodes_an_api_and_a_kubeconfig");
    let name = world.cluster_name("two");
    let config = world.dir().join("kind.yaml");
    std::fs::write(&config, "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n  labels: {ingress-ready: \"true\"}\n- role: worker\n- role: worker\n").unwrap();
    let kubeconfig = world.dir().join("kubeconfig");
    let out = tool(
        &world,
        "kind",
        &[
            "create",
            "cluster",
            "--name",
            &name,
            "--config",
            config.to_str().unwrap(),
            "--image",
            "kindest/node:v1.34.0",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "", "kind create prints nothing on stdout");
    assert!(
        out.stderr
            .starts_with(&format!("Creating cluster \"{name}\" ...\n")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains(&format!("Set kubectl context to \"kind-{name}\"")),
        "{}",
        out.stderr
    );

    let mut listed: Vec<String> = tool(&world, "kind", &["get", "nodes", "--name", &name])
        .stdout
        .lines()
        .map(str::to_owned)
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            format!("{name}-control-plane"),
            format!("{name}-worker"),
            format!("{name}-worker2")
        ]
    );

    // Containers carry kind's labels, hostnames and the requested image name.
    for node in &listed {
        let (code, hostname, _) = world
            .exec_in_node(node, &["cat", "/etc/hostname"])
            .await
            .unwrap();
        assert_eq!((code, hostname.trim()), (0, node.as_str()));
    }
    let inspect = tool(
        &world,
        "docker",
        &[
            "inspect",
            "-f",
            "{{index .Config.Labels \"io.x-k8s.kind.cluster\"}} {{index .Config.Labels \"io.x-k8s.kind.role\"}} {{.Config.Image}}",
            &format!("{name}-worker2"),
        ],
    );
    assert_eq!(
        inspect.stdout.trim(),
        format!("{name} worker kindest/node:v1.34.0")
    );

    let client = kube_client(&kubeconfig).await;
    let nodes: kube::Api<Node> = kube::Api::all(client);
    let list = nodes.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 3);
    let cp = nodes.get(&format!("{name}-control-plane")).await.unwrap();
    let labels = cp.metadata.labels.unwrap();
    assert_eq!(
        labels.get("ingress-ready").map(String::as_str),
        Some("true")
    );
    assert!(labels.contains_key("node-role.kubernetes.io/control-plane"));
    assert_eq!(
        cp.status.unwrap().node_info.unwrap().kubelet_version,
        "v1.34.0"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_refuses_an_existing_cluster_and_touches_nothing() {
    let world = world!("create_refuses_an_existing_cluster_and_touches_nothing");
    let name = world.cluster_name("dup");
    create_cluster(&world, &name, 0);
    let again = tool(&world, "kind", &["create", "cluster", "--name", &name]);
    assert_eq!(again.code, 1);
    assert_eq!(again.stdout, "");
    assert_eq!(
        again.stderr,
        format!(
            "ERROR: failed to create cluster: node(s) already exist for a cluster with the name \"{name}\"\n"
        )
    );
    assert_eq!(
        tool(&world, "kind", &["get", "nodes", "--name", &name]).stdout,
        format!("{name}-control-plane\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_name_comes_from_the_flag_then_the_environment_then_the_config_then_kind() {
    let world =
        world!("the_name_comes_from_the_flag_then_the_environment_then_the_config_then_kind");
    let from_env = world.cluster_name("env");
    let from_config = world.cluster_name("cfg");
    let config = world.dir().join("named.yaml");
    std::fs::write(
        &config,
        format!("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nname: {from_config}\n"),
    )
    .unwrap();
    let out = world
        .command("kind")
        .args(["create", "cluster", "--config", config.to_str().unwrap()])
        .env("KIND_CLUSTER_NAME", &from_env)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = tool(
        &world,
        "kind",
        &["create", "cluster", "--config", config.to_str().unwrap()],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let clusters = tool(&world, "kind", &["get", "clusters"]);
    let mut expected = [from_config.clone(), from_env.clone()];
    expected.sort();
    assert_eq!(
        clusters.stdout,
        expected
            .iter()
            .map(|n| format!("{n}\n"))
            .collect::<String>(),
        "sorted and unique"
    );
    let bad = tool(&world, "kind", &["create", "cluster", "--name", "Bad_Name"]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr
            .contains("cluster names must match `^[a-z0-9.-]+$`"),
        "{}",
        bad.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_config_is_decoded_strictly() {
    let world = world!("the_config_is_decoded_strictly");
    let config = world.dir().join("typo.yaml");
    std::fs::write(&config, "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n  extraPortMapings: []\n").unwrap();
    let out = tool(
        &world,
        "kind",
        &[
            "create",
            "cluster",
            "--name",
            &world.cluster_name("strict"),
            "--config",
            config.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .starts_with("ERROR: failed to create cluster: unable to decode config: "),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("extraPortMapings"), "{}", out.stderr);
    assert_eq!(
        tool(&world, "kind", &["get", "clusters"]).stderr,
        "No kind clusters found.\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_is_safe_to_repeat_and_removes_kubeconfig_entries() {
    let world = world!("delete_is_safe_to_repeat_and_removes_kubeconfig_entries");
    let name = world.cluster_name("del");
    let kubeconfig = create_cluster(&world, &name, 1);
    let kc = kubeconfig.to_str().unwrap();
    let out = tool(
        &world,
        "kind",
        &["delete", "cluster", "--name", &name, "--kubeconfig", kc],
    );
    assert_eq!(out.code, 0);
    assert!(
        out.stderr
            .starts_with(&format!("Deleting cluster \"{name}\" ...\n")),
        "{}",
        out.stderr
    );
    let deleted = deleted_list(&out.stderr);
    assert!(
        deleted.contains(&format!("\"{name}-worker\""))
            && deleted.contains(&format!("\"{name}-control-plane\"")),
        "{deleted}"
    );
    assert!(
        !std::fs::read_to_string(&kubeconfig)
            .unwrap()
            .contains(&format!("kind-{name}"))
    );
    let none = tool(&world, "kind", &["get", "nodes", "--name", &name]);
    assert_eq!(
        (none.stdout.as_str(), none.stderr.as_str()),
        (
            "",
            format!("No kind nodes found for cluster \"{name}\".\n").as_str()
        )
    );
    let again = tool(
        &world,
        "kind",
        &["delete", "cluster", "--name", &name, "--kubeconfig", kc],
    );
    assert_eq!(
        (again.code, again.stderr.as_str()),
        (
            0,
            format!("Deleting cluster \"{name}\" ...\nDeleted nodes: []\n").as_str()
        )
    );
}

fn deleted_list(stderr: &str) -> String {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("Deleted nodes: "))
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_kubeconfig_prints_kinds_yaml_and_fails_for_a_missing_cluster() {
    let world = world!("get_kubeconfig_prints_kinds_yaml_and_fails_for_a_missing_cluster");
    let name = world.cluster_name("kc");
    create_cluster(&world, &name, 0);
    let out = tool(&world, "kind", &["get", "kubeconfig", "--name", &name]);
    assert_eq!(out.code, 0);
    assert!(
        out.stdout.ends_with("\n\n"),
        "the YAML plus one extra newline"
    );
    let config: serde_yaml_ng::Value = serde_yaml_ng::from_str(&out.stdout).unwrap();
    let kind_name = format!("kind-{name}");
    assert_eq!(config["current-context"].as_str(), Some(kind_name.as_str()));
    assert_eq!(
        config["clusters"][0]["name"].as_str(),
        Some(kind_name.as_str())
    );
    assert_eq!(
        config["users"][0]["name"].as_str(),
        Some(kind_name.as_str())
    );
    assert_eq!(
        config["contexts"][0]["context"]["cluster"].as_str(),
        Some(kind_name.as_str())
    );
    assert!(
        config["clusters"][0]["cluster"]["server"]
            .as_str()
            .unwrap()
            .starts_with("https://127.0.0.1:")
    );
    let internal = tool(
        &world,
        "kind",
        &["get", "kubeconfig", "--name", &name, "--internal"],
    );
    assert!(
        internal
            .stdout
            .contains(&format!("server: https://{name}-control-plane:6443"))
    );
    let missing = tool(&world, "kind", &["get", "kubeconfig", "--name", "nope"]);
    assert_eq!(missing.code, 1);
    assert_eq!(
        missing.stderr,
        "ERROR: could not locate any control plane nodes for cluster named 'nope'. Use the --name option to select a different cluster\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_kubeconfig_picks_the_file_as_kind_does() {
    let world = world!("export_kubeconfig_picks_the_file_as_kind_does");
    let name = world.cluster_name("exp");
    create_cluster(&world, &name, 0);
    // No flag, no KUBECONFIG: ~/.kube/config.
    let out = tool(&world, "kind", &["export", "kubeconfig", "--name", &name]);
    assert_eq!(
        (out.code, out.stderr.as_str()),
        (
            0,
            format!("Set kubectl context to \"kind-{name}\"\n").as_str()
        )
    );
    assert!(world.home().join(".kube/config").is_file());
    // KUBECONFIG: the first entry that exists, else the last.
    let (a, b) = (world.dir().join("a.yaml"), world.dir().join("b.yaml"));
    std::fs::write(&b, "apiVersion: v1\nkind: Config\n").unwrap();
    let list = format!("{}:{}", a.display(), b.display());
    let out = world
        .command("kind")
        .args(["export", "kubeconfig", "--name", &name])
        .env("KUBECONFIG", &list)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        !a.exists()
            && std::fs::read_to_string(&b)
                .unwrap()
                .contains(&format!("kind-{name}"))
    );
    std::fs::remove_file(&b).unwrap();
    let out = world
        .command("kind")
        .args(["export", "kubeconfig", "--name", &name])
        .env("KUBECONFIG", &list)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        !a.exists() && b.exists(),
        "with none existing, the last entry"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_docker_image_imports_into_nodes_that_lack_it() {
    let world = world!("load_docker_image_imports_into_nodes_that_lack_it");
    let name = world.cluster_name("load");
    create_cluster(&world, &name, 1);
    let image = format!("kindform.dev/load-{}:local", world.id());
    let missing = tool(
        &world,
        "kind",
        &["load", "docker-image", &image, "--name", &name],
    );
    assert_eq!(
        (missing.code, missing.stderr.as_str()),
        (
            1,
            format!("ERROR: image: \"{image}\" not present locally\n").as_str()
        )
    );
    let id = world.build_image(&image, "one", 2048).await.unwrap();
    let worker = format!("{name}-worker");
    let only = tool(
        &world,
        "kind",
        &[
            "load",
            "docker-image",
            &image,
            "--name",
            &name,
            "--nodes",
            &worker,
        ],
    );
    assert_eq!(only.code, 0, "{}", only.stderr);
    assert!(world.node_has_image(&worker, &id).await);
    assert!(
        !world
            .node_has_image(&format!("{name}-control-plane"), &id)
            .await
    );
    let all = tool(
        &world,
        "kind",
        &["load", "docker-image", &image, "--name", &name],
    );
    assert_eq!(all.code, 0, "{}", all.stderr);
    assert_eq!(
        all.stderr,
        format!(
            "Image: \"{image}\" with ID \"{id}\" not yet present on node \"{name}-control-plane\", loading...\n"
        )
    );
    let again = tool(
        &world,
        "kind",
        &["load", "docker-image", &image, "--name", &name],
    );
    assert_eq!(
        again.stderr,
        format!("Image: \"{image}\" with ID \"{id}\" found to be already present on all nodes.\n")
    );
    let unknown = tool(
        &world,
        "kind",
        &[
            "load",
            "docker-image",
            &image,
            "--name",
            &name,
            "--nodes",
            "nope",
        ],
    );
    assert_eq!(
        (unknown.code, unknown.stderr.as_str()),
        (1, "ERROR: unknown node: \"nope\"\n")
    );
    let no_cluster = tool(
        &world,
        "kind",
        &["load", "docker-image", &image, "--name", "absent"],
    );
    assert_eq!(
        no_cluster.stderr,
        "ERROR: no nodes found for cluster \"absent\"\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_nodes_stay_listed_and_a_stopped_control_plane_refuses_the_api() {
    let world = world!("stopped_nodes_stay_listed_and_a_stopped_control_plane_refuses_the_api");
    let name = world.cluster_name("stop");
    create_cluster(&world, &name, 0);
    let cp = format!("{name}-control-plane");
    let port = world.cluster(&name).unwrap().api.port;
    world.stop_node(&name, &cp).await.unwrap();
    assert_eq!(
        tool(&world, "kind", &["get", "clusters"]).stdout,
        format!("{name}\n"),
        "clusters with stopped containers are listed"
    );
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
    );
    world.start_node(&name, &cp).await.unwrap();
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
    );
    let (code, out, _) = world.exec_in_node(&cp, &["ctr", "version"]).await.unwrap();
    assert_eq!(code, 0, "containerd runs again after a restart: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_and_unknown_commands() {
    let world = world!("version_and_unknown_commands");
    let version = tool(&world, "kind", &["version"]);
    assert_eq!(version.code, 0);
    assert!(
        version.stdout.starts_with("kind v0.32.0 go1.")
            && version.stdout.ends_with(" linux/amd64\n"),
        "{}",
        version.stdout
    );
    let unknown = tool(&world, "kind", &["frobnicate"]);
    assert_eq!(
        (unknown.code, unknown.stderr.as_str()),
        (1, "ERROR: unknown command \"frobnicate\" for \"kind\"\n")
    );
    world.fail_once("kind", "get clusters", "injected failure");
    assert_eq!(
        tool(&world, "kind", &["get", "clusters"]).stderr,
        "ERROR: injected failure\n"
    );
    assert_eq!(
        tool(&world, "kind", &["get", "clusters"]).code,
        0,
        "only once"
    );
}

/// A world's containers are removed when it is dropped, even by a panicking test.
#[test]
fn containers_are_removed_even_when_a_test_fails() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(docker) = runtime.block_on(kindform_world::docker::docker_or_skip(
        "containers_are_removed_even_when_a_test_fails",
    )) else {
        return;
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let failed = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let world = World::start("containers_are_removed_even_when_a_test_fails")
                .await
                .unwrap();
            create_cluster(&world, &world.cluster_name("doomed"), 1);
            tx.send(world.id().to_owned()).unwrap();
            panic!("a failing test");
        });
    })
    .join();
    assert!(failed.is_err(), "the inner test panicked");
    let id = rx.recv().unwrap();
    let left = runtime
        .block_on(kindform_world::docker::containers_with(
            &docker,
            &[(kindform_world::docker::WORLD_LABEL, &id)],
        ))
        .unwrap();
    assert!(left.is_empty(), "containers left behind: {left:?}");
}
