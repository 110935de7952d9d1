//! Commands in node containers through plain (not privileged) Docker execs:
//! a kind node already runs as root with its capabilities, and privileged
//! execs fail on some engines (docs/tools.md).

use bollard::Docker;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use futures::StreamExt as _;

/// `containerd config dump`: the node's containerd settings.
pub(crate) fn config_dump() -> Vec<String> {
    ["containerd", "config", "dump"].map(str::to_owned).to_vec()
}

/// `ctr images ls -q`: the refs the node's containerd holds.
pub(crate) fn list_images() -> Vec<String> {
    ["ctr", "--namespace=k8s.io", "images", "ls", "-q"]
        .map(str::to_owned)
        .to_vec()
}

/// `ctr images import` of an image archive on stdin into `snapshotter`,
/// as kind loads images. A snapshotter name other than letters, digits,
/// `-` and `_` (from a node's odd config) is not passed: containerd's
/// default is used.
pub(crate) fn import_images(snapshotter: &str) -> Vec<String> {
    let mut argv: Vec<String> = [
        "ctr",
        "--namespace=k8s.io",
        "images",
        "import",
        "--all-platforms",
        "--digests",
    ]
    .map(str::to_owned)
    .to_vec();
    let plain = !snapshotter.is_empty()
        && snapshotter
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if plain {
        argv.push(format!("--snapshotter={snapshotter}"));
    }
    argv.push("-".to_owned());
    argv
}

/// Output and exit code of a command run in a container.
pub(crate) struct Ran {
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) code: i64,
}

/// Starts `cmd` in `container`, attached (with its input when `stdin`);
/// the exec's id, to read its exit code once it ends.
pub(crate) async fn start(
    docker: &Docker,
    container: &str,
    cmd: &[String],
    stdin: bool,
) -> Result<(String, StartExecResults), bollard::errors::Error> {
    let config = ExecConfig {
        attach_stdin: Some(stdin),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        cmd: Some(cmd.to_vec()),
        ..Default::default()
    };
    let id = docker.create_exec(container, config).await?.id;
    let started = docker
        .start_exec(
            &id,
            Some(StartExecOptions {
                detach: false,
                ..Default::default()
            }),
        )
        .await?;
    Ok((id, started))
}

/// The exit code of a finished exec (-1 when Docker does not say).
pub(crate) async fn exit_code(docker: &Docker, id: &str) -> i64 {
    docker
        .inspect_exec(id)
        .await
        .ok()
        .and_then(|e| e.exit_code)
        .unwrap_or(-1)
}

/// Runs `cmd` in `container` and collects what it prints.
pub(crate) async fn run(
    docker: &Docker,
    container: &str,
    cmd: &[String],
) -> Result<Ran, bollard::errors::Error> {
    let (id, started) = start(docker, container, cmd, false).await?;
    let mut ran = Ran {
        stdout: String::new(),
        stderr: String::new(),
        code: -1,
    };
    if let StartExecResults::Attached { mut output, .. } = started {
        while let Some(item) = output.next().await {
            match item? {
                bollard::container::LogOutput::StdErr { message } => {
                    ran.stderr.push_str(&String::from_utf8_lossy(&message))
                }
                other => ran
                    .stdout
                    .push_str(&String::from_utf8_lossy(&other.into_bytes())),
            }
        }
    }
    ran.code = exit_code(docker, &id).await;
    Ok(ran)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_node_command_has_its_exact_argv() {
        assert_eq!(config_dump(), ["containerd", "config", "dump"]);
        assert_eq!(
            list_images(),
            ["ctr", "--namespace=k8s.io", "images", "ls", "-q"]
        );
        assert_eq!(
            import_images("overlayfs"),
            [
                "ctr",
                "--namespace=k8s.io",
                "images",
                "import",
                "--all-platforms",
                "--digests",
                "--snapshotter=overlayfs",
                "-",
            ]
        );
        for odd in ["", "a b", "x --all", "$(id)"] {
            assert!(
                !import_images(odd)
                    .iter()
                    .any(|a| a.starts_with("--snapshotter")),
                "{odd:?}"
            );
        }
    }
}
