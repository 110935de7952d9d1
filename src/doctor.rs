//! `kindform doctor`: whether this machine can run the spec, one finding a
//! line. The Docker engine (reachable, its version and storage driver),
//! `kind` and `helm` (found, in the versions kindform drives), free disk and
//! memory, the inotify limits kind's nodes run into, the spec's host ports,
//! and a cluster this environment made before under another name. A missing
//! or unsupported tool, an unreachable engine or a busy host port blocks an
//! apply; the rest are warnings (one cluster usually fits). Reads only.
//!
//! The inotify limits are read from `KINDFORM_SYSCTL_DIR` (default
//! `/proc/sys`), so that a machine whose `/proc/sys` is another's (a
//! container's) can be pointed at the right one.

use std::path::{Path, PathBuf};

use kindform_api::Spec;

use crate::session::{INSTALL_HELM, connect_docker, on_path};

/// How much a finding matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Fine.
    Ok,
    /// Worth fixing; an apply may still work.
    Warning,
    /// An apply cannot work until it is fixed.
    Blocking,
}

/// One line of the doctor's report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// What was looked at (`docker`, `kind`, `inotify`, …).
    pub what: &'static str,
    /// How much it matters.
    pub severity: Severity,
    /// What was found.
    pub detail: String,
    /// How to fix it, when it needs fixing.
    pub hint: Option<String>,
}

impl Finding {
    fn ok(what: &'static str, detail: impl Into<String>) -> Finding {
        Finding {
            what,
            severity: Severity::Ok,
            detail: detail.into(),
            hint: None,
        }
    }

    fn bad(
        what: &'static str,
        severity: Severity,
        detail: impl Into<String>,
        hint: impl Into<String>,
    ) -> Finding {
        Finding {
            what,
            severity,
            detail: detail.into(),
            hint: Some(hint.into()),
        }
    }
}

/// The oldest kind kindform drives.
const OLDEST_KIND: (u64, u64) = (0, 20);
/// What kind's known-issues page asks of inotify for clusters to work.
const WATCHES: u64 = 524_288;
const INSTANCES: u64 = 512;
/// Free disk under which a node image and a few images may not fit.
const DISK_GIB: u64 = 10;

/// Examines this machine for `spec`, whose state folder is `state_dir`.
pub async fn examine(spec: &Spec, state_dir: &Path) -> Vec<Finding> {
    let mut found = Vec::new();
    let docker = docker(&mut found).await;
    found.push(kind().await);
    if !spec.releases.is_empty() {
        found.push(helm().await);
    }
    found.extend(disk(
        &spec.base_dir,
        docker.as_ref().and_then(|d| d.1.clone()),
    ));
    found.push(memory(spec.cluster.node_names().len()));
    found.extend(inotify());
    let running = match &docker {
        Some((docker, _)) => cluster_runs(docker, &spec.cluster.name).await,
        None => false,
    };
    found.extend(host_ports(spec, running));
    if let Some((docker, _)) = &docker {
        found.extend(leftover(docker, spec, state_dir).await);
    }
    found
}

async fn docker(found: &mut Vec<Finding>) -> Option<(bollard::Docker, Option<PathBuf>)> {
    let docker = match connect_docker().await {
        Ok(docker) => docker,
        Err(e) => {
            found.push(Finding::bad(
                "docker",
                Severity::Blocking,
                format!(
                    "not reachable ({})",
                    kindform_api::provider::error_chain(&e)
                ),
                "start the Docker engine, or point DOCKER_HOST at one",
            ));
            return None;
        }
    };
    let (version, info) = (docker.version().await.ok(), docker.info().await.ok());
    let info = info.unwrap_or_default();
    let version = version.unwrap_or_default();
    found.push(Finding::ok(
        "docker",
        format!(
            "Docker engine {} (API {}), storage driver {}",
            version.version.unwrap_or_default(),
            version.api_version.unwrap_or_default(),
            info.driver.unwrap_or_default()
        ),
    ));
    Some((docker, info.docker_root_dir.map(PathBuf::from)))
}

/// `v0.32.0` (in `kind v0.32.0 go1.24.6 linux/amd64`) as numbers.
fn kind_version(printed: &str) -> Option<(u64, u64, u64)> {
    let word = printed.split_whitespace().find(|w| w.starts_with('v'))?;
    let mut parts = word
        .trim_start_matches('v')
        .split(['.', '-', '+'])
        .map(|p| p.parse::<u64>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

async fn kind() -> Finding {
    const INSTALL: &str = "install kind 0.20 or later from https://kind.sigs.k8s.io/docs/user/quick-start/#installation";
    if on_path("kind").is_none() {
        return Finding::bad("kind", Severity::Blocking, "not on PATH", INSTALL);
    }
    let call = kindform_process::Invocation::new("kind")
        .arg("version")
        .timeout(std::time::Duration::from_secs(30));
    let printed = match call.run(None).await {
        Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned(),
        Err(e) => {
            return Finding::bad(
                "kind",
                Severity::Blocking,
                format!("`kind version`: {e}"),
                INSTALL,
            );
        }
    };
    match kind_version(&printed) {
        Some(v) if (v.0, v.1) >= OLDEST_KIND => Finding::ok("kind", printed.trim().to_owned()),
        Some(_) => Finding::bad(
            "kind",
            Severity::Blocking,
            format!("{} is older than kindform drives", printed.trim()),
            INSTALL,
        ),
        None => Finding::bad(
            "kind",
            Severity::Warning,
            format!("`kind version` printed {:?}, not a version", printed.trim()),
            INSTALL,
        ),
    }
}

async fn helm() -> Finding {
    const INSTALL: &str = INSTALL_HELM;
    if on_path("helm").is_none() {
        return Finding::bad("helm", Severity::Blocking, "not on PATH", INSTALL);
    }
    match kindform_helm::HelmVersion::detect().await {
        Ok(version) => Finding::ok("helm", format!("helm {version}")),
        Err(e) => Finding::bad("helm", Severity::Blocking, e.to_string(), INSTALL),
    }
}

/// Free bytes of the file system holding `path`.
fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt as _;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: statvfs(3) with a NUL-terminated path and a zeroed struct it fills.
    if unsafe { libc::statvfs(c.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    Some(stat.f_bavail as u64 * stat.f_frsize as u64)
}

fn disk(spec_dir: &Path, docker_root: Option<PathBuf>) -> Vec<Finding> {
    let mut places = vec![("the spec's folder", spec_dir.to_owned())];
    if let Some(root) = docker_root.filter(|r| r.exists()) {
        places.push(("Docker's data", root));
    }
    places
        .into_iter()
        .filter_map(|(what, path)| {
            let free = free_bytes(&path)?;
            let gib = free as f64 / f64::from(1u32 << 30);
            let detail = format!("{gib:.1} GiB free for {what} ({})", path.display());
            Some(if free < DISK_GIB << 30 {
                Finding::bad(
                    "disk",
                    Severity::Warning,
                    detail,
                    format!("free some space: a node image and the spec's images take several GiB (under {DISK_GIB} GiB is tight)"),
                )
            } else {
                Finding::ok("disk", detail)
            })
        })
        .collect()
}

fn memory(nodes: usize) -> Finding {
    let available = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("MemAvailable:"))?
                .split_whitespace()
                .nth(1)?
                .parse::<u64>()
                .ok()
        });
    let Some(kb) = available else {
        return Finding::bad(
            "memory",
            Severity::Warning,
            "cannot read /proc/meminfo",
            "check that the machine has a GiB for each node and one more",
        );
    };
    let gib = kb as f64 / f64::from(1u32 << 20);
    let wanted = nodes as f64 + 1.0;
    let detail = format!("{gib:.1} GiB available for {nodes} node(s)");
    if gib < wanted {
        Finding::bad(
            "memory",
            Severity::Warning,
            detail,
            format!(
                "a node wants about a GiB, and the rest of the machine one more: {wanted:.0} GiB here"
            ),
        )
    } else {
        Finding::ok("memory", detail)
    }
}

/// The sysctl folder the limits are read from.
fn sysctl_dir() -> PathBuf {
    std::env::var_os("KINDFORM_SYSCTL_DIR")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("/proc/sys"), PathBuf::from)
}

fn inotify() -> Vec<Finding> {
    let dir = sysctl_dir().join("fs/inotify");
    let read = |name: &str| -> Option<u64> {
        std::fs::read_to_string(dir.join(name))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    [("max_user_watches", WATCHES), ("max_user_instances", INSTANCES)]
        .into_iter()
        .map(|(name, wanted)| match read(name) {
            None => Finding::bad(
                "inotify",
                Severity::Warning,
                format!("cannot read fs.inotify.{name} in {}", dir.display()),
                format!("kind's nodes want fs.inotify.{name} of {wanted} or more"),
            ),
            Some(have) if have < wanted => Finding::bad(
                "inotify",
                Severity::Warning,
                format!("fs.inotify.{name} is {have}, below the {wanted} kind asks for (one cluster usually fits; several on one host run out)"),
                format!("sudo sysctl fs.inotify.{name}={wanted}"),
            ),
            Some(have) => Finding::ok("inotify", format!("fs.inotify.{name} is {have}")),
        })
        .collect()
}

async fn cluster_runs(docker: &bollard::Docker, cluster: &str) -> bool {
    let options = bollard::query_parameters::ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&std::collections::HashMap::from([(
            "label".to_owned(),
            vec![format!("io.x-k8s.kind.cluster={cluster}")],
        )]))
        .build();
    docker
        .list_containers(Some(options))
        .await
        .is_ok_and(|c| !c.is_empty())
}

fn host_ports(spec: &Spec, running: bool) -> Vec<Finding> {
    let config = spec.cluster.effective_config();
    let mut found = Vec::new();
    for node in &config.nodes {
        for mapping in &node.extra_port_mappings {
            let Some(port) = mapping.host_port.map(|p| p.get()).filter(|p| *p > 0) else {
                continue;
            };
            let address = mapping
                .listen_address
                .clone()
                .unwrap_or_else(|| "0.0.0.0".to_owned());
            if running {
                found.push(Finding::ok(
                    "port",
                    format!("{address}:{port} is the cluster's own"),
                ));
                continue;
            }
            let port = port as u16;
            let udp = mapping
                .protocol
                .as_ref()
                .is_some_and(|p| format!("{p:?}").eq_ignore_ascii_case("udp"));
            let taken = if udp {
                std::net::UdpSocket::bind((address.as_str(), port)).err()
            } else {
                std::net::TcpListener::bind((address.as_str(), port)).err()
            };
            found.push(match taken {
                Some(e) if e.kind() == std::io::ErrorKind::AddrInUse => Finding::bad(
                    "port",
                    Severity::Blocking,
                    format!("{address}:{port} is in use, and the cluster publishes it"),
                    "stop what listens on it, or change its host_port in the spec",
                ),
                Some(e) => Finding::ok(
                    "port",
                    format!("{address}:{port} could not be tried ({e}); Docker binds it itself"),
                ),
                None => Finding::ok("port", format!("{address}:{port} is free")),
            });
        }
    }
    found
}

/// A cluster this environment's state folder names that is not the spec's
/// and still runs.
async fn leftover(docker: &bollard::Docker, spec: &Spec, state_dir: &Path) -> Vec<Finding> {
    let Ok(text) = std::fs::read_to_string(state_dir.join("kubeconfig")) else {
        return Vec::new();
    };
    let Ok(doc) = serde_yaml_ng::from_str::<serde_json::Value>(&text) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for context in doc["contexts"].as_array().into_iter().flatten() {
        let Some(name) = context["name"]
            .as_str()
            .and_then(|n| n.strip_prefix("kind-"))
        else {
            continue;
        };
        if name != spec.cluster.name && cluster_runs(docker, name).await {
            found.push(Finding::bad(
                "leftover",
                Severity::Warning,
                format!("cluster {name}, which this environment made before, still runs"),
                format!("kind delete cluster --name {name}"),
            ));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_versions_are_read() {
        assert_eq!(
            kind_version("kind v0.32.0 go1.24.6 linux/amd64\n"),
            Some((0, 32, 0))
        );
        assert_eq!(kind_version("kind v0.19.0-alpha go1.20"), Some((0, 19, 0)));
        assert_eq!(kind_version("garbage"), None);
    }
}
