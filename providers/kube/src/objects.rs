//! Objects in the API by apiVersion, kind, namespace and name, whatever
//! their type: the discovery that maps a kind to its resource (cached per
//! group version, so a plan asks once per API group) and single reads.
//! Used to look for objects a chart or manifest would create.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use kube::api::{ApiResource, DynamicObject};
use kube::core::GroupVersion;
use kube::discovery::{ApiCapabilities, Scope};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Names one object.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectRef {
    /// `v1`, `apps/v1`, …
    pub api_version: String,
    /// `ConfigMap`, `Deployment`, …
    pub kind: String,
    /// Its namespace; `None` for cluster-scoped objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    /// The reference of a YAML or JSON object; `None` when it lacks
    /// `apiVersion`, `kind` or `metadata.name`.
    pub fn of(object: &Value) -> Option<ObjectRef> {
        Some(ObjectRef {
            api_version: object.get("apiVersion")?.as_str()?.to_owned(),
            kind: object.get("kind")?.as_str()?.to_owned(),
            namespace: object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .map(str::to_owned),
            name: object.pointer("/metadata/name")?.as_str()?.to_owned(),
        })
    }
}

impl fmt::Display for ObjectRef {
    /// `ConfigMap "cfg" in namespace "apps"`, as Helm and kubectl say it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} \"{}\" in namespace \"{ns}\"", self.kind, self.name),
            None => write!(f, "{} \"{}\"", self.kind, self.name),
        }
    }
}

/// Why an object could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ObjectsError {
    /// The apiVersion does not parse.
    #[error("`{0}` is not an apiVersion")]
    ApiVersion(String),
    /// Discovery failed.
    #[error("cannot discover the resources of {0}")]
    Discovery(String, #[source] kube::Error),
    /// Reading the object failed.
    #[error("cannot read {object}")]
    Get {
        object: String,
        #[source]
        source: kube::Error,
    },
    /// Listing a kind failed.
    #[error("cannot list the {kind}s{}", namespace.as_ref().map(|n| format!(" in namespace {n}")).unwrap_or_default())]
    List {
        kind: String,
        namespace: Option<String>,
        #[source]
        source: kube::Error,
    },
}

/// What the API knows of a kind.
#[derive(Clone, Debug)]
pub struct KindInfo {
    /// Its resource.
    pub resource: ApiResource,
    /// Whether its objects live in namespaces.
    pub namespaced: bool,
}

/// Reads objects of any kind, caching discovery.
pub struct Objects {
    client: kube::Client,
    groups: Mutex<HashMap<String, Vec<(ApiResource, ApiCapabilities)>>>,
}

impl Objects {
    /// Reads through `client`.
    pub fn new(client: kube::Client) -> Self {
        Objects {
            client,
            groups: Mutex::new(HashMap::new()),
        }
    }

    /// The client.
    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    /// The resource of `kind` in `api_version`; `None` when the API does not
    /// serve it (a CRD not installed yet).
    pub async fn kind(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<Option<KindInfo>, ObjectsError> {
        let cached = self.groups.lock().unwrap().get(api_version).cloned();
        let found = |resources: Vec<(ApiResource, ApiCapabilities)>| {
            resources
                .into_iter()
                .find(|(r, _)| r.kind == kind)
                .map(|(resource, caps)| KindInfo {
                    resource,
                    namespaced: caps.scope == Scope::Namespaced,
                })
        };
        if let Some(info) = cached.and_then(found) {
            return Ok(Some(info));
        }
        // Not known yet: ask (a CRD may have been installed since), and keep
        // the answer only when it names the kind.
        let gv: GroupVersion = api_version
            .parse()
            .map_err(|_| ObjectsError::ApiVersion(api_version.to_owned()))?;
        let resources = match kube::discovery::pinned_group(&self.client, &gv).await {
            Ok(group) => group.versioned_resources(&gv.version),
            Err(kube::Error::Api(e)) if e.code == 404 => Vec::new(),
            Err(e) => return Err(ObjectsError::Discovery(api_version.to_owned(), e)),
        };
        let info = found(resources.clone());
        if info.is_some() {
            self.groups
                .lock()
                .unwrap()
                .insert(api_version.to_owned(), resources);
        }
        Ok(info)
    }

    /// The object `object` names, as JSON; `None` when absent or its kind is
    /// not served.
    pub async fn get(&self, object: &ObjectRef) -> Result<Option<Value>, ObjectsError> {
        let Some(info) = self.kind(&object.api_version, &object.kind).await? else {
            return Ok(None);
        };
        let api = self.api(&info, object.namespace.as_deref());
        let found = api
            .get_opt(&object.name)
            .await
            .map_err(|source| ObjectsError::Get {
                object: object.to_string(),
                source,
            })?;
        Ok(found.and_then(|o| serde_json::to_value(o).ok()))
    }

    /// Every object of `info`'s resource in `namespace` (every namespace
    /// for a cluster-scoped one), as JSON, `managedFields` included: one
    /// list for all the objects of a kind a caller looks at there.
    pub async fn list(
        &self,
        info: &KindInfo,
        namespace: Option<&str>,
    ) -> Result<Vec<Value>, ObjectsError> {
        let listed = self
            .api(info, namespace)
            .list(&kube::api::ListParams::default())
            .await
            .map_err(|source| ObjectsError::List {
                kind: info.resource.kind.clone(),
                namespace: namespace.map(str::to_owned),
                source,
            })?;
        Ok(listed
            .items
            .into_iter()
            .filter_map(|o| serde_json::to_value(o).ok())
            .collect())
    }

    /// A dynamic API for `info`'s resource, in `namespace` when namespaced.
    pub fn api(&self, info: &KindInfo, namespace: Option<&str>) -> kube::Api<DynamicObject> {
        match (info.namespaced, namespace) {
            (true, Some(ns)) => kube::Api::namespaced_with(self.client.clone(), ns, &info.resource),
            (true, None) => {
                kube::Api::namespaced_with(self.client.clone(), "default", &info.resource)
            }
            (false, _) => kube::Api::all_with(self.client.clone(), &info.resource),
        }
    }
}
