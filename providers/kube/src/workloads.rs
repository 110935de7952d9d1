//! The workloads of a cluster: the images their pods run (what an image
//! reload must restart), the Helm release that owns them, the labels that
//! choose their pods, and how far they have rolled out (for health). Read
//! once per run (three lists), not per resource.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::api::ListParams;
use serde::{Deserialize, Serialize};

/// A workload, its pods' images and where it stands.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Workload {
    /// `deployment`, `statefulset` or `daemonset` (as `kubectl rollout` names them).
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// The images of its containers and init containers, as written.
    pub images: Vec<String>,
    /// The Helm release that owns it (`meta.helm.sh/release-name`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// The labels that choose its pods.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
    /// How far it has rolled out when it has not (`1 of 2 available`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolling: Option<String>,
}

impl Workload {
    /// Whether it belongs to Helm release `release` in `namespace`.
    pub fn of_release(&self, release: &str, namespace: &str) -> bool {
        self.release.as_deref() == Some(release) && self.namespace == namespace
    }

    /// Whether `pod` is one of its pods: same namespace, labels its
    /// selector chooses.
    pub fn runs(&self, pod: &crate::pods::PodState) -> bool {
        pod.namespace == self.namespace
            && !self.selector.is_empty()
            && self
                .selector
                .iter()
                .all(|(k, v)| pod.labels.get(k) == Some(v))
    }
}

impl std::fmt::Display for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{} in {}", self.kind, self.name, self.namespace)
    }
}

/// Why workloads could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadsError {
    /// The API refused a list.
    #[error("cannot list {kind}s")]
    List {
        kind: &'static str,
        #[source]
        source: kube::Error,
    },
}

fn images(template: &PodTemplateSpec) -> Vec<String> {
    let Some(spec) = template.spec.as_ref() else {
        return Vec::new();
    };
    spec.init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter())
        .filter_map(|c| c.image.clone())
        .collect()
}

fn workload(
    kind: &str,
    meta: &ObjectMeta,
    template: &PodTemplateSpec,
    selector: &LabelSelector,
    rolling: Option<String>,
) -> Workload {
    Workload {
        kind: kind.to_owned(),
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
        images: images(template),
        release: meta
            .annotations
            .as_ref()
            .and_then(|a| a.get("meta.helm.sh/release-name"))
            .cloned(),
        selector: selector.match_labels.clone().unwrap_or_default(),
        rolling,
    }
}

/// How far a deployment has rolled out; `None` when it has.
pub fn deployment_rolling(d: &Deployment) -> Option<String> {
    let want = d.spec.replicas.unwrap_or(1);
    let s = d.status.clone().unwrap_or_default();
    let generation = d.metadata.generation.unwrap_or(0);
    let observed = s.observed_generation.unwrap_or(0);
    let updated = s.updated_replicas.unwrap_or(0);
    let available = s.available_replicas.unwrap_or(0);
    let total = s.replicas.unwrap_or(0);
    (observed < generation || updated < want || available < want || total > want)
        .then(|| format!("{updated} of {want} updated, {available} available, {total} in all"))
}

/// How far a statefulset has rolled out; `None` when it has.
pub fn statefulset_rolling(d: &StatefulSet) -> Option<String> {
    let want = d.spec.replicas.unwrap_or(1);
    let s = d.status.clone().unwrap_or_default();
    let updated = s.updated_replicas.unwrap_or(0);
    let ready = s.ready_replicas.unwrap_or(0);
    let same_revision = s.current_revision == s.update_revision;
    (updated < want || ready < want || !same_revision)
        .then(|| format!("{updated} of {want} updated, {ready} ready"))
}

/// How far a daemonset has rolled out; `None` when it has.
pub fn daemonset_rolling(d: &DaemonSet) -> Option<String> {
    let s = d.status.clone().unwrap_or_default();
    let want = s.desired_number_scheduled;
    let updated = s.updated_number_scheduled.unwrap_or(0);
    let available = s.number_available.unwrap_or(0);
    (updated < want || available < want)
        .then(|| format!("{updated} of {want} updated, {available} available"))
}

/// Every deployment, statefulset and daemonset in every namespace.
pub async fn workloads(client: &kube::Client) -> Result<Vec<Workload>, WorkloadsError> {
    let params = ListParams::default();
    let mut found = Vec::new();
    let deployments = kube::Api::<Deployment>::all(client.clone())
        .list(&params)
        .await
        .map_err(|source| WorkloadsError::List {
            kind: "deployment",
            source,
        })?;
    for d in &deployments {
        found.push(workload(
            "deployment",
            &d.metadata,
            &d.spec.template,
            &d.spec.selector,
            deployment_rolling(d),
        ));
    }
    let statefulsets = kube::Api::<StatefulSet>::all(client.clone())
        .list(&params)
        .await
        .map_err(|source| WorkloadsError::List {
            kind: "statefulset",
            source,
        })?;
    for s in &statefulsets {
        found.push(workload(
            "statefulset",
            &s.metadata,
            &s.spec.template,
            &s.spec.selector,
            statefulset_rolling(s),
        ));
    }
    let daemonsets = kube::Api::<DaemonSet>::all(client.clone())
        .list(&params)
        .await
        .map_err(|source| WorkloadsError::List {
            kind: "daemonset",
            source,
        })?;
    for d in &daemonsets {
        found.push(workload(
            "daemonset",
            &d.metadata,
            &d.spec.template,
            &d.spec.selector,
            daemonset_rolling(d),
        ));
    }
    found.sort();
    Ok(found)
}
