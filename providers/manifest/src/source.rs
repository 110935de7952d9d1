//! A manifest's source: the YAML the spec names (a file, a folder, inline
//! text, or a download pinned by SHA-256), parsed into objects that carry
//! kindform's labels.

use std::path::{Path, PathBuf};

use kindform_api::bounded::read_string_capped;
use kindform_api::yaml::{self, MAX_FILE_BYTES};
use kindform_api::{ManifestSource, ManifestSpec};
use kindform_kube::ObjectRef;
use serde_json::{Value, json};

use crate::download::Downloaded;
use crate::error::ManifestError;

/// The label every object kindform applies carries.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "kindform");
/// The label naming the environment that applied an object.
pub use kindform_kube::record::ENVIRONMENT_LABEL;
/// The label naming the address that applied an object.
pub const ADDRESS_LABEL: &str = "kindform.dev/address";

/// A manifest as the spec means it: its objects read, parsed and labelled.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredManifest {
    /// `manifests.<name>`.
    pub address: String,
    pub spec: ManifestSpec,
    /// Its objects, in file order, with kindform's labels.
    pub objects: Vec<Value>,
    /// A manifest named by URL: its pinned body, which apply keeps in the
    /// download cache when it was fetched afresh.
    pub downloaded: Option<Downloaded>,
}

/// Reads the manifest's YAML and labels its objects. `base_dir` is the
/// spec's folder; a manifest named by URL is read from its `downloaded`
/// body.
pub fn resolve(
    name: &str,
    spec: &ManifestSpec,
    environment: &str,
    base_dir: &Path,
    downloaded: Option<Downloaded>,
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
                let text = std::fs::File::open(&file)
                    .and_then(|f| read_string_capped(f, MAX_FILE_BYTES))
                    .map_err(|source| ManifestError::Read {
                        path: file.clone(),
                        source,
                    })?;
                parse_into(&text, &file.display().to_string(), &mut documents)?;
            }
        }
        ManifestSource::Url { url, .. } => {
            let body = downloaded
                .as_ref()
                .ok_or_else(|| ManifestError::NotDownloaded { url: url.clone() })?;
            let text = std::str::from_utf8(&body.body).map_err(|e| ManifestError::Download {
                url: url.clone(),
                source: Box::new(e),
            })?;
            parse_into(text, url, &mut documents)?;
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
        downloaded,
    })
}

fn parse_into(text: &str, path: &str, out: &mut Vec<Value>) -> Result<(), ManifestError> {
    for (i, document) in yaml::documents(text).into_iter().enumerate() {
        let value = document.map_err(|source| ManifestError::Yaml {
            path: path.to_owned(),
            source,
        })?;
        // Objects travel as JSON; YAML's tags and non-string keys have no
        // place in one and are refused by the conversion.
        let value: Value = serde_json::to_value(value).map_err(|e| ManifestError::Yaml {
            path: path.to_owned(),
            source: serde::de::Error::custom(format!("document {}: {e}", i + 1)),
        })?;
        if value.is_null() {
            continue;
        }
        if value.get("kind").and_then(Value::as_str) == Some("List") {
            let items = value.get("items").and_then(Value::as_array);
            for (j, item) in items.into_iter().flatten().enumerate() {
                // An item without a name would be left out of what is
                // observed and compared, and so of what is applied.
                if ObjectRef::of(item).is_none() {
                    return Err(ManifestError::NotAnObjectInList {
                        path: path.to_owned(),
                        index: i + 1,
                        item: j + 1,
                    });
                }
                out.push(item.clone());
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_of_a_list_is_an_object_with_a_name() {
        let list = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {}\n";
        let mut out = Vec::new();
        let error = parse_into(list, "m.yaml", &mut out).unwrap_err();
        assert_eq!(
            error.to_string(),
            "m.yaml: item 2 of document 1 (a List) is not a Kubernetes object (it needs apiVersion, kind and metadata.name)"
        );
        let named = list.replace("metadata: {}", "metadata: {name: b}");
        let mut out = Vec::new();
        parse_into(&named, "m.yaml", &mut out).unwrap();
        assert_eq!(out.len(), 2);
    }
}
