//! The stand-in API server's object store: every object as JSON, a global
//! resourceVersion, and an event log that watches read.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::SystemTime;

use rand::Rng as _;
use serde_json::{Value, json};

use super::defaults;
use super::resources::{self, ResourceType};

/// Whether `group` is one whose kinds [`defaults`] knows (custom resources
/// are never defaulted here).
fn is_core_group(group: &str) -> bool {
    matches!(group, "" | "apps" | "batch")
}

/// Where an object lives.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjKey {
    /// API group ("" for core).
    pub group: String,
    /// Plural resource name.
    pub plural: String,
    /// Namespace ("" for cluster-scoped objects).
    pub namespace: String,
    /// Object name.
    pub name: String,
}

/// What happened to an object, as a watch reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Removed.
    Deleted,
}

impl EventKind {
    /// The word a watch stream uses.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Added => "ADDED",
            EventKind::Modified => "MODIFIED",
            EventKind::Deleted => "DELETED",
        }
    }
}

/// One change.
#[derive(Clone, Debug)]
pub struct Event {
    /// The resourceVersion of the change.
    pub rv: u64,
    /// What happened.
    pub kind: EventKind,
    /// Which object.
    pub key: ObjKey,
    /// The object after the change (before it, for deletions).
    pub object: Value,
}

/// An API error, answered as a `Status` object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub code: u16,
    /// Kubernetes reason (`NotFound`, `AlreadyExists`, `Conflict`, …).
    pub reason: &'static str,
    /// Human message.
    pub message: String,
}

impl ApiError {
    /// 404.
    pub fn not_found(ty: &ResourceType, name: &str) -> Self {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("{} \"{name}\" not found", qualified(ty)),
        }
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            code: 400,
            reason: "BadRequest",
            message: message.into(),
        }
    }

    /// 422.
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError {
            code: 422,
            reason: "Invalid",
            message: message.into(),
        }
    }

    /// The `Status` body.
    pub fn status(&self) -> Value {
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        })
    }
}

fn qualified(ty: &ResourceType) -> String {
    if ty.group.is_empty() {
        ty.plural.clone()
    } else {
        format!("{}.{}", ty.plural, ty.group)
    }
}

const LOG_LIMIT: usize = 20_000;

struct Inner {
    rv: u64,
    types: Vec<ResourceType>,
    objects: BTreeMap<ObjKey, Value>,
    log: VecDeque<Event>,
    /// When each terminating namespace began terminating.
    terminating: std::collections::HashMap<String, std::time::Instant>,
}

/// How long a namespace stays `Terminating` before its content goes, as
/// the namespace controller takes a moment on a real cluster.
const TERMINATING_FOR: std::time::Duration = std::time::Duration::from_millis(500);

/// The object store of one cluster.
pub struct Store {
    inner: Mutex<Inner>,
    changed: tokio::sync::watch::Sender<u64>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

/// The current time as RFC 3339 with seconds, as Kubernetes writes timestamps.
pub fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

fn uid() -> String {
    let mut rng = rand::rng();
    let b: [u8; 16] = rng.random();
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        u16::from_be_bytes([b[4], b[5]]),
        u16::from_be_bytes([b[6], b[7]]) & 0xfff,
        u16::from_be_bytes([b[8], b[9]]) & 0xfff,
        u64::from_be_bytes([0, 0, b[10], b[11], b[12], b[13], b[14], b[15]])
    )
}

/// Five lower-case letters and digits, as `generateName` and pod names use.
pub fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

impl Store {
    /// An empty store serving the built-in types.
    pub fn new() -> Self {
        Store {
            inner: Mutex::new(Inner {
                rv: 1,
                types: resources::builtins(),
                objects: BTreeMap::new(),
                log: VecDeque::new(),
                terminating: std::collections::HashMap::new(),
            }),
            changed: tokio::sync::watch::channel(1).0,
        }
    }

    /// A receiver told of every change.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// The served types.
    pub fn types(&self) -> Vec<ResourceType> {
        self.inner.lock().unwrap().types.clone()
    }

    /// The type served at `group/version/plural`.
    pub fn find_type(&self, group: &str, version: &str, plural: &str) -> Option<ResourceType> {
        self.inner
            .lock()
            .unwrap()
            .types
            .iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
            .cloned()
    }

    /// The served type `plural` of `group`, whatever its version.
    pub fn resource(&self, group: &str, plural: &str) -> Option<ResourceType> {
        self.inner
            .lock()
            .unwrap()
            .types
            .iter()
            .find(|t| t.group == group && t.plural == plural)
            .cloned()
    }

    /// The type of `kind` in `apiVersion`.
    pub fn type_of_kind(&self, api_version: &str, kind: &str) -> Option<ResourceType> {
        self.inner
            .lock()
            .unwrap()
            .types
            .iter()
            .find(|t| t.api_version() == api_version && t.kind == kind)
            .cloned()
    }

    /// The current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.inner.lock().unwrap().rv
    }

    fn key(ty: &ResourceType, namespace: &str, name: &str) -> ObjKey {
        ObjKey {
            group: ty.group.clone(),
            plural: ty.plural.clone(),
            namespace: if ty.namespaced {
                namespace.to_owned()
            } else {
                String::new()
            },
            name: name.to_owned(),
        }
    }

    fn record(inner: &mut Inner, kind: EventKind, key: ObjKey, object: Value) -> u64 {
        inner.rv += 1;
        let rv = inner.rv;
        inner.log.push_back(Event {
            rv,
            kind,
            key,
            object,
        });
        while inner.log.len() > LOG_LIMIT {
            inner.log.pop_front();
        }
        rv
    }

    fn refresh_types(inner: &mut Inner) {
        let mut types = resources::builtins();
        for (key, crd) in &inner.objects {
            if key.group == "apiextensions.k8s.io" && key.plural == "customresourcedefinitions" {
                for ty in resources::from_crd(crd) {
                    if !types.iter().any(|t| {
                        t.group == ty.group && t.version == ty.version && t.plural == ty.plural
                    }) {
                        types.push(ty);
                    }
                }
            }
        }
        inner.types = types;
    }

    /// Reads one object.
    pub fn get(&self, ty: &ResourceType, namespace: &str, name: &str) -> Result<Value, ApiError> {
        let inner = self.inner.lock().unwrap();
        inner
            .objects
            .get(&Self::key(ty, namespace, name))
            .map(|o| with_type(o, ty))
            .ok_or_else(|| ApiError::not_found(ty, name))
    }

    /// Every object of a type, in one namespace or all, and the list's resourceVersion.
    pub fn list(&self, ty: &ResourceType, namespace: Option<&str>) -> (u64, Vec<Value>) {
        let inner = self.inner.lock().unwrap();
        let items = inner
            .objects
            .iter()
            .filter(|(k, _)| k.group == ty.group && k.plural == ty.plural)
            .filter(|(k, _)| namespace.is_none_or(|ns| !ty.namespaced || k.namespace == ns))
            .map(|(_, o)| with_type(o, ty))
            .collect();
        (inner.rv, items)
    }

    /// Changes after `rv` to objects of `ty`, oldest first; `None` when the
    /// log no longer reaches back that far (the watch must be restarted).
    pub fn events_since(&self, ty: &ResourceType, rv: u64) -> Option<(u64, Vec<Event>)> {
        let inner = self.inner.lock().unwrap();
        if let Some(first) = inner.log.front() {
            if first.rv > rv + 1 && rv + 1 < inner.rv {
                return None;
            }
        }
        let events = inner
            .log
            .iter()
            .filter(|e| e.rv > rv && e.key.group == ty.group && e.key.plural == ty.plural)
            .map(|e| Event {
                object: with_type(&e.object, ty),
                ..e.clone()
            })
            .collect();
        Some((inner.rv, events))
    }

    /// Creates an object; fills in uid, timestamps, resourceVersion and generation.
    pub fn create(
        &self,
        ty: &ResourceType,
        namespace: &str,
        mut object: Value,
    ) -> Result<Value, ApiError> {
        if !object.is_object() {
            return Err(ApiError::bad_request("the body is not an object"));
        }
        let meta = object["metadata"].take();
        let mut meta = if meta.is_object() { meta } else { json!({}) };
        if meta["name"].as_str().is_none_or(str::is_empty) {
            match meta["generateName"].as_str() {
                Some(prefix) => meta["name"] = json!(format!("{prefix}{}", random_suffix())),
                None => {
                    return Err(ApiError::invalid(format!(
                        "{} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                        ty.kind
                    )));
                }
            }
        }
        let name = meta["name"].as_str().unwrap_or_default().to_owned();
        let mut inner = self.inner.lock().unwrap();
        if ty.namespaced {
            if namespace.is_empty() {
                return Err(ApiError::bad_request("a namespace is required"));
            }
            let ns_key = ObjKey {
                group: String::new(),
                plural: "namespaces".into(),
                namespace: String::new(),
                name: namespace.to_owned(),
            };
            match inner.objects.get(&ns_key) {
                None => {
                    return Err(ApiError {
                        code: 404,
                        reason: "NotFound",
                        message: format!("namespaces \"{namespace}\" not found"),
                    });
                }
                Some(ns) if !ns["metadata"]["deletionTimestamp"].is_null() => {
                    return Err(ApiError {
                        code: 403,
                        reason: "Forbidden",
                        message: format!(
                            "{} \"{name}\" is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
                            qualified(ty)
                        ),
                    });
                }
                Some(_) => {}
            }
            meta["namespace"] = json!(namespace);
        } else if let Some(m) = meta.as_object_mut() {
            m.remove("namespace");
        }
        let key = Self::key(ty, namespace, &name);
        if inner.objects.contains_key(&key) {
            return Err(ApiError {
                code: 409,
                reason: "AlreadyExists",
                message: format!("{} \"{name}\" already exists", qualified(ty)),
            });
        }
        meta["uid"] = json!(uid());
        meta["creationTimestamp"] = json!(now());
        if object.get("spec").is_some() {
            meta["generation"] = json!(1);
        }
        if let Some(m) = meta.as_object_mut() {
            m.remove("resourceVersion");
            m.remove("deletionTimestamp");
        }
        object["metadata"] = meta;
        object["apiVersion"] = json!(ty.api_version());
        object["kind"] = json!(ty.kind);
        if is_core_group(&ty.group) {
            defaults::apply(&ty.kind, &mut object);
        }
        if key.plural == "customresourcedefinitions" {
            resources::establish(&mut object);
        }
        let rv = inner.rv + 1;
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        inner.objects.insert(key.clone(), object.clone());
        Self::record(&mut inner, EventKind::Added, key.clone(), object.clone());
        if key.plural == "customresourcedefinitions" {
            Self::refresh_types(&mut inner);
        }
        drop(inner);
        self.changed.send_replace(rv);
        Ok(object)
    }

    /// Replaces an object (PUT). A given resourceVersion must match the stored
    /// one. For types with a status subresource the stored status is kept;
    /// with `status_only`, only the status changes.
    pub fn update(
        &self,
        ty: &ResourceType,
        namespace: &str,
        name: &str,
        mut object: Value,
        status_only: bool,
    ) -> Result<Value, ApiError> {
        let key = Self::key(ty, namespace, name);
        let mut inner = self.inner.lock().unwrap();
        let Some(old) = inner.objects.get(&key).cloned() else {
            return Err(ApiError::not_found(ty, name));
        };
        if let Some(rv) = object["metadata"]["resourceVersion"].as_str() {
            if Some(rv) != old["metadata"]["resourceVersion"].as_str() {
                return Err(ApiError {
                    code: 409,
                    reason: "Conflict",
                    message: format!(
                        "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                        qualified(ty)
                    ),
                });
            }
        }
        if status_only {
            let status = object["status"].take();
            object = old.clone();
            object["status"] = status;
        } else if ty.status_subresource {
            object["status"] = old["status"].clone();
            if object["status"].is_null() {
                if let Some(o) = object.as_object_mut() {
                    o.remove("status");
                }
            }
        }
        if is_core_group(&ty.group) && !status_only {
            if ty.kind == "Service" {
                // An allocated cluster IP is kept by updates that leave it out.
                for field in ["clusterIP", "clusterIPs"] {
                    if object["spec"][field].is_null() && !old["spec"][field].is_null() {
                        object["spec"][field] = old["spec"][field].clone();
                    }
                }
            }
            defaults::apply(&ty.kind, &mut object);
        }
        // Identity and bookkeeping are the server's.
        let mut meta = object["metadata"].take();
        if !meta.is_object() {
            meta = json!({});
        }
        for field in [
            "uid",
            "creationTimestamp",
            "name",
            "namespace",
            "generation",
        ] {
            meta[field] = old["metadata"][field].clone();
            if meta[field].is_null() {
                meta.as_object_mut().unwrap().remove(field);
            }
        }
        if !status_only && object.get("spec").is_some() && object["spec"] != old["spec"] {
            meta["generation"] = json!(old["metadata"]["generation"].as_i64().unwrap_or(0) + 1);
        }
        object["metadata"] = meta;
        object["apiVersion"] = json!(ty.api_version());
        object["kind"] = json!(ty.kind);
        if key.plural == "customresourcedefinitions" && object["status"]["conditions"].is_null() {
            resources::establish(&mut object);
        }
        let mut probe = object.clone();
        probe["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
        if probe == old {
            return Ok(old);
        }
        let rv = inner.rv + 1;
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        inner.objects.insert(key.clone(), object.clone());
        Self::record(&mut inner, EventKind::Modified, key.clone(), object.clone());
        if key.plural == "customresourcedefinitions" {
            Self::refresh_types(&mut inner);
        }
        drop(inner);
        self.changed.send_replace(rv);
        Ok(object)
    }

    /// Deletes an object. A namespace is first marked terminating (its
    /// `deletionTimestamp` set, phase `Terminating`, new content refused) and
    /// goes, with everything in it, at [`Store::finish_terminating`].
    pub fn delete(
        &self,
        ty: &ResourceType,
        namespace: &str,
        name: &str,
    ) -> Result<Value, ApiError> {
        let key = Self::key(ty, namespace, name);
        let mut inner = self.inner.lock().unwrap();
        if ty.group.is_empty() && ty.plural == "namespaces" {
            let Some(object) = inner.objects.get_mut(&key) else {
                return Err(ApiError::not_found(ty, name));
            };
            if !object["metadata"]["deletionTimestamp"].is_null() {
                return Ok(object.clone());
            }
            object["metadata"]["deletionTimestamp"] = json!(now());
            object["status"]["phase"] = json!("Terminating");
            inner
                .terminating
                .insert(name.to_owned(), std::time::Instant::now());
            let rv = inner.rv + 1;
            let object = {
                let o = inner.objects.get_mut(&key).expect("just read");
                o["metadata"]["resourceVersion"] = json!(rv.to_string());
                o.clone()
            };
            Self::record(&mut inner, EventKind::Modified, key, object.clone());
            drop(inner);
            self.changed.send_replace(rv);
            return Ok(object);
        }
        let Some(object) = inner.objects.remove(&key) else {
            return Err(ApiError::not_found(ty, name));
        };
        let last = Self::record(&mut inner, EventKind::Deleted, key.clone(), object.clone());
        if key.plural == "customresourcedefinitions" {
            Self::refresh_types(&mut inner);
        }
        drop(inner);
        self.changed.send_replace(last);
        Ok(object)
    }

    /// The namespace controller's work: every terminating namespace's
    /// content deleted, then the namespace itself.
    pub fn finish_terminating(&self) {
        let mut inner = self.inner.lock().unwrap();
        let terminating: Vec<ObjKey> = inner
            .objects
            .iter()
            .filter(|(k, o)| {
                k.group.is_empty()
                    && k.plural == "namespaces"
                    && !o["metadata"]["deletionTimestamp"].is_null()
                    && inner
                        .terminating
                        .get(&k.name)
                        .is_none_or(|since| since.elapsed() >= TERMINATING_FOR)
            })
            .map(|(k, _)| k.clone())
            .collect();
        if terminating.is_empty() {
            return;
        }
        let mut last = inner.rv;
        for ns in terminating {
            let inside: Vec<ObjKey> = inner
                .objects
                .keys()
                .filter(|k| k.namespace == ns.name)
                .cloned()
                .collect();
            for k in inside {
                if let Some(o) = inner.objects.remove(&k) {
                    last = Self::record(&mut inner, EventKind::Deleted, k, o);
                }
            }
            inner.terminating.remove(&ns.name);
            if let Some(o) = inner.objects.remove(&ns) {
                last = Self::record(&mut inner, EventKind::Deleted, ns, o);
            }
        }
        drop(inner);
        self.changed.send_replace(last);
    }

    /// The objects that name `uid` among their owners.
    pub fn dependents(&self, uid: &str) -> Vec<(ResourceType, String, String)> {
        self.where_owners(|refs| refs.iter().any(|r| r["uid"] == uid))
    }

    /// Objects whose owners are all gone, which the garbage collector deletes
    /// (background propagation): (type, namespace, name).
    pub fn orphans(&self) -> Vec<(ResourceType, String, String)> {
        let uids: std::collections::HashSet<String> = self
            .inner
            .lock()
            .unwrap()
            .objects
            .values()
            .filter_map(|o| o["metadata"]["uid"].as_str().map(str::to_owned))
            .collect();
        self.where_owners(|refs| {
            !refs.is_empty()
                && refs
                    .iter()
                    .all(|r| !uids.contains(r["uid"].as_str().unwrap_or_default()))
        })
    }

    /// (type, namespace, name) of every object whose owner references
    /// satisfy `test`.
    fn where_owners(&self, test: impl Fn(&[Value]) -> bool) -> Vec<(ResourceType, String, String)> {
        let inner = self.inner.lock().unwrap();
        inner
            .objects
            .iter()
            .filter(|(_, o)| {
                o["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|refs| test(refs))
            })
            .filter_map(|(k, _)| {
                let ty = inner
                    .types
                    .iter()
                    .find(|t| t.group == k.group && t.plural == k.plural)?;
                Some((ty.clone(), k.namespace.clone(), k.name.clone()))
            })
            .collect()
    }

    /// Every object, for the simulated kubelet and for tests.
    pub fn all(&self) -> Vec<(ObjKey, Value)> {
        self.inner
            .lock()
            .unwrap()
            .objects
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

fn with_type(object: &Value, ty: &ResourceType) -> Value {
    let mut object = object.clone();
    object["apiVersion"] = json!(ty.api_version());
    object["kind"] = json!(ty.kind);
    object
}
