//! kubeconfig files as kind writes them: `kind-<name>` cluster, user and
//! context, merged into an existing file, and removed again on delete.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_yaml_ng::{Mapping, Value};

use crate::pki::Pki;

/// The kubeconfig of one cluster, as `kind get kubeconfig` prints it.
pub fn render(name: &str, server: &str, pki: &Pki) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    format!(
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: {server}\n  name: kind-{name}\ncontexts:\n- context:\n    cluster: kind-{name}\n    user: kind-{name}\n  name: kind-{name}\ncurrent-context: kind-{name}\nkind: Config\npreferences: {{}}\nusers:\n- name: kind-{name}\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
        b64(&pki.ca_pem),
        b64(&pki.client_cert_pem),
        b64(&pki.client_key_pem),
    )
}

/// Which file kind merges into: `--kubeconfig`, else the first existing
/// `$KUBECONFIG` entry (or its last), else `~/.kube/config`.
pub fn target(
    flag: Option<&str>,
    cwd: &Path,
    kubeconfig_env: Option<&str>,
    home: Option<&str>,
) -> PathBuf {
    if let Some(path) = flag {
        return cwd.join(path);
    }
    if let Some(list) = kubeconfig_env.filter(|l| !l.is_empty()) {
        let entries: Vec<PathBuf> = list
            .split(':')
            .filter(|e| !e.is_empty())
            .map(|e| cwd.join(e))
            .collect();
        if let Some(existing) = entries.iter().find(|p| p.exists()) {
            return existing.clone();
        }
        if let Some(last) = entries.last() {
            return last.clone();
        }
    }
    PathBuf::from(home.unwrap_or("/root")).join(".kube/config")
}

fn load(path: &Path) -> Result<Mapping, String> {
    match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => match serde_yaml_ng::from_str::<Value>(&text) {
            Ok(Value::Mapping(m)) => Ok(m),
            Ok(_) => Ok(Mapping::new()),
            Err(e) => Err(format!("failed to load kubeconfig {}: {e}", path.display())),
        },
        _ => Ok(Mapping::new()),
    }
}

fn save(path: &Path, config: Mapping) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let text = serde_yaml_ng::to_string(&Value::Mapping(config)).map_err(|e| e.to_string())?;
    std::fs::write(path, text)
        .map_err(|e| format!("failed to write kubeconfig {}: {e}", path.display()))
}

/// Merges cluster `name`'s entries into the file and makes its context current.
pub fn merge(path: &Path, name: &str, rendered: &str) -> Result<(), String> {
    let mut config = load(path)?;
    let Ok(Value::Mapping(ours)) = serde_yaml_ng::from_str::<Value>(rendered) else {
        return Err("bad rendered kubeconfig".into());
    };
    for list in ["clusters", "contexts", "users"] {
        let mut entries: Vec<Value> = match config.get(list) {
            Some(Value::Sequence(s)) => s.clone(),
            _ => Vec::new(),
        };
        entries.retain(|e| e.get("name").and_then(Value::as_str) != Some(&format!("kind-{name}")));
        if let Some(Value::Sequence(new)) = ours.get(list) {
            entries.extend(new.iter().cloned());
        }
        config.insert(list.into(), Value::Sequence(entries));
    }
    config.insert("apiVersion".into(), "v1".into());
    config.insert("kind".into(), "Config".into());
    config
        .entry("preferences".into())
        .or_insert(Value::Mapping(Mapping::new()));
    config.insert("current-context".into(), format!("kind-{name}").into());
    save(path, config)
}

/// Removes cluster `name`'s entries from the file, if it exists.
pub fn remove(path: &Path, name: &str) -> Result<(), String> {
    if !path.exists() {
        return Ok(());
    }
    let mut config = load(path)?;
    let ours = format!("kind-{name}");
    for list in ["clusters", "contexts", "users"] {
        if let Some(Value::Sequence(entries)) = config.get_mut(list) {
            entries.retain(|e| e.get("name").and_then(Value::as_str) != Some(ours.as_str()));
        }
    }
    if config.get("current-context").and_then(Value::as_str) == Some(ours.as_str()) {
        config.insert("current-context".into(), "".into());
    }
    save(path, config)
}
