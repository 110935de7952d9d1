//! Why a resource is in the plan: the reasons a provider gives for each
//! difference it sees, and those the engine adds (a cascade, a request on
//! the command line, a check's dependencies). Like Terraform's
//! `ActionReason`, they are for people and for the JSON document, which
//! writes each as its word; nothing decides anything on them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Address;

/// One reason, written in the plan as a kebab-case word.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// It does not exist.
    Absent,
    /// Its settings differ from those it was made with.
    ConfigChanged,
    /// A node container of the spec does not exist.
    NodeMissing,
    /// A node runs another node image than the spec's.
    NodeImageChanged,
    /// A node container is stopped.
    NodeStopped,
    /// The node containers run but the API does not answer.
    ApiUnreachable,
    /// A node is not Ready.
    NodeNotReady,
    /// kube-system pods will not start by themselves.
    SystemPodsStuck,
    /// kindform's applied record does not have it.
    Unrecorded,
    /// An image's build context changed since it was built.
    ContextChanged,
    /// A node holds another image under the tag.
    ImageStale,
    /// A node lacks the image.
    ImageMissing,
    /// A node's images could not be read.
    NodeUnreachable,
    /// A Helm release is stuck in `pending-*`.
    ReleasePending,
    /// A Helm release's last revision failed.
    ReleaseFailed,
    /// Another chart version is installed.
    VersionChanged,
    /// The release's values differ.
    ValuesChanged,
    /// Its pods are broken.
    Unhealthy,
    /// A local chart's files changed since the last apply.
    ChartChanged,
    /// Objects it would make exist without its ownership.
    OwnershipConflict,
    /// One of its objects does not exist.
    ObjectMissing,
    /// Fields of its objects differ.
    FieldsChanged,
    /// Fields of a release's objects were changed by hand.
    ObjectsDrifted,
    /// An object left the manifest and prune is on.
    Pruned,
    /// It left the spec.
    Orphaned,
    /// The cluster's API does not answer, so it cannot be seen.
    ClusterUnreachable,
    /// The cluster is made again, and everything in it with it.
    ClusterReplaced,
    /// `--replace` asked for it.
    ReplaceRequested,
    /// A release it runs on is repaired first.
    PlatformRepaired,
    /// `destroy` deletes it.
    Destroy,
    /// It goes with the deleted cluster.
    ClusterDeleted,
    /// A check, run after what it depends on.
    After(Vec<Address>),
}

const WORDS: [(Reason, &str); 31] = [
    (Reason::Absent, "absent"),
    (Reason::ConfigChanged, "config-changed"),
    (Reason::NodeMissing, "node-missing"),
    (Reason::NodeImageChanged, "node-image-changed"),
    (Reason::NodeStopped, "node-stopped"),
    (Reason::ApiUnreachable, "api-unreachable"),
    (Reason::NodeNotReady, "node-not-ready"),
    (Reason::SystemPodsStuck, "system-pods-stuck"),
    (Reason::Unrecorded, "unrecorded"),
    (Reason::ContextChanged, "context-changed"),
    (Reason::ImageStale, "image-stale"),
    (Reason::ImageMissing, "image-missing"),
    (Reason::NodeUnreachable, "node-unreachable"),
    (Reason::ReleasePending, "release-pending"),
    (Reason::ReleaseFailed, "release-failed"),
    (Reason::VersionChanged, "version-changed"),
    (Reason::ValuesChanged, "values-changed"),
    (Reason::Unhealthy, "unhealthy"),
    (Reason::ChartChanged, "chart-changed"),
    (Reason::OwnershipConflict, "ownership-conflict"),
    (Reason::ObjectMissing, "object-missing"),
    (Reason::FieldsChanged, "fields-changed"),
    (Reason::ObjectsDrifted, "objects-drifted"),
    (Reason::Pruned, "pruned"),
    (Reason::Orphaned, "orphaned"),
    (Reason::ClusterUnreachable, "cluster-unreachable"),
    (Reason::ClusterReplaced, "cluster-replaced"),
    (Reason::ReplaceRequested, "replace-requested"),
    (Reason::PlatformRepaired, "platform-repaired"),
    (Reason::Destroy, "destroy"),
    (Reason::ClusterDeleted, "cluster-deleted"),
];

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Reason::After(addresses) = self {
            let list: Vec<String> = addresses.iter().map(ToString::to_string).collect();
            return write!(f, "after {}", list.join(", "));
        }
        let word = WORDS
            .iter()
            .find(|(r, _)| r == self)
            .map(|(_, w)| *w)
            .unwrap_or_default();
        f.write_str(word)
    }
}

impl Reason {
    /// Reasons as the plan lists them: their words, `, `-separated.
    pub fn list(reasons: &[Reason]) -> String {
        reasons
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A word that names no reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a reason kindform gives")]
pub struct UnknownReason(pub String);

impl FromStr for Reason {
    type Err = UnknownReason;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(list) = s.strip_prefix("after ") {
            return list
                .split(", ")
                .map(|a| a.parse::<Address>())
                .collect::<Result<Vec<_>, _>>()
                .map(Reason::After)
                .map_err(|_| UnknownReason(s.to_owned()));
        }
        WORDS
            .iter()
            .find(|(_, w)| *w == s)
            .map(|(r, _)| r.clone())
            .ok_or_else(|| UnknownReason(s.to_owned()))
    }
}

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Reason {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_round_trips_through_its_word() {
        for (reason, word) in WORDS {
            assert_eq!(reason.to_string(), word);
            assert_eq!(word.parse::<Reason>(), Ok(reason));
        }
        let after = Reason::After(vec![Address::Release("web".into()), Address::Cluster]);
        assert_eq!(after.to_string(), "after releases.web, cluster");
        assert_eq!(after.to_string().parse::<Reason>(), Ok(after));
        assert!("broken".parse::<Reason>().is_err());
    }

    #[test]
    fn the_json_document_writes_reasons_as_words() {
        let reasons = vec![Reason::ReplaceRequested, Reason::ValuesChanged];
        assert_eq!(
            serde_json::to_value(&reasons).unwrap(),
            serde_json::json!(["replace-requested", "values-changed"])
        );
    }
}
