//! Resource addresses: `cluster`, `images.<name>`, `releases.<name>`,
//! `manifests.<name>` and `checks.<name>`, the names the graph, the plan and the
//! command line use for resources.

use std::fmt;
use std::str::FromStr;

/// The kinds of resource a spec can hold, in the order the spec lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceKind {
    /// The kind cluster; there is exactly one.
    Cluster,
    /// A local Docker image loaded into the cluster's nodes.
    Image,
    /// A Helm release.
    Release,
    /// Plain Kubernetes manifests.
    Manifest,
    /// A check run after its dependencies.
    Check,
}

impl ResourceKind {
    /// Every kind, in spec order.
    pub const ALL: [ResourceKind; 5] = [
        ResourceKind::Cluster,
        ResourceKind::Image,
        ResourceKind::Release,
        ResourceKind::Manifest,
        ResourceKind::Check,
    ];

    /// The spec's table for this kind: `cluster`, `images`, `releases`, ….
    pub fn section(self) -> &'static str {
        match self {
            ResourceKind::Cluster => "cluster",
            ResourceKind::Image => "images",
            ResourceKind::Release => "releases",
            ResourceKind::Manifest => "manifests",
            ResourceKind::Check => "checks",
        }
    }

    /// The kind whose table is `section`.
    pub fn from_section(section: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.section() == section)
    }
}

/// The address of one resource of a spec.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Address {
    /// `cluster`
    Cluster,
    /// `images.<name>`
    Image(String),
    /// `releases.<name>`
    Release(String),
    /// `manifests.<name>`
    Manifest(String),
    /// `checks.<name>`
    Check(String),
}

impl Address {
    /// Builds the address of resource `name` of `kind` (the name is ignored for the cluster).
    pub fn new(kind: ResourceKind, name: &str) -> Self {
        match kind {
            ResourceKind::Cluster => Address::Cluster,
            ResourceKind::Image => Address::Image(name.to_owned()),
            ResourceKind::Release => Address::Release(name.to_owned()),
            ResourceKind::Manifest => Address::Manifest(name.to_owned()),
            ResourceKind::Check => Address::Check(name.to_owned()),
        }
    }

    /// The kind of resource this address names.
    pub fn kind(&self) -> ResourceKind {
        match self {
            Address::Cluster => ResourceKind::Cluster,
            Address::Image(_) => ResourceKind::Image,
            Address::Release(_) => ResourceKind::Release,
            Address::Manifest(_) => ResourceKind::Manifest,
            Address::Check(_) => ResourceKind::Check,
        }
    }

    /// The resource's name within its kind; `None` for the cluster.
    pub fn name(&self) -> Option<&str> {
        match self {
            Address::Cluster => None,
            Address::Image(n) | Address::Release(n) | Address::Manifest(n) | Address::Check(n) => {
                Some(n)
            }
        }
    }

    /// Whether the resource lives inside the cluster and so depends on it.
    pub fn is_in_cluster(&self) -> bool {
        !matches!(self, Address::Cluster)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            None => f.write_str("cluster"),
            Some(name) => write!(f, "{}.{}", self.kind().section(), name),
        }
    }
}

/// Why a string is not an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// The part before the first dot is not a resource table.
    #[error(
        "`{0}` is not an address: expected `cluster`, `images.NAME`, `releases.NAME`, `manifests.NAME` or `checks.NAME`"
    )]
    UnknownKind(String),
    /// A resource table was named without a resource.
    #[error("`{0}` names no resource: add `.NAME`")]
    MissingName(String),
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "cluster" {
            return Ok(Address::Cluster);
        }
        let Some((section, name)) = s.split_once('.') else {
            return match ResourceKind::from_section(s) {
                Some(_) => Err(AddressError::MissingName(s.to_owned())),
                None => Err(AddressError::UnknownKind(s.to_owned())),
            };
        };
        match ResourceKind::from_section(section) {
            Some(ResourceKind::Cluster) | None => Err(AddressError::UnknownKind(s.to_owned())),
            Some(_) if name.is_empty() => Err(AddressError::MissingName(s.to_owned())),
            Some(kind) => Ok(Address::new(kind, name)),
        }
    }
}

impl serde::Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip_through_text() {
        for text in [
            "cluster",
            "images.web",
            "releases.my.rel",
            "manifests.m",
            "checks.c",
        ] {
            let address: Address = text.parse().unwrap();
            assert_eq!(address.to_string(), text);
        }
    }

    #[test]
    fn bad_addresses_say_why() {
        assert_eq!(
            "release.web".parse::<Address>(),
            Err(AddressError::UnknownKind("release.web".into()))
        );
        assert_eq!(
            "images".parse::<Address>(),
            Err(AddressError::MissingName("images".into()))
        );
        assert_eq!(
            "images.".parse::<Address>(),
            Err(AddressError::MissingName("images.".into()))
        );
        assert!("cluster.x".parse::<Address>().is_err());
    }
}
