//! The Helm provider: owns `releases.*`, Helm releases driven through the
//! `helm` executable ([`cli`]). A release's desired state is its chart and
//! its user values put together as Helm stores them ([`values`], [`chart`]);
//! its live state comes from one shared `helm list`, then only what the
//! release needs ([`release`]).

pub mod chart;
pub mod cli;
pub mod health;
pub mod release;
pub mod values;

pub use cli::{Helm, HelmError, HelmVersion, Listed, Revision};
pub use release::{
    DesiredRelease, ReleaseError, ReleaseLive, ReleaseProvider, Surroundings, record_entry, resolve,
};
