//! Paths into Kubernetes objects, as plans print them and ignore rules
//! name them: `spec.template.spec.containers[name=web].image`. Map keys
//! are joined by dots (quoted in brackets when they hold anything but
//! letters, digits, `_` and `-`: `metadata.labels["app.kubernetes.io/name"]`),
//! list items are named by their `name` (`[name=web]`) or position (`[0]`),
//! and `*` stands for any key or item.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One step of a path into an object.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Segment {
    /// A map key.
    Key(String),
    /// The item of a list whose `name` is this.
    Named(String),
    /// The item of a list at this position.
    Index(usize),
    /// Any key or item (ignore rules only).
    Any,
}

/// A path into an object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FieldPath(pub Vec<Segment>);

impl FieldPath {
    /// This path with `segment` after it.
    pub fn with(&self, segment: Segment) -> FieldPath {
        let mut next = self.clone();
        next.0.push(segment);
        next
    }

    /// Whether this path (an ignore rule's) is `other` or holds it.
    pub fn covers(&self, other: &FieldPath) -> bool {
        self.0.len() <= other.0.len()
            && self.0.iter().zip(&other.0).all(|(a, b)| match (a, b) {
                (Segment::Any, _) => true,
                (a, b) => a == b,
            })
    }

    /// The JSON pointer of this path in `object` (items by name resolved
    /// to their position there); `None` when it is not there.
    pub fn pointer(&self, object: &Value) -> Option<String> {
        let mut at = object;
        let mut pointer = String::new();
        for segment in &self.0 {
            let (next, token) = match segment {
                Segment::Key(k) => (at.get(k)?, k.replace('~', "~0").replace('/', "~1")),
                Segment::Index(i) => (at.get(*i)?, i.to_string()),
                Segment::Named(name) => {
                    let i = at.as_array()?.iter().position(|v| v["name"] == *name)?;
                    (&at[i], i.to_string())
                }
                Segment::Any => return None,
            };
            pointer.push('/');
            pointer.push_str(&token);
            at = next;
        }
        Some(pointer)
    }

    /// The value at this path in `object`.
    pub fn get<'a>(&self, object: &'a Value) -> Option<&'a Value> {
        self.pointer(object).and_then(|p| object.pointer(&p))
    }
}

fn simple(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(k) if simple(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(k)?;
                }
                Segment::Key(k) => write!(f, "[{}]", serde_json::to_string(k).unwrap_or_default())?,
                Segment::Named(n) => write!(f, "[name={n}]")?,
                Segment::Index(n) => write!(f, "[{n}]")?,
                Segment::Any if i > 0 => f.write_str(".*")?,
                Segment::Any => f.write_str("*")?,
            }
        }
        Ok(())
    }
}

/// Why a path could not be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path is empty.
    #[error("a path names at least one field")]
    Empty,
    /// Two dots, or a dot at an end.
    #[error("{path:?} has an empty field name (two dots, or a dot at an end)")]
    EmptyKey {
        /// The whole path.
        path: String,
    },
    /// Something in it is not a key, `[name=NAME]`, `[N]`, `["KEY"]` or `*`.
    #[error("{at:?} is not a field name, [name=NAME], [N], [\"KEY\"] or *")]
    Bad {
        /// What was found.
        at: String,
    },
}

impl FromStr for FieldPath {
    type Err = PathError;

    fn from_str(text: &str) -> Result<FieldPath, PathError> {
        let bad = |at: &str| PathError::Bad { at: at.to_owned() };
        let mut segments = Vec::new();
        let mut rest = text.trim();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('[') {
                let (inner, tail) = if after.starts_with('"') {
                    // A quoted key: up to its closing quote, then `]`.
                    let mut end = None;
                    let mut escaped = false;
                    for (i, c) in after.char_indices().skip(1) {
                        match c {
                            '\\' if !escaped => escaped = true,
                            '"' if !escaped => {
                                end = Some(i);
                                break;
                            }
                            _ => escaped = false,
                        }
                    }
                    let end = end.ok_or_else(|| bad(rest))?;
                    let tail = after[end + 1..]
                        .strip_prefix(']')
                        .ok_or_else(|| bad(rest))?;
                    (&after[..=end], tail)
                } else {
                    let end = after.find(']').ok_or_else(|| bad(rest))?;
                    (&after[..end], &after[end + 1..])
                };
                let segment = if inner.starts_with('"') {
                    Segment::Key(serde_json::from_str(inner).map_err(|_| bad(inner))?)
                } else if let Some(name) = inner.strip_prefix("name=") {
                    if name.is_empty() {
                        return Err(bad(inner));
                    }
                    Segment::Named(name.to_owned())
                } else if inner == "*" {
                    Segment::Any
                } else {
                    Segment::Index(inner.parse().map_err(|_| bad(inner))?)
                };
                segments.push(segment);
                rest = tail;
            } else {
                let rest_key = rest.strip_prefix('.').unwrap_or(rest);
                if rest_key.len() != rest.len() && segments.is_empty() {
                    return Err(bad(rest));
                }
                let end = rest_key.find(['.', '[']).unwrap_or(rest_key.len());
                let key = &rest_key[..end];
                if key.is_empty() {
                    return Err(PathError::EmptyKey {
                        path: text.to_owned(),
                    });
                }
                if key == "*" {
                    segments.push(Segment::Any);
                } else if simple(key) {
                    segments.push(Segment::Key(key.to_owned()));
                } else {
                    return Err(bad(if key.is_empty() { rest } else { key }));
                }
                rest = &rest_key[end..];
            }
        }
        if segments.is_empty() {
            return Err(PathError::Empty);
        }
        Ok(FieldPath(segments))
    }
}

impl Serialize for FieldPath {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for FieldPath {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn path(text: &str) -> FieldPath {
        text.parse().unwrap()
    }

    #[test]
    fn paths_read_and_print_the_same() {
        for text in [
            "spec.replicas",
            "spec.template.spec.containers[name=web].image",
            "metadata.labels[\"app.kubernetes.io/name\"]",
            "spec.ports[0].port",
            "spec.*.image",
            "data[\"a key\"]",
        ] {
            assert_eq!(path(text).to_string(), text);
        }
        assert_eq!(path("spec[*]").0[1], Segment::Any);
        for bad in [
            "",
            ".spec",
            "spec..x",
            "spec[",
            "spec[x]",
            "spec[name=]",
            "a b",
            "x[\"y]",
        ] {
            assert!(bad.parse::<FieldPath>().is_err(), "{bad}");
        }
        assert!(path("spec.replicas").covers(&path("spec.replicas")));
        assert!(path("spec").covers(&path("spec.replicas")));
        assert!(path("spec.*.image").covers(&path("spec.x.image")));
        assert!(!path("spec.replicas").covers(&path("spec")));
    }

    #[test]
    fn pointers_resolve_names_to_positions() {
        let object = json!({"spec": {"containers": [{"name": "a"}, {"name": "web", "ports": [{"containerPort": 80}]}]}});
        assert_eq!(
            path("spec.containers[name=web].ports[0]")
                .pointer(&object)
                .as_deref(),
            Some("/spec/containers/1/ports/0")
        );
        assert_eq!(
            path("metadata.labels[\"a/b\"]")
                .pointer(&json!({"metadata": {"labels": {"a/b": "x"}}}))
                .as_deref(),
            Some("/metadata/labels/a~1b")
        );
        assert_eq!(path("spec.nothing").pointer(&object), None);
    }
}
