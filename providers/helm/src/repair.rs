//! Repairs of a release: recovering one stuck in `pending-*` before its
//! upgrade, the health ladder of one that matches the spec but is broken
//! (restart what is stuck; if it stays broken, roll back to the last good
//! revision or reinstall; then stop with an account), and the restart of
//! its workloads once a platform it runs on was repaired.

use kindform_api::{Duration, Health, HealthState};
use kindform_kube::Workload;

use crate::desired::DesiredRelease;
use crate::error::ReleaseError;
use crate::health::release_health;
use crate::provider::ReleaseProvider;
use crate::step::Fallback;

impl ReleaseProvider {
    /// The release's health now, read afresh.
    async fn health_now(&self, desired: &DesiredRelease) -> Result<Health, ReleaseError> {
        let client = self.objects.client();
        let workloads = kindform_kube::workloads(client)
            .await
            .map_err(|e| ReleaseError::Health(Box::new(e)))?;
        let pods = kindform_kube::pods::all(client)
            .await
            .map_err(|e| ReleaseError::Health(Box::new(e)))?;
        Ok(release_health(&desired.name, &desired.spec, &workloads, &pods).health)
    }

    /// Restarts every workload of the release and waits for each to roll
    /// out: what its pods need once the platform they run on (a sidecar
    /// injector, an operator) was repaired under them.
    pub(crate) async fn restart_workloads(
        &self,
        desired: &DesiredRelease,
        wait: Duration,
    ) -> Result<(), ReleaseError> {
        let client = self.objects.client();
        let workloads: Vec<Workload> = kindform_kube::workloads(client)
            .await
            .map_err(|e| ReleaseError::Health(Box::new(e)))?
            .into_iter()
            .filter(|w| w.of_release(&desired.name, &desired.spec.namespace))
            .collect();
        kindform_kube::rollout::restart_and_wait(client, &workloads, wait.get())
            .await
            .map_err(|e| ReleaseError::Health(Box::new(e)))
    }

    /// A rung of the health ladder: restart a stuck workload; a rollout
    /// that does not finish is judged by the health the fallback reads.
    pub(crate) async fn restart_stuck(
        &self,
        workload: &Workload,
        wait: Duration,
    ) -> Result<(), ReleaseError> {
        let client = self.objects.client();
        kindform_kube::rollout::restart(client, workload)
            .await
            .map_err(|e| ReleaseError::Health(Box::new(e)))?;
        let _ = kindform_kube::rollout::wait_rolled_out(client, workload, wait.get()).await;
        Ok(())
    }

    /// Whether the release is still broken, so the fallback must run.
    pub(crate) async fn still_broken(
        &self,
        desired: &DesiredRelease,
    ) -> Result<bool, ReleaseError> {
        Ok(self.health_now(desired).await?.state == HealthState::Broken)
    }

    /// The last rung: roll back or reinstall, give the stuck workloads
    /// their chance to roll out, and stop with an account if it is still
    /// broken. `tried` holds what the rungs before did.
    pub(crate) async fn fall_back(
        &self,
        desired: &DesiredRelease,
        to: Fallback,
        stuck: &[Workload],
        wait: Duration,
        mut tried: Vec<String>,
    ) -> Result<(), ReleaseError> {
        let client = self.objects.client();
        let bound = wait.get();
        match to {
            Fallback::Rollback { revision } => {
                let args = rollback_args(
                    desired,
                    revision,
                    self.helm.version().wait_flag(),
                    Some(wait.to_string()),
                );
                let _ = self
                    .helm
                    .run_for(&args, None, bound + std::time::Duration::from_secs(60))
                    .await;
                tried.push(format!("rolled back to revision {revision}"));
            }
            Fallback::Reinstall => {
                self.helm
                    .run(
                        &uninstall_args(desired, self.helm.version().wait_flag()),
                        None,
                    )
                    .await?;
                let _ = self.upgrade(desired, false).await;
                tried.push("reinstalled it".to_owned());
            }
        }
        for workload in stuck {
            let _ = kindform_kube::rollout::wait_rolled_out(client, workload, bound).await;
        }
        let health: Health = self.health_now(desired).await?;
        if health.state != HealthState::Broken {
            return Ok(());
        }
        let explanation =
            kindform_kube::pods::explain(client, &desired.spec.namespace, "", true).await;
        Err(ReleaseError::StillBroken {
            release: desired.name.clone(),
            tried: tried.join(", then "),
            evidence: health.evidence.join("; "),
            explanation,
        })
    }
}

/// `helm rollback` to `revision`, waiting (within `timeout` when given).
pub(crate) fn rollback_args(
    desired: &DesiredRelease,
    revision: u64,
    wait: &str,
    timeout: Option<String>,
) -> Vec<String> {
    let mut args = vec![
        "rollback".into(),
        "--namespace".into(),
        desired.spec.namespace.clone(),
        wait.into(),
    ];
    if let Some(timeout) = timeout {
        args.extend(["--timeout".into(), timeout]);
    }
    args.extend(["--".into(), desired.name.clone(), revision.to_string()]);
    args
}

/// `helm uninstall`, waiting.
pub(crate) fn uninstall_args(desired: &DesiredRelease, wait: &str) -> Vec<String> {
    vec![
        "uninstall".into(),
        "--namespace".into(),
        desired.spec.namespace.clone(),
        wait.into(),
        "--".into(),
        desired.name.clone(),
    ]
}

/// `helm uninstall` of a release that left the spec; gone already is fine.
pub(crate) fn uninstall_orphan_args(release: &str, namespace: &str) -> Vec<String> {
    [
        "uninstall",
        "--namespace",
        namespace,
        "--ignore-not-found",
        "--",
        release,
    ]
    .map(str::to_owned)
    .to_vec()
}
