//! A simulated kubelet and controllers: a Deployment controller (one
//! ReplicaSet per pod template, named by its hash, older ones scaled to zero,
//! so a rollout restart makes new pods), the namespace controller and the
//! garbage collector; each other workload's pods are derived from it
//! (ReplicaSet pods by name, StatefulSet pods by ordinal, one DaemonSet pod
//! per node; Jobs complete at once). Pods are Ready while their
//! node is Ready, or crash-loop when a test says so; workload statuses follow.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::resources::ResourceType;
use super::server::Logs;
use super::store::{Store, now};

/// A workload a test made crash-loop.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WorkloadRef {
    /// Its namespace.
    pub namespace: String,
    /// `Deployment`, `StatefulSet`, `DaemonSet` or `Pod`.
    pub kind: String,
    /// Its name.
    pub name: String,
}

impl WorkloadRef {
    /// The workload `kind` `name` in `namespace`.
    pub fn new(namespace: &str, kind: &str, name: &str) -> Self {
        WorkloadRef {
            namespace: namespace.into(),
            kind: kind.into(),
            name: name.into(),
        }
    }
}

/// The simulated kubelet of one cluster.
pub struct Kubelet {
    store: Arc<Store>,
    logs: Logs,
    crashing: Mutex<HashMap<WorkloadRef, Vec<String>>>,
    /// Crashes that last until the workload's pods are replaced (a rollout
    /// restart), with the pod template hash they began under.
    until_restart: Mutex<HashMap<WorkloadRef, Option<String>>>,
    crash_started: Mutex<HashMap<String, Instant>>,
}

const WORKLOADS: [(&str, &str); 4] = [
    ("apps", "replicasets"),
    ("apps", "statefulsets"),
    ("apps", "daemonsets"),
    ("batch", "jobs"),
];

impl Kubelet {
    /// A kubelet for the objects of `store`.
    pub fn new(store: Arc<Store>, logs: Logs) -> Arc<Kubelet> {
        Arc::new(Kubelet {
            store,
            logs,
            crashing: Mutex::default(),
            until_restart: Mutex::default(),
            crash_started: Mutex::default(),
        })
    }

    /// Reconciles on every change and every half second until the task is dropped.
    pub fn spawn(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut changed = this.store.subscribe();
            loop {
                this.reconcile();
                tokio::select! {
                    _ = changed.changed() => {}
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        })
    }

    /// Makes a workload's containers crash-loop, logging `lines` before each
    /// crash; with `until_restart`, only until its pods are replaced by a new
    /// template (as `kubectl rollout restart` does): the sidecars that lost
    /// their control plane and come back when restarted.
    pub fn crash(&self, workload: WorkloadRef, lines: Vec<String>, until_restart: bool) {
        if until_restart {
            self.until_restart
                .lock()
                .unwrap()
                .insert(workload.clone(), None);
        }
        self.crashing.lock().unwrap().insert(workload, lines);
        self.reconcile();
    }

    /// Lets a workload's containers run again.
    pub fn heal(&self, workload: &WorkloadRef) {
        self.crashing.lock().unwrap().remove(workload);
        self.until_restart.lock().unwrap().remove(workload);
        self.reconcile();
    }

    fn ty(&self, group: &str, plural: &str) -> Option<ResourceType> {
        self.store.resource(group, plural)
    }

    /// Brings pods and statuses in line with workloads and nodes.
    pub fn reconcile(&self) {
        let (Some(pod_ty), Some(node_ty)) = (self.ty("", "pods"), self.ty("", "nodes")) else {
            return;
        };
        let nodes = self.store.list(&node_ty, None).1;
        let ready_nodes: Vec<String> = nodes
            .iter()
            .filter(|n| node_ready(n))
            .filter_map(|n| n["metadata"]["name"].as_str().map(str::to_owned))
            .collect();
        self.store.finish_terminating();
        // The garbage collector: what its owners no longer hold goes.
        for (ty, namespace, name) in self.store.orphans() {
            let _ = self.store.delete(&ty, &namespace, &name);
        }
        if let (Some(deployments), Some(replica_sets)) = (
            self.ty("apps", "deployments"),
            self.ty("apps", "replicasets"),
        ) {
            let sets = self.store.list(&replica_sets, None).1;
            for deployment in self.store.list(&deployments, None).1 {
                self.reconcile_deployment(&deployments, &replica_sets, &deployment, &sets);
            }
        }
        let all_pods = self.store.list(&pod_ty, None).1;
        let mut owned: HashSet<String> = HashSet::new();
        for (group, plural) in WORKLOADS {
            let Some(ty) = self.ty(group, plural) else {
                continue;
            };
            for workload in self.store.list(&ty, None).1 {
                let uid = workload["metadata"]["uid"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                owned.insert(uid.clone());
                let existing: Vec<&Value> = all_pods
                    .iter()
                    .filter(|p| {
                        p["metadata"]["ownerReferences"]
                            .as_array()
                            .is_some_and(|o| o.iter().any(|r| r["uid"] == uid.as_str()))
                    })
                    .collect();
                self.reconcile_workload(&ty, &pod_ty, &workload, &existing, &nodes, &ready_nodes);
            }
        }
        // Pods without a workload (static pods, pods created directly).
        for pod in all_pods.iter().filter(|p| {
            p["metadata"]["ownerReferences"].as_array().is_none_or(|o| {
                o.iter()
                    .all(|r| !owned.contains(r["uid"].as_str().unwrap_or_default()))
            })
        }) {
            if pod["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|o| !o.is_empty())
            {
                // Its owner is gone: the garbage collector takes it.
                continue;
            }
            let crash = self.crash_lines(&WorkloadRef {
                namespace: pod["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .into(),
                kind: "Pod".into(),
                name: pod["metadata"]["name"].as_str().unwrap_or_default().into(),
            });
            self.update_pod_status(&pod_ty, pod, &ready_nodes, crash, false);
        }
    }

    fn crash_lines(&self, workload: &WorkloadRef) -> Option<Vec<String>> {
        self.crashing.lock().unwrap().get(workload).cloned()
    }

    fn reconcile_workload(
        &self,
        ty: &ResourceType,
        pod_ty: &ResourceType,
        workload: &Value,
        existing: &[&Value],
        nodes: &[Value],
        ready_nodes: &[String],
    ) {
        let meta = &workload["metadata"];
        let name = meta["name"].as_str().unwrap_or_default();
        let namespace = meta["namespace"].as_str().unwrap_or_default();
        let template = &workload["spec"]["template"];
        // A ReplicaSet's pods carry the hash its Deployment gave it.
        let hash = template["metadata"]["labels"]["pod-template-hash"]
            .as_str()
            .filter(|_| ty.kind == "ReplicaSet")
            .map(str::to_owned)
            .unwrap_or_else(|| template_hash(template));
        let job = ty.kind == "Job";
        let node_names: Vec<String> = nodes
            .iter()
            .filter_map(|n| n["metadata"]["name"].as_str().map(str::to_owned))
            .collect();
        // (pod name, pinned node) for every pod the workload should have.
        let desired: Vec<(String, Option<String>)> = match ty.kind.as_str() {
            "ReplicaSet" => (0..replicas(workload))
                .map(|i| (format!("{name}-{}", suffix(&format!("{name}{i}"))), None))
                .collect(),
            "StatefulSet" => (0..replicas(workload))
                .map(|i| (format!("{name}-{i}"), None))
                .collect(),
            "DaemonSet" => node_names
                .iter()
                .map(|n| {
                    (
                        format!("{name}-{}", suffix(&format!("{hash}{n}"))),
                        Some(n.clone()),
                    )
                })
                .collect(),
            _ => vec![(format!("{name}-{}", suffix(&hash)), None)],
        };
        let revision = format!("{name}-{hash}");
        for pod in existing {
            let pod_name = pod["metadata"]["name"].as_str().unwrap_or_default();
            let stale = pod["metadata"]["labels"]["controller-revision-hash"]
                .as_str()
                .is_some_and(|r| r != revision)
                || pod["metadata"]["labels"]["pod-template-hash"]
                    .as_str()
                    .is_some_and(|h| h != hash);
            if stale || !desired.iter().any(|(d, _)| d == pod_name) {
                let _ = self.store.delete(pod_ty, namespace, pod_name);
                self.crash_started
                    .lock()
                    .unwrap()
                    .remove(&format!("{namespace}/{pod_name}"));
            }
        }
        // Faults are set on a Deployment; its ReplicaSets' pods carry them.
        let key = match controller(workload) {
            Some(("Deployment", owner)) if ty.kind == "ReplicaSet" => {
                WorkloadRef::new(namespace, "Deployment", owner)
            }
            _ => WorkloadRef::new(namespace, &ty.kind, name),
        };
        if !desired.is_empty() {
            let mut until = self.until_restart.lock().unwrap();
            match until.get(&key) {
                Some(None) => {
                    until.insert(key.clone(), Some(hash.clone()));
                }
                Some(Some(began)) if *began != hash => {
                    until.remove(&key);
                    self.crashing.lock().unwrap().remove(&key);
                }
                _ => {}
            }
        }
        let crash = self.crash_lines(&key);
        let mut ready = 0;
        for (index, (pod_name, pinned)) in desired.iter().enumerate() {
            let pod = match self.store.get(pod_ty, namespace, pod_name) {
                Ok(pod) => pod,
                Err(_) => {
                    let mut labels = template["metadata"]["labels"].clone();
                    if !labels.is_object() {
                        labels = json!({});
                    }
                    match ty.kind.as_str() {
                        "ReplicaSet" => labels["pod-template-hash"] = json!(hash),
                        "StatefulSet" => {
                            labels["controller-revision-hash"] = json!(revision);
                            labels["statefulset.kubernetes.io/pod-name"] = json!(pod_name);
                        }
                        "DaemonSet" => labels["controller-revision-hash"] = json!(revision),
                        _ => labels["job-name"] = json!(name),
                    }
                    let node = pinned.clone().or_else(|| {
                        (!ready_nodes.is_empty())
                            .then(|| ready_nodes[index % ready_nodes.len()].clone())
                    });
                    let mut spec = template["spec"].clone();
                    if let Some(node) = node {
                        spec["nodeName"] = json!(node);
                    }
                    let pod = json!({
                        "metadata": {
                            "name": pod_name,
                            "namespace": namespace,
                            "labels": labels,
                            "annotations": template["metadata"]["annotations"].clone(),
                            "ownerReferences": [{
                                "apiVersion": ty.api_version(),
                                "kind": ty.kind,
                                "name": name,
                                "uid": meta["uid"],
                                "controller": true,
                                "blockOwnerDeletion": true,
                            }],
                        },
                        "spec": spec,
                    });
                    let Ok(created) = self.store.create(pod_ty, namespace, pod) else {
                        continue;
                    };
                    let containers = container_names(&created);
                    let mut logs = self.logs.lock().unwrap();
                    let entry = logs
                        .entry((namespace.to_owned(), pod_name.clone()))
                        .or_default();
                    for c in containers {
                        entry.push(format!("{} [{c}] container started", now()));
                    }
                    created
                }
            };
            if self.update_pod_status(pod_ty, &pod, ready_nodes, crash.clone(), job) {
                ready += 1;
            }
        }
        let total = desired.len() as i64;
        let generation = meta["generation"].clone();
        let mut status = match ty.kind.as_str() {
            "DaemonSet" => json!({
                "currentNumberScheduled": total, "desiredNumberScheduled": total, "numberAvailable": ready,
                "numberReady": ready, "updatedNumberScheduled": total, "numberMisscheduled": 0, "observedGeneration": generation,
            }),
            "Job" => json!({
                "succeeded": 1, "active": 0, "startTime": meta["creationTimestamp"], "completionTime": meta["creationTimestamp"],
                "conditions": [{"type": "Complete", "status": "True"}],
            }),
            _ => json!({
                "replicas": total, "updatedReplicas": total, "readyReplicas": ready, "availableReplicas": ready,
                "currentReplicas": total, "observedGeneration": generation,
            }),
        };
        if ty.kind == "ReplicaSet" {
            status = json!({
                "replicas": total, "fullyLabeledReplicas": total, "readyReplicas": ready,
                "availableReplicas": ready, "observedGeneration": generation,
            });
        }
        if ty.kind == "StatefulSet" {
            status["currentRevision"] = json!(revision);
            status["updateRevision"] = json!(revision);
        }
        if workload["status"] != status {
            let mut updated = workload.clone();
            updated["status"] = status;
            let _ = self.store.update(ty, namespace, name, updated, true);
        }
    }

    /// The Deployment controller: one ReplicaSet per pod template (named by
    /// its hash, owned by the Deployment, carrying `pod-template-hash` in
    /// its selector, template and labels, and the Deployment's revision),
    /// older ones scaled to zero, and the Deployment's status from them.
    fn reconcile_deployment(
        &self,
        ty: &ResourceType,
        rs_ty: &ResourceType,
        deployment: &Value,
        sets: &[Value],
    ) {
        let meta = &deployment["metadata"];
        let name = meta["name"].as_str().unwrap_or_default();
        let namespace = meta["namespace"].as_str().unwrap_or_default();
        let uid = meta["uid"].as_str().unwrap_or_default();
        let spec = &deployment["spec"];
        let hash = template_hash(&spec["template"]);
        let wanted = spec["replicas"].as_i64().unwrap_or(1);
        let rs_name = format!("{name}-{hash}");
        let owned: Vec<&Value> = sets
            .iter()
            .filter(|rs| {
                rs["metadata"]["namespace"] == namespace
                    && rs["metadata"]["ownerReferences"]
                        .as_array()
                        .is_some_and(|o| o.iter().any(|r| r["uid"] == uid))
            })
            .collect();
        let revision_of = |rs: &Value| {
            rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                .as_str()
                .and_then(|r| r.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let newest = owned.iter().map(|rs| revision_of(rs)).max().unwrap_or(0);
        let current = owned
            .iter()
            .find(|rs| rs["metadata"]["name"] == rs_name.as_str());
        let revision = match current {
            Some(rs) => revision_of(rs),
            None => newest + 1,
        };
        let new_set = match current {
            Some(rs) if rs["spec"]["replicas"].as_i64() == Some(wanted) => (*rs).clone(),
            Some(rs) => {
                let mut rs = (*rs).clone();
                rs["spec"]["replicas"] = json!(wanted);
                match self.store.update(rs_ty, namespace, &rs_name, rs, false) {
                    Ok(rs) => rs,
                    Err(_) => return,
                }
            }
            None => {
                let mut template = spec["template"].clone();
                template["metadata"]["labels"]["pod-template-hash"] = json!(hash);
                let mut selector = spec["selector"].clone();
                selector["matchLabels"]["pod-template-hash"] = json!(hash);
                let rs = json!({
                    "metadata": {
                        "name": rs_name,
                        "namespace": namespace,
                        "labels": template["metadata"]["labels"].clone(),
                        "annotations": {
                            "deployment.kubernetes.io/revision": revision.to_string(),
                            "deployment.kubernetes.io/desired-replicas": wanted.to_string(),
                            "deployment.kubernetes.io/max-replicas": wanted.to_string(),
                        },
                        "ownerReferences": [{
                            "apiVersion": ty.api_version(), "kind": ty.kind, "name": name,
                            "uid": uid, "controller": true, "blockOwnerDeletion": true,
                        }],
                    },
                    "spec": {"replicas": wanted, "selector": selector, "template": template},
                });
                match self.store.create(rs_ty, namespace, rs) {
                    Ok(rs) => rs,
                    Err(_) => return,
                }
            }
        };
        for old in owned
            .iter()
            .filter(|rs| rs["metadata"]["name"] != rs_name.as_str())
        {
            if old["spec"]["replicas"].as_i64() != Some(0) {
                let mut old = (*old).clone();
                old["spec"]["replicas"] = json!(0);
                let old_name = old["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let _ = self.store.update(rs_ty, namespace, &old_name, old, false);
            }
        }
        let status_of = |field: &str| new_set["status"][field].as_i64().unwrap_or(0);
        let (ready, total) = (status_of("readyReplicas"), status_of("replicas"));
        let observed_by_set =
            new_set["status"]["observedGeneration"] == new_set["metadata"]["generation"];
        let complete = observed_by_set && total == wanted && ready == wanted;
        let mut status = json!({
            "replicas": total, "updatedReplicas": total, "readyReplicas": ready,
            "availableReplicas": ready, "observedGeneration": meta["generation"],
            "conditions": [
                {"type": "Available", "status": if ready >= wanted { "True" } else { "False" },
                 "reason": if ready >= wanted { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" }},
                {"type": "Progressing", "status": "True",
                 "reason": if complete { "NewReplicaSetAvailable" } else { "ReplicaSetUpdated" }},
            ],
        });
        if ready < wanted {
            status["unavailableReplicas"] = json!(wanted - ready);
        }
        if deployment["status"] != status {
            let mut updated = deployment.clone();
            updated["status"] = status;
            let _ = self.store.update(ty, namespace, name, updated, true);
        }
        if meta["annotations"]["deployment.kubernetes.io/revision"].as_str()
            != Some(revision.to_string().as_str())
        {
            let mut updated = deployment.clone();
            updated["metadata"]["annotations"]["deployment.kubernetes.io/revision"] =
                json!(revision.to_string());
            let _ = self.store.update(ty, namespace, name, updated, false);
        }
    }

    /// Writes the pod's status; whether it is Ready.
    fn update_pod_status(
        &self,
        pod_ty: &ResourceType,
        pod: &Value,
        ready_nodes: &[String],
        crash: Option<Vec<String>>,
        job: bool,
    ) -> bool {
        let namespace = pod["metadata"]["namespace"].as_str().unwrap_or_default();
        let name = pod["metadata"]["name"].as_str().unwrap_or_default();
        let key = format!("{namespace}/{name}");
        let node = pod["spec"]["nodeName"].as_str();
        let scheduled = node.is_some();
        let node_ready = node.is_some_and(|n| ready_nodes.iter().any(|r| r == n));
        let restarts = match &crash {
            Some(lines) if node_ready => {
                let mut started = self.crash_started.lock().unwrap();
                let first = !started.contains_key(&key);
                let since = *started.entry(key.clone()).or_insert_with(Instant::now);
                let restarts = since.elapsed().as_secs() / 2 + 1;
                if first {
                    let mut logs = self.logs.lock().unwrap();
                    let entry = logs
                        .entry((namespace.to_owned(), name.to_owned()))
                        .or_default();
                    entry.extend(lines.iter().cloned());
                    drop(logs);
                    self.record_event(
                        namespace,
                        name,
                        "BackOff",
                        "Back-off restarting failed container",
                    );
                }
                restarts
            }
            _ => {
                self.crash_started.lock().unwrap().remove(&key);
                previous_restarts(pod)
            }
        };
        let crashing = crash.is_some() && node_ready;
        let ready = node_ready && !crashing && !job;
        let ready_word = if ready { "True" } else { "False" };
        let start = pod["metadata"]["creationTimestamp"].clone();
        let statuses: Vec<Value> = pod["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let state = if job {
                    json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": start, "finishedAt": start}})
                } else if crashing {
                    json!({"waiting": {"reason": "CrashLoopBackOff", "message": format!("back-off restarting failed container {} in pod {name}", c["name"].as_str().unwrap_or_default())}})
                } else if node_ready {
                    json!({"running": {"startedAt": start}})
                } else {
                    json!({"waiting": {"reason": "ContainerCreating"}})
                };
                let mut status = json!({
                    "name": c["name"], "image": c["image"], "imageID": "", "ready": ready,
                    "restartCount": restarts, "started": ready, "state": state,
                });
                if crashing {
                    status["lastState"] = json!({"terminated": {"exitCode": 1, "reason": "Error", "startedAt": start, "finishedAt": start}});
                }
                status
            })
            .collect();
        let phase = if job && node_ready {
            "Succeeded"
        } else if scheduled && (node_ready || crashing) {
            "Running"
        } else {
            "Pending"
        };
        let status = json!({
            "phase": phase,
            "conditions": [
                {"type": "PodScheduled", "status": if scheduled { "True" } else { "False" }},
                {"type": "Initialized", "status": "True"},
                {"type": "ContainersReady", "status": ready_word},
                {"type": "Ready", "status": ready_word},
            ],
            "hostIP": if scheduled { "172.18.0.2" } else { "" },
            "podIP": if scheduled { "10.244.0.10" } else { "" },
            "startTime": start,
            "containerStatuses": statuses,
        });
        if pod["status"] != status {
            let mut updated = pod.clone();
            updated["status"] = status;
            let _ = self.store.update(pod_ty, namespace, name, updated, true);
        }
        ready
    }

    fn record_event(&self, namespace: &str, pod: &str, reason: &str, message: &str) {
        let Some(ty) = self.ty("", "events") else {
            return;
        };
        let event = json!({
            "metadata": {"generateName": format!("{pod}."), "namespace": namespace},
            "involvedObject": {"kind": "Pod", "name": pod, "namespace": namespace, "apiVersion": "v1"},
            "reason": reason,
            "message": message,
            "type": "Warning",
            "count": 1,
            "firstTimestamp": now(),
            "lastTimestamp": now(),
            "source": {"component": "kubelet"},
        });
        let _ = self.store.create(&ty, namespace, event);
    }
}

/// The kind and name of an object's controller, from its owner references.
fn controller(object: &Value) -> Option<(&str, &str)> {
    object["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|r| r["controller"] == true)
        .and_then(|r| Some((r["kind"].as_str()?, r["name"].as_str()?)))
}

fn node_ready(node: &Value) -> bool {
    node["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

fn replicas(workload: &Value) -> usize {
    workload["spec"]["replicas"].as_u64().unwrap_or(1) as usize
}

fn previous_restarts(pod: &Value) -> u64 {
    pod["status"]["containerStatuses"][0]["restartCount"]
        .as_u64()
        .unwrap_or(0)
}

fn container_names(pod: &Value) -> Vec<String> {
    pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(str::to_owned))
        .collect()
}

/// A pod-template hash: ten characters from the template's content.
pub fn template_hash(template: &Value) -> String {
    let digest = Sha256::digest(serde_json::to_vec(template).unwrap_or_default());
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    digest
        .iter()
        .take(10)
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

fn suffix(seed: &str) -> String {
    template_hash(&json!(seed))[..5].to_owned()
}
