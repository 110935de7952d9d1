//! The image provider: owns `images.*`, local Docker images built and loaded
//! into the cluster's nodes.
//!
//! What creating an image takes is known without observing anything
//! ([`Provider::plan_create`], used when the cluster is created or
//! replaced). Observing images (local IDs, each node's images, the workloads
//! running them) is the next step of the plan issue; until then `observe`
//! says so rather than pretend.

use kindform_api::ImageSpec;
use kindform_api::provider::{Diff, Difference, Effect, Provider};
use serde_json::json;

/// Reads and compares images.
pub struct ImageProvider {
    nodes: Vec<String>,
}

/// Why an image could not be observed.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Observing images is not built yet.
    #[error("observing images is not built yet")]
    NotBuilt,
}

impl ImageProvider {
    /// A provider for a cluster whose nodes are `nodes`.
    pub fn new(nodes: Vec<String>) -> Self {
        ImageProvider { nodes }
    }

    fn targets(&self, desired: &ImageSpec) -> Vec<String> {
        desired.nodes.clone().unwrap_or_else(|| self.nodes.clone())
    }
}

impl Provider for ImageProvider {
    type Desired = ImageSpec;
    type Live = ();
    type Error = ImageError;

    async fn observe(&self, _desired: &ImageSpec) -> Result<(), ImageError> {
        Err(ImageError::NotBuilt)
    }

    fn diff(&self, desired: &ImageSpec, _live: &()) -> Diff {
        self.plan_create(desired)
    }

    fn plan_create(&self, desired: &ImageSpec) -> Diff {
        let mut steps = Vec::new();
        if let Some(build) = &desired.build {
            steps.push(format!(
                "build {} from {} (Dockerfile {}) when absent or its context changed",
                desired.reference,
                build.context.display(),
                build.dockerfile.display()
            ));
        }
        let nodes = self.targets(desired);
        steps.push(format!(
            "load {} into {}",
            desired.reference,
            nodes.join(", ")
        ));
        Diff {
            differences: vec![Difference::new(
                "absent",
                Effect::Create,
                format!("{} is not on the nodes", desired.reference),
            )],
            steps,
            before: serde_json::Value::Null,
            after: json!({"ref": desired.reference, "nodes": nodes, "build": desired.build}),
        }
    }
}
