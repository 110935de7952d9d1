//! The Helm provider: owns `releases.*`, Helm releases driven through the
//! `helm` executable (`cli`). A release's desired state is its chart and
//! its user values put together as Helm stores them (`desired`, `values`,
//! `chart`); its live state comes from one shared `helm list`, then only
//! what the release needs (`provider`); `diff` compares them, `ownership`
//! and `repair` hold what adopting and mending take.

#[cfg(test)]
mod argv_table;
mod chart;
mod cli;
mod desired;
mod diff;
mod error;
mod health;
mod ownership;
mod provider;
mod repair;
mod status;
mod step;
mod values;

pub use cli::{Helm, HelmError, HelmVersion, Listed, Revision};
pub use desired::{DesiredChart, DesiredRelease, record_entry, resolve};
pub use error::ReleaseError;
pub use health::{Judged, release_health};
pub use provider::{ReleaseInput, ReleaseLive, ReleaseProvider, Surroundings};
pub use status::ReleaseStatus;
pub use step::{Fallback, ReleaseStep};
