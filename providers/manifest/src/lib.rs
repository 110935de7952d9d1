//! The manifest provider: owns `manifests.*`, plain Kubernetes objects that
//! kindform applies server-side. It reads the YAML the spec names
//! ([`resolve`]), looks up each object in the API, compares only the fields
//! the manifest sets, and finds objects applied earlier that have left the
//! manifest (through the applied record, which lists the objects of each
//! manifest). Manifests that left the spec altogether are orphans.

mod diff;
mod download;
mod error;
mod orphans;
mod provider;
mod secrets;
mod source;
mod step;

pub use diff::{LiveObject, ManifestLive};
pub use download::Downloaded;
pub use error::ManifestError;
pub use orphans::{Orphan, record_entry};
pub use provider::{ManifestInput, ManifestProvider};
pub use source::{ADDRESS_LABEL, DesiredManifest, ENVIRONMENT_LABEL, MANAGED_BY, resolve};
pub use step::ManifestStep;
