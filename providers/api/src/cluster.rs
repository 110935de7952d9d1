//! The `[cluster]` resource: one kind cluster.

use std::path::PathBuf;

use serde::Serialize;

use crate::kind_config::{self, KindConfig};

/// What forbids rebuilding the cluster, as every message names it.
pub const NO_REBUILD: &str = "--no-rebuild, or allow_rebuild = false under [cluster]";

/// The desired kind cluster, as the spec states it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClusterSpec {
    /// The cluster name (`kind create cluster --name`).
    pub name: String,
    /// The node image for every node, when the spec sets one.
    pub node_image: Option<String>,
    /// The kind config file the settings came from, as written in the spec;
    /// `None` when they were written inline.
    pub config_file: Option<PathBuf>,
    /// The kind settings, from the file or inline.
    pub config: KindConfig,
    /// How long each wait for the cluster to be ready may take (after
    /// creating it, and at each rung of a repair); kindform's defaults when
    /// absent.
    pub ready_timeout: Option<crate::Duration>,
    /// Whether a repair may end in deleting the cluster and making it again
    /// from the spec (`allow_rebuild`, true unless the spec or
    /// `--no-rebuild` says otherwise).
    pub allow_rebuild: bool,
}

impl ClusterSpec {
    /// The config kindform hands to kind: the header set, `name` the cluster's
    /// name, the nodes listed (one control-plane node by default) and, when the
    /// spec sets `node_image`, every node on that image.
    pub fn effective_config(&self) -> KindConfig {
        let mut config = self.config.clone();
        config.kind = Some(kind_config::KIND.to_owned());
        config.api_version = Some(kind_config::API_VERSION.to_owned());
        config.name = Some(self.name.clone());
        config.nodes = config.effective_nodes();
        if let Some(image) = &self.node_image {
            for node in &mut config.nodes {
                node.image = Some(image.clone());
            }
        }
        config
    }

    /// The container names of the cluster's nodes, in config order.
    pub fn node_names(&self) -> Vec<String> {
        self.config.node_names(&self.name)
    }
}
