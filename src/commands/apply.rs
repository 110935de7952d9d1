//! `apply` and `destroy` for people: the plan shown, a confirmation asked,
//! the environment locked, the walk's events drawn as progress and kept in
//! the journal, Ctrl-C handled (the first stops starting work and tells the
//! running `helm` to stop waiting; the second stops now), and the report.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use kindform_api::Cancel;
use tokio::sync::{mpsc, watch};

use super::{Exit, Failure, STOPPED, addresses, colour, forbid_rebuild, load, runtime};
use crate::apply::Report;
use crate::cli::{ApplyArgs, GlobalArgs};
use crate::engine::{Engine, EngineError};
use crate::event::Event;
use crate::observe::Planned;
use crate::plan::{Action, Plan, PlanOptions, SavedPlan};
use crate::render::{ProgressView, Verbosity, plan_text, report_text};
use crate::state::Journal;

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
        return Err(Failure::message(format!(
            "{what} needs --auto-approve when its input is not a terminal; nothing was changed"
        )));
    }
    print!("\nDo you want to {what}? Only 'yes' will be accepted: ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(Failure::message(format!(
            "{what} cancelled; nothing was changed"
        )))
    }
}

/// Stops the walk on the first Ctrl-C or SIGTERM (and asks `helm` to stop
/// waiting), exits at once on the second; the children die with kindform.
fn on_interrupt(stop: watch::Sender<bool>, events: mpsc::UnboundedSender<Event>, cancel: Cancel) {
    tokio::spawn(async move {
        let mut signals = Interrupts::new();
        if !signals.next().await {
            return;
        }
        let _ = stop.send(true);
        cancel.cancel();
        let _ = events.send(Event::Note {
            text: "interrupted: letting running steps finish and starting nothing new; press Ctrl-C again to stop now".to_owned(),
        });
        if signals.next().await {
            eprintln!("{STOPPED}");
            std::process::exit(Exit::Interrupted.code());
        }
    });
}

/// Ctrl-C and SIGTERM, as one stream: a terminal's interrupt and a
/// service manager's or CI runner's stop mean the same here.
struct Interrupts {
    term: Option<tokio::signal::unix::Signal>,
}

impl Interrupts {
    fn new() -> Self {
        let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        Interrupts { term }
    }

    /// Waits for the next; `false` when signals cannot be waited for.
    async fn next(&mut self) -> bool {
        match &mut self.term {
            Some(term) => tokio::select! {
                interrupt = tokio::signal::ctrl_c() => interrupt.is_ok(),
                terminate = term.recv() => terminate.is_some(),
            },
            None => tokio::signal::ctrl_c().await.is_ok(),
        }
    }
}

/// Applies `plan` (made from `planned`) through `engine`, with progress
/// drawn and events journalled. Ctrl-C stops it (see [`on_interrupt`])
/// unless the caller passes its own `stop`.
pub(super) async fn walk(
    global: &GlobalArgs,
    engine: &Engine<'_>,
    command: &str,
    plan: &Plan,
    planned: Planned,
    journal: &mut Journal,
    stop: Option<watch::Receiver<bool>>,
) -> Result<Report, EngineError> {
    let (events, mut received) = mpsc::unbounded_channel();
    let stopped = match stop {
        Some(stopped) => stopped,
        None => {
            let (stop, stopped) = watch::channel(false);
            on_interrupt(stop, events.clone(), engine.session.cancel.clone());
            stopped
        }
    };
    let mut view = ProgressView::new(verbosity(global), std::io::stderr().is_terminal());
    let walking = engine.apply(command, plan, planned, events, stopped);
    tokio::pin!(walking);
    let report = loop {
        tokio::select! {
            report = &mut walking => break report?,
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
    Ok(report)
}

/// A run that did not start: said in the journal, nothing changed.
pub(super) fn refused(error: &EngineError, mut journal: Journal) -> Failure {
    let failure = Failure::of(error);
    journal.record("result", serde_json::json!({"error": failure.line()}));
    let _ = journal.finish();
    failure
}

fn finish(report: &Report, verb: &str, mut journal: Journal) -> Exit {
    let text = report_text(report, verb);
    journal.record("result", serde_json::json!({"report": text}));
    eprint!("{}", kindform_api::printable::printable_styled(&text));
    if let Some(warning) = journal.finish() {
        eprintln!("warning: {warning}");
    }
    if report.interrupted {
        Exit::Interrupted
    } else if report.failed() {
        Exit::Failed
    } else {
        Exit::Done
    }
}

/// `kindform apply`.
pub(super) fn apply(global: &GlobalArgs, args: &ApplyArgs) -> Result<Exit, Failure> {
    let mut loaded = load(global)?;
    let options = PlanOptions {
        targets: addresses(&args.target, &loaded)?,
        replace: addresses(&args.replace, &loaded)?,
    };
    let narrowed = !options.targets.is_empty() || !options.replace.is_empty() || args.no_rebuild;
    if args.plan_file.is_some() && narrowed {
        return Err(Failure::message(
            "a saved plan already says what to do: pass --target, --replace and --no-rebuild to `plan`, not to `apply PLANFILE`",
        ));
    }
    let saved = match &args.plan_file {
        Some(file) => Some(SavedPlan::read(file).map_err(|e| Failure::of(&e))?),
        None => None,
    };
    let kept = saved.as_ref().is_some_and(|s| !s.allow_rebuild);
    forbid_rebuild(&mut loaded, args.no_rebuild || kept);
    let parallelism = usize::from(args.parallelism);
    runtime()?.block_on(async {
        let session = Engine::connect(&loaded, parallelism)
            .await
            .map_err(|e| Failure::of(&e))?;
        let engine = Engine::new(&loaded, &session);
        let (_lock, note) = engine.lock("apply").map_err(|e| Failure::of(&e))?;
        if let Some(note) = note {
            eprintln!("note: {note}");
        }
        // A saved plan is never run as written: the plan made now runs,
        // and only when it is the saved one.
        let planning = match (&args.plan_file, &saved) {
            (Some(file), Some(saved)) => engine.plan_saved(saved, file).await,
            _ => engine.plan(&options).await,
        }
        .map_err(|e| Failure::of(&e))?;
        let plan = &planning.plan;
        if !global.quiet {
            print!(
                "{}",
                kindform_api::printable::printable_styled(&plan_text(plan, colour(global)))
            );
        }
        let runs_anything = plan
            .changes
            .iter()
            .any(|c| c.action.is_change() || c.action == Action::Run);
        if !runs_anything {
            return Ok(Exit::Done);
        }
        if plan.has_changes() && !args.auto_approve && args.plan_file.is_none() {
            confirm("apply these changes")?;
        }
        let mut journal = Journal::open(engine.state_dir(), "apply");
        journal.record("plan", serde_json::to_value(plan).unwrap_or_default());
        let planned = planning.observation.planned;
        let report = match walk(global, &engine, "apply", plan, planned, &mut journal, None).await {
            Ok(report) => report,
            Err(e) => return Err(refused(&e, journal)),
        };
        let exit = finish(&report, "Apply", journal);
        let kubeconfig = engine.session.kubeconfig();
        if exit == Exit::Done && plan.has_changes() && !global.quiet && kubeconfig.is_file() {
            eprintln!(
                "Reach the cluster with `kubectl --kubeconfig {} --context kind-{}`, or merge it into your kubeconfig with `kindform kubeconfig --export`.",
                kubeconfig.display(),
                loaded.spec.cluster.name
            );
        }
        Ok(exit)
    })
}

/// `kindform destroy`.
pub(super) fn destroy(global: &GlobalArgs, auto_approve: bool) -> Result<Exit, Failure> {
    let loaded = load(global)?;
    runtime()?.block_on(async {
        let session = Engine::connect(&loaded, 1)
            .await
            .map_err(|e| Failure::of(&e))?;
        let engine = Engine::new(&loaded, &session);
        let (_lock, note) = engine.lock("destroy").map_err(|e| Failure::of(&e))?;
        if let Some(note) = note {
            eprintln!("note: {note}");
        }
        let Some(destroy) = engine.destroy_plan().await.map_err(|e| Failure::of(&e))? else {
            println!(
                "Nothing to destroy: cluster \"{}\" does not exist.",
                loaded.spec.cluster.name
            );
            return Ok(Exit::Done);
        };
        if !global.quiet {
            print!(
                "{}",
                kindform_api::printable::printable_styled(&plan_text(
                    &destroy.shown,
                    colour(global)
                ))
            );
        }
        if !auto_approve {
            confirm("destroy this environment")?;
        }
        let mut journal = Journal::open(engine.state_dir(), "destroy");
        journal.record(
            "plan",
            serde_json::to_value(&destroy.shown).unwrap_or_default(),
        );
        let walked = walk(
            global,
            &engine,
            "destroy",
            &destroy.walked,
            Planned::default(),
            &mut journal,
            None,
        )
        .await;
        let report = match walked {
            Ok(report) => report,
            Err(e) => return Err(refused(&e, journal)),
        };
        if !report.failed() && !report.interrupted {
            let _ = std::fs::remove_file(engine.session.kubeconfig());
            // What `kubeconfig --export` merged into the user's kubeconfig
            // names a cluster that is gone.
            let state = engine.state_dir();
            if let Some(exported) = crate::kubeconfig::recorded(state) {
                match crate::kubeconfig::unexport(&exported) {
                    Ok(_) => {
                        let _ = std::fs::remove_file(crate::kubeconfig::record_path(state));
                        eprintln!(
                            "Took context kind-{} out of {}.",
                            loaded.spec.cluster.name,
                            exported.path.display()
                        );
                    }
                    Err(e) => eprintln!("warning: {e}"),
                }
            }
        }
        Ok(finish(&report, "Destroy", journal))
    })
}
