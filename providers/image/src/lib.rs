//! The image provider: owns `images.*`, local Docker images built and loaded
//! into the cluster's nodes. The build context's hash (`context`), what
//! each node holds (`nodes`), the comparison (`diff`), the provider that
//! observes and does the steps (`provider`), building (`build`) and
//! streaming loads (`load`).

mod build;
mod context;
mod diff;
mod exec;
mod load;
mod nodes;
mod provider;
mod step;

pub use context::{CONTEXT_LABEL, context_hash};
pub use nodes::{NodeRefs, all_node_refs};
pub use provider::{
    DesiredImage, ImageError, ImageInput, ImageLive, ImageProvider, LocalImage, OnNode,
};
pub use step::ImageStep;
