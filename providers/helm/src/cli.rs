//! Running `helm`: every call names the cluster explicitly (`--kube-context`
//! and `--kubeconfig`, so the user's kubeconfig and current context never
//! matter), runs in the spec's folder, and is bounded in time. Outputs are
//! parsed in the shapes the real Helm 3 and 4 print (docs/tools.md).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use kindform_api::Cancel;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::AsyncWriteExt as _;

/// How long a reading call may take.
const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// Sends SIGINT to a `helm` kindform runs, as Ctrl-C on a terminal would:
/// Helm then stops waiting and leaves a release it can recover from.
fn interrupt(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        // SAFETY: kill(2) with a pid this process spawned and a valid signal.
        unsafe {
            libc::kill(pid, libc::SIGINT);
        }
    }
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

    /// Runs `helm version --template {{.Version}}` and checks that kindform
    /// supports what it finds.
    pub async fn detect() -> Result<HelmVersion, HelmError> {
        let command = "helm version --template {{.Version}}".to_owned();
        let output = tokio::time::timeout(
            READ_TIMEOUT,
            tokio::process::Command::new("helm")
                .args(["version", "--template", "{{.Version}}"])
                .stdin(Stdio::null())
                .kill_on_drop(true)
                .output(),
        )
        .await
        .map_err(|_| HelmError::Timeout {
            command: command.clone(),
            waited: READ_TIMEOUT.as_secs(),
        })?
        .map_err(|source| HelmError::Spawn {
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
    /// `helm` could not be started.
    #[error("cannot run `{command}`")]
    Spawn {
        /// The command, without the kubeconfig flags.
        command: String,
        #[source]
        source: std::io::Error,
    },
    /// `helm` exited with an error.
    #[error("`{command}` failed: {message}")]
    Failed {
        command: String,
        /// Helm's message, without the `Error: ` prefix.
        message: String,
    },
    /// `helm` did not finish in time.
    #[error("`{command}` did not finish within {waited}s")]
    Timeout {
        command: String,
        /// How long it was given.
        waited: u64,
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

    /// The state folder (where the kubeconfig is).
    pub fn state_dir(&self) -> &Path {
        self.kubeconfig.parent().unwrap_or(Path::new("."))
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
        let command = format!("helm {}", args.join(" "));
        let started = std::time::Instant::now();
        let mut child = tokio::process::Command::new("helm")
            .args(args)
            .arg("--kube-context")
            .arg(&self.context)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .current_dir(&self.cwd)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| HelmError::Spawn {
                command: command.clone(),
                source,
            })?;
        if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // A write error means helm exited early; its stderr says why.
            let _ = pipe.write_all(bytes).await;
        }
        let pid = child.id();
        let waiting = tokio::time::timeout(timeout, child.wait_with_output());
        tokio::pin!(waiting);
        let cancelled = async {
            while !self.cancel.is_cancelled() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        let output = tokio::select! {
            output = &mut waiting => output,
            () = cancelled => {
                if let Some(pid) = pid {
                    interrupt(pid);
                }
                waiting.await
            }
        };
        let output = output
            .map_err(|_| HelmError::Timeout {
                command: command.clone(),
                waited: timeout.as_secs(),
            })?
            .map_err(|source| HelmError::Spawn {
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
                .unwrap_or_else(|| stderr.trim())
                .to_owned();
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
            name,
            "--namespace",
            namespace,
            "-o",
            "json",
        ])
        .await
    }

    /// A release's revisions, oldest first.
    pub async fn history(&self, name: &str, namespace: &str) -> Result<Vec<Revision>, HelmError> {
        self.json(&["history", name, "--namespace", namespace, "-o", "json"])
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
