//! The engine's front door, what every command calls: open a session on a
//! loaded spec, plan (afresh, or against a saved plan), apply a plan, plan a
//! destroy, read the status. Commands parse, call this and render; nothing
//! here prints.

use std::path::{Path, PathBuf};

use kindform_api::Address;
use kindform_api::provider::Provider as _;
use tokio::sync::{mpsc, watch};

use crate::apply::{Report, Walk};
use crate::event::Event;
use crate::observe::{Observation, Planned};
use crate::plan::{Action, Change, EngineStep, Plan, PlanOptions, SavedPlan, Step, spec_hash};
use crate::session::{Session, SessionError};
use crate::spec::Loaded;
use crate::state::{Lock, LockError};
use crate::status::Status;

/// Why the engine could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Docker or a tool kindform drives is missing.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// Observation failed (the cluster, a resource).
    #[error(transparent)]
    Observe(#[from] crate::observe::Error),
    /// The environment is locked by another run, or the lock failed.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// Another run is changing the cluster, or its lease failed.
    #[error(transparent)]
    Lease(#[from] kindform_kube::LeaseError),
    /// A saved plan could not be read or written.
    #[error(transparent)]
    Saved(#[from] crate::plan::SavedPlanError),
    /// A saved plan is not the plan made now.
    #[error(
        "the plan in {} is not the plan kindform makes now; nothing was changed. Make a new plan\n{}",
        file.display(),
        differences.iter().map(|d| format!("  - {d}")).collect::<Vec<_>>().join("\n")
    )]
    NotTheSavedPlan {
        /// The plan file.
        file: PathBuf,
        /// What differs, one line each.
        differences: Vec<String>,
    },
    /// `--replace cluster` where the cluster may not be rebuilt.
    #[error(
        "--replace cluster rebuilds the cluster, which {} forbids; nothing was changed",
        kindform_api::cluster::NO_REBUILD
    )]
    ReplaceForbidden,
}

/// A plan with what it was made from, ready to show and to apply.
pub struct Planning {
    /// The plan.
    pub plan: Plan,
    /// What observation saw, typed per provider, for apply.
    pub observation: Observation,
}

/// A destroy: the plan shown, and the plan walked (the cluster only, as
/// everything else goes with it).
pub struct Destroy {
    /// What the user is shown.
    pub shown: Plan,
    /// What is done.
    pub walked: Plan,
}

/// The engine over one loaded spec and a session.
pub struct Engine<'a> {
    /// The spec and its graph.
    pub loaded: &'a Loaded,
    /// Docker, the tools, the state folder.
    pub session: &'a Session,
}

/// `.kindform/<environment>/` beside the spec.
pub fn state_dir(loaded: &Loaded) -> PathBuf {
    loaded
        .spec
        .base_dir
        .join(".kindform")
        .join(&loaded.spec.name)
}

impl<'a> Engine<'a> {
    /// A session for `loaded`: Docker connected, the tools found and their
    /// versions read; `parallelism` bounds observation and apply.
    pub async fn connect(loaded: &Loaded, parallelism: usize) -> Result<Session, EngineError> {
        Ok(crate::session::open(&loaded.spec, state_dir(loaded), parallelism).await?)
    }

    /// The engine over `loaded` with `session`.
    pub fn new(loaded: &'a Loaded, session: &'a Session) -> Self {
        Engine { loaded, session }
    }

    /// The environment's state folder.
    pub fn state_dir(&self) -> &Path {
        &self.session.state_dir
    }

    /// Takes the environment's lock for `command`; a note when a stale
    /// lock was taken over.
    pub fn lock(&self, command: &str) -> Result<(Lock, Option<String>), EngineError> {
        Ok(Lock::acquire(
            self.state_dir(),
            &self.loaded.spec.name,
            command,
        )?)
    }

    /// Observes what `options` asks for and plans it.
    pub async fn plan(&self, options: &PlanOptions) -> Result<Planning, EngineError> {
        let (spec, graph) = (&self.loaded.spec, &self.loaded.graph);
        if options.replace.contains(&Address::Cluster) && !spec.cluster.allow_rebuild {
            return Err(EngineError::ReplaceForbidden);
        }
        let observation = crate::observe::observe(spec, graph, self.session, options).await?;
        let plan = crate::plan::plan(spec, graph, &observation.observed, options);
        Ok(Planning { plan, observation })
    }

    /// Plans afresh and checks the fresh plan is `saved` (read from
    /// `file`), so that what runs is what was reviewed; the file itself is
    /// never run.
    pub async fn plan_saved(
        &self,
        saved: &SavedPlan,
        file: &Path,
    ) -> Result<Planning, EngineError> {
        let planning = self.plan(&PlanOptions::default()).await?;
        let hash = spec_hash(&self.loaded.spec, &planning.plan);
        let differences = saved.differences(&hash, &planning.observation.observed, &planning.plan);
        if !differences.is_empty() {
            return Err(EngineError::NotTheSavedPlan {
                file: file.to_owned(),
                differences,
            });
        }
        Ok(planning)
    }

    /// Writes `planning` to `path` as a saved plan.
    pub fn save(&self, planning: &Planning, path: &Path) -> Result<(), EngineError> {
        SavedPlan::new(
            &self.loaded.spec,
            &planning.plan,
            &planning.observation.observed,
        )
        .write(path)?;
        Ok(())
    }

    /// The health of every resource, observed once.
    pub async fn status(&self) -> Result<Status, EngineError> {
        let (spec, graph) = (&self.loaded.spec, &self.loaded.graph);
        let observation =
            crate::observe::observe(spec, graph, self.session, &PlanOptions::default()).await?;
        Ok(Status::of(&spec.name, graph, &observation.observed))
    }

    /// The plan of a destroy; `None` when the cluster does not exist.
    pub async fn destroy_plan(&self) -> Result<Option<Destroy>, EngineError> {
        let spec = &self.loaded.spec;
        let cluster = crate::session::cluster_provider(self.session);
        let live = cluster
            .observe(&spec.cluster)
            .await
            .map_err(crate::observe::Error::Cluster)?;
        if live.nodes.is_empty() {
            return Ok(None);
        }
        let steps = cluster
            .plan_delete(&spec.cluster, Some(&live))
            .into_iter()
            .map(Step::Cluster)
            .collect();
        let before =
            serde_json::json!({"nodes": serde_json::to_value(&live.nodes).unwrap_or_default()});
        let shown = destroy_plan(self.loaded, steps, before);
        let walked = Plan {
            changes: shown.changes[..1].to_vec(),
            ..shown.clone()
        };
        Ok(Some(Destroy { shown, walked }))
    }

    /// Carries out `plan`, made from `planned`, for `command`, under the
    /// cluster's lease; events go to `events`, and `stop` turning true
    /// starts nothing new.
    pub async fn apply(
        &self,
        command: &str,
        plan: &Plan,
        planned: Planned,
        events: mpsc::UnboundedSender<Event>,
        stop: watch::Receiver<bool>,
    ) -> Result<Report, EngineError> {
        Ok(crate::apply::apply(Walk {
            spec: &self.loaded.spec,
            graph: &self.loaded.graph,
            plan,
            planned,
            session: self.session,
            parallelism: self.session.parallelism,
            events,
            stop,
            claimant: self.claimant(command),
        })
        .await?)
    }

    /// Who this run is, to the cluster's lease: its process, and its place
    /// (host and state folder), which the environment's lock guards.
    fn claimant(&self, command: &str) -> kindform_kube::Claimant {
        let me = crate::state::Holder::this_process(command);
        let host = if me.host.is_empty() {
            String::new()
        } else {
            format!(" on {}", me.host)
        };
        kindform_kube::Claimant {
            identity: format!("{}/{}/{}", me.host, me.pid, me.start_time),
            place: format!("{}:{}", me.host, self.state_dir().display()),
            details: format!(
                "kindform {command} of {} (process {}{host}, since {})",
                self.loaded.spec.base_dir.display(),
                me.pid,
                me.since
            ),
        }
    }
}

/// The plan of a destroy: the cluster is deleted, and what is in it goes
/// with it (so nothing in it is deleted one by one); local images stay.
fn destroy_plan(loaded: &Loaded, cluster: Vec<Step>, before: serde_json::Value) -> Plan {
    use kindform_api::Reason;
    let (spec, graph) = (&loaded.spec, &loaded.graph);
    let mut changes = vec![Change {
        address: Address::Cluster,
        action: Action::Delete,
        reasons: vec![Reason::Destroy],
        steps: cluster,
        before,
        after: serde_json::Value::Null,
        details: Vec::new(),
        done_after: Vec::new(),
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
            done_after: Vec::new(),
        });
    }
    Plan {
        format_version: "1".to_owned(),
        environment: spec.name.clone(),
        changes,
    }
}
