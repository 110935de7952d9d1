//! The `[manifests.NAME]` resource: plain Kubernetes objects.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::duration::Duration;

/// Kubernetes objects applied server-side by kindform.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ManifestFields")]
pub struct ManifestSpec {
    /// Where the YAML comes from.
    pub source: ManifestSource,
    /// The namespace of namespaced objects that name none.
    pub namespace: Option<String>,
    /// Conditions to wait for after applying.
    pub wait: Vec<WaitCondition>,
    /// Delete objects applied earlier that left the spec.
    pub prune: bool,
    /// Addresses (or globs) this manifest waits for.
    pub depends_on: Vec<String>,
}

/// Where a manifest's YAML comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ManifestSource {
    /// A YAML file, or a folder of them, relative to the spec.
    Path(PathBuf),
    /// A download, checked against its SHA-256.
    Url {
        url: String,
        /// The expected SHA-256 of the body, as 64 hex digits.
        sha256: String,
    },
    /// YAML written in the spec.
    Inline(String),
}

/// The fields as written, before the one-source rule is applied.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestFields {
    path: Option<PathBuf>,
    url: Option<String>,
    sha256: Option<String>,
    inline: Option<String>,
    namespace: Option<String>,
    #[serde(default)]
    wait: Vec<WaitCondition>,
    #[serde(default)]
    prune: bool,
    #[serde(default)]
    depends_on: Vec<String>,
}

impl TryFrom<ManifestFields> for ManifestSpec {
    type Error = String;

    fn try_from(f: ManifestFields) -> Result<Self, Self::Error> {
        if f.sha256.is_some() && f.url.is_none() {
            return Err("`sha256` goes with `url` only".into());
        }
        let source = match (f.path, f.url, f.inline) {
            (Some(path), None, None) => ManifestSource::Path(path),
            (None, Some(url), None) => match f.sha256 {
                Some(sha256) => ManifestSource::Url { url, sha256 },
                None => return Err("`url` needs `sha256`, the SHA-256 of the file it names".into()),
            },
            (None, None, Some(inline)) => ManifestSource::Inline(inline),
            (None, None, None) => {
                return Err("a manifest needs one of `path`, `url` or `inline`".into());
            }
            _ => return Err("set only one of `path`, `url` or `inline`".into()),
        };
        Ok(ManifestSpec {
            source,
            namespace: f.namespace,
            wait: f.wait,
            prune: f.prune,
            depends_on: f.depends_on,
        })
    }
}

/// A condition to wait for, like `kubectl wait`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitCondition {
    /// The object kind, e.g. `Pod` or `Deployment`.
    pub kind: String,
    /// Its namespace; the manifest's namespace when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// A label selector choosing the objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// One object's name, instead of a selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What to wait for.
    #[serde(rename = "for")]
    pub condition: WaitFor,
    /// How long to wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

/// What a wait condition waits for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum WaitFor {
    /// Pods Ready, or workloads rolled out with every replica ready.
    Ready,
    /// A status condition of this type is `True`.
    Condition(String),
    /// The objects are gone.
    Deleted,
}

impl FromStr for WaitFor {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ready" => Ok(WaitFor::Ready),
            "deleted" | "delete" => Ok(WaitFor::Deleted),
            _ => match s.strip_prefix("condition=") {
                Some(kind) if !kind.is_empty() => Ok(WaitFor::Condition(kind.to_owned())),
                _ => Err(format!(
                    "unknown wait condition `{s}`: use `ready`, `deleted` or `condition=TYPE`"
                )),
            },
        }
    }
}

impl TryFrom<String> for WaitFor {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<WaitFor> for String {
    fn from(w: WaitFor) -> String {
        w.to_string()
    }
}

impl fmt::Display for WaitFor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitFor::Ready => f.write_str("ready"),
            WaitFor::Deleted => f.write_str("deleted"),
            WaitFor::Condition(kind) => write!(f, "condition={kind}"),
        }
    }
}
