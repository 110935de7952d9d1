//! Running the `kind` executable found on PATH, for what reading needs:
//! `kind get kubeconfig` (docs/tools.md, kind).

use std::path::Path;
use std::time::Duration;

use kindform_process::{Invocation, ProcessError};

/// Why `kind` failed.
#[derive(Debug, thiserror::Error)]
pub enum KindError {
    /// No `kind` on PATH.
    #[error("`kind` is not on PATH: install kind (https://kind.sigs.k8s.io) and try again")]
    Missing(#[source] std::io::Error),
    /// It could not be started, did not finish in time, or printed more
    /// than kindform reads.
    #[error("`kind {command}`: {source}")]
    Run {
        /// The subcommand.
        command: String,
        #[source]
        source: ProcessError,
    },
    /// It ran and failed.
    #[error("`kind {command}` failed: {stderr}")]
    Failed {
        /// The subcommand.
        command: String,
        /// What kind printed on stderr (its `ERROR: …` line).
        stderr: String,
    },
}

/// How long a `kind get` may take.
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `kind create cluster` may take (it pulls nothing when the node
/// image is there, and takes a minute or two; a cold pull takes longer).
pub const CREATE_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// How long `kind delete cluster` may take.
pub const DELETE_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// `kind create cluster` of `name` from the config file, writing its
/// kubeconfig to `kubeconfig`.
pub fn create_cluster(name: &str, config: &Path, kubeconfig: &Path) -> Invocation {
    Invocation::new("kind")
        .args(["create", "cluster", "--name", name, "--config"])
        .arg(config)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .timeout(CREATE_TIMEOUT)
}

/// `kind delete cluster` of `name` (kind exits 0 when it is gone).
pub fn delete_cluster(name: &str, kubeconfig: &Path) -> Invocation {
    Invocation::new("kind")
        .args(["delete", "cluster", "--name", name, "--kubeconfig"])
        .arg(kubeconfig)
        .timeout(DELETE_TIMEOUT)
}

/// `kind get kubeconfig` of `name`, printed.
pub fn get_kubeconfig(name: &str) -> Invocation {
    Invocation::new("kind")
        .args(["get", "kubeconfig", "--name", name])
        .timeout(READ_TIMEOUT)
}

/// Runs a `kind` call; its stdout.
pub async fn run(call: Invocation) -> Result<String, KindError> {
    let command = call.argv()[1..].join(" ");
    let output = call.run(None).await.map_err(|source| match source {
        ProcessError::Spawn { source } if source.kind() == std::io::ErrorKind::NotFound => {
            KindError::Missing(source)
        }
        source => KindError::Run {
            command: command.clone(),
            source,
        },
    })?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(KindError::Failed {
            command,
            stderr: kindform_api::printable::printable(
                String::from_utf8_lossy(&output.stderr).trim(),
            )
            .into_owned(),
        })
    }
}

/// Writes cluster `name`'s kubeconfig (from `kind get kubeconfig`) to `path`, readable by the owner only.
pub async fn fetch_kubeconfig(name: &str, path: &Path) -> Result<(), KindError> {
    let yaml = run(get_kubeconfig(name)).await?;
    if let Some(dir) = path.parent() {
        let _ = tokio::fs::create_dir_all(dir).await;
    }
    let text = yaml.trim_end().to_owned() + "\n";
    let path_owned = path.to_owned();
    let write = async move {
        tokio::task::spawn_blocking(move || write_private(&path_owned, text.as_bytes()))
            .await
            .map_err(std::io::Error::other)?
    };
    write.await.map_err(|e| KindError::Failed {
        command: "get kubeconfig".into(),
        stderr: format!("cannot write {}: {e}", path.display()),
    })
}

/// Writes `bytes` to `path` readable by the owner only from the first byte:
/// a new file (`O_EXCL`, mode 0600, never through a symlink) beside it,
/// synced and renamed over it.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let temp = path.with_extension(format!("partial-{}", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&temp)?;
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&temp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn the_kubeconfig_is_private_from_creation_and_replaces_a_symlink_not_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, "keep").unwrap();
        let path = dir.path().join("kubeconfig");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        write_private(&path, b"apiVersion: v1\n").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.is_file());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "apiVersion: v1\n");
    }

    #[test]
    fn every_kind_call_has_its_exact_argv_and_a_bound() {
        let table = [
            (
                get_kubeconfig("demo"),
                vec!["kind", "get", "kubeconfig", "--name", "demo"],
                READ_TIMEOUT,
            ),
            (
                create_cluster(
                    "demo",
                    Path::new("/s/kind-config.yaml"),
                    Path::new("/s/kubeconfig"),
                ),
                vec![
                    "kind",
                    "create",
                    "cluster",
                    "--name",
                    "demo",
                    "--config",
                    "/s/kind-config.yaml",
                    "--kubeconfig",
                    "/s/kubeconfig",
                ],
                CREATE_TIMEOUT,
            ),
            (
                delete_cluster("demo", Path::new("/s/kubeconfig")),
                vec![
                    "kind",
                    "delete",
                    "cluster",
                    "--name",
                    "demo",
                    "--kubeconfig",
                    "/s/kubeconfig",
                ],
                DELETE_TIMEOUT,
            ),
        ];
        for (call, argv, bound) in table {
            assert_eq!(call.argv(), argv);
            assert_eq!(call.time_bound(), bound);
            assert!(call.env().is_none());
        }
    }
}
