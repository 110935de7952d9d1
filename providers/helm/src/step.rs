//! The release's steps: what its plans say and what apply does.

use std::fmt;

use kindform_api::Duration;
use kindform_api::field_path::FieldPath;
use kindform_kube::{ObjectRef, Workload};
use serde::Serialize;

use crate::ownership::{
    HELM_MANAGED_BY, KindRef, RELEASE_NAME_ANNOTATION, RELEASE_NAMESPACE_ANNOTATION,
};

/// What a repair falls back to when restarts did not mend the release.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "to", rename_all = "kebab-case")]
pub enum Fallback {
    /// Roll back to the last good revision.
    Rollback { revision: u64 },
    /// Uninstall and install again.
    Reinstall,
}

/// One step of a release plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum ReleaseStep {
    /// `helm rollback` a release stuck in `pending-*` to its last deployed
    /// revision, so that Helm takes an upgrade again.
    Rollback {
        release: String,
        namespace: String,
        revision: u64,
    },
    /// `helm uninstall` a release whose first install never finished.
    UninstallUnfinished { release: String, namespace: String },
    /// Give objects Helm's ownership label and annotations for the release.
    Adopt {
        release: String,
        namespace: String,
        objects: Vec<ObjectRef>,
    },
    /// Look for objects in the chart's way of kinds the API did not serve
    /// at plan (their CRD comes earlier in the same apply): adopted with
    /// `take_ownership`, a stop otherwise.
    CheckConflicts {
        release: String,
        kinds: Vec<KindRef>,
    },
    /// Stop: objects without the release's ownership would block Helm.
    RefuseConflicts {
        release: String,
        objects: Vec<ObjectRef>,
    },
    /// `helm upgrade --install`.
    Upgrade {
        /// The command as shown (the set values' file by its placeholder).
        command: String,
        /// Whether Helm 4 takes fields other managers changed by hand
        /// (`--force-conflicts`): only when fields of the release's
        /// objects are in drift (or the release adopts objects).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        force_conflicts: bool,
    },
    /// Remove fields added by hand to one of the release's objects, which
    /// Helm leaves (they are in neither its old nor its new manifest).
    RemoveAdded {
        /// The object.
        object: ObjectRef,
        /// `deployment/web`, as plans name it.
        shown: String,
        /// The fields.
        paths: Vec<FieldPath>,
    },
    /// Record a local chart's file digests in kindform's applied record.
    RecordChart,
    /// Record that kindform installed the release, so that it is
    /// uninstalled once it leaves the spec.
    RecordInstalled,
    /// Rung of a health repair: restart a stuck workload and wait for it.
    RestartStuck {
        workload: Workload,
        /// How long to wait.
        wait: Duration,
    },
    /// Last rung of a health repair, when the release is still broken.
    Fallback {
        release: String,
        namespace: String,
        /// What to fall back to.
        to: Fallback,
        /// The workloads whose rollout judges it.
        stuck: Vec<Workload>,
        /// How long each wait may take.
        wait: Duration,
    },
    /// Restart every workload of the release and wait for them (its pods
    /// pick up a platform repaired under them).
    RestartWorkloads {
        /// `releases.<name>`.
        address: String,
        /// How long each wait may take.
        wait: Duration,
    },
    /// `helm uninstall`.
    Uninstall { release: String, namespace: String },
    /// Remove the release from kindform's applied record.
    Forget,
}

fn names(objects: &[ObjectRef]) -> String {
    objects
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for ReleaseStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReleaseStep::Rollback {
                release,
                namespace,
                revision,
            } => write!(
                f,
                "helm rollback {release} {revision} --namespace {namespace} (the last deployed revision)"
            ),
            ReleaseStep::UninstallUnfinished { release, namespace } => write!(
                f,
                "helm uninstall {release} --namespace {namespace} (it never finished installing)"
            ),
            ReleaseStep::Adopt {
                release,
                namespace,
                objects,
            } => write!(
                f,
                "adopt {} for release {release} (Helm's label {}={} and annotations {}={release}, {}={namespace})",
                names(objects),
                HELM_MANAGED_BY.0,
                HELM_MANAGED_BY.1,
                RELEASE_NAME_ANNOTATION,
                RELEASE_NAMESPACE_ANNOTATION,
            ),
            ReleaseStep::CheckConflicts { kinds, .. } => write!(
                f,
                "look for objects in the chart's way of kinds not served before this apply: {}",
                kinds
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            ReleaseStep::RefuseConflicts { release, objects } => write!(
                f,
                "stop: {} would block Helm; delete them, or set take_ownership = true on releases.{release}",
                names(objects)
            ),
            ReleaseStep::Upgrade { command, .. } => f.write_str(command),
            ReleaseStep::RemoveAdded { shown, paths, .. } => write!(
                f,
                "remove what was added by hand to {shown}: {}",
                paths
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            ReleaseStep::RecordInstalled => {
                f.write_str("record in the applied record that kindform installed it")
            }
            ReleaseStep::RecordChart => {
                f.write_str("record the chart's file digests in the applied record")
            }
            ReleaseStep::RestartStuck { workload, wait } => {
                write!(f, "rollout restart {workload} and wait for it ({wait})")
            }
            ReleaseStep::Fallback {
                release,
                namespace,
                to,
                ..
            } => match to {
                Fallback::Rollback { revision } => write!(
                    f,
                    "if it stays broken: helm rollback {release} {revision} --namespace {namespace} (the last good revision)"
                ),
                Fallback::Reinstall => write!(
                    f,
                    "if it stays broken: reinstall {release} (helm uninstall, then helm upgrade --install)"
                ),
            },
            ReleaseStep::RestartWorkloads { address, .. } => write!(
                f,
                "rollout restart the workloads of {address} and wait for them"
            ),
            ReleaseStep::Uninstall { release, namespace } => write!(
                f,
                "helm uninstall {release} --namespace {namespace} --ignore-not-found"
            ),
            ReleaseStep::Forget => f.write_str("forget it in the applied record"),
        }
    }
}
