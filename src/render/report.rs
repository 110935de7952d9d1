//! The result of an apply, for people: one line per resource with work
//! (done, failed, skipped, not started) and the totals.

use std::fmt::Write as _;

use crate::apply::{Ending, Report};

/// The report as text; `verb` names the run (`Apply`, `Destroy`).
pub fn report_text(report: &Report, verb: &str) -> String {
    let count = |f: fn(&Ending) -> bool| report.resources.iter().filter(|(_, _, e)| f(e)).count();
    let done = count(|e| matches!(e, Ending::Done(_)));
    let failed = count(|e| matches!(e, Ending::Failed(..)));
    let skipped = count(|e| matches!(e, Ending::Skipped(_)));
    let not_started = count(|e| matches!(e, Ending::NotStarted));
    let mut out = String::new();
    let width = report
        .resources
        .iter()
        .map(|(a, _, _)| a.len())
        .max()
        .unwrap_or(0);
    for (address, action, ending) in &report.resources {
        let action = action.word();
        let line = match ending {
            Ending::Done(took) => format!(
                "done     {address:width$}  {action} in {:.1}s",
                took.as_secs_f64()
            ),
            Ending::Failed(took, error) => format!(
                "failed   {address:width$}  {action} after {:.1}s: {}",
                took.as_secs_f64(),
                error.lines().next().unwrap_or_default()
            ),
            Ending::Skipped(because) => format!("skipped  {address:width$}  {action}: {because}"),
            Ending::NotStarted => format!("not run  {address:width$}  {action}: interrupted"),
        };
        let _ = writeln!(out, "  {line}");
    }
    let how = if report.interrupted {
        "interrupted"
    } else if failed > 0 {
        "failed"
    } else {
        "complete"
    };
    let mut summary = format!("{verb} {how}: {done} done, {failed} failed, {skipped} skipped");
    if not_started > 0 {
        summary.push_str(&format!(", {not_started} not started"));
    }
    let _ = writeln!(out, "{summary} in {:.1}s.", report.elapsed.as_secs_f64());
    out
}
