//! The Kubernetes provider: owns `manifests.*` (plain objects applied through
//! the Kubernetes API; their observation arrives with the next step of the
//! plan issue), and the two things every in-cluster provider needs: a
//! connection to the cluster's API and kindform's applied record.

pub mod connection;
pub mod manifest;
pub mod record;

pub use connection::{ConnectError, connect};
pub use record::{AppliedRecord, RecordEntry, RecordError};
