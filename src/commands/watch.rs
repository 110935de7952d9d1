//! `kindform watch`: observes the environment every `--interval`, logs one
//! line per cycle (and the evidence of what is unhealthy), and repairs what
//! broke or drifted, taking the environment's lock only while it repairs.
//!
//! What watch changes on its own: every repair the plan shows (a broken
//! release, a stopped node, a stale image), and any change to a resource
//! that matched the spec at the previous look (someone deleted or edited it
//! by hand). What it leaves to `kindform apply`: changes that were pending
//! when watch first looked, and what edits to the spec file made while it
//! runs would change (it reads the spec again each cycle); it reports
//! those, and applies them only with `--apply-spec-changes`.
//! Ctrl-C between cycles stops it (exit 0); during a repair, running steps
//! finish first.

use std::collections::BTreeMap;

use kindform_api::HealthState;
use tokio::sync::watch;

use super::apply::{fail, walk};
use super::{Failure, error_chain, forbid_rebuild, load, runtime, state_dir};
use crate::apply::Walk;
use crate::cli::{GlobalArgs, WatchArgs};
use crate::plan::{Action, Plan, PlanOptions, spec_hash};
use crate::render::report_text;
use crate::spec::Loaded;
use crate::state::{Journal, Lock};
use crate::status::{Restarts, Status, restarts};

/// A line of the watch log, stamped with the wall-clock time.
fn log(text: &str) {
    let now = jiff::Zoned::now();
    eprintln!("{} {text}", now.strftime("%H:%M:%S"));
}

/// What watch keeps from one cycle to the next.
#[derive(Default)]
struct Memory {
    /// Each address's action at the previous look.
    actions: BTreeMap<String, Action>,
    /// The releases' restart counts at the previous look.
    restarts: Restarts,
    /// The pending changes last reported, so they are said once.
    reported: Option<String>,
}

/// Splits a plan into what watch does now and what it leaves to the user:
/// repairs, and changes to what matched the spec at the previous look,
/// are done; other changes are pending unless `everything`.
fn split(plan: &Plan, memory: &Memory, everything: bool) -> (Plan, Vec<String>) {
    let mut now = plan.clone();
    let mut pending = Vec::new();
    for change in &mut now.changes {
        if !change.action.is_change() || change.action == Action::Repair || everything {
            continue;
        }
        let drifted = memory.actions.get(&change.address) == Some(&Action::NoOp);
        if !drifted {
            pending.push(format!(
                "{} ({}: {})",
                change.address,
                action_word(change.action),
                change.reasons.join(", ")
            ));
            change.action = Action::NoOp;
            change.steps.clear();
        }
    }
    (now, pending)
}

/// An action as the plan's JSON names it (`create`, `repair`, …).
fn action_word(action: Action) -> String {
    serde_json::to_value(action)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The spec as the command line names it, read again.
fn reload(global: &GlobalArgs, no_rebuild: bool) -> Result<Loaded, Failure> {
    let mut loaded = load(global)?;
    forbid_rebuild(&mut loaded, no_rebuild);
    Ok(loaded)
}

/// `kindform watch`.
pub(super) fn watch(global: &GlobalArgs, args: &WatchArgs) -> Result<i32, Failure> {
    let mut loaded = reload(global, args.no_rebuild)?;
    let dir = state_dir(&loaded);
    let parallelism = usize::from(args.parallelism);
    let interval = args.interval.get();
    runtime()?.block_on(async {
        let session = crate::observe::session(&loaded.spec, dir.clone(), parallelism)
            .await
            .map_err(|e| fail(&e))?;
        let (stop, mut stopped) = watch::channel(false);
        tokio::spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                let _ = stop.send(true);
            }
        });
        log(&format!(
            "watching environment \"{}\" every {}; Ctrl-C stops",
            loaded.spec.name, args.interval
        ));
        let mut memory = Memory::default();
        let mut cycle = 0u64;
        loop {
            cycle += 1;
            match reload(global, args.no_rebuild) {
                Ok(fresh) if spec_fingerprint(&fresh) != spec_fingerprint(&loaded) => {
                    loaded = fresh;
                    if args.apply_spec_changes {
                        log(&format!(
                            "cycle {cycle}: the spec changed; applying it (--apply-spec-changes)"
                        ));
                    } else {
                        log(&format!(
                            "cycle {cycle}: the spec changed; watch does not apply its changes (run `kindform apply`, or watch with --apply-spec-changes)"
                        ));
                        // Nothing counts as matching the spec before this
                        // look, so what the edit changes stays pending.
                        memory.actions.clear();
                    }
                }
                Ok(_) => {}
                Err(failure) => log(&format!(
                    "cycle {cycle}: the spec no longer loads; watch goes on with it as it was:\n{failure}"
                )),
            }
            one_cycle(global, args, &loaded, &session, &mut memory, cycle, &stopped).await;
            if *stopped.borrow() {
                break;
            }
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                _ = stopped.changed() => break,
            }
        }
        log("stopped");
        Ok(0)
    })
}

/// A fingerprint of a spec, to say a change once.
fn spec_fingerprint(loaded: &Loaded) -> String {
    let empty = Plan {
        format_version: "1".to_owned(),
        environment: loaded.spec.name.clone(),
        changes: Vec::new(),
    };
    spec_hash(&loaded.spec, &empty)
}

/// One look: observe, log the health, repair what watch repairs.
async fn one_cycle(
    global: &GlobalArgs,
    args: &WatchArgs,
    loaded: &Loaded,
    session: &crate::observe::Session,
    memory: &mut Memory,
    cycle: u64,
    stopped: &watch::Receiver<bool>,
) {
    let (spec, graph) = (&loaded.spec, &loaded.graph);
    let options = PlanOptions::default();
    let observation = match crate::observe::observe(spec, graph, session, &options).await {
        Ok(observation) => observation,
        Err(e) => {
            log(&format!(
                "cycle {cycle}: cannot observe the environment: {}",
                error_chain(&e).trim_start_matches("error: ")
            ));
            return;
        }
    };
    let plan = crate::plan::plan(spec, graph, &observation.observed, &options);
    let mut status = Status::of(&spec.name, graph, &observation.observed);
    let now_restarts = restarts(&observation.planned);
    status.note_restarts(&memory.restarts, &now_restarts);
    memory.restarts = now_restarts;
    let everything = args.apply_spec_changes;
    let (repairs, pending) = split(&plan, memory, everything);
    // What watch takes on stays its own until it holds: recorded as
    // matching, so a repair that failed is tried again next cycle.
    memory.actions = repairs
        .changes
        .iter()
        .map(|c| {
            let action = if c.action.is_change() {
                Action::NoOp
            } else {
                plan.change(&c.address).map_or(c.action, |p| p.action)
            };
            (c.address.clone(), action)
        })
        .collect();
    let word = match status.health {
        HealthState::Healthy => "healthy",
        HealthState::Degraded => "degraded",
        HealthState::Broken => "broken",
    };
    let quiet_now = global.quiet && status.healthy() && !repairs.has_changes();
    if !quiet_now {
        log(&format!(
            "cycle {cycle}: {word} ({} healthy, {} degraded, {} broken)",
            status.count(HealthState::Healthy),
            status.count(HealthState::Degraded),
            status.count(HealthState::Broken)
        ));
    }
    for resource in status
        .resources
        .iter()
        .filter(|r| r.health.is_some_and(|h| h != HealthState::Healthy))
    {
        for line in &resource.evidence {
            log(&format!("  {}: {line}", resource.address));
        }
    }
    if !pending.is_empty() {
        let said = format!("pending:{}", pending.join(";"));
        if memory.reported.as_deref() != Some(said.as_str()) {
            log(&format!(
                "cycle {cycle}: left for `kindform apply` (from the spec, or pending before watch looked; --apply-spec-changes applies them): {}",
                pending.join("; ")
            ));
            memory.reported = Some(said);
        }
    }
    if !repairs.has_changes() {
        return;
    }
    let dir = state_dir(loaded);
    let lock = match Lock::acquire(&dir, &spec.name, "watch") {
        Ok((lock, _)) => lock,
        Err(e) => {
            log(&format!(
                "cycle {cycle}: not repairing now: {}",
                error_chain(&e).trim_start_matches("error: ")
            ));
            return;
        }
    };
    let changing: Vec<String> = repairs
        .changes
        .iter()
        .filter(|c| c.action.is_change())
        .map(|c| format!("{} ({})", c.address, action_word(c.action)))
        .collect();
    log(&format!("cycle {cycle}: repairing {}", changing.join(", ")));
    let mut journal = Journal::open(&dir, "watch");
    journal.record("plan", serde_json::to_value(&repairs).unwrap_or_default());
    let planned = observation.planned;
    let parallelism = usize::from(args.parallelism);
    let make = |events, stop| Walk {
        spec,
        graph,
        plan: &repairs,
        planned,
        session,
        parallelism,
        events,
        stop,
    };
    let report = walk(global, make, &mut journal, Some(stopped.clone())).await;
    drop(lock);
    let text = report_text(&report, "Repair");
    journal.record("result", serde_json::json!({"report": text}));
    let failed = report.failed();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        log(&format!("  {line}"));
    }
    log(&format!(
        "cycle {cycle}: {}",
        if failed {
            "the repair failed; watch looks again next cycle"
        } else if report.interrupted {
            "the repair was interrupted"
        } else {
            "repaired; the next look tells whether it holds"
        }
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Change;

    fn change(address: &str, action: Action) -> Change {
        Change {
            address: address.to_owned(),
            action,
            reasons: vec!["why".to_owned()],
            steps: vec!["do it".to_owned()],
            before: serde_json::Value::Null,
            after: serde_json::Value::Null,
            details: Vec::new(),
        }
    }

    fn plan() -> Plan {
        Plan {
            format_version: "1".to_owned(),
            environment: "env".to_owned(),
            changes: vec![
                change("releases.dapr", Action::Repair),
                change("releases.app", Action::Update),
                change("manifests.extra", Action::Create),
                change("checks.page", Action::Run),
            ],
        }
    }

    #[test]
    fn repairs_and_drift_from_a_matching_look_are_done_the_rest_waits() {
        let mut memory = Memory::default();
        memory
            .actions
            .insert("manifests.extra".to_owned(), Action::NoOp);
        memory
            .actions
            .insert("releases.app".to_owned(), Action::Update);
        let (now, pending) = split(&plan(), &memory, false);
        let actions: Vec<Action> = now.changes.iter().map(|c| c.action).collect();
        assert_eq!(
            actions,
            [Action::Repair, Action::NoOp, Action::Create, Action::Run]
        );
        assert!(now.changes[1].steps.is_empty());
        assert_eq!(pending, ["releases.app (update: why)"]);
    }

    #[test]
    fn with_spec_changes_everything_is_done() {
        let (now, pending) = split(&plan(), &Memory::default(), true);
        assert_eq!(now, plan());
        assert!(pending.is_empty());
    }
}
