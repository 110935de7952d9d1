//! The release provider: observes one Helm release (its row of the shared
//! `helm list`, its user values, its history when it is stuck, a local
//! chart's record, and the objects its chart would create that something
//! else already owns) and diffs it against the spec.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kindform_api::ReleaseSpec;
use kindform_api::provider::{
    Diff, Difference, Effect, Outcome, Progress, Provider, live_or_observe,
};
use kindform_api::release::ChartSource;
use kindform_api::settings::{changed_paths, fingerprint, redact, sorted};
use kindform_api::{Health, HealthState};
use kindform_kube::pods::PodState;
use kindform_kube::{AppliedRecord, ObjectRef, Objects, ObjectsError, RecordEntry, Workload};

use crate::cli::HelmVersion;
use crate::health::release_health;
use serde::Serialize;
use serde_json::{Value, json};

use crate::chart::{self, ChartError, LocalChart};
use crate::cli::{Helm, HelmError, Listed, Revision};
use crate::values::{self, Values, ValuesError};

/// Helm's ownership label and annotations (docs/tools.md, helm).
pub const HELM_MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "Helm");
/// The annotation naming the owning release.
pub const RELEASE_NAME_ANNOTATION: &str = "meta.helm.sh/release-name";
/// The annotation naming the owning release's namespace.
pub const RELEASE_NAMESPACE_ANNOTATION: &str = "meta.helm.sh/release-namespace";

/// Where the chart comes from, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DesiredChart {
    /// A chart folder beside the spec.
    Local(LocalChart),
    /// A chart in a repository, by name.
    Repository {
        /// The repository URL.
        repo: String,
        /// The chart's name.
        name: String,
    },
    /// An OCI reference.
    Oci(String),
}

/// A release as the spec means it, with its values put together and a local
/// chart read. Holds secrets: never serialised or printed whole.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredRelease {
    /// The release name.
    pub name: String,
    /// The spec's definition.
    pub spec: ReleaseSpec,
    /// The spec's folder.
    pub base_dir: PathBuf,
    /// The chart.
    pub chart: DesiredChart,
    /// The user-supplied values.
    pub values: Values,
}

/// Why a release could not be read or observed.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// Its values could not be put together.
    #[error(transparent)]
    Values(#[from] ValuesError),
    /// Its local chart could not be read.
    #[error(transparent)]
    Chart(#[from] ChartError),
    /// `helm` failed.
    #[error(transparent)]
    Helm(#[from] HelmError),
    /// The API could not be read.
    #[error(transparent)]
    Objects(#[from] ObjectsError),
    /// Objects the chart renders exist without the release's ownership,
    /// and the release does not say `take_ownership`.
    #[error(
        "{} would block Helm: they exist without release {release}'s ownership; delete them, or set take_ownership = true on releases.{release}",
        objects.join(", ")
    )]
    OwnershipConflict {
        /// The release.
        release: String,
        /// The objects.
        objects: Vec<String>,
    },
    /// Adopting an object for the release failed.
    #[error("cannot adopt {object} for release {release}")]
    Adopt {
        /// The release.
        release: String,
        /// The object.
        object: String,
        /// Why.
        #[source]
        source: kube::Error,
    },
    /// The private values file could not be written.
    #[error("cannot write the set values file {path}")]
    ValuesFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The applied record could not be written.
    #[error(transparent)]
    Record(#[from] kindform_kube::RecordError),
    /// The cluster could not be read or changed to judge or mend health.
    #[error("cannot read or restart the release's workloads")]
    Health(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The release stayed broken after every rung of its repair.
    #[error("release {release} is still broken after kindform {tried}: {evidence}\n{explanation}")]
    StillBroken {
        /// The release.
        release: String,
        /// What was tried, in order.
        tried: String,
        /// What is still wrong.
        evidence: String,
        /// Pod states, events and log tails.
        explanation: String,
    },
}

/// Reads the release's chart and values (secrets included) from the spec.
pub fn resolve(
    name: &str,
    spec: &ReleaseSpec,
    base_dir: &Path,
) -> Result<DesiredRelease, ReleaseError> {
    let chart = match spec.chart_source() {
        ChartSource::Local(path) => DesiredChart::Local(chart::read(&base_dir.join(path))?),
        ChartSource::Repository { repo, name } => DesiredChart::Repository {
            repo: repo.to_owned(),
            name: name.to_owned(),
        },
        ChartSource::Oci(reference) => DesiredChart::Oci(reference.to_owned()),
    };
    let values = values::resolve(&spec.values, &spec.set, base_dir)?;
    Ok(DesiredRelease {
        name: name.to_owned(),
        spec: spec.clone(),
        base_dir: base_dir.to_owned(),
        chart,
        values,
    })
}

/// A version that names one release, not a range.
fn exact(version: &str) -> Option<&str> {
    let v = version.trim().trim_start_matches('v');
    let ok = !v.is_empty()
        && v.starts_with(|c: char| c.is_ascii_digit())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-+".contains(c))
        && !v.split(['.', '-', '+']).any(|p| p == "x" || p == "X");
    ok.then_some(v)
}

impl DesiredRelease {
    /// `releases.<name>`.
    pub fn address(&self) -> String {
        format!("releases.{}", self.name)
    }

    /// The chart as `helm list` shows it (`<name>-<version>`), when the spec
    /// pins it.
    pub fn chart_label(&self) -> Option<String> {
        match &self.chart {
            DesiredChart::Local(c) => Some(format!("{}-{}", c.name, c.version)),
            DesiredChart::Repository { name, .. } => {
                let version = exact(self.spec.version.as_deref()?)?;
                Some(format!("{name}-{version}"))
            }
            DesiredChart::Oci(reference) => {
                let name = reference.rsplit('/').next()?.split(':').next()?;
                let version = exact(self.spec.version.as_deref()?)?;
                Some(format!("{name}-{version}"))
            }
        }
    }

    /// The values as plans show them: keys sorted, secrets hidden.
    pub fn shown_values(&self) -> Value {
        shown(&self.values.merged, &self.values.sensitive)
    }

    /// The chart argument(s) of a helm command: a folder, a name with
    /// `--repo`, or an OCI reference; with `--version` when pinned.
    pub fn chart_args(&self) -> Vec<String> {
        let mut args = match &self.chart {
            DesiredChart::Local(c) => vec![c.dir.display().to_string()],
            DesiredChart::Repository { repo, name } => {
                vec![name.clone(), "--repo".into(), repo.clone()]
            }
            DesiredChart::Oci(reference) => vec![reference.clone()],
        };
        if let Some(version) = &self.spec.version {
            args.extend(["--version".into(), version.clone()]);
        }
        args
    }

    /// The `-f` arguments of the values files, in order.
    pub fn values_args(&self) -> Vec<String> {
        self.spec
            .values
            .iter()
            .flat_map(|f| ["-f".to_owned(), self.base_dir.join(f).display().to_string()])
            .collect()
    }

    /// The `set` values as the YAML file kindform passes last.
    pub fn set_values_yaml(&self) -> String {
        serde_yaml_ng::to_string(&self.values.set).unwrap_or_default()
    }

    /// The install or upgrade command, as the plan shows it.
    pub fn upgrade_command(&self) -> String {
        let chart = match self.spec.chart_source() {
            ChartSource::Local(path) => path.to_owned(),
            ChartSource::Repository { repo, name } => format!("{name} --repo {repo}"),
            ChartSource::Oci(reference) => reference.to_owned(),
        };
        let spec = &self.spec;
        let mut command = format!(
            "helm upgrade --install {} {chart} --namespace {}",
            self.name, spec.namespace
        );
        if spec.create_namespace {
            command.push_str(" --create-namespace");
        }
        if let Some(version) = &spec.version {
            command.push_str(&format!(" --version {version}"));
        }
        for file in &spec.values {
            command.push_str(&format!(" -f {}", file.display()));
        }
        if !spec.set.is_empty() {
            command.push_str(&format!(
                " -f .kindform/<env>/values/{}.yaml (the set values, mode 0600)",
                self.name
            ));
        }
        if spec.wait {
            command.push_str(" --wait");
        }
        if spec.wait_for_jobs {
            command.push_str(" --wait-for-jobs");
        }
        if let Some(timeout) = spec.timeout {
            command.push_str(&format!(" --timeout {timeout}"));
        }
        command
    }

    /// The arguments of `helm upgrade --install`, the set values read from
    /// `set_file` when there are any.
    pub fn upgrade_args(&self, set_file: Option<&Path>, helm: &HelmVersion) -> Vec<String> {
        let spec = &self.spec;
        let mut args = vec![
            "upgrade".to_owned(),
            "--install".to_owned(),
            self.name.clone(),
        ];
        args.extend(self.chart_args());
        args.extend(["--namespace".to_owned(), spec.namespace.clone()]);
        if spec.create_namespace {
            args.push("--create-namespace".into());
        }
        args.extend(self.values_args());
        if let Some(file) = set_file {
            args.extend(["-f".to_owned(), file.display().to_string()]);
        }
        if spec.take_ownership && helm.major() >= 4 {
            // Helm 4 applies server-side: the objects kindform adopts hold
            // fields another manager owns, which only a forced apply takes.
            args.push("--force-conflicts".into());
        }
        if spec.wait {
            args.push(helm.wait_flag().into());
        }
        if spec.wait_for_jobs {
            args.push("--wait-for-jobs".into());
        }
        if let Some(timeout) = spec.timeout {
            args.extend(["--timeout".to_owned(), timeout.to_string()]);
        }
        args
    }

    fn settings(&self, chart: Option<String>, values: Value) -> Value {
        json!({
            "chart": chart,
            "namespace": self.spec.namespace,
            "values": values,
        })
    }
}

fn shown(values: &Value, sensitive: &[Vec<String>]) -> Value {
    let mut v = values::normalized(values);
    redact(&mut v, sensitive);
    sorted(&v)
}

/// What the applied record keeps for a release: for a local chart, the
/// digest of each of its files; nothing for other charts.
pub fn record_entry(desired: &DesiredRelease) -> Option<RecordEntry> {
    let DesiredChart::Local(chart) = &desired.chart else {
        return None;
    };
    let settings =
        json!({"chart": format!("{}-{}", chart.name, chart.version), "files": chart.files});
    Some(RecordEntry {
        fingerprint: fingerprint(&settings),
        settings,
    })
}

/// The release as observed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReleaseLive {
    /// Its row of `helm list` (`None` when absent or uninstalled).
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
    /// Objects the chart renders that exist without this release's
    /// ownership; looked for only when an install or upgrade is due.
    pub conflicts: Vec<ObjectRef>,
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

/// Reads and compares one release. The `helm list` rows, the applied
/// record, the workloads and the pods are read once per plan and shared.
pub struct ReleaseProvider {
    helm: Helm,
    listing: Arc<Vec<Listed>>,
    record: Arc<AppliedRecord>,
    objects: Arc<Objects>,
    around: Surroundings,
}

/// How long each rung of a health repair may take when the release gives
/// no `timeout`.
const HEAL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

impl ReleaseProvider {
    /// A provider using the shared readings.
    pub fn new(
        helm: Helm,
        listing: Arc<Vec<Listed>>,
        record: Arc<AppliedRecord>,
        objects: Arc<Objects>,
        around: Surroundings,
    ) -> Self {
        ReleaseProvider {
            helm,
            listing,
            record,
            objects,
            around,
        }
    }

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
    pub async fn restart_workloads(
        &self,
        desired: &DesiredRelease,
        progress: &dyn Progress,
    ) -> Result<(), ReleaseError> {
        let client = self.objects.client();
        let bound = heal_bound(desired);
        let workloads: Vec<Workload> = kindform_kube::workloads(client)
            .await
            .map_err(|e| ReleaseError::Health(Box::new(e)))?
            .into_iter()
            .filter(|w| w.of_release(&desired.name, &desired.spec.namespace))
            .collect();
        for workload in &workloads {
            progress.step(&format!(
                "rollout restart {workload} and wait for it ({})",
                kindform_api::Duration::new(bound)
            ));
        }
        kindform_kube::rollout::restart_and_wait(client, &workloads, bound)
            .await
            .map_err(|e| ReleaseError::Health(Box::new(e)))
    }

    /// The ladder for a release that matches the spec but is broken:
    /// restart its stuck workloads; if it stays broken, roll back to the
    /// last good revision, or reinstall it; then stop with an account.
    async fn heal(
        &self,
        desired: &DesiredRelease,
        live: &ReleaseLive,
        progress: &dyn Progress,
    ) -> Result<Outcome, ReleaseError> {
        let client = self.objects.client();
        let bound = heal_bound(desired);
        let mut tried = Vec::new();
        for workload in &live.stuck {
            progress.step(&format!(
                "rollout restart {workload} and wait for it ({})",
                kindform_api::Duration::new(bound)
            ));
            kindform_kube::rollout::restart(client, workload)
                .await
                .map_err(|e| ReleaseError::Health(Box::new(e)))?;
            // A rollout that does not finish is judged by the health below.
            let _ = kindform_kube::rollout::wait_rolled_out(client, workload, bound).await;
            tried.push(format!("restarted {workload}"));
        }
        if self.health_now(desired).await?.state != HealthState::Broken {
            return Ok(Outcome::Done);
        }
        let fallback = fallback(live);
        progress.step(&fallback.describe(desired));
        match &fallback {
            Fallback::Rollback(revision) => {
                let mut args = Recovery::Rollback(*revision).args(desired, self.helm.version());
                args.extend([
                    "--timeout".into(),
                    kindform_api::Duration::new(bound).to_string(),
                ]);
                let _ = self
                    .helm
                    .run_for(&args, None, bound + std::time::Duration::from_secs(60))
                    .await;
                tried.push(format!("rolled back to revision {revision}"));
            }
            Fallback::Reinstall => {
                self.helm
                    .run(
                        &Recovery::Uninstall.args(desired, self.helm.version()),
                        None,
                    )
                    .await?;
                let _ = self.upgrade(desired).await;
                tried.push("reinstalled it".to_owned());
            }
        }
        // Judge the fallback once its workloads had their chance to roll out.
        for workload in &live.stuck {
            let _ = kindform_kube::rollout::wait_rolled_out(client, workload, bound).await;
        }
        let health = self.health_now(desired).await?;
        if health.state != HealthState::Broken {
            return Ok(Outcome::Done);
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

    /// Renders the chart (`helm template`, the set values on stdin) and
    /// returns the objects that exist without this release's ownership.
    async fn conflicts(&self, desired: &DesiredRelease) -> Result<Vec<ObjectRef>, ReleaseError> {
        let mut args = vec!["template".to_owned(), desired.name.clone()];
        args.extend(desired.chart_args());
        args.extend(["--namespace".into(), desired.spec.namespace.clone()]);
        args.extend(desired.values_args());
        args.extend(["-f".into(), "-".into()]);
        let manifest = self
            .helm
            .run(&args, Some(desired.set_values_yaml().as_bytes()))
            .await?;
        let mut conflicts = Vec::new();
        for object in rendered_objects(&manifest) {
            let Some(mut reference) = ObjectRef::of(&object) else {
                continue;
            };
            let Some(info) = self
                .objects
                .kind(&reference.api_version, &reference.kind)
                .await?
            else {
                continue;
            };
            reference.namespace = info.namespaced.then(|| {
                reference
                    .namespace
                    .clone()
                    .unwrap_or_else(|| desired.spec.namespace.clone())
            });
            if let Some(live) = self.objects.get(&reference).await? {
                if !owned_by(&live, &desired.name, &desired.spec.namespace) {
                    conflicts.push(reference);
                }
            }
        }
        Ok(conflicts)
    }
}

impl ReleaseProvider {
    /// Gives objects Helm's ownership label and annotations for `desired`,
    /// so that the install or upgrade takes them over (what
    /// `--take-ownership` does, on every Helm version).
    async fn adopt(
        &self,
        desired: &DesiredRelease,
        objects: &[ObjectRef],
    ) -> Result<(), ReleaseError> {
        use kube::api::{Patch, PatchParams};
        for object in objects {
            let Some(info) = self.objects.kind(&object.api_version, &object.kind).await? else {
                continue;
            };
            let patch = json!({"metadata": {
                "labels": {HELM_MANAGED_BY.0: HELM_MANAGED_BY.1},
                "annotations": {
                    RELEASE_NAME_ANNOTATION: desired.name,
                    RELEASE_NAMESPACE_ANNOTATION: desired.spec.namespace,
                },
            }});
            self.objects
                .api(&info, object.namespace.as_deref())
                .patch(&object.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(|source| ReleaseError::Adopt {
                    release: desired.name.clone(),
                    object: object.to_string(),
                    source,
                })?;
        }
        Ok(())
    }

    /// `helm upgrade --install`, the set values in a private file (mode
    /// 0600) in the state folder that is removed as soon as Helm is done.
    async fn upgrade(&self, desired: &DesiredRelease) -> Result<(), ReleaseError> {
        let set_file = if desired.spec.set.is_empty() {
            None
        } else {
            let path = self
                .helm
                .state_dir()
                .join("values")
                .join(format!("{}.yaml", desired.name));
            write_private(&path, desired.set_values_yaml().as_bytes()).map_err(|source| {
                ReleaseError::ValuesFile {
                    path: path.clone(),
                    source,
                }
            })?;
            Some(path)
        };
        let timeout = desired
            .spec
            .timeout
            .map(|t| t.get())
            .unwrap_or(std::time::Duration::from_secs(300))
            + std::time::Duration::from_secs(60);
        let result = self
            .helm
            .run_for(
                &desired.upgrade_args(set_file.as_deref(), self.helm.version()),
                None,
                timeout,
            )
            .await;
        if let Some(path) = set_file {
            let _ = std::fs::remove_file(path);
        }
        result?;
        Ok(())
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)?.write_all(bytes)
}

/// The objects of `helm template` output.
fn rendered_objects(manifest: &str) -> Vec<Value> {
    use serde::Deserialize as _;
    serde_yaml_ng::Deserializer::from_str(manifest)
        .filter_map(|doc| Value::deserialize(doc).ok())
        .filter(|v| v.is_object())
        .collect()
}

fn owned_by(object: &Value, release: &str, namespace: &str) -> bool {
    let label = |k: &str| {
        object
            .pointer("/metadata/labels")
            .and_then(|l| l.get(k))
            .and_then(Value::as_str)
    };
    let annotation = |k: &str| {
        object
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(k))
            .and_then(Value::as_str)
    };
    label(HELM_MANAGED_BY.0) == Some(HELM_MANAGED_BY.1)
        && annotation(RELEASE_NAME_ANNOTATION) == Some(release)
        && annotation(RELEASE_NAMESPACE_ANNOTATION) == Some(namespace)
}

/// What a stuck release needs before the upgrade can run.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Recovery {
    /// `helm rollback` to the last deployed revision.
    Rollback(u64),
    /// `helm uninstall`: its first install never finished.
    Uninstall,
}

impl Recovery {
    fn args(&self, desired: &DesiredRelease, helm: &HelmVersion) -> Vec<String> {
        let (name, namespace) = (desired.name.clone(), desired.spec.namespace.clone());
        match self {
            Recovery::Rollback(revision) => vec![
                "rollback".into(),
                name,
                revision.to_string(),
                "--namespace".into(),
                namespace,
                helm.wait_flag().into(),
            ],
            Recovery::Uninstall => vec![
                "uninstall".into(),
                name,
                "--namespace".into(),
                namespace,
                helm.wait_flag().into(),
            ],
        }
    }

    fn describe(&self, desired: &DesiredRelease) -> String {
        let (name, namespace) = (&desired.name, &desired.spec.namespace);
        match self {
            Recovery::Rollback(revision) => format!(
                "helm rollback {name} {revision} --namespace {namespace} (the last deployed revision)"
            ),
            Recovery::Uninstall => format!(
                "helm uninstall {name} --namespace {namespace} (it never finished installing)"
            ),
        }
    }
}

/// The last rung of a health repair.
enum Fallback {
    /// Roll back to the last good revision.
    Rollback(u64),
    /// Uninstall and install again.
    Reinstall,
}

impl Fallback {
    fn describe(&self, desired: &DesiredRelease) -> String {
        let (name, namespace) = (&desired.name, &desired.spec.namespace);
        match self {
            Fallback::Rollback(revision) => format!(
                "if it stays broken: helm rollback {name} {revision} --namespace {namespace} (the last good revision)"
            ),
            Fallback::Reinstall => format!(
                "if it stays broken: reinstall {name} (helm uninstall, then helm upgrade --install)"
            ),
        }
    }
}

fn fallback(live: &ReleaseLive) -> Fallback {
    let current: u64 = live
        .listed
        .as_ref()
        .and_then(|l| l.revision.parse().ok())
        .unwrap_or(0);
    live.history
        .iter()
        .rev()
        .find(|r| r.revision < current && (r.status == "superseded" || r.status == "deployed"))
        .map(|r| Fallback::Rollback(r.revision))
        .unwrap_or(Fallback::Reinstall)
}

fn heal_bound(desired: &DesiredRelease) -> std::time::Duration {
    desired
        .spec
        .timeout
        .map(|t| t.get())
        .unwrap_or(HEAL_TIMEOUT)
}

/// The steps of a health repair, as the plan shows them.
fn heal_steps(desired: &DesiredRelease, live: &ReleaseLive) -> Vec<String> {
    let bound = kindform_api::Duration::new(heal_bound(desired));
    live.stuck
        .iter()
        .map(|w| format!("rollout restart {w} and wait for it ({bound})"))
        .chain([fallback(live).describe(desired)])
        .collect()
}

/// The differences apart from ownership conflicts, with the recovery they
/// need before the install or upgrade.
fn differences(
    desired: &DesiredRelease,
    live: &ReleaseLive,
) -> (Vec<Difference>, Option<Recovery>) {
    let mut differences = Vec::new();
    let mut recovery = None;
    let Some(listed) = &live.listed else {
        differences.push(Difference::new(
            "absent",
            Effect::Create,
            format!(
                "no release {} in namespace {}",
                desired.name, desired.spec.namespace
            ),
        ));
        return (differences, recovery);
    };
    if listed.status.starts_with("pending-") {
        let stuck: u64 = listed.revision.parse().unwrap_or(0);
        let last_good =
            live.history.iter().rev().find(|r| {
                r.revision < stuck && (r.status == "deployed" || r.status == "superseded")
            });
        match last_good {
            Some(good) => {
                differences.push(Difference::new(
                    "release-pending",
                    Effect::Repair,
                    format!(
                        "revision {stuck} is stuck in {}; the last deployed revision is {}",
                        listed.status, good.revision
                    ),
                ));
                recovery = Some(Recovery::Rollback(good.revision));
            }
            None => {
                differences.push(Difference::new(
                    "release-pending",
                    Effect::Repair,
                    format!(
                        "revision {stuck} is stuck in {} and no revision was ever deployed",
                        listed.status
                    ),
                ));
                recovery = Some(Recovery::Uninstall);
            }
        }
    } else if listed.status == "failed" {
        differences.push(Difference::new(
            "release-failed",
            Effect::Repair,
            format!("revision {} failed", listed.revision),
        ));
    }
    if let Some(chart) = desired.chart_label() {
        if chart != listed.chart {
            differences.push(Difference::new(
                "version-changed",
                Effect::Update,
                format!("chart {} -> {chart}", listed.chart),
            ));
        }
    }
    let have = values::normalized(&live.values);
    let want = &desired.values.merged;
    if &have != want {
        let paths: Vec<String> = changed_paths(&have, want)
            .into_iter()
            .map(|p| {
                let secret = desired
                    .values
                    .sensitive
                    .iter()
                    .any(|s| s.join(".") == p || p.starts_with(&format!("{}.", s.join("."))));
                if secret {
                    format!("{p} (sensitive)")
                } else {
                    p
                }
            })
            .collect();
        differences.push(Difference::new(
            "values-changed",
            Effect::Update,
            format!("values changed: {}", paths.join(", ")),
        ));
    }
    if live.health.state == HealthState::Broken {
        differences.push(Difference::new(
            "unhealthy",
            Effect::Repair,
            live.health.evidence.join("; "),
        ));
    }
    if let Some(entry) = record_entry(desired) {
        match &live.recorded {
            Some(recorded) if recorded.fingerprint == entry.fingerprint => {}
            Some(recorded) => {
                let files: Vec<String> = changed_paths(
                    recorded.settings.get("files").unwrap_or(&Value::Null),
                    entry.settings.get("files").unwrap_or(&Value::Null),
                );
                differences.push(Difference::new(
                    "chart-changed",
                    Effect::Update,
                    format!("chart files changed since the last apply: {}", files.join(", ")),
                ));
            }
            None => differences.push(Difference::new(
                "unrecorded",
                Effect::Update,
                "the chart's contents at the last apply are not in kindform's applied record; upgrading makes sure the templates match",
            )),
        }
    }
    (differences, recovery)
}

impl Provider for ReleaseProvider {
    type Desired = DesiredRelease;
    type Live = ReleaseLive;
    type Error = ReleaseError;

    async fn observe(&self, desired: &DesiredRelease) -> Result<ReleaseLive, ReleaseError> {
        let namespace = &desired.spec.namespace;
        let listed = self
            .listing
            .iter()
            .find(|r| {
                r.name == desired.name && &r.namespace == namespace && r.status != "uninstalled"
            })
            .cloned();
        let mut live = ReleaseLive {
            values: Value::Null,
            values_fingerprint: String::new(),
            history: Vec::new(),
            recorded: self.record.get(&desired.address()).cloned(),
            conflicts: Vec::new(),
            health: Health::healthy(),
            stuck: Vec::new(),
            restarts: Default::default(),
            listed,
        };
        if let Some(listed) = &live.listed {
            live.values = self.helm.values(&desired.name, namespace).await?;
            live.values_fingerprint = fingerprint(&shown(&live.values, &desired.values.sensitive));
            let judged = release_health(
                &desired.name,
                &desired.spec,
                &self.around.workloads,
                &self.around.pods,
            );
            (live.health, live.stuck, live.restarts) =
                (judged.health, judged.stuck, judged.restarts);
            let broken = live.health.state == HealthState::Broken;
            if listed.status.starts_with("pending-") || broken {
                live.history = self.helm.history(&desired.name, namespace).await?;
            }
        }
        let (found, _) = differences(desired, &live);
        if found.iter().any(|d| d.reason != "unhealthy") {
            live.conflicts = self.conflicts(desired).await?;
        }
        Ok(live)
    }

    fn diff(&self, desired: &DesiredRelease, live: &ReleaseLive) -> Diff {
        let Some(listed) = &live.listed else {
            let mut diff = plan_create(desired);
            with_conflicts(desired, &live.conflicts, &mut diff);
            return diff;
        };
        let (differences, recovery) = differences(desired, live);
        if differences.iter().all(|d| d.reason == "unhealthy") && !differences.is_empty() {
            let shown = desired.settings(Some(listed.chart.clone()), desired.shown_values());
            return Diff {
                differences,
                steps: heal_steps(desired, live),
                before: shown.clone(),
                after: shown,
            };
        }
        let mut steps: Vec<String> = recovery.iter().map(|r| r.describe(desired)).collect();
        let before = desired.settings(
            Some(listed.chart.clone()),
            shown(&live.values, &desired.values.sensitive),
        );
        let after = desired.settings(
            Some(
                desired
                    .chart_label()
                    .unwrap_or_else(|| listed.chart.clone()),
            ),
            desired.shown_values(),
        );
        if differences.is_empty() {
            return Diff {
                differences,
                steps,
                before,
                after,
            };
        }
        steps.push(desired.upgrade_command());
        if record_entry(desired).is_some() {
            steps.push("record the chart's file digests in the applied record".to_owned());
        }
        let mut diff = Diff {
            differences,
            steps,
            before,
            after,
        };
        with_conflicts(desired, &live.conflicts, &mut diff);
        diff
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
        live: Option<&ReleaseLive>,
        progress: &dyn Progress,
    ) -> Result<Outcome, ReleaseError> {
        let live = live_or_observe(self, desired, live).await?;
        let live = live.as_ref();
        let (differences, recovery) = differences(desired, live);
        if differences.is_empty() {
            return Ok(Outcome::Done);
        }
        if differences.iter().all(|d| d.reason == "unhealthy") {
            return self.heal(desired, live, progress).await;
        }
        if !live.conflicts.is_empty() {
            let objects: Vec<String> = live.conflicts.iter().map(ToString::to_string).collect();
            if !desired.spec.take_ownership {
                return Err(ReleaseError::OwnershipConflict {
                    release: desired.name.clone(),
                    objects,
                });
            }
            progress.step(&format!(
                "adopt {} for release {}",
                objects.join(", "),
                desired.name
            ));
            self.adopt(desired, &live.conflicts).await?;
        }
        if let Some(recovery) = recovery {
            progress.step(&recovery.describe(desired));
            self.helm
                .run(&recovery.args(desired, self.helm.version()), None)
                .await?;
        }
        progress.step(&desired.upgrade_command());
        self.upgrade(desired).await?;
        if let Some(entry) = record_entry(desired) {
            progress.step("record the chart's file digests in the applied record");
            AppliedRecord::write(self.objects.client(), &desired.address(), &entry).await?;
        }
        Ok(Outcome::Done)
    }

    async fn delete(
        &self,
        desired: &DesiredRelease,
        _live: Option<&ReleaseLive>,
        progress: &dyn Progress,
    ) -> Result<(), ReleaseError> {
        let args: Vec<String> = [
            "uninstall",
            &desired.name,
            "--namespace",
            &desired.spec.namespace,
            "--ignore-not-found",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        progress.step(&format!("helm {}", args.join(" ")));
        self.helm.run(&args, None).await?;
        AppliedRecord::forget(self.objects.client(), &desired.address()).await?;
        Ok(())
    }

    fn plan_create(&self, desired: &DesiredRelease) -> Diff {
        plan_create(desired)
    }
}

/// What installing the release takes when nothing of it exists.
pub fn plan_create(desired: &DesiredRelease) -> Diff {
    let mut steps = vec![desired.upgrade_command()];
    if record_entry(desired).is_some() {
        steps.push("record the chart's file digests in the applied record".to_owned());
    }
    Diff {
        differences: vec![Difference::new(
            "absent",
            Effect::Create,
            format!(
                "no release {} in namespace {}",
                desired.name, desired.spec.namespace
            ),
        )],
        steps,
        before: Value::Null,
        after: desired.settings(desired.chart_label(), desired.shown_values()),
    }
}

/// Adds the ownership conflicts: adoption before the install or upgrade
/// when the release says `take_ownership`, otherwise the stop apply will
/// make there.
fn with_conflicts(desired: &DesiredRelease, conflicts: &[ObjectRef], diff: &mut Diff) {
    if conflicts.is_empty() {
        return;
    }
    let names: Vec<String> = conflicts.iter().map(ToString::to_string).collect();
    diff.differences.push(Difference::new(
        "ownership-conflict",
        Effect::Update,
        format!(
            "exists without this release's ownership: {}",
            names.join(", ")
        ),
    ));
    let at = diff
        .steps
        .iter()
        .position(|s| s.starts_with("helm upgrade"))
        .unwrap_or(diff.steps.len());
    let step = if desired.spec.take_ownership {
        format!(
            "adopt {} for release {} (Helm's label {}={} and annotations {}={}, {}={})",
            names.join(", "),
            desired.name,
            HELM_MANAGED_BY.0,
            HELM_MANAGED_BY.1,
            RELEASE_NAME_ANNOTATION,
            desired.name,
            RELEASE_NAMESPACE_ANNOTATION,
            desired.spec.namespace
        )
    } else {
        format!(
            "stop: {} would block Helm; delete them, or set take_ownership = true on releases.{}",
            names.join(", "),
            desired.name
        )
    };
    diff.steps.insert(at, step);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired() -> DesiredRelease {
        let spec: ReleaseSpec = serde_json::from_value(json!({
            "chart": "dapr", "repo": "https://dapr.github.io/helm-charts/", "version": "1.16.2",
            "namespace": "dapr-system",
        }))
        .unwrap();
        resolve("dapr", &spec, Path::new(".")).unwrap()
    }

    fn live(status: &str, history: &[(u64, &str)]) -> ReleaseLive {
        ReleaseLive {
            listed: Some(Listed {
                name: "dapr".into(),
                namespace: "dapr-system".into(),
                revision: history.last().map(|h| h.0).unwrap_or(1).to_string(),
                updated: String::new(),
                status: status.into(),
                chart: "dapr-1.16.2".into(),
                app_version: String::new(),
            }),
            values: Value::Null,
            values_fingerprint: String::new(),
            history: history
                .iter()
                .map(|(revision, status)| Revision {
                    revision: *revision,
                    status: (*status).into(),
                    chart: "dapr-1.16.2".into(),
                    description: String::new(),
                })
                .collect(),
            recorded: None,
            conflicts: Vec::new(),
            health: Health::healthy(),
            stuck: Vec::new(),
            restarts: Default::default(),
        }
    }

    #[test]
    fn a_first_install_left_pending_is_uninstalled_then_installed() {
        let (differences, recovery) = differences(
            &desired(),
            &live("pending-install", &[(1, "pending-install")]),
        );
        let steps = recovery.map(|r| r.describe(&desired()));
        assert_eq!(differences[0].reason, "release-pending");
        assert_eq!(
            differences[0].detail,
            "revision 1 is stuck in pending-install and no revision was ever deployed"
        );
        assert_eq!(
            steps.as_deref(),
            Some("helm uninstall dapr --namespace dapr-system (it never finished installing)")
        );
    }

    #[test]
    fn a_pending_rollback_goes_back_to_the_newest_good_revision() {
        let history = [
            (1, "superseded"),
            (2, "superseded"),
            (3, "failed"),
            (4, "pending-rollback"),
        ];
        let (_, recovery) = differences(&desired(), &live("pending-rollback", &history));
        assert_eq!(recovery, Some(Recovery::Rollback(2)));
        assert_eq!(
            recovery.unwrap().describe(&desired()),
            "helm rollback dapr 2 --namespace dapr-system (the last deployed revision)"
        );
    }

    #[test]
    fn only_exact_versions_are_compared() {
        assert_eq!(exact("1.16.2"), Some("1.16.2"));
        assert_eq!(exact("v1.16.2"), Some("1.16.2"));
        assert_eq!(exact("1.2.3-rc.1+b5"), Some("1.2.3-rc.1+b5"));
        for range in ["^1.16", "~1.2.0", ">=1.0.0", "1.x", "1.16.*", "", "latest"] {
            assert_eq!(exact(range), None, "{range}");
        }
        let mut d = desired();
        d.spec.version = Some("^1.16".into());
        assert_eq!(d.chart_label(), None);
        let (differences, _) = differences(&d, &live("deployed", &[(1, "deployed")]));
        assert!(differences.is_empty(), "{differences:?}");
    }
}
