//! Strategic merge patches (`application/strategic-merge-patch+json`)
//! applied server side, as kube-apiserver applies them: maps merge
//! recursively, lists merge by `x-kubernetes-patch-merge-key` where the
//! schema says `x-kubernetes-patch-strategy: merge` and are replaced
//! otherwise, and the directives clients send (`$patch`, `$retainKeys`,
//! `$setElementOrder/…`, `$deleteFromPrimitiveList/…`) are carried out and
//! never stored.
//!
//! List order follows apimachinery's rules, which `kubectl` and Helm rely
//! on: a `$setElementOrder` list wins, then the patch's order, then the live
//! object's, with server-only items slotted between the patch's items by
//! their live position. Below a point where the schema is untyped the patch
//! behaves as a JSON merge patch (maps merge, `null` deletes, lists replace).

use std::fmt;

use serde_json::{Map, Value};

use super::schema::Node;

/// Per-map directive: `merge` (default), `replace` or `delete`.
const PATCH: &str = "$patch";
/// Per-map directive listing the keys a `retainKeys` map keeps.
const RETAIN_KEYS: &str = "$retainKeys";
/// Prefix of the sibling key giving the order of a merged list.
const SET_ELEMENT_ORDER: &str = "$setElementOrder";
/// Prefix of the sibling key listing values to drop from a primitive list.
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";

/// Why a strategic merge patch could not be applied; the API server answers
/// a client error carrying this message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatchError(pub String);

impl fmt::Display for PatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PatchError {}

fn fail<T>(message: impl Into<String>) -> Result<T, PatchError> {
    Err(PatchError(message.into()))
}

/// Applies strategic merge patch `patch` to `original`; `schema` describes
/// the object's type (where a sub-node is untyped, plain JSON merge-patch
/// semantics apply: maps merge, `null` deletes, lists are replaced).
///
/// Both documents must be JSON objects; a `null` original is an empty
/// object and a `null` patch changes nothing.
pub fn apply(original: &Value, patch: &Value, schema: Node<'_>) -> Result<Value, PatchError> {
    let original = match original {
        Value::Object(map) => map.clone(),
        Value::Null => Map::new(),
        _ => return fail("invalid JSON document: the object to patch is not a JSON object"),
    };
    let patch = match patch {
        Value::Object(map) => map.clone(),
        Value::Null => Map::new(),
        _ => return fail("invalid JSON document: a strategic merge patch must be a JSON object"),
    };
    merge_map(original, patch, schema).map(Value::Object)
}

fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    node: Node<'_>,
) -> Result<Map<String, Value>, PatchError> {
    if let Some(directive) = patch.remove(PATCH) {
        match directive.as_str() {
            // Merging into nothing rather than copying the patch verbatim
            // carries out any directives nested in the replacement.
            Some("replace") => return merge_map(Map::new(), patch, node),
            // apimachinery leaves an empty map, not an absent key, when the
            // original had the map.
            Some("delete") => return Ok(Map::new()),
            // apimachinery rejects an explicit `merge` in a map; it is the
            // default, so taking it as such is harmless and friendlier.
            Some("merge") => {}
            _ => {
                return fail(format!(
                    "unknown patch type: {directive} in map: {}",
                    Value::Object(patch)
                ));
            }
        }
    }

    if let Some(keys) = patch.remove(RETAIN_KEYS) {
        retain_keys(&mut original, &patch, &keys)?;
    }

    // Ordered lists first: each takes its list out of the patch, so the
    // plain merge below does not see it again.
    let orders: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for key in orders {
        let order = patch.remove(&key).unwrap_or(Value::Null);
        let field = directive_target(&key, SET_ELEMENT_ORDER)?;
        set_element_order(&mut original, &mut patch, field, order, node)?;
    }

    // Deletions go last so that a value both added and deleted ends up
    // deleted whatever order the client wrote the keys in.
    let mut deletions = Vec::new();
    for (key, value) in patch {
        if key.starts_with(DELETE_FROM_PRIMITIVE_LIST) {
            let field = directive_target(&key, DELETE_FROM_PRIMITIVE_LIST)?.to_owned();
            deletions.push((field, value));
        } else {
            let field = node.field(&key);
            merge_field(&mut original, key, value, field)?;
        }
    }
    for (field, values) in deletions {
        delete_from_primitive_list(&mut original, &field, values)?;
    }
    Ok(original)
}

/// Removes `key` keeping the other keys' order, which `Map::remove` does not
/// when serde_json's `preserve_order` is on.
fn remove_key(map: &mut Map<String, Value>, key: &str) {
    map.retain(|k, _| k != key);
}

/// The field a `$prefix/field` directive key names.
fn directive_target<'k>(key: &'k str, prefix: &str) -> Result<&'k str, PatchError> {
    match key
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('/'))
    {
        Some(field) => Ok(field),
        None => fail(format!(
            "invalid patch: the patch has invalid format for {prefix} in key {key:?}"
        )),
    }
}

fn merge_field(
    original: &mut Map<String, Value>,
    key: String,
    patch: Value,
    field: Node<'_>,
) -> Result<(), PatchError> {
    if patch.is_null() {
        remove_key(original, &key);
        return Ok(());
    }
    let Some(slot) = original.get_mut(&key) else {
        if let Some(value) = fresh(patch, field)? {
            original.insert(key, value);
        }
        return Ok(());
    };
    // Taken in place (not removed) so a key-ordered map keeps its order.
    let merged = match (std::mem::take(slot), patch) {
        (Value::Object(current), Value::Object(patch)) => {
            let current = if strategy(field)? == "replace" {
                Map::new()
            } else {
                current
            };
            Some(Value::Object(merge_map(current, patch, field)?))
        }
        (Value::Array(current), Value::Array(patch)) => {
            Some(Value::Array(merge_list(current, patch, field)?))
        }
        // Scalars, and values whose type the patch changes, take the patch.
        (_, patch) => fresh(patch, field)?,
    };
    match merged {
        Some(value) => *slot = value,
        None => {
            remove_key(original, &key);
        }
    }
    Ok(())
}

/// The value a patch value gives a key the original lacks (or holds with
/// another type): the patch merged into nothing, so its directives are
/// carried out rather than stored; `None` when nothing should be stored.
fn fresh(patch: Value, field: Node<'_>) -> Result<Option<Value>, PatchError> {
    Ok(match patch {
        Value::Null => None,
        Value::Object(patch) => {
            if patch.get(PATCH).and_then(Value::as_str) == Some("delete") {
                None
            } else {
                Some(Value::Object(merge_map(Map::new(), patch, field)?))
            }
        }
        Value::Array(patch) => Some(Value::Array(merge_list(Vec::new(), patch, field)?)),
        scalar => Some(scalar),
    })
}

/// The field's patch strategy with `retainKeys` set aside, since the
/// `$retainKeys` directive alone decides what a map keeps.
fn strategy<'a>(field: Node<'a>) -> Result<&'a str, PatchError> {
    let strategies = field.patch_strategies();
    let others: Vec<&str> = strategies
        .iter()
        .copied()
        .filter(|s| *s != "retainKeys")
        .collect();
    match (strategies.len(), others.as_slice()) {
        (0, _) | (1, []) => Ok(""),
        (1, [only]) | (2, [only]) => Ok(*only),
        _ => fail(format!("unexpected patch strategy: {strategies:?}")),
    }
}

fn merge_list(
    original: Vec<Value>,
    patch: Vec<Value>,
    field: Node<'_>,
) -> Result<Vec<Value>, PatchError> {
    if strategy(field)? == "merge" {
        merge_slice(original, patch, field)
    } else {
        replaced(patch, field.items())
    }
}

/// A list taken whole from the patch. Items carrying `$patch` are dropped,
/// as apimachinery drops them from lists it copies.
fn replaced(items: Vec<Value>, node: Node<'_>) -> Result<Vec<Value>, PatchError> {
    items
        .into_iter()
        .filter(|item| item.get(PATCH).is_none())
        .map(|item| match item {
            Value::Object(map) => merge_map(Map::new(), map, node).map(Value::Object),
            Value::Array(list) => replaced(list, node.items()).map(Value::Array),
            scalar => Ok(scalar),
        })
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Null,
    Bool,
    Number,
    String,
    Object,
}

/// The one kind of item the lists hold (`None` when both are empty); a
/// merging list must not mix kinds or nest lists.
fn element_kind(original: &[Value], patch: &[Value]) -> Result<Option<Kind>, PatchError> {
    let mut kind = None;
    for item in original.iter().chain(patch) {
        let this = match item {
            Value::Null => Kind::Null,
            Value::Bool(_) => Kind::Bool,
            Value::Number(_) => Kind::Number,
            Value::String(_) => Kind::String,
            Value::Object(_) => Kind::Object,
            Value::Array(_) => return fail("lists of lists are not supported in a merging list"),
        };
        match kind {
            None => kind = Some(this),
            Some(previous) if previous != this => {
                return fail("list element types are not identical in a merging list");
            }
            Some(_) => {}
        }
    }
    Ok(kind)
}

/// Equality as Go compares decoded JSON: every number is a float64.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// What places an item in a list: its merge key's value, or the item.
fn identity<'v>(item: &'v Value, key: Option<&str>) -> Result<&'v Value, PatchError> {
    let Some(key) = key else {
        return Ok(item);
    };
    match item.as_object().and_then(|map| map.get(key)) {
        Some(value) => Ok(value),
        None => fail(format!(
            "map: {item} does not contain declared merge key: {key}"
        )),
    }
}

fn identities(items: &[Value], key: Option<&str>) -> Result<Vec<Value>, PatchError> {
    items
        .iter()
        .map(|item| identity(item, key).cloned())
        .collect()
}

/// Merges a list with strategy `merge`: scalars as an ordered set, objects
/// by merge key, then orders the result by the patch and the live list.
fn merge_slice(
    original: Vec<Value>,
    patch: Vec<Value>,
    field: Node<'_>,
) -> Result<Vec<Value>, PatchError> {
    let Some(kind) = element_kind(&original, &patch)? else {
        return Ok(original);
    };
    if kind != Kind::Object {
        let server = original.clone();
        let mut union: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
        for item in original.into_iter().chain(patch.iter().cloned()) {
            if !union.iter().any(|u| same(u, &item)) {
                union.push(item);
            }
        }
        return order_merged(union, &patch, &server, None);
    }
    let Some(key) = field.patch_merge_key() else {
        return fail("cannot merge lists of objects without a patch merge key");
    };
    let (original, patch) = split_special(original, patch, key)?;
    let server = identities(&original, Some(key))?;
    let order = identities(&patch, Some(key))?;
    let merged = merge_items(original, patch, key, field.items())?;
    order_merged(merged, &order, &server, Some(key))
}

/// Carries out the `$patch` items of a merge-key list: `delete` drops every
/// original item with that key, `replace` makes the patch's other items the
/// whole list. Returns the original and patch left to merge.
fn split_special(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    key: &str,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    for item in patch {
        let Some(directive) = item.get(PATCH) else {
            plain.push(item);
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                let target = identity(&item, Some(key))?;
                original.retain(|o| !o.get(key).is_some_and(|v| same(v, target)));
            }
            // Later `$patch` items are still checked, as apimachinery does.
            Some("replace") => replace = true,
            Some("merge") => return fail("merging lists cannot yet be specified in the patch"),
            _ => return fail(format!("unknown patch type: {directive} in map: {item}")),
        }
    }
    if replace {
        Ok((plain, Vec::new()))
    } else {
        Ok((original, plain))
    }
}

/// Merges each patch item into the original item with the same merge key,
/// appending the ones that match none.
fn merge_items(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    key: &str,
    node: Node<'_>,
) -> Result<Vec<Value>, PatchError> {
    for item in patch {
        let target = identity(&item, Some(key))?.clone();
        let Value::Object(item) = item else {
            return fail("a merging list item is not an object");
        };
        let found = original
            .iter()
            .position(|o| o.get(key).is_some_and(|v| same(v, &target)));
        match found {
            Some(at) => {
                let Value::Object(current) = std::mem::take(&mut original[at]) else {
                    return fail("a merging list item is not an object");
                };
                original[at] = Value::Object(merge_map(current, item, node)?);
            }
            None => original.push(Value::Object(merge_map(Map::new(), item, node)?)),
        }
    }
    Ok(original)
}

/// Orders a merged list: items named in `order` (identities) follow it;
/// the others keep their relative order in `server` (the live list's
/// identities) and are slotted in before the first named item that the
/// live list has after them. A named item the live list lacks goes before
/// any server-only item still waiting, which is why a new item without a
/// `$setElementOrder` lands ahead of the live items after the last named one.
fn order_merged(
    merged: Vec<Value>,
    order: &[Value],
    server: &[Value],
    key: Option<&str>,
) -> Result<Vec<Value>, PatchError> {
    let position = |list: &[Value], id: &Value| list.iter().position(|x| same(x, id));
    let mut named = Vec::new();
    let mut server_only = Vec::new();
    for item in merged {
        let id = identity(&item, key)?.clone();
        if position(order, &id).is_some() {
            named.push((id, item));
        } else {
            server_only.push((id, item));
        }
    }
    // Stable sorts: duplicates keep their relative order.
    named.sort_by_key(|(id, _)| position(order, id));
    server_only.sort_by_key(|(id, _)| position(server, id).unwrap_or(usize::MAX));

    let mut result = Vec::with_capacity(named.len() + server_only.len());
    let mut left = server_only.into_iter().peekable();
    let mut right = named.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some((l, _)), Some((r, _))) => matches!(
                (position(server, l), position(server, r)),
                (Some(l), Some(r)) if l < r
            ),
        };
        let next = if take_left { left.next() } else { right.next() };
        result.extend(next.map(|(_, item)| item));
    }
    Ok(result)
}

/// Carries out `$setElementOrder/<field>`: merges the field's list (if the
/// patch has one) and orders the result by `order`.
fn set_element_order(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    field: &str,
    order: Value,
    node: Node<'_>,
) -> Result<(), PatchError> {
    let Value::Array(order) = order else {
        return fail(format!(
            "invalid patch: {SET_ELEMENT_ORDER}/{field} must be a list"
        ));
    };
    let list = node.field(field);
    // Only merging lists keep an order of their own; any other list is
    // replaced by the patch's, which already is in the client's order.
    if strategy(list)? != "merge" {
        return Ok(());
    }
    // An explicit null deletes the list; the plain merge does that.
    if patch.get(field).is_some_and(Value::is_null) {
        return Ok(());
    }
    let current = match original.get_mut(field) {
        None => None,
        Some(Value::Array(items)) => Some(std::mem::take(items)),
        Some(_) => return fail(format!("{field} is not a list in the object to patch")),
    };
    let incoming = match patch.remove(field) {
        None => None,
        Some(Value::Array(items)) => Some(items),
        Some(_) => return fail(format!("{field} is not a list in the patch")),
    };
    if current.is_none() && incoming.is_none() {
        return Ok(());
    }
    if let Some(incoming) = &incoming {
        validate_order(incoming, &order, list.patch_merge_key())?;
    }
    let live = current.as_deref().unwrap_or_default();
    let kind = element_kind(live, incoming.as_deref().unwrap_or_default())?;
    let key = if kind == Some(Kind::Object) {
        list.patch_merge_key()
    } else {
        None
    };
    let server = identities(live, key)?;
    let order = identities(&order, key)?;
    let merged = match (current, incoming) {
        (Some(current), None) => current,
        (current, Some(incoming)) => merge_slice(current.unwrap_or_default(), incoming, list)?,
        (None, None) => return Ok(()),
    };
    let ordered = order_merged(merged, &order, &server, key)?;
    original.insert(field.to_owned(), Value::Array(ordered));
    Ok(())
}

/// The patch list's items (deletions and directives aside) must appear in
/// `$setElementOrder` and in the same relative order.
fn validate_order(patch: &[Value], order: &[Value], key: Option<&str>) -> Result<(), PatchError> {
    if patch.is_empty() || order.is_empty() {
        return Ok(());
    }
    let mut items = Vec::with_capacity(patch.len());
    for item in patch {
        if key.is_some() && !item.is_object() {
            return fail(format!("a merging list item is not an object: {item}"));
        }
        if item.get(PATCH).and_then(Value::as_str) != Some("delete") {
            items.push(item);
        }
    }
    let (mut p, mut o) = (0, 0);
    while p < items.len() && o < order.len() {
        if items[p].get(PATCH).is_some() {
            p += 1;
            continue;
        }
        let equal = match key {
            Some(key) => same(
                identity(items[p], Some(key))?,
                identity(&order[o], Some(key))?,
            ),
            None => same(items[p], &order[o]),
        };
        if equal {
            p += 1;
        }
        o += 1;
    }
    if p < items.len() {
        return fail(format!(
            "invalid patch: the order in the patch list {} doesn't match the {SET_ELEMENT_ORDER} list {}",
            Value::Array(patch.to_vec()),
            Value::Array(order.to_vec())
        ));
    }
    Ok(())
}

/// Carries out `$retainKeys`: the original keeps only the listed keys, and
/// the patch may set no other.
fn retain_keys(
    original: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    keys: &Value,
) -> Result<(), PatchError> {
    let Value::Array(keys) = keys else {
        return fail("invalid patch: the patch has invalid format for retainKeys");
    };
    let kept = |name: &str| keys.iter().any(|k| k.as_str() == Some(name));
    for (name, value) in patch {
        let directive =
            name.starts_with(DELETE_FROM_PRIMITIVE_LIST) || name.starts_with(SET_ELEMENT_ORDER);
        if !value.is_null() && !directive && !kept(name) {
            return fail(format!(
                "invalid patch: the patch has invalid format for retainKeys: {name:?} is set but not retained"
            ));
        }
    }
    original.retain(|name, _| kept(name));
    Ok(())
}

/// Carries out `$deleteFromPrimitiveList/<field>`, whatever the field's
/// strategy; a list the original lacks is not created.
fn delete_from_primitive_list(
    original: &mut Map<String, Value>,
    field: &str,
    values: Value,
) -> Result<(), PatchError> {
    match values {
        // apimachinery treats a null here like any null: the field goes.
        Value::Null => {
            remove_key(original, field);
        }
        Value::Array(values) => {
            if let Some(Value::Array(current)) = original.get_mut(field) {
                if element_kind(current.as_slice(), &values)? == Some(Kind::Object) {
                    return fail(format!(
                        "invalid patch: {DELETE_FROM_PRIMITIVE_LIST}/{field} applies to lists of primitives only"
                    ));
                }
                current.retain(|item| !values.iter().any(|v| same(v, item)));
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DEPLOYMENT: &str = "io.k8s.api.apps.v1.Deployment";

    /// A slice of the Kubernetes OpenAPI v3 document, with the same
    /// references and extensions the real one has.
    fn definitions() -> Map<String, Value> {
        let reference = |name: &str| json!({"allOf": [{"$ref": format!("#/components/schemas/{name}")}], "default": {}});
        let string = json!({"type": "string"});
        let string_map =
            json!({"type": "object", "additionalProperties": {"type": "string", "default": ""}});
        let merge_list = |item: &str, key: &str| {
            json!({"type": "array", "items": reference(item),
                   "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": [key],
                   "x-kubernetes-patch-merge-key": key, "x-kubernetes-patch-strategy": "merge"})
        };
        let atomic_list = |item: Value| json!({"type": "array", "items": item, "x-kubernetes-list-type": "atomic"});
        let mut volumes = merge_list("io.k8s.api.core.v1.Volume", "name");
        volumes["x-kubernetes-patch-strategy"] = json!("merge,retainKeys");
        let mut ports = merge_list("io.k8s.api.core.v1.ContainerPort", "containerPort");
        ports["x-kubernetes-list-map-keys"] = json!(["containerPort", "protocol"]);
        let mut strategy = reference("io.k8s.api.apps.v1.DeploymentStrategy");
        strategy["x-kubernetes-patch-strategy"] = json!("retainKeys");
        let doc = json!({
            "io.k8s.api.apps.v1.Deployment": {"type": "object", "properties": {
                "apiVersion": string, "kind": string,
                "metadata": reference("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"),
                "spec": reference("io.k8s.api.apps.v1.DeploymentSpec")}},
            "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta": {"type": "object", "properties": {
                "name": string, "namespace": string,
                "labels": string_map, "annotations": string_map,
                "finalizers": {"type": "array", "items": {"type": "string", "default": ""},
                               "x-kubernetes-list-type": "set", "x-kubernetes-patch-strategy": "merge"},
                "ownerReferences": merge_list("io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference", "uid")}},
            "io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference": {"type": "object", "properties": {
                "apiVersion": string, "kind": string, "name": string, "uid": string,
                "controller": {"type": "boolean"}}},
            "io.k8s.api.apps.v1.DeploymentSpec": {"type": "object", "properties": {
                "replicas": {"type": "integer", "format": "int32"},
                "strategy": strategy,
                "template": reference("io.k8s.api.core.v1.PodTemplateSpec")}},
            "io.k8s.api.apps.v1.DeploymentStrategy": {"type": "object", "properties": {
                "type": string,
                "rollingUpdate": reference("io.k8s.api.apps.v1.RollingUpdateDeployment")}},
            "io.k8s.api.apps.v1.RollingUpdateDeployment": {"type": "object", "properties": {
                "maxSurge": reference("io.k8s.apimachinery.pkg.util.intstr.IntOrString"),
                "maxUnavailable": reference("io.k8s.apimachinery.pkg.util.intstr.IntOrString")}},
            "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": "string", "format": "int-or-string"},
            "io.k8s.api.core.v1.PodTemplateSpec": {"type": "object", "properties": {
                "metadata": reference("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"),
                "spec": reference("io.k8s.api.core.v1.PodSpec")}},
            "io.k8s.api.core.v1.PodSpec": {"type": "object", "properties": {
                "containers": merge_list("io.k8s.api.core.v1.Container", "name"),
                "initContainers": merge_list("io.k8s.api.core.v1.Container", "name"),
                "imagePullSecrets": merge_list("io.k8s.api.core.v1.LocalObjectReference", "name"),
                "volumes": volumes,
                "tolerations": atomic_list(reference("io.k8s.api.core.v1.Toleration")),
                "nodeSelector": {"type": "object", "additionalProperties": {"type": "string"},
                                 "x-kubernetes-map-type": "atomic"}}},
            "io.k8s.api.core.v1.Container": {"type": "object", "properties": {
                "name": string, "image": string,
                "args": atomic_list(json!({"type": "string"})),
                "env": merge_list("io.k8s.api.core.v1.EnvVar", "name"),
                "ports": ports,
                "volumeMounts": merge_list("io.k8s.api.core.v1.VolumeMount", "mountPath")}},
            "io.k8s.api.core.v1.EnvVar": {"type": "object", "properties": {
                "name": string, "value": string,
                "valueFrom": {"type": "object", "properties": {}}}},
            "io.k8s.api.core.v1.ContainerPort": {"type": "object", "properties": {
                "containerPort": {"type": "integer", "format": "int32"},
                "name": string, "protocol": string}},
            "io.k8s.api.core.v1.VolumeMount": {"type": "object", "properties": {
                "name": string, "mountPath": string, "readOnly": {"type": "boolean"}}},
            "io.k8s.api.core.v1.Volume": {"type": "object", "properties": {
                "name": string,
                "configMap": reference("io.k8s.api.core.v1.ConfigMapVolumeSource"),
                "emptyDir": reference("io.k8s.api.core.v1.EmptyDirVolumeSource")}},
            "io.k8s.api.core.v1.ConfigMapVolumeSource": {"type": "object", "properties": {
                "name": string, "defaultMode": {"type": "integer"}}},
            "io.k8s.api.core.v1.EmptyDirVolumeSource": {"type": "object", "properties": {
                "medium": string, "sizeLimit": string}},
            "io.k8s.api.core.v1.Toleration": {"type": "object", "properties": {
                "key": string, "operator": string, "value": string, "effect": string}},
            "io.k8s.api.core.v1.LocalObjectReference": {"type": "object", "properties": {"name": string}},
        });
        match doc {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    fn try_patch(original: Value, patch: Value) -> Result<Value, PatchError> {
        let defs = definitions();
        apply(&original, &patch, Node::new(&defs, &defs[DEPLOYMENT]))
    }

    fn patch(original: Value, patch: Value) -> Value {
        let result = try_patch(original, patch).expect("patch applies");
        assert_no_directives(&result);
        result
    }

    fn assert_no_directives(value: &Value) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    assert!(!key.starts_with('$'), "directive {key} left in result");
                    assert_no_directives(value);
                }
            }
            Value::Array(items) => items.iter().for_each(assert_no_directives),
            _ => {}
        }
    }

    fn pod_spec(spec: Value) -> Value {
        json!({"spec": {"template": {"spec": spec}}})
    }

    fn containers(doc: &Value) -> &Value {
        &doc["spec"]["template"]["spec"]["containers"]
    }

    fn names(list: &Value, key: &str) -> Vec<Value> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|i| i[key].clone())
            .collect()
    }

    #[test]
    fn maps_merge_recursively_null_deletes_and_scalars_replace() {
        let original = json!({
            "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
            "spec": {"replicas": 1}});
        let result = patch(
            original,
            json!({"metadata": {"labels": {"tier": null, "team": "a"}, "annotations": {"x": "y"}},
                   "spec": {"replicas": 3, "paused": null}}),
        );
        assert_eq!(
            result,
            json!({"metadata": {"name": "web", "labels": {"app": "web", "team": "a"},
                                "annotations": {"x": "y"}},
                   "spec": {"replicas": 3}})
        );
    }

    #[test]
    fn rollout_restart_adds_a_template_annotation() {
        let original = pod_spec(json!({"containers": [{"name": "web", "image": "nginx"}]}));
        let result = patch(
            original.clone(),
            json!({"spec": {"template": {"metadata": {"annotations": {
                "kubectl.kubernetes.io/restartedAt": "2026-12-01T00:00:00Z"}}}}}),
        );
        assert_eq!(
            result["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"],
            "2026-12-01T00:00:00Z"
        );
        assert_eq!(containers(&result), containers(&original));
    }

    #[test]
    fn containers_merge_by_name_and_nested_lists_by_their_keys() {
        let original = pod_spec(json!({"containers": [
            {"name": "web", "image": "nginx:1",
             "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
             "ports": [{"containerPort": 80, "name": "http"}],
             "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
            {"name": "sidecar", "image": "envoy"}]}));
        let result = patch(
            original,
            pod_spec(json!({"containers": [{"name": "web", "image": "nginx:2",
                "env": [{"name": "B", "value": "3"}],
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "volumeMounts": [{"mountPath": "/data", "readOnly": true}]}]})),
        );
        assert_eq!(
            containers(&result),
            &json!([
                {"name": "web", "image": "nginx:2",
                 "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}],
                 "ports": [{"containerPort": 80, "name": "http", "protocol": "TCP"}],
                 "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": true}]},
                {"name": "sidecar", "image": "envoy"}])
        );
    }

    #[test]
    fn new_items_without_set_element_order_are_placed_as_apimachinery_places_them() {
        // A new item is appended to the merged list, then ordering puts the
        // patch's items ahead of live items the live list has after them.
        let original = pod_spec(json!({"containers": [{"name": "web"}]}));
        let result = patch(original, pod_spec(json!({"containers": [{"name": "log"}]})));
        assert_eq!(
            names(containers(&result), "name"),
            [json!("log"), json!("web")]
        );

        let original = pod_spec(json!({"containers": [{"name": "web"}, {"name": "sidecar"}]}));
        let result = patch(
            original,
            pod_spec(json!({"containers": [{"name": "web", "image": "x"}, {"name": "log"}]})),
        );
        assert_eq!(
            containers(&result),
            &json!([{"name": "web", "image": "x"}, {"name": "log"}, {"name": "sidecar"}])
        );
    }

    #[test]
    fn delete_directive_removes_every_matching_item() {
        let original = pod_spec(json!({"containers": [{"name": "web", "env": [
            {"name": "A", "value": "1"}, {"name": "B"}, {"name": "A", "value": "dup"}, {"name": "C"}]}]}));
        let result = patch(
            original,
            pod_spec(json!({"containers": [{"name": "web", "env": [
                {"name": "A", "$patch": "delete"}, {"name": "missing", "$patch": "delete"}]}]})),
        );
        assert_eq!(
            containers(&result)[0]["env"],
            json!([{"name": "B"}, {"name": "C"}])
        );
    }

    #[test]
    fn replace_directive_item_replaces_the_list() {
        let original = pod_spec(json!({"containers": [
            {"name": "web", "image": "a"}, {"name": "sidecar"}]}));
        let result = patch(
            original.clone(),
            pod_spec(
                json!({"containers": [{"name": "only", "image": "b"}, {"$patch": "replace"}]}),
            ),
        );
        assert_eq!(
            containers(&result),
            &json!([{"name": "only", "image": "b"}])
        );

        let result = patch(
            original,
            pod_spec(json!({"containers": [{"$patch": "replace"}]})),
        );
        assert_eq!(containers(&result), &json!([]));
    }

    #[test]
    fn primitive_merge_lists_are_ordered_sets() {
        let original = json!({"metadata": {"finalizers": ["a", "b"]}});
        let result = patch(
            original.clone(),
            json!({"metadata": {"finalizers": ["b", "c", "c"]}}),
        );
        assert_eq!(result["metadata"]["finalizers"], json!(["a", "b", "c"]));

        // Without $setElementOrder a value the live list lacks goes first.
        let result = patch(original.clone(), json!({"metadata": {"finalizers": ["c"]}}));
        assert_eq!(result["metadata"]["finalizers"], json!(["c", "a", "b"]));

        // kubectl apply sends the order, which puts it last.
        let result = patch(
            original,
            json!({"metadata": {"$setElementOrder/finalizers": ["a", "b", "c"], "finalizers": ["c"]}}),
        );
        assert_eq!(result["metadata"]["finalizers"], json!(["a", "b", "c"]));
    }

    #[test]
    fn lists_without_merge_strategy_are_replaced() {
        let original = pod_spec(json!({
            "containers": [{"name": "web", "args": ["--a", "--b"]}],
            "tolerations": [{"key": "x", "operator": "Exists"}]}));
        let result = patch(
            original,
            pod_spec(json!({
                "containers": [{"name": "web", "args": ["--c"]}],
                "tolerations": [{"key": "y", "operator": "Equal", "value": "1", "effect": null}]})),
        );
        assert_eq!(containers(&result)[0]["args"], json!(["--c"]));
        assert_eq!(
            result["spec"]["template"]["spec"]["tolerations"],
            json!([{"key": "y", "operator": "Equal", "value": "1"}])
        );
    }

    #[test]
    fn set_element_order_orders_and_slots_in_server_only_items() {
        // apimachinery's "set elements order in a list with server-only items 2/3".
        let original = pod_spec(json!({"containers": [
            {"name": "1", "image": "a"}, {"name": "2"}, {"name": "7"}, {"name": "9"},
            {"name": "8"}, {"name": "3"}, {"name": "4"}]}));
        let result = patch(
            original,
            pod_spec(json!({"$setElementOrder/containers": [
                {"name": "2"}, {"name": "1"}, {"name": "4"}, {"name": "3"}]})),
        );
        assert_eq!(
            names(containers(&result), "name"),
            ["2", "1", "7", "9", "8", "4", "3"].map(Value::from)
        );
        assert_eq!(containers(&result)[1], json!({"name": "1", "image": "a"}));

        let original = json!({"metadata": {"finalizers": ["1", "2", "9", "3", "4"]}});
        let result = patch(
            original,
            json!({"metadata": {"$setElementOrder/finalizers": ["2", "1", "4", "3"]}}),
        );
        assert_eq!(
            result["metadata"]["finalizers"],
            json!(["2", "1", "9", "4", "3"])
        );
    }

    #[test]
    fn helm_three_way_patch_removes_an_env_var() {
        let original = pod_spec(json!({"containers": [{"name": "web", "image": "nginx",
            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]}));
        let result = patch(
            original,
            json!({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"web"}],
                "containers":[{"$setElementOrder/env":[{"name":"A"}],
                               "env":[{"$patch":"delete","name":"B"}],"name":"web"}]}}}}),
        );
        assert_eq!(
            containers(&result),
            &json!([{"name": "web", "image": "nginx", "env": [{"name": "A", "value": "1"}]}])
        );
    }

    #[test]
    fn kubectl_apply_patch_adds_a_port_and_a_container_in_order() {
        let original = pod_spec(json!({"containers": [
            {"name": "web", "ports": [{"containerPort": 80, "protocol": "TCP"}]},
            {"name": "injected"}]}));
        let result = patch(
            original,
            json!({"metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
                   "spec": {"template": {"spec": {
                "$setElementOrder/containers": [{"name": "web"}, {"name": "metrics"}],
                "containers": [
                    {"$setElementOrder/ports": [{"containerPort": 80}, {"containerPort": 9090}],
                     "name": "web", "ports": [{"containerPort": 9090, "name": "metrics"}]},
                    {"name": "metrics", "image": "exporter"}]}}}}),
        );
        assert_eq!(
            containers(&result),
            &json!([
                {"name": "web", "ports": [{"containerPort": 80, "protocol": "TCP"},
                                          {"containerPort": 9090, "name": "metrics"}]},
                {"name": "metrics", "image": "exporter"},
                {"name": "injected"}])
        );
    }

    #[test]
    fn set_element_order_for_a_list_the_original_lacks() {
        let original = pod_spec(json!({"containers": [{"name": "web"}]}));
        let result = patch(
            original,
            pod_spec(json!({
                "$setElementOrder/initContainers": [{"name": "b"}, {"name": "a"}],
                "initContainers": [
                    {"name": "b", "$retainKeys": ["name"]},
                    {"name": "a", "$setElementOrder/env": [{"name": "X"}], "env": [{"name": "X", "value": "1"}]}]})),
        );
        assert_eq!(
            result["spec"]["template"]["spec"]["initContainers"],
            json!([{"name": "b"}, {"name": "a", "env": [{"name": "X", "value": "1"}]}])
        );
    }

    #[test]
    fn delete_from_primitive_list_removes_values() {
        let original = json!({"metadata": {"finalizers": ["a", "b", "a", "c"]}});
        let result = patch(
            original,
            json!({"metadata": {"$setElementOrder/finalizers": ["c", "b"],
                                "$deleteFromPrimitiveList/finalizers": ["a"]}}),
        );
        assert_eq!(result["metadata"]["finalizers"], json!(["c", "b"]));

        let result = patch(
            json!({"metadata": {"name": "x"}}),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}),
        );
        assert_eq!(result, json!({"metadata": {"name": "x"}}));
    }

    #[test]
    fn retain_keys_clears_fields_the_patch_does_not_keep() {
        let original = json!({"spec": {"strategy": {"type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}}});
        let result = patch(
            original.clone(),
            json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": null, "type": "Recreate"}}}),
        );
        assert_eq!(result, json!({"spec": {"strategy": {"type": "Recreate"}}}));

        let original_volumes = pod_spec(json!({"volumes": [
            {"name": "data", "configMap": {"name": "cfg"}}, {"name": "tmp", "emptyDir": {}}]}));
        let result = patch(
            original_volumes,
            pod_spec(
                json!({"$setElementOrder/volumes": [{"name": "data"}, {"name": "tmp"}],
                "volumes": [{"$retainKeys": ["emptyDir", "name"], "emptyDir": {"medium": "Memory"}, "name": "data"}]}),
            ),
        );
        assert_eq!(
            result["spec"]["template"]["spec"]["volumes"],
            json!([{"name": "data", "emptyDir": {"medium": "Memory"}}, {"name": "tmp", "emptyDir": {}}])
        );

        let error = try_patch(
            original,
            json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 1}}}}),
        )
        .unwrap_err();
        assert!(error.0.contains("retainKeys"), "{error}");
    }

    #[test]
    fn map_replace_and_delete_directives() {
        let original =
            json!({"metadata": {"labels": {"a": "1", "b": "2"}, "annotations": {"x": "y"}}});
        let result = patch(
            original.clone(),
            json!({"metadata": {"labels": {"$patch": "replace", "c": "3"}}}),
        );
        assert_eq!(result["metadata"]["labels"], json!({"c": "3"}));

        // As apimachinery: a deleted map that was there is left empty ...
        let result = patch(
            original.clone(),
            json!({"metadata": {"annotations": {"$patch": "delete"}}}),
        );
        assert_eq!(result["metadata"]["annotations"], json!({}));
        // ... and one that was not is not added.
        let result = patch(original.clone(), json!({"spec": {"$patch": "delete"}}));
        assert_eq!(result.get("spec"), None);

        let result = patch(original, json!({"$patch": "replace", "kind": "Deployment"}));
        assert_eq!(result, json!({"kind": "Deployment"}));
    }

    #[test]
    fn merge_directive_is_the_default() {
        let original = json!({"metadata": {"labels": {"a": "1"}}});
        let result = patch(
            original,
            json!({"metadata": {"labels": {"$patch": "merge", "b": "2"}}}),
        );
        assert_eq!(result["metadata"]["labels"], json!({"a": "1", "b": "2"}));
    }

    #[test]
    fn directives_never_reach_the_result() {
        // `patch` checks every result; this one adds whole subtrees full of
        // directives where the original has nothing.
        let result = patch(
            json!({}),
            json!({"metadata": {"$setElementOrder/finalizers": ["a"], "finalizers": ["a"],
                                "labels": {"$patch": "replace", "x": "1"}},
                   "spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"},
                            "template": {"spec": {"containers": [
                                {"name": "web", "env": [{"name": "gone", "$patch": "delete"}, {"name": "A"}],
                                 "args": [{"$patch": "delete"}, "--x"]}],
                                "tolerations": [{"key": "a", "$patch": "delete"}]}}}}),
        );
        assert_eq!(
            result,
            json!({"metadata": {"finalizers": ["a"], "labels": {"x": "1"}},
                   "spec": {"strategy": {"type": "Recreate"},
                            "template": {"spec": {"containers": [
                                {"name": "web", "env": [{"name": "A"}], "args": ["--x"]}],
                                "tolerations": []}}}})
        );
    }

    #[test]
    fn unknown_patch_directives_are_errors() {
        let original = pod_spec(json!({"containers": [{"name": "web"}]}));
        let error =
            try_patch(original.clone(), json!({"metadata": {"$patch": "explode"}})).unwrap_err();
        assert!(error.0.contains("unknown patch type"), "{error}");
        let error = try_patch(
            original.clone(),
            pod_spec(json!({"containers": [{"name": "web", "$patch": "explode"}]})),
        )
        .unwrap_err();
        assert!(error.0.contains("unknown patch type"), "{error}");
        assert!(
            try_patch(
                original,
                pod_spec(json!({"containers": [{"$patch": "merge"}]}))
            )
            .is_err()
        );
    }

    #[test]
    fn merge_list_items_need_the_merge_key() {
        let original = pod_spec(json!({"containers": [{"name": "web"}]}));
        for containers in [json!([{"image": "x"}]), json!([{"$patch": "delete"}])] {
            let error = try_patch(
                original.clone(),
                pod_spec(json!({"containers": containers})),
            )
            .unwrap_err();
            assert!(error.0.contains("merge key: name"), "{error}");
        }
    }

    #[test]
    fn set_element_order_must_agree_with_the_patch() {
        let original = pod_spec(json!({"containers": [{"name": "a"}, {"name": "b"}]}));
        let error = try_patch(
            original,
            pod_spec(
                json!({"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                            "containers": [{"name": "b"}, {"name": "a"}]}),
            ),
        )
        .unwrap_err();
        assert!(error.0.contains("doesn't match"), "{error}");
    }

    #[test]
    fn untyped_values_patch_like_json_merge_patch() {
        let original =
            json!({"spec": {"list": [1, 2], "map": {"a": 1, "b": {"c": 2}}, "gone": true}});
        let result = apply(
            &original,
            &json!({"spec": {"list": [{"name": "x"}], "map": {"a": null, "b": {"d": 3}}, "gone": null,
                             "fresh": {"$patch": "replace", "k": "v"}}}),
            Node::untyped(),
        )
        .unwrap();
        assert_eq!(
            result,
            json!({"spec": {"list": [{"name": "x"}], "map": {"b": {"c": 2, "d": 3}}, "fresh": {"k": "v"}}})
        );
        let result = apply(
            &original,
            &json!({"spec": {"map": {"$patch": "replace", "z": 0}}}),
            Node::untyped(),
        )
        .unwrap();
        assert_eq!(result["spec"]["map"], json!({"z": 0}));

        // A field the schema does not know is untyped below it.
        let result = patch(
            json!({"spec": {"extra": {"items": [{"name": "a"}]}}}),
            json!({"spec": {"extra": {"items": [{"name": "b"}]}}}),
        );
        assert_eq!(
            result,
            json!({"spec": {"extra": {"items": [{"name": "b"}]}}})
        );
    }

    #[test]
    fn documents_must_be_objects() {
        assert!(try_patch(json!({}), json!([1])).is_err());
        assert!(try_patch(json!("x"), json!({})).is_err());
        assert_eq!(try_patch(json!({"a": 1}), Value::Null), Ok(json!({"a": 1})));
    }
}
