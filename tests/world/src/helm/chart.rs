//! Charts as the stand-in helm reads them: a folder with `Chart.yaml`,
//! `values.yaml`, `templates/` (and `templates/NOTES.txt`); values merged as
//! Helm merges them; `--set` parsed as Helm's strvals does for scalars and
//! `{a,b}` lists.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{Map, Value, json};

/// A loaded chart.
#[derive(Debug, Clone)]
pub struct Chart {
    /// Chart.yaml as JSON (camelCase keys).
    pub metadata: Value,
    /// values.yaml.
    pub values: Value,
    /// Templates by path (`templates/x.yaml`), sorted.
    pub templates: Vec<(String, String)>,
    /// The folder it came from.
    pub dir: PathBuf,
}

impl Chart {
    /// Loads a chart folder.
    pub fn load(dir: &Path) -> Result<Chart, String> {
        let chart_yaml = dir.join("Chart.yaml");
        let text = std::fs::read_to_string(&chart_yaml)
            .map_err(|_| format!("Chart.yaml file is missing in {}", dir.display()))?;
        let metadata: Value =
            serde_yaml_ng::from_str(&text).map_err(|e| format!("cannot load Chart.yaml: {e}"))?;
        if metadata["name"].as_str().is_none_or(str::is_empty) {
            return Err("validation: chart.metadata.name is required".into());
        }
        if metadata["version"].as_str().is_none_or(str::is_empty) {
            return Err("validation: chart.metadata.version is required".into());
        }
        let values = match std::fs::read_to_string(dir.join("values.yaml")) {
            Ok(t) if !t.trim().is_empty() => {
                serde_yaml_ng::from_str(&t).map_err(|e| format!("cannot load values.yaml: {e}"))?
            }
            _ => json!({}),
        };
        let mut templates = Vec::new();
        let tdir = dir.join("templates");
        if let Ok(entries) = std::fs::read_dir(&tdir) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_file() {
                    let name = format!("templates/{}", entry.file_name().to_string_lossy());
                    templates.push((name, std::fs::read_to_string(&path).unwrap_or_default()));
                }
            }
        }
        templates.sort();
        Ok(Chart {
            metadata,
            values,
            templates,
            dir: dir.to_path_buf(),
        })
    }

    /// `name`
    pub fn name(&self) -> &str {
        self.metadata["name"].as_str().unwrap_or_default()
    }

    /// `version`
    pub fn version(&self) -> &str {
        self.metadata["version"].as_str().unwrap_or_default()
    }

    /// `appVersion`
    pub fn app_version(&self) -> &str {
        self.metadata["appVersion"].as_str().unwrap_or_default()
    }

    /// The `chart` object of a release JSON (pkg/chart: metadata, lock,
    /// templates and files as `{name, data}` with base64 data, values, schema).
    pub fn to_release_json(&self) -> Value {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        json!({
            "metadata": self.metadata,
            "lock": null,
            "templates": self.templates.iter().map(|(n, t)| json!({"name": n, "data": b64(t)})).collect::<Vec<_>>(),
            "values": self.values,
            "schema": null,
            "files": [],
        })
    }
}

/// Helm's value merge: maps merge key by key, anything else (lists
/// included) replaces, later wins; `null` is kept as `null`.
pub fn merge_values(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        merge_values(existing, v)
                    }
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// Coalesces user values over chart defaults, where a user `null` deletes
/// the default (as Helm does when computing the values templates see).
pub fn coalesce(defaults: &Value, user: &Value) -> Value {
    let mut out = defaults.clone();
    fn apply(base: &mut Value, over: &Value) {
        match (base, over) {
            (Value::Object(b), Value::Object(o)) => {
                for (k, v) in o {
                    if v.is_null() {
                        b.remove(k);
                    } else if let Some(existing) =
                        b.get_mut(k).filter(|e| e.is_object() && v.is_object())
                    {
                        apply(existing, v);
                    } else {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
            (b, o) => *b = o.clone(),
        }
    }
    apply(&mut out, user);
    out
}

/// Sets `a.b.c` to `value` in `target`, making maps on the way.
pub fn set_path(target: &mut Value, path: &str, value: Value) {
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let mut here = target;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let map = here.as_object_mut().expect("a map");
        if i == parts.len() - 1 {
            map.insert((*part).to_owned(), value);
            return;
        }
        let next = map
            .entry((*part).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !next.is_object() {
            *next = Value::Object(Map::new());
        }
        here = next;
    }
}

/// A `--set` value typed as Helm's strvals types it.
pub fn typed(text: &str) -> Value {
    match text {
        "true" => json!(true),
        "false" => json!(false),
        "null" => Value::Null,
        _ => {
            if let Some(inner) = text.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                return Value::Array(inner.split(',').map(typed).collect());
            }
            let plain_int = text == "0" || !text.starts_with('0');
            match text.parse::<i64>() {
                Ok(i) if plain_int => json!(i),
                _ => json!(text),
            }
        }
    }
}

/// Splits `a=1,b={x,y}` into pairs, keeping braces together.
pub fn set_pairs(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    let mut parts = Vec::new();
    for c in text.chars() {
        match c {
            '{' => {
                depth += 1;
                cur.push(c);
            }
            '}' => {
                depth -= 1;
                cur.push(c);
            }
            ',' if depth == 0 => parts.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    parts.push(cur);
    for part in parts.into_iter().filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("failed parsing --set data: key \"{part}\" has no value"))?;
        pairs.push((k.to_owned(), v.to_owned()));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_merge_like_helm() {
        let mut base = json!({"a": {"b": 1, "c": [1, 2]}, "d": "x"});
        merge_values(&mut base, &json!({"a": {"c": [3], "e": null}, "d": "y"}));
        assert_eq!(base, json!({"a": {"b": 1, "c": [3], "e": null}, "d": "y"}));
    }

    #[test]
    fn set_values_are_typed() {
        assert_eq!(typed("2"), json!(2));
        assert_eq!(typed("007"), json!("007"));
        assert_eq!(typed("true"), json!(true));
        assert_eq!(typed("{a,b}"), json!(["a", "b"]));
        assert_eq!(
            set_pairs("a.b=1,c={x,y}").unwrap(),
            [
                ("a.b".to_owned(), "1".to_owned()),
                ("c".to_owned(), "{x,y}".to_owned())
            ]
        );
    }
}
