//! The stand-in API server through kube-rs: discovery, custom resources a
//! CRD declares, server-side apply, merge and JSON patches, selectors, watch,
//! conflicts, and the simulated kubelet's pods.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kindform_world::World;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::discovery::{ApiResource, Discovery};
use kube::runtime::wait::{await_condition, conditions};
use serde_json::json;
use support::{create_cluster, kube_client};

async fn cluster(test: &str, workers: usize) -> Option<(World, kube::Client, String)> {
    let world = World::start(test).await?;
    let name = world.cluster_name("api");
    let kubeconfig = create_cluster(&world, &name, workers);
    let client = kube_client(&kubeconfig).await;
    Some((world, client, name))
}

fn deployment(name: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "app:local"}]}},
        },
    }))
    .unwrap()
}

async fn pod_names(pods: &Api<Pod>, selector: &str) -> BTreeSet<String> {
    pods.list(&ListParams::default().labels(selector))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_resources_are_served_once_their_crd_exists() {
    let Some((_world, client, _)) =
        cluster("custom_resources_are_served_once_their_crd_exists", 0).await
    else {
        return;
    };
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "components.dapr.io"},
        "spec": {
            "group": "dapr.io", "scope": "Namespaced",
            "names": {"plural": "components", "singular": "component", "kind": "Component"},
            "versions": [{"name": "v1alpha1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object"}}}],
        },
    });
    let crds: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk(
                "apiextensions.k8s.io",
                "v1",
                "CustomResourceDefinition",
            ),
            "customresourcedefinitions",
        ),
    );
    crds.create(
        &PostParams::default(),
        &serde_json::from_value(crd).unwrap(),
    )
    .await
    .unwrap();
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let (resource, _) = discovery
        .groups()
        .flat_map(|g| g.recommended_resources())
        .find(|(r, _)| r.group == "dapr.io" && r.kind == "Component")
        .expect("the CRD's kind is discovered");
    let components: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &resource);
    let pubsub: DynamicObject = serde_json::from_value(json!({"apiVersion": "dapr.io/v1alpha1", "kind": "Component", "metadata": {"name": "pubsub"}, "spec": {"type": "pubsub.redis"}})).unwrap();
    components
        .create(&PostParams::default(), &pubsub)
        .await
        .unwrap();
    assert_eq!(
        components.get("pubsub").await.unwrap().data["spec"]["type"],
        "pubsub.redis"
    );
    assert!(discovery.groups().any(|g| g.name() == "apps"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_merge_and_json_patches_change_objects() {
    let Some((_world, client, _)) =
        cluster("server_side_apply_merge_and_json_patches_change_objects", 0).await
    else {
        return;
    };
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let apply = PatchParams::apply("kindform").force();
    let first = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "labels": {"app.kubernetes.io/managed-by": "kindform"}}, "data": {"a": "1"}});
    let created = cms
        .patch("cfg", &apply, &Patch::Apply(&first))
        .await
        .unwrap();
    assert_eq!(created.data.as_ref().unwrap()["a"], "1");
    let second = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"b": "2"}});
    let applied = cms
        .patch("cfg", &apply, &Patch::Apply(&second))
        .await
        .unwrap();
    let data = applied.data.unwrap();
    assert_eq!(
        (data.get("a").map(String::as_str), data["b"].as_str()),
        (None, "2"),
        "a field the manager applied before and leaves out now is removed"
    );
    let owners = applied.metadata.managed_fields.unwrap();
    assert_eq!(owners.len(), 1);
    assert_eq!(owners[0].manager.as_deref(), Some("kindform"));
    assert_eq!(owners[0].operation.as_deref(), Some("Apply"));
    let merged = cms
        .patch(
            "cfg",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"b": null, "c": "3"}})),
        )
        .await
        .unwrap();
    assert_eq!(
        merged.data.unwrap().keys().cloned().collect::<Vec<_>>(),
        ["c"]
    );
    let ops: json_patch::Patch =
        serde_json::from_value(json!([{"op": "replace", "path": "/data/c", "value": "three"}]))
            .unwrap();
    let patched = cms
        .patch("cfg", &PatchParams::default(), &Patch::<()>::Json(ops))
        .await
        .unwrap();
    assert_eq!(patched.data.unwrap()["c"], "three");
    // An update with a stale resourceVersion is a conflict.
    let mut stale = created.clone();
    stale.data = Some([("z".to_string(), "9".to_string())].into());
    let err = cms
        .replace("cfg", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref e) if e.code == 409),
        "{err}"
    );
    let missing = cms.get("nope").await.unwrap_err();
    assert!(
        matches!(missing, kube::Error::Api(ref e) if e.code == 404 && e.reason == "NotFound"),
        "{missing}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_restart_makes_new_pods_and_workloads_get_their_pods() {
    let Some((_world, client, _)) = cluster(
        "a_rollout_restart_makes_new_pods_and_workloads_get_their_pods",
        1,
    )
    .await
    else {
        return;
    };
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    deployments
        .create(&PostParams::default(), &deployment("web", 2))
        .await
        .unwrap();
    tokio::time::timeout(
        Duration::from_secs(10),
        await_condition(
            deployments.clone(),
            "web",
            conditions::is_deployment_completed(),
        ),
    )
    .await
    .unwrap()
    .unwrap();
    let before = pod_names(&pods, "app=web").await;
    assert_eq!(before.len(), 2);
    // What `kubectl rollout restart` does.
    let restart = json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-28T00:00:00Z"}}}}});
    deployments
        .patch("web", &PatchParams::default(), &Patch::Strategic(restart))
        .await
        .unwrap();
    // The rollout is asynchronous, as a real controller's: wait for it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut after = pod_names(&pods, "app=web").await;
    while !(after.len() == 2 && before.is_disjoint(&after))
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = pod_names(&pods, "app=web").await;
    }
    assert_eq!(after.len(), 2);
    assert!(
        before.is_disjoint(&after),
        "new pods after a restart: {before:?} -> {after:?}"
    );

    let workload = |kind: &str, name: &str| {
        json!({
            "apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "app:local"}]}},
            },
        })
    };
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    sts.create(
        &PostParams::default(),
        &serde_json::from_value(workload("StatefulSet", "db")).unwrap(),
    )
    .await
    .unwrap();
    let ds: Api<DaemonSet> = Api::namespaced(client.clone(), "default");
    let mut daemon = workload("DaemonSet", "agent");
    daemon["spec"].as_object_mut().unwrap().remove("replicas");
    ds.create(
        &PostParams::default(),
        &serde_json::from_value(daemon).unwrap(),
    )
    .await
    .unwrap();
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let job: Job = serde_json::from_value(json!({"metadata": {"name": "once"}, "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "app:local"}]}}}})).unwrap();
    jobs.create(&PostParams::default(), &job).await.unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        pod_names(&pods, "app=db").await,
        BTreeSet::from(["db-0".to_string(), "db-1".to_string()])
    );
    assert_eq!(
        pod_names(&pods, "app=agent").await.len(),
        2,
        "one pod per node"
    );
    tokio::time::timeout(
        Duration::from_secs(10),
        await_condition(jobs.clone(), "once", conditions::is_job_completed()),
    )
    .await
    .unwrap()
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_stream_changes_and_selectors_filter() {
    let Some((_world, client, _)) = cluster("watches_stream_changes_and_selectors_filter", 0).await
    else {
        return;
    };
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let mut events = kube::runtime::watcher(
        cms.clone(),
        kube::runtime::watcher::Config::default().labels("watched=yes"),
    )
    .boxed();
    let make = |name: &str, watched: &str| -> ConfigMap {
        serde_json::from_value(
            json!({"metadata": {"name": name, "labels": {"watched": watched}}, "data": {}}),
        )
        .unwrap()
    };
    cms.create(&PostParams::default(), &make("seen", "yes"))
        .await
        .unwrap();
    cms.create(&PostParams::default(), &make("hidden", "no"))
        .await
        .unwrap();
    let mut names = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !names.contains(&"seen".to_string()) && tokio::time::Instant::now() < deadline {
        if let Ok(Some(Ok(
            kube::runtime::watcher::Event::Apply(cm) | kube::runtime::watcher::Event::InitApply(cm),
        ))) = tokio::time::timeout(Duration::from_secs(5), events.next()).await
        {
            names.push(cm.metadata.name.unwrap());
        }
    }
    assert!(names.contains(&"seen".to_string()));
    assert!(!names.contains(&"hidden".to_string()));
    let selected = cms
        .list(&ListParams::default().labels("watched in (yes,maybe)"))
        .await
        .unwrap();
    assert_eq!(selected.items.len(), 1);
    let by_field = cms
        .list(&ListParams::default().fields("metadata.name=hidden"))
        .await
        .unwrap();
    assert_eq!(by_field.items.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_namespace_deletes_what_it_holds() {
    let Some((_world, client, _)) = cluster("deleting_a_namespace_deletes_what_it_holds", 0).await
    else {
        return;
    };
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "temp"}})).unwrap(),
        )
        .await
        .unwrap();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "temp");
    deployments
        .create(&PostParams::default(), &deployment("web", 1))
        .await
        .unwrap();
    namespaces
        .delete("temp", &DeleteParams::default())
        .await
        .unwrap();
    // The namespace terminates first, then goes with what it holds.
    let terminating = namespaces.get("temp").await.unwrap();
    let uid = terminating.metadata.uid.clone().unwrap();
    assert_eq!(
        terminating.status.and_then(|s| s.phase).as_deref(),
        Some("Terminating")
    );
    let gone = await_condition(namespaces.clone(), "temp", conditions::is_deleted(&uid));
    tokio::time::timeout(Duration::from_secs(10), gone)
        .await
        .expect("the namespace goes")
        .unwrap();
    assert!(deployments.get("web").await.is_err());
    let in_missing = deployments
        .create(&PostParams::default(), &deployment("web", 1))
        .await
        .unwrap_err();
    assert!(
        matches!(in_missing, kube::Error::Api(ref e) if e.code == 404),
        "{in_missing}"
    );
}
