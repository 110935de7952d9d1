//! The `[releases.NAME]` resource: a Helm release.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::duration::Duration;

/// A Helm release; its name is the key under `[releases]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseSpec {
    /// A local chart folder (relative to the spec), or a chart name with `repo`,
    /// or an `oci://` reference.
    pub chart: String,
    /// The chart repository URL (passed as `--repo`, so no global repo state).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// The chart version constraint, for repository and OCI charts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The release namespace.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Create the namespace on install.
    #[serde(default)]
    pub create_namespace: bool,
    /// Values files, relative to the spec, merged in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<PathBuf>,
    /// Single values by dotted key, applied after the files.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, SetValue>,
    /// Wait for the release's resources to be ready.
    #[serde(default)]
    pub wait: bool,
    /// Also wait for its Jobs to complete (needs `wait`).
    #[serde(default)]
    pub wait_for_jobs: bool,
    /// How long Helm may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Adopt existing objects the chart renders instead of stopping on them.
    #[serde(default)]
    pub take_ownership: bool,
    /// What healthy means for this release beyond its workloads rolled out
    /// and no container stuck.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<ReleaseHealth>,
    /// Addresses (or globs) this release waits for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Fields of the release's objects whose changes are not drift.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<IgnoreRule>,
}

/// A field of a release's objects whose changes kindform leaves alone:
/// `{ kind = "Deployment", name = "web", path = "spec.replicas" }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IgnoreRule {
    /// The objects' kind (`Deployment`); every kind when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The object's name; every object of the kind when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The object's namespace; any when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The field, or the map or list holding the fields, as plans print
    /// paths (`spec.template.spec.containers[name=web].image`).
    pub path: crate::field_path::FieldPath,
}

impl IgnoreRule {
    /// Whether the rule covers `path` of the object of `kind`, `name` and
    /// `namespace`.
    pub fn covers(
        &self,
        kind: &str,
        name: &str,
        namespace: Option<&str>,
        path: &crate::field_path::FieldPath,
    ) -> bool {
        self.kind
            .as_deref()
            .is_none_or(|k| k.eq_ignore_ascii_case(kind))
            && self.name.as_deref().is_none_or(|n| n == name)
            && self
                .namespace
                .as_deref()
                .is_none_or(|n| Some(n) == namespace)
            && self.path.covers(path)
    }
}

/// A release's own idea of healthy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseHealth {
    /// Label selectors (in the release's namespace) whose pods must exist
    /// and be Ready.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pods_ready: Vec<String>,
    /// How many ready containers each of those pods (or each pod of the
    /// release) must have, such as 2 for an app with its sidecar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub containers: Option<u32>,
}

fn default_namespace() -> String {
    "default".to_owned()
}

/// Where a chart comes from, as the release's settings imply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChartSource<'a> {
    /// A chart folder or archive on disk, relative to the spec.
    Local(&'a str),
    /// A chart named in a repository.
    Repository {
        /// The repository URL.
        repo: &'a str,
        /// The chart's name in it.
        name: &'a str,
    },
    /// An OCI reference.
    Oci(&'a str),
}

impl ReleaseSpec {
    /// Where the chart comes from: a repository when `repo` is set, OCI for
    /// `oci://` references, otherwise a local path.
    pub fn chart_source(&self) -> ChartSource<'_> {
        match &self.repo {
            Some(repo) => ChartSource::Repository {
                repo,
                name: &self.chart,
            },
            None if self.chart.starts_with("oci://") => ChartSource::Oci(&self.chart),
            None => ChartSource::Local(&self.chart),
        }
    }
}

/// One `set` value: a literal, or a value read at plan time from an
/// environment variable or a file.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum SetValue {
    /// A value written in the spec.
    Literal(Scalar),
    /// The content of an environment variable.
    Env {
        /// The variable's name.
        env: String,
        /// Keep it out of plans, logs, journals and command lines.
        sensitive: bool,
    },
    /// The content of a file, relative to the spec.
    File {
        file: PathBuf,
        /// Keep it out of plans, logs, journals and command lines.
        sensitive: bool,
    },
}

impl SetValue {
    /// Whether the value must never be shown.
    pub fn is_sensitive(&self) -> bool {
        match self {
            SetValue::Literal(_) => false,
            SetValue::Env { sensitive, .. } | SetValue::File { sensitive, .. } => *sensitive,
        }
    }
}

/// A scalar value.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Scalar {
    /// A string.
    String(String),
    /// An integer.
    Integer(i64),
    /// A floating-point number.
    Float(f64),
    /// A boolean.
    Bool(bool),
}

impl<'de> Deserialize<'de> for SetValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SetValueVisitor)
    }
}

struct SetValueVisitor;

const SOURCE_FIELDS: &[&str] = &["env", "file", "sensitive"];

impl<'de> Visitor<'de> for SetValueVisitor {
    type Value = SetValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a string, number or boolean, or a table `{ env = \"VAR\" }` or `{ file = \"path\" }`",
        )
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<SetValue, E> {
        Ok(SetValue::Literal(Scalar::String(v.to_owned())))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<SetValue, E> {
        Ok(SetValue::Literal(Scalar::Integer(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<SetValue, E> {
        i64::try_from(v)
            .map(|v| SetValue::Literal(Scalar::Integer(v)))
            .map_err(|_| E::custom("integer out of range"))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<SetValue, E> {
        Ok(SetValue::Literal(Scalar::Float(v)))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<SetValue, E> {
        Ok(SetValue::Literal(Scalar::Bool(v)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SetValue, A::Error> {
        let mut env: Option<String> = None;
        let mut file: Option<PathBuf> = None;
        let mut sensitive = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "env" => env = Some(map.next_value()?),
                "file" => file = Some(map.next_value()?),
                "sensitive" => sensitive = map.next_value()?,
                other => {
                    let known: Vec<String> =
                        SOURCE_FIELDS.iter().map(|f| format!("`{f}`")).collect();
                    return Err(de::Error::custom(format!(
                        "unknown key `{other}` in a set value (it takes {}); a dotted set key must be quoted, like `\"image.tag\" = \"x\"`",
                        known.join(", ")
                    )));
                }
            }
        }
        match (env, file) {
            (Some(env), None) if !env.is_empty() => Ok(SetValue::Env { env, sensitive }),
            (Some(_), None) => Err(de::Error::custom("`env` names no variable")),
            (None, Some(file)) => Ok(SetValue::File { file, sensitive }),
            (Some(_), Some(_)) => Err(de::Error::custom("set either `env` or `file`, not both")),
            (None, None) => Err(de::Error::custom(
                "a table value needs `env = \"VAR\"` or `file = \"path\"`",
            )),
        }
    }
}
