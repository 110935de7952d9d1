//! The Helm provider: owns `releases.*`, Helm releases changed through the
//! `helm` executable (`cli`). A release's desired state is its chart and
//! its user values put together as Helm stores them (`desired`, `values`,
//! `chart`); its live state comes from Helm's own records, read once
//! through the API (`storage`), and its manifest's objects as they live
//! (`objects`), with no helm process (`provider`); `diff` compares them,
//! `ownership` and `repair` hold what adopting and mending take.

#[cfg(test)]
mod argv_table;
mod chart;
mod cli;
mod desired;
mod diff;
mod error;
mod health;
mod objects;
mod orphans;
mod ownership;
mod provider;
mod repair;
mod status;
mod step;
mod storage;
mod values;
mod version_cache;

pub use cli::{Helm, HelmError, HelmVersion, Listed, Revision};
pub use desired::{DesiredChart, DesiredRelease, record_entry, resolve};
pub use error::ReleaseError;
pub use health::{Judged, release_health};
pub use objects::{ObjectDrift, ObjectsSeen};
pub use orphans::{ReleaseOrphan, installed_entry, installed_key};
pub use provider::{ReleaseInput, ReleaseLive, ReleaseProvider, ReleaseSource, Surroundings};
pub use status::ReleaseStatus;
pub use step::{Fallback, ReleaseStep};
pub use storage::{Driver, Storage, StorageError, StoredRelease};
