//! The stand-in `kind` against cli-contracts.md part 1, one test per fact
//! kindform relies on. Each runs the stand-in as a user would (the script on
//! PATH) in its own world.

use std::time::Instant;

use k8s_openapi::api::core::v1::Node;
use kindform_world::World;
use kube::api::ListParams;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn kind(world: &World, args: &[&str]) -> Run {
    let out = world
        .command("kind")
        .args(args)
        .output()
        .expect("kind runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn two_node_config(world: &World) -> std::path::PathBuf {
    let path = world.dir().join("kind.yaml");
    std::fs::write(
        &path,
        "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n  labels: {ingress-ready: \"true\"}\n- role: worker\n",
    )
    .unwrap();
    path
}

async fn kube_client(kubeconfig: &std::path::Path) -> kube::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
    let config =
        kube::Config::from_custom_kubeconfig(config, &kube::config::KubeConfigOptions::default())
            .await
            .unwrap();
    kube::Client::try_from(config).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_cluster_makes_labelled_nodes_an_api_and_a_kubeconfig() {
    let Some(world) =
        World::start("create_cluster_makes_labelled_nodes_an_api_and_a_kubeconfig").await
    else {
        return;
    };
    let name = world.cluster_name("two");
    let config = two_node_config(&world);
    let kubeconfig = world.dir().join("kubeconfig");
    let started = Instant::now();
    let out = kind(
        &world,
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
    eprintln!("two-node cluster created in {:?}", started.elapsed());
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "", "kind create prints nothing on stdout");
    assert!(
        out.stderr
            .contains(&format!("Set kubectl context to \"kind-{name}\"")),
        "{}",
        out.stderr
    );

    let nodes = kind(&world, &["get", "nodes", "--name", &name]);
    let mut listed: Vec<&str> = nodes.stdout.lines().collect();
    listed.sort();
    assert_eq!(
        listed,
        [format!("{name}-control-plane"), format!("{name}-worker")]
    );

    let client = kube_client(&kubeconfig).await;
    let api: kube::Api<Node> = kube::Api::all(client);
    let list = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 2);
    for node in &list.items {
        let ready = node
            .status
            .as_ref()
            .unwrap()
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        assert!(ready, "{:?} not Ready", node.metadata.name);
    }
    let cp = list
        .items
        .iter()
        .find(|n| n.metadata.name.as_deref() == Some(&format!("{name}-control-plane")))
        .unwrap();
    assert_eq!(
        cp.metadata
            .labels
            .as_ref()
            .unwrap()
            .get("ingress-ready")
            .map(String::as_str),
        Some("true")
    );

    let again = kind(&world, &["create", "cluster", "--name", &name]);
    assert_eq!(again.code, 1);
    assert_eq!(
        again.stderr,
        format!(
            "ERROR: failed to create cluster: node(s) already exist for a cluster with the name \"{name}\"\n"
        )
    );

    let deleted = kind(
        &world,
        &[
            "delete",
            "cluster",
            "--name",
            &name,
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
        ],
    );
    assert_eq!(deleted.code, 0, "{}", deleted.stderr);
    assert!(
        deleted
            .stderr
            .starts_with(&format!("Deleting cluster \"{name}\" ...\n"))
    );
    let none = kind(&world, &["get", "clusters"]);
    assert_eq!(
        (none.stdout.as_str(), none.stderr.as_str()),
        ("", "No kind clusters found.\n")
    );
}
