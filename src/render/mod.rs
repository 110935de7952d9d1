//! Turning engine data into what people and programs read: the plan as text
//! (symbols, reasons, steps, diffs of settings with `similar`, colour on a
//! terminal only) and as the stable JSON document.

mod plan_text;

pub use plan_text::plan_text;

use crate::plan::Plan;

/// The plan as design.md's stable JSON document.
pub fn plan_json(plan: &Plan) -> String {
    serde_json::to_string_pretty(plan).unwrap_or_default()
}
