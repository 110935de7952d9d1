//! The planner: desired state, the graph and the providers' diffs in; a
//! [`Plan`] out. It decides each action, the containment cascade (a created
//! or replaced cluster makes everything in it a create), `--replace` and
//! `--target`. Pure: no I/O.

use std::collections::{BTreeMap, BTreeSet};

use kindform_api::provider::{Diff, Effect};
use kindform_api::{Address, Health, HealthState, Reason, Spec};

use super::{Action, Change, EngineStep, Plan, Step};
use crate::graph::Graph;

/// What observation produced for each address: the provider's diff, which
/// for resources in a created or replaced cluster is its plan to create.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Diffs by address.
    pub diffs: BTreeMap<Address, Diff<Step>>,
    /// What replacing each address `--replace` names takes, by its provider.
    pub replacements: BTreeMap<Address, Vec<Step>>,
    /// What restarting the pods of each release takes, for when a platform
    /// it runs on is repaired before it.
    pub restarts: BTreeMap<Address, Vec<Step>>,
    /// Resources kindform applied earlier that left the spec, with their
    /// diffs (a delete, or nothing when they are left in place).
    pub orphans: Vec<(Address, Diff<Step>)>,
    /// For each orphan, the orphans that must be done before it (it is
    /// outside the graph): what depended on it goes first.
    pub orphan_after: BTreeMap<Address, Vec<Address>>,
    /// A fingerprint of the live state each observed address was planned
    /// from, so that a saved plan can tell when the world moved.
    pub fingerprints: BTreeMap<Address, String>,
    /// How well each observed resource works (checks, which only apply
    /// runs, and resources in a cluster that cannot be seen, have none).
    pub health: BTreeMap<Address, Health>,
    /// Whether the cluster is made anew (created, or replaced where it may
    /// be rebuilt), so that everything in it is created with it: decided
    /// once, by observation ([`cascades`]), for the planner and status.
    pub cluster_remade: bool,
}

/// The command line's say in the plan.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Plan only these addresses and what they depend on (all when empty).
    pub targets: Vec<Address>,
    /// Plan these addresses as replaced.
    pub replace: Vec<Address>,
}

/// Whether the cluster's diff means it is created or replaced, so that
/// everything in it is created too (and need not be observed). A cluster
/// that may not be rebuilt is not replaced: apply stops at it instead.
pub fn cascades<S>(diff: &Diff<S>, forced: bool, allow_rebuild: bool) -> bool {
    diff.differences.iter().any(|d| match d.effect {
        Effect::Create => true,
        Effect::ForcesReplacement => allow_rebuild,
        _ => false,
    }) || (forced && allow_rebuild)
}

fn action_of<S>(diff: &Diff<S>) -> Action {
    let has = |e: Effect| diff.differences.iter().any(|d| d.effect == e);
    // Strongest first: a replacement covers everything; a resource that does
    // not exist is created, whatever else was noticed about it; an update
    // done anyway mends what a repair would.
    if has(Effect::ForcesReplacement) {
        Action::Replace
    } else if has(Effect::Create) {
        Action::Create
    } else if has(Effect::Delete) {
        Action::Delete
    } else if has(Effect::Update) {
        Action::Update
    } else if has(Effect::Repair) {
        Action::Repair
    } else {
        Action::NoOp
    }
}

fn reasons_of<S>(diff: &Diff<S>) -> Vec<Reason> {
    let mut seen = BTreeSet::new();
    diff.differences
        .iter()
        .filter(|d| seen.insert(d.reason.clone()))
        .map(|d| d.reason.clone())
        .collect()
}

/// The addresses `--target` keeps (the targets and what they depend on);
/// `None` when there are no targets and everything is planned.
pub fn included(graph: &Graph, options: &PlanOptions) -> Option<BTreeSet<Address>> {
    (!options.targets.is_empty()).then(|| {
        let mut keep = BTreeSet::new();
        for target in &options.targets {
            keep.insert(target.clone());
            keep.extend(graph.ancestors(target).into_iter().cloned());
        }
        keep
    })
}

/// Decides the plan. `observed` must hold a diff for every planned address.
pub fn plan(spec: &Spec, graph: &Graph, observed: &Observed, options: &PlanOptions) -> Plan {
    let included = included(graph, options);
    let cluster_cascades = observed.cluster_remade;
    let mut changes = Vec::new();
    // Releases repaired because their pods are broken: the platforms whose
    // dependants are restarted after them.
    let mut mended: BTreeSet<&Address> = BTreeSet::new();
    for address in graph.topological() {
        if included
            .as_ref()
            .is_some_and(|keep| !keep.contains(address))
        {
            continue;
        }
        let Some(diff) = observed.diffs.get(address) else {
            continue;
        };
        let forced = options.replace.contains(address);
        let cascaded = cluster_cascades && address.is_in_cluster();
        let mut steps = diff.steps.clone();
        let (action, reasons) = match address {
            Address::Check(_) => (
                Action::Run,
                vec![Reason::After(dependency_list(graph, address))],
            ),
            _ if cascaded => (Action::Create, vec![Reason::ClusterReplaced]),
            _ if forced => {
                let mut reasons = vec![Reason::ReplaceRequested];
                reasons.extend(
                    reasons_of(diff)
                        .into_iter()
                        .filter(|r| *r != Reason::Absent),
                );
                if diff.before.is_null() {
                    (Action::Create, reasons)
                } else {
                    steps = observed
                        .replacements
                        .get(address)
                        .cloned()
                        .unwrap_or_default();
                    (Action::Replace, reasons)
                }
            }
            _ => (action_of(diff), reasons_of(diff)),
        };
        if *address == Address::Cluster && cluster_cascades && matches!(action, Action::Replace) {
            steps.push(Step::Engine(EngineStep::RemakeContents));
        }
        let mut details: Vec<String> = diff
            .differences
            .iter()
            .map(|d| d.detail.clone())
            .filter(|d| !d.is_empty())
            .collect();
        let (action, reasons) = match platforms_mended(graph, address, &mended) {
            Some(platforms) if action == Action::NoOp => {
                let names: Vec<String> = platforms.iter().map(ToString::to_string).collect();
                details.push(format!(
                    "it runs on {}, which is repaired first; its pods start again to pick it up",
                    names.join(", ")
                ));
                steps = observed
                    .restarts
                    .get(address)
                    .into_iter()
                    .flatten()
                    .map(|step| Step::After {
                        platforms: platforms.clone(),
                        step: Box::new(step.clone()),
                    })
                    .collect();
                (Action::Repair, vec![Reason::PlatformRepaired])
            }
            _ => (action, reasons),
        };
        // A release seen and planned with its pods broken (its Helm record
        // may be fine): what runs on it may be broken with it.
        let broken = observed
            .health
            .get(address)
            .is_some_and(|h| h.state == HealthState::Broken);
        if matches!(address, Address::Release(_))
            && !cascaded
            && broken
            && !diff.before.is_null()
            && action.is_change()
        {
            mended.insert(address);
        }
        changes.push(Change {
            address: address.clone(),
            action,
            reasons,
            steps: if action == Action::NoOp {
                Vec::new()
            } else {
                steps
            },
            before: if cascaded {
                serde_json::Value::Null
            } else {
                diff.before.clone()
            },
            after: diff.after.clone(),
            details: if cascaded { Vec::new() } else { details },
            done_after: Vec::new(),
        });
    }
    for (address, diff) in &observed.orphans {
        let mut details: Vec<String> = diff
            .differences
            .iter()
            .map(|d| d.detail.clone())
            .filter(|d| !d.is_empty())
            .collect();
        if diff.differences.is_empty() {
            details.push(
                "left the spec; its objects stay because it was applied without prune".to_owned(),
            );
        }
        changes.push(Change {
            address: address.clone(),
            action: action_of(diff),
            reasons: vec![Reason::Orphaned],
            steps: diff.steps.clone(),
            before: diff.before.clone(),
            after: diff.after.clone(),
            details,
            done_after: observed
                .orphan_after
                .get(address)
                .cloned()
                .unwrap_or_default(),
        });
    }
    Plan {
        format_version: "1".to_owned(),
        environment: spec.name.clone(),
        changes,
    }
}

/// The broken releases a release depends on directly that the plan
/// repairs; `None` when there are none (or `address` is no release).
fn platforms_mended(
    graph: &Graph,
    address: &Address,
    mended: &BTreeSet<&Address>,
) -> Option<Vec<Address>> {
    if !matches!(address, Address::Release(_)) {
        return None;
    }
    let platforms: Vec<Address> = graph
        .dependencies(address)
        .into_iter()
        .filter(|d| mended.contains(d))
        .cloned()
        .collect();
    (!platforms.is_empty()).then_some(platforms)
}

fn dependency_list(graph: &Graph, address: &Address) -> Vec<Address> {
    let mut deps = graph.dependencies(address);
    if deps.len() > 1 {
        deps.retain(|d| **d != Address::Cluster);
    }
    deps.into_iter().cloned().collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use kindform_api::provider::{Diff, Difference, Effect};
    use kindform_api::{Address, Health, HealthState, Reason};
    use kindform_helm::ReleaseStep;
    use kindform_kind::ClusterStep;
    use serde_json::{Value, json};

    use super::{Observed, PlanOptions, plan};
    use crate::plan::{Action, Step};
    use crate::spec::{LoadOptions, Loaded, load_text};

    const SPEC: &str = r#"
version = 1
name = "env"

[cluster]
name = "kf"

[releases.dapr]
chart = "dapr"
repo = "https://dapr.github.io/helm-charts/"
version = "1.16.2"
namespace = "dapr-system"

[releases.web]
chart = "web"
repo = "https://charts.example/"
version = "1.0.0"
namespace = "apps"
depends_on = ["releases.dapr"]

[checks.page]
http = { url = "http://127.0.0.1:8080/", status = 200 }
depends_on = ["releases.web"]
"#;

    fn loaded(allow_rebuild: bool) -> Loaded {
        let text = if allow_rebuild {
            SPEC.to_owned()
        } else {
            SPEC.replace("name = \"kf\"", "name = \"kf\"\nallow_rebuild = false")
        };
        load_text(
            text,
            "kindform.toml",
            Path::new("."),
            &LoadOptions::default(),
        )
        .unwrap()
    }

    fn address(text: &str) -> Address {
        text.parse().unwrap()
    }

    fn marker(text: &str) -> Step {
        Step::Release(ReleaseStep::Upgrade {
            command: text.to_owned(),
            force_conflicts: false,
        })
    }

    fn diff(differences: &[(Reason, Effect)], steps: &[Step], before: Value) -> Diff<Step> {
        Diff {
            differences: differences
                .iter()
                .map(|(r, e)| Difference::new(r.clone(), *e, "why"))
                .collect(),
            steps: steps.to_vec(),
            before,
            after: json!({}),
        }
    }

    /// Everything observed and matching the spec.
    fn converged() -> Observed {
        let mut observed = Observed::default();
        for a in ["cluster", "releases.dapr", "releases.web", "checks.page"] {
            observed.diffs.insert(address(a), diff(&[], &[], json!({})));
            observed.health.insert(address(a), Health::healthy());
        }
        observed
            .restarts
            .insert(address("releases.web"), vec![marker("restart web")]);
        observed
    }

    fn broken() -> Health {
        let mut health = Health::healthy();
        health.note(HealthState::Broken, "crash-looping");
        health
    }

    struct Row {
        what: &'static str,
        allow_rebuild: bool,
        options: fn() -> PlanOptions,
        change: fn(&mut Observed),
        /// Each address the plan holds, with its action, reasons and steps.
        want: &'static [(&'static str, Action, &'static str, &'static [&'static str])],
    }

    #[test]
    fn the_planner_over_observed_diffs() {
        let rows = [
            Row {
                what: "converged",
                allow_rebuild: true,
                options: PlanOptions::default,
                change: |_| {},
                want: &[
                    ("cluster", Action::NoOp, "", &[]),
                    ("releases.dapr", Action::NoOp, "", &[]),
                    ("releases.web", Action::NoOp, "", &[]),
                    ("checks.page", Action::Run, "after releases.web", &[]),
                ],
            },
            Row {
                what: "a cluster to make: everything in it is created",
                allow_rebuild: true,
                options: PlanOptions::default,
                change: |o| {
                    o.cluster_remade = true;
                    o.diffs.insert(
                        address("cluster"),
                        diff(
                            &[(Reason::Absent, Effect::Create)],
                            &[Step::Cluster(ClusterStep::AwaitCreated)],
                            Value::Null,
                        ),
                    );
                    o.diffs.insert(
                        address("releases.web"),
                        diff(
                            &[(Reason::Absent, Effect::Create)],
                            &[marker("install web")],
                            Value::Null,
                        ),
                    );
                },
                want: &[
                    (
                        "cluster",
                        Action::Create,
                        "absent",
                        &["wait for the API and every node to be Ready"],
                    ),
                    ("releases.dapr", Action::Create, "cluster-replaced", &[]),
                    (
                        "releases.web",
                        Action::Create,
                        "cluster-replaced",
                        &["install web"],
                    ),
                    ("checks.page", Action::Run, "after releases.web", &[]),
                ],
            },
            Row {
                what: "a cluster replaced: its contents made again",
                allow_rebuild: true,
                options: PlanOptions::default,
                change: |o| {
                    o.cluster_remade = true;
                    o.diffs.insert(
                        address("cluster"),
                        diff(
                            &[(Reason::ConfigChanged, Effect::ForcesReplacement)],
                            &[Step::Cluster(ClusterStep::Record)],
                            json!({}),
                        ),
                    );
                },
                want: &[
                    (
                        "cluster",
                        Action::Replace,
                        "config-changed",
                        &[
                            "record the cluster's settings in the applied record (kube-system/kindform)",
                            "create everything in the cluster again",
                        ],
                    ),
                    ("releases.dapr", Action::Create, "cluster-replaced", &[]),
                    ("releases.web", Action::Create, "cluster-replaced", &[]),
                    ("checks.page", Action::Run, "after releases.web", &[]),
                ],
            },
            Row {
                what: "a cluster that must be replaced and may not be: the rest planned as observed",
                allow_rebuild: false,
                options: PlanOptions::default,
                change: |o| {
                    o.diffs.insert(
                        address("cluster"),
                        diff(
                            &[(Reason::ConfigChanged, Effect::ForcesReplacement)],
                            &[],
                            json!({}),
                        ),
                    );
                },
                want: &[
                    ("cluster", Action::Replace, "config-changed", &[]),
                    ("releases.dapr", Action::NoOp, "", &[]),
                    ("releases.web", Action::NoOp, "", &[]),
                    ("checks.page", Action::Run, "after releases.web", &[]),
                ],
            },
            Row {
                what: "a broken platform: what runs on it restarts after it",
                allow_rebuild: true,
                options: PlanOptions::default,
                change: |o| {
                    o.diffs.insert(
                        address("releases.dapr"),
                        diff(
                            &[(Reason::Unhealthy, Effect::Repair)],
                            &[marker("heal dapr")],
                            json!({}),
                        ),
                    );
                    o.health.insert(address("releases.dapr"), broken());
                },
                want: &[
                    ("cluster", Action::NoOp, "", &[]),
                    ("releases.dapr", Action::Repair, "unhealthy", &["heal dapr"]),
                    (
                        "releases.web",
                        Action::Repair,
                        "platform-repaired",
                        &["once releases.dapr is repaired, restart web"],
                    ),
                    ("checks.page", Action::Run, "after releases.web", &[]),
                ],
            },
            Row {
                what: "a platform only updated: nothing restarts after it",
                allow_rebuild: true,
                options: PlanOptions::default,
                change: |o| {
                    o.diffs.insert(
                        address("releases.dapr"),
                        diff(
                            &[(Reason::ValuesChanged, Effect::Update)],
                            &[marker("upgrade dapr")],
                            json!({}),
                        ),
                    );
                },
                want: &[
                    ("cluster", Action::NoOp, "", &[]),
                    (
                        "releases.dapr",
                        Action::Update,
                        "values-changed",
                        &["upgrade dapr"],
                    ),
                    ("releases.web", Action::NoOp, "", &[]),
                    ("checks.page", Action::Run, "after releases.web", &[]),
                ],
            },
            Row {
                what: "--replace: the provider's replacement steps",
                allow_rebuild: true,
                options: || PlanOptions {
                    replace: vec![address("releases.web")],
                    ..PlanOptions::default()
                },
                change: |o| {
                    o.replacements.insert(
                        address("releases.web"),
                        vec![marker("uninstall web"), marker("install web")],
                    );
                },
                want: &[
                    ("cluster", Action::NoOp, "", &[]),
                    ("releases.dapr", Action::NoOp, "", &[]),
                    (
                        "releases.web",
                        Action::Replace,
                        "replace-requested",
                        &["uninstall web", "install web"],
                    ),
                    ("checks.page", Action::Run, "after releases.web", &[]),
                ],
            },
            Row {
                what: "--target: the target and what it needs",
                allow_rebuild: true,
                options: || PlanOptions {
                    targets: vec![address("releases.dapr")],
                    ..PlanOptions::default()
                },
                change: |_| {},
                want: &[
                    ("cluster", Action::NoOp, "", &[]),
                    ("releases.dapr", Action::NoOp, "", &[]),
                ],
            },
            Row {
                what: "an orphan applied with prune",
                allow_rebuild: true,
                options: PlanOptions::default,
                change: |o| {
                    o.orphans.push((
                        address("manifests.old"),
                        diff(
                            &[(Reason::Orphaned, Effect::Delete)],
                            &[marker("delete it")],
                            json!({}),
                        ),
                    ));
                },
                want: &[
                    ("cluster", Action::NoOp, "", &[]),
                    ("releases.dapr", Action::NoOp, "", &[]),
                    ("releases.web", Action::NoOp, "", &[]),
                    ("checks.page", Action::Run, "after releases.web", &[]),
                    ("manifests.old", Action::Delete, "orphaned", &["delete it"]),
                ],
            },
        ];
        for row in rows {
            let loaded = loaded(row.allow_rebuild);
            let mut observed = converged();
            (row.change)(&mut observed);
            let plan = plan(&loaded.spec, &loaded.graph, &observed, &(row.options)());
            let got: Vec<(String, Action, String, Vec<String>)> = plan
                .changes
                .iter()
                .map(|c| {
                    let steps = if c.action == Action::Run {
                        Vec::new()
                    } else {
                        c.steps.iter().map(ToString::to_string).collect()
                    };
                    (
                        c.address.to_string(),
                        c.action,
                        Reason::list(&c.reasons),
                        steps,
                    )
                })
                .collect();
            let want: Vec<(String, Action, String, Vec<String>)> = row
                .want
                .iter()
                .map(|(a, action, reasons, steps)| {
                    (
                        (*a).to_owned(),
                        *action,
                        (*reasons).to_owned(),
                        steps.iter().map(|s| (*s).to_owned()).collect(),
                    )
                })
                .collect();
            assert_eq!(got, want, "{}", row.what);
        }
    }
}
