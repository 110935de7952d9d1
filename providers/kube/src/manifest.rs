//! The manifest provider: owns `manifests.*`, plain Kubernetes objects that
//! kindform applies server-side. It reads the YAML the spec names, looks up
//! each object in the API, compares only the fields the manifest sets, and
//! finds objects applied earlier that have left the manifest (through the
//! applied record, which lists the objects of each manifest). Manifests that
//! left the spec altogether are orphans: [`ManifestProvider::observe_orphan`]
//! and [`orphan_diff`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use kindform_api::provider::{
    Diff, Difference, Effect, Outcome, Progress, Provider, live_or_observe,
};
use kindform_api::settings::{SENSITIVE, changed_paths, digest, fingerprint, sorted};
use kindform_api::{Health, HealthState, ManifestSource, ManifestSpec};
use serde::Serialize;
use serde_json::{Value, json};

use crate::objects::{ObjectRef, Objects, ObjectsError};
use crate::record::{AppliedRecord, RecordEntry};

/// The label every object kindform applies carries.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "kindform");
/// The label naming the environment that applied an object.
pub const ENVIRONMENT_LABEL: &str = "kindform.dev/environment";
/// The label naming the address that applied an object.
pub const ADDRESS_LABEL: &str = "kindform.dev/address";

/// A manifest as the spec means it: its objects read, parsed and labelled.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredManifest {
    /// `manifests.<name>`.
    pub address: String,
    /// The spec's definition.
    pub spec: ManifestSpec,
    /// Its objects, in file order, with kindform's labels.
    pub objects: Vec<Value>,
}

/// Why a manifest could not be read or observed.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// A manifest file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A manifest file is not valid YAML.
    #[error("{path} is not valid YAML")]
    Yaml {
        /// The file (or `the inline YAML`).
        path: String,
        /// Why.
        #[source]
        source: serde_yaml_ng::Error,
    },
    /// A document is not a Kubernetes object.
    #[error(
        "{path}: document {index} is not a Kubernetes object (it needs apiVersion, kind and metadata.name)"
    )]
    NotAnObject {
        /// The file.
        path: String,
        /// Which document, from 1.
        index: usize,
    },
    /// A downloaded manifest is not in the download cache.
    #[error("{url} has not been downloaded")]
    NotDownloaded {
        /// The address.
        url: String,
    },
    /// A manifest could not be downloaded.
    #[error("cannot download {url}")]
    Download {
        /// The address.
        url: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A download is not the file the spec pins.
    #[error(
        "{url} is not the file the spec pins: its SHA-256 is {actual}, the spec says {expected}; nothing from it was used"
    )]
    Checksum {
        /// The address.
        url: String,
        /// The body's SHA-256.
        actual: String,
        /// The spec's `sha256`.
        expected: String,
    },
    /// The API could not be read.
    #[error(transparent)]
    Objects(#[from] ObjectsError),
    /// The API does not serve an object's kind.
    #[error("the API serves no {kind} in {api_version} (is the CRD that defines it installed?)")]
    NotServed {
        /// The kind.
        kind: String,
        /// Its apiVersion.
        api_version: String,
    },
    /// The API refused to apply or delete an object.
    #[error("cannot {what} {object}")]
    Change {
        /// `apply` or `delete`.
        what: &'static str,
        /// The object.
        object: String,
        /// Why.
        #[source]
        source: kube::Error,
    },
    /// A wait condition did not hold.
    #[error(transparent)]
    Wait(#[from] crate::wait::WaitError),
    /// The applied record could not be written.
    #[error(transparent)]
    Record(#[from] crate::record::RecordError),
}

/// Reads the manifest's YAML and labels its objects. `base_dir` is the
/// spec's folder; downloads are looked for in `state_dir/downloads`.
pub fn resolve(
    name: &str,
    spec: &ManifestSpec,
    environment: &str,
    base_dir: &Path,
    state_dir: &Path,
) -> Result<DesiredManifest, ManifestError> {
    let address = format!("manifests.{name}");
    let mut documents = Vec::new();
    match &spec.source {
        ManifestSource::Inline(text) => parse_into(text, "the inline YAML", &mut documents)?,
        ManifestSource::Path(path) => {
            let full = base_dir.join(path);
            let files = if full.is_dir() {
                let mut files: Vec<PathBuf> = std::fs::read_dir(&full)
                    .map_err(|source| ManifestError::Read {
                        path: full.clone(),
                        source,
                    })?
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        p.extension()
                            .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
                    })
                    .collect();
                files.sort();
                files
            } else {
                vec![full]
            };
            for file in files {
                let text =
                    std::fs::read_to_string(&file).map_err(|source| ManifestError::Read {
                        path: file.clone(),
                        source,
                    })?;
                parse_into(&text, &file.display().to_string(), &mut documents)?;
            }
        }
        ManifestSource::Url { url, sha256 } => {
            let cached = download_path(state_dir, &sha256.to_lowercase());
            let text = std::fs::read_to_string(&cached)
                .map_err(|_| ManifestError::NotDownloaded { url: url.clone() })?;
            parse_into(&text, url, &mut documents)?;
        }
    }
    let objects = documents
        .into_iter()
        .map(|mut object| {
            label(&mut object, environment, &address);
            object
        })
        .collect();
    Ok(DesiredManifest {
        address,
        spec: spec.clone(),
        objects,
    })
}

/// Where a downloaded manifest is kept: the state folder's `downloads`,
/// by its SHA-256 (so a pinned file is fetched once).
pub fn download_path(state_dir: &Path, sha256: &str) -> PathBuf {
    state_dir.join("downloads").join(format!("{sha256}.yaml"))
}

/// Downloads the manifests the spec names by URL and keeps those whose body
/// has the SHA-256 the spec pins; a cached download is not fetched again.
pub async fn download(spec: &ManifestSpec, state_dir: &Path) -> Result<(), ManifestError> {
    use sha2::Digest as _;

    let ManifestSource::Url { url, sha256 } = &spec.source else {
        return Ok(());
    };
    let path = download_path(state_dir, &sha256.to_lowercase());
    if path.is_file() {
        return Ok(());
    }
    let failed = |source: Box<dyn std::error::Error + Send + Sync>| ManifestError::Download {
        url: url.clone(),
        source,
    };
    let response = reqwest::get(url.as_str())
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| failed(Box::new(e)))?;
    let body = response.bytes().await.map_err(|e| failed(Box::new(e)))?;
    let actual: String = sha2::Sha256::digest(&body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if !actual.eq_ignore_ascii_case(sha256) {
        return Err(ManifestError::Checksum {
            url: url.clone(),
            actual,
            expected: sha256.clone(),
        });
    }
    let write = async {
        tokio::fs::create_dir_all(path.parent().unwrap_or(state_dir)).await?;
        tokio::fs::write(&path, &body).await
    };
    write.await.map_err(|e| failed(Box::new(e)))
}

fn parse_into(text: &str, path: &str, out: &mut Vec<Value>) -> Result<(), ManifestError> {
    use serde::Deserialize as _;
    for (i, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(document).map_err(|source| ManifestError::Yaml {
            path: path.to_owned(),
            source,
        })?;
        if value.is_null() {
            continue;
        }
        if value.get("kind").and_then(Value::as_str) == Some("List") {
            out.extend(
                value
                    .get("items")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            );
            continue;
        }
        if ObjectRef::of(&value).is_none() {
            return Err(ManifestError::NotAnObject {
                path: path.to_owned(),
                index: i + 1,
            });
        }
        out.push(value);
    }
    Ok(())
}

fn label(object: &mut Value, environment: &str, address: &str) {
    let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let labels = metadata.entry("labels").or_insert_with(|| json!({}));
    if let Some(labels) = labels.as_object_mut() {
        labels.insert(MANAGED_BY.0.to_owned(), json!(MANAGED_BY.1));
        labels.insert(ENVIRONMENT_LABEL.to_owned(), json!(environment));
        labels.insert(ADDRESS_LABEL.to_owned(), json!(address));
    }
}

/// One object of the manifest as found in the API.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LiveObject {
    /// The object, its namespace filled in where its kind is namespaced.
    pub reference: ObjectRef,
    /// Whether the API serves its kind (a CRD may not be installed yet).
    pub served: bool,
    /// The object as the API has it; `None` when absent. A Secret's data
    /// values are replaced by their digests.
    pub live: Option<Value>,
}

/// The manifest as observed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ManifestLive {
    /// Its objects, in the manifest's order.
    pub objects: Vec<LiveObject>,
    /// Objects the applied record lists for this manifest that it no longer
    /// holds and that still exist.
    pub stale: Vec<ObjectRef>,
    /// The manifest's wait conditions that do not hold now, each with what
    /// is missing; looked at only when every object exists. Left out of
    /// the fingerprint: readiness comes and goes without anyone changing
    /// the manifest.
    #[serde(skip)]
    pub unmet: Vec<String>,
}

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

    async fn delete_objects(
        &self,
        references: &[ObjectRef],
        progress: &dyn Progress,
    ) -> Result<(), ManifestError> {
        for reference in references.iter().rev() {
            let Some(info) = self
                .objects
                .kind(&reference.api_version, &reference.kind)
                .await?
            else {
                continue;
            };
            progress.step(&format!("delete {reference}"));
            let deleted = self
                .objects
                .api(&info, reference.namespace.as_deref())
                .delete(&reference.name, &Default::default())
                .await;
            match deleted {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(source) => {
                    return Err(ManifestError::Change {
                        what: "delete",
                        object: reference.to_string(),
                        source,
                    });
                }
            }
        }
        Ok(())
    }

    /// Deletes what a manifest that left the spec applied (when it was
    /// applied with prune), and forgets it.
    pub async fn delete_orphan(
        &self,
        address: &str,
        entry: &RecordEntry,
        progress: &dyn Progress,
    ) -> Result<(), ManifestError> {
        if recorded_prune(entry) {
            let existing = self.observe_orphan(entry).await?;
            self.delete_objects(&existing, progress).await?;
            progress.step("forget it in the applied record");
            AppliedRecord::forget(self.objects.client(), address).await?;
        }
        Ok(())
    }

    /// The objects the manifest's record entry lists that still exist.
    async fn existing(&self, listed: &[ObjectRef]) -> Result<Vec<ObjectRef>, ManifestError> {
        let mut found = Vec::new();
        for reference in listed {
            if self.objects.get(reference).await?.is_some() {
                found.push(reference.clone());
            }
        }
        Ok(found)
    }

    /// The objects of a manifest that left the spec (its record entry) that
    /// still exist.
    pub async fn observe_orphan(
        &self,
        entry: &RecordEntry,
    ) -> Result<Vec<ObjectRef>, ManifestError> {
        self.existing(&recorded_objects(entry)).await
    }
}

fn recorded_objects(entry: &RecordEntry) -> Vec<ObjectRef> {
    entry
        .settings
        .get("objects")
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default()
}

fn recorded_prune(entry: &RecordEntry) -> bool {
    entry
        .settings
        .get("prune")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// What the applied record keeps for a manifest: the objects applied (so
/// that those that leave it can be pruned), whether pruning was on, and a
/// fingerprint of the objects' content.
pub fn record_entry(desired: &DesiredManifest, applied: &[ObjectRef]) -> RecordEntry {
    RecordEntry {
        fingerprint: fingerprint(&Value::Array(
            desired.objects.iter().map(comparable).collect(),
        )),
        settings: json!({"objects": applied, "prune": desired.spec.prune}),
    }
}

/// The plan for a manifest that left the spec: delete its objects when it
/// was applied with `prune`, otherwise leave them (and say so).
pub fn orphan_diff(entry: &RecordEntry, existing: &[ObjectRef]) -> Diff {
    let names: Vec<String> = existing.iter().map(ToString::to_string).collect();
    let before = json!({"objects": existing});
    if !recorded_prune(entry) {
        return Diff {
            differences: Vec::new(),
            steps: Vec::new(),
            before: before.clone(),
            after: before,
        };
    }
    Diff {
        differences: vec![Difference::new(
            "orphaned",
            Effect::Delete,
            if names.is_empty() {
                "left the spec; its objects are already gone".to_owned()
            } else {
                format!("left the spec (prune is on): {}", names.join(", "))
            },
        )],
        steps: names
            .iter()
            .map(|n| format!("delete {n}"))
            .chain(["forget it in the applied record".to_owned()])
            .collect(),
        before,
        after: Value::Null,
    }
}

/// Secret values never leave kindform: `data` and `stringData` show as
/// `(sensitive)`.
fn redacted(object: &Value) -> Value {
    let mut shown = object.clone();
    if shown.get("kind").and_then(Value::as_str) == Some("Secret") {
        for field in ["data", "stringData"] {
            if let Some(map) = shown.get_mut(field).and_then(Value::as_object_mut) {
                for v in map.values_mut() {
                    *v = json!(SENSITIVE);
                }
            }
        }
    }
    sorted(&shown)
}

/// A Secret as kindform compares it: `stringData` is write-only (the API
/// keeps it base64-encoded in `data`), and `data` values are replaced by
/// their digests, so live state never holds a secret.
fn comparable(object: &Value) -> Value {
    let mut out = object.clone();
    if out.get("kind").and_then(Value::as_str) != Some("Secret") {
        return out;
    }
    let strings = out.as_object_mut().and_then(|o| o.remove("stringData"));
    if let Some(Value::Object(strings)) = strings {
        let data = out
            .as_object_mut()
            .map(|o| o.entry("data").or_insert_with(|| json!({})));
        if let Some(Value::Object(data)) = data {
            for (k, v) in strings {
                let text = v
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string());
                data.insert(
                    k,
                    json!(base64::engine::general_purpose::STANDARD.encode(text)),
                );
            }
        }
    }
    if let Some(Value::Object(data)) = out.get_mut("data") {
        for v in data.values_mut() {
            let encoded = v.as_str().unwrap_or_default();
            *v = json!(format!("digest:{}", digest(encoded.as_bytes())));
        }
    }
    out
}

/// The live object cut down to the fields `desired` sets, so that fields the
/// API adds (status, defaults, other managers' fields) never count as drift.
fn projection(desired: &Value, live: &Value) -> Value {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => Value::Object(
            d.iter()
                .filter_map(|(k, dv)| l.get(k).map(|lv| (k.clone(), projection(dv, lv))))
                .collect(),
        ),
        (Value::Array(d), Value::Array(l)) if d.len() == l.len() => {
            Value::Array(d.iter().zip(l).map(|(dv, lv)| projection(dv, lv)).collect())
        }
        (Value::Number(d), Value::Number(l)) if d.as_f64() == l.as_f64() => desired.clone(),
        _ => live.clone(),
    }
}

impl Provider for ManifestProvider {
    type Desired = DesiredManifest;
    type Live = ManifestLive;
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
            reference.namespace = if info.namespaced {
                reference
                    .namespace
                    .or_else(|| desired.spec.namespace.clone())
                    .or_else(|| Some("default".to_owned()))
            } else {
                None
            };
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
        let stale = self.existing(&left).await?;
        let mut unmet = Vec::new();
        if objects.iter().all(|o| o.live.is_some()) {
            for wait in &desired.spec.wait {
                let namespace = desired.spec.namespace.as_deref();
                if let Some(missing) = crate::wait::unmet(&self.objects, wait, namespace).await? {
                    unmet.push(format!("{}: {missing}", crate::wait::describe(wait)));
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
        live: Option<&ManifestLive>,
        progress: &dyn Progress,
    ) -> Result<Outcome, ManifestError> {
        use kube::api::{Patch, PatchParams};

        let live = live_or_observe(self, desired, live).await?;
        let live = live.as_ref();
        let planned = diff(desired, live);
        if planned.is_empty() {
            return Ok(Outcome::Done);
        }
        let applies = planned.differences.iter().any(|d| d.reason != "pruned");
        let mut applied = Vec::new();
        if applies {
            progress.step(&planned.steps[0]);
            for (object, found) in desired.objects.iter().zip(&live.objects) {
                let mut reference = found.reference.clone();
                let info = self
                    .objects
                    .kind(&reference.api_version, &reference.kind)
                    .await?
                    .ok_or_else(|| ManifestError::NotServed {
                        kind: reference.kind.clone(),
                        api_version: reference.api_version.clone(),
                    })?;
                if !found.served {
                    // Its CRD arrived after the plan looked (a dependency made it).
                    reference.namespace = info.namespaced.then(|| {
                        reference
                            .namespace
                            .clone()
                            .or_else(|| desired.spec.namespace.clone())
                            .unwrap_or_else(|| "default".to_owned())
                    });
                }
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
        } else {
            applied = live.objects.iter().map(|o| o.reference.clone()).collect();
        }
        if desired.spec.prune && !live.stale.is_empty() {
            self.delete_objects(&live.stale, progress).await?;
        }
        if applies {
            for wait in &desired.spec.wait {
                progress.step(&format!("wait for {} {}", wait.kind, wait.condition));
                crate::wait::wait_for(&self.objects, wait, desired.spec.namespace.as_deref())
                    .await?;
            }
        }
        progress.step("record its objects in the applied record");
        let entry = record_entry(desired, &applied);
        AppliedRecord::write(self.objects.client(), &desired.address, &entry).await?;
        Ok(Outcome::Done)
    }

    async fn delete(
        &self,
        desired: &DesiredManifest,
        live: Option<&ManifestLive>,
        progress: &dyn Progress,
    ) -> Result<(), ManifestError> {
        let references: Vec<ObjectRef> = match live {
            Some(live) => live
                .objects
                .iter()
                .filter(|o| o.live.is_some())
                .map(|o| o.reference.clone())
                .collect(),
            None => self
                .observe(desired)
                .await?
                .objects
                .into_iter()
                .filter(|o| o.live.is_some())
                .map(|o| o.reference)
                .collect(),
        };
        self.delete_objects(&references, progress).await?;
        AppliedRecord::forget(self.objects.client(), &desired.address).await?;
        Ok(())
    }

    fn diff(&self, desired: &DesiredManifest, live: &ManifestLive) -> Diff {
        diff(desired, live)
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

    fn plan_create(&self, desired: &DesiredManifest) -> Diff {
        plan_create(desired)
    }
}

/// The differences between a manifest and its objects as observed.
pub fn diff(desired: &DesiredManifest, live: &ManifestLive) -> Diff {
    let mut differences = Vec::new();
    let mut before = Vec::new();
    let mut after = Vec::new();
    let all_absent = live.objects.iter().all(|o| o.live.is_none());
    for (object, found) in desired.objects.iter().zip(&live.objects) {
        let want = comparable(object);
        after.push(redacted(&want));
        match &found.live {
            None => {
                before.push(Value::Null);
                if !all_absent {
                    differences.push(Difference::new(
                        "object-missing",
                        Effect::Update,
                        format!("{} does not exist", found.reference),
                    ));
                }
            }
            Some(have) => {
                let seen = projection(&want, have);
                let fields = changed_paths(&seen, &want);
                if !fields.is_empty() {
                    differences.push(Difference::new(
                        "fields-changed",
                        Effect::Update,
                        format!("{}: {}", found.reference, fields.join(", ")),
                    ));
                }
                before.push(redacted(&seen));
            }
        }
    }
    if all_absent && !live.objects.is_empty() {
        differences.insert(
            0,
            Difference::new(
                "absent",
                Effect::Create,
                format!("none of its {} objects exist", live.objects.len()),
            ),
        );
    }
    let mut steps = Vec::new();
    if !differences.is_empty() {
        steps = apply_steps(desired, &live.objects);
    }
    if desired.spec.prune {
        for stale in &live.stale {
            differences.push(Difference::new(
                "pruned",
                Effect::Update,
                format!("{stale} left the manifest (prune is on)"),
            ));
            steps.push(format!("delete {stale}"));
        }
    }
    let before = if all_absent {
        Value::Null
    } else {
        json!({"objects": before})
    };
    Diff {
        differences,
        steps,
        before,
        after: json!({"objects": after}),
    }
}

fn apply_steps(desired: &DesiredManifest, objects: &[LiveObject]) -> Vec<String> {
    let names: Vec<String> = objects.iter().map(|o| o.reference.to_string()).collect();
    let mut steps = vec![format!(
        "server-side apply {} (field manager kindform)",
        if names.is_empty() {
            "its objects".to_owned()
        } else {
            names.join(", ")
        }
    )];
    for wait in &desired.spec.wait {
        let which = wait
            .selector
            .as_deref()
            .or(wait.name.as_deref())
            .unwrap_or_default();
        steps.push(format!(
            "wait for {} {which} to be {}",
            wait.kind, wait.condition
        ));
    }
    steps.push("record its objects in the applied record".to_owned());
    steps
}

/// What applying the manifest takes when nothing of it exists.
pub fn plan_create(desired: &DesiredManifest) -> Diff {
    let objects: Vec<LiveObject> = desired
        .objects
        .iter()
        .filter_map(ObjectRef::of)
        .map(|reference| LiveObject {
            reference,
            served: true,
            live: None,
        })
        .collect();
    Diff {
        differences: vec![Difference::new(
            "absent",
            Effect::Create,
            format!("{} objects to apply", objects.len()),
        )],
        steps: apply_steps(desired, &objects),
        before: Value::Null,
        after: json!({"objects": desired.objects.iter().map(|o| redacted(&comparable(o))).collect::<Vec<_>>()}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(yaml: &str) -> DesiredManifest {
        let spec = ManifestSpec {
            source: ManifestSource::Inline(yaml.to_owned()),
            namespace: Some("apps".into()),
            wait: Vec::new(),
            prune: false,
            depends_on: Vec::new(),
        };
        resolve("m", &spec, "env", Path::new("."), Path::new(".")).unwrap()
    }

    fn observed(desired: &DesiredManifest, live: Value) -> ManifestLive {
        let mut reference = ObjectRef::of(&desired.objects[0]).unwrap();
        reference.namespace = Some("apps".into());
        ManifestLive {
            objects: vec![LiveObject {
                reference,
                served: true,
                live: Some(comparable(&live)),
            }],
            stale: Vec::new(),
            unmet: Vec::new(),
        }
    }

    const SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: s3cret-value\n";

    fn live_secret(password: &str) -> Value {
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db", "namespace": "apps", "uid": "1", "resourceVersion": "7",
                "labels": {"app.kubernetes.io/managed-by": "kindform", "kindform.dev/environment": "env", "kindform.dev/address": "manifests.m"}},
            "type": "Opaque",
            "data": {"password": base64::engine::general_purpose::STANDARD.encode(password)},
        })
    }

    #[test]
    fn a_secret_written_as_string_data_matches_its_data_and_never_shows() {
        let desired = manifest(SECRET);
        let same = diff(&desired, &observed(&desired, live_secret("s3cret-value")));
        assert!(same.is_empty(), "{same:?}");
        let changed = diff(&desired, &observed(&desired, live_secret("old-value")));
        assert_eq!(changed.differences[0].reason, "fields-changed");
        assert_eq!(
            changed.differences[0].detail,
            "Secret \"db\" in namespace \"apps\": data.password"
        );
        let shown = serde_json::to_string(&changed).unwrap()
            + &serde_json::to_string(&observed(&desired, live_secret("old-value"))).unwrap();
        for secret in ["s3cret-value", "old-value", "czNjcmV0LXZhbHVl"] {
            assert!(!shown.contains(secret), "{secret} shows in {shown}");
        }
    }

    #[test]
    fn fields_the_api_adds_are_not_drift() {
        let desired = manifest(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n      - name: web\n        image: app:1\n",
        );
        let mut live = desired.objects[0].clone();
        live["metadata"]["uid"] = json!("u");
        live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] =
            json!("IfNotPresent");
        live["status"] = json!({"readyReplicas": 1});
        assert!(diff(&desired, &observed(&desired, live.clone())).is_empty());
        live["spec"]["replicas"] = json!(3);
        let d = diff(&desired, &observed(&desired, live));
        assert_eq!(
            d.differences[0].detail,
            "Deployment \"web\" in namespace \"apps\": spec.replicas"
        );
        assert_eq!(d.before["objects"][0]["spec"]["replicas"], 3);
        assert_eq!(d.after["objects"][0]["spec"]["replicas"], 1);
    }
}
