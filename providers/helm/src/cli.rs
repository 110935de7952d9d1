//! Running `helm`: every call names the cluster explicitly (`--kube-context`
//! and `--kubeconfig`, so the user's kubeconfig and current context never
//! matter), runs in the spec's folder, and is bounded in time. Outputs are
//! parsed in the shapes of cli-contracts.md part 2.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::AsyncWriteExt as _;

/// How long a reading call may take.
const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// The `helm` processes running now, so that an interrupt reaches them.
static RUNNING: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());

/// Sends SIGINT to every `helm` kindform runs, as Ctrl-C on a terminal
/// would: Helm then stops waiting and leaves a release it can recover from.
pub fn interrupt_all() {
    for pid in RUNNING.lock().unwrap().iter() {
        if let Ok(pid) = i32::try_from(*pid) {
            // SAFETY: kill(2) with a pid this process spawned and a valid signal.
            unsafe {
                libc::kill(pid, libc::SIGINT);
            }
        }
    }
}

/// Drives the `helm` on PATH against one cluster.
#[derive(Clone, Debug)]
pub struct Helm {
    kubeconfig: PathBuf,
    context: String,
    cwd: PathBuf,
}

/// Why a `helm` call failed.
#[derive(Debug, thiserror::Error)]
pub enum HelmError {
    /// `helm` could not be started.
    #[error("cannot run `{command}`")]
    Spawn {
        /// The command, without the kubeconfig flags.
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `helm` exited with an error.
    #[error("`{command}` failed: {message}")]
    Failed {
        /// The command.
        command: String,
        /// Helm's message, without the `Error: ` prefix.
        message: String,
    },
    /// `helm` did not finish in time.
    #[error("`{command}` did not finish within {waited}s")]
    Timeout {
        /// The command.
        command: String,
        /// How long it was given.
        waited: u64,
    },
    /// Its output is not the JSON expected.
    #[error("`{command}` printed output kindform cannot read")]
    Output {
        /// The command.
        command: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

/// One row of `helm list -o json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listed {
    /// The release name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// Its latest revision (a string in this output).
    pub revision: String,
    /// When it last changed, in Go's `Time.String()` form.
    #[serde(default)]
    pub updated: String,
    /// `deployed`, `failed`, `pending-upgrade`, …
    pub status: String,
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
    pub status: String,
    /// `<chart name>-<chart version>`.
    #[serde(default)]
    pub chart: String,
    /// What Helm said about it.
    #[serde(default)]
    pub description: String,
}

impl Helm {
    /// Calls against context `kind-<cluster>` of `kubeconfig`, run in `cwd`.
    pub fn new(kubeconfig: &Path, cluster: &str, cwd: &Path) -> Self {
        Helm {
            kubeconfig: kubeconfig.to_owned(),
            context: format!("kind-{cluster}"),
            cwd: cwd.to_owned(),
        }
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
        if let Some(pid) = pid {
            RUNNING.lock().unwrap().insert(pid);
        }
        let output = tokio::time::timeout(timeout, child.wait_with_output()).await;
        if let Some(pid) = pid {
            RUNNING.lock().unwrap().remove(&pid);
        }
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
    /// (`helm list -a -A -o json`).
    pub async fn list(&self) -> Result<Vec<Listed>, HelmError> {
        self.json(&["list", "-a", "-A", "-o", "json"]).await
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
