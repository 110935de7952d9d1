//! Reading the release records the real Helm writes (one Secret per
//! revision, `sh.helm.release.v1.<name>.v<revision>`, type
//! `helm.sh/release.v1`, labelled `owner=helm`, the payload base64(gzip(JSON))
//! which the API base64-encodes again as Secret data), so that the world's
//! faults can find a release's chart and watch its status change.

use std::io::Read as _;

use base64::Engine as _;
use serde_json::Value;

use crate::apiserver::Store;
use crate::apiserver::resources::ResourceType;

/// A release revision as Helm's JSON holds it.
pub type Release = Value;

fn secrets(store: &Store) -> ResourceType {
    store
        .find_type("", "v1", "secrets")
        .expect("secrets are built in")
}

/// Decodes Helm's payload (gzip only when it starts with the gzip magic).
pub fn decode(payload: &str) -> Option<Release> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(payload)
        .ok()?;
    let json = if bytes.starts_with(&[0x1f, 0x8b, 0x08]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_end(&mut out)
            .ok()?;
        out
    } else {
        bytes
    };
    serde_json::from_slice(&json).ok()
}

/// Decodes the release records stored in one namespace (or all), oldest first.
fn records(store: &Store, namespace: Option<&str>) -> Vec<Release> {
    let ty = secrets(store);
    let mut out: Vec<Release> = store
        .list(&ty, namespace)
        .1
        .into_iter()
        .filter(|s| s["type"] == "helm.sh/release.v1" && s["metadata"]["labels"]["owner"] == "helm")
        .filter_map(|s| {
            let data = s["data"]["release"].as_str()?;
            let payload = base64::engine::general_purpose::STANDARD
                .decode(data)
                .ok()?;
            decode(&String::from_utf8(payload).ok()?)
        })
        .collect();
    out.sort_by_key(|r| r["version"].as_i64().unwrap_or(0));
    out
}

/// Every revision of release `name` in `namespace`, oldest first.
pub fn history(store: &Store, namespace: &str, name: &str) -> Vec<Release> {
    records(store, Some(namespace))
        .into_iter()
        .filter(|r| r["name"] == name)
        .collect()
}

/// The latest revision of every release, in one namespace or all.
pub fn latest_all(store: &Store, namespace: Option<&str>) -> Vec<Release> {
    let mut latest: std::collections::BTreeMap<(String, String), Release> =
        std::collections::BTreeMap::new();
    for release in records(store, namespace) {
        let key = (
            release["namespace"].as_str().unwrap_or_default().to_owned(),
            release["name"].as_str().unwrap_or_default().to_owned(),
        );
        // Records come oldest first, so the last one kept is the latest.
        latest.insert(key, release);
    }
    latest.into_values().collect()
}
