//! The Kubernetes provider: owns `manifests.*` (plain objects applied through
//! the Kubernetes API), and what every in-cluster provider needs from the
//! API: the connection, kindform's applied record, objects of any kind, and
//! the workloads that run an image.

pub mod connection;
pub mod manifest;
pub mod objects;
pub mod pods;
pub mod record;
pub mod rollout;
pub mod wait;
pub mod workloads;

pub use connection::{ConnectError, connect};
pub use objects::{ObjectRef, Objects, ObjectsError};
pub use record::{AppliedRecord, RecordEntry, RecordError};
pub use workloads::{Workload, WorkloadsError, workloads};
