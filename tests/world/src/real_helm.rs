//! The real `helm` and `kubectl` in a world: what the world puts on a test's
//! PATH, and the faults a user meets with Helm, made by real means.
//!
//! - `bin/helm` is a small shell wrapper that appends each run to the
//!   world's invocation log (so tests can count the processes a program
//!   started), fails once where a test planned it (`World::fail_once`), and
//!   otherwise `exec`s the real Helm of the world's major (so a signal sent
//!   to it reaches Helm itself); `bin/kubectl` is the real kubectl.
//! - A release left `pending-upgrade` is a real `helm upgrade --wait`
//!   killed with SIGKILL while the release's pods are kept unready; `failed`
//!   is a real `--wait` that times out. The chart comes from the release's
//!   own record.
//! - Chart repositories are real: an `index.yaml` and `.tgz` archives made
//!   by `helm package` and `helm repo index`, served over HTTP on 127.0.0.1.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;

use crate::apiserver::kubelet::WorkloadRef;
use crate::faults::FaultError;
use crate::real_tools::{HelmMajor, RealTools};
use crate::{World, kubeconfig, release_records};

/// The wrapper installed as `bin/helm`.
pub fn wrapper(world_dir: &Path, real: &Path) -> String {
    format!(
        r#"#!/bin/sh
# `helm` in a kindform test world: the real Helm, each run logged for the
# test and a one-time failure planned by the test honoured.
dir='{dir}'
printf '%s\n' "helm $*" >> "$dir/invocations"
# A planned failure names words the arguments hold in that order
# (`upgrade web` matches `upgrade --install web chart ...`).
holds() {{
  want=$1; shift
  for arg in "$@"; do
    [ -z "$want" ] && break
    if [ "$arg" = "${{want%% *}}" ]; then
      case "$want" in *" "*) want=${{want#* }};; *) want="";; esac
    fi
  done
  [ -z "$want" ]
}}
for fault in "$dir"/faults/helm.*; do
  [ -f "$fault" ] || continue
  case "$fault" in *.taken) continue;; esac
  if holds "$(head -n 1 "$fault")" "$@" && mv "$fault" "$fault.taken" 2>/dev/null; then
    printf 'Error: %s\n' "$(tail -n +2 "$fault.taken")" >&2
    exit 1
  fi
done
exec '{real}' "$@"
"#,
        dir = world_dir.display(),
        real = real.display()
    )
}

/// Plans a one-time failure of the next `helm` run whose arguments hold the
/// words of `command` in order, printing `Error: <message>` as Helm does.
pub fn plan_failure(world_dir: &Path, command: &str, message: &str) {
    let faults = world_dir.join("faults");
    std::fs::create_dir_all(&faults).expect("a faults folder");
    let n = std::fs::read_dir(&faults).map(|d| d.count()).unwrap_or(0);
    std::fs::write(
        faults.join(format!("helm.{n:04}")),
        format!("{command}\n{message}"),
    )
    .expect("a planned failure");
}

/// The helm runs logged since the last call, oldest first, emptying the log.
pub fn take_logged(world_dir: &Path) -> Vec<String> {
    let log = world_dir.join("invocations");
    let taken = world_dir.join("invocations.taken");
    if std::fs::rename(&log, &taken).is_err() {
        return Vec::new();
    }
    let text = std::fs::read_to_string(&taken).unwrap_or_default();
    let _ = std::fs::remove_file(&taken);
    text.lines().map(str::to_owned).collect()
}

impl World {
    /// The real tools this world runs.
    pub fn tools(&self) -> Option<&RealTools> {
        self.tools.as_ref()
    }

    /// The Helm major this world runs.
    pub fn helm_major(&self) -> Option<HelmMajor> {
        self.tools.as_ref().map(|t| t.major)
    }

    fn real_tools(&self) -> Result<&RealTools, FaultError> {
        self.tools
            .as_ref()
            .ok_or_else(|| FaultError::Other("this world has no real helm".into()))
    }

    /// A kubeconfig of `cluster` for the world's own runs of the tools.
    fn kubeconfig_of(&self, cluster: &str) -> Result<PathBuf, FaultError> {
        let c = self
            .cluster(cluster)
            .ok_or_else(|| FaultError::NoCluster(cluster.to_owned()))?;
        let path = self.dir().join(format!("faults/{cluster}.kubeconfig"));
        std::fs::create_dir_all(path.parent().unwrap())
            .map_err(|e| FaultError::Other(e.to_string()))?;
        std::fs::write(&path, kubeconfig::render(cluster, &c.api.url(), &c.api.pki))
            .map_err(|e| FaultError::Other(e.to_string()))?;
        Ok(path)
    }

    /// Creates `object` with the real `kubectl create` (field manager
    /// `kubectl-create`), as a user making an object by hand does.
    pub fn kubectl_create(&self, cluster: &str, object: &Value) -> Result<(), FaultError> {
        use std::io::Write as _;
        let tools = self.real_tools()?.clone();
        let kubeconfig = self.kubeconfig_of(cluster)?;
        let mut child = self
            .command(&tools.kubectl)
            .args(["create", "-f", "-", "--context"])
            .arg(format!("kind-{cluster}"))
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| FaultError::Other(format!("cannot run kubectl: {e}")))?;
        child
            .stdin
            .take()
            .expect("a pipe")
            .write_all(object.to_string().as_bytes())
            .map_err(|e| FaultError::Other(e.to_string()))?;
        let out = child
            .wait_with_output()
            .map_err(|e| FaultError::Other(e.to_string()))?;
        if !out.status.success() {
            return Err(FaultError::Other(format!(
                "kubectl create: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }

    /// Runs the real `kubectl ARGS` against `cluster`, as a user at a
    /// terminal does (its field managers are kubectl's own: `kubectl`,
    /// `kubectl-edit`, `kubectl-label`, …); what it printed.
    pub fn kubectl(&self, cluster: &str, args: &[&str]) -> Result<String, FaultError> {
        let tools = self.real_tools()?.clone();
        let kubeconfig = self.kubeconfig_of(cluster)?;
        let out = self
            .command(&tools.kubectl)
            .args(args)
            .arg("--context")
            .arg(format!("kind-{cluster}"))
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .output()
            .map_err(|e| FaultError::Other(format!("cannot run kubectl: {e}")))?;
        if !out.status.success() {
            return Err(FaultError::Other(format!(
                "kubectl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Leaves release `release` `pending-upgrade` (a real `helm upgrade
    /// --wait` of its own chart killed while its pods are unready) or
    /// `failed` (the same upgrade timing out), as a user's interrupted or
    /// timed-out upgrade does.
    pub fn leave_release(
        &self,
        cluster: &str,
        namespace: &str,
        release: &str,
        status: &str,
    ) -> Result<(), FaultError> {
        let tools = self.real_tools()?.clone();
        let c = self
            .cluster(cluster)
            .ok_or_else(|| FaultError::NoCluster(cluster.to_owned()))?;
        let history = release_records::history(&c.api.store, namespace, release);
        let latest = history
            .last()
            .ok_or_else(|| FaultError::Other(format!("no release {namespace}/{release}")))?;
        let revision = latest["version"].as_i64().unwrap_or(0);
        let chart = self.write_chart_of(latest, release)?;
        let kubeconfig = self.kubeconfig_of(cluster)?;
        let workloads = release_workloads(self, cluster, namespace, release);
        if workloads.is_empty() {
            return Err(FaultError::Other(format!(
                "release {namespace}/{release} has no workload to hold unready"
            )));
        }
        for w in &workloads {
            c.kubelet
                .crash(w.clone(), vec!["held unready by the test".into()], false);
        }
        let wait = match tools.major {
            HelmMajor::V3 => "--wait",
            HelmMajor::V4 => "--wait=watcher",
        };
        let timeout = if status == "failed" { "2s" } else { "10m" };
        let mut child = self
            .command(&tools.helm)
            .args(["upgrade", release])
            .arg(&chart)
            .args([
                "--namespace",
                namespace,
                "--reuse-values",
                wait,
                "--timeout",
                timeout,
            ])
            .arg("--kube-context")
            .arg(format!("kind-{cluster}"))
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| FaultError::Other(format!("cannot run helm: {e}")))?;
        let outcome = match status {
            "failed" => {
                let _ = child.wait();
                Ok(())
            }
            "pending-upgrade" => {
                let start = Instant::now();
                let result = loop {
                    let now = release_records::history(&c.api.store, namespace, release);
                    let pending = now.last().is_some_and(|r| {
                        r["version"].as_i64() == Some(revision + 1)
                            && r["info"]["status"] == "pending-upgrade"
                    });
                    if pending {
                        // Give Helm the moment to start applying, as a
                        // user's Ctrl-C-less kill mid-wait does.
                        std::thread::sleep(Duration::from_millis(300));
                        break Ok(());
                    }
                    if start.elapsed() > Duration::from_secs(30) {
                        break Err(FaultError::Other(
                            "helm upgrade never left the release pending".into(),
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(50));
                };
                let _ = child.kill();
                let _ = child.wait();
                result
            }
            other => Err(FaultError::Other(format!(
                "leave_release makes pending-upgrade or failed, not {other}"
            ))),
        };
        for w in &workloads {
            c.kubelet.heal(w);
        }
        outcome?;
        let after = release_records::history(&c.api.store, namespace, release);
        match after.last() {
            Some(r) if r["info"]["status"] == status => Ok(()),
            other => Err(FaultError::Other(format!(
                "release {namespace}/{release} was left {:?}, not {status}",
                other.map(|r| r["info"]["status"].clone())
            ))),
        }
    }

    /// Writes the chart a release record carries (its metadata, templates,
    /// values and files) to a folder of the world.
    fn write_chart_of(&self, release: &Value, name: &str) -> Result<PathBuf, FaultError> {
        let chart = &release["chart"];
        let dir = self.dir().join(format!(
            "faults/chart-{name}-{}",
            release["version"].as_i64().unwrap_or(0)
        ));
        let io = |e: std::io::Error| FaultError::Other(e.to_string());
        std::fs::create_dir_all(dir.join("templates")).map_err(io)?;
        let yaml = |v: &Value| serde_yaml_ng::to_string(v).unwrap_or_default();
        std::fs::write(dir.join("Chart.yaml"), yaml(&chart["metadata"])).map_err(io)?;
        std::fs::write(dir.join("values.yaml"), yaml(&chart["values"])).map_err(io)?;
        for file in chart["templates"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(chart["files"].as_array().into_iter().flatten())
        {
            let (Some(path), Some(data)) = (file["name"].as_str(), file["data"].as_str()) else {
                continue;
            };
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(data)
                .unwrap_or_default();
            let target = dir.join(path);
            std::fs::create_dir_all(target.parent().unwrap()).map_err(io)?;
            std::fs::write(target, bytes).map_err(io)?;
        }
        Ok(dir)
    }

    /// Serves the chart folders under `dir` as a real chart repository
    /// (packaged by `helm package`, indexed by `helm repo index`) on
    /// 127.0.0.1; returns its URL.
    pub async fn serve_chart_repo(&self, dir: &Path) -> String {
        let tools = self
            .real_tools()
            .expect("a world with the real helm")
            .clone();
        let n = self.shared().repos.lock().unwrap().len();
        let out = self.dir().join(format!("chart-repo-{n}"));
        std::fs::create_dir_all(&out).expect("a repository folder");
        let mut charts: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("a folder of charts")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("Chart.yaml").is_file())
            .collect();
        charts.sort();
        for chart in charts {
            let status = self
                .command(&tools.helm)
                .arg("package")
                .arg(&chart)
                .arg("--destination")
                .arg(&out)
                .stdout(std::process::Stdio::null())
                .status()
                .expect("helm package runs");
            assert!(status.success(), "helm package {}", chart.display());
        }
        let port = self.serve_files(out.clone(), "/charts/").await;
        let url = format!("http://127.0.0.1:{port}/charts");
        let status = self
            .command(&tools.helm)
            .args(["repo", "index"])
            .arg(&out)
            .args(["--url", &url])
            .status()
            .expect("helm repo index runs");
        assert!(status.success(), "helm repo index");
        self.shared().repos.lock().unwrap().push(url.clone());
        url
    }
}

/// The Deployments, StatefulSets and DaemonSets Helm labelled as the
/// release's (`meta.helm.sh/release-name`).
fn release_workloads(
    world: &World,
    cluster: &str,
    namespace: &str,
    release: &str,
) -> Vec<WorkloadRef> {
    let mut found = Vec::new();
    for kind in ["Deployment", "StatefulSet", "DaemonSet"] {
        for object in world.list_objects(cluster, "apps/v1", kind, Some(namespace)) {
            if object["metadata"]["annotations"]["meta.helm.sh/release-name"] == release {
                if let Some(name) = object["metadata"]["name"].as_str() {
                    found.push(WorkloadRef::new(namespace, kind, name));
                }
            }
        }
    }
    found
}
