//! `apply` and `destroy` for people: the plan shown, a confirmation asked,
//! the environment locked, the walk's events drawn as progress and kept in
//! the journal, Ctrl-C handled (the first stops starting work and tells the
//! running `helm` to stop waiting; the second stops now), and the report.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use kindform_api::provider::Provider as _;
use kindform_api::{Address, Cancel, Reason, Spec};
use tokio::sync::{mpsc, watch};

use super::{
    Failure, addresses, colour, error_chain, forbid_rebuild, load, replace_allowed, runtime,
    state_dir,
};
use crate::apply::{Report, Walk};
use crate::cli::{ApplyArgs, GlobalArgs};
use crate::event::Event;
use crate::graph::Graph;
use crate::observe::Planned;
use crate::plan::{Action, Change, EngineStep, Plan, PlanOptions, SavedPlan, Step, spec_hash};
use crate::render::{ProgressView, Verbosity, plan_text, report_text};
use crate::state::{Journal, Lock};

pub(super) fn fail(e: &dyn std::error::Error) -> Failure {
    Failure(error_chain(e))
}

fn verbosity(global: &GlobalArgs) -> Verbosity {
    if global.quiet {
        Verbosity::Quiet
    } else if global.verbose > 0 {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    }
}

/// Asks for `yes` on a terminal; refuses without one.
fn confirm(what: &str) -> Result<(), Failure> {
    if !std::io::stdin().is_terminal() {
        return Err(Failure(format!(
            "error: {what} needs --auto-approve when its input is not a terminal; nothing was changed"
        )));
    }
    print!("\nDo you want to {what}? Only 'yes' will be accepted: ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(Failure(format!(
            "error: {what} cancelled; nothing was changed"
        )))
    }
}

/// Stops the walk on the first Ctrl-C (and asks `helm` to stop waiting),
/// exits at once on the second.
fn on_interrupt(stop: watch::Sender<bool>, events: mpsc::UnboundedSender<Event>, cancel: Cancel) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        let _ = stop.send(true);
        cancel.cancel();
        let _ = events.send(Event::Note {
            text: "interrupted: letting running steps finish and starting nothing new; press Ctrl-C again to stop now".to_owned(),
        });
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("stopped: run apply again to finish the job");
            std::process::exit(130);
        }
    });
}

/// Runs the walk `make` sets up (given where its events go and what tells
/// it to stop) with progress drawn and events journalled. Ctrl-C stops it
/// (see [`on_interrupt`]) unless the caller passes its own `stop`.
pub(super) async fn walk<'a>(
    global: &GlobalArgs,
    make: impl FnOnce(mpsc::UnboundedSender<Event>, watch::Receiver<bool>) -> Walk<'a>,
    journal: &mut Journal,
    stop: Option<watch::Receiver<bool>>,
    cancel: Cancel,
) -> Report {
    let (events, mut received) = mpsc::unbounded_channel();
    let stopped = match stop {
        Some(stopped) => stopped,
        None => {
            let (stop, stopped) = watch::channel(false);
            on_interrupt(stop, events.clone(), cancel);
            stopped
        }
    };
    let mut view = ProgressView::new(verbosity(global), std::io::stderr().is_terminal());
    let walking = crate::apply::apply(make(events, stopped));
    tokio::pin!(walking);
    let report = loop {
        tokio::select! {
            report = &mut walking => break report,
            Some(event) = received.recv() => {
                view.handle(&event);
                journal.record("event", serde_json::to_value(&event).unwrap_or_default());
            }
        }
    };
    while let Ok(event) = received.try_recv() {
        view.handle(&event);
        journal.record("event", serde_json::to_value(&event).unwrap_or_default());
    }
    report
}

/// The process's peak resident memory in kB, where the system tells it
/// (Linux's `VmHWM`).
fn peak_memory_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn finish(report: &Report, verb: &str, journal: &mut Journal) -> i32 {
    if let Some(kb) = peak_memory_kb() {
        tracing::debug!("peak memory {} MB", kb / 1024);
    }
    let text = report_text(report, verb);
    journal.record("result", serde_json::json!({"report": text}));
    eprint!("{text}");
    if report.interrupted {
        130
    } else if report.failed() {
        1
    } else {
        0
    }
}

/// `kindform apply`.
pub(super) fn apply(global: &GlobalArgs, args: &ApplyArgs) -> Result<i32, Failure> {
    let mut loaded = load(global)?;
    let options = PlanOptions {
        targets: addresses(&args.target, &loaded)?,
        replace: addresses(&args.replace, &loaded)?,
    };
    let narrowed = !options.targets.is_empty() || !options.replace.is_empty() || args.no_rebuild;
    if args.plan_file.is_some() && narrowed {
        return Err(Failure(
            "error: a saved plan already says what to do: pass --target, --replace and --no-rebuild to `plan`, not to `apply PLANFILE`".to_owned(),
        ));
    }
    let saved = match &args.plan_file {
        Some(file) => Some(SavedPlan::read(file).map_err(|e| fail(&e))?),
        None => None,
    };
    let kept = saved.as_ref().is_some_and(|s| !s.allow_rebuild);
    forbid_rebuild(&mut loaded, args.no_rebuild || kept);
    replace_allowed(&loaded, &options)?;
    let (spec, graph) = (&loaded.spec, &loaded.graph);
    let dir = state_dir(&loaded);
    let parallelism = usize::from(args.parallelism);
    runtime()?.block_on(async {
        let session = crate::observe::session(spec, dir.clone(), parallelism)
            .await
            .map_err(|e| fail(&e))?;
        let (_lock, note) = Lock::acquire(&dir, &spec.name, "apply").map_err(|e| fail(&e))?;
        if let Some(note) = note {
            eprintln!("note: {note}");
        }
        let observation = crate::observe::observe(spec, graph, &session, &options)
            .await
            .map_err(|e| fail(&e))?;
        // A saved plan is never run as written: the plan made now runs,
        // and only when it is the saved one.
        let plan = crate::plan::plan(spec, graph, &observation.observed, &options);
        if let (Some(file), Some(saved)) = (&args.plan_file, saved) {
            let moved = saved.differences(&spec_hash(spec, &plan), &observation.observed, &plan);
            if !moved.is_empty() {
                return Err(Failure(format!(
                    "error: the plan in {} is not the plan kindform makes now; nothing was changed. Make a new plan\n{}",
                    file.display(),
                    moved
                        .iter()
                        .map(|m| format!("  - {m}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                )));
            }
        }
        if !global.quiet {
            print!("{}", plan_text(&plan, colour(global)));
        }
        let runs_anything = plan
            .changes
            .iter()
            .any(|c| c.action.is_change() || c.action == Action::Run);
        if !runs_anything {
            return Ok(0);
        }
        if plan.has_changes() && !args.auto_approve && args.plan_file.is_none() {
            confirm("apply these changes")?;
        }
        let mut journal = Journal::open(&dir, "apply");
        journal.record("plan", serde_json::to_value(&plan).unwrap_or_default());
        let planned = observation.planned;
        let make = |events, stop| Walk {
            spec,
            graph,
            plan: &plan,
            planned,
            session: &session,
            parallelism,
            events,
            stop,
        };
        let report = walk(global, make, &mut journal, None, session.cancel.clone()).await;
        Ok(finish(&report, "Apply", &mut journal))
    })
}

/// The plan of a destroy: the cluster is deleted, and what is in it goes
/// with it (so nothing in it is deleted one by one); local images stay.
fn destroy_plan(
    spec: &Spec,
    graph: &Graph,
    cluster: Vec<Step>,
    settings: serde_json::Value,
) -> Plan {
    let mut changes = vec![Change {
        address: Address::Cluster,
        action: Action::Delete,
        reasons: vec![Reason::Destroy],
        steps: cluster,
        before: settings,
        after: serde_json::Value::Null,
        details: Vec::new(),
    }];
    for address in graph.topological().into_iter().rev() {
        let step = match address {
            Address::Cluster | Address::Check(_) => continue,
            Address::Image(name) => EngineStep::KeepLocalImage {
                reference: spec.images[name].reference.clone(),
            },
            _ => EngineStep::GoesWithCluster,
        };
        changes.push(Change {
            address: address.clone(),
            action: Action::Delete,
            reasons: vec![Reason::ClusterDeleted],
            steps: vec![Step::Engine(step)],
            before: serde_json::Value::Null,
            after: serde_json::Value::Null,
            details: Vec::new(),
        });
    }
    Plan {
        format_version: "1".to_owned(),
        environment: spec.name.clone(),
        changes,
    }
}

/// `kindform destroy`.
pub(super) fn destroy(global: &GlobalArgs, auto_approve: bool) -> Result<i32, Failure> {
    let loaded = load(global)?;
    let (spec, graph) = (&loaded.spec, &loaded.graph);
    let dir = state_dir(&loaded);
    runtime()?.block_on(async {
        let session = crate::observe::session(spec, dir.clone(), 1)
            .await
            .map_err(|e| fail(&e))?;
        let (_lock, note) = Lock::acquire(&dir, &spec.name, "destroy").map_err(|e| fail(&e))?;
        if let Some(note) = note {
            eprintln!("note: {note}");
        }
        let cluster = crate::observe::cluster_provider(&session);
        let live = cluster.observe(&spec.cluster).await.map_err(|e| fail(&e))?;
        if live.nodes.is_empty() {
            println!(
                "Nothing to destroy: cluster \"{}\" does not exist.",
                spec.cluster.name
            );
            return Ok(0);
        }
        let before = serde_json::to_value(&live.nodes).unwrap_or_default();
        let steps = cluster
            .plan_delete(&spec.cluster, Some(&live))
            .into_iter()
            .map(Step::Cluster)
            .collect();
        let shown = destroy_plan(spec, graph, steps, serde_json::json!({"nodes": before}));
        if !global.quiet {
            print!("{}", plan_text(&shown, colour(global)));
        }
        if !auto_approve {
            confirm("destroy this environment")?;
        }
        let mut journal = Journal::open(&dir, "destroy");
        journal.record("plan", serde_json::to_value(&shown).unwrap_or_default());
        let only_cluster = Plan {
            changes: shown.changes[..1].to_vec(),
            ..shown.clone()
        };
        let make = |events, stop| Walk {
            spec,
            graph,
            plan: &only_cluster,
            planned: Planned::default(),
            session: &session,
            parallelism: 1,
            events,
            stop,
        };
        let report = walk(global, make, &mut journal, None, session.cancel.clone()).await;
        if !report.failed() && !report.interrupted {
            let _ = std::fs::remove_file(dir.join("kubeconfig"));
        }
        Ok(finish(&report, "Destroy", &mut journal))
    })
}
