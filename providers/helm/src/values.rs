//! A release's user-supplied values exactly as Helm stores them: the values
//! files merged in order (maps merge, lists and scalars replace, later wins,
//! `null` kept), then the `set` values, which kindform hands to Helm as one
//! more values file (so secrets never reach a command line). The paths of
//! sensitive values are kept so that every display can hide them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kindform_api::bounded::read_string_capped;
use kindform_api::yaml;
use kindform_api::{Scalar, SetValue};
use serde_json::{Map, Value};

/// Why the values could not be put together.
#[derive(Debug, thiserror::Error)]
pub enum ValuesError {
    /// A values file could not be read.
    #[error("cannot read values file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A values file is not YAML.
    #[error("values file {path} is not valid YAML")]
    Yaml {
        path: PathBuf,
        #[source]
        source: serde_yaml_ng::Error,
    },
    /// A values file holds something other than a map.
    #[error("values file {path} must hold a map of values")]
    NotAMap { path: PathBuf },
    /// A `set` value names an environment variable that is not set.
    #[error("`set.\"{key}\"` reads the environment variable {var}, which is not set")]
    MissingEnv {
        /// The set key.
        key: String,
        /// The variable.
        var: String,
    },
    /// A `set` value names a file that cannot be read.
    #[error("`set.\"{key}\"` reads {path}, which cannot be read")]
    SetFile {
        /// The set key.
        key: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A release's values, put together.
#[derive(Clone, Default, PartialEq)]
pub struct Values {
    /// Everything, as Helm will store it.
    pub merged: Value,
    /// The `set` values alone, as the values file kindform passes last.
    pub set: Value,
    /// Where the sensitive values are.
    pub sensitive: Vec<Vec<String>>,
}

impl std::fmt::Debug for Values {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Values")
            .field("sensitive", &self.sensitive)
            .finish_non_exhaustive()
    }
}

/// Merges `overlay` into `base` as Helm merges values files.
pub fn merge(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(existing @ Value::Object(_)) if v.is_object() => merge(existing, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (base, overlay) => *base = overlay.clone(),
    }
}

/// Splits a dotted `set` key; `\.` is a literal dot, as in `--set`.
pub fn split_key(key: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = key.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'.') => {
                chars.next();
                parts.last_mut().unwrap().push('.');
            }
            '.' => parts.push(String::new()),
            c => parts.last_mut().unwrap().push(c),
        }
    }
    parts
}

fn insert(tree: &mut Map<String, Value>, path: &[String], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        tree.insert(first.clone(), value);
        return;
    }
    let child = tree
        .entry(first.clone())
        .or_insert_with(|| Value::Object(Map::new()));
    if !child.is_object() {
        *child = Value::Object(Map::new());
    }
    if let Value::Object(child) = child {
        insert(child, rest, value);
    }
}

fn scalar(s: &Scalar) -> Value {
    match s {
        Scalar::String(s) => Value::String(s.clone()),
        Scalar::Integer(i) => Value::from(*i),
        Scalar::Float(f) => Value::from(*f),
        Scalar::Bool(b) => Value::Bool(*b),
    }
}

/// Puts a release's values together: `files` (relative to `base_dir`)
/// merged in order, then `set`, whose environment variables and files are
/// read now.
pub fn resolve(
    files: &[PathBuf],
    set: &BTreeMap<String, SetValue>,
    base_dir: &Path,
) -> Result<Values, ValuesError> {
    let mut merged = Value::Object(Map::new());
    for file in files {
        let path = base_dir.join(file);
        let text = std::fs::File::open(&path)
            .and_then(|f| read_string_capped(f, yaml::MAX_FILE_BYTES))
            .map_err(|source| ValuesError::Read {
                path: path.clone(),
                source,
            })?;
        let value: Value = yaml::from_str(&text).map_err(|source| ValuesError::Yaml {
            path: path.clone(),
            source,
        })?;
        match value {
            Value::Null => {}
            Value::Object(_) => merge(&mut merged, &value),
            _ => return Err(ValuesError::NotAMap { path }),
        }
    }
    let mut tree = Map::new();
    let mut sensitive = Vec::new();
    for (key, value) in set {
        let path = split_key(key);
        let resolved = match value {
            SetValue::Literal(s) => scalar(s),
            SetValue::Env { env, .. } => {
                Value::String(std::env::var(env).map_err(|_| ValuesError::MissingEnv {
                    key: key.clone(),
                    var: env.clone(),
                })?)
            }
            SetValue::File { file, .. } => {
                let full = base_dir.join(file);
                let read = std::fs::File::open(&full)
                    .and_then(|f| read_string_capped(f, yaml::MAX_FILE_BYTES));
                Value::String(read.map_err(|source| ValuesError::SetFile {
                    key: key.clone(),
                    path: full.clone(),
                    source,
                })?)
            }
        };
        if value.is_sensitive() {
            if let Value::String(secret) = &resolved {
                kindform_api::secrets::register(secret);
            }
            sensitive.push(path.clone());
        }
        insert(&mut tree, &path, resolved);
    }
    let set = Value::Object(tree);
    merge(&mut merged, &set);
    Ok(Values {
        merged: normalized(&merged),
        set,
        sensitive,
    })
}

/// Values in the form Helm returns them: its YAML decoder reads every number
/// as a float and prints whole ones without a fraction, so `2.0` and `2`
/// are the same value; `null` from `get values` means no values.
pub fn normalized(value: &Value) -> Value {
    match value {
        Value::Null => Value::Object(Map::new()),
        _ => numbers(value),
    }
}

fn numbers(value: &Value) -> Value {
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Value::from(f as i64),
            _ => value.clone(),
        },
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), numbers(v))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(numbers).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_values_file_of_amplified_aliases_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::from("big: &a\n");
        text.push_str(&"  - xxxx\n".repeat(1000));
        text.push_str("copies:\n");
        text.push_str(&"- *a\n".repeat(4400));
        std::fs::write(dir.path().join("values.yaml"), text).unwrap();
        let error = resolve(&["values.yaml".into()], &BTreeMap::new(), dir.path()).unwrap_err();
        let ValuesError::Yaml { source, .. } = &error else {
            panic!("{error:?}");
        };
        assert!(source.to_string().contains("expands beyond"), "{source}");
    }

    #[test]
    fn files_merge_as_helm_merges_them() {
        let mut base = json!({"a": {"x": 1, "y": [1, 2]}, "b": "keep", "c": 1});
        merge(
            &mut base,
            &json!({"a": {"y": [3], "z": null}, "c": {"now": "map"}}),
        );
        assert_eq!(
            base,
            json!({"a": {"x": 1, "y": [3], "z": null}, "b": "keep", "c": {"now": "map"}})
        );
    }

    #[test]
    fn dotted_keys_nest_and_escaped_dots_do_not() {
        assert_eq!(split_key("a.b.c"), ["a", "b", "c"]);
        assert_eq!(
            split_key(r"ann.kubernetes\.io/x"),
            ["ann", "kubernetes.io/x"]
        );
    }

    #[test]
    fn set_values_come_last_and_secrets_are_tracked() {
        let dir = std::env::temp_dir().join(format!("kindform-values-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("a.yaml"),
            "db:\n  user: sa\n  password: old\nreplicas: 2.0\n",
        )
        .unwrap();
        std::fs::write(dir.join("b.yaml"), "db:\n  user: admin\n").unwrap();
        let mut set = BTreeMap::new();
        set.insert(
            "db.password".to_owned(),
            SetValue::File {
                file: "pw".into(),
                sensitive: true,
            },
        );
        set.insert(
            "image.tag".to_owned(),
            SetValue::Literal(Scalar::String("local".into())),
        );
        std::fs::write(dir.join("pw"), "s3cret").unwrap();
        let values = resolve(&["a.yaml".into(), "b.yaml".into()], &set, &dir).unwrap();
        assert_eq!(
            values.merged,
            json!({"db": {"user": "admin", "password": "s3cret"}, "replicas": 2, "image": {"tag": "local"}})
        );
        assert_eq!(
            values.sensitive,
            vec![vec!["db".to_owned(), "password".to_owned()]]
        );
        assert!(!format!("{values:?}").contains("s3cret"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_secret_is_named() {
        let mut set = BTreeMap::new();
        set.insert(
            "pw".to_owned(),
            SetValue::Env {
                env: "KINDFORM_TEST_SURELY_UNSET".into(),
                sensitive: true,
            },
        );
        let err = resolve(&[], &set, Path::new(".")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`set.\"pw\"` reads the environment variable KINDFORM_TEST_SURELY_UNSET, which is not set"
        );
    }
}
