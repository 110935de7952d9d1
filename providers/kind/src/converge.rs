//! Changing the cluster: `kind create cluster` with the spec's effective
//! config, readiness checked by kindform itself (kind's `--wait` never
//! fails), the repair ladders the plan showed (start or wait, restart, then
//! rebuild), `kind delete cluster`, and the applied record.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use kindform_api::provider::{Diff, Effect, Outcome, Progress};
use kindform_api::{Address, ClusterSpec};
use kindform_kube::{AppliedRecord, RecordEntry};

use crate::cluster::{ClusterError, ClusterLive, ClusterProvider, node_ready, stuck_names};
use crate::kind_cli;
use crate::settings::settings;

/// How long a new cluster may take to be ready.
const CREATE_READY: Duration = Duration::from_secs(300);
/// How long started nodes may take.
const START_READY: Duration = Duration::from_secs(120);
/// How long to wait for an API that does not answer before restarting.
const API_GRACE: Duration = Duration::from_secs(60);

/// How long each wait of a create or a repair may take.
pub(crate) struct Waits {
    /// After `kind create cluster`.
    pub create: Duration,
    /// After starting or restarting node containers.
    pub start: Duration,
    /// For an API that does not answer, before restarting.
    pub grace: Duration,
}

impl Waits {
    /// The spec's `ready_timeout` for every wait (half of it for the
    /// grace), or kindform's defaults.
    pub fn of(desired: &ClusterSpec) -> Waits {
        match desired.ready_timeout {
            Some(t) => Waits {
                create: t.get(),
                start: t.get(),
                grace: t.get() / 2,
            },
            None => Waits {
                create: CREATE_READY,
                start: START_READY,
                grace: API_GRACE,
            },
        }
    }

    /// A wait as the plan's steps write it (`2m`, `90s`).
    pub fn shown(d: Duration) -> String {
        kindform_api::Duration::new(d).to_string()
    }
}

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

    /// `kind create cluster` with the effective config, then readiness and
    /// the applied record.
    pub async fn create(
        &self,
        desired: &ClusterSpec,
        progress: &dyn Progress,
    ) -> Result<(), ClusterError> {
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
        progress.step(&format!("kind create cluster --name {}", desired.name));
        let config_arg = config.display().to_string();
        let kubeconfig_arg = self.kubeconfig.display().to_string();
        kind_cli::run(&[
            "create",
            "cluster",
            "--name",
            &desired.name,
            "--config",
            &config_arg,
            "--kubeconfig",
            &kubeconfig_arg,
        ])
        .await?;
        progress.step("wait for the API and every node to be Ready");
        let client = self.wait_ready(desired, Waits::of(desired).create).await?;
        progress.step("record the cluster's settings in the applied record");
        record(&client, desired).await
    }

    /// `kind delete cluster` (safe to repeat: kind exits 0 when it is gone).
    pub async fn delete_cluster(
        &self,
        desired: &ClusterSpec,
        progress: &dyn Progress,
    ) -> Result<(), ClusterError> {
        progress.step(&format!("kind delete cluster --name {}", desired.name));
        let kubeconfig_arg = self.kubeconfig.display().to_string();
        kind_cli::run(&[
            "delete",
            "cluster",
            "--name",
            &desired.name,
            "--kubeconfig",
            &kubeconfig_arg,
        ])
        .await?;
        Ok(())
    }

    /// Deletes the cluster and makes it again (`why` says what forces it),
    /// unless the spec or the command line forbids rebuilding it.
    pub async fn replace(
        &self,
        desired: &ClusterSpec,
        why: &str,
        progress: &dyn Progress,
    ) -> Result<(), ClusterError> {
        if !desired.allow_rebuild {
            return Err(ClusterError::RebuildForbidden {
                cluster: desired.name.clone(),
                why: why.to_owned(),
            });
        }
        self.delete_cluster(desired, progress).await?;
        self.create(desired, progress).await
    }

    async fn rebuild(
        &self,
        desired: &ClusterSpec,
        why: &ClusterError,
        progress: &dyn Progress,
    ) -> Result<Outcome, ClusterError> {
        if !desired.allow_rebuild {
            return Err(ClusterError::RebuildForbidden {
                cluster: desired.name.clone(),
                why: kindform_api::provider::error_chain(why),
            });
        }
        progress.step(&format!("replace the cluster \"{}\" ({why})", desired.name));
        self.delete_cluster(desired, progress).await?;
        self.create(desired, progress).await?;
        Ok(Outcome::Rebuilt)
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

    /// Does the steps of `diff`, in order; the ladders escalate only as far
    /// as the plan said.
    pub async fn converge(
        &self,
        desired: &ClusterSpec,
        live: &ClusterLive,
        diff: &Diff,
        stopped: &[String],
        not_ready: &[String],
        progress: &dyn Progress,
    ) -> Result<Outcome, ClusterError> {
        let has = |e: Effect| diff.differences.iter().any(|d| d.effect == e);
        if has(Effect::ForcesReplacement) {
            let why: Vec<&str> = diff
                .differences
                .iter()
                .filter(|d| d.effect == Effect::ForcesReplacement)
                .map(|d| d.detail.as_str())
                .collect();
            self.replace(desired, &why.join("; "), progress).await?;
            return Ok(Outcome::Done);
        }
        if has(Effect::Create) {
            self.create(desired, progress).await?;
            return Ok(Outcome::Done);
        }
        let control_plane = format!("{}-control-plane", desired.name);
        let waits = Waits::of(desired);
        let (start, grace) = (Waits::shown(waits.start), Waits::shown(waits.grace));
        for difference in &diff.differences {
            match difference.reason.as_str() {
                "node-stopped" => {
                    progress.step(&format!(
                        "start stopped node containers: {}",
                        stopped.join(", ")
                    ));
                    for node in stopped {
                        self.docker_node(node, false).await?;
                    }
                    progress.step(&format!(
                        "wait for the API and every node to be Ready ({start})"
                    ));
                    if let Err(e) = self.wait_ready(desired, waits.start).await {
                        return self.rebuild(desired, &e, progress).await;
                    }
                }
                "api-unreachable" => {
                    progress.step(&format!("wait for the API to answer ({grace})"));
                    if self.wait_ready(desired, waits.grace).await.is_err() {
                        progress.step(&format!(
                            "restart the {control_plane} container and wait for the API ({start})"
                        ));
                        self.docker_node(&control_plane, true).await?;
                        if let Err(e) = self.wait_ready(desired, waits.start).await {
                            return self.rebuild(desired, &e, progress).await;
                        }
                    }
                }
                "node-not-ready" => {
                    progress.step(&format!("wait for every node to be Ready ({start})"));
                    if self.wait_ready(desired, waits.start).await.is_err() {
                        progress.step(&format!(
                            "restart the containers of nodes still not Ready: {}",
                            not_ready.join(", ")
                        ));
                        for node in not_ready {
                            self.docker_node(node, true).await?;
                        }
                        self.wait_ready(desired, waits.start).await?;
                    }
                }
                "system-pods-stuck" => {
                    progress.step(&format!(
                        "rollout restart the stuck kube-system workloads: {}",
                        stuck_names(live)
                    ));
                    let client = self.wait_ready(desired, waits.grace).await?;
                    progress.step(&format!("wait for them to roll out ({start})"));
                    kindform_kube::rollout::restart_and_wait(
                        &client,
                        &live.stuck_system,
                        waits.start,
                    )
                    .await?;
                }
                "unrecorded" => {
                    progress.step(
                        "record the cluster's settings in the applied record (kube-system/kindform)",
                    );
                    let client = self.wait_ready(desired, waits.grace).await?;
                    record(&client, desired).await?;
                }
                _ => {}
            }
        }
        Ok(Outcome::Done)
    }
}

/// What the applied record keeps for the cluster: its effective config.
pub fn record_entry(desired: &ClusterSpec) -> RecordEntry {
    let settings = settings(desired);
    RecordEntry {
        fingerprint: kindform_api::settings::fingerprint(&settings),
        settings,
    }
}

async fn record(client: &kube::Client, desired: &ClusterSpec) -> Result<(), ClusterError> {
    AppliedRecord::write(
        client,
        &Address::Cluster.to_string(),
        &record_entry(desired),
    )
    .await?;
    Ok(())
}
