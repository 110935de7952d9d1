//! Why a manifest could not be read, observed or applied.

use std::path::PathBuf;

use kindform_kube::ObjectsError;

/// Why a manifest could not be read or observed.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// A manifest file could not be read.
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A manifest file is not valid YAML.
    #[error("{path} is not valid YAML")]
    Yaml {
        /// The file (or `the inline YAML`).
        path: String,
        #[source]
        source: serde_yaml_ng::Error,
    },
    /// A document is not a Kubernetes object.
    #[error(
        "{path}: document {index} is not a Kubernetes object (it needs apiVersion, kind and metadata.name)"
    )]
    NotAnObject {
        path: String,
        /// Which document, from 1.
        index: usize,
    },
    /// An item of a `List` is not a Kubernetes object.
    #[error(
        "{path}: item {item} of document {index} (a List) is not a Kubernetes object (it needs apiVersion, kind and metadata.name)"
    )]
    NotAnObjectInList {
        path: String,
        /// Which document, from 1.
        index: usize,
        /// Which item of its `items`, from 1.
        item: usize,
    },
    /// A downloaded manifest is not in the download cache.
    #[error("{url} has not been downloaded")]
    NotDownloaded { url: String },
    /// A download could not be kept in the download cache.
    #[error("cannot keep the download in {}", path.display())]
    Cache {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A manifest could not be downloaded.
    #[error("cannot download {url}")]
    Download {
        url: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A download is not the file the spec pins.
    #[error(
        "{url} is not the file the spec pins: its SHA-256 is {actual}, the spec says {expected}; nothing from it was used"
    )]
    Checksum {
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
        object: String,
        #[source]
        source: kube::Error,
    },
    /// A wait condition did not hold.
    #[error(transparent)]
    Wait(#[from] kindform_kube::wait::WaitError),
    /// A step needs the manifest's spec, and the manifest left it.
    #[error("{0} is not in the spec any more: only deleting it can be planned")]
    NotInSpec(String),
    /// The applied record could not be written.
    #[error(transparent)]
    Record(#[from] kindform_kube::RecordError),
}
