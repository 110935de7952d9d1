//! `kindform watch`: observes the environment every `--interval`, logs one
//! line per look (and the evidence of what is unhealthy), and repairs what
//! broke or drifted, taking the environment's lock only while it repairs.
//!
//! What watch changes on its own: every repair the plan shows (a broken
//! release, a stopped node, a stale image), and any change to a resource
//! that matched the spec at the previous look while the spec's word on it
//! stayed the same (someone deleted or edited it by hand). What it leaves to
//! `kindform apply`: changes that were pending when watch first looked, and
//! what edits to the spec, or to the files it names, change (watch reads
//! them again each look); it reports those, and applies them only with
//! `--apply-spec-changes`. Ctrl-C between looks stops it (exit 0); during a
//! repair the first lets running steps finish (and tells a running `helm` to
//! stop waiting), the second stops at once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use kindform_api::{Address, Cancel, ClusterSpec, HealthState};
use tokio::sync::watch;

use super::apply::{refused, walk};
use super::{Exit, Failure, STOPPED, forbid_rebuild, load, runtime};
use crate::cli::{GlobalArgs, WatchArgs};
use crate::engine::{Engine, Planning};
use crate::observe::Observation;
use crate::plan::{Action, Plan, PlanOptions};
use crate::render::report_text;
use crate::resources::Desired;
use crate::session::Session;
use crate::spec::Loaded;
use crate::state::Journal;
use crate::status::{Restarts, Status, restarts};

/// A line of the watch log, stamped with the wall-clock time.
fn log(text: &str) {
    let now = jiff::Zoned::now();
    eprintln!(
        "{} {}",
        now.strftime("%H:%M:%S"),
        kindform_api::printable::printable_styled(text)
    );
}

/// What watch keeps from one look to the next.
#[derive(Default)]
struct Memory {
    /// Each address's action at the previous look (`NoOp` also for what
    /// watch took on to repair, so that a failed repair is tried again).
    actions: BTreeMap<Address, Action>,
    /// Each in-cluster resource's desired state at the previous look.
    desired: BTreeMap<Address, Desired>,
    /// The cluster's desired state at the previous look.
    cluster: Option<ClusterSpec>,
    /// The releases' restart counts at the previous look.
    restarts: Restarts,
    /// The pending changes last reported, so they are said once.
    reported: Option<String>,
}

impl Memory {
    /// Whether the spec says the same of `address` now as at the previous look.
    fn same_word(
        &self,
        address: &Address,
        spec: &crate::spec::Loaded,
        observation: &Observation,
    ) -> bool {
        match address {
            Address::Cluster => self.cluster.as_ref() == Some(&spec.spec.cluster),
            address => {
                self.desired.contains_key(address)
                    && self.desired.get(address) == observation.planned.desired.get(address)
            }
        }
    }
}

/// Splits a plan into what watch does now and what it leaves to the user:
/// repairs, and changes to what matched the spec at the previous look
/// (`drifted`), are done; other changes are pending unless `everything`.
fn split(plan: &Plan, drifted: impl Fn(&Address) -> bool, everything: bool) -> (Plan, Vec<String>) {
    let mut now = plan.clone();
    let mut pending = Vec::new();
    for change in &mut now.changes {
        if !change.action.is_change() || change.action == Action::Repair || everything {
            continue;
        }
        if !drifted(&change.address) {
            pending.push(format!(
                "{} ({}: {})",
                change.address,
                change.action.word(),
                kindform_api::Reason::list(&change.reasons)
            ));
            change.action = Action::NoOp;
            change.steps.clear();
        }
    }
    (now, pending)
}

/// The spec as the command line names it, read again.
fn reload(global: &GlobalArgs, no_rebuild: bool) -> Result<Loaded, Failure> {
    let mut loaded = load(global)?;
    forbid_rebuild(&mut loaded, no_rebuild);
    Ok(loaded)
}

/// Ctrl-C: between looks it stops watch; during a repair the first stops
/// starting work and tells `helm` to stop waiting, the second exits now.
fn on_interrupt(stop: watch::Sender<bool>, repairing: Arc<AtomicBool>, cancel: Cancel) {
    tokio::spawn(async move {
        let mut during_repair = 0;
        while tokio::signal::ctrl_c().await.is_ok() {
            let _ = stop.send(true);
            if !repairing.load(Ordering::SeqCst) {
                continue;
            }
            cancel.cancel();
            during_repair += 1;
            if during_repair == 1 {
                log(
                    "interrupted: letting running steps finish and starting nothing new; press Ctrl-C again to stop now",
                );
            } else {
                log(STOPPED);
                std::process::exit(Exit::Interrupted.code());
            }
        }
    });
}

/// `kindform watch`.
pub(super) fn watch(global: &GlobalArgs, args: &WatchArgs) -> Result<Exit, Failure> {
    let mut loaded = reload(global, args.no_rebuild)?;
    let parallelism = usize::from(args.parallelism);
    let interval = args.interval.get();
    runtime()?.block_on(async {
        let session = Engine::connect(&loaded, parallelism)
            .await
            .map_err(|e| Failure::of(&e))?;
        let (stop, mut stopped) = watch::channel(false);
        let repairing = Arc::new(AtomicBool::new(false));
        on_interrupt(stop, Arc::clone(&repairing), session.cancel.clone());
        log(&format!(
            "watching environment \"{}\" every {}; Ctrl-C stops",
            loaded.spec.name, args.interval
        ));
        let mut memory = Memory::default();
        let mut cycle = 0u64;
        loop {
            cycle += 1;
            match reload(global, args.no_rebuild) {
                Ok(fresh) if fresh.spec != loaded.spec => {
                    loaded = fresh;
                    log(&format!(
                        "cycle {cycle}: the spec changed; {}",
                        if args.apply_spec_changes {
                            "applying it (--apply-spec-changes)"
                        } else {
                            "watch does not apply its changes (run `kindform apply`, or watch with --apply-spec-changes)"
                        }
                    ));
                }
                Ok(_) => {}
                Err(failure) => log(&format!(
                    "cycle {cycle}: the spec no longer loads; watch goes on with it as it was:\n{failure}"
                )),
            }
            let look = Look { global, args, loaded: &loaded, session: &session, cycle };
            look.run(&mut memory, &stopped, &repairing).await;
            if *stopped.borrow() {
                break;
            }
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                _ = stopped.changed() => break,
            }
        }
        log("stopped");
        Ok(Exit::Done)
    })
}

/// One look at the environment.
struct Look<'a> {
    global: &'a GlobalArgs,
    args: &'a WatchArgs,
    loaded: &'a Loaded,
    session: &'a Session,
    cycle: u64,
}

impl Look<'_> {
    fn say(&self, text: &str) {
        log(&format!("cycle {}: {text}", self.cycle));
    }

    fn engine(&self) -> Engine<'_> {
        Engine::new(self.loaded, self.session)
    }

    /// Observes and plans; `None` (said) when the environment cannot be seen.
    async fn observe(&self) -> Option<(Observation, Plan)> {
        match self.engine().plan(&PlanOptions::default()).await {
            Ok(Planning { plan, observation }) => Some((observation, plan)),
            Err(e) => {
                self.say(&format!(
                    "cannot observe the environment: {}",
                    Failure::of(&e).line()
                ));
                None
            }
        }
    }

    /// What of `plan` watch does now, and what it leaves pending.
    fn split(
        &self,
        plan: &Plan,
        observation: &Observation,
        memory: &Memory,
    ) -> (Plan, Vec<String>) {
        let drifted = |address: &Address| {
            memory.actions.get(address) == Some(&Action::NoOp)
                && memory.same_word(address, self.loaded, observation)
        };
        split(plan, drifted, self.args.apply_spec_changes)
    }

    /// Observe, log the health, repair what watch repairs.
    async fn run(
        &self,
        memory: &mut Memory,
        stopped: &watch::Receiver<bool>,
        repairing: &AtomicBool,
    ) {
        let Some((observation, plan)) = self.observe().await else {
            return;
        };
        let graph = &self.loaded.graph;
        let mut status = Status::of(&self.loaded.spec.name, graph, &observation.observed);
        let now_restarts = restarts(&observation.planned);
        status.note_restarts(&memory.restarts, &now_restarts);
        memory.restarts = now_restarts;
        let (repairs, pending) = self.split(&plan, &observation, memory);
        self.remember(memory, &repairs, &plan, &observation);
        self.report(&status, &repairs, &pending, memory);
        if !repairs.has_changes() || *stopped.borrow() {
            return;
        }
        let lock = match self.engine().lock("watch") {
            Ok((lock, note)) => {
                if let Some(note) = note {
                    self.say(&format!("note: {note}"));
                }
                lock
            }
            Err(e) => {
                self.say(&format!("not repairing now: {}", Failure::of(&e).line()));
                return;
            }
        };
        // What was seen before the lock may have moved (an apply that just
        // ended): look again, under the lock, and repair from that.
        let Some((observation, plan)) = self.observe().await else {
            return;
        };
        let (repairs, _) = self.split(&plan, &observation, memory);
        if !repairs.has_changes() {
            self.say("nothing to repair after all");
            return;
        }
        repairing.store(true, Ordering::SeqCst);
        self.repair(&repairs, observation, stopped).await;
        repairing.store(false, Ordering::SeqCst);
        drop(lock);
    }

    /// Keeps what the next look compares with.
    fn remember(
        &self,
        memory: &mut Memory,
        repairs: &Plan,
        plan: &Plan,
        observation: &Observation,
    ) {
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
        memory.desired = observation.planned.desired.clone();
        memory.cluster = Some(self.loaded.spec.cluster.clone());
    }

    /// The look's lines: the verdict, the evidence of what is not healthy,
    /// what is left for apply.
    fn report(&self, status: &Status, repairs: &Plan, pending: &[String], memory: &mut Memory) {
        let word = status.health.word();
        if !(self.global.quiet && status.healthy() && !repairs.has_changes()) {
            self.say(&format!(
                "{word} ({} healthy, {} degraded, {} broken)",
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
        if pending.is_empty() {
            return;
        }
        let said = pending.join(";");
        if memory.reported.as_deref() != Some(said.as_str()) {
            self.say(&format!(
                "left for `kindform apply` (from the spec, or pending before watch looked; --apply-spec-changes applies them): {}",
                pending.join("; ")
            ));
            memory.reported = Some(said);
        }
    }

    /// Walks the repairs, journalled, and logs how it went.
    async fn repair(
        &self,
        repairs: &Plan,
        observation: Observation,
        stopped: &watch::Receiver<bool>,
    ) {
        let changing: Vec<String> = repairs
            .changes
            .iter()
            .filter(|c| c.action.is_change())
            .map(|c| format!("{} ({})", c.address, c.action.word()))
            .collect();
        self.say(&format!("repairing {}", changing.join(", ")));
        let engine = self.engine();
        let mut journal = Journal::open(engine.state_dir(), "watch");
        journal.record("plan", serde_json::to_value(repairs).unwrap_or_default());
        let report = match walk(
            self.global,
            &engine,
            "watch",
            repairs,
            observation.planned,
            &mut journal,
            Some(stopped.clone()),
        )
        .await
        {
            Ok(report) => report,
            Err(e) => {
                let failure = refused(&e, journal);
                self.say(&format!(
                    "the repair did not start: {}; watch looks again next cycle",
                    failure.line()
                ));
                return;
            }
        };
        let text = report_text(&report, "Repair");
        journal.record("result", serde_json::json!({"report": text}));
        if let Some(warning) = journal.finish() {
            self.say(&format!("warning: {warning}"));
        }
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            log(&format!("  {line}"));
        }
        self.say(if report.failed() {
            "the repair failed; watch looks again next cycle"
        } else if report.interrupted {
            "the repair was interrupted; `kindform apply` finishes it"
        } else {
            "repaired; the next look tells whether it holds"
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Change;

    fn change(address: &str, action: Action) -> Change {
        Change {
            address: address.parse().unwrap(),
            action,
            reasons: vec![kindform_api::Reason::ValuesChanged],
            steps: vec![crate::plan::Step::Engine(
                crate::plan::EngineStep::GoesWithCluster,
            )],
            before: serde_json::Value::Null,
            after: serde_json::Value::Null,
            details: Vec::new(),
            done_after: Vec::new(),
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
        let extra: Address = "manifests.extra".parse().unwrap();
        let (now, pending) = split(&plan(), |a| *a == extra, false);
        let actions: Vec<Action> = now.changes.iter().map(|c| c.action).collect();
        assert_eq!(
            actions,
            [Action::Repair, Action::NoOp, Action::Create, Action::Run]
        );
        assert!(now.changes[1].steps.is_empty());
        assert_eq!(pending, ["releases.app (update: values-changed)"]);
    }

    #[test]
    fn with_spec_changes_everything_is_done() {
        let (now, pending) = split(&plan(), |_| false, true);
        assert_eq!(now, plan());
        assert!(pending.is_empty());
    }
}
