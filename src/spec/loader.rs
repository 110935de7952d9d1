//! Reading a spec: TOML with places, variables, each resource's own
//! deserialization, the rules, the graph; every problem collected in one go.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kindform_api::bounded::{MAX_SPEC_BYTES, read_string_capped};
use kindform_api::kind_config::KindConfig;
use kindform_api::{Address, ClusterSpec, ResourceKind, Spec};
use serde::Deserialize as _;
use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::confine::Confinement;
use super::diagnostic::{Diagnostic, Diagnostics};
use super::kind_config::{check as check_kind, inline_to_camel, read_config_file, to_snake};
use super::rules::{Checker, Place};
use super::source::SourceFile;
use super::tree::{self, Seg, at, value_span};
use super::variables::{Variables, is_variable_name};
use super::{Error, Loaded};
use crate::graph::Graph;
use crate::suggest::{FieldCase, hint, retell};

const TOP_LEVEL: &[&str] = &[
    "version",
    "name",
    "variables",
    "outside_paths",
    "cluster",
    "images",
    "releases",
    "manifests",
    "checks",
];
const CLUSTER_OWN: &[&str] = &[
    "name",
    "node_image",
    "config",
    "ready_timeout",
    "allow_rebuild",
];

/// What the command line adds to a spec: variable values from `--var` and
/// from `KINDFORM_VAR_*` (the spec's own `[variables]` are read from the file).
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--var KEY=VALUE` pairs.
    pub overrides: BTreeMap<String, String>,
    /// `KINDFORM_VAR_<KEY>` values, by `<KEY>`.
    pub environment: BTreeMap<String, String>,
}

impl LoadOptions {
    /// Picks `KINDFORM_VAR_*` out of environment variables.
    pub fn with_environment(mut self, vars: impl IntoIterator<Item = (String, String)>) -> Self {
        self.environment = vars
            .into_iter()
            .filter_map(|(k, v)| k.strip_prefix("KINDFORM_VAR_").map(|k| (k.to_owned(), v)))
            .collect();
        self
    }
}

/// Reads, checks and resolves the spec at `path`, shown in messages as `shown`.
pub fn load(path: &Path, shown: &str, options: &LoadOptions) -> Result<Loaded, Error> {
    let read_error = |source| Error::Read {
        path: shown.to_owned(),
        source,
    };
    let text = std::fs::File::open(path)
        .and_then(|file| read_string_capped(file, MAX_SPEC_BYTES))
        .map_err(read_error)?;
    let base_dir = std::path::absolute(path)
        .map_err(read_error)?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    load_text(text, shown, &base_dir, options)
}

/// Checks and resolves spec `text`, shown in messages as `shown`, whose
/// relative paths are relative to `base_dir`.
pub fn load_text(
    text: String,
    shown: &str,
    base_dir: &Path,
    options: &LoadOptions,
) -> Result<Loaded, Error> {
    let shown_dir = Path::new(shown)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let source = Arc::new(SourceFile::new(shown, text));
    let mut loader = Loader {
        source: Arc::clone(&source),
        files: vec![Arc::clone(&source)],
        base_dir: base_dir.to_path_buf(),
        confinement: Confinement::of(base_dir),
        outside: Vec::new(),
        shown_dir,
        diagnostics: Vec::new(),
        poisoned: Vec::new(),
    };
    let result = loader.load(options);
    let mut diagnostics = Diagnostics::default();
    for d in loader.diagnostics {
        let shadowed = |p: &Range<usize>| {
            Arc::ptr_eq(&d.source, &source)
                && d.span != *p
                && d.span.start <= p.start
                && p.end <= d.span.end
        };
        if !loader.poisoned.iter().any(shadowed) {
            diagnostics.push(d);
        }
    }
    diagnostics.sort(&loader.files);
    match result {
        Some(loaded) if diagnostics.is_empty() => Ok(loaded),
        _ => Err(Error::Invalid(diagnostics)),
    }
}

struct Loader {
    source: Arc<SourceFile>,
    files: Vec<Arc<SourceFile>>,
    base_dir: PathBuf,
    /// Where the spec's paths may lead.
    confinement: Confinement,
    /// The folders its `outside_paths` allows.
    outside: Vec<String>,
    shown_dir: PathBuf,
    diagnostics: Vec<Diagnostic>,
    /// Places of variable references that did not resolve.
    poisoned: Vec<Range<usize>>,
}

/// A resource table of the document, with its name's place.
struct Entry<'a, 'i> {
    name: &'a str,
    name_span: Range<usize>,
    node: &'a Spanned<DeValue<'i>>,
}

impl Loader {
    fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.diagnostics
            .push(Diagnostic::new(&self.source, span, message));
    }

    fn load(&mut self, options: &LoadOptions) -> Option<Loaded> {
        let source = Arc::clone(&self.source);
        let mut root = match DeTable::parse(&source.text) {
            Ok(root) => root,
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                let message = e.message().trim().replace('\n', "; ");
                let message = if message.starts_with("duplicate key") {
                    format!(
                        "duplicate key `{}`: each name may be defined once",
                        source.slice(&span)
                    )
                } else {
                    format!("invalid TOML: {message}")
                };
                self.error(span, message);
                return None;
            }
        };
        let whole = root.span();
        let top = root.get_ref();
        for key in top.keys() {
            if !TOP_LEVEL.contains(&key.get_ref().as_ref()) {
                let message = format!(
                    "unknown key `{}`{}",
                    key.get_ref(),
                    top_level_hint(key.get_ref())
                );
                self.error(key.span(), message);
            }
        }
        let variables = Variables {
            overrides: options.overrides.clone(),
            environment: options.environment.clone(),
            spec: self.spec_variables(top),
        };
        let mut unresolved = Vec::new();
        for (key, value) in root.get_mut().iter_mut() {
            if key.get_ref() != "variables" {
                tree::substitute(value, &variables, &source, &mut unresolved);
            }
        }
        // A value whose variables did not resolve is reported once, for that.
        self.poisoned = unresolved.iter().map(|d| d.span.clone()).collect();
        self.diagnostics.append(&mut unresolved);
        let top = root.get_ref();
        self.outside_paths(top);
        let version = self.version(top, &whole);
        let name = self.environment_name(top, &whole);
        let env_name = name.clone().unwrap_or_default();
        let cluster = match top.get_key_value("cluster") {
            Some((key, value)) => self.cluster(key.span(), value, &env_name),
            None => {
                self.error(
                    whole.start..whole.start,
                    "missing required table `[cluster]`",
                );
                None
            }
        };
        let node_names = cluster.as_ref().map(ClusterSpec::node_names);

        let entries: Vec<(ResourceKind, Vec<Entry<'_, '_>>)> = ResourceKind::ALL[1..]
            .iter()
            .map(|&kind| (kind, self.entries(top, kind)))
            .collect();
        let mut images = BTreeMap::new();
        let mut releases = BTreeMap::new();
        let mut manifests = BTreeMap::new();
        let mut checks = BTreeMap::new();
        let mut refs = BTreeMap::new();
        let mut declared = vec![Address::Cluster];
        let mut places: HashMap<Address, &Spanned<DeValue<'_>>> = HashMap::new();
        for (kind, list) in &entries {
            for entry in list {
                let address = Address::new(*kind, entry.name);
                declared.push(address.clone());
                places.insert(address, entry.node);
                let place = Place {
                    node: entry.node,
                    name_span: entry.name_span.clone(),
                };
                let mut checker = Checker {
                    source: &source,
                    base_dir: &self.base_dir,
                    confinement: &self.confinement,
                    diagnostics: &mut self.diagnostics,
                };
                match kind {
                    ResourceKind::Cluster => {}
                    ResourceKind::Image => {
                        if let Some(image) = deserialize(entry.node, &source, checker.diagnostics) {
                            checker.image(
                                &place,
                                entry.name,
                                &image,
                                node_names.as_deref(),
                                &mut refs,
                            );
                            images.insert(entry.name.to_owned(), image);
                        }
                    }
                    ResourceKind::Release => {
                        if let Some(release) = deserialize(entry.node, &source, checker.diagnostics)
                        {
                            checker.release(&place, entry.name, &release);
                            releases.insert(entry.name.to_owned(), release);
                        }
                    }
                    ResourceKind::Manifest => {
                        if let Some(manifest) =
                            deserialize(entry.node, &source, checker.diagnostics)
                        {
                            checker.manifest(&place, entry.name, &manifest);
                            manifests.insert(entry.name.to_owned(), manifest);
                        }
                    }
                    ResourceKind::Check => {
                        if let Some(check) = deserialize(entry.node, &source, checker.diagnostics) {
                            checker.check(&place, entry.name, &check);
                            checks.insert(entry.name.to_owned(), check);
                        }
                    }
                }
            }
        }

        let spec = Spec {
            version: version.unwrap_or(1),
            name: env_name,
            base_dir: self.base_dir.clone(),
            cluster: cluster.unwrap_or_else(|| ClusterSpec {
                name: String::new(),
                node_image: None,
                ready_timeout: None,
                allow_rebuild: true,
                config_file: None,
                config: KindConfig::default(),
            }),
            images,
            releases,
            manifests,
            checks,
        };
        let graph = match Graph::from_parts(&declared, |a| spec.depends_on(a)) {
            Ok(graph) => Some(graph),
            Err(errors) => {
                for error in errors {
                    let (from, entry) = error.place();
                    let span = places
                        .get(from)
                        .map(|node| value_span(node, &at!["depends_on", entry]))
                        .unwrap_or(0..0);
                    self.error(span, error.to_string());
                }
                None
            }
        };
        Some(Loaded {
            spec,
            graph: graph?,
            outside_paths: self.outside.clone(),
        })
    }

    /// `outside_paths`: folders outside the spec's repository that its
    /// paths may lead into, said explicitly.
    fn outside_paths(&mut self, top: &DeTable<'_>) {
        let Some(value) = top.get("outside_paths") else {
            return;
        };
        let DeValue::Array(items) = value.get_ref() else {
            self.error(
                value.span(),
                "`outside_paths` is a list of folders, like `outside_paths = [\"../common-charts\"]`",
            );
            return;
        };
        for item in items {
            match item.get_ref() {
                DeValue::String(folder) if !folder.trim().is_empty() => {
                    let full = self.base_dir.join(folder.as_ref());
                    if full.is_dir() {
                        self.confinement.allow(&full);
                        self.outside.push(folder.to_string());
                    } else {
                        self.error(
                            item.span(),
                            format!("outside path `{folder}` is not a folder"),
                        );
                    }
                }
                _ => self.error(item.span(), "each of `outside_paths` is a folder's path"),
            }
        }
    }

    fn version(&mut self, top: &DeTable<'_>, whole: &Range<usize>) -> Option<u32> {
        match top.get("version").map(|v| (v.span(), v.get_ref())) {
            None => {
                self.error(
                    whole.start..whole.start,
                    "missing required key `version`: write `version = 1`",
                );
                None
            }
            Some((_, DeValue::Integer(i))) if i.as_str() == "1" => Some(1),
            Some((span, other)) => {
                self.error(
                    span,
                    format!(
                        "unsupported `version` {}: this kindform reads version 1",
                        shown_value(other)
                    ),
                );
                None
            }
        }
    }

    fn environment_name(&mut self, top: &DeTable<'_>, whole: &Range<usize>) -> Option<String> {
        match top.get("name").map(|v| (v.span(), v.get_ref())) {
            None => {
                self.error(
                    whole.start..whole.start,
                    "missing required key `name`: the environment's name, like `name = \"demo\"`",
                );
                None
            }
            Some((span, DeValue::String(s))) => {
                let mut checker = Checker {
                    source: &self.source,
                    base_dir: &self.base_dir,
                    confinement: &self.confinement,
                    diagnostics: &mut self.diagnostics,
                };
                checker.environment_name(span, s);
                Some(s.to_string())
            }
            Some((span, other)) => {
                self.error(
                    span,
                    format!("invalid type: {}, expected a string", other.type_str()),
                );
                None
            }
        }
    }

    fn spec_variables(&mut self, top: &DeTable<'_>) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let Some(value) = top.get("variables") else {
            return out;
        };
        let DeValue::Table(table) = value.get_ref() else {
            self.error(
                value.span(),
                "`variables` must be a table of names and values",
            );
            return out;
        };
        for (key, value) in table.iter() {
            let name = key.get_ref();
            if !is_variable_name(name) {
                self.error(key.span(), format!("`{name}` is not a variable name: use letters, digits, `_` and `-`, starting with a letter or `_`"));
            }
            let text = match value.get_ref() {
                DeValue::String(s) => s.to_string(),
                DeValue::Integer(i) => i.as_str().to_owned(),
                DeValue::Float(f) => f.as_str().to_owned(),
                DeValue::Boolean(b) => b.to_string(),
                other => {
                    self.error(
                        value.span(),
                        format!(
                            "variable `{name}` must be a string, number or boolean, not {}",
                            other.type_str()
                        ),
                    );
                    continue;
                }
            };
            out.insert(name.to_string(), text);
        }
        out
    }

    fn cluster(
        &mut self,
        key_span: Range<usize>,
        value: &Spanned<DeValue<'_>>,
        env_name: &str,
    ) -> Option<ClusterSpec> {
        let DeValue::Table(table) = value.get_ref() else {
            self.error(value.span(), "`cluster` must be a table");
            return None;
        };
        let mut ok = true;
        let mut string = |this: &mut Self, key: &str| -> Option<(String, Range<usize>)> {
            match table.get(key).map(|v| (v.span(), v.get_ref())) {
                None => None,
                Some((span, DeValue::String(s))) => Some((s.to_string(), span)),
                Some((span, other)) => {
                    this.error(
                        span,
                        format!("invalid type: {}, expected a string", other.type_str()),
                    );
                    ok = false;
                    None
                }
            }
        };
        let name = string(self, "name");
        let node_image = string(self, "node_image");
        let config_path = string(self, "config");
        let ready_timeout = string(self, "ready_timeout");
        let ready_timeout = match ready_timeout {
            None => None,
            Some((text, span)) => match text.parse::<kindform_api::Duration>() {
                Ok(d) => Some(d),
                Err(e) => {
                    self.error(span, e.to_string());
                    return None;
                }
            },
        };
        let allow_rebuild = match table.get("allow_rebuild").map(|v| (v.span(), v.get_ref())) {
            None => true,
            Some((_, DeValue::Boolean(b))) => *b,
            Some((span, other)) => {
                self.error(
                    span,
                    format!("invalid type: {}, expected a boolean", other.type_str()),
                );
                return None;
            }
        };
        let inline: DeTable<'_> = table
            .iter()
            .filter(|(k, _)| !CLUSTER_OWN.contains(&k.get_ref().as_ref()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Some((image, span)) = &node_image {
            if !super::rules::is_image_ref(image) {
                self.error(
                    span.clone(),
                    format!(
                        "`{image}` is not a valid image reference, like `kindest/node:v1.34.0`"
                    ),
                );
            }
        }
        let (config, config_file) = match &config_path {
            Some((path, span)) => {
                if let Some((first, _)) = inline.iter().next() {
                    self.error(first.span(), format!("`{}`: kind settings go either in the config file `{path}` or inline under [cluster], not both", first.get_ref()));
                    ok = false;
                }
                let full = self.base_dir.join(path);
                if self.confinement.check(&full).is_err() {
                    self.error(span.clone(), format!("kind config `{path}` is outside the spec's repository (the git work tree holding the spec, or the spec's folder), or leads out of it through a symlink; to read it anyway, list its folder in `outside_paths` at the top of the spec"));
                    return None;
                }
                if !full.is_file() {
                    self.error(span.clone(), format!("kind config `{path}` does not exist"));
                    return None;
                }
                let shown = self.shown_dir.join(path).display().to_string();
                match read_config_file(&full, shown) {
                    Ok(file) => {
                        self.files.push(file.source);
                        (file.config, Some(PathBuf::from(path)))
                    }
                    Err(problems) => {
                        if let Some(first) = problems.first() {
                            self.files.push(Arc::clone(&first.source));
                        }
                        self.diagnostics.extend(problems);
                        return None;
                    }
                }
            }
            None => {
                let (span, converted) = (
                    value.span(),
                    inline_to_camel(inline, false, &self.source, &mut self.diagnostics),
                );
                for reserved in ["kind", "apiVersion"] {
                    if let Some(span) = tree::key_span(&converted, reserved) {
                        self.error(
                            span,
                            format!(
                                "unknown key `{}` in [cluster]; the spec sets kind's header itself",
                                to_snake(reserved)
                            ),
                        );
                        ok = false;
                    }
                }
                let node = Spanned::new(span, DeValue::Table(converted));
                let config: KindConfig =
                    match KindConfig::deserialize(ValueDeserializer::from(node.clone())) {
                        Ok(config) => config,
                        Err(e) => {
                            let span = e.span().unwrap_or(key_span.clone());
                            self.error(span, retell(e.message(), FieldCase::Snake));
                            return None;
                        }
                    };
                for (path, message) in check_kind(&config) {
                    let snake: Vec<Seg> = path
                        .into_iter()
                        .map(|s| match s {
                            Seg::Key(k) => Seg::Key(to_snake(&k)),
                            index => index,
                        })
                        .collect();
                    self.error(value_span(value, &snake), message);
                    ok = false;
                }
                (config, None)
            }
        };
        // Falling back to the environment's name needs no check of its own: a
        // valid environment name is a valid cluster name, and an invalid one
        // is already reported.
        let (name, name_span) = match name {
            Some((name, span)) => (name, Some(span)),
            None => match &config.name {
                Some(name) => (name.clone(), Some(key_span.clone())),
                None => (env_name.to_owned(), None),
            },
        };
        if let Some(span) = name_span {
            let mut checker = Checker {
                source: &self.source,
                base_dir: &self.base_dir,
                confinement: &self.confinement,
                diagnostics: &mut self.diagnostics,
            };
            checker.cluster_name(span, &name);
        }
        ok.then(|| ClusterSpec {
            name,
            node_image: node_image.map(|(image, _)| image),
            config_file,
            config,
            ready_timeout,
            allow_rebuild,
        })
    }

    fn entries<'a, 'i>(&mut self, top: &'a DeTable<'i>, kind: ResourceKind) -> Vec<Entry<'a, 'i>> {
        let section = kind.section();
        let Some(value) = top.get(section) else {
            return Vec::new();
        };
        let DeValue::Table(table) = value.get_ref() else {
            self.error(
                value.span(),
                format!("`{section}` must be a table of named {section}, like [{section}.NAME]"),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (key, node) in table.iter() {
            if !matches!(node.get_ref(), DeValue::Table(_)) {
                self.error(
                    node.span(),
                    format!(
                        "`{section}.{}` must be a table, like [{section}.{}]",
                        key.get_ref(),
                        key.get_ref()
                    ),
                );
                continue;
            }
            out.push(Entry {
                name: key.get_ref(),
                name_span: key.span(),
                node,
            });
        }
        out
    }
}

/// Deserializes one resource on its own, so one bad resource hides no other.
fn deserialize<T: DeserializeOwned>(
    node: &Spanned<DeValue<'_>>,
    source: &Arc<SourceFile>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<T> {
    match T::deserialize(ValueDeserializer::from(node.clone())) {
        Ok(value) => Some(value),
        Err(e) => {
            let span = e.span().unwrap_or(node.span());
            diagnostics.push(Diagnostic::new(
                source,
                span,
                retell(e.message(), FieldCase::AsIs),
            ));
            None
        }
    }
}

fn top_level_hint(key: &str) -> String {
    let close = hint(key, TOP_LEVEL.iter().copied());
    if close.is_empty() {
        format!(
            "; a spec holds {}",
            TOP_LEVEL
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else {
        close
    }
}

fn shown_value(value: &DeValue<'_>) -> String {
    match value {
        DeValue::Integer(i) => i.as_str().to_owned(),
        DeValue::String(s) => format!("\"{s}\""),
        other => other.type_str().to_owned(),
    }
}
