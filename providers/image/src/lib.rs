//! The image provider: owns `images.*`, local Docker images built and loaded
//! into the cluster's nodes. The build context's hash ([`context`]), what
//! each node holds ([`nodes`]), the comparison and apply ([`provider`]),
//! building ([`build`]) and streaming loads ([`load`]).

pub mod build;
pub mod context;
mod exec;
pub mod load;
pub mod nodes;
pub mod provider;

pub use context::{CONTEXT_LABEL, context_hash};
pub use nodes::{NodeRefs, all_node_refs};
pub use provider::{DesiredImage, ImageError, ImageLive, ImageProvider, resolve};
