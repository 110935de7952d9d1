//! kindform's provider contract.
//!
//! This crate is the vocabulary every other crate shares and the only thing
//! providers and the engine both depend on: the resource definitions as plain
//! data (what the spec parses into), resource addresses, durations, and the
//! provider traits. It performs no I/O: reading files, talking to Docker or
//! running `helm` belong to the engine and the provider crates.

pub mod address;
pub mod bounded;
pub mod cache;
pub mod cancel;
pub mod check;
pub mod cluster;
pub mod duration;
pub mod field_path;
pub mod health;
pub mod image;
pub mod kind_config;
pub mod manifest;
pub mod printable;
pub mod provider;
pub mod reason;
pub mod release;
pub mod secrets;
pub mod settings;
pub mod spec;
pub mod yaml;

pub use address::{Address, ResourceKind};
pub use cancel::Cancel;
pub use check::{CheckSpec, Probe};
pub use cluster::ClusterSpec;
pub use duration::Duration;
pub use health::{Health, HealthState};
pub use image::{BuildSpec, ImageSpec};
pub use kind_config::KindConfig;
pub use manifest::{ManifestSource, ManifestSpec, WaitCondition, WaitFor};
pub use reason::Reason;
pub use release::{ReleaseHealth, ReleaseSpec, Scalar, SetValue};
pub use spec::Spec;
