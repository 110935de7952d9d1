//! The kind provider: owns the `cluster` resource, a kind cluster whose nodes
//! are Docker containers. It observes the node containers through Docker (by
//! kind's labels), the API through the cluster's kubeconfig, and kindform's
//! applied record; and tells what differs from the spec: absent, replaced
//! (config, node image or nodes changed), or in need of repair (nodes
//! stopped, API unreachable, nodes not Ready); and changes it by the steps it planned.

mod cluster;
mod converge;
mod diff;
mod kind_cli;
mod settings;
mod step;

pub use cluster::{
    ApiState, CLUSTER_LABEL, ClusterError, ClusterLive, ClusterProvider, NodeContainer, ROLE_LABEL,
};
pub use settings::{KIND_DEFAULT_IMAGE, record_entry, settings};
pub use step::ClusterStep;
