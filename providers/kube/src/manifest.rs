//! The manifest provider: what applying a manifest takes is known without
//! observing anything ([`Provider::plan_create`], used when the cluster is
//! created or replaced). Observing objects in the API (and orphans) is the
//! next step of the plan issue; until then `observe` says so rather than
//! pretend.

use kindform_api::provider::{Diff, Difference, Effect, Provider};
use kindform_api::{ManifestSource, ManifestSpec};
use serde_json::json;

/// Reads and compares one manifest.
pub struct ManifestProvider;

/// Why a manifest could not be observed.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Observing manifests is not built yet.
    #[error("observing manifests is not built yet")]
    NotBuilt,
}

impl Provider for ManifestProvider {
    type Desired = ManifestSpec;
    type Live = ();
    type Error = ManifestError;

    async fn observe(&self, _desired: &ManifestSpec) -> Result<(), ManifestError> {
        Err(ManifestError::NotBuilt)
    }

    fn diff(&self, desired: &ManifestSpec, _live: &()) -> Diff {
        self.plan_create(desired)
    }

    fn plan_create(&self, desired: &ManifestSpec) -> Diff {
        let source = match &desired.source {
            ManifestSource::Path(path) => path.display().to_string(),
            ManifestSource::Url { url, .. } => format!("{url} (checked against its sha256)"),
            ManifestSource::Inline(_) => "the inline YAML".to_owned(),
        };
        let mut steps = vec![format!(
            "server-side apply the objects of {source} (field manager kindform)"
        )];
        for wait in &desired.wait {
            let which = wait
                .selector
                .as_deref()
                .or(wait.name.as_deref())
                .unwrap_or_default();
            steps.push(format!(
                "wait for {} {which} to be {}",
                wait.kind, wait.condition
            ));
        }
        Diff {
            differences: vec![Difference::new("absent", Effect::Create, String::new())],
            steps,
            before: serde_json::Value::Null,
            after: json!({"source": desired.source, "namespace": desired.namespace, "prune": desired.prune}),
        }
    }
}
