//! The local HTTP endpoint a check can point at, and the kube-system
//! workloads every stand-in cluster starts with.

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kindform_world::World;
use kube::api::{Api, ListParams};
use support::{create_cluster, kube_client, tool};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_endpoint_answers_what_the_test_says() {
    let Some(world) = World::start("the_http_endpoint_answers_what_the_test_says").await else {
        return;
    };
    let endpoint = world.http_endpoint("hello from kindform").await;
    let url = format!("{}/api/orders", endpoint.url);
    let ok = tool(
        &world,
        "python3",
        &[
            "-c",
            &format!(
                "import urllib.request; r = urllib.request.urlopen('{url}'); print(r.status, r.read().decode())"
            ),
        ],
    );
    assert_eq!(ok.stdout, "200 hello from kindform\n", "{}", ok.stderr);
    endpoint.answer(503, "down");
    let down = tool(
        &world,
        "python3",
        &[
            "-c",
            &format!(
                "import urllib.request, urllib.error\ntry:\n    urllib.request.urlopen('{url}')\nexcept urllib.error.HTTPError as e:\n    print(e.code, e.read().decode())"
            ),
        ],
    );
    assert_eq!(down.stdout, "503 down\n", "{}", down.stderr);
    assert_eq!(endpoint.requests(), ["/api/orders", "/api/orders"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_cluster_runs_kind_system_pods_ready() {
    let Some(world) = World::start("a_new_cluster_runs_kind_system_pods_ready").await else {
        return;
    };
    let name = world.cluster_name("sys");
    let kubeconfig = create_cluster(&world, &name, 1);
    let pods: Api<Pod> = Api::namespaced(kube_client(&kubeconfig).await, "kube-system");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let list = pods.list(&ListParams::default()).await.unwrap();
    let names: Vec<String> = list
        .items
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    for prefix in [
        "coredns-",
        "kindnet-",
        "kube-proxy-",
        "etcd-",
        "kube-apiserver-",
        "kube-controller-manager-",
        "kube-scheduler-",
    ] {
        assert!(
            names.iter().any(|n| n.starts_with(prefix)),
            "no {prefix} pod in {names:?}"
        );
    }
    for pod in &list.items {
        let ready = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        assert!(ready, "{:?} is not Ready", pod.metadata.name);
    }
}
