//! The checks a spec must pass once it has parsed: names Helm and kind accept,
//! files that exist, well-formed URLs and references, no duplicates.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, LazyLock};

use kindform_api::bounded::read_string_capped;
use kindform_api::check::Probe;
use kindform_api::release::ChartSource;
use kindform_api::yaml;
use kindform_api::{CheckSpec, ImageSpec, ManifestSource, ManifestSpec, ReleaseSpec, SetValue};
use regex::Regex;
use toml::Spanned;
use toml::de::DeValue;

use super::confine::{Confinement, Outside};
use super::diagnostic::Diagnostic;
use super::source::SourceFile;

use super::tree::{self, Seg, at, key_span_at, value_span};
use crate::suggest::hint;

// kind takes `^[a-z0-9.-]+$`; kindform also wants a letter or digit at
// each end, so that a name is never read as a flag (`--help`) or a path
// (`..`) by the tools it is handed to.
static CLUSTER_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$").unwrap());
/// A repository chart's bare name: never a flag.
static CHART_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9][A-Za-z0-9._-]*$").unwrap());
static RELEASE_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$").unwrap()
});
static DNS_LABEL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$").unwrap());
static RESOURCE_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$").unwrap());
static IMAGE_REF: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)?",
        r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*",
        r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
    ))
    .unwrap()
});
static SHA256: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[A-Fa-f0-9]{64}$").unwrap());

/// Whether `text` is a well-formed image reference: Docker's grammar, and
/// its bound of 255 characters on the name (tag and digest aside), checked
/// first so that a huge reference costs nothing to refuse.
pub fn is_image_ref(text: &str) -> bool {
    let without_digest = text.split('@').next().unwrap_or(text);
    let name = match without_digest.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => name,
        _ => without_digest,
    };
    text.len() <= 255 + 1 + 128 + 72 && name.len() <= 255 && IMAGE_REF.is_match(text)
}

/// Where the checks report, and what they need to know.
pub struct Checker<'a> {
    /// The spec's text.
    pub source: &'a Arc<SourceFile>,
    /// The folder relative paths are relative to.
    pub base_dir: &'a Path,
    /// Where paths may lead.
    pub confinement: &'a Confinement,
    /// Found problems.
    pub diagnostics: &'a mut Vec<Diagnostic>,
}

/// Where a checked resource sits in the document.
pub struct Place<'a, 'i> {
    /// The resource's table.
    pub node: &'a Spanned<DeValue<'i>>,
    /// The span of its name, the key of its table.
    pub name_span: std::ops::Range<usize>,
}

impl Checker<'_> {
    fn at_value(&mut self, place: &Place<'_, '_>, path: &[Seg], message: impl Into<String>) {
        let span = value_span(place.node, path);
        self.diagnostics
            .push(Diagnostic::new(self.source, span, message));
    }

    fn at_key(&mut self, place: &Place<'_, '_>, path: &[Seg], message: impl Into<String>) {
        let span = key_span_at(place.node, path);
        self.diagnostics
            .push(Diagnostic::new(self.source, span, message));
    }

    fn at_name(&mut self, place: &Place<'_, '_>, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic::new(
            self.source,
            place.name_span.clone(),
            message,
        ));
    }

    /// Shown path of a spec path, as written.
    fn shown(path: &Path) -> String {
        path.display().to_string()
    }

    /// Whether `path` stays inside the spec's repository; a problem at
    /// `at` when it does not.
    fn confined(&mut self, place: &Place<'_, '_>, at: &[Seg], path: &Path, what: &str) -> bool {
        let message = match self.confinement.check(&self.base_dir.join(path)) {
            Ok(()) => return true,
            Err(Outside::Path) => format!(
                "{what} `{}` is outside the spec's repository (the git work tree holding the spec, or the spec's folder); to read it anyway, list its folder in `outside_paths` at the top of the spec",
                Self::shown(path)
            ),
            Err(Outside::Link { link }) if link == self.base_dir.join(path) => format!(
                "{what} `{}` is a symlink leading outside the spec's repository; to read it anyway, list where it leads in `outside_paths` at the top of the spec",
                Self::shown(path)
            ),
            Err(Outside::Link { link }) => format!(
                "{what} `{}` holds `{}`, a symlink leading outside the spec's repository; to read it anyway, list where it leads in `outside_paths` at the top of the spec",
                Self::shown(path),
                link.display()
            ),
        };
        self.at_value(place, at, message);
        false
    }

    fn require_file(&mut self, place: &Place<'_, '_>, at: &[Seg], path: &Path, what: &str) {
        if !self.confined(place, at, path, what) {
            return;
        }
        let full = self.base_dir.join(path);
        if !full.is_file() {
            let why = if full.is_dir() {
                "is a folder, not a file"
            } else {
                "does not exist"
            };
            self.at_value(place, at, format!("{what} `{}` {why}", Self::shown(path)));
        }
    }

    fn require_dir(&mut self, place: &Place<'_, '_>, at: &[Seg], path: &Path, what: &str) {
        if !self.confined(place, at, path, what) {
            return;
        }
        let full = self.base_dir.join(path);
        if !full.is_dir() {
            let why = if full.exists() {
                "is not a folder"
            } else {
                "does not exist"
            };
            self.at_value(place, at, format!("{what} `{}` {why}", Self::shown(path)));
        }
    }

    fn check_namespace(&mut self, place: &Place<'_, '_>, at: &[Seg], namespace: &str) {
        if namespace.len() > 63 || !DNS_LABEL.is_match(namespace) {
            self.at_value(
                place,
                at,
                format!("`{namespace}` is not a valid namespace: use at most 63 lower-case letters, digits and `-`, starting and ending with a letter or digit"),
            );
        }
    }

    fn check_http_url(&mut self, place: &Place<'_, '_>, at: &[Seg], text: &str, what: &str) {
        match url::Url::parse(text) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => {}
            Ok(u) => self.at_value(
                place,
                at,
                format!(
                    "{what} `{text}` must be an http or https address, not `{}:`",
                    u.scheme()
                ),
            ),
            Err(e) => self.at_value(place, at, format!("{what} `{text}` is not a URL: {e}")),
        }
    }

    /// A resource name that is not the cluster's or a release's.
    pub fn resource_name(&mut self, place: &Place<'_, '_>, section: &str, name: &str) {
        if !RESOURCE_NAME.is_match(name) {
            self.at_name(
                place,
                format!("`{section}.{name}`: names use letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit"),
            );
        }
    }

    /// The environment's name, which labels and the state folder carry.
    pub fn environment_name(&mut self, span: std::ops::Range<usize>, name: &str) {
        if name.len() > 63 || !DNS_LABEL.is_match(name) {
            self.diagnostics.push(Diagnostic::new(
                self.source,
                span,
                format!("environment name `{name}` must be at most 63 lower-case letters, digits and `-`, starting and ending with a letter or digit"),
            ));
        }
    }

    /// The cluster's name, as kind checks it.
    pub fn cluster_name(&mut self, span: std::ops::Range<usize>, name: &str) {
        if !CLUSTER_NAME.is_match(name) {
            self.diagnostics.push(Diagnostic::new(
                self.source,
                span,
                format!("cluster name `{name}` is not one kindform accepts: use lower-case letters, digits, `.` and `-`, starting and ending with a letter or digit"),
            ));
        }
    }

    pub fn image(
        &mut self,
        place: &Place<'_, '_>,
        name: &str,
        image: &ImageSpec,
        node_names: Option<&[String]>,
        refs: &mut BTreeMap<String, String>,
    ) {
        self.resource_name(place, "images", name);
        if !is_image_ref(&image.reference) {
            self.at_value(
                place,
                &at!["ref"],
                format!("`{}` is not a valid image reference (like `ghcr.io/org/app:local`: lower-case repository, optional tag)", image.reference),
            );
        } else if let Some(other) = refs.get(&image.reference) {
            self.at_value(
                place,
                &at!["ref"],
                format!(
                    "duplicate image: `{}` is already the ref of images.{other}",
                    image.reference
                ),
            );
        } else {
            refs.insert(image.reference.clone(), name.to_owned());
        }
        if let Some(nodes) = &image.nodes {
            if nodes.is_empty() {
                self.at_value(
                    place,
                    &at!["nodes"],
                    "`nodes` is empty: leave it out to load into every node",
                );
            }
            for (i, node) in nodes.iter().enumerate() {
                if nodes[..i].contains(node) {
                    self.at_value(place, &at!["nodes", i], format!("duplicate node `{node}`"));
                } else if let Some(known) = node_names.filter(|known| !known.contains(node)) {
                    self.at_value(
                        place,
                        &at!["nodes", i],
                        format!(
                            "the cluster has no node `{node}`; its nodes are {}{}",
                            known
                                .iter()
                                .map(|n| format!("`{n}`"))
                                .collect::<Vec<_>>()
                                .join(", "),
                            hint(node, known.iter().map(String::as_str))
                        ),
                    );
                }
            }
        }
        if let Some(build) = &image.build {
            self.require_dir(
                place,
                &at!["build", "context"],
                &build.context,
                "build context",
            );
            let dockerfile: std::path::PathBuf = build
                .context
                .join(&build.dockerfile)
                .components()
                .filter(|c| !matches!(c, std::path::Component::CurDir))
                .collect();
            let at = if tree::has(place.node, &at!["build", "dockerfile"]) {
                at!["build", "dockerfile"]
            } else {
                at!["build", "context"]
            };
            let context = self.base_dir.join(&build.context);
            if context.is_dir() && self.confinement.check(&context).is_ok() {
                self.require_file(place, &at, &dockerfile, "Dockerfile");
            }
        }
    }

    /// A Helm release.
    pub fn release(&mut self, place: &Place<'_, '_>, name: &str, release: &ReleaseSpec) {
        if name.len() > 53 {
            self.at_name(
                place,
                format!(
                    "release name `{name}` is {} characters long; Helm allows at most 53",
                    name.len()
                ),
            );
        } else if !RELEASE_NAME.is_match(name) {
            self.at_name(
                place,
                format!("release name `{name}` is not one Helm accepts: use lower-case letters, digits, `-` and `.`, starting and ending with a letter or digit"),
            );
        }
        match release.chart_source() {
            ChartSource::Local(chart) => {
                let full = self.base_dir.join(chart);
                if !self.confined(place, &at!["chart"], Path::new(chart), "chart") {
                } else if full.is_dir() {
                    if !full.join("Chart.yaml").is_file() {
                        self.at_value(
                            place,
                            &at!["chart"],
                            format!("chart folder `{chart}` has no Chart.yaml"),
                        );
                    }
                } else if full.is_file() {
                    // kindform reads a local chart's Chart.yaml and files to
                    // plan; a packaged chart would pass here and fail there.
                    self.at_value(
                        place,
                        &at!["chart"],
                        format!("chart `{chart}` is a file: a local chart is a folder with Chart.yaml (unpack it with `tar xzf`, or serve it from a chart repository and set `repo`)"),
                    );
                } else {
                    self.at_value(
                        place,
                        &at!["chart"],
                        format!("chart `{chart}` is not a local chart folder; for a repository chart, set `repo`"),
                    );
                }
                if release.version.is_some() {
                    self.at_key(place, &at!["version"], "`version` applies to repository and OCI charts only; a local chart's version is its Chart.yaml's");
                }
            }
            ChartSource::Repository { repo, name: chart } => {
                self.check_http_url(place, &at!["repo"], repo, "chart repository");
                if chart.contains('/') {
                    self.at_value(
                        place,
                        &at!["chart"],
                        format!("with `repo`, `chart` is the chart's bare name, not `{chart}`"),
                    );
                } else if !CHART_NAME.is_match(chart) {
                    self.at_value(
                        place,
                        &at!["chart"],
                        format!("`{chart}` is not a chart name: use letters, digits, `.`, `_` and `-`, starting with a letter or digit"),
                    );
                }
            }
            ChartSource::Oci(reference) => {
                if reference
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control())
                {
                    self.at_value(
                        place,
                        &at!["chart"],
                        "an OCI reference has no spaces or control characters",
                    );
                }
            }
        }
        if let Some(version) = &release.version {
            if version.starts_with('-') || version.chars().any(char::is_control) {
                self.at_value(
                    place,
                    &at!["version"],
                    format!("`{version}` is not a chart version or range"),
                );
            }
        }
        self.check_namespace(place, &at!["namespace"], &release.namespace);
        for (i, values) in release.values.iter().enumerate() {
            if release.values[..i].contains(values) {
                self.at_value(
                    place,
                    &at!["values", i],
                    format!("duplicate values file `{}`", values.display()),
                );
            } else {
                self.require_file(place, &at!["values", i], values, "values file");
            }
        }
        for (key, value) in &release.set {
            if key.is_empty() || key.split('.').any(str::is_empty) {
                self.at_key(
                    place,
                    &at!["set", key.as_str()],
                    format!("`{key}` is not a dotted values key like `image.tag`"),
                );
            }
            match value {
                SetValue::File {
                    file,
                    sensitive: false,
                } => self.require_file(
                    place,
                    &at!["set", key.as_str(), "file"],
                    file,
                    "values file",
                ),
                // A secret file may be made just before apply, so it need
                // not exist yet; where it is read from is checked all the same.
                SetValue::File {
                    file,
                    sensitive: true,
                } => {
                    self.confined(
                        place,
                        &at!["set", key.as_str(), "file"],
                        file,
                        "values file",
                    );
                }
                _ => {}
            }
        }
        for (i, rule) in release.ignore.iter().enumerate() {
            for (key, value) in [
                ("kind", &rule.kind),
                ("name", &rule.name),
                ("namespace", &rule.namespace),
            ] {
                if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                    self.at_value(
                        place,
                        &[Seg::from("ignore"), Seg::Index(i), Seg::from(key)],
                        format!("`{key}` names the objects the rule covers: leave it out to mean every one"),
                    );
                }
            }
        }
        if release.wait_for_jobs && !release.wait {
            self.at_key(
                place,
                &at!["wait_for_jobs"],
                "`wait_for_jobs` needs `wait = true` (Helm waits for jobs only while waiting)",
            );
        }
    }

    pub fn manifest(&mut self, place: &Place<'_, '_>, name: &str, manifest: &ManifestSpec) {
        self.resource_name(place, "manifests", name);
        match &manifest.source {
            ManifestSource::Path(path) => {
                let full = self.base_dir.join(path);
                if !self.confined(place, &at!["path"], path, "manifest") {
                } else if full.is_dir() {
                    let has_yaml = std::fs::read_dir(&full)
                        .map(|entries| {
                            entries.flatten().any(|e| {
                                e.path()
                                    .extension()
                                    .is_some_and(|x| x == "yaml" || x == "yml")
                            })
                        })
                        .unwrap_or(false);
                    if !has_yaml {
                        self.at_value(
                            place,
                            &at!["path"],
                            format!(
                                "manifest folder `{}` holds no .yaml or .yml file",
                                path.display()
                            ),
                        );
                    }
                } else if full.is_file() {
                    let read = std::fs::File::open(&full)
                        .and_then(|file| read_string_capped(file, yaml::MAX_FILE_BYTES));
                    let why = match read {
                        Ok(text) => check_objects(&text).err(),
                        Err(e) => Some(format!("cannot be read: {e}")),
                    };
                    if let Some(why) = why {
                        self.at_value(
                            place,
                            &at!["path"],
                            format!("manifest `{}`: {why}", path.display()),
                        );
                    }
                } else {
                    self.at_value(
                        place,
                        &at!["path"],
                        format!("manifest `{}` does not exist", path.display()),
                    );
                }
            }
            ManifestSource::Url { url, sha256 } => {
                self.check_http_url(place, &at!["url"], url, "manifest address");
                if !SHA256.is_match(sha256) {
                    self.at_value(
                        place,
                        &at!["sha256"],
                        "`sha256` must be 64 hexadecimal digits",
                    );
                }
            }
            ManifestSource::Inline(text) => {
                if let Err(why) = check_objects(text) {
                    self.at_value(place, &at!["inline"], format!("inline manifest: {why}"));
                }
            }
        }
        if let Some(namespace) = &manifest.namespace {
            self.check_namespace(place, &at!["namespace"], namespace);
        }
        for (i, wait) in manifest.wait.iter().enumerate() {
            match (&wait.selector, &wait.name) {
                (None, None) => self.at_value(
                    place,
                    &at!["wait", i],
                    "a wait condition needs `selector` or `name`",
                ),
                (Some(_), Some(_)) => self.at_key(
                    place,
                    &at!["wait", i, "name"],
                    "set `selector` or `name`, not both",
                ),
                _ => {}
            }
            if let Some(namespace) = &wait.namespace {
                self.check_namespace(place, &at!["wait", i, "namespace"], namespace);
            }
        }
    }

    pub fn check(&mut self, place: &Place<'_, '_>, name: &str, check: &CheckSpec) {
        self.resource_name(place, "checks", name);
        match &check.probe {
            Probe::Http(http) => {
                self.check_http_url(place, &at!["http", "url"], &http.url, "check address");
                if !(100..=599).contains(&http.status) {
                    self.at_value(
                        place,
                        &at!["http", "status"],
                        format!("{} is not an HTTP status code", http.status),
                    );
                }
            }
            Probe::Run { argv, workdir, .. } => {
                let program = Path::new(&argv[0]);
                if program.is_absolute() {
                    // The machine's own program, as one found on PATH is.
                    if !is_executable(program) {
                        self.at_value(
                            place,
                            &at!["run", 0],
                            format!("program `{}` is not an executable file", argv[0]),
                        );
                    }
                } else if argv[0].contains('/') {
                    self.require_file(place, &at!["run", 0], program, "program");
                    if !is_executable(&self.base_dir.join(program))
                        && self.base_dir.join(program).is_file()
                    {
                        self.at_value(
                            place,
                            &at!["run", 0],
                            format!("program `{}` is not executable (chmod +x it)", argv[0]),
                        );
                    }
                }
                if let Some(workdir) = workdir {
                    self.require_dir(place, &at!["workdir"], workdir, "working folder");
                }
            }
            Probe::PodsReady(pods) => {
                self.check_namespace(place, &at!["pods_ready", "namespace"], &pods.namespace);
                if pods.selector.trim().is_empty() {
                    self.at_value(
                        place,
                        &at!["pods_ready", "selector"],
                        "`selector` is empty; write a label selector like `app=web`",
                    );
                }
            }
        }
    }
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(_: &Path) -> bool {
    true
}

/// Checks that YAML text is a stream of Kubernetes objects (each with
/// `apiVersion`, `kind` and `metadata.name`), empty documents allowed.
pub fn check_objects(text: &str) -> Result<usize, String> {
    let mut count = 0;
    for (i, document) in yaml::documents(text).into_iter().enumerate() {
        let value = document.map_err(|e| format!("document {} is not YAML: {e}", i + 1))?;
        if value.is_null() {
            continue;
        }
        let field = |name: &str| {
            value
                .get(name)
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
        };
        if field("apiVersion").is_none() || field("kind").is_none() {
            return Err(format!(
                "document {} is not a Kubernetes object (it needs `apiVersion` and `kind`)",
                i + 1
            ));
        }
        let named = value
            .get("metadata")
            .and_then(|m| m.get("name").or_else(|| m.get("generateName")))
            .is_some();
        if !named {
            return Err(format!("document {} has no `metadata.name`", i + 1));
        }
        count += 1;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references() {
        for good in [
            "app",
            "app:local",
            "ghcr.io/org/reddog-ui:local",
            "localhost:5000/a/b:1.0",
            "busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert!(IMAGE_REF.is_match(good), "{good}");
        }
        for bad in ["App:local", "app:", "ghcr.io//x", ":tag", "a b"] {
            assert!(!IMAGE_REF.is_match(bad), "{bad}");
        }
        let long_name = format!("ghcr.io/{}", "a".repeat(255));
        assert!(!is_image_ref(&long_name));
        assert!(is_image_ref(&format!("ghcr.io/{}:tag", "a".repeat(240))));
        let huge = format!("app:{}", "a".repeat(2 << 20));
        assert!(!is_image_ref(&huge));
    }

    #[test]
    fn cluster_and_chart_names_are_never_flags_or_paths() {
        for bad in ["--help", "-x", "..", ".", ".kf", "kf.", "kf-", "Kf", "k f"] {
            assert!(!CLUSTER_NAME.is_match(bad), "{bad}");
        }
        for good in ["kf", "kind-dev", "a.b-1", "x"] {
            assert!(CLUSTER_NAME.is_match(good), "{good}");
        }
        for bad in ["--post-renderer=sh", "-x", "", " web", "we b", ".hidden"] {
            assert!(!CHART_NAME.is_match(bad), "{bad}");
        }
        for good in ["dapr", "ingress-nginx", "Web_2.x"] {
            assert!(CHART_NAME.is_match(good), "{good}");
        }
    }

    #[test]
    fn release_names_follow_helm() {
        for good in ["web", "reddog-infra", "a.b", "a1"] {
            assert!(RELEASE_NAME.is_match(good), "{good}");
        }
        for bad in ["Web", "-web", "web-", "a..b", "a_b", ""] {
            assert!(!RELEASE_NAME.is_match(bad), "{bad}");
        }
    }

    #[test]
    fn manifests_must_be_objects() {
        assert_eq!(
            check_objects("---\napiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\n"),
            Ok(1)
        );
        assert!(check_objects("kind: Namespace\n").is_err());
        assert!(check_objects("a: [").is_err());
    }
}
