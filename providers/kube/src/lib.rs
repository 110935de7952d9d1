//! What every in-cluster provider needs from the Kubernetes API: the
//! connection, kindform's applied record, objects of any kind, pods and
//! workloads, rollouts and waits. A library, not a provider: it owns no
//! resource of the spec.

pub mod connection;
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
