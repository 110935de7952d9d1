//! What each node holds: one plain (not privileged) exec of
//! `ctr --namespace=k8s.io images ls -q` per node, shared by every image of
//! the plan. A node holds an image exactly when the local Docker image ID is
//! among its refs (containerd lists `sha256:<ID>` beside the tags).

use std::collections::{BTreeMap, BTreeSet};

use bollard::Docker;

/// The refs each node's containerd holds, or why it could not be read.
pub type NodeRefs = BTreeMap<String, Result<BTreeSet<String>, String>>;

/// The image refs of one node.
pub async fn node_refs(docker: &Docker, node: &str) -> Result<BTreeSet<String>, String> {
    let started = std::time::Instant::now();
    let ran = crate::exec::run(docker, node, &crate::exec::list_images())
        .await
        .map_err(|e| e.to_string())?;
    tracing::debug!(
        "ctr images ls in {node}: exit {} in {} ms",
        ran.code,
        started.elapsed().as_millis()
    );
    if ran.code != 0 {
        return Err(format!(
            "`ctr images ls` exited with {}: {}",
            ran.code,
            ran.stderr.trim()
        ));
    }
    Ok(ran
        .stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

/// The refs of every node, the nodes read concurrently.
pub async fn all_node_refs(docker: &Docker, nodes: &[String]) -> NodeRefs {
    let reads = nodes
        .iter()
        .map(|node| async move { (node.clone(), node_refs(docker, node).await) });
    futures::future::join_all(reads).await.into_iter().collect()
}
