//! Server-side apply and field ownership (`metadata.managedFields`), as
//! kube-apiserver does it with sigs.k8s.io/structured-merge-diff and the
//! apiserver's field manager.
//!
//! This module owns three things: merging an applied configuration into the
//! live object ([`apply`]), keeping the record of who owns which field when
//! anything else writes an object ([`record_update`]), and the words of the
//! 409 an apply gets when it would overrule someone ([`conflict_message`]).
//! Everything is plain JSON; the schema walk comes from [`Node`].
//!
//! The rules, as Kubernetes has them:
//! - An applier owns exactly the fields of its configuration. A field it
//!   applied before and leaves out now is removed from the object, unless
//!   another manager (applier or updater) still owns it.
//! - A write that changes a field someone else owns is a conflict for an
//!   apply (unless forced), and simply takes the field for any other write.
//!   Applying the value a field already has shares it.
//! - Lists merge by their `x-kubernetes-list-type`: `map` items by their
//!   keys, `set` items by value, anything else is replaced whole and owned as
//!   one field; maps merge per key unless `x-kubernetes-map-type: atomic`.
//! - `apiVersion`, `kind`, the identity and server-written parts of
//!   `metadata`, and `status` of the main resource are nobody's.
//! - Entries are written in kube-apiserver's order (appliers first, then
//!   oldest first, then by name), and a manager left owning nothing is gone.
//!
//! Deliberate simplifications:
//! - One version per resource: managers' sets are never converted between
//!   API versions, and an entry recorded at another version is compared as is.
//! - A list-map key an item leaves out takes its OpenAPI default. [`Node`]
//!   does not expose defaults, and among the built-in types the only key with
//!   one is `protocol` (`TCP`, for container and service ports), so that one
//!   is built in.
//! - Update managers are not capped at ten (no `ancient-changes` entry), and
//!   the client-side-apply migration (`last-applied-configuration`) is left
//!   to clients, which do it themselves by patching `managedFields`.
//! - A create compares against an empty object rather than a zero-valued
//!   typed one, so parents an update creates are owned with `.` even where a
//!   built-in type's Go zero value would already have had them.
//! - A `null` in an applied configuration removes the field (and is owned), as
//!   the decode into a typed object does; emptied maps and lists disappear.
//! - Duplicate items in a live granular list (which only non-apply writes can
//!   make) are compared through the first of them.
//! - An apply that changes nothing leaves the applier's `time` alone, as
//!   Kubernetes does; a manager new to the object still gets one.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use serde_json::{Map, Value, json};

use super::schema::{ListType, Node};

const APPLY: &str = "Apply";
const UPDATE: &str = "Update";

/// Why an apply was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApplyError {
    /// The applied configuration is not a JSON object.
    NotAnObject,
    /// The applied configuration sets `metadata.managedFields`, which only the server writes.
    ManagedFieldsInConfig,
    /// The configuration's `apiVersion` is not the version of the endpoint it was sent to.
    WrongVersion {
        /// What the configuration says (empty when it says nothing).
        sent: String,
        /// The endpoint's group/version.
        expected: String,
    },
    /// A list the schema cannot merge: a list-map item without any of its
    /// keys, two items with the same key, a set holding objects.
    Invalid {
        /// The list, as Kubernetes prints paths (`.spec.ports`).
        path: String,
        /// What is wrong with it, in structured-merge-diff's words.
        reason: String,
    },
    /// Fields other managers own would change; retrying with `force` takes them.
    Conflicts(Vec<Conflict>),
}

impl ApplyError {
    /// The HTTP status the API server answers with: 409 for conflicts, 400
    /// for the rest. (kube-apiserver itself answers 500 for an `Invalid`
    /// configuration today; 400 is what clients can act on.)
    pub fn status_code(&self) -> u16 {
        match self {
            ApplyError::Conflicts(_) => 409,
            _ => 400,
        }
    }

    /// The `reason` of the Status object: `Conflict` or `BadRequest`.
    pub fn reason(&self) -> &'static str {
        match self {
            ApplyError::Conflicts(_) => "Conflict",
            _ => "BadRequest",
        }
    }
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApplyError::NotAnObject => {
                f.write_str("error decoding YAML: the applied configuration is not an object")
            }
            ApplyError::ManagedFieldsInConfig => f.write_str("metadata.managedFields must be nil"),
            ApplyError::WrongVersion { sent, expected } => write!(
                f,
                "Incorrect version specified in apply patch. Specified patch version: {sent}, expected: {expected}"
            ),
            // The server puts `failed to create typed patch object (<ns>/<name>; <gvk>): ` in front.
            ApplyError::Invalid { path, reason } => write!(f, "{path}: {reason}"),
            ApplyError::Conflicts(conflicts) => f.write_str(&conflict_message(conflicts)),
        }
    }
}

impl std::error::Error for ApplyError {}

/// One field an apply would take from another manager.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The other manager's name, as in `managedFields[].manager`.
    pub manager: String,
    /// The manager as Kubernetes names it in messages: `"helm"` for an
    /// applier, `"kubectl" with subresource "scale" using apps/v1` for an
    /// updater.
    pub owner: String,
    /// The field as Kubernetes prints it: `.spec.replicas`,
    /// `.spec.template.spec.containers[name="web"].image`.
    pub path: String,
}

impl Conflict {
    /// This conflict as an entry of the 409 Status's `details.causes`.
    pub fn cause(&self) -> Value {
        json!({
            "type": "FieldManagerConflict",
            "message": format!("conflict with {}", self.owner),
            "field": self.path,
        })
    }
}

/// The message of the 409 Conflict Status Kubernetes answers, e.g.
/// `Apply failed with 1 conflict: conflict with "kubectl" using apps/v1: .spec.replicas`;
/// with more than one, the fields are listed per manager, one per line.
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [one] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            one.owner, one.path
        );
    }
    let mut by_owner: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for c in conflicts {
        by_owner.entry(&c.owner).or_default().push(&c.path);
    }
    let mut lines = Vec::new();
    for (owner, paths) in by_owner {
        lines.push(format!("conflicts with {owner}:"));
        lines.extend(paths.iter().map(|p| format!("- {p}")));
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// Server-side apply of `config` (the applied configuration, a partial
/// object) by `manager` to `live` (`None`: the object is being created).
///
/// Returns the object to store, `metadata.managedFields` included. The
/// server-written metadata (`uid`, `resourceVersion`, `creationTimestamp`,
/// `generation`) is the live object's whatever the configuration says, and
/// is the caller's to set on a create; so are defaulting, validation and
/// resetting `status`. When nothing changes the live object comes back as it
/// was.
pub fn apply(
    live: Option<&Value>,
    config: &Value,
    manager: &str,
    force: bool,
    api_version: &str,
    now: &str,
    schema: Node<'_>,
) -> Result<Value, ApplyError> {
    let fields = config.as_object().ok_or(ApplyError::NotAnObject)?;
    if fields
        .get("metadata")
        .and_then(|m| m.get("managedFields"))
        .is_some_and(|m| !m.is_null())
    {
        return Err(ApplyError::ManagedFieldsInConfig);
    }
    let sent = fields
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if sent != api_version {
        return Err(ApplyError::WrongVersion {
            sent: sent.to_owned(),
            expected: api_version.to_owned(),
        });
    }
    let ignored = ignored_fields(None);
    // Validates the configuration's lists before anything is merged.
    let applied = field_set(config, schema, true)?.recursive_difference(&ignored);

    let mut entries = live.and_then(decode_entries).unwrap_or_default();
    let live = live
        .map(without_managed_fields)
        .unwrap_or_else(|| Value::Object(Map::new()));
    let mut merged = merge(Some(&live), config, schema);

    let me = match entries
        .iter()
        .position(|e| e.is(manager, APPLY, api_version, None))
    {
        Some(i) => i,
        None => {
            entries.push(Entry::new(manager, APPLY, api_version, None));
            entries.len() - 1
        }
    };
    // The applier's new set keeps name, kind and the like until pruning is
    // done: they are what keeps `metadata` itself from looking abandoned.
    let last = std::mem::replace(&mut entries[me].set, applied);
    entries[me].api_version = api_version.to_owned();
    if !last.is_empty() {
        merged = prune(&merged, &entries, &last, schema);
    }
    keep_server_metadata(&live, &mut merged);

    let diff = compare_objects(&live, &merged, schema).excluding(&ignored);
    let taken = diff.modified.union(&diff.added);
    let mut conflicts = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if i != me {
            for path in e.set.intersection(&taken).paths() {
                conflicts.push(Conflict {
                    manager: e.manager.clone(),
                    owner: e.owner(),
                    path: path_string(&path),
                });
            }
        }
    }
    if !force && !conflicts.is_empty() {
        conflicts.sort_by(|a, b| (&a.manager, &a.owner).cmp(&(&b.manager, &b.owner)));
        return Err(ApplyError::Conflicts(conflicts));
    }
    for (i, e) in entries.iter_mut().enumerate() {
        e.set = if i == me {
            e.set.difference(&stripped_fields())
        } else {
            e.set.difference(&taken).difference(&diff.removed)
        };
    }

    let changed = !same(&live, &merged);
    if changed || entries[me].time.is_none() {
        entries[me].time = Some(now.to_owned());
    }
    let mut out = if changed { merged } else { live };
    write_entries(&mut out, entries);
    Ok(out)
}

/// Records an ordinary write (a PUT, a PATCH of any non-apply kind, a create
/// by POST) by `manager` of `old` (`None`: a create) as `new`, which the
/// caller has already computed: `new`'s `metadata.managedFields` is rewritten.
///
/// The manager (operation `Update`, `subresource` as given) gains every field
/// the write changed or added, other managers lose those, and fields the
/// write removed leave every set. A manager left owning nothing is dropped.
/// As in Kubernetes, `managedFields` the write itself changed (not through a
/// subresource) are taken as the starting point, and `[]` or `[{}]` clears
/// them; a write that leaves them out keeps the old ones.
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: Option<&str>,
    api_version: &str,
    now: &str,
    schema: Node<'_>,
) {
    let from_old = || old.and_then(decode_entries).unwrap_or_default();
    let mut entries = if subresource.is_some() {
        from_old()
    } else if is_reset(new) {
        Vec::new()
    } else {
        match decode_entries(new) {
            Some(e) if !e.is_empty() => e,
            _ => from_old(),
        }
    };
    let before = old
        .map(without_managed_fields)
        .unwrap_or_else(|| Value::Object(Map::new()));
    let after = without_managed_fields(new);
    let diff = compare_objects(&before, &after, schema).excluding(&ignored_fields(subresource));
    let taken = diff.modified.union(&diff.added);
    for e in &mut entries {
        e.set = e.set.difference(&taken).difference(&diff.removed);
    }
    entries.retain(|e| !e.set.is_empty());
    let gained = taken.difference(&stripped_fields());
    if !gained.is_empty() {
        let i = match entries
            .iter()
            .position(|e| e.is(manager, UPDATE, api_version, subresource))
        {
            Some(i) => i,
            None => {
                entries.push(Entry::new(manager, UPDATE, api_version, subresource));
                entries.len() - 1
            }
        };
        entries[i].set = entries[i].set.union(&gained);
        entries[i].time = Some(now.to_owned());
    }
    *new = after;
    write_entries(new, entries);
}

// ---------------------------------------------------------------------------
// Paths and field sets (fieldpath.Set).

/// One step of a path. The derived order (fields, keys, set items, indexes)
/// is structured-merge-diff's.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Pe {
    /// A struct field or map key.
    Field(String),
    /// A list-map item: its keys as a JSON object, names sorted.
    Key(String),
    /// A set item: its value as JSON.
    Item(String),
    /// A list position; only read from entries other servers wrote.
    Index(usize),
}

impl Pe {
    fn key<'k>(fields: impl IntoIterator<Item = (&'k str, Value)>) -> Pe {
        let mut fields: Vec<_> = fields.into_iter().collect();
        fields.sort_by(|a, b| a.0.cmp(b.0));
        // Built in sorted order so the text is canonical whether or not
        // serde_json preserves insertion order.
        let mut object = Map::new();
        for (name, value) in fields {
            object.insert(name.to_owned(), value);
        }
        Pe::Key(Value::Object(object).to_string())
    }

    fn encode(&self) -> String {
        match self {
            Pe::Field(name) => format!("f:{name}"),
            Pe::Key(key) => format!("k:{key}"),
            Pe::Item(item) => format!("v:{item}"),
            Pe::Index(i) => format!("i:{i}"),
        }
    }

    fn decode(text: &str) -> Option<Pe> {
        let rest = text.get(2..)?;
        match text.get(..2)? {
            "f:" => Some(Pe::Field(rest.to_owned())),
            "k:" => match serde_json::from_str(rest).ok()? {
                Value::Object(key) => {
                    Some(Pe::key(key.iter().map(|(k, v)| (k.as_str(), v.clone()))))
                }
                _ => None,
            },
            "v:" => serde_json::from_str::<Value>(rest)
                .ok()
                .map(|v| Pe::Item(v.to_string())),
            "i:" => rest.parse().ok().map(Pe::Index),
            _ => None,
        }
    }

    /// As structured-merge-diff prints it in messages.
    fn display(&self) -> String {
        match self {
            Pe::Field(name) => format!(".{name}"),
            Pe::Key(key) => {
                let parts: Vec<String> = match serde_json::from_str(key) {
                    Ok(Value::Object(key)) => key
                        .iter()
                        .map(|(k, v)| format!("{k}={}", go_string(v)))
                        .collect(),
                    _ => vec![key.clone()],
                };
                format!("[{}]", parts.join(","))
            }
            Pe::Item(item) => match serde_json::from_str(item) {
                Ok(v) => format!("[={}]", go_string(&v)),
                Err(_) => format!("[={item}]"),
            },
            Pe::Index(i) => format!("[{i}]"),
        }
    }
}

/// A value as Go's structured-merge-diff `value.ToString` renders it.
fn go_string(v: &Value) -> String {
    match v {
        Value::String(s) => Value::from(s.as_str()).to_string(),
        other => other.to_string(),
    }
}

fn path_string(path: &[Pe]) -> String {
    path.iter().map(Pe::display).collect()
}

/// A set of paths as a tree: `members` are the paths ending here, `children`
/// the subtrees. A node can be both (FieldsV1's `"."`). No child is empty.
#[derive(Clone, Debug, Default, PartialEq)]
struct Set {
    members: BTreeSet<Pe>,
    children: BTreeMap<Pe, Set>,
}

impl Set {
    fn insert(&mut self, path: &[Pe]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.values().all(Set::is_empty)
    }

    fn union(&self, other: &Set) -> Set {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (pe, theirs) in &other.children {
            let merged = match out.children.get(pe) {
                Some(mine) => mine.union(theirs),
                None => theirs.clone(),
            };
            out.children.insert(pe.clone(), merged);
        }
        out
    }

    fn intersection(&self, other: &Set) -> Set {
        let mut out = Set {
            members: self.members.intersection(&other.members).cloned().collect(),
            children: BTreeMap::new(),
        };
        for (pe, mine) in &self.children {
            if let Some(theirs) = other.children.get(pe) {
                out.put(pe, mine.intersection(theirs));
            }
        }
        out
    }

    /// Members of `self` not members of `other`, level by level: removing a
    /// parent path leaves its children.
    fn difference(&self, other: &Set) -> Set {
        let mut out = Set {
            members: self.members.difference(&other.members).cloned().collect(),
            children: BTreeMap::new(),
        };
        for (pe, mine) in &self.children {
            match other.children.get(pe) {
                Some(theirs) => out.put(pe, mine.difference(theirs)),
                None => out.put(pe, mine.clone()),
            }
        }
        out
    }

    /// Like [`Set::difference`], but a member of `other` takes its whole subtree.
    fn recursive_difference(&self, other: &Set) -> Set {
        let mut out = Set {
            members: self.members.difference(&other.members).cloned().collect(),
            children: BTreeMap::new(),
        };
        for (pe, mine) in &self.children {
            if other.members.contains(pe) {
                continue;
            }
            match other.children.get(pe) {
                Some(theirs) => out.put(pe, mine.recursive_difference(theirs)),
                None => out.put(pe, mine.clone()),
            }
        }
        out
    }

    fn put(&mut self, pe: &Pe, child: Set) {
        if !child.is_empty() {
            self.children.insert(pe.clone(), child);
        }
    }

    /// Every member path, in structured-merge-diff's iteration order (a
    /// level's members, then its subtrees).
    fn paths(&self) -> Vec<Vec<Pe>> {
        fn walk(set: &Set, prefix: &mut Vec<Pe>, out: &mut Vec<Vec<Pe>>) {
            for pe in &set.members {
                let mut path = prefix.clone();
                path.push(pe.clone());
                out.push(path);
            }
            for (pe, child) in &set.children {
                prefix.push(pe.clone());
                walk(child, prefix, out);
                prefix.pop();
            }
        }
        let mut out = Vec::new();
        walk(self, &mut Vec::new(), &mut out);
        out
    }

    fn to_fields_v1(&self) -> Value {
        self.encode(false)
    }

    fn encode(&self, is_member: bool) -> Value {
        let mut out = Map::new();
        if is_member && !(self.members.is_empty() && self.children.is_empty()) {
            out.insert(".".into(), json!({}));
        }
        let steps: BTreeSet<&Pe> = self.members.iter().chain(self.children.keys()).collect();
        for pe in steps {
            let member = self.members.contains(pe);
            let value = match self.children.get(pe) {
                Some(child) => child.encode(member),
                None => json!({}),
            };
            out.insert(pe.encode(), value);
        }
        Value::Object(out)
    }

    fn from_fields_v1(fields: &Value) -> Option<Set> {
        Set::decode(fields).map(|(set, _)| set)
    }

    /// The subtree and whether its own path is a member: `{}` and `"."` say so.
    fn decode(fields: &Value) -> Option<(Set, bool)> {
        let object = fields.as_object()?;
        if object.is_empty() {
            return Some((Set::default(), true));
        }
        let mut set = Set::default();
        let mut is_member = false;
        for (text, child) in object {
            if text == "." {
                is_member = true;
                continue;
            }
            let pe = Pe::decode(text)?;
            let (subtree, child_is_member) = Set::decode(child)?;
            if child_is_member {
                set.members.insert(pe.clone());
            }
            set.put(&pe, subtree);
        }
        Some((set, is_member))
    }
}

// ---------------------------------------------------------------------------
// What the schema says.

/// Whether `name` is a declared field of a struct, rather than a key of a
/// map or of untyped content: only map keys are owned as nodes of their own.
fn declares(node: &Node<'_>, name: &str) -> bool {
    !node.is_untyped() && !node.is_map() && node.allows_field(name)
}

fn list_kind(node: &Node<'_>) -> ListType {
    match node.list_type() {
        ListType::Map(keys) if keys.is_empty() => ListType::Set,
        // Without a list type, the OpenAPI-to-SMD conversion falls back on
        // the strategic merge patch annotations.
        ListType::Atomic if node.patch_strategies().contains(&"merge") => {
            match node.patch_merge_key() {
                Some(key) => ListType::Map(vec![key.to_owned()]),
                None => ListType::Set,
            }
        }
        kind => kind,
    }
}

fn key_default(name: &str) -> Option<Value> {
    (name == "protocol").then(|| Value::from("TCP"))
}

/// The path element of one item of a granular list.
fn item_pe(item: &Value, kind: &ListType) -> Result<Pe, String> {
    match kind {
        ListType::Map(keys) => {
            let fields = match item {
                Value::Object(fields) => fields,
                Value::Null => {
                    return Err("associative list with keys may not have a null element".into());
                }
                _ => return Err("associative list with keys may not have non-map elements".into()),
            };
            let present: Vec<(&str, Value)> = keys
                .iter()
                .filter_map(|k| {
                    let value = fields.get(k).cloned().or_else(|| key_default(k))?;
                    Some((k.as_str(), value))
                })
                .collect();
            if present.is_empty() {
                let quoted: Vec<String> = keys
                    .iter()
                    .map(|k| go_string(&Value::from(k.as_str())))
                    .collect();
                return Err(format!(
                    "associative list with keys has an element that omits all key fields [{}] (and doesn't have default values for any key fields)",
                    quoted.join(" ")
                ));
            }
            Ok(Pe::key(present))
        }
        ListType::Set => match item {
            Value::Object(_) => {
                Err("associative list without keys has an element that's a map type".into())
            }
            Value::Array(_) => Err("not supported: associative list with lists as elements".into()),
            Value::Null => {
                Err("associative list without keys has an element that's an explicit null".into())
            }
            scalar => Ok(Pe::Item(scalar.to_string())),
        },
        ListType::Atomic => Err("invalid indexing of non-associative list".into()),
    }
}

fn invalid(path: &[Pe], reason: String) -> ApplyError {
    ApplyError::Invalid {
        path: path_string(path),
        reason,
    }
}

// ---------------------------------------------------------------------------
// Walks over values (typed.TypedValue's ToFieldSet, Merge, Compare, RemoveItems).

/// The fields a value sets. `strict` is for applied configurations: a list
/// item without keys or a duplicate is an error rather than skipped.
fn field_set(value: &Value, node: Node<'_>, strict: bool) -> Result<Set, ApplyError> {
    let mut set = Set::default();
    collect(value, node, &mut Vec::new(), &mut set, strict)?;
    Ok(set)
}

fn collect(
    value: &Value,
    node: Node<'_>,
    path: &mut Vec<Pe>,
    set: &mut Set,
    strict: bool,
) -> Result<(), ApplyError> {
    match value {
        Value::Object(fields) => {
            if node.is_atomic_map() {
                set.insert(path);
                return Ok(());
            }
            for (name, child) in fields {
                path.push(Pe::Field(name.clone()));
                collect(child, node.field(name), path, set, strict)?;
                // A struct field is owned through its contents, unless it has
                // none; a map key is owned as such.
                let empty = child.as_object().is_some_and(Map::is_empty);
                if child.is_null() || empty || !declares(&node, name) {
                    set.insert(path);
                }
                path.pop();
            }
        }
        Value::Array(items) => {
            let kind = list_kind(&node);
            if kind == ListType::Atomic {
                set.insert(path);
                return Ok(());
            }
            let mut seen = BTreeSet::new();
            for (i, item) in items.iter().enumerate() {
                let pe = match item_pe(item, &kind) {
                    Ok(pe) => pe,
                    Err(reason) if strict => {
                        return Err(invalid(path, format!("element {i}: {reason}")));
                    }
                    Err(_) => continue,
                };
                if !seen.insert(pe.clone()) {
                    if strict {
                        return Err(invalid(
                            path,
                            format!("duplicate entries for key {}", pe.display()),
                        ));
                    }
                    continue;
                }
                path.push(pe);
                collect(item, node.items(), path, set, strict)?;
                set.insert(path);
                path.pop();
            }
        }
        _ => set.insert(path),
    }
    Ok(())
}

/// `lhs` with `rhs` (an already validated configuration) merged in.
fn merge(lhs: Option<&Value>, rhs: &Value, node: Node<'_>) -> Value {
    match (lhs, rhs) {
        (Some(Value::Object(l)), Value::Object(r))
            if !(node.is_atomic_map() || l.is_empty() && r.is_empty()) =>
        {
            let mut out = Map::new();
            for (name, lv) in l {
                match r.get(name) {
                    None => {
                        out.insert(name.clone(), lv.clone());
                    }
                    Some(Value::Null) => {}
                    Some(rv) => {
                        out.insert(name.clone(), merge(Some(lv), rv, node.field(name)));
                    }
                }
            }
            for (name, rv) in r {
                if !l.contains_key(name) && !rv.is_null() {
                    out.insert(name.clone(), without_nulls(rv));
                }
            }
            Value::Object(out)
        }
        (Some(Value::Array(l)), Value::Array(r)) if !(l.is_empty() && r.is_empty()) => {
            match list_kind(&node) {
                ListType::Atomic => without_nulls(rhs),
                kind => Value::Array(merge_list(l, r, &kind, node.items())),
            }
        }
        _ => without_nulls(rhs),
    }
}

fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// Merges granular lists as structured-merge-diff orders them: items both
/// have follow the configuration's order, items only the live list has stay
/// where they were relative to those, new items come where the configuration
/// puts them.
fn merge_list(lhs: &[Value], rhs: &[Value], kind: &ListType, item: Node<'_>) -> Vec<Value> {
    // A live item whose key cannot be read keeps its place and matches nothing.
    let l: Vec<(Pe, &Value)> = lhs
        .iter()
        .enumerate()
        .map(|(i, v)| (item_pe(v, kind).unwrap_or(Pe::Index(i)), v))
        .collect();
    let r: Vec<(Pe, &Value)> = rhs
        .iter()
        .filter_map(|v| item_pe(v, kind).ok().map(|pe| (pe, v)))
        .collect();
    // Live duplicates are not merged into: the configuration's item replaces them all.
    let mut observed_l: BTreeMap<&Pe, Option<&Value>> = BTreeMap::new();
    for (pe, v) in &l {
        observed_l
            .entry(pe)
            .and_modify(|seen| *seen = None)
            .or_insert(Some(*v));
    }
    let observed_r: BTreeMap<&Pe, &Value> = r.iter().map(|(pe, v)| (pe, *v)).collect();
    let mut shared: VecDeque<&Pe> = r
        .iter()
        .map(|(pe, _)| pe)
        .filter(|pe| observed_l.contains_key(pe))
        .collect();
    let mut next_shared = shared.pop_front();
    let mut merged_r: BTreeSet<&Pe> = BTreeSet::new();
    let mut out = Vec::with_capacity(l.len().max(r.len()));
    let (mut li, mut ri) = (0, 0);
    while li < l.len() || ri < r.len() {
        if li < l.len() && ri < r.len() {
            let pe = &l[li].0;
            if *pe == r[ri].0 {
                merged_r.insert(pe);
                out.push(merge(observed_l[pe], r[ri].1, item));
                li += 1;
                ri += 1;
                next_shared = shared.pop_front();
                continue;
            }
            if observed_r.contains_key(pe) && next_shared.is_some_and(|n| n != pe) {
                // Shared, but the configuration wants it later.
                li += 1;
                continue;
            }
        }
        if li < l.len() {
            let pe = &l[li].0;
            if !observed_r.contains_key(pe) {
                out.push(l[li].1.clone());
                li += 1;
                continue;
            } else if merged_r.contains(pe) {
                li += 1;
            }
        }
        if ri < r.len() {
            let pe = &r[ri].0;
            merged_r.insert(pe);
            out.push(merge(observed_l.get(pe).copied().flatten(), r[ri].1, item));
            ri += 1;
            if next_shared == Some(pe) {
                next_shared = shared.pop_front();
            }
        }
    }
    out
}

/// What changed between two versions of an object, as field sets.
#[derive(Default)]
struct Comparison {
    added: Set,
    modified: Set,
    removed: Set,
}

impl Comparison {
    fn excluding(self, ignored: &Set) -> Comparison {
        Comparison {
            added: self.added.recursive_difference(ignored),
            modified: self.modified.recursive_difference(ignored),
            removed: self.removed.recursive_difference(ignored),
        }
    }
}

fn compare_objects(old: &Value, new: &Value, node: Node<'_>) -> Comparison {
    let mut out = Comparison::default();
    compare(Some(old), Some(new), node, &mut Vec::new(), &mut out);
    out
}

#[derive(PartialEq)]
enum Shape {
    Map,
    List,
    Scalar,
}

fn shape(v: &Value) -> Shape {
    match v {
        Value::Object(_) => Shape::Map,
        Value::Array(_) => Shape::List,
        _ => Shape::Scalar,
    }
}

fn compare(
    l: Option<&Value>,
    r: Option<&Value>,
    node: Node<'_>,
    path: &mut Vec<Pe>,
    out: &mut Comparison,
) {
    let Some(present) = r.or(l) else {
        return;
    };
    if l.zip(r).is_some_and(|(a, b)| shape(a) != shape(b)) {
        // A field that changed shape: the old content went, new content came.
        compare(l, None, node, path, out);
        compare(None, r, node, path, out);
        return;
    }
    let empty = |v: Option<&Value>| match v {
        Some(Value::Object(m)) => m.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        _ => true,
    };
    // Empty on both sides stays a leaf, so `{}` and absent still differ.
    let granular = match shape(present) {
        Shape::Map => !(node.is_atomic_map() || empty(l) && empty(r)),
        Shape::List => list_kind(&node) != ListType::Atomic && !(empty(l) && empty(r)),
        Shape::Scalar => false,
    };
    if !granular {
        compare_leaf(l, r, path, out);
        return;
    }
    match present {
        Value::Object(_) => {
            let lm = l.and_then(Value::as_object);
            let rm = r.and_then(Value::as_object);
            let names: BTreeSet<&String> = lm.into_iter().chain(rm).flat_map(Map::keys).collect();
            for name in names {
                path.push(Pe::Field(name.clone()));
                compare(
                    lm.and_then(|m| m.get(name)),
                    rm.and_then(|m| m.get(name)),
                    node.field(name),
                    path,
                    out,
                );
                path.pop();
            }
        }
        _ => {
            let kind = list_kind(&node);
            let (li, ri) = (index_items(l, &kind), index_items(r, &kind));
            let pes: BTreeSet<&Pe> = li.keys().chain(ri.keys()).collect();
            for pe in pes {
                path.push(pe.clone());
                compare(
                    li.get(pe).copied(),
                    ri.get(pe).copied(),
                    node.items(),
                    path,
                    out,
                );
                path.pop();
            }
        }
    }
    if l.is_none() {
        out.added.insert(path);
    } else if r.is_none() {
        out.removed.insert(path);
    }
}

/// A granular list's items by path element; the first of duplicates wins.
fn index_items<'v>(list: Option<&'v Value>, kind: &ListType) -> BTreeMap<Pe, &'v Value> {
    let mut items = BTreeMap::new();
    for item in list.and_then(Value::as_array).into_iter().flatten() {
        if let Ok(pe) = item_pe(item, kind) {
            items.entry(pe).or_insert(item);
        }
    }
    items
}

fn compare_leaf(l: Option<&Value>, r: Option<&Value>, path: &[Pe], out: &mut Comparison) {
    match (l, r) {
        (None, Some(_)) => out.added.insert(path),
        (Some(_), None) => out.removed.insert(path),
        (Some(a), Some(b)) if !same(a, b) => out.modified.insert(path),
        _ => {}
    }
}

/// Equality as structured-merge-diff has it: `1` and `1.0` are the same number.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || ((x.is_f64() || y.is_f64()) && x.as_f64() == y.as_f64())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// `value` without the members of `set` (each with its subtree). `None`
/// when nothing is left: the parent then drops the field, as decoding
/// structured-merge-diff's `null` into a typed object does.
fn remove_items(value: &Value, set: &Set, node: Node<'_>) -> Option<Value> {
    match value {
        Value::Object(fields) => {
            if fields.is_empty() || node.is_atomic_map() {
                return None;
            }
            let mut out = Map::new();
            for (name, child) in fields {
                let pe = Pe::Field(name.clone());
                if set.members.contains(&pe) {
                    continue;
                }
                match set.children.get(&pe) {
                    Some(sub) => {
                        if let Some(kept) = remove_items(child, sub, node.field(name)) {
                            out.insert(name.clone(), kept);
                        }
                    }
                    None => {
                        out.insert(name.clone(), child.clone());
                    }
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        Value::Array(items) => {
            let kind = list_kind(&node);
            if items.is_empty() || kind == ListType::Atomic {
                return None;
            }
            let mut out = Vec::new();
            for item in items {
                let Ok(pe) = item_pe(item, &kind) else {
                    out.push(item.clone());
                    continue;
                };
                if set.members.contains(&pe) {
                    continue;
                }
                match set.children.get(&pe) {
                    Some(sub) => out.extend(remove_items(item, sub, node.items())),
                    None => out.push(item.clone()),
                }
            }
            (!out.is_empty()).then_some(Value::Array(out))
        }
        scalar => Some(scalar.clone()),
    }
}

fn remove_from_root(value: &Value, set: &Set, node: Node<'_>) -> Value {
    remove_items(value, set, node).unwrap_or_else(|| Value::Object(Map::new()))
}

/// `set` with every struct field on its paths a member too, so that
/// removing such a field means the field, not only its listed contents.
fn ensure_named_fields(set: &Set, node: Node<'_>) -> Set {
    let mut out = Set {
        members: set.members.clone(),
        children: BTreeMap::new(),
    };
    for (pe, child) in &set.children {
        let child_node = match pe {
            Pe::Field(name) => {
                if declares(&node, name) {
                    out.members.insert(pe.clone());
                }
                node.field(name)
            }
            Pe::Key(_) => node.items(),
            _ => Node::untyped(),
        };
        out.children
            .insert(pe.clone(), ensure_named_fields(child, child_node));
    }
    out
}

/// Removes from `merged` what the applier owned last time (`last`), no
/// longer applies, and nobody else owns either: structured-merge-diff's
/// prune, add-back-owned and add-back-dangling passes.
fn prune(merged: &Value, entries: &[Entry], last: &Set, node: Node<'_>) -> Value {
    let ensured = |set: &Set| ensure_named_fields(set, node);
    let set_of = |v: &Value| ensured(&field_set(v, node, false).unwrap_or_default());
    let last = ensured(last);
    let owned = ensured(
        &entries
            .iter()
            .fold(Set::default(), |all, e| all.union(&e.set)),
    );
    let merged_set = set_of(merged);

    let pruned = remove_from_root(merged, &last, node);
    let unowned = merged_set.difference(&set_of(&pruned).union(&owned));
    let owned_back = remove_from_root(merged, &unowned, node);
    // Only what the applier itself had goes: unowned fields that merely sat
    // under a pruned parent come back.
    let dangling = merged_set
        .difference(&set_of(&owned_back))
        .intersection(&last);
    remove_from_root(merged, &dangling, node)
}

// ---------------------------------------------------------------------------
// managedFields entries.

/// One `metadata.managedFields` entry, decoded.
#[derive(Clone, Debug)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    subresource: Option<String>,
    time: Option<String>,
    set: Set,
}

impl Entry {
    fn new(manager: &str, operation: &str, api_version: &str, subresource: Option<&str>) -> Entry {
        Entry {
            manager: manager.to_owned(),
            operation: operation.to_owned(),
            api_version: api_version.to_owned(),
            subresource: subresource.map(str::to_owned),
            time: None,
            set: Set::default(),
        }
    }

    /// Whether this is the entry of that writer. An applier has one entry
    /// whatever version it applies at; an updater one per version.
    fn is(
        &self,
        manager: &str,
        operation: &str,
        api_version: &str,
        subresource: Option<&str>,
    ) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource.as_deref() == subresource
            && (operation == APPLY || self.api_version == api_version)
    }

    fn owner(&self) -> String {
        let mut owner = go_string(&Value::from(self.manager.as_str()));
        if let Some(sub) = &self.subresource {
            owner.push_str(&format!(
                " with subresource {}",
                go_string(&Value::from(sub.as_str()))
            ));
        }
        if self.operation == UPDATE {
            owner.push_str(&format!(" using {}", self.api_version));
        }
        owner
    }

    fn decode(v: &Value) -> Option<Entry> {
        let e = v.as_object()?;
        if e.get("fieldsType").and_then(Value::as_str) != Some("FieldsV1") {
            return None;
        }
        let text = |k: &str| e.get(k).and_then(Value::as_str).map(str::to_owned);
        let set = match e.get("fieldsV1") {
            None | Some(Value::Null) => Set::default(),
            Some(fields) => Set::from_fields_v1(fields)?,
        };
        Some(Entry {
            manager: text("manager").unwrap_or_default(),
            operation: text("operation").unwrap_or_default(),
            api_version: text("apiVersion").unwrap_or_default(),
            subresource: text("subresource").filter(|s| !s.is_empty()),
            time: text("time"),
            set,
        })
    }

    fn encode(&self) -> Value {
        let mut e = Map::new();
        e.insert("manager".into(), self.manager.clone().into());
        e.insert("operation".into(), self.operation.clone().into());
        if !self.api_version.is_empty() {
            e.insert("apiVersion".into(), self.api_version.clone().into());
        }
        if let Some(time) = &self.time {
            e.insert("time".into(), time.clone().into());
        }
        e.insert("fieldsType".into(), "FieldsV1".into());
        e.insert("fieldsV1".into(), self.set.to_fields_v1());
        if let Some(sub) = &self.subresource {
            e.insert("subresource".into(), sub.clone().into());
        }
        Value::Object(e)
    }
}

/// The entries of an object; `None` when one of them cannot be read.
fn decode_entries(object: &Value) -> Option<Vec<Entry>> {
    match object.get("metadata").and_then(|m| m.get("managedFields")) {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::Array(items)) => items.iter().map(Entry::decode).collect(),
        Some(_) => None,
    }
}

/// `managedFields: []` or `[{}]`: how a client asks for the record to be cleared.
fn is_reset(object: &Value) -> bool {
    match object.get("metadata").and_then(|m| m.get("managedFields")) {
        Some(Value::Array(items)) => match items.as_slice() {
            [] => true,
            [only] => only.as_object().is_some_and(Map::is_empty),
            _ => false,
        },
        _ => false,
    }
}

/// Writes `entries` into `object`, in the order kube-apiserver sorts them:
/// appliers before updaters, then oldest first, then by name.
fn write_entries(object: &mut Value, mut entries: Vec<Entry>) {
    entries.retain(|e| !e.set.is_empty());
    // Kubernetes compares whole seconds.
    let seconds = |e: &Entry| -> String {
        let t = e.time.as_deref().unwrap_or_default();
        t.get(..19).unwrap_or(t).to_owned()
    };
    entries.sort_by(|a, b| {
        (
            &a.operation,
            seconds(a),
            &a.manager,
            &a.api_version,
            &a.subresource,
        )
            .cmp(&(
                &b.operation,
                seconds(b),
                &b.manager,
                &b.api_version,
                &b.subresource,
            ))
    });
    let Some(fields) = object.as_object_mut() else {
        return;
    };
    if entries.is_empty() {
        if let Some(Value::Object(meta)) = fields.get_mut("metadata") {
            meta.remove("managedFields");
        }
        return;
    }
    let meta = fields
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(meta) = meta {
        meta.insert(
            "managedFields".into(),
            Value::Array(entries.iter().map(Entry::encode).collect()),
        );
    }
}

fn without_managed_fields(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(Value::Object(meta)) = object.get_mut("metadata") {
        meta.remove("managedFields");
    }
    object
}

fn fields_path(names: &[&str]) -> Vec<Pe> {
    names.iter().map(|n| Pe::Field((*n).to_owned())).collect()
}

/// The paths nobody owns, taken out of a writer's set exactly (not with
/// their subtrees: `metadata` goes, `metadata.labels` stays).
fn stripped_fields() -> Set {
    let mut set = Set::default();
    for path in [
        &["apiVersion"][..],
        &["kind"],
        &["metadata"],
        &["metadata", "name"],
        &["metadata", "namespace"],
        &["metadata", "creationTimestamp"],
        &["metadata", "selfLink"],
        &["metadata", "uid"],
        &["metadata", "clusterName"],
        &["metadata", "generation"],
        &["metadata", "managedFields"],
        &["metadata", "resourceVersion"],
    ] {
        set.insert(&fields_path(path));
    }
    set
}

/// What a write through `subresource` may not touch, so nobody owns it from
/// there: `status` from the main resource, `spec` from `status`.
fn ignored_fields(subresource: Option<&str>) -> Set {
    let mut set = Set::default();
    let field = if subresource == Some("status") {
        "spec"
    } else {
        "status"
    };
    set.insert(&fields_path(&[field]));
    set
}

/// Puts back the metadata only the server writes, which a configuration can
/// neither change nor (by pruning a whole `metadata`) take away.
fn keep_server_metadata(live: &Value, merged: &mut Value) {
    const SERVER: [&str; 7] = [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "generation",
        "selfLink",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ];
    const IDENTITY: [&str; 2] = ["name", "namespace"];
    let live_meta = live.get("metadata").and_then(Value::as_object);
    let Some(fields) = merged.as_object_mut() else {
        return;
    };
    if live_meta.is_none() && !fields.contains_key("metadata") {
        return;
    }
    let Value::Object(meta) = fields
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()))
    else {
        return;
    };
    for name in SERVER {
        match live_meta.and_then(|m| m.get(name)) {
            Some(v) => meta.insert(name.to_owned(), v.clone()),
            None => meta.remove(name),
        };
    }
    for name in IDENTITY {
        if let Some(v) = live_meta.and_then(|m| m.get(name)) {
            meta.entry(name).or_insert_with(|| v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T1: &str = "2025-01-01T00:00:01Z";
    const T2: &str = "2025-01-01T00:00:02Z";
    const T3: &str = "2025-01-01T00:00:03Z";
    const T4: &str = "2025-01-01T00:00:04Z";

    /// A slice of the Kubernetes OpenAPI v3 document, extensions included.
    fn defs() -> Map<String, Value> {
        let r = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
        let string = json!({"type": "string"});
        let string_map = json!({"type": "object", "additionalProperties": {"type": "string"}});
        let meta = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
        let doc = json!({
            "io.k8s.api.apps.v1.Deployment": {"type": "object", "properties": {
                "apiVersion": string, "kind": string, "metadata": r(meta),
                "spec": r("io.k8s.api.apps.v1.DeploymentSpec"),
                "status": r("io.k8s.api.apps.v1.DeploymentStatus")}},
            "io.k8s.api.apps.v1.DeploymentSpec": {"type": "object", "properties": {
                "replicas": {"type": "integer"},
                "selector": {"allOf": [r("io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector")]},
                "template": r("io.k8s.api.core.v1.PodTemplateSpec")}},
            "io.k8s.api.apps.v1.DeploymentStatus": {"type": "object", "properties": {
                "replicas": {"type": "integer"}}},
            "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector": {"type": "object",
                "properties": {"matchLabels": string_map},
                "x-kubernetes-map-type": "atomic"},
            meta: {"type": "object", "properties": {
                "name": string, "namespace": string, "uid": string, "resourceVersion": string,
                "generation": {"type": "integer"}, "creationTimestamp": string,
                "labels": string_map, "annotations": string_map,
                "finalizers": {"type": "array", "items": string,
                    "x-kubernetes-list-type": "set", "x-kubernetes-patch-strategy": "merge"},
                "managedFields": {"type": "array", "items": {"type": "object"},
                    "x-kubernetes-list-type": "atomic"}}},
            "io.k8s.api.core.v1.PodTemplateSpec": {"type": "object", "properties": {
                "metadata": r(meta), "spec": r("io.k8s.api.core.v1.PodSpec")}},
            "io.k8s.api.core.v1.PodSpec": {"type": "object", "properties": {
                "containers": {"type": "array", "items": r("io.k8s.api.core.v1.Container"),
                    "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                    "x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge"}}},
            "io.k8s.api.core.v1.Container": {"type": "object", "properties": {
                "name": string, "image": string,
                "args": {"type": "array", "items": string, "x-kubernetes-list-type": "atomic"},
                "ports": {"type": "array", "items": r("io.k8s.api.core.v1.ContainerPort"),
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["containerPort", "protocol"]},
                "env": {"type": "array", "items": r("io.k8s.api.core.v1.EnvVar"),
                    "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]}}},
            "io.k8s.api.core.v1.ContainerPort": {"type": "object", "properties": {
                "containerPort": {"type": "integer"}, "name": string,
                "protocol": {"type": "string", "default": "TCP"}}},
            "io.k8s.api.core.v1.EnvVar": {"type": "object", "properties": {
                "name": string, "value": string}},
            "io.k8s.api.core.v1.Service": {"type": "object", "properties": {
                "apiVersion": string, "kind": string, "metadata": r(meta),
                "spec": r("io.k8s.api.core.v1.ServiceSpec")}},
            "io.k8s.api.core.v1.ServiceSpec": {"type": "object", "properties": {
                "selector": string_map,
                "ports": {"type": "array", "items": r("io.k8s.api.core.v1.ServicePort"),
                    "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["port", "protocol"]}}},
            "io.k8s.api.core.v1.ServicePort": {"type": "object", "properties": {
                "port": {"type": "integer"}, "name": string,
                "protocol": {"type": "string", "default": "TCP"},
                "targetPort": {"type": "string", "format": "int-or-string"}}},
        });
        match doc {
            Value::Object(defs) => defs,
            _ => unreachable!(),
        }
    }

    fn node<'a>(defs: &'a Map<String, Value>, name: &str) -> Node<'a> {
        Node::new(defs, &defs[name])
    }

    fn deployment(replicas: i64, image: &str) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{
                        "name": "web", "image": image, "args": ["-g", "daemon off;"],
                        "ports": [{"containerPort": 80}],
                        "env": [{"name": "A", "value": "1"}],
                    }]},
                },
            },
        })
    }

    /// A partial configuration another applier might send.
    fn partial(spec: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "web", "namespace": "default"}, "spec": spec})
    }

    fn entries(object: &Value) -> Vec<(String, String, Option<String>)> {
        object["metadata"]["managedFields"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|e| {
                        (
                            e["manager"].as_str().unwrap().to_owned(),
                            e["operation"].as_str().unwrap().to_owned(),
                            e.get("subresource")
                                .and_then(Value::as_str)
                                .map(str::to_owned),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn fields_of(object: &Value, manager: &str, operation: &str) -> Value {
        object["metadata"]["managedFields"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["manager"] == manager && e["operation"] == operation)
            .map(|e| e["fieldsV1"].clone())
            .unwrap_or(Value::Null)
    }

    fn owns(object: &Value, manager: &str, operation: &str, path: &[&str]) -> bool {
        let mut node = &fields_of(object, manager, operation);
        for step in path {
            match node.get(*step) {
                Some(next) => node = next,
                None => return false,
            }
        }
        true
    }

    fn under<'a>(base: &[&'a str], last: &'a str) -> Vec<&'a str> {
        base.iter().copied().chain([last]).collect()
    }

    fn helm_install(defs: &Map<String, Value>, config: &Value) -> Value {
        let schema = node(defs, "io.k8s.api.apps.v1.Deployment");
        apply(None, config, "helm", false, "apps/v1", T1, schema).unwrap()
    }

    #[test]
    fn apply_on_create_owns_exactly_the_configuration() {
        let defs = defs();
        let config = deployment(3, "nginx:1");
        let created = helm_install(&defs, &config);
        assert_eq!(without_managed_fields(&created), config);
        assert_eq!(
            created["metadata"]["managedFields"],
            json!([{
                "manager": "helm", "operation": "Apply", "apiVersion": "apps/v1", "time": T1,
                "fieldsType": "FieldsV1",
                "fieldsV1": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {
                        "f:replicas": {}, "f:selector": {},
                        "f:template": {
                            "f:metadata": {"f:labels": {"f:app": {}}},
                            "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {
                                ".": {}, "f:name": {}, "f:image": {}, "f:args": {},
                                "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                                    ".": {}, "f:containerPort": {}}},
                                "f:env": {"k:{\"name\":\"A\"}": {".": {}, "f:name": {}, "f:value": {}}},
                            }}},
                        },
                    },
                },
            }])
        );
    }

    #[test]
    fn applying_the_same_configuration_again_changes_nothing() {
        let defs = defs();
        let schema = node(&defs, "io.k8s.api.apps.v1.Deployment");
        let config = deployment(3, "nginx:1");
        let mut live = helm_install(&defs, &config);
        live["metadata"]["uid"] = json!("u-1");
        live["metadata"]["resourceVersion"] = json!("7");
        let again = apply(Some(&live), &config, "helm", false, "apps/v1", T2, schema).unwrap();
        assert_eq!(again, live);
    }

    #[test]
    fn a_changed_field_another_manager_owns_conflicts_unless_forced() {
        let defs = defs();
        let schema = node(&defs, "io.k8s.api.apps.v1.Deployment");
        let live = helm_install(&defs, &deployment(3, "nginx:1"));
        let theirs = partial(json!({"replicas": 5, "template": {"spec": {"containers": [
            {"name": "web", "image": "nginx:2"}]}}}));

        let err = apply(Some(&live), &theirs, "ops", false, "apps/v1", T2, schema).unwrap_err();
        assert_eq!(err.status_code(), 409);
        let ApplyError::Conflicts(conflicts) = &err else {
            panic!("{err:?}")
        };
        let paths: Vec<_> = conflicts
            .iter()
            .map(|c| (c.manager.as_str(), c.path.as_str()))
            .collect();
        assert_eq!(
            paths,
            [
                ("helm", ".spec.replicas"),
                ("helm", ".spec.template.spec.containers[name=\"web\"].image")
            ]
        );
        assert_eq!(
            err.to_string(),
            "Apply failed with 2 conflicts: conflicts with \"helm\":\n- .spec.replicas\n- .spec.template.spec.containers[name=\"web\"].image"
        );

        let forced = apply(Some(&live), &theirs, "ops", true, "apps/v1", T2, schema).unwrap();
        assert_eq!(forced["spec"]["replicas"], 5);
        assert_eq!(
            forced["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx:2"
        );
        let web = [
            "f:spec",
            "f:template",
            "f:spec",
            "f:containers",
            "k:{\"name\":\"web\"}",
        ];
        assert!(!owns(&forced, "helm", "Apply", &["f:spec", "f:replicas"]));
        assert!(!owns(&forced, "helm", "Apply", &under(&web, "f:image")));
        assert!(owns(&forced, "helm", "Apply", &under(&web, "f:args")));
        assert!(owns(&forced, "ops", "Apply", &["f:spec", "f:replicas"]));
        assert!(owns(&forced, "ops", "Apply", &under(&web, "f:image")));
    }

    #[test]
    fn applying_the_live_value_shares_the_field() {
        let defs = defs();
        let schema = node(&defs, "io.k8s.api.apps.v1.Deployment");
        let live = helm_install(&defs, &deployment(3, "nginx:1"));
        let shared = apply(
            Some(&live),
            &partial(json!({"replicas": 3})),
            "ops",
            false,
            "apps/v1",
            T2,
            schema,
        )
        .unwrap();
        assert_eq!(
            without_managed_fields(&shared),
            without_managed_fields(&live)
        );
        assert!(owns(&shared, "helm", "Apply", &["f:spec", "f:replicas"]));
        assert!(owns(&shared, "ops", "Apply", &["f:spec", "f:replicas"]));
        assert_eq!(shared["metadata"]["managedFields"][1]["time"], T2);
    }

    #[test]
    fn a_field_left_out_is_removed_unless_someone_else_owns_it() {
        let defs = defs();
        let schema = node(&defs, "io.k8s.api.apps.v1.Deployment");
        let mut config = deployment(3, "nginx:1");
        config["metadata"]["annotations"] = json!({"note": "hi", "team": "a"});
        let live = helm_install(&defs, &config);
        let live = apply(
            Some(&live),
            &json!({"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "web", "annotations": {"note": "hi"}}}),
            "ops",
            false,
            "apps/v1",
            T2,
            schema,
        )
        .unwrap();

        let mut next = deployment(3, "nginx:1");
        next["spec"]["template"]["spec"]["containers"][0]
            .as_object_mut()
            .unwrap()
            .remove("args");
        let upgraded = apply(Some(&live), &next, "helm", false, "apps/v1", T3, schema).unwrap();
        assert_eq!(upgraded["metadata"]["annotations"], json!({"note": "hi"}));
        assert!(
            upgraded["spec"]["template"]["spec"]["containers"][0]
                .get("args")
                .is_none()
        );
        assert!(!owns(
            &upgraded,
            "helm",
            "Apply",
            &["f:metadata", "f:annotations"]
        ));
        assert!(owns(
            &upgraded,
            "ops",
            "Apply",
            &["f:metadata", "f:annotations", "f:note"]
        ));
        assert_eq!(upgraded["metadata"]["name"], "web");
        assert_eq!(upgraded["metadata"]["namespace"], "default");

        // With nobody else on the annotations, dropping them drops the map.
        let alone = apply(
            Some(&helm_install(&defs, &config)),
            &deployment(3, "nginx:1"),
            "helm",
            false,
            "apps/v1",
            T2,
            schema,
        )
        .unwrap();
        assert!(alone["metadata"].get("annotations").is_none());
        assert_eq!(alone["metadata"]["labels"], json!({"app": "web"}));
    }

    #[test]
    fn list_maps_merge_by_key_and_prune_only_what_the_applier_alone_had() {
        let defs = defs();
        let schema = node(&defs, "io.k8s.api.apps.v1.Deployment");
        let mut config = deployment(3, "nginx:1");
        config["spec"]["template"]["spec"]["containers"] = json!([
            {"name": "web", "image": "nginx:1",
             "ports": [{"containerPort": 80}, {"containerPort": 443, "protocol": "TCP"}],
             "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
            {"name": "sidecar", "image": "envoy"},
        ]);
        let live = helm_install(&defs, &config);

        // `kubectl edit`: adds a container and a variable.
        let mut edited = live.clone();
        let containers = &mut edited["spec"]["template"]["spec"]["containers"];
        containers[0]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "C", "value": "3"}));
        containers
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "debug", "image": "busybox"}));
        record_update(
            Some(&live),
            &mut edited,
            "kubectl-edit",
            None,
            "apps/v1",
            T2,
            schema,
        );
        let debug = [
            "f:spec",
            "f:template",
            "f:spec",
            "f:containers",
            "k:{\"name\":\"debug\"}",
        ];
        assert!(owns(&edited, "kubectl-edit", "Update", &under(&debug, ".")));
        assert!(owns(
            &edited,
            "kubectl-edit",
            "Update",
            &under(&debug, "f:image")
        ));

        let mut next = deployment(3, "nginx:1");
        next["spec"]["template"]["spec"]["containers"] = json!([
            {"name": "web", "image": "nginx:1", "ports": [{"containerPort": 80}],
             "env": [{"name": "A", "value": "1"}]},
        ]);
        let upgraded = apply(Some(&edited), &next, "helm", false, "apps/v1", T3, schema).unwrap();
        assert_eq!(
            upgraded["spec"]["template"]["spec"]["containers"],
            json!([
                {"name": "web", "image": "nginx:1", "ports": [{"containerPort": 80}],
                 "env": [{"name": "A", "value": "1"}, {"name": "C", "value": "3"}]},
                {"name": "debug", "image": "busybox"},
            ])
        );

        // Service ports are keyed by port and protocol together.
        let svc = node(&defs, "io.k8s.api.core.v1.Service");
        let service = |ports: Value| {
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "dns"},
                   "spec": {"selector": {"app": "dns"}, "ports": ports}})
        };
        let both = service(json!([{"port": 53, "protocol": "UDP"}, {"port": 53}]));
        let live = apply(None, &both, "helm", false, "v1", T1, svc).unwrap();
        assert!(owns(
            &live,
            "helm",
            "Apply",
            &["f:spec", "f:ports", "k:{\"port\":53,\"protocol\":\"UDP\"}"]
        ));
        assert!(owns(
            &live,
            "helm",
            "Apply",
            &["f:spec", "f:ports", "k:{\"port\":53,\"protocol\":\"TCP\"}"]
        ));
        let udp = apply(
            Some(&live),
            &service(json!([{"port": 53, "protocol": "UDP"}])),
            "helm",
            false,
            "v1",
            T2,
            svc,
        )
        .unwrap();
        assert_eq!(
            udp["spec"]["ports"],
            json!([{"port": 53, "protocol": "UDP"}])
        );
    }

    #[test]
    fn sets_merge_by_value_and_atomic_lists_are_one_field() {
        let defs = defs();
        let schema = node(&defs, "io.k8s.api.apps.v1.Deployment");
        let mut config = deployment(3, "nginx:1");
        config["metadata"]["finalizers"] = json!(["a", "b"]);
        let live = helm_install(&defs, &config);
        assert_eq!(
            fields_of(&live, "helm", "Apply")["f:metadata"]["f:finalizers"],
            json!({"v:\"a\"": {}, "v:\"b\"": {}})
        );
        let other = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                           "metadata": {"name": "web", "finalizers": ["c"]}});
        let live = apply(Some(&live), &other, "ops", false, "apps/v1", T2, schema).unwrap();
        assert_eq!(live["metadata"]["finalizers"], json!(["a", "b", "c"]));
        config["metadata"]["finalizers"] = json!(["a"]);
        let live = apply(Some(&live), &config, "helm", false, "apps/v1", T3, schema).unwrap();
        assert_eq!(live["metadata"]["finalizers"], json!(["a", "c"]));

        // `args` is atomic: replaced whole by an edit, which then owns all of it.
        let mut edited = live.clone();
        edited["spec"]["template"]["spec"]["containers"][0]["args"] = json!(["-x"]);
        record_update(
            Some(&live),
            &mut edited,
            "kubectl-edit",
            None,
            "apps/v1",
            T4,
            schema,
        );
        let web = [
            "f:spec",
            "f:template",
            "f:spec",
            "f:containers",
            "k:{\"name\":\"web\"}",
        ];
        assert_eq!(
            fields_of(&edited, "kubectl-edit", "Update"),
            json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {"f:args": {}}}}}}})
        );
        assert!(!owns(&edited, "helm", "Apply", &under(&web, "f:args")));
        let err = apply(Some(&edited), &config, "helm", false, "apps/v1", T4, schema).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: .spec.template.spec.containers[name=\"web\"].args"
        );
        let forced = apply(Some(&edited), &config, "helm", true, "apps/v1", T4, schema).unwrap();
        assert_eq!(
            forced["spec"]["template"]["spec"]["containers"][0]["args"],
            json!(["-g", "daemon off;"])
        );
    }

    #[test]
    fn kubectl_scale_owns_replicas_until_helm_applies_the_same_value() {
        let defs = defs();
        let schema = node(&defs, "io.k8s.api.apps.v1.Deployment");
        let live = helm_install(&defs, &deployment(3, "nginx:1"));
        let mut scaled = live.clone();
        scaled["spec"]["replicas"] = json!(5);
        record_update(
            Some(&live),
            &mut scaled,
            "kubectl",
            Some("scale"),
            "apps/v1",
            T2,
            schema,
        );
        assert_eq!(
            scaled["metadata"]["managedFields"][1],
            json!({"manager": "kubectl", "operation": "Update", "apiVersion": "apps/v1", "time": T2,
                   "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}},
                   "subresource": "scale"})
        );
        assert!(!owns(&scaled, "helm", "Apply", &["f:spec", "f:replicas"]));

        let err = apply(
            Some(&scaled),
            &deployment(3, "nginx:1"),
            "helm",
            false,
            "apps/v1",
            T3,
            schema,
        )
        .unwrap_err();
        assert_eq!(
            err,
            ApplyError::Conflicts(vec![Conflict {
                manager: "kubectl".into(),
                owner: "\"kubectl\" with subresource \"scale\" using apps/v1".into(),
                path: ".spec.replicas".into(),
            }])
        );
        assert_eq!(
            err.to_string(),
            "Apply failed with 1 conflict: conflict with \"kubectl\" with subresource \"scale\" using apps/v1: .spec.replicas"
        );
        let ApplyError::Conflicts(c) = &err else {
            unreachable!()
        };
        assert_eq!(
            c[0].cause(),
            json!({"type": "FieldManagerConflict", "field": ".spec.replicas",
                   "message": "conflict with \"kubectl\" with subresource \"scale\" using apps/v1"})
        );

        let same = apply(
            Some(&scaled),
            &deployment(5, "nginx:1"),
            "helm",
            false,
            "apps/v1",
            T3,
            schema,
        )
        .unwrap();
        assert_eq!(same["spec"]["replicas"], 5);
        assert!(owns(&same, "helm", "Apply", &["f:spec", "f:replicas"]));
        assert!(owns(&same, "kubectl", "Update", &["f:spec", "f:replicas"]));
    }

    #[test]
    fn updaters_left_owning_nothing_are_dropped_and_entries_are_sorted() {
        let defs = defs();
        let schema = node(&defs, "io.k8s.api.apps.v1.Deployment");
        // Created by POST, then applied: appliers sort before updaters.
        let mut created = deployment(3, "nginx:1");
        record_update(
            None,
            &mut created,
            "kubectl-create",
            None,
            "apps/v1",
            T1,
            schema,
        );
        let applied = apply(
            Some(&created),
            &deployment(3, "nginx:1"),
            "helm",
            false,
            "apps/v1",
            T2,
            schema,
        )
        .unwrap();
        assert_eq!(
            entries(&applied),
            [
                ("helm".into(), "Apply".into(), None),
                ("kubectl-create".into(), "Update".into(), None)
            ]
        );

        let mut edited = applied.clone();
        edited["spec"]["replicas"] = json!(4);
        record_update(
            Some(&applied),
            &mut edited,
            "kubectl-edit",
            None,
            "apps/v1",
            T3,
            schema,
        );
        let mut relabeled = edited.clone();
        relabeled["metadata"]["labels"]["tier"] = json!("front");
        record_update(
            Some(&edited),
            &mut relabeled,
            "kubectl-create",
            None,
            "apps/v1",
            T4,
            schema,
        );
        let names: Vec<_> = entries(&relabeled).into_iter().map(|e| e.0).collect();
        assert_eq!(names, ["helm", "kubectl-edit", "kubectl-create"]);

        // Forcing replicas back takes kubectl-edit's only field: its entry goes.
        let forced = apply(
            Some(&relabeled),
            &deployment(3, "nginx:1"),
            "helm",
            true,
            "apps/v1",
            T4,
            schema,
        )
        .unwrap();
        let names: Vec<_> = entries(&forced).into_iter().map(|e| e.0).collect();
        assert_eq!(names, ["helm", "kubectl-create"]);
    }

    #[test]
    fn an_update_owns_what_it_adds_and_removed_fields_leave_every_set() {
        let defs = defs();
        let schema = node(&defs, "io.k8s.api.apps.v1.Deployment");
        let mut created = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}, "uid": "u-1"},
            "spec": {"replicas": 1}, "status": {"replicas": 0}});
        record_update(
            None,
            &mut created,
            "kubectl-create",
            None,
            "apps/v1",
            T1,
            schema,
        );
        assert_eq!(
            fields_of(&created, "kubectl-create", "Update"),
            json!({"f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                   "f:spec": {".": {}, "f:replicas": {}}})
        );
        let applied = apply(
            Some(&created),
            &json!({"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "web", "labels": {"app": "web"}}}),
            "helm",
            false,
            "apps/v1",
            T2,
            schema,
        )
        .unwrap();
        assert!(owns(
            &applied,
            "helm",
            "Apply",
            &["f:metadata", "f:labels", "f:app"]
        ));

        // A patch dropping the label takes it from both owners.
        let mut patched = applied.clone();
        patched["metadata"]["labels"] = json!({"tier": "front"});
        record_update(
            Some(&applied),
            &mut patched,
            "kubectl-patch",
            None,
            "apps/v1",
            T3,
            schema,
        );
        assert!(fields_of(&patched, "helm", "Apply").is_null());
        assert!(!owns(
            &patched,
            "kubectl-create",
            "Update",
            &["f:metadata", "f:labels", "f:app"]
        ));
        assert!(owns(
            &patched,
            "kubectl-patch",
            "Update",
            &["f:metadata", "f:labels", "f:tier"]
        ));

        // A write that changes nothing leaves the record as it was.
        let mut same = patched.clone();
        record_update(
            Some(&patched),
            &mut same,
            "kubectl-patch",
            None,
            "apps/v1",
            T4,
            schema,
        );
        assert_eq!(same, patched);
    }

    #[test]
    fn managed_fields_a_write_sets_are_taken_and_an_empty_list_clears_them() {
        let defs = defs();
        let schema = node(&defs, "io.k8s.api.apps.v1.Deployment");
        let mut live = deployment(3, "nginx:1");
        record_update(
            None,
            &mut live,
            "kubectl-client-side-apply",
            None,
            "apps/v1",
            T1,
            schema,
        );
        // What `kubectl apply --server-side` patches in when migrating from client-side apply.
        let mut migrated = live.clone();
        migrated["metadata"]["managedFields"][0]["manager"] = json!("kubectl");
        migrated["metadata"]["managedFields"][0]["operation"] = json!("Apply");
        record_update(
            Some(&live),
            &mut migrated,
            "kubectl",
            None,
            "apps/v1",
            T2,
            schema,
        );
        assert_eq!(
            entries(&migrated),
            [("kubectl".into(), "Apply".into(), None)]
        );
        // Applying the same configuration changes nothing but the set's shape.
        let again = apply(
            Some(&migrated),
            &deployment(3, "nginx:1"),
            "kubectl",
            false,
            "apps/v1",
            T3,
            schema,
        )
        .unwrap();
        assert_eq!(
            without_managed_fields(&again),
            without_managed_fields(&migrated)
        );
        assert_eq!(entries(&again), [("kubectl".into(), "Apply".into(), None)]);
        assert_eq!(again["metadata"]["managedFields"][0]["time"], T1);

        let mut cleared = migrated.clone();
        cleared["metadata"]["managedFields"] = json!([]);
        record_update(
            Some(&migrated),
            &mut cleared,
            "kubectl",
            None,
            "apps/v1",
            T3,
            schema,
        );
        assert!(cleared["metadata"].get("managedFields").is_none());

        // Leaving them out is not clearing them.
        let mut replaced = without_managed_fields(&migrated);
        record_update(
            Some(&migrated),
            &mut replaced,
            "kubectl-replace",
            None,
            "apps/v1",
            T3,
            schema,
        );
        assert_eq!(replaced, migrated);
    }

    #[test]
    fn invalid_configurations_are_refused() {
        let defs = defs();
        let schema = node(&defs, "io.k8s.api.apps.v1.Deployment");
        let run =
            |config: &Value| apply(None, config, "helm", false, "apps/v1", T1, schema).unwrap_err();

        let err = run(&json!(["not", "an", "object"]));
        assert_eq!(
            (err.clone(), err.status_code()),
            (ApplyError::NotAnObject, 400)
        );

        let err = run(&partial(
            json!({"template": {"spec": {"containers": [{"image": "nginx"}]}}}),
        ));
        assert_eq!(err.status_code(), 400);
        assert_eq!(
            err.to_string(),
            ".spec.template.spec.containers: element 0: associative list with keys has an element that omits all key fields [\"name\"] (and doesn't have default values for any key fields)"
        );

        let err = run(&partial(json!({"template": {"spec": {"containers": [
            {"name": "web", "ports": [{"containerPort": 80}, {"containerPort": 80, "protocol": "TCP"}]}]}}})));
        assert_eq!(
            err.to_string(),
            ".spec.template.spec.containers[name=\"web\"].ports: duplicate entries for key [containerPort=80,protocol=\"TCP\"]"
        );

        let mut with_fields = deployment(1, "nginx");
        with_fields["metadata"]["managedFields"] = json!([]);
        assert_eq!(run(&with_fields), ApplyError::ManagedFieldsInConfig);

        let mut wrong = deployment(1, "nginx");
        wrong["apiVersion"] = json!("apps/v1beta1");
        assert_eq!(
            run(&wrong).to_string(),
            "Incorrect version specified in apply patch. Specified patch version: apps/v1beta1, expected: apps/v1"
        );
    }

    #[test]
    fn server_metadata_and_status_belong_to_nobody() {
        let defs = defs();
        let schema = node(&defs, "io.k8s.api.apps.v1.Deployment");
        let mut live = helm_install(&defs, &deployment(3, "nginx:1"));
        live["metadata"]["creationTimestamp"] = json!(T1);
        live["status"] = json!({"replicas": 3});
        // As `kubectl create --dry-run -o yaml` writes manifests.
        let mut config = deployment(3, "nginx:1");
        config["metadata"]["creationTimestamp"] = Value::Null;
        config["status"] = json!({});
        let again = apply(Some(&live), &config, "helm", false, "apps/v1", T2, schema).unwrap();
        assert_eq!(again, live);
        let helm = fields_of(&again, "helm", "Apply");
        assert!(helm.get("f:status").is_none());
        assert!(helm["f:metadata"].get("f:creationTimestamp").is_none());
    }

    #[test]
    fn an_upgrade_changing_only_its_own_fields_just_applies() {
        let defs = defs();
        let schema = node(&defs, "io.k8s.api.apps.v1.Deployment");
        let live = helm_install(&defs, &deployment(3, "nginx:1"));
        let upgraded = apply(
            Some(&live),
            &deployment(3, "nginx:2"),
            "helm",
            false,
            "apps/v1",
            T2,
            schema,
        )
        .unwrap();
        assert_eq!(
            upgraded["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx:2"
        );
        assert_eq!(upgraded["metadata"]["managedFields"][0]["time"], T2);
        assert_eq!(
            fields_of(&upgraded, "helm", "Apply"),
            fields_of(&live, "helm", "Apply")
        );
    }

    #[test]
    fn untyped_maps_are_granular_and_lists_atomic() {
        let config = json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w"},
            "spec": {"size": 1, "nested": {"a": 1}, "list": [1, 2]}});
        let live = apply(
            None,
            &config,
            "helm",
            false,
            "example.com/v1",
            T1,
            Node::untyped(),
        )
        .unwrap();
        assert_eq!(
            fields_of(&live, "helm", "Apply"),
            json!({"f:spec": {".": {}, "f:size": {}, "f:list": {},
                              "f:nested": {".": {}, "f:a": {}}}})
        );
        let config = json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w"}, "spec": {"list": [3]}});
        let next = apply(
            Some(&live),
            &config,
            "helm",
            false,
            "example.com/v1",
            T2,
            Node::untyped(),
        )
        .unwrap();
        assert_eq!(next["spec"], json!({"list": [3]}));
    }

    #[test]
    fn fields_v1_round_trips() {
        let fields = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {"f:ports": {"k:{\"port\":53,\"protocol\":\"UDP\"}": {".": {}, "f:port": {}}},
                       "f:finalizers": {"v:\"a\"": {}}, "i:0": {}},
        });
        let set = Set::from_fields_v1(&fields).unwrap();
        assert_eq!(set.to_fields_v1(), fields);
        let printed: Vec<String> = set.paths().iter().map(|p| path_string(p)).collect();
        assert_eq!(
            printed,
            [
                ".metadata.labels",
                ".metadata.labels.app",
                ".spec[0]",
                ".spec.finalizers[=\"a\"]",
                ".spec.ports[port=53,protocol=\"UDP\"]",
                ".spec.ports[port=53,protocol=\"UDP\"].port",
            ]
        );
        assert!(Set::from_fields_v1(&json!({"x:nope": {}})).is_none());
    }

    #[test]
    fn conflict_messages_group_by_manager() {
        let c = |m: &str, owner: &str, p: &str| Conflict {
            manager: m.into(),
            owner: owner.into(),
            path: p.into(),
        };
        assert_eq!(
            conflict_message(&[
                c("kubectl", "\"kubectl\" using apps/v1", ".spec.replicas"),
                c("argo", "\"argo\"", ".spec.paused"),
                c(
                    "kubectl",
                    "\"kubectl\" using apps/v1",
                    ".metadata.labels.app"
                ),
            ]),
            "Apply failed with 3 conflicts: conflicts with \"argo\":\n- .spec.paused\nconflicts with \"kubectl\" using apps/v1:\n- .spec.replicas\n- .metadata.labels.app"
        );
    }
}
