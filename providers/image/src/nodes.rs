//! What each node holds: one plain (not privileged) exec of
//! `ctr --namespace=k8s.io images ls -q` per node, shared by every image of
//! the plan. A node holds an image exactly when the local Docker image ID is
//! among its refs (containerd lists `sha256:<ID>` beside the tags).

use std::collections::{BTreeMap, BTreeSet};

use bollard::Docker;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use futures::StreamExt as _;

/// The refs each node's containerd holds, or why it could not be read.
pub type NodeRefs = BTreeMap<String, Result<BTreeSet<String>, String>>;

/// Output and exit code of a command run in a container.
pub(crate) struct Ran {
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) code: i64,
}

/// Runs `cmd` in a container with a plain (not privileged) exec.
pub(crate) async fn exec(
    docker: &Docker,
    container: &str,
    cmd: &[&str],
) -> Result<Ran, bollard::errors::Error> {
    let config = ExecConfig {
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        cmd: Some(cmd.iter().map(|s| (*s).to_owned()).collect()),
        ..Default::default()
    };
    let id = docker.create_exec(container, config).await?.id;
    let started = docker
        .start_exec(
            &id,
            Some(StartExecOptions {
                detach: false,
                ..Default::default()
            }),
        )
        .await?;
    let mut ran = Ran {
        stdout: String::new(),
        stderr: String::new(),
        code: -1,
    };
    if let StartExecResults::Attached { mut output, .. } = started {
        while let Some(item) = output.next().await {
            match item? {
                bollard::container::LogOutput::StdErr { message } => {
                    ran.stderr.push_str(&String::from_utf8_lossy(&message))
                }
                other => ran
                    .stdout
                    .push_str(&String::from_utf8_lossy(&other.into_bytes())),
            }
        }
    }
    ran.code = docker.inspect_exec(&id).await?.exit_code.unwrap_or(-1);
    Ok(ran)
}

/// The image refs of one node.
pub async fn node_refs(docker: &Docker, node: &str) -> Result<BTreeSet<String>, String> {
    let started = std::time::Instant::now();
    let ran = exec(
        docker,
        node,
        &["ctr", "--namespace=k8s.io", "images", "ls", "-q"],
    )
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
