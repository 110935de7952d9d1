//! Running `helm`: every call names the cluster explicitly (`--kube-context`
//! and `--kubeconfig`, so the user's kubeconfig and current context never
//! matter), runs in the spec's folder, and is bounded in time. Outputs are
//! parsed in the shapes the real Helm 3 and 4 print (docs/tools.md).

use std::path::{Path, PathBuf};
use std::time::Duration;

use kindform_api::Cancel;
use kindform_api::printable::printable;
use kindform_process::{Invocation, ProcessError};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How long a reading call may take.
const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// A call as messages show it: without the context and kubeconfig flags
/// every call carries.
fn shown(call: &Invocation) -> String {
    let mut argv = call.argv();
    if let Some(at) = argv.iter().position(|a| a == "--kube-context") {
        argv.drain(at..(at + 4).min(argv.len()));
    }
    argv.join(" ")
}

/// The oldest Helm kindform drives.
pub const OLDEST_SUPPORTED: (u64, u64) = (3, 14);

/// The version of the `helm` on PATH, read once per run: the command line
/// kindform builds differs between the majors (Helm 4 has no `-a` on
/// `list`, waits with `--wait=watcher`, renamed `--atomic` and `--force`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HelmVersion {
    /// Major, minor and patch.
    pub number: (u64, u64, u64),
    /// As `helm version` printed it (`v3.17.2`).
    pub text: String,
}

impl HelmVersion {
    /// Reads `v3.17.2` (or `3.17.2`, with any `+build` or `-pre` suffix).
    pub fn parse(text: &str) -> Option<HelmVersion> {
        let text = text.trim();
        let bare = text.strip_prefix('v').unwrap_or(text);
        let core = bare.split(['+', '-']).next()?;
        let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
        let number = (
            parts.next()??,
            parts.next()??,
            parts.next().flatten().unwrap_or(0),
        );
        Some(HelmVersion {
            number,
            text: text.to_owned(),
        })
    }

    /// `helm version --template {{.Version}}`.
    pub fn version_call() -> Invocation {
        Invocation::new("helm")
            .args(["version", "--template", "{{.Version}}"])
            .timeout(READ_TIMEOUT)
    }

    /// The version of the `helm` on PATH, checked as supported: read from
    /// the cache when that binary (its path, size and modification time)
    /// was asked before, else by `helm version --template {{.Version}}`,
    /// and cached.
    pub async fn detect() -> Result<HelmVersion, HelmError> {
        let binary = crate::version_cache::Binary::on_path("helm");
        if let Some(text) = binary.as_ref().and_then(|b| b.cached()) {
            if let Some(version) = HelmVersion::parse(&text) {
                version.check()?;
                return Ok(version);
            }
        }
        let version = Self::ask().await?;
        if let Some(binary) = binary {
            binary.store(&version.text);
        }
        Ok(version)
    }

    /// Runs `helm version --template {{.Version}}` and checks that kindform
    /// supports what it finds.
    async fn ask() -> Result<HelmVersion, HelmError> {
        let call = Self::version_call();
        let command = shown(&call);
        let output = call.run(None).await.map_err(|source| HelmError::Run {
            command: command.clone(),
            source,
        })?;
        let printed = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        let version = HelmVersion::parse(&printed).ok_or_else(|| HelmError::Failed {
            command,
            message: format!(
                "printed {printed:?}, not a version{}",
                String::from_utf8_lossy(&output.stderr)
                    .lines()
                    .next()
                    .map(|l| format!(" ({l})"))
                    .unwrap_or_default()
            ),
        })?;
        version.check()?;
        Ok(version)
    }

    /// Refuses a Helm older than [`OLDEST_SUPPORTED`] or newer than 4.
    pub fn check(&self) -> Result<(), HelmError> {
        let (major, minor, _) = self.number;
        if (major, minor) < OLDEST_SUPPORTED || major > 4 {
            return Err(HelmError::Unsupported {
                found: self.text.clone(),
            });
        }
        Ok(())
    }

    /// The major version.
    pub fn major(&self) -> u64 {
        self.number.0
    }

    /// How `--wait` is spelled: bare on Helm 3; on Helm 4 it takes a
    /// strategy, and `watcher` (its default for a bare `--wait`) is named so
    /// the command says what it does.
    pub fn wait_flag(&self) -> &'static str {
        if self.major() >= 4 {
            "--wait=watcher"
        } else {
            "--wait"
        }
    }

    /// The arguments of a list of every release in every namespace, pending
    /// and failed ones included: Helm 4 lists every status by default and
    /// has no `-a`.
    pub fn list_args(&self) -> Vec<&'static str> {
        if self.major() >= 4 {
            vec!["list", "-A", "-o", "json"]
        } else {
            vec!["list", "-a", "-A", "-o", "json"]
        }
    }
}

impl std::fmt::Display for HelmVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Drives the `helm` on PATH against one cluster.
#[derive(Clone, Debug)]
pub struct Helm {
    kubeconfig: PathBuf,
    context: String,
    cwd: PathBuf,
    version: HelmVersion,
    cancel: Cancel,
}

/// Why a `helm` call failed.
#[derive(Debug, thiserror::Error)]
pub enum HelmError {
    /// `helm` could not be started, did not finish in time, or printed
    /// more than kindform reads.
    #[error("`{command}`: {source}")]
    Run {
        /// The command, without the kubeconfig flags.
        command: String,
        #[source]
        source: ProcessError,
    },
    /// `helm` exited with an error.
    #[error("`{command}` failed: {message}")]
    Failed {
        command: String,
        /// Helm's message, without the `Error: ` prefix.
        message: String,
    },
    /// The `helm` on PATH is a version kindform does not drive.
    #[error(
        "helm {found} is not supported: kindform drives Helm 3.14 or later, and Helm 4 (tested with 3.17.2 and 4.3.1)"
    )]
    Unsupported {
        /// The version found.
        found: String,
    },
    /// Its output is not the JSON expected.
    #[error("`{command}` printed output kindform cannot read")]
    Output {
        command: String,
        #[source]
        source: serde_json::Error,
    },
}

/// One row of `helm list -o json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listed {
    pub name: String,
    pub namespace: String,
    /// Its latest revision (a string in this output).
    pub revision: String,
    /// When it last changed, in Go's `Time.String()` form.
    #[serde(default)]
    pub updated: String,
    /// `deployed`, `failed`, `pending-upgrade`, …
    pub status: crate::status::ReleaseStatus,
    /// `<chart name>-<chart version>`.
    pub chart: String,
    /// The chart's app version.
    #[serde(default)]
    pub app_version: String,
}

/// One entry of `helm history -o json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    /// The revision number.
    pub revision: u64,
    /// Its status.
    pub status: crate::status::ReleaseStatus,
    /// `<chart name>-<chart version>`.
    #[serde(default)]
    pub chart: String,
    /// What Helm said about it.
    #[serde(default)]
    pub description: String,
}

impl Helm {
    /// Calls of the Helm `version` against context `kind-<cluster>` of
    /// `kubeconfig`, run in `cwd`.
    /// A `cancel` asked while helm runs interrupts it.
    pub fn new(
        kubeconfig: &Path,
        cluster: &str,
        cwd: &Path,
        version: HelmVersion,
        cancel: Cancel,
    ) -> Self {
        Helm {
            kubeconfig: kubeconfig.to_owned(),
            context: format!("kind-{cluster}"),
            cwd: cwd.to_owned(),
            version,
            cancel,
        }
    }

    /// The version of the `helm` this drives.
    pub fn version(&self) -> &HelmVersion {
        &self.version
    }

    /// The `helm` processes (of any kindform, or a person's shell) working
    /// on release `name` of this cluster now: their argv names the release
    /// and this cluster's context or kubeconfig.
    pub fn running_on(&self, name: &str) -> Vec<kindform_process::Running> {
        let kubeconfig = self.kubeconfig.display().to_string();
        kindform_process::running(|argv| {
            // The program, or the script a shell runs.
            let helm = argv
                .iter()
                .take(2)
                .any(|a| Path::new(a).file_name().is_some_and(|p| p == "helm"));
            helm && argv.iter().any(|a| a == name)
                && argv.iter().any(|a| {
                    a == &self.context
                        || a == &kubeconfig
                        || a.ends_with(&format!("={}", self.context))
                })
        })
    }

    /// The state folder (where the kubeconfig is).
    pub fn state_dir(&self) -> &Path {
        self.kubeconfig.parent().unwrap_or(Path::new("."))
    }

    /// The call of `helm ARGS` against this cluster: the arguments, then
    /// the context and kubeconfig flags, run in the spec's folder.
    pub fn invocation(
        &self,
        args: &[String],
        stdin: Option<&[u8]>,
        timeout: Duration,
    ) -> Invocation {
        // The cluster's flags go before a `--`, where helm still reads
        // flags.
        let end = args.iter().position(|a| a == "--").unwrap_or(args.len());
        let call = Invocation::new("helm")
            .args(&args[..end])
            .arg("--kube-context")
            .arg(&self.context)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(&args[end..])
            .current_dir(&self.cwd)
            .timeout(timeout);
        match stdin {
            Some(bytes) => call.stdin(bytes),
            None => call,
        }
    }

    /// Runs `helm ARGS`, feeding `stdin` when given; its stdout on success.
    pub async fn run(&self, args: &[String], stdin: Option<&[u8]>) -> Result<String, HelmError> {
        self.run_for(args, stdin, READ_TIMEOUT).await
    }

    /// [`Helm::run`] with its own time bound (for `--wait` upgrades).
    pub async fn run_for(
        &self,
        args: &[String],
        stdin: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<String, HelmError> {
        let call = self.invocation(args, stdin, timeout);
        let command = shown(&call);
        let started = std::time::Instant::now();
        let output = call
            .run(Some(&self.cancel))
            .await
            .map_err(|source| HelmError::Run {
                command: command.clone(),
                source,
            })?;
        tracing::debug!(
            "{command}: exit {} in {} ms",
            output.status.code().unwrap_or(-1),
            started.elapsed().as_millis()
        );
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let message = stderr
                .lines()
                .rev()
                .find_map(|l| l.strip_prefix("Error: "))
                .unwrap_or_else(|| stderr.trim());
            // Helm's errors quote rendered templates and values.
            let message = printable(message).into_owned();
            return Err(HelmError::Failed { command, message });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    async fn json<T: serde::de::DeserializeOwned>(&self, args: &[&str]) -> Result<T, HelmError> {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let out = self.run(&args, None).await?;
        serde_json::from_str(out.trim()).map_err(|source| HelmError::Output {
            command: format!("helm {}", args.join(" ")),
            source,
        })
    }

    /// Every release in every namespace, pending ones included
    /// (`helm list -a -A -o json`; Helm 4 without `-a`).
    pub async fn list(&self) -> Result<Vec<Listed>, HelmError> {
        self.json(&self.version.list_args()).await
    }

    /// The user-supplied values of a release (`null` when none were given).
    pub async fn values(&self, name: &str, namespace: &str) -> Result<Value, HelmError> {
        self.json(&[
            "get",
            "values",
            "--namespace",
            namespace,
            "-o",
            "json",
            "--",
            name,
        ])
        .await
    }

    /// The manifest a release's latest revision rendered.
    pub async fn manifest(&self, name: &str, namespace: &str) -> Result<String, HelmError> {
        let args: Vec<String> = ["get", "manifest", "--namespace", namespace, "--", name]
            .iter()
            .map(|a| (*a).to_owned())
            .collect();
        self.run(&args, None).await
    }

    /// A release's revisions, oldest first.
    pub async fn history(&self, name: &str, namespace: &str) -> Result<Vec<Revision>, HelmError> {
        self.json(&[
            "history",
            "--namespace",
            namespace,
            "-o",
            "json",
            "--",
            name,
        ])
        .await
    }
}

#[cfg(test)]
mod version_tests {
    use super::*;

    #[test]
    fn versions_are_read_and_old_ones_refused() {
        let v3 = HelmVersion::parse("v3.17.2").unwrap();
        assert_eq!(v3.number, (3, 17, 2));
        assert!(v3.check().is_ok());
        assert_eq!(v3.wait_flag(), "--wait");
        assert!(v3.list_args().contains(&"-a"));
        let v4 = HelmVersion::parse("v4.3.1+g1234").unwrap();
        assert!(v4.check().is_ok());
        assert_eq!(v4.wait_flag(), "--wait=watcher");
        assert!(!v4.list_args().contains(&"-a"));
        let old = HelmVersion::parse("v3.13.3").unwrap();
        assert_eq!(
            old.check().unwrap_err().to_string(),
            "helm v3.13.3 is not supported: kindform drives Helm 3.14 or later, and Helm 4 (tested with 3.17.2 and 4.3.1)"
        );
        assert!(HelmVersion::parse("v5.0.0").unwrap().check().is_err());
        assert!(HelmVersion::parse("garbage").is_none());
    }
}
