//! The kind cluster configuration (`kind.x-k8s.io/v1alpha4`), as kind's own
//! strict decoder accepts it (docs/tools.md, the kind config).
//!
//! Field names are kind's (camelCase); the spec's inline form writes the same
//! fields in snake_case and the loader maps them. Unknown fields are errors, as
//! they are for kind.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// The `apiVersion` every kind config carries.
pub const API_VERSION: &str = "kind.x-k8s.io/v1alpha4";
/// The `kind` every kind config carries.
pub const KIND: &str = "Cluster";

/// A kind cluster configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KindConfig {
    /// Always `Cluster`; required in a config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Always `kind.x-k8s.io/v1alpha4`; required in a config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// The cluster name; the spec's `cluster.name` wins over it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Feature gates passed to every component.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub feature_gates: BTreeMap<String, bool>,
    /// The API server's `--runtime-config`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub runtime_config: BTreeMap<String, String>,
    /// Cluster networking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networking: Option<Networking>,
    /// The nodes; kind makes one control-plane node when this is empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<Node>,
    /// kubeadm YAML merge patches for every node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kubeadm_config_patches: Vec<String>,
    /// kubeadm JSON 6902 patches for every node.
    #[serde(
        default,
        rename = "kubeadmConfigPatchesJSON6902",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub kubeadm_config_patches_json6902: Vec<PatchJson6902>,
    /// TOML fragments merged into each node's containerd config.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containerd_config_patches: Vec<String>,
    /// JSON 6902 patches of each node's containerd config.
    #[serde(
        default,
        rename = "containerdConfigPatchesJSON6902",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub containerd_config_patches_json6902: Vec<String>,
}

/// One node of the cluster.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Node {
    /// `control-plane` (kind's default) or `worker`.
    #[serde(default)]
    pub role: NodeRole,
    /// The node image; the spec's `cluster.node_image` wins over it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Kubernetes labels of the node.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Host folders mounted into the node container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_mounts: Vec<Mount>,
    /// Ports of the node container published on the host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_port_mappings: Vec<PortMapping>,
    /// Node-level kubeadm merge patches, applied after the cluster's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kubeadm_config_patches: Vec<String>,
    /// Node-level kubeadm JSON 6902 patches.
    #[serde(
        default,
        rename = "kubeadmConfigPatchesJSON6902",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub kubeadm_config_patches_json6902: Vec<PatchJson6902>,
}

/// A node's role.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeRole {
    /// Runs the control plane (and workloads).
    #[default]
    ControlPlane,
    /// Runs workloads only.
    Worker,
}

impl NodeRole {
    /// kind's word for the role, as in container names and labels.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeRole::ControlPlane => "control-plane",
            NodeRole::Worker => "worker",
        }
    }
}

/// A host folder mounted into a node.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Mount {
    /// The folder on the host; kind makes relative paths absolute.
    pub host_path: String,
    /// Where it appears in the node.
    pub container_path: String,
    /// Mount read-only.
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only: bool,
    /// Relabel for SELinux.
    #[serde(default, skip_serializing_if = "is_false")]
    pub selinux_relabel: bool,
    /// Mount propagation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagation: Option<Propagation>,
}

/// Mount propagation modes kind accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Propagation {
    /// No propagation.
    None,
    /// Host mounts appear in the container.
    HostToContainer,
    /// Both ways.
    Bidirectional,
}

/// A node port published on the host.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortMapping {
    /// The port inside the node.
    pub container_port: u16,
    /// The host port: unset or 0 lets kind pick a free one, -1 lets Docker pick.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port: Option<HostPort>,
    /// The host address to listen on; kind's default is `0.0.0.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen_address: Option<String>,
    /// `TCP` (the default), `UDP` or `SCTP`, in any case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
}

/// A host port: -1 to 65535. A string holding the number is read too, so a
/// spec variable (`host_port = "${port}"`) can set it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "i32")]
pub struct HostPort(i32);

impl HostPort {
    /// The port number, or 0 or -1 for kind's and Docker's choice.
    pub fn get(self) -> i32 {
        self.0
    }
}

impl TryFrom<i64> for HostPort {
    type Error = String;

    fn try_from(value: i64) -> Result<Self, Self::Error> {
        if (-1..=65535).contains(&value) {
            Ok(HostPort(value as i32))
        } else {
            Err(format!(
                "host port {value} is out of range: use 1 to 65535, 0 for a free port or -1 for Docker's choice"
            ))
        }
    }
}

impl From<HostPort> for i32 {
    fn from(port: HostPort) -> i32 {
        port.0
    }
}

impl<'de> Deserialize<'de> for HostPort {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PortVisitor;
        impl serde::de::Visitor<'_> for PortVisitor {
            type Value = HostPort;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a port number")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<HostPort, E> {
                HostPort::try_from(v).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<HostPort, E> {
                HostPort::try_from(i64::try_from(v).unwrap_or(i64::MAX)).map_err(E::custom)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<HostPort, E> {
                let number: i64 = v
                    .trim()
                    .parse()
                    .map_err(|_| E::custom(format!("`{v}` is not a port number")))?;
                HostPort::try_from(number).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(PortVisitor)
    }
}

/// A port protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl<'de> Deserialize<'de> for Protocol {
    /// kind reads the protocol case-insensitively.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.to_ascii_uppercase().as_str() {
            "TCP" => Ok(Protocol::Tcp),
            "UDP" => Ok(Protocol::Udp),
            "SCTP" => Ok(Protocol::Sctp),
            _ => Err(serde::de::Error::custom(format!(
                "unknown protocol `{text}`: use TCP, UDP or SCTP"
            ))),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        })
    }
}

/// Cluster networking.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Networking {
    /// `ipv4`, `ipv6` or `dual`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_family: Option<IpFamily>,
    /// Where the API server listens on the host; kind's default is `127.0.0.1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_server_address: Option<String>,
    /// The API server's host port; random by default, -1 lets Docker pick.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_server_port: Option<HostPort>,
    /// The pod network; kind's default is `10.244.0.0/16`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_subnet: Option<String>,
    /// The service network; kind's default is `10.96.0.0/16`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_subnet: Option<String>,
    /// Leave out kind's default CNI.
    #[serde(
        default,
        rename = "disableDefaultCNI",
        skip_serializing_if = "Option::is_none"
    )]
    pub disable_default_cni: Option<bool>,
    /// `iptables` (kind's default), `ipvs`, `nftables` or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_proxy_mode: Option<KubeProxyMode>,
    /// DNS search domains of the nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_search: Option<Vec<String>>,
}

/// The cluster's IP family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpFamily {
    /// IPv4 only.
    Ipv4,
    /// IPv6 only.
    Ipv6,
    /// Both.
    Dual,
}

/// kube-proxy's mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KubeProxyMode {
    /// iptables rules.
    Iptables,
    /// IPVS.
    Ipvs,
    /// nftables rules.
    Nftables,
    /// No kube-proxy.
    None,
}

/// A JSON 6902 patch of one kubeadm object kind.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchJson6902 {
    /// The object's API group.
    #[serde(default)]
    pub group: String,
    /// The object's API version.
    #[serde(default)]
    pub version: String,
    /// The object's kind.
    #[serde(default)]
    pub kind: String,
    /// The patch, as YAML or JSON text.
    pub patch: String,
}

fn is_false(value: &bool) -> bool {
    !*value
}

impl KindConfig {
    /// The nodes kind will create: the listed ones, or kind's single
    /// control-plane node when none are listed.
    pub fn effective_nodes(&self) -> Vec<Node> {
        if self.nodes.is_empty() {
            vec![Node::default()]
        } else {
            self.nodes.clone()
        }
    }

    /// The container names kind gives the nodes of cluster `cluster`
    /// (`<cluster>-control-plane`, `<cluster>-worker`, `<cluster>-worker2`, …),
    /// in config order.
    pub fn node_names(&self, cluster: &str) -> Vec<String> {
        let mut seen: BTreeMap<NodeRole, usize> = BTreeMap::new();
        self.effective_nodes()
            .iter()
            .map(|node| {
                let count = seen.entry(node.role).or_default();
                *count += 1;
                match *count {
                    1 => format!("{cluster}-{}", node.role.as_str()),
                    n => format!("{cluster}-{}{n}", node.role.as_str()),
                }
            })
            .collect()
    }
}

impl PartialOrd for NodeRole {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for NodeRole {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_follow_kinds_numbering() {
        let config = KindConfig {
            nodes: vec![
                Node::default(),
                Node {
                    role: NodeRole::Worker,
                    ..Node::default()
                },
                Node {
                    role: NodeRole::Worker,
                    ..Node::default()
                },
                Node {
                    role: NodeRole::Worker,
                    ..Node::default()
                },
            ],
            ..KindConfig::default()
        };
        assert_eq!(
            config.node_names("demo"),
            [
                "demo-control-plane",
                "demo-worker",
                "demo-worker2",
                "demo-worker3"
            ]
        );
        assert_eq!(KindConfig::default().node_names("x"), ["x-control-plane"]);
    }
}
