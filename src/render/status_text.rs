//! The environment's health as text: one row per resource with its verdict
//! and evidence (and how it differs from the spec), then the totals and
//! what to run next.

use std::fmt::Write as _;

use kindform_api::HealthState;

use crate::status::Status;

const RESET: &str = "\x1b[0m";

/// The word and colour of a verdict.
fn verdict(health: Option<HealthState>) -> (&'static str, &'static str) {
    match health {
        Some(HealthState::Healthy) => ("healthy", "\x1b[32m"),
        Some(HealthState::Degraded) => ("degraded", "\x1b[33m"),
        Some(HealthState::Broken) => ("broken", "\x1b[31m"),
        None => ("-", "\x1b[2m"),
    }
}

/// The status for people; `color` adds ANSI colours.
pub fn status_text(status: &Status, color: bool) -> String {
    let paint = |health: Option<HealthState>, text: &str| {
        let (_, code) = verdict(health);
        if color {
            format!("{code}{text}{RESET}")
        } else {
            text.to_owned()
        }
    };
    let mut out = String::new();
    let (overall, _) = verdict(Some(status.health));
    let _ = writeln!(
        out,
        "Environment \"{}\" is {}.\n",
        status.environment,
        paint(Some(status.health), overall)
    );
    let width = status
        .resources
        .iter()
        .map(|r| r.address.len())
        .max()
        .unwrap_or(0)
        .max("RESOURCE".len());
    let _ = writeln!(out, "  {:width$}  {:8}  EVIDENCE", "RESOURCE", "HEALTH");
    for resource in &status.resources {
        let (word, _) = verdict(resource.health);
        let mut lines: Vec<String> = resource.evidence.clone();
        if !resource.drift.is_empty() {
            lines.push(format!(
                "differs from the spec: {}",
                resource.drift.join(", ")
            ));
        }
        let mut lines = lines.into_iter();
        let first = lines.next().unwrap_or_default();
        let _ = writeln!(
            out,
            "  {:width$}  {}  {first}",
            resource.address,
            paint(resource.health, &format!("{word:8}"))
        );
        for line in lines {
            let _ = writeln!(out, "  {:width$}  {:8}  {line}", "", "");
        }
    }
    let broken = status.count(HealthState::Broken);
    let degraded = status.count(HealthState::Degraded);
    let healthy = status.count(HealthState::Healthy);
    let _ = write!(
        out,
        "\n{broken} broken, {degraded} degraded, {healthy} healthy."
    );
    if status.healthy() {
        let _ = writeln!(out);
    } else {
        let _ = writeln!(
            out,
            " `kindform plan` shows the repairs; `kindform apply` makes them."
        );
    }
    out
}
