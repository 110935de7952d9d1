//! The `[images.NAME]` resource: a local Docker image loaded into the nodes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A local image that the cluster's nodes must hold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSpec {
    /// The image reference, e.g. `ghcr.io/org/app:local`.
    #[serde(rename = "ref")]
    pub reference: String,
    /// The node container names to load it into; every node when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<Vec<String>>,
    /// How to build the image when it is absent or its context changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildSpec>,
    /// Addresses (or globs) this image waits for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
}

/// A Docker build.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildSpec {
    /// The build context folder, relative to the spec.
    pub context: PathBuf,
    /// The Dockerfile, relative to the context.
    #[serde(default = "default_dockerfile")]
    pub dockerfile: PathBuf,
    /// Build arguments.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<String, String>,
    /// The stage to build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

fn default_dockerfile() -> PathBuf {
    PathBuf::from("Dockerfile")
}

/// A reference in the fully qualified form containerd lists and Kubernetes
/// resolves: `app:1` is `docker.io/library/app:1`, `org/app` is
/// `docker.io/org/app:latest`; a first part with a `.` or `:`, or
/// `localhost`, is a registry and stays. A digest stays as written.
pub fn normalized_reference(reference: &str) -> String {
    let (name, digest) = match reference.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (reference, None),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    let tagged = if last.contains(':') || digest.is_some() {
        name.to_owned()
    } else {
        format!("{name}:latest")
    };
    let first = tagged.split('/').next().unwrap_or_default();
    let qualified = if !tagged.contains('/') {
        format!("docker.io/library/{tagged}")
    } else if first.contains('.') || first.contains(':') || first == "localhost" {
        tagged
    } else {
        format!("docker.io/{tagged}")
    };
    match digest {
        Some(digest) => format!("{qualified}@{digest}"),
        None => qualified,
    }
}

#[cfg(test)]
mod tests {
    use super::normalized_reference as n;

    #[test]
    fn references_are_qualified_as_containerd_lists_them() {
        assert_eq!(n("app"), "docker.io/library/app:latest");
        assert_eq!(n("app:1"), "docker.io/library/app:1");
        assert_eq!(n("org/app:1"), "docker.io/org/app:1");
        assert_eq!(n("ghcr.io/org/app:local"), "ghcr.io/org/app:local");
        assert_eq!(n("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(n("kindform.dev/x:local"), "kindform.dev/x:local");
        assert_eq!(n("docker.io/library/app:1"), "docker.io/library/app:1");
    }
}
