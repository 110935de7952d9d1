//! A walk through an OpenAPI v3 schema as the API server's patch, apply and
//! validation code needs it: a node per value, `$ref`s resolved against the
//! document's named schemas, and the Kubernetes extensions that say how a
//! list or map merges (`x-kubernetes-patch-merge-key` and
//! `x-kubernetes-patch-strategy` for strategic merge patches,
//! `x-kubernetes-list-type`, `x-kubernetes-list-map-keys` and
//! `x-kubernetes-map-type` for server-side apply).
//!
//! A value with no schema (a custom resource without one, or a field under
//! `x-kubernetes-preserve-unknown-fields`) walks as [`Node::untyped`]: maps
//! are granular, lists atomic, and any field is allowed, as the real API
//! server treats unstructured content.

use serde_json::{Map, Value};

/// How a list merges under server-side apply (`x-kubernetes-list-type`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListType {
    /// Replaced whole; one manager owns it.
    Atomic,
    /// Scalars merged as a set.
    Set,
    /// Objects merged by the values of these keys.
    Map(Vec<String>),
}

/// One schema in a document, `$ref`s already followed.
#[derive(Clone, Copy, Debug)]
pub struct Node<'a> {
    defs: Option<&'a Map<String, Value>>,
    schema: Option<&'a Value>,
    /// Where the schema was referred to from: extensions written beside a
    /// `$ref` (a property's merge strategy) win over the target's.
    site: Option<&'a Value>,
}

static EMPTY: Value = Value::Null;

impl<'a> Node<'a> {
    /// The schema `schema`, whose `$ref`s name entries of `defs`.
    pub fn new(defs: &'a Map<String, Value>, schema: &'a Value) -> Node<'a> {
        Node {
            defs: Some(defs),
            schema: Some(schema),
            site: None,
        }
        .resolved()
    }

    /// A value without a schema.
    pub fn untyped() -> Node<'static> {
        Node {
            defs: None,
            schema: None,
            site: None,
        }
    }

    /// Whether this value has no schema (anything goes).
    pub fn is_untyped(&self) -> bool {
        self.schema.is_none_or(|s| {
            s.get("properties").is_none()
                && s.get("additionalProperties").is_none()
                && s.get("items").is_none()
                && s.get("type").is_none()
        }) || self.preserves_unknown_fields()
    }

    fn resolved(self) -> Node<'a> {
        let mut node = self;
        // allOf of one $ref is how generators attach a description to a reference.
        for _ in 0..16 {
            let Some(schema) = node.schema else {
                return node;
            };
            let target = schema
                .get("$ref")
                .or_else(|| {
                    schema
                        .get("allOf")
                        .and_then(Value::as_array)
                        .filter(|a| a.len() == 1)
                        .and_then(|a| a[0].get("$ref"))
                })
                .and_then(Value::as_str);
            let Some(reference) = target else {
                return node;
            };
            let name = reference.rsplit('/').next().unwrap_or(reference);
            node.site = node.site.or(Some(schema));
            node.schema = node.defs.and_then(|d| d.get(name));
        }
        node
    }

    fn raw(&self) -> &'a Value {
        self.schema.unwrap_or(&EMPTY)
    }

    /// Extension `name`, from beside the reference first, then the schema.
    fn extension(&self, name: &str) -> Option<&'a Value> {
        self.site
            .and_then(|s| s.get(name))
            .or_else(|| self.raw().get(name))
    }

    fn child(&self, schema: Option<&'a Value>) -> Node<'a> {
        match schema {
            Some(schema) => Node {
                defs: self.defs,
                schema: Some(schema),
                site: None,
            }
            .resolved(),
            None => Node::untyped(),
        }
    }

    /// The schema's `type`, when it names one.
    pub fn type_name(&self) -> Option<&'a str> {
        self.raw().get("type").and_then(Value::as_str)
    }

    /// Whether `x-kubernetes-preserve-unknown-fields` is set here.
    pub fn preserves_unknown_fields(&self) -> bool {
        self.extension("x-kubernetes-preserve-unknown-fields")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// Whether field `name` is allowed here: a declared property, any key of
    /// a map, or any field of an untyped value.
    pub fn allows_field(&self, name: &str) -> bool {
        if self.is_untyped() {
            return true;
        }
        let raw = self.raw();
        raw.get("properties").is_some_and(|p| p.get(name).is_some())
            || raw
                .get("additionalProperties")
                .is_some_and(|a| !matches!(a, Value::Bool(false)))
    }

    /// The schema of field `name` (a property, or a map's values).
    pub fn field(&self, name: &str) -> Node<'a> {
        let raw = self.raw();
        if let Some(p) = raw.get("properties").and_then(|p| p.get(name)) {
            return self.child(Some(p));
        }
        match raw.get("additionalProperties") {
            Some(Value::Bool(_)) | None => Node::untyped(),
            Some(values) => self.child(Some(values)),
        }
    }

    /// Whether this is a map from any key to values of one schema
    /// (`additionalProperties`), rather than a struct with named fields.
    pub fn is_map(&self) -> bool {
        let raw = self.raw();
        raw.get("properties").is_none() && raw.get("additionalProperties").is_some()
    }

    /// The schema of a list's items.
    pub fn items(&self) -> Node<'a> {
        self.child(self.raw().get("items"))
    }

    /// `x-kubernetes-patch-merge-key`: the key strategic merge patches match
    /// this list's items by.
    pub fn patch_merge_key(&self) -> Option<&'a str> {
        self.extension("x-kubernetes-patch-merge-key")
            .and_then(Value::as_str)
    }

    /// `x-kubernetes-patch-strategy`, split at commas (`merge`, `retainKeys`,
    /// `replace`).
    pub fn patch_strategies(&self) -> Vec<&'a str> {
        self.extension("x-kubernetes-patch-strategy")
            .and_then(Value::as_str)
            .map(|s| s.split(',').map(str::trim).collect())
            .unwrap_or_default()
    }

    /// How server-side apply merges this list.
    pub fn list_type(&self) -> ListType {
        match self
            .extension("x-kubernetes-list-type")
            .and_then(Value::as_str)
        {
            Some("set") => ListType::Set,
            Some("map") => ListType::Map(
                self.extension("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|k| {
                        k.iter()
                            .filter_map(|k| k.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            _ => ListType::Atomic,
        }
    }

    /// Whether server-side apply treats this map or struct as one value
    /// (`x-kubernetes-map-type: atomic`).
    pub fn is_atomic_map(&self) -> bool {
        self.extension("x-kubernetes-map-type")
            .and_then(Value::as_str)
            == Some("atomic")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_are_followed_and_extensions_read() {
        let defs = json!({
            "Pod": {"type": "object", "properties": {"spec": {"$ref": "#/components/schemas/PodSpec"}}},
            "PodSpec": {"type": "object", "properties": {"containers": {
                "type": "array", "items": {"allOf": [{"$ref": "#/components/schemas/Container"}]},
                "x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge",
                "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]}}},
            "Container": {"type": "object", "properties": {"name": {"type": "string"}}},
        });
        let defs = defs.as_object().unwrap();
        let pod = Node::new(defs, &defs["Pod"]);
        let containers = pod.field("spec").field("containers");
        assert_eq!(containers.patch_merge_key(), Some("name"));
        assert_eq!(containers.patch_strategies(), vec!["merge"]);
        assert_eq!(containers.list_type(), ListType::Map(vec!["name".into()]));
        let container = containers.items();
        assert!(container.allows_field("name"));
        assert!(!container.allows_field("nmae"));
        assert!(pod.field("nope").is_untyped());
        assert!(Node::untyped().allows_field("anything"));
    }
}
