//! The kind provider: owns the `cluster` resource, a kind cluster whose nodes
//! are Docker containers. It observes the node containers through Docker (by
//! kind's labels), the API through the cluster's kubeconfig, and kindform's
//! applied record; and tells what differs from the spec: absent, replaced
//! (config, node image or nodes changed), or in need of repair (nodes
//! stopped, API unreachable, nodes not Ready); and changes it ([`converge`]).

pub mod cluster;
pub mod converge;
pub mod kind_cli;
pub mod settings;

pub use cluster::{ApiState, ClusterError, ClusterLive, ClusterProvider, NodeContainer};
pub use converge::record_entry;
