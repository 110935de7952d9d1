//! The apply walk, Terraform's walker in small: every resource of the plan
//! starts once what it depends on has succeeded; independent resources run
//! at the same time, at most `parallelism` at once; a failure skips what
//! depends on it while the rest of the graph goes on; a stop request lets
//! running work finish and starts nothing new. Each resource is applied by
//! its provider with exactly what the plan was made from. Progress goes out
//! as [`Event`]s; the walk never prints.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use kindform_api::provider::{Outcome, Progress, Provider, error_chain};
use kindform_api::{Address, Spec};
use tokio::sync::{OnceCell, mpsc, watch};

use crate::event::Event;
use crate::graph::Graph;
use crate::in_cluster::InCluster;
use crate::observe::{Planned, Session, cluster_provider};
use crate::plan::{Action, Plan};
use crate::resources::{Desired, Live};

/// How one resource ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Ending {
    /// Its work was done.
    Done(Duration),
    /// Its work failed.
    Failed(Duration, String),
    /// It was not started: something it needs failed or was skipped.
    Skipped(String),
    /// It was not started: the run was interrupted.
    NotStarted,
}

/// What an apply did.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Each resource with work, in plan order, with how it ended.
    pub resources: Vec<(String, Action, Ending)>,
    /// Whether the run was interrupted.
    pub interrupted: bool,
    /// How long it took.
    pub elapsed: Duration,
}

impl Report {
    /// Whether anything failed.
    pub fn failed(&self) -> bool {
        self.resources
            .iter()
            .any(|(_, _, e)| matches!(e, Ending::Failed(..)))
    }
}

/// What the walk works with.
pub struct Walk<'a> {
    /// The spec.
    pub spec: &'a Spec,
    /// Its graph.
    pub graph: &'a Graph,
    /// The plan to carry out.
    pub plan: &'a Plan,
    /// What the plan was made from.
    pub planned: Planned,
    /// Docker and the state folder.
    pub session: &'a Session,
    /// How many resources may change at once.
    pub parallelism: usize,
    /// Where events go.
    pub events: mpsc::UnboundedSender<Event>,
    /// Becomes true when the run must stop starting work.
    pub stop: watch::Receiver<bool>,
}

struct NodeProgress {
    address: String,
    events: mpsc::UnboundedSender<Event>,
}

impl Progress for NodeProgress {
    fn step(&self, text: &str) {
        let _ = self.events.send(Event::Step {
            address: self.address.clone(),
            text: text.to_owned(),
        });
    }

    fn output(&self, line: &str) {
        let _ = self.events.send(Event::Output {
            address: self.address.clone(),
            line: line.to_owned(),
        });
    }

    fn bytes(&self, moved: u64, total: Option<u64>) {
        let _ = self.events.send(Event::Bytes {
            address: self.address.clone(),
            moved,
            total,
        });
    }
}

struct Context<'a> {
    walk: &'a Walk<'a>,
    /// What observation connected, while the cluster stays the one observed.
    observed: std::sync::Mutex<Option<InCluster>>,
    in_cluster: OnceCell<Result<InCluster, String>>,
    rebuilt: AtomicBool,
}

impl Context<'_> {
    /// The in-cluster providers, on first use (after the cluster is done):
    /// those observation used when the cluster is the one it saw, otherwise
    /// connected now, so a cluster made by this run answers.
    async fn in_cluster(&self) -> Result<&InCluster, String> {
        let walk = self.walk;
        let result = self
            .in_cluster
            .get_or_init(|| async {
                let remade = self.rebuilt.load(Ordering::SeqCst)
                    || walk.plan.change("cluster").is_some_and(|c| {
                        matches!(c.action, Action::Create | Action::Replace | Action::Delete)
                    });
                let observed = self.observed.lock().unwrap().take();
                if let Some(observed) = observed.filter(|_| !remade) {
                    return Ok(observed);
                }
                // After a rebuild every resource is made again, so every
                // kind of provider may be needed.
                let (images, releases) = InCluster::needs(walk.planned.desired.keys());
                InCluster::connect(walk.spec, walk.session, images, releases)
                    .await
                    .map_err(|e| error_chain(&e))
            })
            .await;
        result.as_ref().map_err(Clone::clone)
    }

    async fn run(&self, address: &Address, action: Action) -> Result<Outcome, String> {
        let walk = self.walk;
        let progress = NodeProgress {
            address: address.to_string(),
            events: walk.events.clone(),
        };
        if *address == Address::Cluster {
            let cluster = cluster_provider(walk.session);
            let spec = &walk.spec.cluster;
            let done = match action {
                Action::Delete => cluster
                    .delete(spec, None, &progress)
                    .await
                    .map(|()| Outcome::Done),
                Action::Replace => {
                    let why = walk
                        .plan
                        .change("cluster")
                        .map(|c| c.reasons.join(", "))
                        .unwrap_or_default();
                    cluster
                        .replace(spec, &why, &progress)
                        .await
                        .map(|()| Outcome::Done)
                }
                _ => {
                    cluster
                        .apply(spec, walk.planned.cluster.as_ref(), &progress)
                        .await
                }
            };
            let outcome = done.map_err(|e| error_chain(&e))?;
            if outcome == Outcome::Rebuilt {
                self.rebuilt.store(true, Ordering::SeqCst);
                let _ = walk.events.send(Event::Note {
                    text: "the cluster was rebuilt: everything in it is created again".to_owned(),
                });
            }
            return Ok(outcome);
        }
        let providers = self.in_cluster().await?;
        if action == Action::Delete {
            if let Some(entry) = walk.planned.orphans.get(address) {
                return providers
                    .manifests
                    .delete_orphan(&address.to_string(), entry, &progress)
                    .await
                    .map(|()| Outcome::Done)
                    .map_err(|e| error_chain(&e));
            }
        }
        let Some(desired) = walk.planned.desired.get(address) else {
            return Err(format!("{address} has no desired state in this run"));
        };
        let fresh = action == Action::Create || self.rebuilt.load(Ordering::SeqCst);
        let live = if fresh {
            None
        } else {
            walk.planned.live.get(address)
        };
        let replace = action == Action::Replace;
        // A release the planner restarts after its platform's repair, with
        // nothing of its own to change.
        let restart_only = action == Action::Repair
            && walk.plan.change(&address.to_string()).is_some_and(|c| {
                c.reasons
                    .iter()
                    .all(|r| r == crate::plan::PLATFORM_REPAIRED)
            });
        let missing = || format!("no provider was set up for {address}");
        let result = match (desired, live) {
            (Desired::Image(d), live) => {
                let p = providers.images.as_ref().ok_or_else(missing)?;
                let live = match live {
                    Some(Live::Image(l)) => Some(l),
                    _ => None,
                };
                with_provider(p, d, live, replace, &progress).await
            }
            (Desired::Release(d), _) if restart_only => {
                let p = providers.releases.as_ref().ok_or_else(missing)?;
                p.restart_workloads(d, &progress)
                    .await
                    .map(|()| Outcome::Done)
                    .map_err(|e| e.into())
            }
            (Desired::Release(d), live) => {
                let p = providers.releases.as_ref().ok_or_else(missing)?;
                let live = match live {
                    Some(Live::Release(l)) => Some(l.as_ref()),
                    _ => None,
                };
                with_provider(p, d.as_ref(), live, replace, &progress).await
            }
            (Desired::Manifest(d), live) => {
                let live = match live {
                    Some(Live::Manifest(l)) => Some(l),
                    _ => None,
                };
                with_provider(&providers.manifests, d, live, replace, &progress).await
            }
            (Desired::Check(d), _) => {
                with_provider(&providers.checks, d, None, false, &progress).await
            }
        };
        result.map_err(|e| error_chain(e.as_ref()))
    }
}

/// Applies one resource through its provider; a replace deletes it first
/// and then makes it from nothing.
async fn with_provider<P: Provider>(
    provider: &P,
    desired: &P::Desired,
    live: Option<&P::Live>,
    replace: bool,
    progress: &dyn Progress,
) -> Result<Outcome, Box<dyn std::error::Error + Send + Sync>> {
    if replace {
        provider.delete(desired, live, progress).await?;
        return Ok(provider.apply(desired, None, progress).await?);
    }
    Ok(provider.apply(desired, live, progress).await?)
}

#[derive(Clone, Debug, PartialEq)]
enum State {
    Pending,
    Running,
    Ended(Ending),
}

/// Carries out the plan.
pub async fn apply(mut walk: Walk<'_>) -> Report {
    let started = Instant::now();
    let observed = walk.planned.in_cluster.take();
    let context = Arc::new(Context {
        walk: &walk,
        observed: std::sync::Mutex::new(observed),
        in_cluster: OnceCell::new(),
        rebuilt: AtomicBool::new(false),
    });
    let order: Vec<(Address, Action)> = walk
        .plan
        .changes
        .iter()
        .filter_map(|c| c.address.parse::<Address>().ok().map(|a| (a, c.action)))
        .collect();
    let mut states: BTreeMap<Address, State> = order
        .iter()
        .map(|(a, _)| (a.clone(), State::Pending))
        .collect();
    let dependencies = |address: &Address| -> Vec<Address> {
        let deps: Vec<Address> = walk
            .graph
            .dependencies(address)
            .into_iter()
            .cloned()
            .collect();
        if deps.is_empty() && *address != Address::Cluster && !walk.graph.contains(address) {
            // An orphan: it waits for the cluster only.
            return vec![Address::Cluster];
        }
        deps
    };
    let mut stop = walk.stop.clone();
    let mut stopped = *stop.borrow();
    let mut running = FuturesUnordered::new();
    loop {
        let mut progressed = true;
        while progressed {
            progressed = false;
            for (address, action) in &order {
                if states[address] != State::Pending {
                    continue;
                }
                let deps = dependencies(address);
                let blocked = deps.iter().find(|d| {
                    matches!(
                        states.get(*d),
                        Some(State::Ended(
                            Ending::Failed(..) | Ending::Skipped(_) | Ending::NotStarted
                        ))
                    )
                });
                if let Some(blocker) = blocked {
                    let because = match &states[blocker] {
                        State::Ended(Ending::Failed(..)) => format!("{blocker} failed"),
                        State::Ended(Ending::NotStarted) => format!("{blocker} was not started"),
                        _ => format!("{blocker} was skipped"),
                    };
                    if action.is_change() || *action == Action::Run {
                        let _ = walk.events.send(Event::Skipped {
                            address: address.to_string(),
                            action: *action,
                            because: because.clone(),
                        });
                    }
                    states.insert(address.clone(), State::Ended(Ending::Skipped(because)));
                    progressed = true;
                    continue;
                }
                let ready = deps
                    .iter()
                    .all(|d| matches!(states.get(d), None | Some(State::Ended(Ending::Done(_)))));
                if !ready {
                    continue;
                }
                if stopped {
                    states.insert(address.clone(), State::Ended(Ending::NotStarted));
                    progressed = true;
                    continue;
                }
                let rebuilt = context.rebuilt.load(Ordering::SeqCst);
                let action = if rebuilt && address.is_in_cluster() && *action == Action::NoOp {
                    Action::Create
                } else {
                    *action
                };
                if action == Action::NoOp {
                    states.insert(address.clone(), State::Ended(Ending::Done(Duration::ZERO)));
                    progressed = true;
                    continue;
                }
                if running.len() >= walk.parallelism {
                    continue;
                }
                let _ = walk.events.send(Event::Started {
                    address: address.to_string(),
                    action,
                });
                states.insert(address.clone(), State::Running);
                let context = Arc::clone(&context);
                let address = address.clone();
                running.push(async move {
                    let at = Instant::now();
                    let result = context.run(&address, action).await;
                    (address, action, at.elapsed(), result)
                });
                progressed = true;
            }
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            Some((address, action, took, result)) = running.next() => {
                let ending = match result {
                    Ok(_) => {
                        let _ = walk.events.send(Event::Finished {
                            address: address.to_string(),
                            action,
                            seconds: took.as_secs_f64(),
                        });
                        Ending::Done(took)
                    }
                    Err(error) => {
                        let _ = walk.events.send(Event::Failed {
                            address: address.to_string(),
                            action,
                            seconds: took.as_secs_f64(),
                            error: error.clone(),
                        });
                        Ending::Failed(took, error)
                    }
                };
                states.insert(address, State::Ended(ending));
            }
            Ok(()) = stop.changed(), if !stopped => {
                stopped = *stop.borrow();
            }
        }
    }
    let resources = order
        .iter()
        .filter(|(_, action)| action.is_change() || *action == Action::Run)
        .map(|(address, action)| {
            let ending = match &states[address] {
                State::Ended(e) => e.clone(),
                _ => Ending::NotStarted,
            };
            (address.to_string(), *action, ending)
        })
        .collect();
    Report {
        resources,
        interrupted: stopped,
        elapsed: started.elapsed(),
    }
}
