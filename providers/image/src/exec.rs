//! Commands in node containers through plain (not privileged) Docker execs:
//! a kind node already runs as root with its capabilities, and privileged
//! execs fail on some engines (docs/tools.md).

use bollard::Docker;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use futures::StreamExt as _;

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
    cmd: &[&str],
    stdin: bool,
) -> Result<(String, StartExecResults), bollard::errors::Error> {
    let config = ExecConfig {
        attach_stdin: Some(stdin),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        cmd: Some(cmd.iter().map(|s| (*s).to_owned()).collect()),
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
    cmd: &[&str],
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
