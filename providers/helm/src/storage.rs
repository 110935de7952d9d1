//! Helm's own storage of releases, read through the Kubernetes API instead
//! of through `helm`: one list of the release records (`owner=helm`, every
//! namespace) gives every release's revisions, status, chart, user values
//! and rendered manifest, with no process started.
//!
//! Helm keeps one record per revision (docs/tools.md, "Release storage"):
//! a Secret (the default driver) or a ConfigMap (`HELM_DRIVER=configmap`)
//! named `sh.helm.release.v1.<release>.v<revision>`, labelled `owner=helm`,
//! `name`, `status` and `version`, whose `release` key holds
//! `base64(gzip(JSON))`; Helm 3 and Helm 4 write the same. Only each
//! release's latest record is decoded; the history comes from the labels.
//! A record that cannot be decoded is kept as the reason it cannot, and the
//! release it belongs to fails to observe with that reason, never guessed.
//! Another driver (`sql`, `memory`) is read through the helm CLI instead.

use std::collections::BTreeMap;
use std::io::Read as _;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kindform_api::bounded::MAX_TOOL_OUTPUT_BYTES;
use kube::api::{Api, ListParams};
use serde::Deserialize;
use serde_json::Value;

use crate::cli::{Listed, Revision};
use crate::status::ReleaseStatus;

/// Where Helm keeps its release records, by `HELM_DRIVER`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Driver {
    /// Secrets (`secret`, `secrets`, or unset): Helm's default.
    Secrets,
    /// ConfigMaps (`configmap`, `configmaps`).
    ConfigMaps,
    /// Anything else (`sql`, `memory`): only `helm` can read it.
    Other,
}

impl Driver {
    /// The driver `HELM_DRIVER` names (the value Helm itself reads).
    pub fn from_env() -> Driver {
        Driver::named(std::env::var("HELM_DRIVER").ok().as_deref())
    }

    /// The driver of a `HELM_DRIVER` value, as Helm reads it.
    pub fn named(value: Option<&str>) -> Driver {
        match value.map(str::trim).unwrap_or_default() {
            "" | "secret" | "secrets" => Driver::Secrets,
            "configmap" | "configmaps" => Driver::ConfigMaps,
            _ => Driver::Other,
        }
    }
}

/// One release as its latest record holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredRelease {
    /// What `helm list` shows of it.
    pub listed: Listed,
    /// Its revisions, oldest first (numbers and statuses).
    pub history: Vec<Revision>,
    /// Its user-supplied values (`null` when none were given); secrets
    /// inside.
    pub values: Value,
    /// The manifest its latest revision rendered (hooks left out, as Helm
    /// keeps them apart).
    pub manifest: String,
}

/// Why a record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The list of records failed.
    #[error("cannot list Helm's release records ({what})")]
    List {
        /// `secrets` or `configmaps`.
        what: &'static str,
        #[source]
        source: kube::Error,
    },
    /// A release's latest record is not what Helm writes.
    #[error("Helm's record {namespace}/{record} cannot be read: {reason}")]
    Undecodable {
        /// Its namespace.
        namespace: String,
        /// The Secret's or ConfigMap's name.
        record: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Every release the records hold, by namespace and name.
#[derive(Debug, Default)]
pub struct Storage {
    releases: BTreeMap<(String, String), Result<StoredRelease, String>>,
    /// The latest record's name, for messages.
    names: BTreeMap<(String, String), String>,
}

/// One record before decoding: who it is and its payload.
struct Raw {
    name: String,
    namespace: String,
    labels: BTreeMap<String, String>,
    /// Helm's text: `base64(gzip(JSON))`.
    payload: Option<Vec<u8>>,
}

impl Storage {
    /// Lists the records of `driver` (not [`Driver::Other`]) in every namespace.
    pub async fn read(client: &kube::Client, driver: Driver) -> Result<Storage, StorageError> {
        let params = ListParams::default().labels("owner=helm");
        let raw: Vec<Raw> = match driver {
            Driver::ConfigMaps => Api::<ConfigMap>::all(client.clone())
                .list(&params)
                .await
                .map_err(|source| StorageError::List {
                    what: "configmaps",
                    source,
                })?
                .items
                .into_iter()
                .map(|c| Raw {
                    name: c.metadata.name.unwrap_or_default(),
                    namespace: c.metadata.namespace.unwrap_or_default(),
                    labels: c.metadata.labels.unwrap_or_default(),
                    payload: c
                        .data
                        .and_then(|mut d| d.remove("release"))
                        .map(String::into_bytes),
                })
                .collect(),
            _ => Api::<Secret>::all(client.clone())
                .list(&params)
                .await
                .map_err(|source| StorageError::List {
                    what: "secrets",
                    source,
                })?
                .items
                .into_iter()
                .filter(|s| s.type_.as_deref() == Some("helm.sh/release.v1"))
                .map(|s| Raw {
                    name: s.metadata.name.unwrap_or_default(),
                    namespace: s.metadata.namespace.unwrap_or_default(),
                    labels: s.metadata.labels.unwrap_or_default(),
                    payload: s.data.and_then(|mut d| d.remove("release")).map(|b| b.0),
                })
                .collect(),
        };
        Ok(Storage::of(raw))
    }

    fn of(raw: Vec<Raw>) -> Storage {
        let mut by_release: BTreeMap<(String, String), Vec<(u64, Raw)>> = BTreeMap::new();
        for record in raw {
            let Some(release) = record.labels.get("name").cloned() else {
                continue;
            };
            let revision = record
                .labels
                .get("version")
                .and_then(|v| v.parse().ok())
                .or_else(|| revision_of_name(&record.name))
                .unwrap_or(0);
            by_release
                .entry((record.namespace.clone(), release))
                .or_default()
                .push((revision, record));
        }
        let mut storage = Storage::default();
        for (key, mut records) in by_release {
            records.sort_by_key(|(revision, _)| *revision);
            let history: Vec<Revision> = records
                .iter()
                .map(|(revision, r)| Revision {
                    revision: *revision,
                    status: r
                        .labels
                        .get("status")
                        .and_then(|s| serde_json::from_value(Value::String(s.clone())).ok())
                        .unwrap_or(ReleaseStatus::Unknown),
                    chart: String::new(),
                    description: String::new(),
                })
                .collect();
            let Some((_, latest)) = records.pop() else {
                continue;
            };
            let decoded = latest
                .payload
                .as_deref()
                .ok_or_else(|| "it holds no `release` key".to_owned())
                .and_then(decode)
                .and_then(|record| stored(record, history));
            storage.names.insert(key.clone(), latest.name);
            storage.releases.insert(key, decoded);
        }
        storage
    }

    /// Release `name` in `namespace`, as its latest record holds it;
    /// `None` when Helm has no record of it.
    pub fn release(
        &self,
        name: &str,
        namespace: &str,
    ) -> Result<Option<&StoredRelease>, StorageError> {
        let key = (namespace.to_owned(), name.to_owned());
        match self.releases.get(&key) {
            None => Ok(None),
            Some(Ok(release)) => Ok(Some(release)),
            Some(Err(reason)) => Err(StorageError::Undecodable {
                namespace: namespace.to_owned(),
                record: self.names.get(&key).cloned().unwrap_or_default(),
                reason: reason.clone(),
            }),
        }
    }

    /// What `helm list -A` would show: every release whose latest record
    /// could be read.
    pub fn listed(&self) -> Vec<Listed> {
        self.releases
            .values()
            .filter_map(|r| r.as_ref().ok())
            .map(|r| r.listed.clone())
            .collect()
    }
}

/// `sh.helm.release.v1.web.v3` -> 3, for a record without its `version` label.
fn revision_of_name(name: &str) -> Option<u64> {
    name.rsplit_once(".v")?.1.parse().ok()
}

/// The parts of Helm's release JSON kindform reads (`pkg/release`).
#[derive(Deserialize)]
struct Record {
    name: String,
    namespace: String,
    version: u64,
    #[serde(default)]
    info: Info,
    chart: Option<Chart>,
    #[serde(default)]
    config: Value,
    #[serde(default)]
    manifest: String,
}

#[derive(Default, Deserialize)]
struct Info {
    #[serde(default)]
    status: Option<ReleaseStatus>,
    #[serde(default)]
    last_deployed: String,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize)]
struct Chart {
    metadata: ChartMetadata,
}

#[derive(Deserialize)]
struct ChartMetadata {
    name: String,
    #[serde(default)]
    version: String,
    #[serde(default, rename = "appVersion")]
    app_version: String,
}

/// Helm's payload to its JSON: base64, then gunzip when the bytes start
/// with gzip's magic (Helm writes plain JSON only in its oldest versions),
/// bounded like any tool output.
fn decode(payload: &[u8]) -> Result<Record, String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(payload.trim_ascii())
        .map_err(|e| format!("its payload is not base64 ({e})"))?;
    let json = if bytes.starts_with(&[0x1f, 0x8b, 0x08]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .take(MAX_TOOL_OUTPUT_BYTES as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| format!("its payload is not gzip ({e})"))?;
        if out.len() > MAX_TOOL_OUTPUT_BYTES {
            return Err(format!(
                "its payload unpacks to more than {} MiB",
                MAX_TOOL_OUTPUT_BYTES >> 20
            ));
        }
        out
    } else {
        bytes
    };
    serde_json::from_slice(&json).map_err(|e| format!("its payload is not a Helm release ({e})"))
}

fn stored(record: Record, mut history: Vec<Revision>) -> Result<StoredRelease, String> {
    let status = record
        .info
        .status
        .ok_or_else(|| "its release has no status".to_owned())?;
    let chart = record
        .chart
        .map(|c| {
            let m = c.metadata;
            (format!("{}-{}", m.name, m.version), m.app_version)
        })
        .unwrap_or_default();
    // The decoded record is the truth for its own revision.
    if let Some(last) = history.last_mut() {
        last.status = status;
        last.chart = chart.0.clone();
        last.description = record.info.description.clone();
    }
    Ok(StoredRelease {
        listed: Listed {
            name: record.name,
            namespace: record.namespace,
            revision: record.version.to_string(),
            updated: record.info.last_deployed,
            status,
            chart: chart.0,
            app_version: chart.1,
        },
        history,
        values: record.config,
        manifest: record.manifest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use serde_json::json;
    use std::io::Write as _;

    fn payload(release: &Value) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(release.to_string().as_bytes()).unwrap();
        base64::engine::general_purpose::STANDARD
            .encode(gz.finish().unwrap())
            .into_bytes()
    }

    fn raw(name: &str, revision: u64, status: &str, payload: Option<Vec<u8>>) -> Raw {
        Raw {
            name: format!("sh.helm.release.v1.{name}.v{revision}"),
            namespace: "apps".into(),
            labels: [
                ("name", name.to_owned()),
                ("owner", "helm".to_owned()),
                ("status", status.to_owned()),
                ("version", revision.to_string()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
            payload,
        }
    }

    fn release(revision: u64, status: &str) -> Value {
        json!({
            "name": "web", "namespace": "apps", "version": revision,
            "info": {"status": status, "last_deployed": "2026-12-01T10:00:00Z", "description": "Upgrade complete"},
            "chart": {"metadata": {"name": "web", "version": "1.2.3", "appVersion": "2.0"}, "templates": []},
            "config": {"replicas": 2},
            "manifest": "---\n# Source: web/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n",
        })
    }

    #[test]
    fn the_latest_record_is_decoded_and_the_history_read_from_labels() {
        let storage = Storage::of(vec![
            raw("web", 2, "deployed", Some(payload(&release(2, "deployed")))),
            raw("web", 1, "superseded", Some(b"not read".to_vec())),
        ]);
        let web = storage.release("web", "apps").unwrap().unwrap();
        assert_eq!(web.listed.revision, "2");
        assert_eq!(web.listed.status, ReleaseStatus::Deployed);
        assert_eq!(web.listed.chart, "web-1.2.3");
        assert_eq!(web.listed.app_version, "2.0");
        assert_eq!(web.values, json!({"replicas": 2}));
        assert!(web.manifest.contains("kind: ConfigMap"));
        let history: Vec<(u64, ReleaseStatus)> =
            web.history.iter().map(|r| (r.revision, r.status)).collect();
        assert_eq!(
            history,
            [(1, ReleaseStatus::Superseded), (2, ReleaseStatus::Deployed)]
        );
        assert_eq!(storage.listed().len(), 1);
        assert!(storage.release("web", "other").unwrap().is_none());
    }

    #[test]
    fn a_record_that_cannot_be_decoded_is_reported_not_guessed() {
        for (payload, why) in [
            (Some(b"%%%".to_vec()), "is not base64"),
            (
                Some(
                    base64::engine::general_purpose::STANDARD
                        .encode([0x1f, 0x8b, 0x08, 0, 1])
                        .into_bytes(),
                ),
                "is not gzip",
            ),
            (
                Some(payload(&json!({"name": "web"}))),
                "is not a Helm release",
            ),
            (None, "holds no `release` key"),
        ] {
            let storage = Storage::of(vec![raw("web", 3, "deployed", payload)]);
            let err = storage.release("web", "apps").unwrap_err().to_string();
            assert!(
                err.starts_with(
                    "Helm's record apps/sh.helm.release.v1.web.v3 cannot be read: its payload"
                ) || err.contains("holds no"),
                "{err}"
            );
            assert!(err.contains(why), "{err}");
            // Nor is it listed as if it were something.
            assert!(storage.listed().is_empty());
        }
    }

    #[test]
    fn an_uncompressed_record_is_read_too() {
        let plain = base64::engine::general_purpose::STANDARD
            .encode(release(1, "deployed").to_string())
            .into_bytes();
        let storage = Storage::of(vec![raw("web", 1, "deployed", Some(plain))]);
        assert!(storage.release("web", "apps").unwrap().is_some());
    }

    #[test]
    fn drivers_are_named_as_helm_names_them() {
        assert_eq!(Driver::named(None), Driver::Secrets);
        assert_eq!(Driver::named(Some("secret")), Driver::Secrets);
        assert_eq!(Driver::named(Some("configmaps")), Driver::ConfigMaps);
        assert_eq!(Driver::named(Some("sql")), Driver::Other);
        assert_eq!(Driver::named(Some("memory")), Driver::Other);
    }
}
