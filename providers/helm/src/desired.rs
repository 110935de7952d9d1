//! A release as the spec means it: its chart resolved, its values put
//! together as Helm stores them, and the arguments of the helm commands
//! that install it.

use std::path::{Path, PathBuf};

use kindform_api::ReleaseSpec;
use kindform_api::release::ChartSource;
use kindform_api::settings::{fingerprint, redact, sorted};
use kindform_kube::RecordEntry;
use serde_json::{Value, json};

use crate::chart::{self, LocalChart};
use crate::cli::HelmVersion;
use crate::error::ReleaseError;
use crate::values::{self, Values};

/// Where the chart comes from, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DesiredChart {
    /// A chart folder beside the spec.
    Local(LocalChart),
    /// A chart in a repository, by name.
    Repository {
        /// The repository URL.
        repo: String,
        /// The chart's name.
        name: String,
    },
    /// An OCI reference.
    Oci(String),
}

/// A release as the spec means it, with its values put together and a local
/// chart read. Holds secrets: never serialised or printed whole.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredRelease {
    pub name: String,
    pub spec: ReleaseSpec,
    /// The spec's folder.
    pub base_dir: PathBuf,
    /// The chart.
    pub chart: DesiredChart,
    /// The user-supplied values.
    pub values: Values,
    /// The `helm` that installs it: the plan shows its commands for it.
    pub helm: HelmVersion,
}

/// Reads the release's chart and values (secrets included) from the spec.
pub fn resolve(
    name: &str,
    spec: &ReleaseSpec,
    base_dir: &Path,
    helm: &HelmVersion,
) -> Result<DesiredRelease, ReleaseError> {
    let chart = match spec.chart_source() {
        ChartSource::Local(path) => DesiredChart::Local(chart::read(&base_dir.join(path))?),
        ChartSource::Repository { repo, name } => DesiredChart::Repository {
            repo: repo.to_owned(),
            name: name.to_owned(),
        },
        ChartSource::Oci(reference) => DesiredChart::Oci(reference.to_owned()),
    };
    let values = values::resolve(&spec.values, &spec.set, base_dir)?;
    Ok(DesiredRelease {
        name: name.to_owned(),
        spec: spec.clone(),
        base_dir: base_dir.to_owned(),
        chart,
        values,
        helm: helm.clone(),
    })
}

/// A version that names one release, not a range.
pub(crate) fn exact(version: &str) -> Option<&str> {
    let v = version.trim().trim_start_matches('v');
    let ok = !v.is_empty()
        && v.starts_with(|c: char| c.is_ascii_digit())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-+".contains(c))
        && !v.split(['.', '-', '+']).any(|p| p == "x" || p == "X");
    ok.then_some(v)
}

impl DesiredRelease {
    /// `releases.<name>`.
    pub fn address(&self) -> String {
        format!("releases.{}", self.name)
    }

    /// The chart as `helm list` shows it (`<name>-<version>`), when the spec
    /// pins it.
    pub fn chart_label(&self) -> Option<String> {
        match &self.chart {
            DesiredChart::Local(c) => Some(format!("{}-{}", c.name, c.version)),
            DesiredChart::Repository { name, .. } => {
                let version = exact(self.spec.version.as_deref()?)?;
                Some(format!("{name}-{version}"))
            }
            DesiredChart::Oci(reference) => {
                let name = reference.rsplit('/').next()?.split(':').next()?;
                let version = exact(self.spec.version.as_deref()?)?;
                Some(format!("{name}-{version}"))
            }
        }
    }

    /// The values as plans show them: keys sorted, secrets hidden.
    pub fn shown_values(&self) -> Value {
        shown(&self.values.merged, &self.values.sensitive)
    }

    /// The chart argument(s) of a helm command: a folder, a name with
    /// `--repo`, or an OCI reference; with `--version` when pinned.
    pub fn chart_ref(&self) -> String {
        match &self.chart {
            DesiredChart::Local(c) => c.dir.display().to_string(),
            DesiredChart::Repository { name, .. } => name.clone(),
            DesiredChart::Oci(reference) => reference.clone(),
        }
    }

    /// The flags that say where the chart comes from (`--repo`,
    /// `--version`).
    pub fn chart_flags(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let DesiredChart::Repository { repo, .. } = &self.chart {
            args.extend(["--repo".to_owned(), repo.clone()]);
        }
        if let Some(version) = &self.spec.version {
            args.extend(["--version".into(), version.clone()]);
        }
        args
    }

    /// The `-f` arguments of the values files, in order.
    pub fn values_args(&self) -> Vec<String> {
        self.spec
            .values
            .iter()
            .flat_map(|f| ["-f".to_owned(), self.base_dir.join(f).display().to_string()])
            .collect()
    }

    /// The `set` values as the YAML file kindform passes last.
    pub fn set_values_yaml(&self) -> String {
        serde_yaml_ng::to_string(&self.values.set).unwrap_or_default()
    }

    /// The install or upgrade command, as the plan shows it (for the
    /// `helm` that will run it); with `force` (fields in drift), Helm 4
    /// takes the fields others changed.
    pub fn upgrade_command(&self, force: bool) -> String {
        let helm = &self.helm;
        let chart = match self.spec.chart_source() {
            ChartSource::Local(path) => path.to_owned(),
            ChartSource::Repository { repo, name } => format!("{name} --repo {repo}"),
            ChartSource::Oci(reference) => reference.to_owned(),
        };
        let spec = &self.spec;
        let mut command = format!(
            "helm upgrade --install {} {chart} --namespace {}",
            self.name, spec.namespace
        );
        if spec.create_namespace {
            command.push_str(" --create-namespace");
        }
        if let Some(version) = &spec.version {
            command.push_str(&format!(" --version {version}"));
        }
        for file in &spec.values {
            command.push_str(&format!(" -f {}", file.display()));
        }
        if !spec.set.is_empty() {
            command.push_str(" -f - (the set values, on stdin)");
        }
        if (spec.take_ownership || force) && helm.major() >= 4 {
            command.push_str(" --force-conflicts");
        }
        if spec.wait {
            command.push_str(&format!(" {}", helm.wait_flag()));
        }
        if spec.wait_for_jobs {
            command.push_str(" --wait-for-jobs");
        }
        if let Some(timeout) = spec.timeout {
            command.push_str(&format!(" --timeout {timeout}"));
        }
        command
    }

    /// The arguments of `helm upgrade --install`, the set values read from
    /// stdin when `set_on_stdin`; with `force`, Helm 4 takes the fields
    /// others changed (`--force-conflicts`).
    pub fn upgrade_args(&self, set_on_stdin: bool, helm: &HelmVersion, force: bool) -> Vec<String> {
        let spec = &self.spec;
        let mut args = vec!["upgrade".to_owned(), "--install".to_owned()];
        args.extend(self.chart_flags());
        args.extend(["--namespace".to_owned(), spec.namespace.clone()]);
        if spec.create_namespace {
            args.push("--create-namespace".into());
        }
        args.extend(self.values_args());
        if set_on_stdin {
            args.extend(["-f".to_owned(), "-".to_owned()]);
        }
        if (spec.take_ownership || force) && helm.major() >= 4 {
            // Helm 4 applies server-side: the objects kindform adopts, and
            // fields changed by hand, are owned by another manager, which
            // only a forced apply takes from it.
            args.push("--force-conflicts".into());
        }
        if spec.wait {
            args.push(helm.wait_flag().into());
        }
        if spec.wait_for_jobs {
            args.push("--wait-for-jobs".into());
        }
        if let Some(timeout) = spec.timeout {
            args.extend(["--timeout".to_owned(), timeout.to_string()]);
        }
        // Positionals after `--`: whatever they hold, helm reads no flag
        // from them.
        args.extend(["--".to_owned(), self.name.clone(), self.chart_ref()]);
        args
    }

    /// The arguments of the `helm template` that renders the release as it
    /// would be installed, the set values read from stdin.
    pub fn template_args(&self) -> Vec<String> {
        let mut args = vec!["template".to_owned()];
        args.extend(self.chart_flags());
        args.extend(["--namespace".into(), self.spec.namespace.clone()]);
        args.extend(self.values_args());
        args.extend(["-f".into(), "-".into()]);
        args.extend(["--".to_owned(), self.name.clone(), self.chart_ref()]);
        args
    }

    pub(crate) fn settings(&self, chart: Option<String>, values: Value) -> Value {
        json!({
            "chart": chart,
            "namespace": self.spec.namespace,
            "values": values,
        })
    }
}

pub(crate) fn shown(values: &Value, sensitive: &[Vec<String>]) -> Value {
    let mut v = values::normalized(values);
    redact(&mut v, sensitive);
    sorted(&v)
}

/// What the applied record keeps for a release: for a local chart, the
/// digest of each of its files; nothing for other charts.
pub fn record_entry(desired: &DesiredRelease) -> Option<RecordEntry> {
    let DesiredChart::Local(chart) = &desired.chart else {
        return None;
    };
    let settings =
        json!({"chart": format!("{}-{}", chart.name, chart.version), "files": chart.files});
    Some(RecordEntry {
        fingerprint: fingerprint(&settings),
        settings,
    })
}
