//! kindform's applied record: the ConfigMap `kindform` in `kube-system`, one
//! key per address, holding what kindform last applied there (a fingerprint
//! and the normalised settings). It covers what live state cannot show, and
//! lives in the cluster so another machine with the same spec plans the same.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use serde::{Deserialize, Serialize};

/// The record's namespace.
pub const NAMESPACE: &str = "kube-system";
/// The record's name.
pub const NAME: &str = "kindform";

/// What kindform last applied at one address.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordEntry {
    /// A fingerprint of what was applied.
    pub fingerprint: String,
    /// The normalised settings that were applied (secrets redacted).
    pub settings: serde_json::Value,
}

/// The whole record, by address.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AppliedRecord(pub BTreeMap<String, RecordEntry>);

/// Why the record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The API refused.
    #[error("cannot read the applied record {NAMESPACE}/{NAME}")]
    Api(#[source] kube::Error),
    /// The API refused a change to the record.
    #[error("cannot write {address} to the applied record {NAMESPACE}/{NAME}")]
    Write {
        /// The entry.
        address: String,
        #[source]
        source: kube::Error,
    },
}

impl AppliedRecord {
    /// Reads the record; empty when it does not exist. Entries that do not
    /// parse are left out (a newer kindform may have written them).
    pub async fn read(client: &kube::Client) -> Result<AppliedRecord, RecordError> {
        let api: kube::Api<ConfigMap> = kube::Api::namespaced(client.clone(), NAMESPACE);
        let Some(map) = api.get_opt(NAME).await.map_err(RecordError::Api)? else {
            return Ok(AppliedRecord::default());
        };
        let entries = map
            .data
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| serde_json::from_str(&v).ok().map(|e| (k, e)))
            .collect();
        Ok(AppliedRecord(entries))
    }

    /// The entry of one address.
    pub fn get(&self, address: &str) -> Option<&RecordEntry> {
        self.0.get(address)
    }

    /// Sets the entry of one address in the cluster's record (a merge
    /// patch of that key alone, so concurrent writers of other keys do not
    /// clash), creating the record when it does not exist.
    pub async fn write(
        client: &kube::Client,
        address: &str,
        entry: &RecordEntry,
    ) -> Result<(), RecordError> {
        let text = serde_json::to_string(entry).unwrap_or_default();
        Self::patch(client, address, serde_json::Value::String(text)).await
    }

    /// Removes the entry of one address.
    pub async fn forget(client: &kube::Client, address: &str) -> Result<(), RecordError> {
        Self::patch(client, address, serde_json::Value::Null).await
    }

    async fn patch(
        client: &kube::Client,
        address: &str,
        value: serde_json::Value,
    ) -> Result<(), RecordError> {
        use kube::api::{Patch, PatchParams, PostParams};

        let api: kube::Api<ConfigMap> = kube::Api::namespaced(client.clone(), NAMESPACE);
        let failed = |source| RecordError::Write {
            address: address.to_owned(),
            source,
        };
        let patch = serde_json::json!({"data": {address: value.clone()}});
        match api
            .patch(NAME, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => {
                if value.is_null() {
                    return Ok(());
                }
                let mut map = ConfigMap::default();
                map.metadata.name = Some(NAME.to_owned());
                map.metadata.namespace = Some(NAMESPACE.to_owned());
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
                        .patch(NAME, &PatchParams::default(), &Patch::Merge(&patch))
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
