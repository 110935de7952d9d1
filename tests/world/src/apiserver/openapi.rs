//! The OpenAPI v3 the stand-in API server publishes, and the schemas its
//! validation, strategic merge patch and server-side apply walk.
//!
//! Built-in types' schemas are generated from `k8s-openapi`'s JSON Schemas
//! (the published Kubernetes OpenAPI, as Rust types carry it), with the
//! Kubernetes extensions that schema generation drops added back from
//! [`EXTENSIONS`]: how lists and maps merge, and each top-level type's
//! `x-kubernetes-group-version-kind`. A custom resource's schema is its
//! CRD's `openAPIV3Schema`.
//!
//! Documents are what clients look for, and no more: `/openapi/v3` lists one
//! document per group-version (with a content hash, as clients cache by it);
//! each document has, per object path, the operations with their
//! `x-kubernetes-group-version-kind` and query parameters (client-go decides
//! from the `patch` operation's `fieldValidation` parameter that the server
//! validates fields, and then sends `fieldValidation=Strict` instead of
//! validating on its side), and the schemas those objects reach. Descriptions
//! are left out.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::LazyLock;

use k8s_openapi::api;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use schemars::{JsonSchema, SchemaGenerator, generate::SchemaSettings};
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha512};

use super::resources::ResourceType;
use super::schema::Node;

/// Extensions the Kubernetes OpenAPI carries on a property, by (schema name,
/// property): patch merge key, patch strategy, list type and list-map keys.
/// Read from the Kubernetes API types' `+patchMergeKey`, `+patchStrategy`,
/// `+listType` and `+listMapKey` markers for the fields kindform's charts,
/// manifests and tests touch; any other list is atomic and replaced whole.
const EXTENSIONS: &[(&str, &str, Ext)] = &[
    ("io.k8s.api.core.v1.PodSpec", "containers", Ext::map("name")),
    (
        "io.k8s.api.core.v1.PodSpec",
        "initContainers",
        Ext::map("name"),
    ),
    (
        "io.k8s.api.core.v1.PodSpec",
        "ephemeralContainers",
        Ext::map("name"),
    ),
    (
        "io.k8s.api.core.v1.PodSpec",
        "volumes",
        Ext {
            retain_keys: true,
            ..Ext::map("name")
        },
    ),
    (
        "io.k8s.api.core.v1.PodSpec",
        "imagePullSecrets",
        Ext::map("name"),
    ),
    ("io.k8s.api.core.v1.PodSpec", "hostAliases", Ext::map("ip")),
    (
        "io.k8s.api.core.v1.PodSpec",
        "topologySpreadConstraints",
        Ext {
            keys: &["topologyKey", "whenUnsatisfiable"],
            ..Ext::map("topologyKey")
        },
    ),
    ("io.k8s.api.core.v1.PodSpec", "tolerations", Ext::ATOMIC),
    ("io.k8s.api.core.v1.Container", "env", Ext::map("name")),
    (
        "io.k8s.api.core.v1.Container",
        "ports",
        Ext {
            keys: &["containerPort", "protocol"],
            ..Ext::map("containerPort")
        },
    ),
    (
        "io.k8s.api.core.v1.Container",
        "volumeMounts",
        Ext::map("mountPath"),
    ),
    (
        "io.k8s.api.core.v1.Container",
        "volumeDevices",
        Ext::map("devicePath"),
    ),
    ("io.k8s.api.core.v1.Container", "args", Ext::ATOMIC),
    ("io.k8s.api.core.v1.Container", "command", Ext::ATOMIC),
    ("io.k8s.api.core.v1.Container", "envFrom", Ext::ATOMIC),
    (
        "io.k8s.api.core.v1.ServiceSpec",
        "ports",
        Ext {
            keys: &["port", "protocol"],
            ..Ext::map("port")
        },
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        "finalizers",
        Ext::SET_MERGE,
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        "ownerReferences",
        Ext::map("uid"),
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        "managedFields",
        Ext::ATOMIC,
    ),
    (
        "io.k8s.api.apps.v1.DeploymentSpec",
        "strategy",
        Ext {
            retain_keys: true,
            ..Ext::NONE
        },
    ),
    (
        "io.k8s.api.apps.v1.DeploymentStatus",
        "conditions",
        Ext::map("type"),
    ),
    (
        "io.k8s.api.apps.v1.StatefulSetStatus",
        "conditions",
        Ext::map("type"),
    ),
    (
        "io.k8s.api.apps.v1.DaemonSetStatus",
        "conditions",
        Ext::map("type"),
    ),
    (
        "io.k8s.api.apps.v1.ReplicaSetStatus",
        "conditions",
        Ext::map("type"),
    ),
    (
        "io.k8s.api.core.v1.PodStatus",
        "conditions",
        Ext::map("type"),
    ),
    (
        "io.k8s.api.core.v1.NodeStatus",
        "conditions",
        Ext::map("type"),
    ),
    (
        "io.k8s.api.core.v1.NodeStatus",
        "addresses",
        Ext::map("type"),
    ),
    ("io.k8s.api.batch.v1.JobStatus", "conditions", Ext::ATOMIC),
    (
        "io.k8s.api.core.v1.NamespaceSpec",
        "finalizers",
        Ext::SET_NO_PATCH,
    ),
    ("io.k8s.api.rbac.v1.ClusterRole", "rules", Ext::ATOMIC),
    ("io.k8s.api.rbac.v1.Role", "rules", Ext::ATOMIC),
    ("io.k8s.api.rbac.v1.RoleBinding", "subjects", Ext::ATOMIC),
    (
        "io.k8s.api.rbac.v1.ClusterRoleBinding",
        "subjects",
        Ext::ATOMIC,
    ),
];

/// Structs that server-side apply treats as one value (`+structType=atomic`).
const ATOMIC_STRUCTS: &[&str] = &[
    "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector",
    "io.k8s.api.core.v1.ObjectReference",
    "io.k8s.api.core.v1.LocalObjectReference",
    "io.k8s.api.core.v1.ConfigMapKeySelector",
    "io.k8s.api.core.v1.SecretKeySelector",
    "io.k8s.api.rbac.v1.RoleRef",
];

/// How one list property merges.
#[derive(Clone, Copy)]
struct Ext {
    merge_key: Option<&'static str>,
    merge: bool,
    retain_keys: bool,
    list: Option<&'static str>,
    keys: &'static [&'static str],
}

impl Ext {
    const NONE: Ext = Ext {
        merge_key: None,
        merge: false,
        retain_keys: false,
        list: None,
        keys: &[],
    };
    const ATOMIC: Ext = Ext {
        list: Some("atomic"),
        ..Ext::NONE
    };
    const SET_MERGE: Ext = Ext {
        merge: true,
        list: Some("set"),
        ..Ext::NONE
    };
    const SET_NO_PATCH: Ext = Ext {
        list: Some("set"),
        ..Ext::NONE
    };

    const fn map(key: &'static str) -> Ext {
        Ext {
            merge_key: Some(key),
            merge: true,
            retain_keys: false,
            list: Some("map"),
            keys: &[],
        }
    }

    fn write(&self, property: &mut Map<String, Value>) {
        if let Some(key) = self.merge_key {
            property.insert("x-kubernetes-patch-merge-key".into(), json!(key));
        }
        let strategy: Vec<&str> = [
            self.merge.then_some("merge"),
            self.retain_keys.then_some("retainKeys"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !strategy.is_empty() {
            property.insert(
                "x-kubernetes-patch-strategy".into(),
                json!(strategy.join(",")),
            );
        }
        if let Some(list) = self.list {
            property.insert("x-kubernetes-list-type".into(), json!(list));
        }
        if self.list == Some("map") {
            let keys: Vec<&str> = if self.keys.is_empty() {
                self.merge_key.into_iter().collect()
            } else {
                self.keys.to_vec()
            };
            property.insert("x-kubernetes-list-map-keys".into(), json!(keys));
        }
    }
}

/// The built-in types' schemas and which schema each kind has.
struct Builtins {
    /// Every named schema, extensions added.
    defs: Map<String, Value>,
    /// Schema name by (group, version, kind).
    kinds: HashMap<(String, String, String), String>,
}

static BUILTINS: LazyLock<Builtins> = LazyLock::new(builtins);

fn builtins() -> Builtins {
    let mut generator = SchemaGenerator::new(SchemaSettings::openapi3());
    let mut kinds = HashMap::new();
    let mut add = |generator: &mut SchemaGenerator,
                   group: &str,
                   version: &str,
                   kind: &str,
                   name: String,
                   schema: fn(&mut SchemaGenerator) -> schemars::Schema| {
        schema(generator);
        kinds.insert((group.into(), version.into(), kind.into()), name);
    };
    macro_rules! types {
        ($($ty:ty),* $(,)?) => {
            $(
                add(
                    &mut generator,
                    <$ty as k8s_openapi::Resource>::GROUP,
                    <$ty as k8s_openapi::Resource>::VERSION,
                    <$ty as k8s_openapi::Resource>::KIND,
                    <$ty as JsonSchema>::schema_name().into_owned(),
                    |g| g.subschema_for::<$ty>(),
                );
            )*
        };
    }
    types!(
        api::core::v1::Namespace,
        api::core::v1::Node,
        api::core::v1::Pod,
        api::core::v1::Service,
        api::core::v1::Secret,
        api::core::v1::ConfigMap,
        api::core::v1::Event,
        api::core::v1::ServiceAccount,
        api::core::v1::PersistentVolumeClaim,
        api::core::v1::Endpoints,
        api::apps::v1::Deployment,
        api::apps::v1::StatefulSet,
        api::apps::v1::DaemonSet,
        api::apps::v1::ReplicaSet,
        api::batch::v1::Job,
        api::batch::v1::CronJob,
        api::networking::v1::Ingress,
        api::networking::v1::IngressClass,
        api::networking::v1::NetworkPolicy,
        api::rbac::v1::Role,
        api::rbac::v1::RoleBinding,
        api::rbac::v1::ClusterRole,
        api::rbac::v1::ClusterRoleBinding,
        apiextensions::CustomResourceDefinition,
        api::admissionregistration::v1::ValidatingWebhookConfiguration,
        api::admissionregistration::v1::MutatingWebhookConfiguration,
        api::policy::v1::PodDisruptionBudget,
        api::scheduling::v1::PriorityClass,
        api::storage::v1::StorageClass,
        api::coordination::v1::Lease,
        api::autoscaling::v1::Scale,
    );
    generator.subschema_for::<meta::DeleteOptions>();
    let mut defs = generator.take_definitions(true);
    for schema in defs.values_mut() {
        strip_descriptions(schema);
    }
    for (name, property, ext) in EXTENSIONS {
        if let Some(p) = defs
            .get_mut(*name)
            .and_then(|d| d.get_mut("properties"))
            .and_then(|p| p.get_mut(*property))
            .and_then(Value::as_object_mut)
        {
            ext.write(p);
        }
    }
    for name in ATOMIC_STRUCTS {
        if let Some(d) = defs.get_mut(*name).and_then(Value::as_object_mut) {
            d.insert("x-kubernetes-map-type".into(), json!("atomic"));
        }
    }
    for ((group, version, kind), name) in &kinds {
        if let Some(d) = defs.get_mut(name).and_then(Value::as_object_mut) {
            d.insert(
                "x-kubernetes-group-version-kind".into(),
                json!([{"group": group, "version": version, "kind": kind}]),
            );
        }
    }
    Builtins { defs, kinds }
}

/// Drops the prose (`description` strings), not properties named so.
fn strip_descriptions(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.get("description").is_some_and(Value::is_string) {
                map.remove("description");
            }
            for v in map.values_mut() {
                strip_descriptions(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_descriptions),
        _ => {}
    }
}

/// The schema of one served type; its `$ref`s name built-in schemas.
pub struct TypeSchema {
    root: Value,
}

impl TypeSchema {
    /// The schema of `ty`: a built-in's from [`BUILTINS`]; a custom
    /// resource's from its CRD (`crd`), untyped when it has none.
    pub fn of(ty: &ResourceType, crd: Option<&Value>) -> TypeSchema {
        if let Some(name) =
            BUILTINS
                .kinds
                .get(&(ty.group.clone(), ty.version.clone(), ty.kind.clone()))
        {
            return TypeSchema {
                root: json!({"$ref": format!("#/components/schemas/{name}")}),
            };
        }
        let root = crd
            .and_then(|crd| crd["spec"]["versions"].as_array())
            .and_then(|versions| {
                versions
                    .iter()
                    .find(|v| v["name"].as_str() == Some(&ty.version))
            })
            .map(|v| v["schema"]["openAPIV3Schema"].clone())
            .filter(Value::is_object)
            .map(|mut schema| {
                // Every object has the standard metadata, whatever the CRD says.
                schema["properties"]["metadata"] = json!({"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"});
                for field in ["apiVersion", "kind"] {
                    if schema["properties"][field].is_null() {
                        schema["properties"][field] = json!({"type": "string"});
                    }
                }
                schema
            })
            .unwrap_or(Value::Null);
        TypeSchema { root }
    }

    /// The walk from the object's root.
    pub fn node(&self) -> Node<'_> {
        if self.root.is_null() {
            return Node::untyped();
        }
        Node::new(&BUILTINS.defs, &self.root)
    }
}

/// Whether `ty` is a custom resource (not one of the built-in types).
pub fn is_custom(ty: &ResourceType) -> bool {
    !BUILTINS
        .kinds
        .contains_key(&(ty.group.clone(), ty.version.clone(), ty.kind.clone()))
}

/// The fields of `object` its schema does not declare, as Kubernetes names
/// them in strict decoding errors (`spec.replicass`,
/// `spec.template.spec.containers[0].nmae`).
pub fn unknown_fields(object: &Value, schema: Node<'_>) -> Vec<String> {
    let mut found = Vec::new();
    walk_unknown(object, schema, "", &mut found);
    found
}

fn walk_unknown(value: &Value, schema: Node<'_>, path: &str, found: &mut Vec<String>) {
    if schema.is_untyped() {
        return;
    }
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let here = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                if !schema.allows_field(key) {
                    found.push(here);
                    continue;
                }
                walk_unknown(v, schema.field(key), &here, found);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk_unknown(item, schema.items(), &format!("{path}[{i}]"), found);
            }
        }
        _ => {}
    }
}

/// The `/openapi/v3` index: a document per group-version served.
pub fn index(types: &[ResourceType], crds: &[Value]) -> Value {
    let mut paths = BTreeMap::new();
    for gv in group_versions(types) {
        let doc = document(types, crds, &gv.0, &gv.1);
        let hash = hex(&Sha512::digest(
            serde_json::to_vec(&doc).unwrap_or_default(),
        ));
        let key = gv_path(&gv.0, &gv.1);
        paths.insert(
            key.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={}", &hash[..64].to_uppercase())}),
        );
    }
    json!({ "paths": paths })
}

fn group_versions(types: &[ResourceType]) -> BTreeSet<(String, String)> {
    types
        .iter()
        .map(|t| (t.group.clone(), t.version.clone()))
        .collect()
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// The OpenAPI document of one group-version, or `None` when none is served.
pub fn group_version_document(
    types: &[ResourceType],
    crds: &[Value],
    group: &str,
    version: &str,
) -> Option<Value> {
    group_versions(types)
        .contains(&(group.to_owned(), version.to_owned()))
        .then(|| document(types, crds, group, version))
}

fn document(types: &[ResourceType], crds: &[Value], group: &str, version: &str) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    let mut wanted: Vec<String> = Vec::new();
    for ty in types
        .iter()
        .filter(|t| t.group == group && t.version == version)
    {
        let gvk = json!({"group": ty.group, "version": ty.version, "kind": ty.kind});
        let schema_name =
            match BUILTINS
                .kinds
                .get(&(ty.group.clone(), ty.version.clone(), ty.kind.clone()))
            {
                Some(name) => name.clone(),
                None => {
                    let crd = crds.iter().find(|c| {
                        c["spec"]["group"] == ty.group && c["spec"]["names"]["plural"] == ty.plural
                    });
                    let mut schema = TypeSchema::of(ty, crd).root;
                    if schema.is_null() {
                        schema =
                            json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
                    }
                    schema["x-kubernetes-group-version-kind"] = json!([gvk]);
                    let name = format!(
                        "{}.{}.{}",
                        ty.group.split('.').rev().collect::<Vec<_>>().join("."),
                        ty.version,
                        ty.kind
                    );
                    schemas.insert(name.clone(), schema);
                    wanted.push("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta".into());
                    name
                }
            };
        wanted.push(schema_name.clone());
        let reference = json!({"$ref": format!("#/components/schemas/{schema_name}")});
        let body = json!({"content": {"application/json": {"schema": reference}}});
        let answer = json!({"200": body, "201": body});
        let query = |names: &[&str]| -> Vec<Value> {
            names
                .iter()
                .map(|n| json!({"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": true}}))
                .collect()
        };
        let write = query(&["dryRun", "fieldManager", "fieldValidation"]);
        let mut patch_params = write.clone();
        patch_params.extend(query(&["force"]));
        let op = |action: &str, params: &[Value]| {
            json!({
                "operationId": format!("{action}{}", ty.kind),
                "parameters": params,
                "requestBody": body,
                "responses": answer,
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
            })
        };
        let base = format!("/{}", gv_path(&ty.group, &ty.version));
        let collection = if ty.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}", ty.plural)
        } else {
            format!("{base}/{}", ty.plural)
        };
        paths.insert(
            collection.clone(),
            json!({"get": op("list", &[]), "post": op("post", &write)}),
        );
        paths.insert(
            format!("{collection}/{{name}}"),
            json!({
                "get": op("get", &[]),
                "put": op("put", &write),
                "patch": op("patch", &patch_params),
                "delete": op("delete", &[]),
            }),
        );
    }
    // The named schemas those types reach, and nothing else.
    let mut seen = BTreeSet::new();
    while let Some(name) = wanted.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(schema) = BUILTINS.defs.get(&name) {
            collect_refs(schema, &mut wanted);
            schemas.insert(name, schema.clone());
        }
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "unversioned"},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(r) = map.get("$ref").and_then(Value::as_str) {
                out.push(r.rsplit('/').next().unwrap_or(r).to_owned());
            }
            map.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::resources::builtins;
    use crate::apiserver::schema::ListType;

    fn ty(kind: &str) -> ResourceType {
        builtins().into_iter().find(|t| t.kind == kind).unwrap()
    }

    #[test]
    fn built_in_schemas_carry_the_merge_extensions() {
        let schema = TypeSchema::of(&ty("Deployment"), None);
        let containers = schema
            .node()
            .field("spec")
            .field("template")
            .field("spec")
            .field("containers");
        assert_eq!(containers.patch_merge_key(), Some("name"));
        assert_eq!(containers.list_type(), ListType::Map(vec!["name".into()]));
        let ports = containers.items().field("ports");
        assert_eq!(
            ports.list_type(),
            ListType::Map(vec!["containerPort".into(), "protocol".into()])
        );
        assert!(
            schema
                .node()
                .field("spec")
                .field("selector")
                .is_atomic_map()
        );
        assert_eq!(
            schema
                .node()
                .field("metadata")
                .field("finalizers")
                .list_type(),
            ListType::Set
        );
    }

    #[test]
    fn unknown_fields_are_named_by_their_path() {
        let schema = TypeSchema::of(&ty("Deployment"), None);
        let object = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"any": "label"}},
            "spec": {"replicass": 2, "template": {"spec": {"containers": [{"name": "web", "nmae": "x"}]}}},
        });
        assert_eq!(
            unknown_fields(&object, schema.node()),
            vec![
                "spec.replicass".to_owned(),
                "spec.template.spec.containers[0].nmae".to_owned()
            ]
        );
    }

    #[test]
    fn documents_say_patch_takes_field_validation() {
        let types = builtins();
        let index = index(&types, &[]);
        assert!(
            index["paths"]["apis/apps/v1"]["serverRelativeURL"]
                .as_str()
                .unwrap()
                .starts_with("/openapi/v3/apis/apps/v1?hash=")
        );
        let doc = group_version_document(&types, &[], "apps", "v1").unwrap();
        let patch =
            &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"]["kind"],
            json!("Deployment")
        );
        assert!(
            patch["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "fieldValidation")
        );
        assert!(
            doc["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"].is_object(),
            "reachable schemas are included"
        );
        assert!(doc["components"]["schemas"]["io.k8s.api.core.v1.Secret"].is_null());
    }
}
