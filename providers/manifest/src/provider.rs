//! The manifest provider: observes a manifest's objects through the API,
//! and does the steps its plans hold.

use std::sync::Arc;

use std::path::Path;

use kindform_api::provider::{Diff, Orphans, Outcome, Progress, Provider, Resolve};
use kindform_api::{Health, HealthState};
use kindform_api::{ManifestSource, ManifestSpec};
use kindform_kube::{AppliedRecord, ObjectRef, Objects};
use serde_json::json;

use crate::diff::{Existing, LiveObject, ManifestLive, NotOurs, delete_steps};
use crate::download::Limits;
use crate::error::ManifestError;
use crate::orphans::{Orphan, record_entry, recorded_objects};
use crate::secrets::comparable;
use crate::source::DesiredManifest;
use crate::source::ENVIRONMENT_LABEL;
use crate::step::ManifestStep;

/// Reads and compares manifests.
pub struct ManifestProvider {
    objects: Arc<Objects>,
    record: Arc<AppliedRecord>,
}

impl ManifestProvider {
    /// A provider reading through `objects`, with the applied record read
    /// once for the plan.
    pub fn new(objects: Arc<Objects>, record: Arc<AppliedRecord>) -> Self {
        ManifestProvider { objects, record }
    }

    /// The objects of `listed` that exist, split into those this
    /// environment's label claims, which it may delete, and the others
    /// (another environment's, or nobody's), which it never touches.
    async fn existing(&self, listed: &[ObjectRef]) -> Result<Existing, ManifestError> {
        let mut found = Existing::default();
        for reference in listed {
            if let Some(object) = self.objects.get(reference).await? {
                match self.claims(&object) {
                    Ok(()) => found.ours.push(reference.clone()),
                    Err(label) => found.others.push(NotOurs {
                        object: reference.clone(),
                        environment: label,
                    }),
                }
            }
        }
        Ok(found)
    }

    /// Whether this environment's label is on `object`; else what is.
    fn claims(&self, object: &serde_json::Value) -> Result<(), Option<String>> {
        let label = object["metadata"]["labels"][ENVIRONMENT_LABEL].as_str();
        if label == Some(self.record.environment.as_str()) {
            Ok(())
        } else {
            Err(label.map(str::to_owned))
        }
    }

    /// Deletes one object, only while it carries this environment's label,
    /// and only the very object looked at (a precondition on its uid).
    async fn delete(
        &self,
        reference: &ObjectRef,
        progress: &dyn Progress,
    ) -> Result<(), ManifestError> {
        let Some(info) = self
            .objects
            .kind(&reference.api_version, &reference.kind)
            .await?
        else {
            return Ok(());
        };
        let Some(object) = self.objects.get(reference).await? else {
            return Ok(());
        };
        if let Err(label) = self.claims(&object) {
            progress.output(&format!(
                "left {reference} alone: {}",
                NotOurs::why(label.as_deref())
            ));
            return Ok(());
        }
        let params = kube::api::DeleteParams {
            preconditions: Some(kube::api::Preconditions {
                uid: object["metadata"]["uid"].as_str().map(str::to_owned),
                resource_version: None,
            }),
            ..Default::default()
        };
        let deleted = self
            .objects
            .api(&info, reference.namespace.as_deref())
            .delete(&reference.name, &params)
            .await;
        match deleted {
            Ok(_) => Ok(()),
            // Gone, or replaced by another object of that name since.
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(()),
            Err(source) => Err(ManifestError::Change {
                what: "delete",
                object: reference.to_string(),
                source,
            }),
        }
    }

    /// Server-side applies the manifest's objects; the references applied,
    /// namespaces filled in where the kind is namespaced (a kind whose CRD
    /// arrived after the plan looked included).
    async fn server_side_apply(
        &self,
        desired: &DesiredManifest,
    ) -> Result<Vec<ObjectRef>, ManifestError> {
        use kube::api::{Patch, PatchParams};

        let mut applied = Vec::new();
        for object in &desired.objects {
            let Some(mut reference) = ObjectRef::of(object) else {
                continue;
            };
            let info = self
                .objects
                .kind(&reference.api_version, &reference.kind)
                .await?
                .ok_or_else(|| ManifestError::NotServed {
                    kind: reference.kind.clone(),
                    api_version: reference.api_version.clone(),
                })?;
            reference.namespace = namespace_of(&reference, info.namespaced, desired);
            let mut object = object.clone();
            if let Some(ns) = &reference.namespace {
                object["metadata"]["namespace"] = json!(ns);
            }
            let params = PatchParams::apply("kindform").force();
            self.objects
                .api(&info, reference.namespace.as_deref())
                .patch(&reference.name, &params, &Patch::Apply(&object))
                .await
                .map_err(|source| ManifestError::Change {
                    what: "apply",
                    object: reference.to_string(),
                    source,
                })?;
            applied.push(reference);
        }
        Ok(applied)
    }

    /// Does `steps` for the manifest at `address` (`desired` is `None` for
    /// an orphan, whose plans only delete and forget).
    async fn run(
        &self,
        address: &str,
        desired: Option<&DesiredManifest>,
        steps: &[ManifestStep],
        progress: &dyn Progress,
    ) -> Result<Outcome, ManifestError> {
        let mut applied: Option<Vec<ObjectRef>> = None;
        for step in steps {
            progress.step(&step.to_string());
            match (step, desired) {
                (ManifestStep::Apply { .. }, Some(desired)) => {
                    applied = Some(self.server_side_apply(desired).await?);
                }
                (ManifestStep::Delete { object }, _) => self.delete(object, progress).await?,
                (ManifestStep::Wait { index, .. }, Some(desired)) => {
                    if let Some(wait) = desired.spec.wait.get(*index) {
                        kindform_kube::wait::wait_for(
                            &self.objects,
                            wait,
                            desired.spec.namespace.as_deref(),
                        )
                        .await?;
                    }
                }
                (ManifestStep::Record { objects }, Some(desired)) => {
                    let applied = applied.as_deref().unwrap_or(objects);
                    let entry = record_entry(desired, applied);
                    AppliedRecord::write(
                        self.objects.client(),
                        &self.record.environment,
                        address,
                        &entry,
                    )
                    .await?;
                }
                (ManifestStep::Forget, _) => {
                    AppliedRecord::forget(self.objects.client(), &self.record.environment, address)
                        .await?;
                }
                (_, None) => return Err(ManifestError::NotInSpec(address.to_owned())),
            }
        }
        Ok(Outcome::Done)
    }
}

/// What resolving a manifest reads.
pub struct ManifestInput<'a> {
    /// Its name under `manifests`.
    pub name: &'a str,
    /// Its definition.
    pub spec: &'a ManifestSpec,
    /// The environment's name (its objects are labelled with it).
    pub environment: &'a str,
    /// The spec's folder (files are relative to it).
    pub base_dir: &'a Path,
    /// The state folder, where downloads are kept.
    pub state_dir: &'a Path,
}

/// Where an object of the manifest lives: its own namespace, else the
/// manifest's, else `default`; none for a cluster-scoped kind. Observe and
/// apply both place objects by it, so they name the same object.
fn namespace_of(
    reference: &ObjectRef,
    namespaced: bool,
    desired: &DesiredManifest,
) -> Option<String> {
    namespaced.then(|| {
        reference
            .namespace
            .clone()
            .or_else(|| desired.spec.namespace.clone())
            .unwrap_or_else(|| "default".to_owned())
    })
}

impl Resolve for ManifestProvider {
    type Input<'a> = ManifestInput<'a>;

    /// Fetches it when the spec names it by URL (from the download cache
    /// when the file there still has the pinned hash), then reads and
    /// labels its objects. Nothing is written: apply stores a fresh
    /// download, under the lock.
    async fn resolve<'a>(input: Self::Input<'a>) -> Result<DesiredManifest, ManifestError> {
        let downloaded = match &input.spec.source {
            ManifestSource::Url { url, sha256 } => Some(
                crate::download::fetch(url, sha256, input.state_dir, &Limits::default()).await?,
            ),
            _ => None,
        };
        crate::source::resolve(
            input.name,
            input.spec,
            input.environment,
            input.base_dir,
            downloaded,
        )
    }
}

impl Orphans for ManifestProvider {
    type Orphan = Orphan;

    async fn orphans(
        &self,
        in_spec: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Vec<(String, Orphan)>, ManifestError> {
        let mut orphans = Vec::new();
        for (key, entry) in &self.record.entries {
            let Some(name) = key.strip_prefix("manifests.") else {
                continue;
            };
            if in_spec(name) {
                continue;
            }
            let found = self.existing(&recorded_objects(entry)).await?;
            let orphan = Orphan {
                name: name.to_owned(),
                existing: found.ours,
                not_ours: found.others,
                entry: entry.clone(),
            };
            orphans.push((name.to_owned(), orphan));
        }
        Ok(orphans)
    }

    fn plan_orphan(orphan: &Orphan) -> Diff<ManifestStep> {
        orphan.diff()
    }

    async fn apply_orphan(
        &self,
        orphan: &Orphan,
        steps: &[ManifestStep],
        progress: &dyn Progress,
    ) -> Result<Outcome, ManifestError> {
        let address = format!("manifests.{}", orphan.name);
        self.run(&address, None, steps, progress).await
    }
}

impl Provider for ManifestProvider {
    type Desired = DesiredManifest;
    type Live = ManifestLive;
    type Step = ManifestStep;
    type Error = ManifestError;

    async fn observe(&self, desired: &DesiredManifest) -> Result<ManifestLive, ManifestError> {
        let mut objects = Vec::new();
        for object in &desired.objects {
            let Some(mut reference) = ObjectRef::of(object) else {
                continue;
            };
            let Some(info) = self
                .objects
                .kind(&reference.api_version, &reference.kind)
                .await?
            else {
                objects.push(LiveObject {
                    reference,
                    served: false,
                    live: None,
                });
                continue;
            };
            reference.namespace = namespace_of(&reference, info.namespaced, desired);
            let live = self.objects.get(&reference).await?.map(|o| comparable(&o));
            objects.push(LiveObject {
                reference,
                served: true,
                live,
            });
        }
        let wanted: Vec<&ObjectRef> = objects.iter().map(|o| &o.reference).collect();
        let left: Vec<ObjectRef> = self
            .record
            .get(&desired.address)
            .map(recorded_objects)
            .unwrap_or_default()
            .into_iter()
            .filter(|r| !wanted.contains(&r))
            .collect();
        // Those another environment's label claims are never pruned.
        let stale = self.existing(&left).await?.ours;
        let mut unmet = Vec::new();
        if objects.iter().all(|o| o.live.is_some()) {
            for wait in &desired.spec.wait {
                let namespace = desired.spec.namespace.as_deref();
                if let Some(missing) =
                    kindform_kube::wait::unmet(&self.objects, wait, namespace).await?
                {
                    unmet.push(format!(
                        "{}: {missing}",
                        kindform_kube::wait::describe(wait)
                    ));
                }
            }
        }
        Ok(ManifestLive {
            objects,
            stale,
            unmet,
        })
    }

    async fn apply(
        &self,
        desired: &DesiredManifest,
        steps: &[ManifestStep],
        progress: &dyn Progress,
    ) -> Result<Outcome, ManifestError> {
        if let Some(downloaded) = &desired.downloaded {
            crate::download::store(downloaded).map_err(|source| ManifestError::Cache {
                path: downloaded.to_store.clone().unwrap_or_default(),
                source,
            })?;
        }
        self.run(&desired.address, Some(desired), steps, progress)
            .await
    }

    fn diff(&self, desired: &DesiredManifest, live: &ManifestLive) -> Diff<ManifestStep> {
        crate::diff::diff(desired, live)
    }

    fn plan_create(desired: &DesiredManifest) -> Diff<ManifestStep> {
        crate::diff::plan_create(desired)
    }

    fn plan_delete(
        &self,
        _desired: &DesiredManifest,
        live: Option<&ManifestLive>,
    ) -> Vec<ManifestStep> {
        let live: Vec<ObjectRef> = live
            .map(|l| {
                l.objects
                    .iter()
                    .filter(|o| o.live.is_some())
                    .map(|o| o.reference.clone())
                    .collect()
            })
            .unwrap_or_default();
        delete_steps(&live)
    }

    fn health(&self, desired: &DesiredManifest, live: &ManifestLive) -> Health {
        let mut health = Health::healthy();
        let absent: Vec<String> = live
            .objects
            .iter()
            .filter(|o| o.live.is_none())
            .map(|o| o.reference.to_string())
            .collect();
        if !absent.is_empty() {
            health.note(
                HealthState::Broken,
                format!("absent: {}", absent.join(", ")),
            );
            return health;
        }
        for unmet in &live.unmet {
            health.note(HealthState::Degraded, format!("does not hold: {unmet}"));
        }
        if health.state == HealthState::Healthy {
            let count = live.objects.len();
            health.evidence.push(format!(
                "{count} object{} present{}",
                if count == 1 { "" } else { "s" },
                if desired.spec.wait.is_empty() {
                    ""
                } else {
                    ", every wait condition holds"
                }
            ));
        }
        health
    }
}
