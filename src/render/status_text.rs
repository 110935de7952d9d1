//! The environment's health as text: one row per resource with its verdict
//! and evidence (and how it differs from the spec), the checks in one line
//! (status runs none), then the totals and what to run next.

use std::fmt::Write as _;

use kindform_api::HealthState;

use crate::status::Status;

const RESET: &str = "\x1b[0m";

/// The word and colour of a verdict.
fn verdict(health: Option<HealthState>) -> (&'static str, &'static str) {
    let colour = match health {
        Some(HealthState::Healthy) => "\x1b[32m",
        Some(HealthState::Degraded) => "\x1b[33m",
        Some(HealthState::Broken) => "\x1b[31m",
        None => "\x1b[2m",
    };
    (health.map_or("-", HealthState::word), colour)
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
    // Checks are not judged: one line for all of them keeps the table to
    // what was.
    let is_check =
        |r: &&crate::status::ResourceStatus| matches!(r.address, kindform_api::Address::Check(_));
    let checks = status.resources.iter().filter(is_check).count();
    let width = status
        .resources
        .iter()
        .filter(|r| !is_check(r))
        .map(|r| r.address.to_string().len())
        .max()
        .unwrap_or(0)
        .max("RESOURCE".len());
    let _ = writeln!(out, "  {:width$}  {:8}  EVIDENCE", "RESOURCE", "HEALTH");
    for resource in status.resources.iter().filter(|r| !is_check(r)) {
        let (word, _) = verdict(resource.health);
        let mut lines: Vec<String> = resource.evidence.clone();
        if !resource.drift.is_empty() {
            lines.push(format!(
                "differs from the spec: {}",
                kindform_api::Reason::list(&resource.drift)
            ));
        }
        let mut lines = lines.into_iter();
        let first = lines.next().unwrap_or_default();
        let _ = writeln!(
            out,
            "  {:width$}  {}  {first}",
            resource.address.to_string(),
            paint(resource.health, &format!("{word:8}"))
        );
        for line in lines {
            let _ = writeln!(out, "  {:width$}  {:8}  {line}", "", "");
        }
    }
    if checks > 0 {
        let _ = writeln!(
            out,
            "\n{checks} check{} not run: status runs no checks (apply does).",
            if checks == 1 { "" } else { "s" }
        );
    }
    let broken = status.count(HealthState::Broken);
    let degraded = status.count(HealthState::Degraded);
    let healthy = status.count(HealthState::Healthy);
    if checks == 0 {
        let _ = writeln!(out);
    }
    let _ = write!(
        out,
        "{broken} broken, {degraded} degraded, {healthy} healthy."
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::ResourceStatus;

    fn row(address: &str, health: Option<HealthState>, evidence: &[&str]) -> ResourceStatus {
        ResourceStatus {
            address: address.parse().unwrap(),
            health,
            evidence: evidence.iter().map(|e| e.to_string()).collect(),
            drift: Vec::new(),
        }
    }

    #[test]
    fn rows_line_up_evidence_continues_and_checks_share_a_line() {
        let mut web = row(
            "releases.web",
            Some(HealthState::Broken),
            &[
                "pod web-1: container web CrashLoopBackOff, 4 restarts",
                "pod web-2: Pending and not Ready",
            ],
        );
        web.drift = vec![kindform_api::Reason::ValuesChanged];
        let status = Status {
            environment: "demo".to_owned(),
            health: HealthState::Broken,
            resources: vec![
                row(
                    "cluster",
                    Some(HealthState::Healthy),
                    &["1 node container running"],
                ),
                web,
                row("checks.page", None, &["not run"]),
            ],
        };
        assert_eq!(
            status_text(&status, false),
            "Environment \"demo\" is broken.

  RESOURCE      HEALTH    EVIDENCE
  cluster       healthy   1 node container running
  releases.web  broken    pod web-1: container web CrashLoopBackOff, 4 restarts
                          pod web-2: Pending and not Ready
                          differs from the spec: values-changed

1 check not run: status runs no checks (apply does).
1 broken, 0 degraded, 1 healthy. `kindform plan` shows the repairs; `kindform apply` makes them.
"
        );
    }
}
