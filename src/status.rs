//! The environment's health at one observation, as `status` and `watch`
//! report it: each resource's verdict and evidence, and whether it differs
//! from the spec, without planning. Pure data made from an observation.

use std::collections::BTreeMap;

use kindform_api::provider::Effect;
use kindform_api::{Address, HealthState, Reason};
use serde::Serialize;

use crate::graph::Graph;
use crate::observe::Planned;
use crate::plan::Observed;
use crate::resources::Live;

/// Each release's container restart counts at one observation, for the
/// next one to compare.
pub type Restarts = BTreeMap<Address, BTreeMap<String, i32>>;

/// The restart counts of the releases `planned` observed.
pub fn restarts(planned: &Planned) -> Restarts {
    planned
        .live
        .iter()
        .filter_map(|(address, live)| match live {
            Live::Release(release) => Some((address.clone(), release.restarts.clone())),
            _ => None,
        })
        .collect()
}

/// One resource's health.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResourceStatus {
    pub address: Address,
    /// The verdict; `None` when it was not judged (a check, which only
    /// apply runs; a resource in a cluster that cannot be seen).
    pub health: Option<HealthState>,
    /// One line per fact behind the verdict.
    pub evidence: Vec<String>,
    /// Why it differs from the spec (the plan's reasons), apart from its
    /// health; empty when it matches.
    pub drift: Vec<Reason>,
}

/// The environment's health.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Status {
    pub environment: String,
    /// The worst verdict of any resource; a resource hidden by a broken
    /// cluster counts as broken.
    pub health: HealthState,
    /// Every resource of the spec, in graph order.
    pub resources: Vec<ResourceStatus>,
}

impl Status {
    /// The health of every resource of `graph` as `observed` saw it.
    pub fn of(environment: &str, graph: &Graph, observed: &Observed) -> Status {
        let cluster_broken = observed
            .health
            .get(&Address::Cluster)
            .is_some_and(|h| h.state == HealthState::Broken);
        let cluster_remade = observed.cluster_remade;
        let mut resources = Vec::new();
        let mut worst = HealthState::Healthy;
        for address in graph.topological() {
            // Repairs are what the verdict already says; the rest is drift.
            let drift: Vec<Reason> = observed
                .diffs
                .get(address)
                .map(|d| {
                    d.differences
                        .iter()
                        .filter(|d| d.effect != Effect::Repair)
                        .map(|d| d.reason.clone())
                        .collect()
                })
                .unwrap_or_default();
            let (health, evidence) = match (observed.health.get(address), address) {
                (Some(h), _) => (Some(h.state), h.evidence.clone()),
                (None, Address::Check(_)) => (
                    None,
                    vec!["not run: status runs no checks (apply does)".to_owned()],
                ),
                (None, _) if cluster_broken => {
                    (None, vec!["not observed: the cluster is broken".to_owned()])
                }
                (None, _) if cluster_remade => (
                    None,
                    vec!["not observed: the plan makes the cluster again".to_owned()],
                ),
                (None, _) => (None, vec!["not observed".to_owned()]),
            };
            // What a broken cluster hides counts as broken; what a cluster
            // about to be made again holds is not judged at all.
            let judged = match health {
                Some(state) => state,
                None if cluster_broken && !matches!(address, Address::Check(_)) => {
                    HealthState::Broken
                }
                None => HealthState::Healthy,
            };
            worst = worst.max(judged);
            // What was not observed cannot be said to differ.
            let drift = if health.is_none() { Vec::new() } else { drift };
            resources.push(ResourceStatus {
                address: address.clone(),
                health,
                evidence,
                drift,
            });
        }
        Status {
            environment: environment.to_owned(),
            health: worst,
            resources,
        }
    }

    /// Marks degraded the releases whose containers restarted between two
    /// observations (`before`, then `now`): crashes a single look misses
    /// when the container is back up by then.
    pub fn note_restarts(&mut self, before: &Restarts, now: &Restarts) {
        for resource in &mut self.resources {
            let address = &resource.address;
            let (Some(then), Some(counts)) = (before.get(address), now.get(address)) else {
                continue;
            };
            for (container, count) in counts {
                let Some(earlier) = then.get(container).filter(|e| count > e) else {
                    continue;
                };
                let state = resource.health.unwrap_or(HealthState::Healthy);
                if state == HealthState::Healthy {
                    resource.evidence.clear();
                }
                resource.health = Some(state.max(HealthState::Degraded));
                resource.evidence.push(format!(
                    "{container} restarted {} more time{} since the last look ({count} in all)",
                    count - earlier,
                    if count - earlier == 1 { "" } else { "s" }
                ));
                self.health = self.health.max(HealthState::Degraded);
            }
        }
    }

    /// The resources whose verdict is `state`.
    pub fn count(&self, state: HealthState) -> usize {
        self.resources
            .iter()
            .filter(|r| r.health == Some(state))
            .count()
    }

    /// Whether every resource that was judged is healthy and nothing could
    /// not be judged.
    pub fn healthy(&self) -> bool {
        self.health == HealthState::Healthy
    }
}

#[cfg(test)]
mod tests {
    use kindform_api::Health;
    use kindform_api::provider::{Diff, Difference, Effect};

    use super::*;

    fn graph() -> Graph {
        let addresses: Vec<Address> = ["cluster", "releases.dapr", "releases.app", "checks.page"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        Graph::from_parts(&addresses, |_| &[]).unwrap()
    }

    fn of<'a>(status: &'a Status, address: &str) -> &'a ResourceStatus {
        status
            .resources
            .iter()
            .find(|r| r.address.to_string() == address)
            .unwrap()
    }

    fn health(state: HealthState, line: &str) -> Health {
        let mut health = Health::healthy();
        health.note(state, line);
        health
    }

    fn observed() -> Observed {
        let mut observed = Observed::default();
        observed
            .health
            .insert(Address::Cluster, health(HealthState::Healthy, "fine"));
        observed.health.insert(
            "releases.dapr".parse().unwrap(),
            health(HealthState::Healthy, "1 pod Ready"),
        );
        observed.health.insert(
            "releases.app".parse().unwrap(),
            health(
                HealthState::Broken,
                "pod app-1: container app CrashLoopBackOff",
            ),
        );
        observed.diffs.insert(
            "releases.app".parse().unwrap(),
            Diff {
                differences: vec![
                    Difference::new(Reason::Unhealthy, Effect::Repair, "crashing"),
                    Difference::new(Reason::ValuesChanged, Effect::Update, "replicas"),
                ],
                ..Diff::default()
            },
        );
        observed
    }

    #[test]
    fn the_worst_verdict_wins_and_checks_are_not_judged() {
        let status = Status::of("env", &graph(), &observed());
        assert_eq!(status.health, HealthState::Broken);
        assert!(!status.healthy());
        let app = of(&status, "releases.app");
        assert_eq!(app.health, Some(HealthState::Broken));
        assert_eq!(app.drift, [Reason::ValuesChanged]);
        let check = of(&status, "checks.page");
        assert_eq!(check.health, None);
        assert_eq!(
            (
                status.count(HealthState::Healthy),
                status.count(HealthState::Broken)
            ),
            (2, 1)
        );
    }

    #[test]
    fn what_a_broken_cluster_hides_counts_as_broken() {
        let mut observed = Observed::default();
        observed.health.insert(
            Address::Cluster,
            health(HealthState::Broken, "the API does not answer"),
        );
        let status = Status::of("env", &graph(), &observed);
        assert_eq!(of(&status, "releases.dapr").health, None);
        assert_eq!(
            of(&status, "releases.dapr").evidence,
            ["not observed: the cluster is broken"]
        );
        assert_eq!(status.health, HealthState::Broken);
    }

    #[test]
    fn restarts_that_grew_between_two_looks_degrade_a_healthy_release() {
        let mut observed = observed();
        observed.health.insert(
            "releases.app".parse().unwrap(),
            health(HealthState::Healthy, "1 pod Ready"),
        );
        observed.diffs.clear();
        let mut status = Status::of("env", &graph(), &observed);
        let count = |n: i32| -> Restarts {
            [(
                "releases.app".parse().unwrap(),
                [("pod app-1, container app".to_owned(), n)].into(),
            )]
            .into()
        };
        status.note_restarts(&count(2), &count(2));
        assert!(status.healthy(), "no growth, no verdict");
        status.note_restarts(&count(2), &count(5));
        assert_eq!(status.health, HealthState::Degraded);
        assert_eq!(
            of(&status, "releases.app").health,
            Some(HealthState::Degraded)
        );
        assert_eq!(
            of(&status, "releases.app").evidence,
            ["pod app-1, container app restarted 3 more times since the last look (5 in all)"]
        );
    }
}
