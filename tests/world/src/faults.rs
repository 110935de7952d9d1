//! Faults a test can cause, each as the real event would happen: node
//! containers stopped, started or removed in Docker; images removed from a
//! node with `ctr`; an image rebuilt under its tag; an object created by
//! hand; a workload crash-looping; the API
//! unreachable while the containers run; a tool failing once
//! ([`World::fail_once`]).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bollard::query_parameters::{StartContainerOptions, StopContainerOptionsBuilder};
use serde_json::Value;

use crate::apiserver::kubelet::WorkloadRef;
use crate::docker::{exec, remove_containers};
use crate::{Cluster, World};

/// Why a fault could not be caused.
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    /// Docker refused.
    #[error("docker: {0}")]
    Docker(#[from] bollard::errors::Error),
    /// The cluster is not one of this world's.
    #[error("no cluster `{0}` in this world")]
    NoCluster(String),
    /// Something else.
    #[error("{0}")]
    Other(String),
}

impl World {
    fn running(&self, cluster: &str) -> Result<Arc<Cluster>, FaultError> {
        self.cluster(cluster)
            .ok_or_else(|| FaultError::NoCluster(cluster.to_owned()))
    }

    async fn refresh(&self, cluster: &str) {
        if let Some(c) = self.cluster(cluster) {
            let shared = Arc::clone(self.shared());
            self.run(async move { c.follow_containers(&shared.docker, &shared.id).await })
                .await;
        }
    }

    /// `docker stop` a node container (its cluster notices at once).
    pub async fn stop_node(&self, cluster: &str, node: &str) -> Result<(), FaultError> {
        let (shared, node_name) = (Arc::clone(self.shared()), node.to_owned());
        self.run(async move {
            let options = StopContainerOptionsBuilder::default().t(1).build();
            shared
                .docker
                .stop_container(&node_name, Some(options))
                .await
        })
        .await?;
        self.refresh(cluster).await;
        Ok(())
    }

    /// `docker start` a node container.
    pub async fn start_node(&self, cluster: &str, node: &str) -> Result<(), FaultError> {
        let (shared, node_name) = (Arc::clone(self.shared()), node.to_owned());
        self.run(async move {
            shared
                .docker
                .start_container(&node_name, None::<StartContainerOptions>)
                .await
        })
        .await?;
        self.refresh(cluster).await;
        Ok(())
    }

    /// `docker rm -f -v` a node container.
    pub async fn remove_node(&self, cluster: &str, node: &str) -> Result<(), FaultError> {
        let (shared, node_name) = (Arc::clone(self.shared()), node.to_owned());
        self.run(async move { remove_containers(&shared.docker, &[node_name]).await })
            .await;
        self.refresh(cluster).await;
        Ok(())
    }

    /// Runs a command in a node with a plain exec; (exit code, stdout, stderr).
    pub async fn exec_in_node(
        &self,
        node: &str,
        cmd: &[&str],
    ) -> Result<(i64, String, String), FaultError> {
        let (shared, node_name) = (Arc::clone(self.shared()), node.to_owned());
        let cmd: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
        let out = self
            .run(async move {
                let refs: Vec<&str> = cmd.iter().map(String::as_str).collect();
                exec(&shared.docker, &node_name, &refs, None).await
            })
            .await?;
        Ok((out.code, out.stdout, out.stderr))
    }

    /// Makes `reference` a local busybox image that Dockerfiles can build
    /// `FROM` without a registry; returns its ID.
    pub async fn busybox_image(&self, reference: &str) -> Result<String, FaultError> {
        let (shared, reference) = (Arc::clone(self.shared()), reference.to_owned());
        Ok(self
            .run(async move { crate::test_image::busybox(&shared.docker, &reference).await })
            .await?)
    }

    /// Removes a local image (big test images are not worth keeping).
    pub async fn remove_local_image(&self, reference: &str) {
        let (shared, reference) = (Arc::clone(self.shared()), reference.to_owned());
        self.run(async move {
            let _ = shared
                .docker
                .remove_image(
                    &reference,
                    None::<bollard::query_parameters::RemoveImageOptions>,
                    None,
                )
                .await;
        })
        .await;
    }

    /// The local Docker ID of an image, if Docker has it.
    pub async fn image_id(&self, reference: &str) -> Option<String> {
        let (shared, reference) = (Arc::clone(self.shared()), reference.to_owned());
        self.run(async move { shared.docker.inspect_image(&reference).await.ok()?.id })
            .await
    }

    /// Whether a node holds the image whose local Docker ID is `id`.
    pub async fn node_has_image(&self, node: &str, id: &str) -> bool {
        let (shared, node_name, id) = (Arc::clone(self.shared()), node.to_owned(), id.to_owned());
        self.run(async move { crate::kind::node_has_image(&shared.docker, &node_name, &id).await })
            .await
    }

    /// Removes every ref of image `reference` from a node with `ctr images rm`.
    pub async fn remove_image_from_node(
        &self,
        node: &str,
        reference: &str,
    ) -> Result<(), FaultError> {
        let (_, listing, _) = self
            .exec_in_node(node, &["ctr", "--namespace=k8s.io", "images", "ls"])
            .await?;
        let full = if reference.contains('/') {
            format!("docker.io/{reference}")
        } else {
            format!("docker.io/library/{reference}")
        };
        let rows: Vec<Vec<&str>> = listing
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().collect())
            .collect();
        let digest = rows
            .iter()
            .find(|r| r.first().is_some_and(|n| *n == reference || *n == full))
            .and_then(|r| r.get(2).copied())
            .ok_or_else(|| FaultError::Other(format!("node {node} does not hold {reference}")))?
            .to_owned();
        let refs: Vec<String> = rows
            .iter()
            .filter(|r| r.get(2) == Some(&digest.as_str()))
            .map(|r| r[0].to_owned())
            .collect();
        let mut cmd = vec!["ctr", "--namespace=k8s.io", "images", "rm"];
        cmd.extend(refs.iter().map(String::as_str));
        let (code, _, err) = self.exec_in_node(node, &cmd).await?;
        if code != 0 {
            return Err(FaultError::Other(err));
        }
        // Docker image IDs are config digests; drop that ref too where listed.
        Ok(())
    }

    /// Builds (or rebuilds under the same tag, with a new ID) a small local
    /// image; returns its ID.
    pub async fn build_image(
        &self,
        reference: &str,
        seed: &str,
        size: usize,
    ) -> Result<String, FaultError> {
        let (shared, reference, seed) = (
            Arc::clone(self.shared()),
            reference.to_owned(),
            seed.to_owned(),
        );
        Ok(
            self.run(async move {
                crate::test_image::build(&shared.docker, &reference, &seed, size).await
            })
            .await?,
        )
    }

    /// [`World::build_image`] with image labels, as a Dockerfile's `LABEL`
    /// sets them.
    pub async fn build_image_labelled(
        &self,
        reference: &str,
        seed: &str,
        size: usize,
        labels: &[(&str, &str)],
    ) -> Result<String, FaultError> {
        let (shared, reference, seed) = (
            Arc::clone(self.shared()),
            reference.to_owned(),
            seed.to_owned(),
        );
        let labels: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Ok(self
            .run(async move {
                let labels: Vec<(&str, &str)> = labels
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                crate::test_image::build_labelled(&shared.docker, &reference, &seed, size, &labels)
                    .await
            })
            .await?)
    }

    /// Creates an object by hand (no Helm metadata), as `kubectl apply` would.
    pub fn create_object(&self, cluster: &str, object: Value) -> Result<Value, FaultError> {
        let c = self.running(cluster)?;
        let store = &c.api.store;
        let ty = store
            .type_of_kind(
                object["apiVersion"].as_str().unwrap_or_default(),
                object["kind"].as_str().unwrap_or_default(),
            )
            .ok_or_else(|| FaultError::Other("unknown kind".into()))?;
        let namespace = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_owned();
        store
            .create(&ty, &namespace, object)
            .map_err(|e| FaultError::Other(e.message))
    }

    /// Reads an object of a cluster.
    pub fn get_object(
        &self,
        cluster: &str,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Option<Value> {
        let c = self.cluster(cluster)?;
        let ty = c.api.store.type_of_kind(api_version, kind)?;
        c.api.store.get(&ty, namespace, name).ok()
    }

    /// Every revision Helm recorded of release `release` in `namespace`,
    /// oldest first, decoded from its Secrets.
    pub fn release_history(&self, cluster: &str, namespace: &str, release: &str) -> Vec<Value> {
        self.cluster(cluster)
            .map(|c| crate::release_records::history(&c.api.store, namespace, release))
            .unwrap_or_default()
    }

    /// Lists objects of a kind in a namespace (all namespaces with `None`).
    pub fn list_objects(
        &self,
        cluster: &str,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
    ) -> Vec<Value> {
        let Some(c) = self.cluster(cluster) else {
            return Vec::new();
        };
        let Some(ty) = c.api.store.type_of_kind(api_version, kind) else {
            return Vec::new();
        };
        c.api.store.list(&ty, namespace).1
    }

    /// Makes a workload's (or a bare pod's) containers crash-loop, logging
    /// `lines` before each crash.
    pub fn crash_loop(
        &self,
        cluster: &str,
        namespace: &str,
        kind: &str,
        name: &str,
        lines: &[&str],
    ) -> Result<(), FaultError> {
        self.crash(
            cluster,
            WorkloadRef::new(namespace, kind, name),
            lines,
            false,
        )
    }

    /// Makes a workload crash-loop until its pods are replaced by a rollout
    /// restart (as sidecars that lost their control plane do).
    pub fn crash_loop_until_restart(
        &self,
        cluster: &str,
        namespace: &str,
        kind: &str,
        name: &str,
        lines: &[&str],
    ) -> Result<(), FaultError> {
        self.crash(
            cluster,
            WorkloadRef::new(namespace, kind, name),
            lines,
            true,
        )
    }

    fn crash(
        &self,
        cluster: &str,
        workload: WorkloadRef,
        lines: &[&str],
        until_restart: bool,
    ) -> Result<(), FaultError> {
        let c = self.running(cluster)?;
        let lines = lines.iter().map(|l| l.to_string()).collect();
        c.kubelet.crash(workload, lines, until_restart);
        Ok(())
    }

    /// Lets a crash-looping workload run again.
    pub fn heal(
        &self,
        cluster: &str,
        namespace: &str,
        kind: &str,
        name: &str,
    ) -> Result<(), FaultError> {
        let c = self.running(cluster)?;
        c.kubelet.heal(&WorkloadRef::new(namespace, kind, name));
        Ok(())
    }

    /// Makes the API refuse connections while the node containers run (or
    /// lifts that).
    pub async fn set_api_unreachable(
        &self,
        cluster: &str,
        unreachable: bool,
    ) -> Result<(), FaultError> {
        let c = self.running(cluster)?;
        c.api_down.store(unreachable, Ordering::SeqCst);
        self.refresh(cluster).await;
        Ok(())
    }
}
