//! Drift of one live object from the configuration that made it (a chart's
//! rendered object): the fields the configuration sets that differ or are
//! gone, and the fields a person's tool added. Pure: no I/O.
//!
//! Who changed a field is read from `metadata.managedFields`. A field that
//! differs is drift when a person's tool owns it (`kubectl` in any of its
//! commands, `k9s`) or nobody does; when only the configuration's own
//! manager owns it the difference is the API's normalisation (a quantity
//! written `0.5` and stored `500m`), and when another manager owns it (an
//! autoscaler owning `spec.replicas`, a controller) that manager owns it
//! by design. A field the configuration does not set is looked at only
//! when a person's tool owns it: then it was added by hand.
//!
//! Paths read like `spec.template.spec.containers[name=web].image`: map
//! keys joined by dots (quoted in brackets when they hold anything but
//! letters, digits, `_` and `-`), list items by their `name` where the
//! items have one, by position otherwise. Ignore rules are written the same
//! way, `*` standing for any key or item.

use kindform_api::field_path::{FieldPath, Segment};
use serde_json::Value;

/// How a field drifted.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// It holds another value than the configuration's.
    Changed {
        /// The configuration's value.
        want: Value,
        /// The live one.
        have: Value,
    },
    /// The configuration sets it and the object lacks it.
    Removed {
        /// The configuration's value.
        want: Value,
    },
    /// A person's tool added it; the configuration does not set it.
    Added {
        /// The live value.
        have: Value,
    },
}

/// One drifted field of an object.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldDrift {
    /// Where.
    pub path: FieldPath,
    /// How.
    pub change: Change,
    /// The manager `managedFields` says changed it, when it says.
    pub manager: Option<String>,
}

/// A field that differs from the configuration and that another manager
/// owns by design: not drift, said under `-v`.
#[derive(Clone, Debug, PartialEq)]
pub struct OwnedElsewhere {
    /// Where.
    pub path: FieldPath,
    /// Its managers.
    pub managers: Vec<String>,
}

/// What comparing one object found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Compared {
    /// The drift, in the configuration's order (added fields last).
    pub drift: Vec<FieldDrift>,
    /// Differences other managers own by design.
    pub elsewhere: Vec<OwnedElsewhere>,
}

/// Whether `manager` is a tool a person runs by hand, whose changes to a
/// configuration's fields are drift.
pub fn is_person(manager: &str) -> bool {
    manager.starts_with("kubectl") || manager == "k9s"
}

/// Fields nobody's configuration is about: a restart's stamp and kubectl's
/// client-side record of what it applied.
fn never_drift(path: &FieldPath) -> bool {
    let Some(Segment::Key(last)) = path.0.last() else {
        return false;
    };
    let annotation =
        path.0.len() >= 2 && path.0[path.0.len() - 2] == Segment::Key("annotations".to_owned());
    annotation
        && (last == crate::rollout::RESTARTED_AT
            || last == "kubectl.kubernetes.io/last-applied-configuration")
}

/// One entry of `metadata.managedFields`.
struct Managed<'a> {
    manager: &'a str,
    fields: &'a Value,
}

fn managed(live: &Value) -> Vec<Managed<'_>> {
    live.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .filter_map(|e| {
                    Some(Managed {
                        manager: e.get("manager")?.as_str()?,
                        fields: e.get("fieldsV1")?,
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a `k:{...}` key (its JSON) names `item`: every key it holds
/// equals the item's, a `protocol` the item leaves out counting as `TCP`
/// (the one list-map key with a default among the built-in types).
fn key_names(key: &Value, item: &Value) -> bool {
    key.as_object().is_some_and(|k| {
        k.iter().all(|(field, want)| match item.get(field) {
            Some(have) => same_scalar(want, have),
            None => field == "protocol" && want == "TCP",
        })
    })
}

/// The child of fieldsV1 `node` for item `index` (`item`) of a list.
fn item_child<'a>(node: &'a Value, item: &Value, index: usize) -> Option<&'a Value> {
    node.as_object()?.iter().find_map(|(key, child)| {
        let hit = if let Some(json) = key.strip_prefix("k:") {
            serde_json::from_str::<Value>(json).is_ok_and(|k| key_names(&k, item))
        } else if let Some(json) = key.strip_prefix("v:") {
            serde_json::from_str::<Value>(json).is_ok_and(|v| &v == item)
        } else if let Some(n) = key.strip_prefix("i:") {
            n.parse::<usize>().is_ok_and(|n| n == index)
        } else {
            false
        };
        hit.then_some(child)
    })
}

/// Whether the fieldsV1 set `fields` holds `path` of `live` (or an atomic
/// field above it).
fn owns(fields: &Value, live: &Value, path: &FieldPath) -> bool {
    let (mut node, mut at) = (fields, Some(live));
    for segment in &path.0 {
        let child = match segment {
            Segment::Key(k) => {
                at = at.and_then(|v| v.get(k));
                node.get(format!("f:{k}"))
            }
            Segment::Index(_) | Segment::Named(_) => {
                let list = at.and_then(Value::as_array);
                let index = list.and_then(|l| match segment {
                    Segment::Index(i) => (*i < l.len()).then_some(*i),
                    Segment::Named(n) => l.iter().position(|v| v["name"] == *n),
                    _ => None,
                });
                match (list, index) {
                    (Some(l), Some(i)) => {
                        at = Some(&l[i]);
                        item_child(node, &l[i], i)
                    }
                    _ => None,
                }
            }
            Segment::Any => None,
        };
        match child {
            Some(child) => node = child,
            // An atomic field is owned whole, and nothing below it is
            // listed.
            None => {
                return node.as_object().is_some_and(|m| m.is_empty())
                    && !std::ptr::eq(node, fields);
            }
        }
    }
    true
}

/// The managers owning `path` of `live`.
pub fn owners(live: &Value, path: &FieldPath) -> Vec<String> {
    let mut out: Vec<String> = managed(live)
        .into_iter()
        .filter(|m| owns(m.fields, live, path))
        .map(|m| m.manager.to_owned())
        .collect();
    out.dedup();
    out
}

/// Compares `live` with `want`, the configuration `manager` applied (the
/// owner of fields that differ only by the API's normalisation).
pub fn compare(want: &Value, live: &Value, manager: &str) -> Compared {
    let mut found = Vec::new();
    walk(want, live, &FieldPath::default(), &mut found);
    let mut compared = Compared::default();
    for (path, change) in found {
        if never_drift(&path) {
            continue;
        }
        let managers = owners(live, &path);
        let person = managers.iter().find(|m| is_person(m)).cloned();
        let others: Vec<String> = managers
            .iter()
            .filter(|m| m.as_str() != manager && !is_person(m))
            .cloned()
            .collect();
        if person.is_none() && !managers.is_empty() {
            if !others.is_empty() {
                compared.elsewhere.push(OwnedElsewhere {
                    path,
                    managers: others,
                });
            }
            continue;
        }
        compared.drift.push(FieldDrift {
            path,
            change,
            manager: person,
        });
    }
    for entry in managed(live).into_iter().filter(|m| is_person(m.manager)) {
        added(
            entry.fields,
            live,
            Some(want),
            &FieldPath::default(),
            entry.manager,
            &mut compared.drift,
        );
    }
    compared
}

/// Whether two scalars are the same value (numbers by value).
fn same_scalar(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// Whether `a` and `b` are the same quantity (`0.5` and `500m`).
fn same_quantity(a: &Value, b: &Value) -> bool {
    let value = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => quantity(s),
        _ => None,
    };
    matches!((value(a), value(b)), (Some(x), Some(y)) if (x - y).abs() <= f64::EPSILON * x.abs().max(y.abs()).max(1.0) * 4.0)
}

/// A Kubernetes quantity's value (`500m`, `1Gi`, `2e3`).
fn quantity(text: &str) -> Option<f64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        e if e.starts_with(['e', 'E']) => 10f64.powi(e[1..].parse().ok()?),
        _ => return None,
    };
    Some(number * scale)
}

/// Whether a path is one whose values are quantities.
fn holds_quantities(path: &FieldPath) -> bool {
    path.0.iter().any(|s| {
        matches!(s, Segment::Key(k) if ["requests", "limits", "hard", "capacity"].contains(&k.as_str()))
    })
}

/// Nothing asked for: a null, or an empty map or list (the API drops them).
fn empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Lists whose items all carry a `name`, matched by it.
fn named(items: &[Value]) -> bool {
    !items.is_empty()
        && items
            .iter()
            .all(|i| i.get("name").is_some_and(Value::is_string))
}

fn walk(want: &Value, have: &Value, path: &FieldPath, out: &mut Vec<(FieldPath, Change)>) {
    match (want, have) {
        (Value::Null, _) => {}
        (Value::Object(w), Value::Object(h)) => {
            for (key, wv) in w {
                let at = path.with(Segment::Key(key.clone()));
                match h.get(key) {
                    Some(hv) => walk(wv, hv, &at, out),
                    None if empty(wv) => {}
                    None => out.push((at, Change::Removed { want: wv.clone() })),
                }
            }
        }
        (Value::Array(w), Value::Array(h))
            if named(w) && h.iter().all(|i| i.get("name").is_some()) =>
        {
            for item in w {
                let name = item["name"].as_str().unwrap_or_default().to_owned();
                let at = path.with(Segment::Named(name.clone()));
                match h.iter().find(|i| i["name"] == *name) {
                    Some(hv) => walk(item, hv, &at, out),
                    None => out.push((at, Change::Removed { want: item.clone() })),
                }
            }
        }
        (Value::Array(w), Value::Array(h))
            if w.len() == h.len() && w.iter().any(|i| i.is_object() || i.is_array()) =>
        {
            for (i, (wv, hv)) in w.iter().zip(h).enumerate() {
                walk(wv, hv, &path.with(Segment::Index(i)), out);
            }
        }
        (Value::Array(w), Value::Array(h))
            if w.len() == h.len() && w.iter().zip(h).all(|(a, b)| same_scalar(a, b)) => {}
        (w, h) if same_scalar(w, h) => {}
        (w, h) if holds_quantities(path) && same_quantity(w, h) => {}
        (w, h) => out.push((
            path.clone(),
            Change::Changed {
                want: w.clone(),
                have: h.clone(),
            },
        )),
    }
}

/// The fields of fieldsV1 `node` (over `live`) that `want` does not have:
/// each reported once, at the highest level where `want` lacks it.
fn added(
    node: &Value,
    live: &Value,
    want: Option<&Value>,
    path: &FieldPath,
    manager: &str,
    out: &mut Vec<FieldDrift>,
) {
    let Some(children) = node.as_object() else {
        return;
    };
    for (key, child) in children {
        let (segment, have) = if let Some(field) = key.strip_prefix("f:") {
            let Some(have) = live.get(field) else {
                continue;
            };
            (Segment::Key(field.to_owned()), have)
        } else if key.starts_with("k:") || key.starts_with("v:") || key.starts_with("i:") {
            let Some(list) = live.as_array() else {
                continue;
            };
            let Some(index) = list.iter().enumerate().position(|(i, item)| {
                item_child(node, item, i).is_some_and(|c| std::ptr::eq(c, child))
            }) else {
                continue;
            };
            let item = &list[index];
            let segment = match item.get("name").and_then(Value::as_str) {
                Some(name) if named(list) => Segment::Named(name.to_owned()),
                _ => Segment::Index(index),
            };
            (segment, item)
        } else {
            continue;
        };
        let at = path.with(segment.clone());
        if at.0.first() == Some(&Segment::Key("status".to_owned())) || never_drift(&at) {
            continue;
        }
        let wanted = want.and_then(|w| match &segment {
            Segment::Key(k) => w.get(k),
            Segment::Named(n) => w.as_array()?.iter().find(|i| i["name"] == *n),
            Segment::Index(i) => {
                // A list matched by keys other than a name: the configuration's
                // item with the same keys.
                let keyed = key
                    .strip_prefix("k:")
                    .and_then(|k| serde_json::from_str::<Value>(k).ok());
                match keyed {
                    Some(k) => w.as_array()?.iter().find(|item| key_names(&k, item)),
                    None => w
                        .as_array()?
                        .iter()
                        .find(|item| *item == have)
                        .or_else(|| key.starts_with("i:").then(|| w.get(*i)).flatten()),
                }
            }
            Segment::Any => None,
        });
        match wanted {
            // A restart's stamp alone, in a map the configuration leaves out.
            None if only_stamps(child, &at) => {}
            None => out.push(FieldDrift {
                path: at,
                change: Change::Added { have: have.clone() },
                manager: Some(manager.to_owned()),
            }),
            Some(w) => added(child, have, Some(w), &at, manager, out),
        }
    }
}

/// Whether every field fieldsV1 `node` (at `path`) holds is one that is
/// never drift.
fn only_stamps(node: &Value, path: &FieldPath) -> bool {
    let fields: Vec<(&String, &Value)> = node
        .as_object()
        .map(|m| m.iter().filter(|(k, _)| k.as_str() != ".").collect())
        .unwrap_or_default();
    if fields.is_empty() {
        return never_drift(path);
    }
    fields
        .into_iter()
        .all(|(key, child)| match key.strip_prefix("f:") {
            Some(field) => only_stamps(child, &path.with(Segment::Key(field.to_owned()))),
            None => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [
                {"name": "web", "image": "app:1", "ports": [{"containerPort": 80}],
                 "resources": {"requests": {"cpu": 0.5}}}
            ]}}}
        })
    }

    fn helm_fields() -> Value {
        json!({"f:metadata": {"f:labels": {".": {}, "f:app": {}, "f:tier": {}}},
               "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                   "k:{\"name\":\"web\"}": {".": {}, "f:name": {}, "f:image": {},
                     "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}},
                     "f:resources": {"f:requests": {"f:cpu": {}}}}}}}}})
    }

    fn live_with(change: impl FnOnce(&mut Value), managers: Value) -> Value {
        let mut live = deployment();
        live["metadata"]["uid"] = json!("u1");
        live["status"] = json!({"replicas": 2});
        live["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"] = json!("TCP");
        live["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] =
            json!("500m");
        change(&mut live);
        live["metadata"]["managedFields"] = managers;
        live
    }

    /// The drift as lines, sorted: the order of keys follows the objects'
    /// (serde_json's `preserve_order` may be on or off).
    fn lines(compared: &Compared) -> Vec<String> {
        let shown = |v: &Value| kindform_api::settings::sorted(v).to_string();
        let mut lines: Vec<String> = compared
            .drift
            .iter()
            .map(|d| {
                let change = match &d.change {
                    Change::Changed { want, have } => format!("{} -> {}", shown(want), shown(have)),
                    Change::Removed { want } => format!("{} -> (none)", shown(want)),
                    Change::Added { have } => format!("(none) -> {}", shown(have)),
                };
                format!("{} {change} {:?}", d.path, d.manager)
            })
            .collect();
        lines.sort();
        lines
    }

    #[test]
    fn an_untouched_object_has_no_drift_whatever_the_api_added() {
        let live = live_with(
            |_| {},
            json!([{"manager": "helm", "operation": "Update", "fieldsV1": helm_fields()}]),
        );
        assert_eq!(compare(&deployment(), &live, "helm"), Compared::default());
    }

    #[test]
    fn hand_edits_are_drift_named_by_their_manager() {
        let live = live_with(
            |l| {
                l["spec"]["replicas"] = json!(5);
                l["spec"]["template"]["spec"]["containers"][0]["image"] = json!("app:2");
                l["metadata"]["labels"]
                    .as_object_mut()
                    .unwrap()
                    .remove("tier");
                l["metadata"]["labels"]["extra"] = json!("yes");
            },
            json!([
                {"manager": "helm", "operation": "Update", "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}}},
                {"manager": "kubectl", "operation": "Update", "subresource": "scale", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
                {"manager": "kubectl-set", "operation": "Update", "fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {"f:image": {}}}}}}}},
                {"manager": "kubectl-label", "operation": "Update", "fieldsV1": {"f:metadata": {"f:labels": {"f:extra": {}}}}},
            ]),
        );
        assert_eq!(
            lines(&compare(&deployment(), &live, "helm")),
            [
                "metadata.labels.extra (none) -> \"yes\" Some(\"kubectl-label\")",
                "metadata.labels.tier \"front\" -> (none) None",
                "spec.replicas 2 -> 5 Some(\"kubectl\")",
                "spec.template.spec.containers[name=web].image \"app:1\" -> \"app:2\" Some(\"kubectl-set\")",
            ]
        );
    }

    #[test]
    fn a_field_another_manager_owns_by_design_is_not_drift() {
        let live = live_with(
            |l| l["spec"]["replicas"] = json!(7),
            json!([
                {"manager": "helm", "operation": "Update", "fieldsV1": {"f:metadata": {}}},
                {"manager": "kube-controller-manager", "operation": "Update", "subresource": "scale", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
            ]),
        );
        let compared = compare(&deployment(), &live, "helm");
        assert!(compared.drift.is_empty(), "{compared:?}");
        assert_eq!(compared.elsewhere[0].path.to_string(), "spec.replicas");
        assert_eq!(compared.elsewhere[0].managers, ["kube-controller-manager"]);
        // The same change with nobody owning it is drift, unnamed.
        let live = live_with(|l| l["spec"]["replicas"] = json!(7), json!([]));
        assert_eq!(
            lines(&compare(&deployment(), &live, "helm")),
            ["spec.replicas 2 -> 7 None"]
        );
    }

    #[test]
    fn added_items_and_fields_in_items_are_found_once() {
        let live = live_with(
            |l| {
                l["spec"]["template"]["spec"]["containers"][0]["env"] =
                    json!([{"name": "DEBUG", "value": "1"}]);
                l["spec"]["template"]["spec"]["containers"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"name": "debugger", "image": "busybox"}));
                l["spec"]["template"]["metadata"] =
                    json!({"annotations": {"kubectl.kubernetes.io/restartedAt": "now"}});
            },
            json!([
                {"manager": "kubectl-edit", "operation": "Update", "fieldsV1": {"f:spec": {"f:template": {
                    "f:metadata": {"f:annotations": {"f:kubectl.kubernetes.io/restartedAt": {}}},
                    "f:spec": {"f:containers": {
                    "k:{\"name\":\"web\"}": {"f:env": {".": {}, "k:{\"name\":\"DEBUG\"}": {".": {}, "f:name": {}, "f:value": {}}}},
                    "k:{\"name\":\"debugger\"}": {".": {}, "f:name": {}, "f:image": {}}}}}}}},
            ]),
        );
        assert_eq!(
            lines(&compare(&deployment(), &live, "helm")),
            [
                "spec.template.spec.containers[name=debugger] (none) -> {\"image\":\"busybox\",\"name\":\"debugger\"} Some(\"kubectl-edit\")",
                "spec.template.spec.containers[name=web].env (none) -> [{\"name\":\"DEBUG\",\"value\":\"1\"}] Some(\"kubectl-edit\")",
            ]
        );
    }

    #[test]
    fn quantities_compare_by_value() {
        assert!(same_quantity(&json!(0.5), &json!("500m")));
        assert!(same_quantity(&json!("1Gi"), &json!("1024Mi")));
        assert!(!same_quantity(&json!("1G"), &json!("1Gi")));
        // Outside resources, "1" and "1.0" are two values.
        let mut live = live_with(|_| {}, json!([]));
        live["metadata"]["labels"]["tier"] = json!("front.0");
        assert_eq!(compare(&deployment(), &live, "helm").drift.len(), 1);
    }
}
