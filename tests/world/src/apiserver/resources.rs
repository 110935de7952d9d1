//! The resource types the stand-in API server serves: the built-in ones
//! kindform and the tests touch, and any a CustomResourceDefinition declares.

use serde_json::{Value, json};

/// One served resource type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceType {
    /// API group; empty for the core group.
    pub group: String,
    /// The served version.
    pub version: String,
    /// The plural name used in paths.
    pub plural: String,
    /// The singular name.
    pub singular: String,
    /// The object kind.
    pub kind: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Short names for discovery.
    pub short_names: Vec<String>,
    /// Whether `/status` is a subresource (main-resource writes keep the status).
    pub status_subresource: bool,
}

impl ResourceType {
    fn builtin(
        group: &str,
        version: &str,
        plural: &str,
        kind: &str,
        namespaced: bool,
        status: bool,
        short: &[&str],
    ) -> Self {
        ResourceType {
            group: group.into(),
            version: version.into(),
            plural: plural.into(),
            singular: kind.to_ascii_lowercase(),
            kind: kind.into(),
            namespaced,
            short_names: short.iter().map(|s| s.to_string()).collect(),
            status_subresource: status,
        }
    }

    /// `v1` or `group/version`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The entry of this type in an APIResourceList.
    pub fn discovery_entry(&self) -> Value {
        json!({
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
            "shortNames": self.short_names,
        })
    }
}

/// The built-in types.
pub fn builtins() -> Vec<ResourceType> {
    let b = ResourceType::builtin;
    vec![
        b("", "v1", "namespaces", "Namespace", false, true, &["ns"]),
        b("", "v1", "nodes", "Node", false, true, &["no"]),
        b("", "v1", "pods", "Pod", true, true, &["po"]),
        b("", "v1", "services", "Service", true, true, &["svc"]),
        b("", "v1", "secrets", "Secret", true, false, &[]),
        b("", "v1", "configmaps", "ConfigMap", true, false, &["cm"]),
        b("", "v1", "events", "Event", true, false, &["ev"]),
        b(
            "",
            "v1",
            "serviceaccounts",
            "ServiceAccount",
            true,
            false,
            &["sa"],
        ),
        b(
            "",
            "v1",
            "persistentvolumeclaims",
            "PersistentVolumeClaim",
            true,
            true,
            &["pvc"],
        ),
        b("", "v1", "endpoints", "Endpoints", true, false, &["ep"]),
        b(
            "apps",
            "v1",
            "deployments",
            "Deployment",
            true,
            true,
            &["deploy"],
        ),
        b(
            "apps",
            "v1",
            "statefulsets",
            "StatefulSet",
            true,
            true,
            &["sts"],
        ),
        b("apps", "v1", "daemonsets", "DaemonSet", true, true, &["ds"]),
        b(
            "apps",
            "v1",
            "replicasets",
            "ReplicaSet",
            true,
            true,
            &["rs"],
        ),
        b("batch", "v1", "jobs", "Job", true, true, &[]),
        b("batch", "v1", "cronjobs", "CronJob", true, true, &["cj"]),
        b(
            "networking.k8s.io",
            "v1",
            "ingresses",
            "Ingress",
            true,
            true,
            &["ing"],
        ),
        b(
            "networking.k8s.io",
            "v1",
            "ingressclasses",
            "IngressClass",
            false,
            false,
            &[],
        ),
        b(
            "networking.k8s.io",
            "v1",
            "networkpolicies",
            "NetworkPolicy",
            true,
            false,
            &["netpol"],
        ),
        b(
            "rbac.authorization.k8s.io",
            "v1",
            "roles",
            "Role",
            true,
            false,
            &[],
        ),
        b(
            "rbac.authorization.k8s.io",
            "v1",
            "rolebindings",
            "RoleBinding",
            true,
            false,
            &[],
        ),
        b(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterroles",
            "ClusterRole",
            false,
            false,
            &[],
        ),
        b(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterrolebindings",
            "ClusterRoleBinding",
            false,
            false,
            &[],
        ),
        b(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            false,
            true,
            &["crd"],
        ),
        b(
            "admissionregistration.k8s.io",
            "v1",
            "validatingwebhookconfigurations",
            "ValidatingWebhookConfiguration",
            false,
            false,
            &[],
        ),
        b(
            "admissionregistration.k8s.io",
            "v1",
            "mutatingwebhookconfigurations",
            "MutatingWebhookConfiguration",
            false,
            false,
            &[],
        ),
        b(
            "policy",
            "v1",
            "poddisruptionbudgets",
            "PodDisruptionBudget",
            true,
            true,
            &["pdb"],
        ),
        b(
            "scheduling.k8s.io",
            "v1",
            "priorityclasses",
            "PriorityClass",
            false,
            false,
            &["pc"],
        ),
        b(
            "storage.k8s.io",
            "v1",
            "storageclasses",
            "StorageClass",
            false,
            false,
            &["sc"],
        ),
        b(
            "coordination.k8s.io",
            "v1",
            "leases",
            "Lease",
            true,
            false,
            &[],
        ),
    ]
}

/// The types a CustomResourceDefinition object declares (one per served version).
pub fn from_crd(crd: &Value) -> Vec<ResourceType> {
    let spec = &crd["spec"];
    let group = spec["group"].as_str().unwrap_or_default();
    let names = &spec["names"];
    let plural = names["plural"].as_str().unwrap_or_default();
    let kind = names["kind"].as_str().unwrap_or_default();
    if group.is_empty() || plural.is_empty() || kind.is_empty() {
        return Vec::new();
    }
    let singular = names["singular"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| kind.to_ascii_lowercase());
    let short: Vec<String> = names["shortNames"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let namespaced = spec["scope"].as_str() != Some("Cluster");
    spec["versions"]
        .as_array()
        .map(|versions| {
            versions
                .iter()
                .filter(|v| v["served"].as_bool().unwrap_or(true))
                .filter_map(|v| v["name"].as_str())
                .map(|version| ResourceType {
                    group: group.to_owned(),
                    version: version.to_owned(),
                    plural: plural.to_owned(),
                    singular: singular.clone(),
                    kind: kind.to_owned(),
                    namespaced,
                    short_names: short.clone(),
                    status_subresource: versions
                        .iter()
                        .find(|x| x["name"].as_str() == Some(version))
                        .is_some_and(|x| x["subresources"]["status"].is_object()),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// What the API extensions controller writes into a CRD's status once its
/// names are accepted and it is served: `NamesAccepted` and `Established`
/// (Helm waits for `Established`; Helm 4's watcher for both), the accepted
/// names and the stored versions.
pub fn establish(crd: &mut Value) {
    let storage: Vec<Value> = crd["spec"]["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["storage"].as_bool().unwrap_or(false))
        .map(|v| v["name"].clone())
        .collect();
    let now = super::store::now();
    crd["status"] = json!({
        "acceptedNames": crd["spec"]["names"].clone(),
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": now},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": now},
        ],
        "storedVersions": storage,
    });
}
