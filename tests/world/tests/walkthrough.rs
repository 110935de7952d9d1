//! The whole world walked by hand: a two-node cluster from the stand-in kind,
//! a real image loaded into both nodes with `docker save | ctr import`, a
//! chart installed with the real helm (3 and 4), its Deployment Ready
//! through kube-rs, then every fault caused and observed.

#[macro_use]
#[path = "../../support/majors.rs"]
mod majors;
mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use kindform_world::World;
use kindform_world::real_tools::HelmMajor;
use kube::api::{Api, ListParams, LogParams};
use kube::runtime::wait::{await_condition, conditions};
use serde_json::{Value, json};
use support::{create_cluster, kube_client, tool, write_chart};

fn node_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

async fn wait_for<
    F: FnMut() -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>>,
>(
    what: &str,
    mut check: F,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn the_whole_world_by_hand(major: HelmMajor, test: &str) {
    let begun = Instant::now();
    let Some(world) = World::with_helm(test, major).await else {
        return;
    };
    eprintln!(
        "the world started in {:?} (the node image is built once per content)",
        begun.elapsed()
    );
    let name = world.cluster_name("walk");
    let started = Instant::now();
    let kubeconfig = create_cluster(&world, &name, 1);
    eprintln!(
        "a two-node world cluster started in {:?}",
        started.elapsed()
    );
    let kc = kubeconfig.to_str().unwrap().to_owned();
    let context = format!("kind-{name}");
    let (cp, worker) = (format!("{name}-control-plane"), format!("{name}-worker"));

    // A real image into both nodes, by hand.
    let image = format!("kindform.dev/walk-{}:local", world.id());
    let id = world.build_image(&image, "v1", 4096).await.unwrap();
    for node in [&cp, &worker] {
        let pipeline = format!(
            "docker save {image} | docker exec -i {node} ctr --namespace=k8s.io images import --all-platforms --digests --snapshotter=overlayfs -"
        );
        let out = tool(&world, "sh", &["-c", &pipeline]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(world.node_has_image(node, &id).await, "{node} lacks {id}");
    }

    // A chart with the real helm.
    let chart = write_chart(world.dir(), "0.1.0");
    let set_image = format!("image={image}");
    let helm = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--kube-context", &context, "--kubeconfig", &kc]);
        tool(&world, "helm", &all)
    };
    let install = helm(&[
        "upgrade",
        "--install",
        "web",
        chart.to_str().unwrap(),
        "-n",
        "apps",
        "--create-namespace",
        "--set",
        &set_image,
        "--wait",
        "--timeout",
        "30s",
    ]);
    assert_eq!(install.code, 0, "{}", install.stderr);
    assert!(
        install
            .stdout
            .starts_with("Release \"web\" does not exist. Installing it now.\nNAME: web\n"),
        "{}",
        install.stdout
    );

    let client = kube_client(&kubeconfig).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "apps");
    let rolled_out = await_condition(
        deployments.clone(),
        "web",
        conditions::is_deployment_completed(),
    );
    let deployment = tokio::time::timeout(Duration::from_secs(20), rolled_out)
        .await
        .expect("rolled out in time")
        .unwrap()
        .unwrap();
    assert_eq!(deployment.status.unwrap().ready_replicas, Some(1));
    let nodes: Api<Node> = Api::all(client.clone());

    // A stopped worker turns NotReady; started again, Ready.
    world.stop_node(&name, &worker).await.unwrap();
    assert!(!node_ready(&nodes.get(&worker).await.unwrap()));
    world.start_node(&name, &worker).await.unwrap();
    assert!(node_ready(&nodes.get(&worker).await.unwrap()));

    // A stopped control plane makes the API refuse connections.
    let port: u16 = world.cluster(&name).unwrap().api.port;
    world.stop_node(&name, &cp).await.unwrap();
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err(),
        "API answered with its control plane stopped"
    );
    let down = helm(&["list", "-o", "json"]);
    assert_eq!(down.code, 1);
    // Helm 3 says "Kubernetes cluster unreachable", Helm 4 "kubernetes".
    assert!(
        down.stderr.starts_with("Error: ")
            && down
                .stderr
                .to_lowercase()
                .contains("kubernetes cluster unreachable: "),
        "{}",
        down.stderr
    );
    world.start_node(&name, &cp).await.unwrap();
    assert!(nodes.list(&ListParams::default()).await.is_ok());

    // The API unreachable while every container runs.
    world.set_api_unreachable(&name, true).await.unwrap();
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
    );
    world.set_api_unreachable(&name, false).await.unwrap();
    assert!(nodes.list(&ListParams::default()).await.is_ok());

    // An image removed from one node; a rebuild under the same tag.
    world.remove_image_from_node(&worker, &image).await.unwrap();
    assert!(!world.node_has_image(&worker, &id).await);
    assert!(world.node_has_image(&cp, &id).await);
    let rebuilt = world.build_image(&image, "v2", 4096).await.unwrap();
    assert_ne!(rebuilt, id);
    assert!(!world.node_has_image(&cp, &rebuilt).await);

    // A second revision, then a release left pending by a killed `helm
    // upgrade --wait`: hidden from Helm 3's `list` (shown by `list -a`),
    // listed by Helm 4's, and every upgrade refused until a rollback.
    let second = helm(&[
        "upgrade",
        "--install",
        "web",
        chart.to_str().unwrap(),
        "-n",
        "apps",
        "--set",
        &set_image,
        "--set",
        "replicas=2",
    ]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    world
        .leave_release(&name, "apps", "web", "pending-upgrade")
        .unwrap();
    let all_args: &[&str] = match major {
        HelmMajor::V3 => {
            assert_eq!(helm(&["list", "-n", "apps", "-o", "json"]).stdout, "[]\n");
            &["list", "-n", "apps", "-a", "-o", "json"]
        }
        HelmMajor::V4 => &["list", "-n", "apps", "-o", "json"],
    };
    let all: Value = serde_json::from_str(&helm(all_args).stdout).unwrap();
    assert_eq!(
        (all[0]["status"].as_str(), all[0]["revision"].as_str()),
        (Some("pending-upgrade"), Some("3")),
        "the killed upgrade was revision 3"
    );
    let locked = helm(&[
        "upgrade",
        "--install",
        "web",
        chart.to_str().unwrap(),
        "-n",
        "apps",
    ]);
    assert_eq!(
        locked.stderr,
        "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress\n"
    );
    let rollback = helm(&["rollback", "web", "-n", "apps"]);
    assert_eq!(
        (rollback.code, rollback.stdout.as_str()),
        (0, "Rollback was a success! Happy Helming!\n"),
        "{}",
        rollback.stderr
    );
    let history: Value =
        serde_json::from_str(&helm(&["history", "web", "-n", "apps", "-o", "json"]).stdout)
            .unwrap();
    let last = history.as_array().unwrap().last().unwrap();
    assert_eq!(last["description"], "Rollback to 2", "{history}");

    // An object made by hand that the chart also renders.
    world
        .create_object(&name, json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-extra", "namespace": "apps"}, "data": {"by": "hand"}}))
        .unwrap();
    let blocked = helm(&[
        "upgrade",
        "--install",
        "web",
        chart.to_str().unwrap(),
        "-n",
        "apps",
        "--set",
        "extra=true",
    ]);
    assert_eq!(blocked.code, 1);
    // Helm 4 begins the sentence in lower case.
    let unable = match major {
        HelmMajor::V3 => "Unable",
        HelmMajor::V4 => "unable",
    };
    assert_eq!(
        blocked.stderr,
        format!(
            "Error: UPGRADE FAILED: {unable} to continue with update: ConfigMap \"web-extra\" in namespace \"apps\" exists and cannot be imported into the current release: invalid ownership metadata; label validation error: missing key \"app.kubernetes.io/managed-by\": must be set to \"Helm\"; annotation validation error: missing key \"meta.helm.sh/release-name\": must be set to \"web\"; annotation validation error: missing key \"meta.helm.sh/release-namespace\": must be set to \"apps\"\n"
        )
    );
    let adopted = helm(&[
        "upgrade",
        "--install",
        "web",
        chart.to_str().unwrap(),
        "-n",
        "apps",
        "--set",
        "extra=true",
        "--take-ownership",
    ]);
    assert_eq!(adopted.code, 0, "{}", adopted.stderr);
    let cm = world
        .get_object(&name, "v1", "ConfigMap", "apps", "web-extra")
        .unwrap();
    assert_eq!(
        cm["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "Helm"
    );

    // A crash-looping deployment: pods not Ready, restarts, BackOff events, logs.
    world
        .crash_loop(
            &name,
            "apps",
            "Deployment",
            "web",
            &["panic: cannot reach dapr-sentry"],
        )
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "apps");
    let crashing = || {
        let pods = pods.clone();
        Box::pin(async move {
            pods.list(&ListParams::default().labels("app=web"))
                .await
                .is_ok_and(|l| {
                    !l.items.is_empty()
                        && l.items.iter().all(|p| {
                            p.status
                                .as_ref()
                                .and_then(|s| s.container_statuses.as_ref())
                                .is_some_and(|c| {
                                    c.iter().all(|c| {
                                        !c.ready
                                            && c.state
                                                .as_ref()
                                                .and_then(|s| s.waiting.as_ref())
                                                .and_then(|w| w.reason.as_deref())
                                                == Some("CrashLoopBackOff")
                                    })
                                })
                        })
                })
        }) as std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>>
    };
    wait_for("pods to crash-loop", crashing).await;
    let pod = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap()
        .items
        .remove(0);
    let log = pods
        .logs(
            pod.metadata.name.as_deref().unwrap(),
            &LogParams {
                tail_lines: Some(5),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(log.contains("panic: cannot reach dapr-sentry"), "{log}");
    let events = world.list_objects(&name, "v1", "Event", Some("apps"));
    assert!(
        events.iter().any(|e| e["reason"] == "BackOff"),
        "no BackOff event"
    );
    world.heal(&name, "apps", "Deployment", "web").unwrap();
    let healed = tokio::time::timeout(
        Duration::from_secs(20),
        await_condition(
            deployments.clone(),
            "web",
            conditions::is_deployment_completed(),
        ),
    );
    healed.await.expect("healed in time").unwrap();

    // A tool failing once.
    world.fail_once("helm", "status", "Kubernetes cluster unreachable: injected");
    assert_eq!(
        helm(&["status", "web", "-n", "apps"]).stderr,
        "Error: Kubernetes cluster unreachable: injected\n"
    );
    assert_eq!(helm(&["status", "web", "-n", "apps"]).code, 0);

    // A node container removed.
    world.remove_node(&name, &worker).await.unwrap();
    let listed = tool(&world, "kind", &["get", "nodes", "--name", &name]);
    assert_eq!(listed.stdout, format!("{cp}\n"));

    let deleted = tool(
        &world,
        "kind",
        &["delete", "cluster", "--name", &name, "--kubeconfig", &kc],
    );
    assert_eq!(deleted.code, 0, "{}", deleted.stderr);
}

with_both_helm_majors!(the_whole_world_by_hand);
