//! Local charts: their name and version (from `Chart.yaml`) and a digest of
//! every file, so that an edited template is seen without rendering. The
//! digests go into the applied record when the release is applied.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kindform_api::bounded::{read_capped, read_string_capped};
use kindform_api::yaml::MAX_FILE_BYTES;
use serde::Deserialize;

/// A chart folder as read from disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalChart {
    /// The folder.
    pub dir: PathBuf,
    /// `name` in `Chart.yaml`.
    pub name: String,
    /// `version` in `Chart.yaml`.
    pub version: String,
    /// Each file's digest, by path relative to the folder (`/`-separated).
    pub files: BTreeMap<String, String>,
}

/// Why a local chart could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// A file or folder could not be read.
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `Chart.yaml` does not say the chart's name and version.
    #[error("{path} does not give the chart's `name` and `version`")]
    ChartYaml {
        path: PathBuf,
        #[source]
        source: serde_yaml_ng::Error,
    },
}

#[derive(Deserialize)]
struct ChartYaml {
    name: String,
    version: serde_yaml_ng::Value,
}

/// Reads the chart in `dir`.
pub fn read(dir: &Path) -> Result<LocalChart, ChartError> {
    let chart_yaml = dir.join("Chart.yaml");
    let text = std::fs::File::open(&chart_yaml)
        .and_then(|f| read_string_capped(f, MAX_FILE_BYTES))
        .map_err(|source| ChartError::Read {
            path: chart_yaml.clone(),
            source,
        })?;
    let meta: ChartYaml =
        kindform_api::yaml::from_str(&text).map_err(|source| ChartError::ChartYaml {
            path: chart_yaml.clone(),
            source,
        })?;
    let version = match meta.version {
        serde_yaml_ng::Value::String(s) => s,
        other => serde_yaml_ng::to_string(&other)
            .unwrap_or_default()
            .trim()
            .to_owned(),
    };
    let mut files = BTreeMap::new();
    walk(dir, dir, &mut files)?;
    Ok(LocalChart {
        dir: dir.to_owned(),
        name: meta.name,
        version,
        files,
    })
}

fn walk(root: &Path, dir: &Path, files: &mut BTreeMap<String, String>) -> Result<(), ChartError> {
    let read_error = |path: &Path| {
        let path = path.to_owned();
        move |source| ChartError::Read { path, source }
    };
    for entry in std::fs::read_dir(dir).map_err(read_error(dir))? {
        let entry = entry.map_err(read_error(dir))?;
        let path = entry.path();
        let name = entry.file_name();
        if name == ".git" {
            continue;
        }
        if path.is_dir() {
            walk(root, &path, files)?;
        } else {
            let bytes = std::fs::File::open(&path)
                .and_then(|f| read_capped(f, MAX_FILE_BYTES))
                .map_err(read_error(&path))?;
            let relative = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            files.insert(relative, kindform_api::settings::digest(&bytes));
        }
    }
    Ok(())
}
