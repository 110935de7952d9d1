//! The cluster's kind settings: read from a kind config file (YAML, kind's
//! camelCase, strict as kind is) or written inline in the spec in snake_case,
//! and the checks kind would make of them.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use kindform_api::bounded::read_string_capped;
use kindform_api::kind_config::{self, KindConfig, NodeRole};
use kindform_api::yaml;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::diagnostic::Diagnostic;
use super::source::SourceFile;
use super::tree::Seg;
use crate::suggest::{FieldCase, retell};

/// kind fields whose camelCase is not the plain conversion of their snake_case.
const IRREGULAR: &[(&str, &str)] = &[
    (
        "kubeadm_config_patches_json6902",
        "kubeadmConfigPatchesJSON6902",
    ),
    (
        "containerd_config_patches_json6902",
        "containerdConfigPatchesJSON6902",
    ),
    ("disable_default_cni", "disableDefaultCNI"),
];

/// Maps whose keys are data (label names, feature gates), not kind fields.
const FREE_FORM: &[&str] = &["labels", "feature_gates", "runtime_config"];

/// kind's camelCase for a spec snake_case field name.
pub fn to_camel(snake: &str) -> String {
    if let Some((_, camel)) = IRREGULAR.iter().find(|(s, _)| *s == snake) {
        return (*camel).to_owned();
    }
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The spec's snake_case for a kind camelCase field name.
pub fn to_snake(camel: &str) -> String {
    if let Some((snake, _)) = IRREGULAR.iter().find(|(_, c)| *c == camel) {
        return (*snake).to_owned();
    }
    let mut out = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Turns the inline kind fields of `[cluster]` into kind's camelCase shape so
/// that kind's own types read them; a camelCase key is an error, since the
/// spec writes kind fields in snake_case.
pub fn inline_to_camel<'i>(
    table: DeTable<'i>,
    free_form: bool,
    source: &Arc<SourceFile>,
    diagnostics: &mut Vec<Diagnostic>,
) -> DeTable<'i> {
    let mut out = DeTable::new();
    for (key, value) in table {
        let span = key.span();
        let name = key.into_inner();
        let converted = if free_form {
            name.to_string()
        } else if name.chars().any(|c| c.is_ascii_uppercase()) {
            diagnostics.push(Diagnostic::new(
                source,
                span,
                format!(
                    "`{name}`: kind fields are written in snake_case in the spec; write `{}`",
                    to_snake(&name)
                ),
            ));
            continue;
        } else {
            to_camel(&name)
        };
        let children_free = !free_form && FREE_FORM.contains(&name.as_ref());
        let value_span = value.span();
        let value = match value.into_inner() {
            DeValue::Table(t) => {
                DeValue::Table(inline_to_camel(t, children_free, source, diagnostics))
            }
            DeValue::Array(items) => DeValue::Array(
                items
                    .into_iter()
                    .map(|item| {
                        let span = item.span();
                        match item.into_inner() {
                            DeValue::Table(t) => Spanned::new(
                                span,
                                DeValue::Table(inline_to_camel(t, false, source, diagnostics)),
                            ),
                            other => Spanned::new(span, other),
                        }
                    })
                    .collect(),
            ),
            other => other,
        };
        out.insert(
            Spanned::new(span, converted.into()),
            Spanned::new(value_span, value),
        );
    }
    out
}

/// A kind config read from a file.
pub struct ConfigFile {
    /// The settings.
    pub config: KindConfig,
    /// The file's text, for messages.
    pub source: Arc<SourceFile>,
}

/// Reads and checks a kind config file as kind's strict decoder would;
/// problems point into that file.
pub fn read_config_file(path: &Path, shown_as: String) -> Result<ConfigFile, Vec<Diagnostic>> {
    let text = match std::fs::File::open(path)
        .and_then(|file| read_string_capped(file, yaml::MAX_FILE_BYTES))
    {
        Ok(text) => text,
        Err(e) => {
            let source = Arc::new(SourceFile::new(shown_as.clone(), ""));
            return Err(vec![Diagnostic::new(
                &source,
                0..0,
                format!("cannot read {shown_as}: {e}"),
            )]);
        }
    };
    let source = Arc::new(SourceFile::new(shown_as, text));
    let config: KindConfig = match yaml::from_str(&source.text) {
        Ok(config) => config,
        Err(e) => {
            let span = match e.location() {
                Some(loc) => {
                    let start = source.offset_of(loc.line(), loc.column());
                    start..word_end(&source.text, start)
                }
                None => 0..0,
            };
            let message = strip_location(&e.to_string());
            return Err(vec![Diagnostic::new(
                &source,
                span,
                format!(
                    "not a valid kind config: {}",
                    retell(&message, FieldCase::AsIs)
                ),
            )]);
        }
    };
    let mut problems = Vec::new();
    let header = [
        (
            "apiVersion",
            config.api_version.as_deref(),
            kind_config::API_VERSION,
        ),
        ("kind", config.kind.as_deref(), kind_config::KIND),
    ];
    for (field, found, wanted) in header {
        let message = match found {
            None => format!("a kind config needs `{field}: {wanted}`"),
            Some(value) if value != wanted => {
                format!("`{field}` is `{value}`; kind reads only `{field}: {wanted}`")
            }
            Some(_) => continue,
        };
        problems.push(Diagnostic::new(
            &source,
            yaml_key_span(&source.text, &[field]),
            message,
        ));
    }
    for (path, message) in check(&config) {
        let keys: Vec<&str> = path
            .iter()
            .filter_map(|s| match s {
                Seg::Key(k) => Some(k.as_str()),
                Seg::Index(_) => None,
            })
            .collect();
        problems.push(Diagnostic::new(
            &source,
            yaml_key_span(&source.text, &keys),
            message,
        ));
    }
    if problems.is_empty() {
        Ok(ConfigFile { config, source })
    } else {
        Err(problems)
    }
}

/// What kind would reject in settings that decode: each problem with the
/// path (kind's field names) of the setting it concerns.
pub fn check(config: &KindConfig) -> Vec<(Vec<Seg>, String)> {
    let mut problems = Vec::new();
    let key = |k: &str| Seg::Key(k.to_owned());
    if !config.nodes.is_empty()
        && !config
            .nodes
            .iter()
            .any(|n| n.role == NodeRole::ControlPlane)
    {
        problems.push((
            vec![key("nodes")],
            "a kind cluster needs a node with role `control-plane`".to_owned(),
        ));
    }
    let mut taken: Vec<(String, i32, String)> = Vec::new();
    for (n, node) in config.nodes.iter().enumerate() {
        for (m, mapping) in node.extra_port_mappings.iter().enumerate() {
            let Some(port) = mapping.host_port.map(|p| p.get()).filter(|&p| p > 0) else {
                continue;
            };
            let address = mapping
                .listen_address
                .clone()
                .unwrap_or_else(|| "0.0.0.0".into());
            let protocol = mapping
                .protocol
                .map(|p| p.to_string())
                .unwrap_or_else(|| "TCP".into());
            let entry = (address, port, protocol);
            if taken.contains(&entry) {
                problems.push((
                    vec![
                        key("nodes"),
                        Seg::Index(n),
                        key("extraPortMappings"),
                        Seg::Index(m),
                        key("hostPort"),
                    ],
                    format!(
                        "host port {port}/{} on {} is mapped twice",
                        entry.2, entry.0
                    ),
                ));
            } else {
                taken.push(entry);
            }
        }
        for (p, patch) in node.kubeadm_config_patches.iter().enumerate() {
            if let Err(e) = yaml::value(patch) {
                problems.push((
                    vec![
                        key("nodes"),
                        Seg::Index(n),
                        key("kubeadmConfigPatches"),
                        Seg::Index(p),
                    ],
                    format!(
                        "kubeadm patch is not YAML: {}",
                        strip_location(&e.to_string())
                    ),
                ));
            }
        }
    }
    for (p, patch) in config.kubeadm_config_patches.iter().enumerate() {
        if let Err(e) = yaml::value(patch) {
            problems.push((
                vec![key("kubeadmConfigPatches"), Seg::Index(p)],
                format!(
                    "kubeadm patch is not YAML: {}",
                    strip_location(&e.to_string())
                ),
            ));
        }
    }
    for (p, patch) in config.containerd_config_patches.iter().enumerate() {
        if let Err(e) = patch.parse::<toml::Table>() {
            problems.push((
                vec![key("containerdConfigPatches"), Seg::Index(p)],
                format!(
                    "containerd patch is not TOML: {}",
                    e.message().trim().replace('\n', "; ")
                ),
            ));
        }
    }
    problems
}

/// serde_yaml's message without its trailing ` at line L column C`.
fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// The end of the word starting at `start` (a key or a scalar).
fn word_end(text: &str, start: usize) -> usize {
    let rest = &text[start.min(text.len())..];
    start
        + rest
            .find(|c: char| c == ':' || c.is_whitespace() || c == ',')
            .unwrap_or(rest.len())
}

/// Best effort: the span of the last of `keys` in a YAML text, each searched
/// after the previous one; the start of the file when absent.
fn yaml_key_span(text: &str, keys: &[&str]) -> Range<usize> {
    let mut from = 0;
    let mut found = 0..0;
    for key in keys {
        let needle = format!("{key}:");
        let hit = text[from..]
            .match_indices(&needle)
            .map(|(i, _)| from + i)
            .find(|&i| {
                i == 0 || matches!(text.as_bytes()[i - 1], b' ' | b'\n' | b'{' | b'-' | b'\t')
            });
        match hit {
            Some(at) => {
                found = at..at + key.len();
                from = at + needle.len();
            }
            None => break,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_between_the_cases() {
        for (snake, camel) in [
            ("extra_port_mappings", "extraPortMappings"),
            ("container_port", "containerPort"),
            ("disable_default_cni", "disableDefaultCNI"),
            (
                "kubeadm_config_patches_json6902",
                "kubeadmConfigPatchesJSON6902",
            ),
            ("role", "role"),
        ] {
            assert_eq!(to_camel(snake), camel);
            assert_eq!(to_snake(camel), snake);
        }
    }

    #[test]
    fn finds_yaml_keys_in_order() {
        let text =
            "kind: Cluster\nnodes:\n- role: worker\n  extraPortMappings:\n  - hostPort: 80\n";
        let span = yaml_key_span(text, &["nodes", "extraPortMappings", "hostPort"]);
        assert_eq!(&text[span], "hostPort");
        assert_eq!(yaml_key_span(text, &["missing"]), 0..0);
    }
}
