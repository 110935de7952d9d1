//! The plan as text, Terraform-like: one block per change with its symbol,
//! address, reasons, details, steps and a diff of its settings; checks listed
//! as runs; then the summary line.

use std::fmt::Write as _;

use kindform_api::Reason;
use serde_json::Value;
use similar::{ChangeTag, TextDiff};

use crate::plan::{Action, Plan};

const RESET: &str = "\x1b[0m";

fn colour(action: Action) -> &'static str {
    match action {
        Action::Create => "\x1b[32m",
        Action::Update => "\x1b[33m",
        Action::Replace => "\x1b[35m",
        Action::Repair => "\x1b[36m",
        Action::Delete => "\x1b[31m",
        Action::NoOp | Action::Run => "\x1b[2m",
    }
}

fn yaml(value: &Value) -> String {
    if value.is_null() {
        return String::new();
    }
    serde_yaml_ng::to_string(value).unwrap_or_default()
}

/// The plan for people; `color` adds ANSI colours.
pub fn plan_text(plan: &Plan, color: bool) -> String {
    let paint = |action: Action, text: &str| {
        if color {
            format!("{}{text}{RESET}", colour(action))
        } else {
            text.to_owned()
        }
    };
    let mut out = String::new();
    let changes: Vec<_> = plan
        .changes
        .iter()
        .filter(|c| c.action.is_change())
        .collect();
    if !changes.is_empty() {
        let _ = writeln!(
            out,
            "kindform will change environment \"{}\":\n",
            plan.environment
        );
    }
    for change in &changes {
        let _ = writeln!(
            out,
            "{} {}  ({})",
            paint(change.action, &format!("{:>3}", change.action.symbol())),
            change.address,
            Reason::list(&change.reasons)
        );
        for detail in &change.details {
            let _ = writeln!(out, "      {detail}");
        }
        for step in &change.steps {
            let _ = writeln!(out, "      - {step}");
        }
        if matches!(change.action, Action::Update | Action::Replace) && !change.before.is_null() {
            let (before, after) = (yaml(&change.before), yaml(&change.after));
            let diff = TextDiff::from_lines(&before, &after);
            let mut shown = String::new();
            for group in diff.grouped_ops(2) {
                for op in group {
                    for line in diff.iter_changes(&op) {
                        let (sign, action) = match line.tag() {
                            ChangeTag::Delete => ("-", Action::Delete),
                            ChangeTag::Insert => ("+", Action::Create),
                            ChangeTag::Equal => (" ", Action::NoOp),
                        };
                        let text = format!("{sign} {}", line.value().trim_end_matches('\n'));
                        let _ = writeln!(
                            shown,
                            "        {}",
                            if line.tag() == ChangeTag::Equal {
                                text
                            } else {
                                paint(action, &text)
                            }
                        );
                    }
                }
            }
            if !shown.is_empty() {
                let _ = writeln!(out, "      settings:");
                out.push_str(&shown);
            }
        }
        out.push('\n');
    }
    let checks: Vec<_> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Run)
        .collect();
    if !checks.is_empty() {
        let _ = writeln!(out, "Checks (run on every apply, not changes):");
        for check in checks {
            let _ = writeln!(
                out,
                "{} {}  ({})",
                paint(Action::Run, "  >"),
                check.address,
                Reason::list(&check.reasons)
            );
            for step in &check.steps {
                let _ = writeln!(out, "      - {step}");
            }
        }
        out.push('\n');
    }
    let c = plan.counts();
    if plan.has_changes() {
        let _ = writeln!(
            out,
            "Plan: {} to create, {} to update, {} to replace, {} to repair, {} to delete.",
            c.create, c.update, c.replace, c.repair, c.delete
        );
    } else {
        let _ = writeln!(out, "No changes. The environment matches the spec.");
    }
    out
}
