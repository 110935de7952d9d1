//! One stand-in cluster while it exists: its API server and kubelet, and a
//! watcher that follows its node containers in real Docker (a stopped
//! control-plane container makes the API refuse connections; a stopped node
//! turns NotReady).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::Docker;
use serde_json::{Value, json};

use crate::apiserver::kubelet::Kubelet;
use crate::apiserver::resources::ResourceType;
use crate::apiserver::{ApiServer, Store};
use crate::docker::{CLUSTER_LABEL, ROLE_LABEL, WORLD_LABEL, containers_with};
use crate::pki::Pki;

/// A node as the cluster's config declared it.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    /// The container name.
    pub name: String,
    /// `control-plane` or `worker`.
    pub role: String,
    /// Kubernetes labels from the config.
    pub labels: serde_json::Map<String, Value>,
}

/// A running stand-in cluster.
pub struct Cluster {
    /// The cluster name.
    pub name: String,
    /// Its API server.
    pub api: Arc<ApiServer>,
    /// Its kubelet.
    pub kubelet: Arc<Kubelet>,
    /// The Kubernetes version its node image names.
    pub version: String,
    /// Its nodes.
    pub nodes: Vec<NodeSpec>,
    /// A test made the API unreachable while the containers run.
    pub api_down: AtomicBool,
    /// One look at the containers at a time, so a fault's refresh is never
    /// undone by a look that began before it.
    following: tokio::sync::Mutex<()>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Cluster {
    /// Starts the API server and kubelet of a cluster whose containers exist,
    /// with kind's default namespaces and kube-system workloads.
    pub async fn start(
        docker: Docker,
        world: &str,
        name: &str,
        version: &str,
        nodes: Vec<NodeSpec>,
    ) -> Result<Arc<Cluster>, String> {
        let pki = Pki::generate().map_err(|e| e.to_string())?;
        let store = Arc::new(Store::new());
        let api = ApiServer::start(Arc::clone(&store), pki, version)
            .await
            .map_err(|e| e.to_string())?;
        let kubelet = Kubelet::new(Arc::clone(&store), Arc::clone(&api.logs));
        let cluster = Arc::new(Cluster {
            name: name.to_owned(),
            api,
            kubelet,
            version: version.to_owned(),
            nodes,
            api_down: AtomicBool::new(false),
            following: tokio::sync::Mutex::new(()),
            tasks: Mutex::new(Vec::new()),
        });
        cluster.seed();
        let kubelet_task = cluster.kubelet.spawn();
        let watcher = {
            let cluster = Arc::clone(&cluster);
            let world = world.to_owned();
            tokio::spawn(async move {
                loop {
                    cluster.follow_containers(&docker, &world).await;
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            })
        };
        cluster
            .tasks
            .lock()
            .unwrap()
            .extend([kubelet_task, watcher]);
        Ok(cluster)
    }

    fn ty(&self, group: &str, plural: &str) -> ResourceType {
        self.api
            .store
            .resource(group, plural)
            .expect("a built-in type")
    }

    fn seed(&self) {
        let store = &self.api.store;
        let ns = self.ty("", "namespaces");
        for name in [
            "default",
            "kube-system",
            "kube-public",
            "kube-node-lease",
            "local-path-storage",
        ] {
            let _ = store.create(&ns, "", json!({"metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}}, "spec": {"finalizers": ["kubernetes"]}}));
        }
        let node_ty = self.ty("", "nodes");
        for node in &self.nodes {
            let mut labels = node.labels.clone();
            labels.insert("kubernetes.io/hostname".into(), json!(node.name));
            labels.insert("kubernetes.io/os".into(), json!("linux"));
            labels.insert("kubernetes.io/arch".into(), json!("amd64"));
            if node.role == "control-plane" {
                labels.insert("node-role.kubernetes.io/control-plane".into(), json!(""));
            }
            let _ = store.create(
                &node_ty,
                "",
                json!({
                    "metadata": {"name": node.name, "labels": labels},
                    "spec": {"podCIDR": "10.244.0.0/24"},
                    "status": node_status(true, &self.version),
                }),
            );
        }
        let sa = self.ty("", "serviceaccounts");
        for ns in ["default", "kube-system"] {
            let _ = store.create(&sa, ns, json!({"metadata": {"name": "default"}}));
        }
        let _ = store.create(&self.ty("storage.k8s.io", "storageclasses"), "", json!({
            "metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "rancher.io/local-path",
        }));
        let deploy = self.ty("apps", "deployments");
        let ds = self.ty("apps", "daemonsets");
        let workload = |name: &str, image: &str| {
            json!({
                "metadata": {"name": name, "labels": {"k8s-app": name}},
                "spec": {
                    "selector": {"matchLabels": {"k8s-app": name}},
                    "template": {"metadata": {"labels": {"k8s-app": name}}, "spec": {"containers": [{"name": name, "image": image}]}},
                },
            })
        };
        let mut coredns = workload("coredns", "registry.k8s.io/coredns/coredns:v1.12.0");
        coredns["spec"]["replicas"] = json!(2);
        let _ = store.create(&deploy, "kube-system", coredns);
        let _ = store.create(
            &ds,
            "kube-system",
            workload("kindnet", "docker.io/kindest/kindnetd:v20250512"),
        );
        let _ = store.create(
            &ds,
            "kube-system",
            workload(
                "kube-proxy",
                &format!("registry.k8s.io/kube-proxy:{}", self.version),
            ),
        );
        let pod = self.ty("", "pods");
        if let Some(cp) = self.nodes.iter().find(|n| n.role == "control-plane") {
            for component in [
                "etcd",
                "kube-apiserver",
                "kube-controller-manager",
                "kube-scheduler",
            ] {
                let _ = store.create(&pod, "kube-system", json!({
                    "metadata": {"name": format!("{component}-{}", cp.name), "labels": {"component": component, "tier": "control-plane"}},
                    "spec": {"nodeName": cp.name, "containers": [{"name": component, "image": format!("registry.k8s.io/{component}:{}", self.version)}]},
                }));
            }
        }
        self.kubelet.reconcile();
    }

    /// Follows the node containers: serves the API only while the
    /// control-plane container runs (and no fault is set), and marks nodes
    /// Ready or NotReady by their containers.
    pub async fn follow_containers(&self, docker: &Docker, world: &str) {
        let _one_at_a_time = self.following.lock().await;
        if self.api_down.load(Ordering::SeqCst) {
            self.api.stop().await;
        }
        let Ok(containers) =
            containers_with(docker, &[(CLUSTER_LABEL, &self.name), (WORLD_LABEL, world)]).await
        else {
            return;
        };
        let control_plane_up = containers.iter().any(|(_, labels, running)| {
            *running && labels.get(ROLE_LABEL).is_some_and(|r| r == "control-plane")
        });
        if control_plane_up && !self.api_down.load(Ordering::SeqCst) {
            let _ = self.api.resume().await;
        } else {
            self.api.stop().await;
        }
        let node_ty = self.ty("", "nodes");
        let mut changed = false;
        for node in &self.nodes {
            let running = containers
                .iter()
                .any(|(name, _, running)| *name == node.name && *running);
            if let Ok(mut object) = self.api.store.get(&node_ty, "", &node.name) {
                let status = node_status(running, &self.version);
                if object["status"] != status {
                    object["status"] = status;
                    let _ = self
                        .api
                        .store
                        .update(&node_ty, "", &node.name, object, true);
                    changed = true;
                }
            }
        }
        if changed {
            self.kubelet.reconcile();
        }
    }

    /// Stops serving and following; the containers are the caller's.
    pub fn shutdown(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
        self.api.abort();
    }
}

fn node_status(ready: bool, version: &str) -> Value {
    json!({
        "conditions": [{
            "type": "Ready",
            "status": if ready { "True" } else { "Unknown" },
            "reason": if ready { "KubeletReady" } else { "NodeStatusUnknown" },
            "message": if ready { "kubelet is posting ready status" } else { "Kubelet stopped posting node status." },
        }],
        "nodeInfo": {"kubeletVersion": version, "containerRuntimeVersion": "containerd://1.6.20", "osImage": "kindform test node", "architecture": "amd64", "operatingSystem": "linux"},
        "addresses": [{"type": "InternalIP", "address": "172.18.0.2"}],
    })
}
