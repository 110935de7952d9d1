//! The check provider: owns `checks.*`, probes run after their dependencies
//! on every apply (HTTP, a command, pods ready). Checks are not changes:
//! there is nothing to observe, and the plan shows what each will run.
//! Running them arrives with apply.

use kindform_api::CheckSpec;
use kindform_api::check::Probe;
use kindform_api::provider::{Diff, Provider};
use serde_json::json;

/// Describes checks.
pub struct CheckProvider;

/// Checks cannot fail to be observed.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {}

/// What a check will run, in one line.
pub fn describe(check: &CheckSpec) -> String {
    let attempts = if check.retries > 0 {
        format!(", up to {} attempts", check.retries + 1)
    } else {
        String::new()
    };
    match &check.probe {
        Probe::Http(http) => {
            let body = http
                .body_contains
                .as_deref()
                .map(|b| format!(" containing {b:?}"))
                .unwrap_or_default();
            format!("GET {} expecting {}{body}{attempts}", http.url, http.status)
        }
        Probe::Run { argv, .. } => format!("run {}{attempts}", argv.join(" ")),
        Probe::PodsReady(p) => format!(
            "every pod of {} matching {} Ready{attempts}",
            p.namespace, p.selector
        ),
    }
}

impl Provider for CheckProvider {
    type Desired = CheckSpec;
    type Live = ();
    type Error = CheckError;

    async fn observe(&self, _desired: &CheckSpec) -> Result<(), CheckError> {
        Ok(())
    }

    fn diff(&self, desired: &CheckSpec, _live: &()) -> Diff {
        self.plan_create(desired)
    }

    fn plan_create(&self, desired: &CheckSpec) -> Diff {
        Diff {
            differences: Vec::new(),
            steps: vec![describe(desired)],
            before: serde_json::Value::Null,
            after: json!(desired),
        }
    }
}
