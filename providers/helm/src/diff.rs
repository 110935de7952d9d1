//! The release's diff: its `helm list` row, values, history, record and
//! health against the spec, and the steps that close it. Pure: no I/O.

use kindform_api::field_path::FieldPath;
use kindform_api::provider::{Diff, Difference, Effect};
use kindform_api::settings::changed_paths;
use kindform_api::{Duration, HealthState, Reason};
use kindform_kube::ObjectRef;
use serde_json::Value;

use crate::desired::{DesiredRelease, record_entry, shown};
use crate::objects::{ObjectsSeen, short};
use crate::ownership::KindRef;
use crate::provider::{ReleaseLive, sensitive_union};
use crate::step::{Fallback, ReleaseStep};
use crate::values;

/// How long each rung of a health repair may take when the release gives
/// no `timeout`.
const HEAL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// How long each rung of the release's health repair may take.
pub(crate) fn heal_bound(desired: &DesiredRelease) -> Duration {
    Duration::new(
        desired
            .spec
            .timeout
            .map(|t| t.get())
            .unwrap_or(HEAL_TIMEOUT),
    )
}

/// What observation found, apart from ownership conflicts.
pub(crate) struct Found {
    /// The differences, in the plan's order.
    pub differences: Vec<Difference>,
    /// What a stuck release needs before the upgrade can run.
    pub recovery: Option<ReleaseStep>,
    /// Whether an install or upgrade is due (something other than its
    /// health differs).
    pub upgrade_due: bool,
}

/// The differences between the spec and the release as observed.
pub(crate) fn found(desired: &DesiredRelease, live: &ReleaseLive) -> Found {
    let mut differences = Vec::new();
    let mut recovery = None;
    let (release, namespace) = (desired.name.clone(), desired.spec.namespace.clone());
    let Some(listed) = &live.listed else {
        differences.push(absent(desired));
        return Found {
            differences,
            recovery,
            upgrade_due: true,
        };
    };
    if listed.status.is_pending() {
        let stuck: u64 = listed.revision.parse().unwrap_or(0);
        let last_good = live
            .history
            .iter()
            .rev()
            .find(|r| r.revision < stuck && r.status.was_deployed());
        match last_good {
            Some(good) => {
                differences.push(Difference::new(
                    Reason::ReleasePending,
                    Effect::Repair,
                    format!(
                        "revision {stuck} is stuck in {}; the last deployed revision is {}",
                        listed.status, good.revision
                    ),
                ));
                recovery = Some(ReleaseStep::Rollback {
                    release,
                    namespace,
                    revision: good.revision,
                });
            }
            None => {
                differences.push(Difference::new(
                    Reason::ReleasePending,
                    Effect::Repair,
                    format!(
                        "revision {stuck} is stuck in {} and no revision was ever deployed",
                        listed.status
                    ),
                ));
                recovery = Some(ReleaseStep::UninstallUnfinished { release, namespace });
            }
        }
    } else if listed.status == crate::ReleaseStatus::Failed {
        differences.push(Difference::new(
            Reason::ReleaseFailed,
            Effect::Repair,
            format!("revision {} failed", listed.revision),
        ));
    }
    if let Some(chart) = desired.chart_label() {
        if chart != listed.chart {
            differences.push(Difference::new(
                Reason::VersionChanged,
                Effect::Update,
                format!("chart {} -> {chart}", listed.chart),
            ));
        }
    }
    let have = values::normalized(&live.values);
    let want = &desired.values.merged;
    if &have != want {
        let sensitive = sensitive_ever(desired, live);
        let paths: Vec<String> = changed_paths(&have, want)
            .into_iter()
            .map(|p| {
                // At, under or holding a sensitive path.
                let secret = sensitive.iter().any(|s| {
                    let s = s.join(".");
                    s == p || p.starts_with(&format!("{s}.")) || s.starts_with(&format!("{p}."))
                });
                if secret {
                    format!("{p} (sensitive)")
                } else {
                    p
                }
            })
            .collect();
        differences.push(Difference::new(
            Reason::ValuesChanged,
            Effect::Update,
            format!("values changed: {}", paths.join(", ")),
        ));
    }
    let namespace = &desired.spec.namespace;
    for drift in &live.objects.drifted {
        differences.push(Difference::new(
            Reason::ObjectsDrifted,
            Effect::Update,
            drift.line(namespace),
        ));
    }
    for missing in &live.objects.missing {
        differences.push(Difference::new(
            Reason::ObjectMissing,
            Effect::Update,
            format!("{} does not exist", short(missing, namespace)),
        ));
    }
    let recorded = record_entry(desired).and_then(|entry| match &live.recorded {
            Some(recorded) if recorded.fingerprint == entry.fingerprint => None,
            Some(recorded) => {
                let files: Vec<String> = changed_paths(
                    recorded.settings.get("files").unwrap_or(&Value::Null),
                    entry.settings.get("files").unwrap_or(&Value::Null),
                );
                Some(Difference::new(
                    Reason::ChartChanged,
                    Effect::Update,
                    format!("chart files changed since the last apply: {}", files.join(", ")),
                ))
            }
            None => Some(Difference::new(
                Reason::Unrecorded,
                Effect::Update,
                "the chart's contents at the last apply are not in kindform's applied record; upgrading makes sure the templates match",
            )),
        });
    let upgrade_due = !differences.is_empty() || recorded.is_some();
    if live.health.state == HealthState::Broken {
        differences.push(Difference::new(
            Reason::Unhealthy,
            Effect::Repair,
            live.health.evidence.join("; "),
        ));
    }
    differences.extend(recorded);
    // An upgrade records it anyway.
    if !upgrade_due && !live.installed_recorded {
        differences.push(Difference::new(
            Reason::Unrecorded,
            Effect::Update,
            "kindform's applied record does not say it installed this release; recorded, so that it is uninstalled once it leaves the spec",
        ));
    }
    Found {
        differences,
        recovery,
        upgrade_due,
    }
}

/// The paths sensitive today or when the release was applied before: both
/// sides of a diff hide them, so neither a renamed key nor a dropped
/// `sensitive` flag shows a secret.
fn sensitive_ever(desired: &DesiredRelease, live: &ReleaseLive) -> Vec<Vec<String>> {
    sensitive_union(&desired.values.sensitive, &live.sensitive_before)
}

fn absent(desired: &DesiredRelease) -> Difference {
    Difference::new(
        Reason::Absent,
        Effect::Create,
        format!(
            "no release {} in namespace {}",
            desired.name, desired.spec.namespace
        ),
    )
}

/// The release's diff, its upgrade shown for `helm`.
pub(crate) fn diff(desired: &DesiredRelease, live: &ReleaseLive) -> Diff<ReleaseStep> {
    let Some(listed) = &live.listed else {
        let mut diff = plan_create(desired);
        if let Some(before) = &live.moved_from {
            diff.differences.push(Difference::new(
                Reason::ConfigChanged,
                Effect::Update,
                format!(
                    "namespace {before} -> {}: installed there, then uninstalled from {before}",
                    desired.spec.namespace
                ),
            ));
            diff.steps.push(ReleaseStep::Uninstall {
                release: desired.name.clone(),
                namespace: before.clone(),
            });
        }
        with_conflicts(desired, &live.conflicts, &mut diff);
        with_unserved(desired, &live.unserved, &mut diff);
        return diff;
    };
    let found = found(desired, live);
    if !found.upgrade_due && !found.differences.is_empty() {
        let shown = desired.settings(
            Some(listed.chart.clone()),
            shown(&desired.values.merged, &sensitive_ever(desired, live)),
        );
        let mut steps = Vec::new();
        if !live.installed_recorded {
            steps.push(ReleaseStep::RecordInstalled);
        }
        if live.health.state == HealthState::Broken {
            steps.extend(heal_steps(desired, live));
        }
        return Diff {
            differences: found.differences,
            steps,
            before: shown.clone(),
            after: shown,
        };
    }
    let before = desired.settings(
        Some(listed.chart.clone()),
        shown(&live.values, &sensitive_ever(desired, live)),
    );
    let after = desired.settings(
        Some(
            desired
                .chart_label()
                .unwrap_or_else(|| listed.chart.clone()),
        ),
        shown(&desired.values.merged, &sensitive_ever(desired, live)),
    );
    if found.differences.is_empty() {
        return Diff {
            differences: found.differences,
            steps: Vec::new(),
            before,
            after,
        };
    }
    let mut diff = Diff {
        differences: found.differences,
        steps: found.recovery.into_iter().collect(),
        before,
        after,
    };
    diff.steps.extend(install_steps(desired, &live.objects));
    with_conflicts(desired, &live.conflicts, &mut diff);
    with_unserved(desired, &live.unserved, &mut diff);
    diff
}

/// Where a step that must come before the install or upgrade goes.
fn before_upgrade(steps: &[ReleaseStep]) -> usize {
    steps
        .iter()
        .position(|s| matches!(s, ReleaseStep::Upgrade { .. }))
        .unwrap_or(steps.len())
}

/// Adds the look, at apply, for objects in the way of kinds not served at
/// plan, after what the plan found and before the install or upgrade.
fn with_unserved(desired: &DesiredRelease, kinds: &[KindRef], diff: &mut Diff<ReleaseStep>) {
    if !kinds.is_empty() {
        let at = before_upgrade(&diff.steps);
        diff.steps.insert(
            at,
            ReleaseStep::CheckConflicts {
                release: desired.name.clone(),
                kinds: kinds.to_vec(),
            },
        );
    }
}

/// The upgrade (forced on Helm 4 when fields are in drift), then the
/// removal of what was added by hand, which Helm leaves.
fn install_steps(desired: &DesiredRelease, objects: &ObjectsSeen) -> Vec<ReleaseStep> {
    let force = objects.drifted.iter().any(|d| !d.added);
    let mut steps = vec![ReleaseStep::Upgrade {
        command: desired.upgrade_command(force),
        force_conflicts: force,
    }];
    if record_entry(desired).is_some() {
        steps.push(ReleaseStep::RecordChart);
    }
    let mut added: Vec<(&ObjectRef, Vec<FieldPath>)> = Vec::new();
    for drift in objects.drifted.iter().filter(|d| d.added) {
        match added.iter_mut().find(|(o, _)| *o == &drift.object) {
            Some((_, paths)) => paths.push(drift.path.clone()),
            None => added.push((&drift.object, vec![drift.path.clone()])),
        }
    }
    steps.extend(
        added
            .into_iter()
            .map(|(object, paths)| ReleaseStep::RemoveAdded {
                object: object.clone(),
                shown: short(object, &desired.spec.namespace),
                paths,
            }),
    );
    steps
}

/// What installing the release takes when nothing of it exists.
pub(crate) fn plan_create(desired: &DesiredRelease) -> Diff<ReleaseStep> {
    Diff {
        differences: vec![absent(desired)],
        steps: install_steps(desired, &ObjectsSeen::default()),
        before: Value::Null,
        after: desired.settings(desired.chart_label(), desired.shown_values()),
    }
}

/// The steps of a health repair: restart what is stuck, then, if it stays
/// broken, roll back to the last good revision or reinstall.
fn heal_steps(desired: &DesiredRelease, live: &ReleaseLive) -> Vec<ReleaseStep> {
    let wait = heal_bound(desired);
    let current: u64 = live
        .listed
        .as_ref()
        .and_then(|l| l.revision.parse().ok())
        .unwrap_or(0);
    let to = live
        .history
        .iter()
        .rev()
        .find(|r| r.revision < current && r.status.was_deployed())
        .map(|r| Fallback::Rollback {
            revision: r.revision,
        })
        .unwrap_or(Fallback::Reinstall);
    live.stuck
        .iter()
        .map(|w| ReleaseStep::RestartStuck {
            workload: w.clone(),
            wait,
        })
        .chain([ReleaseStep::Fallback {
            release: desired.name.clone(),
            namespace: desired.spec.namespace.clone(),
            to,
            stuck: live.stuck.clone(),
            wait,
        }])
        .collect()
}

/// Adds the ownership conflicts: adoption before the install or upgrade
/// when the release says `take_ownership`, otherwise the stop apply will
/// make there.
fn with_conflicts(desired: &DesiredRelease, conflicts: &[ObjectRef], diff: &mut Diff<ReleaseStep>) {
    if conflicts.is_empty() {
        return;
    }
    let names: Vec<String> = conflicts.iter().map(ToString::to_string).collect();
    diff.differences.push(Difference::new(
        Reason::OwnershipConflict,
        Effect::Update,
        format!(
            "exists without this release's ownership: {}",
            names.join(", ")
        ),
    ));
    let (release, objects) = (desired.name.clone(), conflicts.to_vec());
    let step = if desired.spec.take_ownership {
        ReleaseStep::Adopt {
            release,
            namespace: desired.spec.namespace.clone(),
            objects,
        }
    } else {
        ReleaseStep::RefuseConflicts { release, objects }
    };
    // Before the install or upgrade, after a recovery.
    let at = before_upgrade(&diff.steps);
    diff.steps.insert(at, step);
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use kindform_api::{Health, ReleaseSpec};
    use serde_json::json;

    use super::*;
    use crate::cli::{HelmVersion, Listed, Revision};
    use crate::desired::{exact, resolve};

    fn desired() -> DesiredRelease {
        let spec: ReleaseSpec = serde_json::from_value(json!({
            "chart": "dapr", "repo": "https://dapr.github.io/helm-charts/", "version": "1.16.2",
            "namespace": "dapr-system",
        }))
        .unwrap();
        resolve("dapr", &spec, Path::new("."), &helm("v3.17.2")).unwrap()
    }

    fn live_of(status: &str, history: &[(u64, &str)]) -> ReleaseLive {
        ReleaseLive {
            listed: Some(Listed {
                name: "dapr".into(),
                namespace: "dapr-system".into(),
                revision: history.last().map(|h| h.0).unwrap_or(1).to_string(),
                updated: String::new(),
                status: serde_json::from_value(json!(status)).unwrap(),
                chart: "dapr-1.16.2".into(),
                app_version: String::new(),
            }),
            values: Value::Null,
            values_fingerprint: String::new(),
            history: history
                .iter()
                .map(|(revision, status)| Revision {
                    revision: *revision,
                    status: serde_json::from_value(json!(status)).unwrap(),
                    chart: "dapr-1.16.2".into(),
                    description: String::new(),
                })
                .collect(),
            recorded: None,
            sensitive_before: Vec::new(),
            conflicts: Vec::new(),
            unserved: Vec::new(),
            objects: ObjectsSeen::default(),
            installed_recorded: true,
            moved_from: None,
            health: Health::healthy(),
            stuck: Vec::new(),
            restarts: Default::default(),
        }
    }

    #[test]
    fn a_first_install_left_pending_is_uninstalled_then_installed() {
        let Found {
            differences,
            recovery,
            ..
        } = found(
            &desired(),
            &live_of("pending-install", &[(1, "pending-install")]),
        );
        let steps = recovery.map(|r| r.to_string());
        assert_eq!(differences[0].reason, Reason::ReleasePending);
        assert_eq!(
            differences[0].detail,
            "revision 1 is stuck in pending-install and no revision was ever deployed"
        );
        assert_eq!(
            steps.as_deref(),
            Some("helm uninstall dapr --namespace dapr-system (it never finished installing)")
        );
    }

    #[test]
    fn a_pending_rollback_goes_back_to_the_newest_good_revision() {
        let history = [
            (1, "superseded"),
            (2, "superseded"),
            (3, "failed"),
            (4, "pending-rollback"),
        ];
        let recovery = found(&desired(), &live_of("pending-rollback", &history)).recovery;
        assert_eq!(
            recovery,
            Some(ReleaseStep::Rollback {
                release: "dapr".into(),
                namespace: "dapr-system".into(),
                revision: 2
            })
        );
        assert_eq!(
            recovery.unwrap().to_string(),
            "helm rollback dapr 2 --namespace dapr-system (the last deployed revision)"
        );
    }

    #[test]
    fn only_exact_versions_are_compared() {
        assert_eq!(exact("1.16.2"), Some("1.16.2"));
        assert_eq!(exact("v1.16.2"), Some("1.16.2"));
        assert_eq!(exact("1.2.3-rc.1+b5"), Some("1.2.3-rc.1+b5"));
        for range in ["^1.16", "~1.2.0", ">=1.0.0", "1.x", "1.16.*", "", "latest"] {
            assert_eq!(exact(range), None, "{range}");
        }
        let mut d = desired();
        d.spec.version = Some("^1.16".into());
        assert_eq!(d.chart_label(), None);
        let differences = found(&d, &live_of("deployed", &[(1, "deployed")])).differences;
        assert!(differences.is_empty(), "{differences:?}");
    }

    fn helm(text: &str) -> HelmVersion {
        HelmVersion::parse(text).unwrap()
    }

    fn workload(name: &str) -> kindform_kube::Workload {
        kindform_kube::Workload {
            kind: "deployment".into(),
            namespace: "dapr-system".into(),
            name: name.into(),
            images: Vec::new(),
            release: Some("dapr".into()),
            selector: Default::default(),
            rolling: None,
        }
    }

    /// One row: a change to the deployed release, the reasons the diff
    /// gives, and its plan's lines under Helm 3 and Helm 4.
    struct Row {
        what: &'static str,
        change: fn(&mut DesiredRelease, &mut ReleaseLive),
        reasons: &'static [Reason],
        helm3: &'static [&'static str],
        helm4: &'static [&'static str],
    }

    #[test]
    fn a_secret_once_sensitive_stays_hidden_after_a_rename_or_a_dropped_flag() {
        let desired = desired();
        let mut live = live_of("deployed", &[(1, "deployed")]);
        // Applied with `set."db.password" = { env = ..., sensitive = true }`,
        // since renamed to `db.pass`: the live values hold the old secret
        // at the old path, which today's spec no longer calls sensitive.
        live.values = json!({"db": {"password": "canary-3f9a"}});
        live.sensitive_before = vec![vec!["db".into(), "password".into()]];
        let diff = diff(&desired, &live);
        let shown = format!("{:?} {} {}", diff.differences, diff.before, diff.after);
        assert!(!shown.contains("canary-3f9a"), "{shown}");
        assert!(shown.contains("values changed: db (sensitive)"), "{shown}");
        // What the record did not remember is shown as it is.
        live.sensitive_before.clear();
        let diff = super::diff(&desired, &live);
        assert!(diff.before.to_string().contains("canary-3f9a"));
    }

    #[test]
    fn the_release_diff_over_observed_states() {
        let rows = [
            Row {
                what: "deployed as the spec says",
                change: |_, _| {},
                reasons: &[],
                helm3: &[],
                helm4: &[],
            },
            Row {
                what: "absent",
                change: |_, live| live.listed = None,
                reasons: &[Reason::Absent],
                helm3: &[
                    "helm upgrade --install dapr dapr --repo https://dapr.github.io/helm-charts/ --namespace dapr-system --version 1.16.2",
                ],
                helm4: &[
                    "helm upgrade --install dapr dapr --repo https://dapr.github.io/helm-charts/ --namespace dapr-system --version 1.16.2",
                ],
            },
            Row {
                what: "another chart version, waited for",
                change: |desired, _| {
                    desired.spec.version = Some("1.17.0".into());
                    desired.spec.wait = true;
                },
                reasons: &[Reason::VersionChanged],
                helm3: &[
                    "helm upgrade --install dapr dapr --repo https://dapr.github.io/helm-charts/ --namespace dapr-system --version 1.17.0 --wait",
                ],
                helm4: &[
                    "helm upgrade --install dapr dapr --repo https://dapr.github.io/helm-charts/ --namespace dapr-system --version 1.17.0 --wait=watcher",
                ],
            },
            Row {
                what: "stuck in pending-upgrade",
                change: |_, live| {
                    *live = live_of(
                        "pending-upgrade",
                        &[(1, "superseded"), (2, "pending-upgrade")],
                    );
                },
                reasons: &[Reason::ReleasePending],
                helm3: &[
                    "helm rollback dapr 1 --namespace dapr-system (the last deployed revision)",
                    "helm upgrade --install dapr dapr --repo https://dapr.github.io/helm-charts/ --namespace dapr-system --version 1.16.2",
                ],
                helm4: &[
                    "helm rollback dapr 1 --namespace dapr-system (the last deployed revision)",
                    "helm upgrade --install dapr dapr --repo https://dapr.github.io/helm-charts/ --namespace dapr-system --version 1.16.2",
                ],
            },
            Row {
                what: "deployed as the spec says, without the record that kindform installed it",
                change: |_, live| live.installed_recorded = false,
                reasons: &[Reason::Unrecorded],
                helm3: &["record in the applied record that kindform installed it"],
                helm4: &["record in the applied record that kindform installed it"],
            },
            Row {
                what: "crash-looping, nothing else differs",
                change: |_, live| {
                    live.health
                        .note(HealthState::Broken, "pod dapr-1 CrashLoopBackOff");
                    live.stuck = vec![workload("dapr-operator")];
                },
                reasons: &[Reason::Unhealthy],
                helm3: &[
                    "rollout restart deployment/dapr-operator in dapr-system and wait for it (2m)",
                    "if it stays broken: reinstall dapr (helm uninstall, then helm upgrade --install)",
                ],
                helm4: &[
                    "rollout restart deployment/dapr-operator in dapr-system and wait for it (2m)",
                    "if it stays broken: reinstall dapr (helm uninstall, then helm upgrade --install)",
                ],
            },
            Row {
                what: "crash-looping and its version changed: the upgrade mends it",
                change: |desired, live| {
                    desired.spec.version = Some("1.17.0".into());
                    live.health
                        .note(HealthState::Broken, "pod dapr-1 CrashLoopBackOff");
                },
                reasons: &[Reason::VersionChanged, Reason::Unhealthy],
                helm3: &[
                    "helm upgrade --install dapr dapr --repo https://dapr.github.io/helm-charts/ --namespace dapr-system --version 1.17.0",
                ],
                helm4: &[
                    "helm upgrade --install dapr dapr --repo https://dapr.github.io/helm-charts/ --namespace dapr-system --version 1.17.0",
                ],
            },
            Row {
                what: "an object in its way, adopted (Helm 4 forces the conflicts)",
                change: |desired, live| {
                    desired.spec.take_ownership = true;
                    desired.spec.version = Some("1.17.0".into());
                    live.conflicts = vec![ObjectRef {
                        api_version: "v1".into(),
                        kind: "ConfigMap".into(),
                        namespace: Some("dapr-system".into()),
                        name: "cfg".into(),
                    }];
                },
                reasons: &[Reason::VersionChanged, Reason::OwnershipConflict],
                helm3: &[
                    "adopt ConfigMap \"cfg\" in namespace \"dapr-system\" for release dapr (Helm's label app.kubernetes.io/managed-by=Helm and annotations meta.helm.sh/release-name=dapr, meta.helm.sh/release-namespace=dapr-system)",
                    "helm upgrade --install dapr dapr --repo https://dapr.github.io/helm-charts/ --namespace dapr-system --version 1.17.0",
                ],
                helm4: &[
                    "adopt ConfigMap \"cfg\" in namespace \"dapr-system\" for release dapr (Helm's label app.kubernetes.io/managed-by=Helm and annotations meta.helm.sh/release-name=dapr, meta.helm.sh/release-namespace=dapr-system)",
                    "helm upgrade --install dapr dapr --repo https://dapr.github.io/helm-charts/ --namespace dapr-system --version 1.17.0 --force-conflicts",
                ],
            },
        ];
        for row in rows {
            let (mut desired, mut live) = (desired(), live_of("deployed", &[(1, "deployed")]));
            (row.change)(&mut desired, &mut live);
            for (version, want) in [("v3.17.2", row.helm3), ("v4.3.1", row.helm4)] {
                desired.helm = helm(version);
                let diff = diff(&desired, &live);
                let reasons: Vec<Reason> =
                    diff.differences.iter().map(|d| d.reason.clone()).collect();
                let steps: Vec<String> = diff.steps.iter().map(ToString::to_string).collect();
                assert_eq!(reasons, row.reasons, "{} ({version})", row.what);
                assert_eq!(steps, want, "{} ({version})", row.what);
            }
        }
    }
}
