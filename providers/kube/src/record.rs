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
}
