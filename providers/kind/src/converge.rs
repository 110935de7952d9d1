//! Changing the cluster: doing the planned [`ClusterStep`]s in order.
//! `kind create cluster` with the spec's effective config, readiness checked
//! by kindform itself (kind's `--wait` never fails), the repair ladders the
//! plan showed (start or wait, restart, then rebuild; a rung runs only when
//! the step before it failed), `kind delete cluster`, and the applied record.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use kindform_api::provider::{Outcome, Progress, error_chain};
use kindform_api::{Address, ClusterSpec};
use kindform_kube::AppliedRecord;

use crate::cluster::{ClusterError, ClusterProvider, node_ready};
use crate::kind_cli;
use crate::settings::{Waits, record_entry};
use crate::step::ClusterStep;

impl ClusterProvider {
    fn context(desired: &ClusterSpec) -> String {
        format!("kind-{}", desired.name)
    }

    /// A client, once the API answers; the kubeconfig is fetched again
    /// when missing.
    async fn ready_client(&self, desired: &ClusterSpec) -> Result<kube::Client, String> {
        if !self.kubeconfig.is_file() {
            kind_cli::fetch_kubeconfig(&desired.name, &self.kubeconfig)
                .await
                .map_err(|e| e.to_string())?;
        }
        kindform_kube::connect(
            &self.kubeconfig,
            &Self::context(desired),
            Duration::from_secs(5),
        )
        .await
        .map_err(|e| e.to_string())
    }

    /// Waits until the API answers and every node of the spec is Ready.
    pub async fn wait_ready(
        &self,
        desired: &ClusterSpec,
        timeout: Duration,
    ) -> Result<kube::Client, ClusterError> {
        let started = Instant::now();
        let wanted = desired.node_names().len();
        let mut last = String::from("not looked yet");
        while started.elapsed() < timeout {
            match self.ready_client(desired).await {
                Ok(client) => match kube::Api::<Node>::all(client.clone())
                    .list(&Default::default())
                    .await
                {
                    Ok(nodes) => {
                        let ready = nodes.items.iter().filter(|n| node_ready(n)).count();
                        if ready >= wanted {
                            return Ok(client);
                        }
                        last = format!("{ready} of {wanted} nodes Ready");
                    }
                    Err(e) => last = e.to_string(),
                },
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(ClusterError::NotReady {
            waited: timeout.as_secs(),
            last,
        })
    }

    /// `kind create cluster` with the effective config.
    async fn create(&self, desired: &ClusterSpec) -> Result<(), ClusterError> {
        let dir = self
            .kubeconfig
            .parent()
            .map(ToOwned::to_owned)
            .unwrap_or_default();
        let config = dir.join("kind-config.yaml");
        let yaml = serde_yaml_ng::to_string(&desired.effective_config()).unwrap_or_default();
        let written = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&config, yaml));
        written.map_err(|source| ClusterError::Config {
            path: config.clone(),
            source,
        })?;
        // kind makes a relative `extraMounts` host path absolute against
        // its own folder: run it in the spec's, where the path was written.
        kind_cli::run(
            kind_cli::create_cluster(&desired.name, &config, &self.kubeconfig)
                .current_dir(&self.base_dir),
        )
        .await?;
        Ok(())
    }

    /// `kind delete cluster` (safe to repeat: kind exits 0 when it is gone).
    async fn delete_cluster(&self, desired: &ClusterSpec) -> Result<(), ClusterError> {
        kind_cli::run(kind_cli::delete_cluster(&desired.name, &self.kubeconfig)).await?;
        Ok(())
    }

    async fn docker_node(&self, node: &str, restart: bool) -> Result<(), ClusterError> {
        let done = if restart {
            self.docker
                .restart_container(
                    node,
                    None::<bollard::query_parameters::RestartContainerOptions>,
                )
                .await
        } else {
            self.docker
                .start_container(
                    node,
                    None::<bollard::query_parameters::StartContainerOptions>,
                )
                .await
        };
        done.map_err(|source| ClusterError::Node {
            what: if restart { "restart" } else { "start" },
            node: node.to_owned(),
            source,
        })
    }

    /// Does `steps` in order. A rung of a ladder runs only when the step
    /// before it failed (that failure is what it answers); otherwise it and
    /// the rungs after it are passed over.
    pub(crate) async fn converge(
        &self,
        desired: &ClusterSpec,
        steps: &[ClusterStep],
        progress: &dyn Progress,
    ) -> Result<Outcome, ClusterError> {
        let mut outcome = Outcome::Done;
        let mut failed: Option<ClusterError> = None;
        for (at, step) in steps.iter().enumerate() {
            if step.escalates() && failed.is_none() {
                continue;
            }
            if !step.escalates() {
                if let Some(e) = failed.take() {
                    return Err(e);
                }
            }
            let why = failed.take();
            progress.step(&step.to_string());
            let next_escalates = steps.get(at + 1).is_some_and(ClusterStep::escalates);
            match self.run(desired, step, why.as_ref(), progress).await {
                Ok(done) => outcome = done,
                Err(e) if next_escalates => failed = Some(e),
                Err(e) => return Err(e),
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(outcome),
        }
    }

    /// Does one step; `why` is the failure a rung answers.
    async fn run(
        &self,
        desired: &ClusterSpec,
        step: &ClusterStep,
        why: Option<&ClusterError>,
        progress: &dyn Progress,
    ) -> Result<Outcome, ClusterError> {
        let waits = Waits::of(desired);
        let forbidden = |why: String| ClusterError::RebuildForbidden {
            cluster: desired.name.clone(),
            why,
        };
        match step {
            ClusterStep::Create { .. } => self.create(desired).await?,
            ClusterStep::AwaitCreated => {
                self.wait_ready(desired, waits.create).await?;
            }
            ClusterStep::Delete { .. } => self.delete_cluster(desired).await?,
            ClusterStep::RefuseReplace { why, .. } => return Err(forbidden(why.clone())),
            ClusterStep::StartNodes { nodes } => {
                for node in nodes {
                    self.docker_node(node, false).await?;
                }
            }
            ClusterStep::AwaitReady { wait }
            | ClusterStep::AwaitApi { wait }
            | ClusterStep::AwaitNodes { wait } => {
                self.wait_ready(desired, wait.get()).await?;
            }
            ClusterStep::RestartControlPlane { container, wait } => {
                self.docker_node(container, true).await?;
                self.wait_ready(desired, wait.get()).await?;
            }
            ClusterStep::RestartNotReady { nodes, wait } => {
                for node in nodes {
                    self.docker_node(node, true).await?;
                }
                self.wait_ready(desired, wait.get()).await?;
            }
            ClusterStep::Rebuild { .. } => {
                for inner in crate::diff::replace_steps(desired, "") {
                    progress.step(&inner.to_string());
                    Box::pin(self.run(desired, &inner, None, progress)).await?;
                }
                return Ok(Outcome::Rebuilt);
            }
            ClusterStep::RefuseRebuild { .. } => {
                let why = why.map(|e| error_chain(e)).unwrap_or_default();
                return Err(forbidden(why));
            }
            ClusterStep::RestartSystem { workloads } => {
                let client = self.wait_ready(desired, waits.grace).await?;
                for workload in workloads {
                    kindform_kube::rollout::restart(&client, workload).await?;
                }
            }
            ClusterStep::AwaitSystem { workloads, wait } => {
                let client = self.wait_ready(desired, waits.grace).await?;
                for workload in workloads {
                    kindform_kube::rollout::wait_rolled_out(&client, workload, wait.get()).await?;
                }
            }
            ClusterStep::Record => {
                let client = self.wait_ready(desired, waits.grace).await?;
                record(&client, &self.environment, desired).await?;
            }
        }
        Ok(Outcome::Done)
    }
}

async fn record(
    client: &kube::Client,
    environment: &str,
    desired: &ClusterSpec,
) -> Result<(), ClusterError> {
    AppliedRecord::write(
        client,
        environment,
        &Address::Cluster.to_string(),
        &record_entry(desired),
    )
    .await?;
    Ok(())
}
