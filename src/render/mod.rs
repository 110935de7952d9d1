//! Turning engine data into what people and programs read: the plan as text
//! (symbols, reasons, steps, diffs of settings with `similar`, colour on a
//! terminal only) and as the stable JSON document; apply progress from the
//! engine's events; the apply report; the environment's health.

mod log_sink;
mod plan_text;
mod progress;
mod report;
mod status_text;

pub use log_sink::ScrubbedStderr;
pub use plan_text::plan_text;
pub use progress::{ProgressView, Verbosity};
pub use report::report_text;
pub use status_text::status_text;

use crate::plan::Plan;

/// The environment's health as JSON: `{"environment", "health",
/// "resources": [{"address", "health", "evidence", "drift"}]}`, `health`
/// being `healthy`, `degraded`, `broken` or `null` (not judged).
pub fn status_json(status: &crate::status::Status) -> String {
    scrubbed_json(status)
}

/// The plan as the stable JSON document the README describes.
pub fn plan_json(plan: &Plan) -> String {
    scrubbed_json(plan)
}

/// `value` as pretty JSON with the run's secrets scrubbed from its strings
/// (control characters JSON escapes itself).
pub fn scrubbed_json(value: &impl serde::Serialize) -> String {
    let mut value = serde_json::to_value(value).unwrap_or_default();
    kindform_api::secrets::scrub_json(&mut value);
    serde_json::to_string_pretty(&value).unwrap_or_default()
}
