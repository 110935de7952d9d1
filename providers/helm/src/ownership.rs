//! Objects a release's chart would make that already exist without its
//! ownership: found by rendering the chart, and adopted (Helm's label and
//! annotations, what `--take-ownership` does on every Helm version) when
//! the release says `take_ownership`. Objects of a kind the API does not
//! serve yet (its CRD comes from an earlier release or manifest of the same
//! apply) are looked for at apply, once it is served.

use kindform_kube::ObjectRef;
use serde_json::{Value, json};

use crate::desired::DesiredRelease;
use crate::error::ReleaseError;
use crate::provider::ReleaseProvider;

/// Helm's ownership label and annotations (docs/tools.md, helm).
pub const HELM_MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "Helm");
/// The annotation naming the owning release.
pub const RELEASE_NAME_ANNOTATION: &str = "meta.helm.sh/release-name";
/// The annotation naming the owning release's namespace.
pub const RELEASE_NAMESPACE_ANNOTATION: &str = "meta.helm.sh/release-namespace";

/// A kind the API did not serve when the chart's objects were looked for
/// (a CRD an earlier release or manifest of the same apply defines).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct KindRef {
    /// `dapr.io/v1alpha1`.
    pub api_version: String,
    /// `Component`.
    pub kind: String,
}

impl std::fmt::Display for KindRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.kind, self.api_version)
    }
}

/// What looking for objects in a chart's way found.
#[derive(Debug, Default)]
pub(crate) struct InTheWay {
    /// Objects that exist without the release's ownership.
    pub found: Vec<ObjectRef>,
    /// Kinds the API does not serve yet, whose objects could not be looked
    /// for.
    pub unserved: Vec<KindRef>,
}

impl ReleaseProvider {
    /// Renders the chart (`helm template`, the set values on stdin) and
    /// looks for the objects that exist without this release's ownership,
    /// of `only` these kinds when given.
    pub(crate) async fn conflicts(
        &self,
        desired: &DesiredRelease,
        only: Option<&[KindRef]>,
    ) -> Result<InTheWay, ReleaseError> {
        let args = desired.template_args();
        let manifest = self
            .helm
            .run(&args, Some(desired.set_values_yaml().as_bytes()))
            .await?;
        let mut in_the_way = InTheWay::default();
        for object in crate::objects::rendered(&manifest) {
            let Some(mut reference) = ObjectRef::of(&object) else {
                continue;
            };
            let kind = KindRef {
                api_version: reference.api_version.clone(),
                kind: reference.kind.clone(),
            };
            if only.is_some_and(|only| !only.contains(&kind)) {
                continue;
            }
            let Some(info) = self
                .objects
                .kind(&reference.api_version, &reference.kind)
                .await?
            else {
                if !in_the_way.unserved.contains(&kind) {
                    in_the_way.unserved.push(kind);
                }
                continue;
            };
            reference.namespace = info.namespaced.then(|| {
                reference
                    .namespace
                    .clone()
                    .unwrap_or_else(|| desired.spec.namespace.clone())
            });
            if let Some(live) = self.objects.get(&reference).await? {
                if !owned_by(&live, &desired.name, &desired.spec.namespace) {
                    in_the_way.found.push(reference);
                }
            }
        }
        in_the_way.unserved.sort();
        Ok(in_the_way)
    }

    /// Gives objects Helm's ownership label and annotations for `desired`,
    /// so that the install or upgrade takes them over (what
    /// `--take-ownership` does, on every Helm version).
    pub(crate) async fn adopt(
        &self,
        desired: &DesiredRelease,
        objects: &[ObjectRef],
    ) -> Result<(), ReleaseError> {
        use kube::api::{Patch, PatchParams};
        for object in objects {
            let Some(info) = self.objects.kind(&object.api_version, &object.kind).await? else {
                continue;
            };
            let patch = json!({"metadata": {
                "labels": {HELM_MANAGED_BY.0: HELM_MANAGED_BY.1},
                "annotations": {
                    RELEASE_NAME_ANNOTATION: desired.name,
                    RELEASE_NAMESPACE_ANNOTATION: desired.spec.namespace,
                },
            }});
            self.objects
                .api(&info, object.namespace.as_deref())
                .patch(&object.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(|source| ReleaseError::Adopt {
                    release: desired.name.clone(),
                    object: object.to_string(),
                    source,
                })?;
        }
        Ok(())
    }
}

fn owned_by(object: &Value, release: &str, namespace: &str) -> bool {
    let label = |k: &str| {
        object
            .pointer("/metadata/labels")
            .and_then(|l| l.get(k))
            .and_then(Value::as_str)
    };
    let annotation = |k: &str| {
        object
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(k))
            .and_then(Value::as_str)
    };
    label(HELM_MANAGED_BY.0) == Some(HELM_MANAGED_BY.1)
        && annotation(RELEASE_NAME_ANNOTATION) == Some(release)
        && annotation(RELEASE_NAMESPACE_ANNOTATION) == Some(namespace)
}
