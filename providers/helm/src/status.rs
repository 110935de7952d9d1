//! A Helm release's status, as Helm names it (`helm status`, `list`,
//! `history`): typed, so nothing compares its words.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a release revision stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReleaseStatus {
    /// The revision is the release's current one and worked.
    Deployed,
    /// A newer revision replaced it.
    Superseded,
    /// Its install, upgrade or rollback failed.
    Failed,
    /// It was uninstalled with `--keep-history`.
    Uninstalled,
    /// An uninstall is under way.
    Uninstalling,
    /// An install began and never finished.
    PendingInstall,
    /// An upgrade began and never finished.
    PendingUpgrade,
    /// A rollback began and never finished.
    PendingRollback,
    /// A status this kindform does not know.
    #[serde(other)]
    Unknown,
}

impl ReleaseStatus {
    /// Whether an operation on the release began and never finished, so
    /// that Helm refuses every other until it is recovered.
    pub fn is_pending(self) -> bool {
        matches!(
            self,
            ReleaseStatus::PendingInstall
                | ReleaseStatus::PendingUpgrade
                | ReleaseStatus::PendingRollback
        )
    }

    /// Whether the revision once worked, so a rollback may go back to it.
    pub fn was_deployed(self) -> bool {
        matches!(self, ReleaseStatus::Deployed | ReleaseStatus::Superseded)
    }
}

impl fmt::Display for ReleaseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| "unknown".to_owned());
        f.write_str(&word)
    }
}

#[cfg(test)]
mod tests {
    use super::ReleaseStatus;

    #[test]
    fn statuses_read_as_helm_writes_them() {
        let read: Vec<ReleaseStatus> = serde_json::from_str(
            r#"["deployed","pending-upgrade","pending-install","failed","superseded","something-new"]"#,
        )
        .unwrap();
        assert_eq!(
            read,
            [
                ReleaseStatus::Deployed,
                ReleaseStatus::PendingUpgrade,
                ReleaseStatus::PendingInstall,
                ReleaseStatus::Failed,
                ReleaseStatus::Superseded,
                ReleaseStatus::Unknown,
            ]
        );
        assert_eq!(
            ReleaseStatus::PendingRollback.to_string(),
            "pending-rollback"
        );
        assert!(ReleaseStatus::PendingUpgrade.is_pending());
        assert!(!ReleaseStatus::Failed.is_pending());
    }
}
