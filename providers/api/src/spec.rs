//! The whole environment as the spec states it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::address::Address;
use crate::check::CheckSpec;
use crate::cluster::ClusterSpec;
use crate::image::ImageSpec;
use crate::manifest::ManifestSpec;
use crate::release::ReleaseSpec;

/// One environment: a cluster and everything in it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Spec {
    /// The format version; always 1.
    pub version: u32,
    /// The environment's name (state folder, labels).
    pub name: String,
    /// The folder relative paths in the spec are relative to.
    pub base_dir: PathBuf,
    pub cluster: ClusterSpec,
    /// Images by name.
    pub images: BTreeMap<String, ImageSpec>,
    /// Helm releases by release name.
    pub releases: BTreeMap<String, ReleaseSpec>,
    /// Manifests by name.
    pub manifests: BTreeMap<String, ManifestSpec>,
    /// Checks by name.
    pub checks: BTreeMap<String, CheckSpec>,
}

impl Spec {
    /// Every resource's address: the cluster, then images, releases, manifests
    /// and checks, each by name.
    pub fn addresses(&self) -> Vec<Address> {
        let mut all = vec![Address::Cluster];
        all.extend(self.images.keys().map(|n| Address::Image(n.clone())));
        all.extend(self.releases.keys().map(|n| Address::Release(n.clone())));
        all.extend(self.manifests.keys().map(|n| Address::Manifest(n.clone())));
        all.extend(self.checks.keys().map(|n| Address::Check(n.clone())));
        all
    }

    /// The `depends_on` entries of a resource, as written (globs included).
    pub fn depends_on(&self, address: &Address) -> &[String] {
        let found = match address {
            Address::Cluster => None,
            Address::Image(n) => self.images.get(n).map(|r| &r.depends_on),
            Address::Release(n) => self.releases.get(n).map(|r| &r.depends_on),
            Address::Manifest(n) => self.manifests.get(n).map(|r| &r.depends_on),
            Address::Check(n) => self.checks.get(n).map(|r| &r.depends_on),
        };
        found.map(Vec::as_slice).unwrap_or(&[])
    }

    /// A path from the spec, made relative to the spec's folder.
    pub fn resolve(&self, path: impl AsRef<Path>) -> PathBuf {
        self.base_dir.join(path)
    }
}
