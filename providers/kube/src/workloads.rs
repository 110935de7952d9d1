//! The workloads of a cluster and the images their pods run: what an image
//! reload must restart. Read once per plan (three lists), not per image.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::api::ListParams;
use serde::{Deserialize, Serialize};

/// A workload and the images of its pod template.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Workload {
    /// `deployment`, `statefulset` or `daemonset` (as `kubectl rollout` names them).
    pub kind: String,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The images of its containers and init containers, as written.
    pub images: Vec<String>,
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
        /// Which kind.
        kind: &'static str,
        /// Why.
        #[source]
        source: kube::Error,
    },
}

fn images(template: Option<&PodTemplateSpec>) -> Vec<String> {
    let Some(spec) = template.and_then(|t| t.spec.as_ref()) else {
        return Vec::new();
    };
    spec.init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter())
        .filter_map(|c| c.image.clone())
        .collect()
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
    for d in deployments {
        found.push(workload(
            "deployment",
            &d.metadata,
            images(Some(&d.spec.template)),
        ));
    }
    let statefulsets = kube::Api::<StatefulSet>::all(client.clone())
        .list(&params)
        .await
        .map_err(|source| WorkloadsError::List {
            kind: "statefulset",
            source,
        })?;
    for s in statefulsets {
        found.push(workload(
            "statefulset",
            &s.metadata,
            images(Some(&s.spec.template)),
        ));
    }
    let daemonsets = kube::Api::<DaemonSet>::all(client.clone())
        .list(&params)
        .await
        .map_err(|source| WorkloadsError::List {
            kind: "daemonset",
            source,
        })?;
    for d in daemonsets {
        found.push(workload(
            "daemonset",
            &d.metadata,
            images(Some(&d.spec.template)),
        ));
    }
    found.sort();
    Ok(found)
}

fn workload(
    kind: &str,
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    images: Vec<String>,
) -> Workload {
    Workload {
        kind: kind.to_owned(),
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
        images,
    }
}
