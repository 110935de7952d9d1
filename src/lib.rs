//! kindform: a declarative provisioner for local Kubernetes environments.
//!
//! The data walks one way: spec -> graph -> observe -> plan -> apply -> report.
//! [`spec`] reads and validates the TOML spec, [`graph`] turns it into a
//! dependency graph, [`observe`] reads live state through the providers,
//! [`plan`] decides what will change, [`render`] shows it, and [`commands`]
//! is the user interface that runs each command and prints; the engine
//! modules never print.

pub mod apply;
pub mod cli;
pub mod commands;
pub mod doctor;
pub mod engine;
pub mod event;
pub mod graph;
pub mod in_cluster;
pub mod kubeconfig;
pub mod observe;
pub mod plan;
pub mod render;
pub mod resources;
pub mod session;
pub mod spec;
pub mod state;
pub mod status;
pub mod suggest;
pub mod walk;

pub use commands::run;
