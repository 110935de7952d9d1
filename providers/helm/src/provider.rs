//! The release provider: observes one Helm release (its latest record in
//! Helm's storage, read once for all releases, or through the helm CLI for
//! another storage driver: its status, user values and history; a local
//! chart's record; the live objects of its manifest; and the objects its
//! chart would create that something else already owns), and does the
//! steps its plans hold.

use std::path::Path;
use std::sync::Arc;

use kindform_api::ReleaseSpec;
use kindform_api::provider::{Diff, Outcome, Progress, Provider, Resolve};
use kindform_api::settings::fingerprint;
use kindform_api::{Health, HealthState};
use kindform_kube::pods::PodState;
use kindform_kube::{AppliedRecord, ObjectRef, Objects, RecordEntry, Workload};
use serde::Serialize;
use serde_json::{Value, json};

use crate::cli::{Helm, HelmVersion, Listed, Revision};
use crate::desired::{DesiredRelease, record_entry, shown};
use crate::diff::found;
use crate::error::ReleaseError;
use crate::health::release_health;
use crate::objects::{Lists, ObjectsSeen};
use crate::ownership::KindRef;
use crate::status::ReleaseStatus;
use crate::step::ReleaseStep;
use crate::storage::Storage;

/// The release as observed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReleaseLive {
    /// What `helm list` shows of it (`None` when absent or uninstalled).
    pub listed: Option<Listed>,
    /// Its user-supplied values; secrets inside, so never serialised.
    #[serde(skip)]
    pub values: Value,
    /// A fingerprint of the values with the secrets hidden, standing in for
    /// them in saved plans.
    pub values_fingerprint: String,
    /// Its history, read only when the release is stuck in `pending-*`.
    pub history: Vec<Revision>,
    /// What the applied record holds for it.
    pub recorded: Option<RecordEntry>,
    /// The paths of its values that were sensitive when it was last
    /// applied (or before): a key since renamed, or whose `sensitive` flag
    /// was dropped, still holds a secret in the live values.
    #[serde(skip)]
    pub sensitive_before: Vec<Vec<String>>,
    /// Objects the chart renders that exist without this release's
    /// ownership; looked for only when an install or upgrade is due.
    pub conflicts: Vec<ObjectRef>,
    /// Kinds of the chart's objects the API does not serve yet (a CRD of
    /// this apply), whose objects are looked for at apply.
    pub unserved: Vec<KindRef>,
    /// Whether the applied record says kindform installed it (in this
    /// namespace), so that it is uninstalled once it leaves the spec.
    pub installed_recorded: bool,
    /// The namespace kindform installed it in before, when the spec has
    /// since moved it and Helm still has it there.
    pub moved_from: Option<String>,
    /// Its deployed manifest's objects as they live; read only when its
    /// latest revision is deployed.
    pub objects: ObjectsSeen,
    /// How well it works; only the verdict goes into the fingerprint, as
    /// the evidence (restart counts, rollout progress) moves by itself.
    #[serde(serialize_with = "verdict_only")]
    pub health: Health,
    /// Its workloads whose containers are stuck (crash-looping, …).
    #[serde(skip)]
    pub stuck: Vec<Workload>,
    /// How often each container of its pods restarted (see
    /// [`crate::health::Judged::restarts`]); left out of the fingerprint, as restarts come
    /// without anyone changing the release.
    #[serde(skip)]
    pub restarts: std::collections::BTreeMap<String, i32>,
}

fn verdict_only<S: serde::Serializer>(health: &Health, serializer: S) -> Result<S::Ok, S::Error> {
    health.state.serialize(serializer)
}

/// What the cluster looks like around the releases, read once per run.
pub struct Surroundings {
    /// Every workload.
    pub workloads: Arc<Vec<Workload>>,
    /// Every pod.
    pub pods: Arc<Vec<PodState>>,
}

/// Where releases are read from.
pub enum ReleaseSource {
    /// Helm's storage, read once through the API: no helm process.
    Storage(Storage),
    /// `helm list`, read once, then helm per release (a storage driver
    /// only helm can read).
    Cli(Vec<Listed>),
}

/// What the source holds of one release.
struct Read {
    listed: Listed,
    /// `None` when helm must be asked.
    values: Option<Value>,
    history: Option<Vec<Revision>>,
    manifest: Option<String>,
}

/// Reads and compares one release. Helm's records, the applied record, the
/// workloads, the pods and the lists of objects are read once per plan and
/// shared.
pub struct ReleaseProvider {
    pub(crate) helm: Helm,
    source: Arc<ReleaseSource>,
    pub(crate) record: Arc<AppliedRecord>,
    pub(crate) objects: Arc<Objects>,
    lists: Lists,
    around: Surroundings,
}

impl ReleaseProvider {
    /// A provider using the shared readings.
    pub fn new(
        helm: Helm,
        source: Arc<ReleaseSource>,
        record: Arc<AppliedRecord>,
        objects: Arc<Objects>,
        around: Surroundings,
    ) -> Self {
        ReleaseProvider {
            helm,
            source,
            record,
            objects,
            lists: Lists::default(),
            around,
        }
    }

    /// What the source holds of release `name` in `namespace`, unless it
    /// is absent or uninstalled.
    fn read(&self, name: &str, namespace: &str) -> Result<Option<Read>, ReleaseError> {
        let present = |l: &Listed| l.status != ReleaseStatus::Uninstalled;
        Ok(match &*self.source {
            ReleaseSource::Storage(storage) => storage
                .release(name, namespace)?
                .filter(|r| present(&r.listed))
                .map(|r| Read {
                    listed: r.listed.clone(),
                    values: Some(r.values.clone()),
                    history: Some(r.history.clone()),
                    manifest: Some(r.manifest.clone()),
                }),
            ReleaseSource::Cli(listing) => listing
                .iter()
                .find(|r| r.name == name && r.namespace == namespace && present(r))
                .map(|listed| Read {
                    listed: listed.clone(),
                    values: None,
                    history: None,
                    manifest: None,
                }),
        })
    }

    /// Whether Helm has release `name` in `namespace` (not uninstalled).
    pub(crate) fn has(&self, name: &str, namespace: &str) -> Result<bool, ReleaseError> {
        Ok(self.read(name, namespace)?.is_some())
    }

    /// The releases the source lists.
    pub fn listed(&self) -> Vec<Listed> {
        match &*self.source {
            ReleaseSource::Storage(storage) => storage.listed(),
            ReleaseSource::Cli(listing) => listing.clone(),
        }
    }

    /// `helm upgrade --install`, the set values in a private file (mode
    /// 0600) in the state folder that is removed as soon as Helm is done.
    pub(crate) async fn upgrade(
        &self,
        desired: &DesiredRelease,
        force_conflicts: bool,
    ) -> Result<(), ReleaseError> {
        // The set values reach helm on its stdin (`-f -`), so no file of
        // them exists to outlive a kill, and no argv shows them.
        let set_values = (!desired.spec.set.is_empty()).then(|| desired.set_values_yaml());
        // Before helm holds them, which it does even when it then fails or
        // is killed mid-wait.
        self.remember_sensitive(desired).await?;
        let timeout = desired
            .spec
            .timeout
            .map(|t| t.get())
            .unwrap_or(std::time::Duration::from_secs(300))
            + std::time::Duration::from_secs(60);
        self.helm
            .run_for(
                &desired.upgrade_args(set_values.is_some(), self.helm.version(), force_conflicts),
                set_values.as_deref().map(str::as_bytes),
                timeout,
            )
            .await?;
        // From now on, leaving the spec uninstalls it.
        self.remember_installed(desired).await
    }
}

/// The applied record's key for the sensitive paths of the release at
/// `address` (a key of its own, so the chart's entry and its fingerprint
/// stay as they were).
fn secrets_key(address: &str) -> String {
    format!("secrets.{address}")
}

/// The sensitive paths the record remembers for `address`.
fn recorded_sensitive(record: &AppliedRecord, address: &str) -> Vec<Vec<String>> {
    record
        .get(&secrets_key(address))
        .and_then(|entry| serde_json::from_value(entry.settings.get("paths")?.clone()).ok())
        .unwrap_or_default()
}

/// Every path in `today` or `before`, once.
pub(crate) fn sensitive_union(today: &[Vec<String>], before: &[Vec<String>]) -> Vec<Vec<String>> {
    let mut all: Vec<Vec<String>> = today.iter().chain(before).cloned().collect();
    all.sort();
    all.dedup();
    all
}

impl ReleaseProvider {
    /// Adds the release's sensitive paths to those the record remembers,
    /// before helm is given its values: from then on a rename or a dropped
    /// flag cannot show the old secret.
    async fn remember_sensitive(&self, desired: &DesiredRelease) -> Result<(), ReleaseError> {
        let address = desired.address();
        let before = recorded_sensitive(&self.record, &address);
        let all = sensitive_union(&desired.values.sensitive, &before);
        if all.is_empty() || all == before {
            return Ok(());
        }
        let entry = RecordEntry {
            fingerprint: fingerprint(&json!(all)),
            settings: json!({ "paths": all }),
        };
        AppliedRecord::write(
            self.objects.client(),
            &self.record.environment,
            &secrets_key(&address),
            &entry,
        )
        .await?;
        Ok(())
    }
}

/// What resolving a release reads.
pub struct ReleaseInput<'a> {
    /// Its name under `releases` (the Helm release's name).
    pub name: &'a str,
    /// Its definition.
    pub spec: &'a ReleaseSpec,
    /// The spec's folder (charts and values files are relative to it).
    pub base_dir: &'a Path,
    /// The `helm` on PATH, which will install it.
    pub helm: &'a HelmVersion,
}

impl Resolve for ReleaseProvider {
    type Input<'a> = ReleaseInput<'a>;

    async fn resolve<'a>(input: Self::Input<'a>) -> Result<DesiredRelease, ReleaseError> {
        crate::desired::resolve(input.name, input.spec, input.base_dir, input.helm)
    }
}

impl Provider for ReleaseProvider {
    type Desired = DesiredRelease;
    type Live = ReleaseLive;
    type Step = ReleaseStep;
    type Error = ReleaseError;

    async fn observe(&self, desired: &DesiredRelease) -> Result<ReleaseLive, ReleaseError> {
        let namespace = &desired.spec.namespace;
        let read = self.read(&desired.name, namespace)?;
        let mut live = ReleaseLive {
            values: Value::Null,
            values_fingerprint: String::new(),
            history: Vec::new(),
            recorded: self.record.get(&desired.address()).cloned(),
            sensitive_before: recorded_sensitive(&self.record, &desired.address()),
            conflicts: Vec::new(),
            unserved: Vec::new(),
            objects: ObjectsSeen::default(),
            installed_recorded: crate::orphans::recorded_installed(&self.record, desired),
            moved_from: None,
            health: Health::healthy(),
            stuck: Vec::new(),
            restarts: Default::default(),
            listed: read.as_ref().map(|r| r.listed.clone()),
        };
        if let Some(before) = crate::orphans::recorded_namespace(&self.record, &desired.name) {
            if &before != namespace && self.has(&desired.name, &before)? {
                live.moved_from = Some(before);
            }
        }
        if let Some(read) = read {
            let listed = &read.listed;
            live.values = match read.values {
                Some(values) => values,
                None => self.helm.values(&desired.name, namespace).await?,
            };
            // What helm holds at a path that is or was sensitive is a
            // secret too (a rotated or renamed one): scrubbed wherever a
            // tool or a pod repeats it.
            for path in sensitive_union(&desired.values.sensitive, &live.sensitive_before) {
                let found = path.iter().try_fold(&live.values, |v, key| v.get(key));
                match found {
                    Some(Value::String(secret)) => kindform_api::secrets::register(secret),
                    Some(Value::Null) | None => {}
                    Some(other) => kindform_api::secrets::register(&other.to_string()),
                }
            }
            live.values_fingerprint = fingerprint(&shown(
                &live.values,
                &sensitive_union(&desired.values.sensitive, &live.sensitive_before),
            ));
            let judged = release_health(
                &desired.name,
                &desired.spec,
                &self.around.workloads,
                &self.around.pods,
            );
            (live.health, live.stuck, live.restarts) =
                (judged.health, judged.stuck, judged.restarts);
            let broken = live.health.state == HealthState::Broken;
            if listed.status.is_pending() || broken {
                live.history = match read.history {
                    Some(history) => history,
                    None => self.helm.history(&desired.name, namespace).await?,
                };
            }
            // A pending or failed revision's manifest is not what runs;
            // its repair upgrades anyway.
            if listed.status == ReleaseStatus::Deployed {
                let manifest = match read.manifest {
                    Some(manifest) => manifest,
                    None => self.helm.manifest(&desired.name, namespace).await?,
                };
                live.objects =
                    crate::objects::observe(&self.objects, &self.lists, &desired.spec, &manifest)
                        .await?;
                for other in &live.objects.elsewhere {
                    tracing::info!("releases.{}: {other}, not drift", desired.name);
                }
            }
        }
        if found(desired, &live).upgrade_due {
            let in_the_way = self.conflicts(desired, None).await?;
            (live.conflicts, live.unserved) = (in_the_way.found, in_the_way.unserved);
        }
        Ok(live)
    }

    fn diff(&self, desired: &DesiredRelease, live: &ReleaseLive) -> Diff<ReleaseStep> {
        crate::diff::diff(desired, live)
    }

    fn plan_create(desired: &DesiredRelease) -> Diff<ReleaseStep> {
        crate::diff::plan_create(desired)
    }

    fn plan_restart(&self, desired: &DesiredRelease) -> Vec<ReleaseStep> {
        vec![ReleaseStep::RestartWorkloads {
            address: desired.address(),
            wait: crate::diff::heal_bound(desired),
        }]
    }

    fn plan_delete(
        &self,
        desired: &DesiredRelease,
        _live: Option<&ReleaseLive>,
    ) -> Vec<ReleaseStep> {
        vec![
            ReleaseStep::Uninstall {
                release: desired.name.clone(),
                namespace: desired.spec.namespace.clone(),
            },
            ReleaseStep::Forget,
        ]
    }

    fn health(&self, desired: &DesiredRelease, live: &ReleaseLive) -> Health {
        if live.listed.is_none() {
            let mut health = Health::healthy();
            health.note(
                HealthState::Broken,
                format!(
                    "no release {} in namespace {}",
                    desired.name, desired.spec.namespace
                ),
            );
            return health;
        }
        live.health.clone()
    }

    async fn apply(
        &self,
        desired: &DesiredRelease,
        steps: &[ReleaseStep],
        progress: &dyn Progress,
    ) -> Result<Outcome, ReleaseError> {
        let wait = self.helm.version().wait_flag();
        let mut tried = Vec::new();
        for step in steps {
            if let ReleaseStep::Fallback { .. } = step {
                if !self.still_broken(desired).await? {
                    break;
                }
            }
            if matches!(
                step,
                ReleaseStep::Rollback { .. } | ReleaseStep::UninstallUnfinished { .. }
            ) {
                // A release is pending while some helm works on it; rolling
                // it back under that helm would undo an install in flight.
                if let Some(other) = self.helm.running_on(&desired.name).first() {
                    return Err(ReleaseError::HelmStillRunning {
                        release: desired.name.clone(),
                        pid: other.pid,
                    });
                }
            }
            progress.step(&step.to_string());
            match step {
                ReleaseStep::Rollback { revision, .. } => {
                    let args = crate::repair::rollback_args(desired, *revision, wait, None);
                    self.helm.run(&args, None).await?;
                }
                ReleaseStep::UninstallUnfinished { .. } => {
                    let args = crate::repair::uninstall_args(desired, wait);
                    self.helm.run(&args, None).await?;
                }
                ReleaseStep::Adopt { objects, .. } => self.adopt(desired, objects).await?,
                ReleaseStep::CheckConflicts { release, kinds } => {
                    let in_the_way = self.conflicts(desired, Some(kinds)).await?;
                    if !in_the_way.found.is_empty() {
                        if !desired.spec.take_ownership {
                            return Err(ReleaseError::OwnershipConflict {
                                release: release.clone(),
                                objects: in_the_way.found.iter().map(ToString::to_string).collect(),
                            });
                        }
                        self.adopt(desired, &in_the_way.found).await?;
                    }
                }
                ReleaseStep::RefuseConflicts { release, objects } => {
                    return Err(ReleaseError::OwnershipConflict {
                        release: release.clone(),
                        objects: objects.iter().map(ToString::to_string).collect(),
                    });
                }
                ReleaseStep::Upgrade {
                    force_conflicts, ..
                } => self.upgrade(desired, *force_conflicts).await?,
                ReleaseStep::RemoveAdded { object, paths, .. } => {
                    crate::objects::remove_added(&self.objects, object, paths).await?;
                }
                ReleaseStep::RecordInstalled => self.remember_installed(desired).await?,
                ReleaseStep::RecordChart => {
                    if let Some(entry) = record_entry(desired) {
                        AppliedRecord::write(
                            self.objects.client(),
                            &self.record.environment,
                            &desired.address(),
                            &entry,
                        )
                        .await?;
                    }
                }
                ReleaseStep::RestartStuck { workload, wait } => {
                    self.restart_stuck(workload, *wait).await?;
                    tried.push(format!("restarted {workload}"));
                }
                ReleaseStep::Fallback {
                    to, stuck, wait, ..
                } => {
                    self.fall_back(desired, *to, stuck, *wait, std::mem::take(&mut tried))
                        .await?;
                }
                ReleaseStep::RestartWorkloads { wait, .. } => {
                    self.restart_workloads(desired, *wait).await?;
                }
                ReleaseStep::Uninstall { release, namespace } => {
                    let args = crate::repair::uninstall_orphan_args(release, namespace);
                    self.helm.run(&args, None).await?;
                }
                ReleaseStep::Forget => self.forget(&desired.name).await?,
            }
        }
        Ok(Outcome::Done)
    }
}
