//! The image's steps: what its plans say and what apply does.

use std::fmt;
use std::path::PathBuf;

use kindform_kube::Workload;
use serde::Serialize;

/// One step of an image plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum ImageStep {
    /// Build the image from its context (with kindform's context label).
    Build {
        reference: String,
        /// The build context, as the spec names it.
        context: PathBuf,
        /// The Dockerfile, as the spec names it.
        dockerfile: PathBuf,
        /// Only when the local image is absent or was built from another
        /// context (planned without looking, for a cluster made anew).
        when_needed: bool,
    },
    /// Stream the local image into the nodes' containerd.
    Load {
        reference: String,
        /// Its short ID, when known and not about to be rebuilt.
        id: Option<String>,
        nodes: Vec<String>,
    },
    /// `kubectl rollout restart` a workload that runs the image, and wait.
    Restart {
        workload: Workload,
        reference: String,
    },
    /// Read the nodes that could not be read again, and load where it lacks.
    LoadWhereLacking {
        reference: String,
        nodes: Vec<String>,
    },
}

impl fmt::Display for ImageStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageStep::Build {
                reference,
                context,
                dockerfile,
                when_needed,
            } => write!(
                f,
                "build {reference} from {} (Dockerfile {}){}",
                context.display(),
                dockerfile.display(),
                if *when_needed {
                    " when absent or its context changed"
                } else {
                    ""
                }
            ),
            ImageStep::Load {
                reference,
                id,
                nodes,
            } => write!(
                f,
                "load {reference}{} into {} (one docker image export streamed into ctr import, nodes in parallel)",
                id.as_ref().map(|id| format!(" ({id})")).unwrap_or_default(),
                nodes.join(", ")
            ),
            ImageStep::Restart {
                workload,
                reference,
            } => write!(
                f,
                "rollout restart {workload} (it runs {reference}) and wait for it"
            ),
            ImageStep::LoadWhereLacking { .. } => f.write_str(
                "look at the unreachable nodes again once they run, and load the image where it lacks",
            ),
        }
    }
}
