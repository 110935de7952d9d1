//! Releases kindform installed for this environment that the spec no
//! longer names. With every install or upgrade the applied record keeps
//! `installed.releases.NAME`: the release's namespace and what it depended
//! on (records older than that know a local chart's release by its
//! `releases.NAME` entry). Such a release is uninstalled when it leaves the
//! spec; one kindform did not install has no entry, so it is never touched.

use kindform_api::Reason;
use kindform_api::provider::{Diff, Difference, Effect, Orphans, Outcome, Progress};
use kindform_api::settings::fingerprint;
use kindform_kube::{AppliedRecord, RecordEntry};
use serde::Serialize;
use serde_json::{Value, json};

use crate::desired::DesiredRelease;
use crate::error::ReleaseError;
use crate::provider::ReleaseProvider;
use crate::step::ReleaseStep;

/// A release that left the spec, as found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReleaseOrphan {
    /// Its name under `releases` (the Helm release's name).
    pub name: String,
    /// Its namespace, when the record or Helm's storage says it.
    pub namespace: Option<String>,
    /// What it depended on (its `depends_on` as written), so that what
    /// left the spec together is uninstalled dependants first.
    pub depends_on: Vec<String>,
    /// Whether Helm still has it.
    pub installed: bool,
}

/// The record's key saying kindform installed release `name`.
pub fn installed_key(name: &str) -> String {
    format!("installed.releases.{name}")
}

/// Every key the record may hold for release `name`.
pub(crate) fn record_keys(name: &str) -> [String; 3] {
    [
        format!("releases.{name}"),
        installed_key(name),
        format!("secrets.releases.{name}"),
    ]
}

/// What the record keeps of an installed release.
pub fn installed_entry(desired: &DesiredRelease) -> RecordEntry {
    let settings = json!({
        "namespace": desired.spec.namespace,
        "depends_on": desired.spec.depends_on,
    });
    RecordEntry {
        fingerprint: fingerprint(&settings),
        settings,
    }
}

/// Whether `record` says kindform installed `desired` in its namespace.
pub(crate) fn recorded_installed(record: &AppliedRecord, desired: &DesiredRelease) -> bool {
    recorded_namespace(record, &desired.name).is_some_and(|ns| ns == desired.spec.namespace)
}

/// The namespace the record says kindform installed release `name` in.
pub(crate) fn recorded_namespace(record: &AppliedRecord, name: &str) -> Option<String> {
    record
        .get(&installed_key(name))
        .and_then(|e| e.settings.get("namespace")?.as_str().map(str::to_owned))
}

/// The names of the releases the record says kindform installed.
fn recorded_names(record: &AppliedRecord) -> Vec<String> {
    let mut names: Vec<String> = record
        .entries
        .keys()
        .filter_map(|key| {
            key.strip_prefix("installed.releases.")
                .or_else(|| key.strip_prefix("releases."))
        })
        .map(str::to_owned)
        .collect();
    names.sort();
    names.dedup();
    names
}

impl ReleaseProvider {
    /// Removes every entry the record holds for release `name`.
    pub(crate) async fn forget(&self, name: &str) -> Result<(), ReleaseError> {
        for key in record_keys(name) {
            if self.record.get(&key).is_some() {
                AppliedRecord::forget(self.objects.client(), &self.record.environment, &key)
                    .await?;
            }
        }
        Ok(())
    }

    /// Records that kindform installed `desired`, unless the record says so.
    pub(crate) async fn remember_installed(
        &self,
        desired: &DesiredRelease,
    ) -> Result<(), ReleaseError> {
        let entry = installed_entry(desired);
        let key = installed_key(&desired.name);
        if self.record.get(&key).map(|e| &e.fingerprint) == Some(&entry.fingerprint) {
            return Ok(());
        }
        AppliedRecord::write(
            self.objects.client(),
            &self.record.environment,
            &key,
            &entry,
        )
        .await?;
        Ok(())
    }
}

impl Orphans for ReleaseProvider {
    type Orphan = ReleaseOrphan;

    async fn orphans(
        &self,
        in_spec: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Vec<(String, ReleaseOrphan)>, ReleaseError> {
        let listed = self.listed();
        let mut found = Vec::new();
        for name in recorded_names(&self.record) {
            if in_spec(&name) {
                continue;
            }
            let entry = self.record.get(&installed_key(&name));
            let depends_on: Vec<String> = entry
                .and_then(|e| serde_json::from_value(e.settings.get("depends_on")?.clone()).ok())
                .unwrap_or_default();
            // An older record names no namespace: Helm's storage does, when
            // one release alone has the name.
            let namespace = entry
                .and_then(|e| e.settings.get("namespace")?.as_str().map(str::to_owned))
                .or_else(|| {
                    let mut matching = listed.iter().filter(|l| l.name == name);
                    match (matching.next(), matching.next()) {
                        (Some(only), None) => Some(only.namespace.clone()),
                        _ => None,
                    }
                });
            let installed = match &namespace {
                Some(ns) => self.has(&name, ns)?,
                None => false,
            };
            found.push((
                name.clone(),
                ReleaseOrphan {
                    name,
                    namespace,
                    depends_on,
                    installed,
                },
            ));
        }
        Ok(found)
    }

    fn plan_orphan(orphan: &ReleaseOrphan) -> Diff<ReleaseStep> {
        let before = json!({"namespace": orphan.namespace, "installed": orphan.installed});
        match (&orphan.namespace, orphan.installed) {
            (Some(namespace), true) => Diff {
                differences: vec![Difference::new(
                    Reason::Orphaned,
                    Effect::Delete,
                    format!(
                        "left the spec; kindform installed it, so it is uninstalled from namespace {namespace}"
                    ),
                )],
                steps: vec![
                    ReleaseStep::Uninstall {
                        release: orphan.name.clone(),
                        namespace: namespace.clone(),
                    },
                    ReleaseStep::Forget,
                ],
                before,
                after: Value::Null,
            },
            _ => Diff {
                differences: vec![Difference::new(
                    Reason::Orphaned,
                    Effect::Delete,
                    "left the spec and Helm no longer has it: only kindform's record of it goes",
                )],
                steps: vec![ReleaseStep::Forget],
                before,
                after: Value::Null,
            },
        }
    }

    async fn apply_orphan(
        &self,
        orphan: &ReleaseOrphan,
        steps: &[ReleaseStep],
        progress: &dyn Progress,
    ) -> Result<Outcome, ReleaseError> {
        for step in steps {
            progress.step(&step.to_string());
            match step {
                ReleaseStep::Uninstall { release, namespace } => {
                    let args = crate::repair::uninstall_orphan_args(release, namespace);
                    self.helm.run(&args, None).await?;
                }
                ReleaseStep::Forget => self.forget(&orphan.name).await?,
                // Nothing else is planned for an orphan.
                _ => {}
            }
        }
        Ok(Outcome::Done)
    }
}
