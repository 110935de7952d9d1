//! kindform's applied record: one ConfigMap per environment,
//! `kindform.<environment>` in `kube-system`, one key per address, holding
//! what that environment last applied there (a fingerprint and the
//! normalised settings). It covers what live state cannot show, and lives in
//! the cluster so another machine with the same spec plans the same. Two
//! environments sharing a cluster each keep their own, so neither ever takes
//! the other's entries for its own (and prunes what they list).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use serde::{Deserialize, Serialize};

/// The label naming the environment an object (or record) belongs to.
pub const ENVIRONMENT_LABEL: &str = "kindform.dev/environment";

/// The record's namespace.
pub const NAMESPACE: &str = "kube-system";
/// The record's name for `environment`.
pub fn name(environment: &str) -> String {
    format!("kindform.{environment}")
}

/// What kindform last applied at one address.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordEntry {
    /// A fingerprint of what was applied.
    pub fingerprint: String,
    /// The normalised settings that were applied (secrets redacted).
    pub settings: serde_json::Value,
}

/// One environment's record, by address.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AppliedRecord {
    /// The environment whose record it is.
    pub environment: String,
    /// Its entries, by address.
    pub entries: BTreeMap<String, RecordEntry>,
}

/// Why the record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The API refused.
    #[error("cannot read the applied record {NAMESPACE}/{name}")]
    Api {
        /// The record's name.
        name: String,
        #[source]
        source: kube::Error,
    },
    /// The API refused a change to the record.
    #[error("cannot write {address} to the applied record {NAMESPACE}/{name}")]
    Write {
        /// The record's name.
        name: String,
        /// The entry.
        address: String,
        #[source]
        source: kube::Error,
    },
}

impl AppliedRecord {
    /// An empty record of `environment`.
    pub fn empty(environment: &str) -> AppliedRecord {
        AppliedRecord {
            environment: environment.to_owned(),
            entries: BTreeMap::new(),
        }
    }

    /// Reads the record of `environment`; empty when it does not exist.
    /// Entries that do not parse are left out (a newer kindform may have
    /// written them).
    pub async fn read(
        client: &kube::Client,
        environment: &str,
    ) -> Result<AppliedRecord, RecordError> {
        let api: kube::Api<ConfigMap> = kube::Api::namespaced(client.clone(), NAMESPACE);
        let name = name(environment);
        let found = api
            .get_opt(&name)
            .await
            .map_err(|source| RecordError::Api {
                name: name.clone(),
                source,
            })?;
        let Some(map) = found else {
            return Ok(AppliedRecord::empty(environment));
        };
        let entries = map
            .data
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| serde_json::from_str(&v).ok().map(|e| (k, e)))
            .collect();
        Ok(AppliedRecord {
            environment: environment.to_owned(),
            entries,
        })
    }

    /// The entry of one address.
    pub fn get(&self, address: &str) -> Option<&RecordEntry> {
        self.entries.get(address)
    }

    /// Sets the entry of one address in the record of `environment` (a
    /// merge patch of that key alone, so concurrent writers of other keys do
    /// not clash), creating the record when it does not exist.
    pub async fn write(
        client: &kube::Client,
        environment: &str,
        address: &str,
        entry: &RecordEntry,
    ) -> Result<(), RecordError> {
        let text = serde_json::to_string(entry).unwrap_or_default();
        Self::patch(
            client,
            environment,
            address,
            serde_json::Value::String(text),
        )
        .await
    }

    /// Removes the entry of one address from the record of `environment`.
    pub async fn forget(
        client: &kube::Client,
        environment: &str,
        address: &str,
    ) -> Result<(), RecordError> {
        Self::patch(client, environment, address, serde_json::Value::Null).await
    }

    async fn patch(
        client: &kube::Client,
        environment: &str,
        address: &str,
        value: serde_json::Value,
    ) -> Result<(), RecordError> {
        use kube::api::{Patch, PatchParams, PostParams};

        let api: kube::Api<ConfigMap> = kube::Api::namespaced(client.clone(), NAMESPACE);
        let name = name(environment);
        let failed = |source| RecordError::Write {
            name: name.clone(),
            address: address.to_owned(),
            source,
        };
        let patch = serde_json::json!({"data": {address: value.clone()}});
        match api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => {
                if value.is_null() {
                    return Ok(());
                }
                let mut map = ConfigMap::default();
                map.metadata.name = Some(name.clone());
                map.metadata.namespace = Some(NAMESPACE.to_owned());
                map.metadata.labels = Some(
                    [
                        ("app.kubernetes.io/managed-by", "kindform"),
                        (ENVIRONMENT_LABEL, environment),
                    ]
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
                );
                map.data = Some(
                    [(
                        address.to_owned(),
                        value.as_str().unwrap_or_default().to_owned(),
                    )]
                    .into_iter()
                    .collect(),
                );
                match api.create(&PostParams::default(), &map).await {
                    Ok(_) => Ok(()),
                    // Another writer made it first: patch it as above.
                    Err(kube::Error::Api(e)) if e.code == 409 => api
                        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                        .await
                        .map(|_| ())
                        .map_err(failed),
                    Err(e) => Err(failed(e)),
                }
            }
            Err(e) => Err(failed(e)),
        }
    }
}
