//! The image provider: owns `images.*`, local Docker images built and loaded into
//! the cluster's nodes.
//!
//! It will read image IDs through Docker and each node's images through `ctr`,
//! build images and stream them into nodes. Those behaviours arrive with the plan
//! and apply issues; until then the crate deliberately holds none.
