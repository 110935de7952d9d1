//! The manifest's diff: its objects as observed against the spec's, field by
//! field for only the fields the manifest sets, and the steps that close
//! it. Pure: no I/O.

use kindform_api::provider::{Diff, Difference, Effect};
use kindform_api::settings::changed_paths;
use kindform_api::{Reason, WaitFor};
use kindform_kube::ObjectRef;
use serde::Serialize;
use serde_json::{Value, json};

use crate::secrets::{comparable, redacted};
use crate::source::DesiredManifest;
use crate::step::ManifestStep;

/// One object of the manifest as found in the API.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LiveObject {
    /// The object, its namespace filled in where its kind is namespaced.
    pub reference: ObjectRef,
    /// Whether the API serves its kind (a CRD may not be installed yet).
    pub served: bool,
    /// The object as the API has it; `None` when absent. A Secret's data
    /// values are replaced by their digests.
    pub live: Option<Value>,
}

/// Objects that exist, by whose they are.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Existing {
    /// Those carrying this environment's label.
    pub ours: Vec<ObjectRef>,
    /// The others.
    pub others: Vec<NotOurs>,
}

/// An object kindform's record lists that does not carry this
/// environment's label (another environment's, or nobody's), so it is
/// never deleted.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NotOurs {
    /// The object.
    pub object: ObjectRef,
    /// The environment its label names, when any.
    pub environment: Option<String>,
}

impl NotOurs {
    /// Why it is left alone.
    pub fn why(environment: Option<&str>) -> String {
        match environment {
            Some(other) => format!("it belongs to environment \"{other}\""),
            None => "it carries no kindform environment label".to_owned(),
        }
    }
}

impl std::fmt::Display for NotOurs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({})",
            self.object,
            NotOurs::why(self.environment.as_deref())
        )
    }
}

/// The manifest as observed.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ManifestLive {
    /// Its objects, in the manifest's order.
    pub objects: Vec<LiveObject>,
    /// Objects the applied record lists for this manifest that it no longer
    /// holds and that still exist.
    pub stale: Vec<ObjectRef>,
    /// The manifest's wait conditions that do not hold now, each with what
    /// is missing; looked at only when every object exists. Left out of
    /// the fingerprint: readiness comes and goes without anyone changing
    /// the manifest.
    #[serde(skip)]
    pub unmet: Vec<String>,
}

/// The live object cut down to the fields `desired` sets, so that fields the
/// API adds (status, defaults, other managers' fields) never count as drift.
fn projection(desired: &Value, live: &Value) -> Value {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => Value::Object(
            d.iter()
                .filter_map(|(k, dv)| l.get(k).map(|lv| (k.clone(), projection(dv, lv))))
                .collect(),
        ),
        (Value::Array(d), Value::Array(l)) if d.len() == l.len() => {
            Value::Array(d.iter().zip(l).map(|(dv, lv)| projection(dv, lv)).collect())
        }
        (Value::Number(d), Value::Number(l)) if d.as_f64() == l.as_f64() => desired.clone(),
        _ => live.clone(),
    }
}

/// The differences between a manifest and its objects as observed.
pub(crate) fn diff(desired: &DesiredManifest, live: &ManifestLive) -> Diff<ManifestStep> {
    let mut differences = Vec::new();
    let mut before = Vec::new();
    let mut after = Vec::new();
    let all_absent = live.objects.iter().all(|o| o.live.is_none());
    for (object, found) in desired.objects.iter().zip(&live.objects) {
        let want = comparable(object);
        after.push(redacted(&want));
        match &found.live {
            None => {
                before.push(Value::Null);
                if !all_absent {
                    differences.push(Difference::new(
                        Reason::ObjectMissing,
                        Effect::Update,
                        format!("{} does not exist", found.reference),
                    ));
                }
            }
            Some(have) => {
                let seen = projection(&want, have);
                let fields = changed_paths(&seen, &want);
                if !fields.is_empty() {
                    differences.push(Difference::new(
                        Reason::FieldsChanged,
                        Effect::Update,
                        format!("{}: {}", found.reference, fields.join(", ")),
                    ));
                }
                before.push(redacted(&seen));
            }
        }
    }
    if all_absent && !live.objects.is_empty() {
        differences.insert(
            0,
            Difference::new(
                Reason::Absent,
                Effect::Create,
                format!("none of its {} objects exist", live.objects.len()),
            ),
        );
    }
    let applies = !differences.is_empty();
    let references: Vec<ObjectRef> = live.objects.iter().map(|o| o.reference.clone()).collect();
    let mut steps = Vec::new();
    if applies {
        steps.push(ManifestStep::Apply {
            objects: references.clone(),
        });
    }
    if desired.spec.prune {
        for stale in &live.stale {
            differences.push(Difference::new(
                Reason::Pruned,
                Effect::Update,
                format!("{stale} left the manifest (prune is on)"),
            ));
            steps.push(ManifestStep::Delete {
                object: stale.clone(),
            });
        }
    }
    if applies {
        steps.extend(wait_steps(desired));
    }
    if !steps.is_empty() {
        steps.push(ManifestStep::Record {
            objects: references,
        });
    }
    let before = if all_absent {
        Value::Null
    } else {
        json!({"objects": before})
    };
    Diff {
        differences,
        steps,
        before,
        after: json!({"objects": after}),
    }
}

fn wait_steps(desired: &DesiredManifest) -> Vec<ManifestStep> {
    desired
        .spec
        .wait
        .iter()
        .enumerate()
        .map(|(index, wait)| {
            let which = wait
                .selector
                .as_deref()
                .or(wait.name.as_deref())
                .unwrap_or_default();
            let condition: &WaitFor = &wait.condition;
            ManifestStep::Wait {
                index,
                what: format!("{} {which} to be {condition}", wait.kind),
            }
        })
        .collect()
}

/// What applying the manifest takes when nothing of it exists.
pub fn plan_create(desired: &DesiredManifest) -> Diff<ManifestStep> {
    let objects: Vec<ObjectRef> = desired.objects.iter().filter_map(ObjectRef::of).collect();
    let mut steps = vec![ManifestStep::Apply {
        objects: objects.clone(),
    }];
    steps.extend(wait_steps(desired));
    steps.push(ManifestStep::Record {
        objects: objects.clone(),
    });
    Diff {
        differences: vec![Difference::new(
            Reason::Absent,
            Effect::Create,
            format!("{} objects to apply", objects.len()),
        )],
        steps,
        before: Value::Null,
        after: json!({"objects": desired.objects.iter().map(|o| redacted(&comparable(o))).collect::<Vec<_>>()}),
    }
}

/// What deleting the manifest's objects takes: the live ones, last first.
pub(crate) fn delete_steps(references: &[ObjectRef]) -> Vec<ManifestStep> {
    references
        .iter()
        .rev()
        .map(|object| ManifestStep::Delete {
            object: object.clone(),
        })
        .chain([ManifestStep::Forget])
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use base64::Engine as _;
    use kindform_api::{ManifestSource, ManifestSpec};

    use super::*;
    use crate::source::resolve;

    fn manifest(yaml: &str) -> DesiredManifest {
        let spec = ManifestSpec {
            source: ManifestSource::Inline(yaml.to_owned()),
            namespace: Some("apps".into()),
            wait: Vec::new(),
            prune: false,
            depends_on: Vec::new(),
        };
        resolve("m", &spec, "env", Path::new("."), None).unwrap()
    }

    fn observed(desired: &DesiredManifest, live: Value) -> ManifestLive {
        let mut reference = ObjectRef::of(&desired.objects[0]).unwrap();
        reference.namespace = Some("apps".into());
        ManifestLive {
            objects: vec![LiveObject {
                reference,
                served: true,
                live: Some(comparable(&live)),
            }],
            stale: Vec::new(),
            unmet: Vec::new(),
        }
    }

    const SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: s3cret-value\n";

    fn live_secret(password: &str) -> Value {
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db", "namespace": "apps", "uid": "1", "resourceVersion": "7",
                "labels": {"app.kubernetes.io/managed-by": "kindform", "kindform.dev/environment": "env", "kindform.dev/address": "manifests.m"}},
            "type": "Opaque",
            "data": {"password": base64::engine::general_purpose::STANDARD.encode(password)},
        })
    }

    #[test]
    fn a_secret_written_as_string_data_matches_its_data_and_never_shows() {
        let desired = manifest(SECRET);
        let same = diff(&desired, &observed(&desired, live_secret("s3cret-value")));
        assert!(same.is_empty(), "{same:?}");
        let changed = diff(&desired, &observed(&desired, live_secret("old-value")));
        assert_eq!(changed.differences[0].reason, Reason::FieldsChanged);
        assert_eq!(
            changed.differences[0].detail,
            "Secret \"db\" in namespace \"apps\": data.password"
        );
        let shown = serde_json::to_string(&changed).unwrap()
            + &serde_json::to_string(&observed(&desired, live_secret("old-value"))).unwrap();
        for secret in ["s3cret-value", "old-value", "czNjcmV0LXZhbHVl"] {
            assert!(!shown.contains(secret), "{secret} shows in {shown}");
        }
    }

    #[test]
    fn fields_the_api_adds_are_not_drift() {
        let desired = manifest(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n      - name: web\n        image: app:1\n",
        );
        let mut live = desired.objects[0].clone();
        live["metadata"]["uid"] = json!("u");
        live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] =
            json!("IfNotPresent");
        live["status"] = json!({"readyReplicas": 1});
        assert!(diff(&desired, &observed(&desired, live.clone())).is_empty());
        live["spec"]["replicas"] = json!(3);
        let d = diff(&desired, &observed(&desired, live));
        assert_eq!(
            d.differences[0].detail,
            "Deployment \"web\" in namespace \"apps\": spec.replicas"
        );
        assert_eq!(d.before["objects"][0]["spec"]["replicas"], 3);
        assert_eq!(d.after["objects"][0]["spec"]["replicas"], 1);
    }

    #[test]
    fn the_manifest_diff_over_observed_states() {
        const CM: &str =
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: \"1\"\n";
        let stale = ObjectRef {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: Some("apps".into()),
            name: "old".into(),
        };
        let mut pruning = manifest(CM);
        pruning.spec.prune = true;
        let same = pruning.objects[0].clone();
        let mut edited = same.clone();
        edited["data"]["a"] = json!("2");
        type Row = (
            &'static str,
            ManifestLive,
            &'static [Reason],
            &'static [&'static str],
        );
        let rows: Vec<Row> = vec![
            ("as applied", observed(&pruning, same.clone()), &[], &[]),
            (
                "a field changed",
                observed(&pruning, edited),
                &[Reason::FieldsChanged],
                &[
                    "server-side apply ConfigMap \"cfg\" in namespace \"apps\" (field manager kindform)",
                    "record its objects in the applied record",
                ],
            ),
            (
                "an object left the manifest",
                ManifestLive {
                    stale: vec![stale.clone()],
                    ..observed(&pruning, same.clone())
                },
                &[Reason::Pruned],
                &[
                    "delete ConfigMap \"old\" in namespace \"apps\"",
                    "record its objects in the applied record",
                ],
            ),
            (
                "nothing of it exists",
                ManifestLive {
                    objects: vec![LiveObject {
                        live: None,
                        ..observed(&pruning, same).objects[0].clone()
                    }],
                    ..ManifestLive::default()
                },
                &[Reason::Absent],
                &[
                    "server-side apply ConfigMap \"cfg\" in namespace \"apps\" (field manager kindform)",
                    "record its objects in the applied record",
                ],
            ),
        ];
        for (what, live, reasons, steps) in rows {
            let d = diff(&pruning, &live);
            let got: Vec<Reason> = d.differences.iter().map(|d| d.reason.clone()).collect();
            let shown: Vec<String> = d.steps.iter().map(ToString::to_string).collect();
            assert_eq!(got, reasons, "{what}");
            assert_eq!(shown, steps, "{what}");
        }
    }
}
