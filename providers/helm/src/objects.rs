//! A release's objects as they live: every object of its deployed manifest
//! (as Helm's record holds it), read in one list per kind and namespace,
//! compared with what the chart rendered on the fields the chart sets
//! (`kindform_kube::drift`), less what the release's ignore rules cover.
//! Hooks are kept apart from the manifest by Helm, so they are never drift.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use kindform_api::ReleaseSpec;
use kindform_api::field_path::{FieldPath, Segment};
use kindform_api::settings::SENSITIVE;
use kindform_kube::drift::{Change, compare, is_person, owners};
use kindform_kube::{ObjectRef, Objects, ObjectsError};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::OnceCell;

/// The manager Helm 3 and Helm 4 write with.
const HELM_MANAGER: &str = "helm";

/// One field of a release's object changed by hand.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ObjectDrift {
    /// The object.
    pub object: ObjectRef,
    /// The field.
    pub path: FieldPath,
    /// The chart's value, as shown (`(none)` when the chart does not set it).
    pub chart: String,
    /// The live value, as shown (`(none)` when it is gone).
    pub live: String,
    /// Who changed it, where `managedFields` says.
    pub manager: Option<String>,
    /// Whether the field was added (the chart does not set it): Helm
    /// leaves such fields, so kindform removes them.
    pub added: bool,
}

/// What the release's objects look like against its manifest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ObjectsSeen {
    /// Fields changed by hand, object by object in the manifest's order.
    pub drifted: Vec<ObjectDrift>,
    /// Objects of the manifest that do not exist.
    pub missing: Vec<ObjectRef>,
    /// Differences other managers own by design (an autoscaler's
    /// `replicas`), for `-v`.
    pub elsewhere: Vec<String>,
}

/// An object as plans name it: `deployment/web`, with its namespace when
/// it is not the release's.
pub fn short(object: &ObjectRef, release_namespace: &str) -> String {
    let name = format!("{}/{}", object.kind.to_ascii_lowercase(), object.name);
    match &object.namespace {
        Some(ns) if ns != release_namespace => format!("{name} in {ns}"),
        _ => name,
    }
}

impl ObjectDrift {
    /// Its line in the plan: `deployment/web spec.replicas: 2 -> 5 (kubectl)`.
    pub fn line(&self, release_namespace: &str) -> String {
        let by = self
            .manager
            .as_ref()
            .map(|m| format!(" ({m})"))
            .unwrap_or_default();
        format!(
            "{} {}: {} -> {}{by}",
            short(&self.object, release_namespace),
            self.path,
            self.chart,
            self.live
        )
    }
}

type ListKey = (String, String, Option<String>);

/// One list, read once by whichever release asks first.
type ListCell = Arc<OnceCell<Arc<Vec<Value>>>>;

/// The lists of objects read for releases, one per kind and namespace,
/// shared by every release observed in a run.
#[derive(Default)]
pub struct Lists {
    cells: Mutex<HashMap<ListKey, ListCell>>,
}

impl Lists {
    async fn get(
        &self,
        objects: &Objects,
        info: &kindform_kube::objects::KindInfo,
        key: ListKey,
    ) -> Result<Arc<Vec<Value>>, ObjectsError> {
        let cell = Arc::clone(self.cells.lock().unwrap().entry(key.clone()).or_default());
        cell.get_or_try_init(|| async {
            tracing::debug!(
                "listing {} {}{}",
                key.0,
                key.1,
                key.2
                    .as_ref()
                    .map(|n| format!(" in {n}"))
                    .unwrap_or_default()
            );
            Ok(Arc::new(objects.list(info, key.2.as_deref()).await?))
        })
        .await
        .cloned()
    }
}

/// The objects of `manifest` (Helm's rendered text: a release record's, or
/// `helm template` output), the items of `List` documents included.
pub(crate) fn rendered(manifest: &str) -> Vec<Value> {
    kindform_api::yaml::documents(manifest)
        .into_iter()
        .filter_map(Result::ok)
        .filter_map(|doc| serde_json::to_value(doc).ok())
        .filter(|v| v.is_object())
        .flat_map(|v| {
            // A `List` document holds its objects.
            if v["kind"].as_str().is_some_and(|k| k.ends_with("List")) && v["items"].is_array() {
                v["items"].as_array().cloned().unwrap_or_default()
            } else {
                vec![v]
            }
        })
        .collect()
}

/// Reads the objects of `manifest` for the release `spec` describes, and
/// compares them.
pub(crate) async fn observe(
    objects: &Objects,
    lists: &Lists,
    spec: &ReleaseSpec,
    manifest: &str,
) -> Result<ObjectsSeen, ObjectsError> {
    let mut seen = ObjectsSeen::default();
    let mut wanted = Vec::new();
    for object in rendered(manifest) {
        let Some(mut reference) = ObjectRef::of(&object) else {
            continue;
        };
        let Some(info) = objects
            .kind(&reference.api_version, &reference.kind)
            .await?
        else {
            // Its CRD is gone, and the object with it.
            seen.missing.push(reference);
            continue;
        };
        reference.namespace = info.namespaced.then(|| {
            reference
                .namespace
                .clone()
                .unwrap_or_else(|| spec.namespace.clone())
        });
        wanted.push((reference, info, object));
    }
    // One list per kind and namespace, read at once.
    let mut keys: BTreeMap<ListKey, &kindform_kube::objects::KindInfo> = BTreeMap::new();
    for (reference, info, _) in &wanted {
        keys.insert(list_key(reference), info);
    }
    let read = futures::future::try_join_all(keys.into_iter().map(|(key, info)| async move {
        Ok::<_, ObjectsError>((key.clone(), lists.get(objects, info, key).await?))
    }))
    .await?;
    // Each list by name, so that finding an object costs the same at any size.
    let by_name: HashMap<ListKey, HashMap<&str, &Value>> = read
        .iter()
        .map(|(key, items)| {
            let names = items
                .iter()
                .filter(|o| o["metadata"]["namespace"].as_str() == key.2.as_deref())
                .filter_map(|o| Some((o["metadata"]["name"].as_str()?, o)))
                .collect();
            (key.clone(), names)
        })
        .collect();
    for (reference, _, want) in wanted {
        let live = by_name
            .get(&list_key(&reference))
            .and_then(|names| names.get(reference.name.as_str()).copied());
        let Some(live) = live else {
            seen.missing.push(reference);
            continue;
        };
        compare_one(spec, &reference, &want, live, &mut seen);
    }
    Ok(seen)
}

fn list_key(reference: &ObjectRef) -> ListKey {
    (
        reference.api_version.clone(),
        reference.kind.clone(),
        reference.namespace.clone(),
    )
}

/// Whether `path` of an object of `kind` holds a secret.
fn sensitive(kind: &str, path: &FieldPath) -> bool {
    kind == "Secret"
        && matches!(path.0.first(), Some(Segment::Key(k)) if k == "data" || k == "stringData")
}

fn shown(value: &Value, secret: bool) -> String {
    if secret {
        return SENSITIVE.to_owned();
    }
    let text = value.to_string();
    if text.chars().count() > 80 {
        format!("{}…", text.chars().take(79).collect::<String>())
    } else {
        text
    }
}

/// A Secret as the API keeps it: `stringData` is written into `data`.
fn as_stored(kind: &str, object: &Value) -> Value {
    use base64::Engine as _;
    let mut object = object.clone();
    if kind != "Secret" {
        return object;
    }
    if let Some(Value::Object(strings)) =
        object.as_object_mut().and_then(|o| o.remove("stringData"))
    {
        let data = object["data"].as_object().cloned().unwrap_or_default();
        let mut data = data;
        for (key, value) in strings {
            let text = value
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| value.to_string());
            data.insert(
                key,
                Value::String(base64::engine::general_purpose::STANDARD.encode(text)),
            );
        }
        object["data"] = Value::Object(data);
    }
    object
}

fn compare_one(
    spec: &ReleaseSpec,
    reference: &ObjectRef,
    want: &Value,
    live: &Value,
    seen: &mut ObjectsSeen,
) {
    let want = as_stored(&reference.kind, want);
    let compared = compare(&want, live, HELM_MANAGER);
    let ignored = |path: &FieldPath| {
        spec.ignore.iter().any(|rule| {
            rule.covers(
                &reference.kind,
                &reference.name,
                reference.namespace.as_deref(),
                path,
            )
        })
    };
    for drift in compared.drift {
        if ignored(&drift.path) {
            continue;
        }
        let secret = sensitive(&reference.kind, &drift.path);
        // A Secret's `data` is written through `stringData` too, which the
        // writer may be recorded as owning instead.
        let manager = drift.manager.or_else(|| {
            let mut through = drift.path.clone();
            let Some(Segment::Key(first)) = through.0.first_mut() else {
                return None;
            };
            if !(secret && first == "data") {
                return None;
            }
            *first = "stringData".to_owned();
            owners(live, &through).into_iter().find(|m| is_person(m))
        });
        let none = "(none)".to_owned();
        let (chart, live, added) = match &drift.change {
            Change::Changed { want, have } => (shown(want, secret), shown(have, secret), false),
            Change::Removed { want } => (shown(want, secret), none, false),
            Change::Added { have } => (none, shown(have, secret), true),
        };
        seen.drifted.push(ObjectDrift {
            object: reference.clone(),
            path: drift.path,
            chart,
            live,
            manager,
            added,
        });
    }
    for other in compared.elsewhere {
        if ignored(&other.path) {
            continue;
        }
        seen.elsewhere.push(format!(
            "{} {} is {}'s by design",
            short(reference, &spec.namespace),
            other.path,
            other.managers.join(", ")
        ));
    }
}

/// Removes `paths` from `object` as it is now, in one replace that holds
/// only if nobody changed the object since it was read (a conflict reads
/// it again). Fields already gone are passed over.
pub(crate) async fn remove_added(
    objects: &Objects,
    object: &ObjectRef,
    paths: &[FieldPath],
) -> Result<(), crate::error::ReleaseError> {
    let failed = |source| crate::error::ReleaseError::RemoveAdded {
        object: object.to_string(),
        source,
    };
    let Some(info) = objects.kind(&object.api_version, &object.kind).await? else {
        return Ok(());
    };
    for _ in 0..5 {
        let Some(mut live) = objects.get(object).await? else {
            return Ok(());
        };
        // Last pointer first, so that removing a list's item does not move
        // the next one removed.
        let mut pointers: Vec<String> = paths.iter().filter_map(|p| p.pointer(&live)).collect();
        pointers.sort_by(|a, b| b.cmp(a));
        if pointers.is_empty() {
            return Ok(());
        }
        for pointer in &pointers {
            remove_at(&mut live, pointer);
        }
        if let Some(meta) = live["metadata"].as_object_mut() {
            // Left out, the API keeps who owns what.
            meta.remove("managedFields");
        }
        let body: kube::api::DynamicObject = match serde_json::from_value(live) {
            Ok(body) => body,
            Err(_) => return Ok(()),
        };
        match objects
            .api(&info, object.namespace.as_deref())
            .replace(&object.name, &kube::api::PostParams::default(), &body)
            .await
        {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(e)) if e.code == 409 => continue,
            Err(kube::Error::Api(e)) if e.code == 404 => return Ok(()),
            Err(source) => return Err(failed(source)),
        }
    }
    Err(crate::error::ReleaseError::KeptChanging {
        object: object.to_string(),
    })
}

/// Removes the value at JSON `pointer` of `value`.
fn remove_at(value: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let last = last.replace("~1", "/").replace("~0", "~");
    match value.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.remove(&last);
        }
        Some(Value::Array(items)) => {
            if let Ok(i) = last.parse::<usize>() {
                if i < items.len() {
                    items.remove(i);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_compared_as_stored_and_shown_as_sensitive() {
        let spec: ReleaseSpec =
            serde_json::from_value(json!({"chart": "./c", "namespace": "apps"})).unwrap();
        let reference = ObjectRef {
            api_version: "v1".into(),
            kind: "Secret".into(),
            namespace: Some("apps".into()),
            name: "db".into(),
        };
        let want = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
                          "stringData": {"password": "chart-secret-1"}});
        let mut live = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "apps"},
                          "data": {"password": "Y2hhcnQtc2VjcmV0LTE="}});
        let mut seen = ObjectsSeen::default();
        compare_one(&spec, &reference, &want, &live, &mut seen);
        assert_eq!(seen, ObjectsSeen::default());
        live["data"]["password"] = json!("aGFuZC1lZGl0ZWQ=");
        compare_one(&spec, &reference, &want, &live, &mut seen);
        let line = seen.drifted[0].line("apps");
        assert_eq!(line, "secret/db data.password: (sensitive) -> (sensitive)");
    }

    #[test]
    fn ignore_rules_silence_their_paths_only() {
        let spec: ReleaseSpec = serde_json::from_value(json!({
            "chart": "./c", "namespace": "apps",
            "ignore": [{"kind": "Deployment", "name": "web", "path": "spec.replicas"}],
        }))
        .unwrap();
        let reference = ObjectRef {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: Some("apps".into()),
            name: "web".into(),
        };
        let want = json!({"spec": {"replicas": 2, "paused": false}});
        let live = json!({"spec": {"replicas": 5, "paused": true}});
        let mut seen = ObjectsSeen::default();
        compare_one(&spec, &reference, &want, &live, &mut seen);
        let lines: Vec<String> = seen.drifted.iter().map(|d| d.line("apps")).collect();
        assert_eq!(lines, ["deployment/web spec.paused: false -> true"]);
    }

    #[test]
    fn list_documents_hold_their_items() {
        let objects = rendered(
            "---\n# Source: c/templates/a.yaml\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n",
        );
        let names: Vec<&str> = objects
            .iter()
            .filter_map(|o| o["metadata"]["name"].as_str())
            .collect();
        assert_eq!(names, ["a", "b"]);
    }
}
