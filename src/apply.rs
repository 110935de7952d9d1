//! Apply: the plan carried out over the [`walk`](crate::walk) of its graph.
//! Each resource is handed to its provider with exactly the steps the plan
//! shows. Two things are decided at run time, both announced by the plan: a
//! resource in a cluster the API of which did not answer is observed once
//! the cluster's repair is done, then converged; and when a repair ladder
//! ends in rebuilding the cluster, everything in it is created again.
//! Progress goes out as [`Event`]s; apply never prints.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use kindform_api::provider::{Orphans as _, Outcome, Progress, Provider, error_chain};
use kindform_api::{Address, Spec};
use kindform_kube::{Claimant, ClusterLease, LeaseError, LeaseSeen};
use tokio::sync::{OnceCell, mpsc, watch};

use crate::event::Event;
use crate::graph::Graph;
use crate::in_cluster::InCluster;
use crate::observe::{Orphan, Planned, observe_one};
use crate::plan::{Action, EngineStep, Plan, Step};
use crate::resources::{Desired, plan_create};
use crate::session::{Session, cluster_provider};
use crate::walk::{Hook, Nodes, Visit};

pub use crate::walk::Ending;

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
    /// Who takes the cluster's lease for this run.
    pub claimant: Claimant,
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

/// The apply of one plan: the walk's visitor and hook.
struct Applying<'a> {
    walk: &'a Walk<'a>,
    /// What observation connected, while the cluster stays the one observed.
    observed: Mutex<Option<InCluster>>,
    in_cluster: OnceCell<Result<InCluster, String>>,
    /// A repair ladder ended in rebuilding the cluster.
    rebuilt: AtomicBool,
    /// Each address's action as the plan says it.
    planned: BTreeMap<Address, Action>,
    /// Each started address's action as done (a no-op after a rebuild is a
    /// create).
    doing: Mutex<BTreeMap<Address, Action>>,
    /// The cluster's lease while this run holds it.
    lease: Mutex<Option<ClusterLease>>,
}

impl Applying<'_> {
    /// The in-cluster providers, on first use (after the cluster is done):
    /// those observation used when the cluster is the one it saw, otherwise
    /// connected now, so a cluster made by this run answers.
    async fn in_cluster(&self) -> Result<&InCluster, String> {
        let walk = self.walk;
        let result = self
            .in_cluster
            .get_or_init(|| async {
                let remade = self.rebuilt.load(Ordering::SeqCst) || walk.plan.remakes_cluster();
                let observed = self.observed.lock().unwrap().take();
                if let Some(observed) = observed.filter(|_| !remade) {
                    return Ok(observed);
                }
                // After a rebuild every resource is made again, so every
                // kind of provider may be needed.
                let (images, releases) = InCluster::needs(walk.planned.desired.keys());
                let connected = InCluster::connect(walk.spec, walk.session, images, releases)
                    .await
                    .map_err(|e| error_chain(&e))?;
                // A cluster this run made (or first reached now) is
                // changed under a lease of its own.
                self.claim(&connected.client, &connected.lease)
                    .await
                    .map_err(|e| error_chain(&e))?;
                Ok(connected)
            })
            .await;
        result.as_ref().map_err(Clone::clone)
    }

    /// The steps to do for `address`: the plan's, or, once the cluster was
    /// rebuilt under it, what creating it takes.
    fn steps(&self, address: &Address) -> Vec<Step> {
        let walk = self.walk;
        if address.is_in_cluster() && self.rebuilt.load(Ordering::SeqCst) {
            if let Some(desired) = walk.planned.desired.get(address) {
                return plan_create(desired).steps;
            }
        }
        walk.plan
            .change(address)
            .map(|c| c.steps.clone())
            .unwrap_or_default()
    }

    async fn run(&self, address: &Address) -> Result<Outcome, String> {
        let walk = self.walk;
        let progress = NodeProgress {
            address: address.to_string(),
            events: walk.events.clone(),
        };
        let mut steps = self.steps(address);
        if *address == Address::Cluster {
            let cluster = cluster_provider(walk.session);
            let steps = provider_steps(address, &steps, |s| match s {
                Step::Cluster(s) => Some(s.clone()),
                _ => None,
            })?;
            let outcome = cluster
                .apply(&walk.spec.cluster, &steps, &progress)
                .await
                .map_err(|e| error_chain(&e))?;
            if outcome == Outcome::Rebuilt {
                self.rebuilt.store(true, Ordering::SeqCst);
                let _ = walk.events.send(Event::Note {
                    text: "the cluster was rebuilt: everything in it is created again".to_owned(),
                });
            }
            return Ok(outcome);
        }
        let providers = self.in_cluster().await?;
        match walk.planned.orphans.get(address) {
            Some(Orphan::Manifest(orphan)) => {
                let steps = provider_steps(address, &steps, |s| match s {
                    Step::Manifest(s) => Some(s.clone()),
                    _ => None,
                })?;
                return providers
                    .manifests
                    .apply_orphan(orphan, &steps, &progress)
                    .await
                    .map_err(|e| error_chain(&e));
            }
            Some(Orphan::Release(orphan)) => {
                let steps = provider_steps(address, &steps, |s| match s {
                    Step::Release(s) => Some(s.clone()),
                    _ => None,
                })?;
                let releases = providers
                    .releases
                    .as_ref()
                    .ok_or_else(|| format!("no provider was set up for {address}"))?;
                return releases
                    .apply_orphan(orphan, &steps, &progress)
                    .await
                    .map_err(|e| error_chain(&e));
            }
            None => {}
        }
        let Some(desired) = walk.planned.desired.get(address) else {
            return Err(format!("{address} has no desired state in this run"));
        };
        if let Some(reobserve) = steps
            .iter()
            .find(|s| matches!(s, Step::Engine(EngineStep::Reobserve { .. })))
        {
            progress.step(&reobserve.to_string());
            let seen = observe_one(address, desired, providers, false)
                .await
                .map_err(|e| error_chain(&e))?;
            steps = seen.diff.steps;
        }
        let missing = || format!("no provider was set up for {address}");
        match desired {
            Desired::Image(d) => {
                let p = providers.images.as_ref().ok_or_else(missing)?;
                let steps = provider_steps(address, &steps, |s| match s {
                    Step::Image(s) => Some(s.clone()),
                    _ => None,
                })?;
                p.apply(d, &steps, &progress)
                    .await
                    .map_err(|e| error_chain(&e))
            }
            Desired::Release(d) => {
                let p = providers.releases.as_ref().ok_or_else(missing)?;
                let steps = provider_steps(address, &steps, |s| match s {
                    Step::Release(s) => Some(s.clone()),
                    _ => None,
                })?;
                p.apply(d, &steps, &progress)
                    .await
                    .map_err(|e| error_chain(&e))
            }
            Desired::Manifest(d) => {
                let steps = provider_steps(address, &steps, |s| match s {
                    Step::Manifest(s) => Some(s.clone()),
                    _ => None,
                })?;
                providers
                    .manifests
                    .apply(d, &steps, &progress)
                    .await
                    .map_err(|e| error_chain(&e))
            }
            Desired::Check(d) => {
                let steps = provider_steps(address, &steps, |s| match s {
                    Step::Check(s) => Some(s.clone()),
                    _ => None,
                })?;
                providers
                    .checks
                    .apply(d, &steps, &progress)
                    .await
                    .map_err(|e| error_chain(&e))
            }
        }
    }
}

/// The provider's own steps of `steps` (past any wait for platforms); the
/// engine's steps, which only say what the engine does, are left out.
fn provider_steps<S>(
    address: &Address,
    steps: &[Step],
    own: impl Fn(&Step) -> Option<S>,
) -> Result<Vec<S>, String> {
    let mut out = Vec::new();
    for step in steps {
        let step = step.inner();
        if let Step::Engine(_) = step {
            continue;
        }
        match own(step) {
            Some(s) => out.push(s),
            None => {
                return Err(format!(
                    "the plan of {address} holds a step of another kind: {step}"
                ));
            }
        }
    }
    Ok(out)
}

impl Visit<Address> for Applying<'_> {
    fn start(&self, address: &Address) -> Option<BoxFuture<'_, Result<(), String>>> {
        let planned = self.planned.get(address).copied().unwrap_or(Action::NoOp);
        let rebuilt = self.rebuilt.load(Ordering::SeqCst);
        let action = if rebuilt && address.is_in_cluster() && planned == Action::NoOp {
            Action::Create
        } else {
            planned
        };
        if action == Action::NoOp {
            return None;
        }
        self.doing.lock().unwrap().insert(address.clone(), action);
        let address = address.clone();
        Some(Box::pin(
            async move { self.run(&address).await.map(|_| ()) },
        ))
    }
}

impl Applying<'_> {
    /// Takes the cluster's lease against what was `seen`, and holds it
    /// for the rest of the run in place of any held before.
    async fn claim(&self, client: &kube::Client, seen: &LeaseSeen) -> Result<(), LeaseError> {
        let (lease, taken_over) = ClusterLease::claim(client, seen, &self.walk.claimant).await?;
        if let Some(holder) = taken_over {
            self.send(Event::Note {
                text: format!(
                    "took over the cluster's lease left by {}, which ended without letting it go",
                    holder.details
                ),
            });
        }
        *self.lease.lock().unwrap() = Some(lease);
        Ok(())
    }

    fn doing(&self, address: &Address) -> Action {
        self.doing
            .lock()
            .unwrap()
            .get(address)
            .copied()
            .unwrap_or(Action::NoOp)
    }

    fn send(&self, event: Event) {
        let _ = self.walk.events.send(event);
    }
}

impl Hook<Address> for Applying<'_> {
    fn started(&self, address: &Address) {
        self.send(Event::Started {
            address: address.to_string(),
            action: self.doing(address),
        });
    }

    fn finished(&self, address: &Address, took: Duration) {
        self.send(Event::Finished {
            address: address.to_string(),
            action: self.doing(address),
            seconds: took.as_secs_f64(),
        });
    }

    fn failed(&self, address: &Address, took: Duration, error: &str) {
        self.send(Event::Failed {
            address: address.to_string(),
            action: self.doing(address),
            seconds: took.as_secs_f64(),
            error: error.to_owned(),
        });
    }

    fn skipped(&self, address: &Address, because: &str) {
        let action = self.planned.get(address).copied().unwrap_or(Action::NoOp);
        if action.is_change() || action == Action::Run {
            self.send(Event::Skipped {
                address: address.to_string(),
                action,
                because: because.to_owned(),
            });
        }
    }
}

/// Carries out the plan.
pub async fn apply(mut walk: Walk<'_>) -> Result<Report, LeaseError> {
    let started = Instant::now();
    let observed = walk.planned.in_cluster.take();
    // The cluster as observed is changed only under its lease, taken
    // against what the plan saw; one the plan deletes is reached now.
    let first_lease = match &observed {
        Some(seen) => Some((seen.client.clone(), seen.lease.clone())),
        None if walk
            .plan
            .change(&Address::Cluster)
            .is_some_and(|c| matches!(c.action, Action::Delete | Action::Replace)) =>
        {
            reach(walk.spec, walk.session).await
        }
        None => None,
    };
    let graph = walk.graph;
    let nodes = Nodes {
        nodes: walk
            .plan
            .changes
            .iter()
            .map(|c| {
                let deps: Vec<Address> = graph
                    .dependencies(&c.address)
                    .into_iter()
                    .cloned()
                    .collect();
                // An orphan waits for the cluster, and for the orphans
                // that depended on it.
                let deps = if deps.is_empty()
                    && c.address.is_in_cluster()
                    && !graph.contains(&c.address)
                {
                    std::iter::once(Address::Cluster)
                        .chain(c.done_after.iter().cloned())
                        .collect()
                } else {
                    deps
                };
                (c.address.clone(), deps)
            })
            .collect(),
    };
    let applying = Applying {
        walk: &walk,
        observed: Mutex::new(observed),
        in_cluster: OnceCell::new(),
        rebuilt: AtomicBool::new(false),
        planned: walk
            .plan
            .changes
            .iter()
            .map(|c| (c.address.clone(), c.action))
            .collect(),
        doing: Mutex::new(BTreeMap::new()),
        lease: Mutex::new(None),
    };
    if let Some((client, seen)) = &first_lease {
        applying.claim(client, seen).await?;
    }
    let (endings, interrupted) = crate::walk::walk(
        &nodes,
        walk.parallelism,
        walk.stop.clone(),
        &applying,
        &applying,
    )
    .await;
    let resources = walk
        .plan
        .changes
        .iter()
        .filter(|c| c.action.is_change() || c.action == Action::Run)
        .map(|c| {
            let ending = endings
                .get(&c.address)
                .cloned()
                .unwrap_or(Ending::NotStarted);
            (c.address.to_string(), c.action, ending)
        })
        .collect();
    let lease = applying.lease.lock().unwrap().take();
    if let Some(lease) = lease {
        lease.release().await;
    }
    Ok(Report {
        resources,
        interrupted,
        elapsed: started.elapsed(),
    })
}

/// A client and the lease of the cluster, when its API answers at once
/// (a cluster about to be deleted may be stopped).
async fn reach(spec: &Spec, session: &Session) -> Option<(kube::Client, LeaseSeen)> {
    let client = crate::in_cluster::client(spec, session, Duration::from_secs(2))
        .await
        .ok()?;
    let seen = kindform_kube::lease::read(&client).await.ok()?;
    Some((client, seen))
}
