//! The stand-in Kubernetes API server: one per cluster, on 127.0.0.1 over
//! HTTPS, serving the REST API well enough for kube-rs, with a simulated
//! kubelet that derives pods from workloads.

pub mod defaults;
pub mod kubelet;
pub mod openapi;
pub mod ownership;
pub mod protobuf;
pub mod resources;
pub mod schema;
pub mod selector;
pub mod server;
pub mod store;
pub mod strategic;

pub use server::ApiServer;
pub use store::Store;
