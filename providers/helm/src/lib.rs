//! The Helm provider: owns `releases.*`, Helm releases driven through the
//! `helm` executable.
//!
//! What installing a release takes is known without observing anything
//! ([`Provider::plan_create`], used when the cluster is created or
//! replaced). Observing releases (`helm list`, values, history, a local
//! chart's fingerprint, objects in the way) is the next step of the plan
//! issue; until then `observe` says so rather than pretend.

use kindform_api::provider::{Diff, Difference, Effect, Provider};
use kindform_api::release::ChartSource;
use kindform_api::{ReleaseSpec, SetValue};
use serde_json::{Value, json};

/// Reads and compares one release; its name is the spec's key.
pub struct ReleaseProvider {
    name: String,
}

/// Why a release could not be observed.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// Observing releases is not built yet.
    #[error("observing Helm releases is not built yet")]
    NotBuilt,
}

impl ReleaseProvider {
    /// A provider for release `name`.
    pub fn new(name: &str) -> Self {
        ReleaseProvider {
            name: name.to_owned(),
        }
    }
}

/// The release's settings as the plan shows them; sensitive values hidden.
pub fn settings(desired: &ReleaseSpec) -> Value {
    let set: serde_json::Map<String, Value> = desired
        .set
        .iter()
        .map(|(k, v)| {
            let shown = match v {
                _ if v.is_sensitive() => json!("(sensitive)"),
                SetValue::Literal(s) => serde_json::to_value(s).unwrap_or(Value::Null),
                SetValue::Env { env, .. } => json!(format!("(from ${env})")),
                SetValue::File { file, .. } => json!(format!("(from {})", file.display())),
            };
            (k.clone(), shown)
        })
        .collect();
    json!({
        "chart": desired.chart,
        "repo": desired.repo,
        "version": desired.version,
        "namespace": desired.namespace,
        "values": desired.values,
        "set": set,
    })
}

impl Provider for ReleaseProvider {
    type Desired = ReleaseSpec;
    type Live = ();
    type Error = ReleaseError;

    async fn observe(&self, _desired: &ReleaseSpec) -> Result<(), ReleaseError> {
        Err(ReleaseError::NotBuilt)
    }

    fn diff(&self, desired: &ReleaseSpec, _live: &()) -> Diff {
        self.plan_create(desired)
    }

    fn plan_create(&self, desired: &ReleaseSpec) -> Diff {
        let chart = match desired.chart_source() {
            ChartSource::Local(path) => path.to_owned(),
            ChartSource::Repository { repo, name } => format!("{name} --repo {repo}"),
            ChartSource::Oci(reference) => reference.to_owned(),
        };
        let mut command = format!(
            "helm upgrade --install {} {chart} --namespace {}",
            self.name, desired.namespace
        );
        if desired.create_namespace {
            command.push_str(" --create-namespace");
        }
        if let Some(version) = &desired.version {
            command.push_str(&format!(" --version {version}"));
        }
        for file in &desired.values {
            command.push_str(&format!(" -f {}", file.display()));
        }
        if !desired.set.is_empty() {
            command.push_str(" -f <state dir>/values/<release>.yaml (the set values, 0600)");
        }
        if desired.wait {
            command.push_str(" --wait");
        }
        if desired.wait_for_jobs {
            command.push_str(" --wait-for-jobs");
        }
        if let Some(timeout) = desired.timeout {
            command.push_str(&format!(" --timeout {timeout}"));
        }
        Diff {
            differences: vec![Difference::new(
                "absent",
                Effect::Create,
                format!("no release {} in {}", self.name, desired.namespace),
            )],
            steps: vec![command],
            before: Value::Null,
            after: settings(desired),
        }
    }
}
