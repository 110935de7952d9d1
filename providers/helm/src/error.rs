//! Why a release could not be read, observed or changed.

use kindform_kube::ObjectsError;

use crate::chart::ChartError;
use crate::cli::HelmError;
use crate::values::ValuesError;

/// Why a release could not be read or observed.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// Its values could not be put together.
    #[error(transparent)]
    Values(#[from] ValuesError),
    /// Its local chart could not be read.
    #[error(transparent)]
    Chart(#[from] ChartError),
    /// `helm` failed.
    #[error(transparent)]
    Helm(#[from] HelmError),
    /// The API could not be read.
    #[error(transparent)]
    Objects(#[from] ObjectsError),
    /// Helm's storage could not be read.
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    /// An object changed every time kindform went to remove fields from it.
    #[error(
        "{object} kept changing while kindform removed the fields added to it by hand; apply again"
    )]
    KeptChanging { object: String },
    /// Removing the fields added to an object by hand failed.
    #[error("cannot remove the fields added by hand to {object}")]
    RemoveAdded {
        object: String,
        #[source]
        source: kube::Error,
    },
    /// Objects the chart renders exist without the release's ownership,
    /// and the release does not say `take_ownership`.
    #[error(
        "{} would block Helm: they exist without release {release}'s ownership; delete them, or set take_ownership = true on releases.{release}",
        objects.join(", ")
    )]
    OwnershipConflict {
        release: String,
        objects: Vec<String>,
    },
    /// A `helm` still works on a pending release, so it is not recovered.
    #[error(
        "helm (process {pid}) is still working on release {release}; kindform leaves the release to it: wait for it to end, then apply again"
    )]
    HelmStillRunning {
        release: String,
        /// The process.
        pid: u32,
    },
    /// Adopting an object for the release failed.
    #[error("cannot adopt {object} for release {release}")]
    Adopt {
        release: String,
        object: String,
        #[source]
        source: kube::Error,
    },
    /// The applied record could not be written.
    #[error(transparent)]
    Record(#[from] kindform_kube::RecordError),
    /// The cluster could not be read or changed to judge or mend health.
    #[error("cannot read or restart the release's workloads")]
    Health(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The release stayed broken after every rung of its repair.
    #[error("release {release} is still broken after kindform {tried}: {evidence}\n{explanation}")]
    StillBroken {
        release: String,
        /// What was tried, in order.
        tried: String,
        /// What is still wrong.
        evidence: String,
        /// Pod states, events and log tails.
        explanation: String,
    },
}
