//! Running the `kind` executable found on PATH, for what reading needs:
//! `kind get kubeconfig` (docs/tools.md, kind).

use std::path::Path;

/// Why `kind` failed.
#[derive(Debug, thiserror::Error)]
pub enum KindError {
    /// No `kind` on PATH.
    #[error("`kind` is not on PATH: install kind (https://kind.sigs.k8s.io) and try again")]
    Missing(#[source] std::io::Error),
    /// It ran and failed.
    #[error("`kind {command}` failed: {stderr}")]
    Failed {
        /// The subcommand.
        command: String,
        /// What kind printed on stderr (its `ERROR: …` line).
        stderr: String,
    },
}

/// Runs `kind ARGS`; its stdout.
pub async fn run(args: &[&str]) -> Result<String, KindError> {
    let output = tokio::process::Command::new("kind")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(KindError::Missing)?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(KindError::Failed {
            command: args.join(" "),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

/// Writes cluster `name`'s kubeconfig (from `kind get kubeconfig`) to `path`, readable by the owner only.
pub async fn fetch_kubeconfig(name: &str, path: &Path) -> Result<(), KindError> {
    let yaml = run(&["get", "kubeconfig", "--name", name]).await?;
    if let Some(dir) = path.parent() {
        let _ = tokio::fs::create_dir_all(dir).await;
    }
    let write = async {
        tokio::fs::write(path, yaml.trim_end().to_owned() + "\n").await?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            tokio::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).await?;
        }
        Ok::<_, std::io::Error>(())
    };
    write.await.map_err(|e| KindError::Failed {
        command: "get kubeconfig".into(),
        stderr: format!("cannot write {}: {e}", path.display()),
    })
}
