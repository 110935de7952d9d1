//! Release records stored as Helm stores them (cli-contracts.md 2.6): one
//! Secret per revision, `sh.helm.release.v1.<name>.v<revision>`, type
//! `helm.sh/release.v1`, labelled `owner=helm`, `name`, `status`, `version`
//! and `modifiedAt`, the payload base64(gzip(JSON)) (which the API then
//! base64-encodes again as Secret data).

use std::io::{Read as _, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::apiserver::Store;
use crate::apiserver::resources::ResourceType;

/// A release revision as Helm's JSON holds it.
pub type Release = Value;

fn secrets(store: &Store) -> ResourceType {
    store
        .find_type("", "v1", "secrets")
        .expect("secrets are built in")
}

/// The Secret name of a revision.
pub fn secret_name(name: &str, revision: i64) -> String {
    format!("sh.helm.release.v1.{name}.v{revision}")
}

/// Encodes a release as Helm's payload: base64(gzip(JSON)).
pub fn encode(release: &Release) -> String {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&serde_json::to_vec(release).unwrap_or_default())
        .expect("gzip into memory");
    base64::engine::general_purpose::STANDARD.encode(gz.finish().expect("gzip into memory"))
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

/// Writes a revision (creating or replacing its Secret).
pub fn save(store: &Store, release: &Release) {
    let ty = secrets(store);
    let name = release["name"].as_str().unwrap_or_default();
    let namespace = release["namespace"].as_str().unwrap_or_default();
    let revision = release["version"].as_i64().unwrap_or(1);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let secret = json!({
        "metadata": {
            "name": secret_name(name, revision),
            "namespace": namespace,
            "labels": {
                "owner": "helm",
                "name": name,
                "status": release["info"]["status"],
                "version": revision.to_string(),
                "modifiedAt": now.to_string(),
            },
        },
        "type": "helm.sh/release.v1",
        "data": {"release": base64::engine::general_purpose::STANDARD.encode(encode(release))},
    });
    let key = secret_name(name, revision);
    if store.get(&ty, namespace, &key).is_ok() {
        let _ = store.update(&ty, namespace, &key, secret, false);
    } else {
        let _ = store.create(&ty, namespace, secret);
    }
}

/// Deletes a revision's Secret.
pub fn remove(store: &Store, namespace: &str, name: &str, revision: i64) {
    let _ = store.delete(&secrets(store), namespace, &secret_name(name, revision));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_and_is_gzip() {
        let release = json!({"name": "web", "version": 3});
        let payload = encode(&release);
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&payload)
            .unwrap();
        assert_eq!(&raw[..3], &[0x1f, 0x8b, 0x08]);
        assert_eq!(decode(&payload), Some(release));
    }
}
