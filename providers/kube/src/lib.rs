//! What every in-cluster provider needs from the Kubernetes API: the
//! connection, the cluster's lease, kindform's applied record, objects of any kind, pods and
//! workloads, rollouts and waits, and the drift of an object from the
//! configuration that made it. A library, not a provider: it owns no
//! resource of the spec.

pub mod connection;
pub mod drift;
pub mod lease;
pub mod objects;
pub mod pods;
pub mod record;
pub mod rollout;
pub mod wait;
pub mod workloads;

pub use connection::{ConnectError, connect};
pub use lease::{Claimant, ClusterLease, LeaseError, LeaseHolder, LeaseSeen};
pub use objects::{ObjectRef, Objects, ObjectsError};
pub use record::{AppliedRecord, RecordEntry, RecordError};
pub use workloads::{Workload, WorkloadsError, workloads};
