//! The real Docker engine: connecting (with a skip notice where there is
//! none, and a failure under `KINDFORM_REQUIRE_DOCKER=1`), and the labels
//! that keep each world's containers its own.

use std::collections::HashMap;

use bollard::Docker;
use bollard::query_parameters::{ListContainersOptionsBuilder, RemoveContainerOptionsBuilder};

/// The label every container a world makes carries, with the world's id.
pub const WORLD_LABEL: &str = "dev.kindform.world";
/// kind's cluster label.
pub const CLUSTER_LABEL: &str = "io.x-k8s.kind.cluster";
/// kind's role label.
pub const ROLE_LABEL: &str = "io.x-k8s.kind.role";

/// Connects to the engine at `DOCKER_HOST` or the default socket, agreeing on
/// an API version the engine speaks (Debian's engine speaks 1.41).
pub async fn connect() -> Result<Docker, bollard::errors::Error> {
    let docker = Docker::connect_with_defaults()?;
    docker.ping().await?;
    docker.negotiate_version().await
}

/// Docker, or `None` after printing a skip notice for `test`; panics instead
/// when `KINDFORM_REQUIRE_DOCKER=1`.
pub async fn docker_or_skip(test: &str) -> Option<Docker> {
    match connect().await {
        Ok(docker) => Some(docker),
        Err(e) if docker_required() => {
            panic!("{test}: KINDFORM_REQUIRE_DOCKER=1 but no Docker engine is reachable: {e}")
        }
        Err(e) => {
            eprintln!(
                "skipped {test}: no Docker engine is reachable ({e}); set KINDFORM_REQUIRE_DOCKER=1 to fail instead"
            );
            None
        }
    }
}

/// Whether `KINDFORM_REQUIRE_DOCKER=1`: what a test needs must be there.
pub fn docker_required() -> bool {
    std::env::var("KINDFORM_REQUIRE_DOCKER").is_ok_and(|v| v == "1")
}

/// Names of the containers carrying `label=value`, stopped ones included, in
/// `docker ps` order.
pub async fn containers_with(
    docker: &Docker,
    filters: &[(&str, &str)],
) -> Result<Vec<(String, HashMap<String, String>, bool)>, bollard::errors::Error> {
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    map.insert(
        "label".into(),
        filters.iter().map(|(k, v)| format!("{k}={v}")).collect(),
    );
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&map)
        .build();
    let list = docker.list_containers(Some(options)).await?;
    Ok(list
        .into_iter()
        .filter_map(|c| {
            let name = c.names?.first()?.trim_start_matches('/').to_owned();
            let running = c.state.is_some_and(|s| s.to_string() == "running");
            Some((name, c.labels.unwrap_or_default(), running))
        })
        .collect())
}

/// Removes containers and their anonymous volumes, ignoring ones already gone.
pub async fn remove_containers(docker: &Docker, names: &[String]) {
    let options = RemoveContainerOptionsBuilder::default()
        .force(true)
        .v(true)
        .build();
    for name in names {
        let _ = docker.remove_container(name, Some(options.clone())).await;
    }
}

/// Bytes fed to a command's standard input.
pub type ByteStream = std::pin::Pin<
    Box<dyn futures::Stream<Item = Result<bytes::Bytes, bollard::errors::Error>> + Send>,
>;

/// What a command run in a container printed and exited with.
#[derive(Debug, Clone, Default)]
pub struct ExecOutput {
    /// Exit code (-1 when unknown).
    pub code: i64,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `cmd` in `container` with a plain (not privileged) exec, feeding it
/// `input` as standard input when given (closed at its end).
pub async fn exec(
    docker: &Docker,
    container: &str,
    cmd: &[&str],
    input: Option<ByteStream>,
) -> Result<ExecOutput, bollard::errors::Error> {
    use bollard::exec::{StartExecOptions, StartExecResults};
    use bollard::models::ExecConfig;
    use futures::StreamExt as _;
    use tokio::io::AsyncWriteExt as _;

    let config = ExecConfig {
        attach_stdin: Some(input.is_some()),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
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
    let mut out = ExecOutput::default();
    if let StartExecResults::Attached {
        mut output,
        input: mut writer,
    } = started
    {
        let feeding = async {
            if let Some(mut stream) = input {
                while let Some(chunk) = stream.next().await {
                    writer
                        .write_all(&chunk?)
                        .await
                        .map_err(bollard::errors::Error::from)?;
                }
            }
            // ctr waits for the end of its input: always close it.
            writer
                .shutdown()
                .await
                .map_err(bollard::errors::Error::from)?;
            Ok::<_, bollard::errors::Error>(())
        };
        let reading = async {
            while let Some(item) = output.next().await {
                match item? {
                    bollard::container::LogOutput::StdErr { message } => {
                        out.stderr.push_str(&String::from_utf8_lossy(&message))
                    }
                    other => out
                        .stdout
                        .push_str(&String::from_utf8_lossy(&other.into_bytes())),
                }
            }
            Ok::<_, bollard::errors::Error>(())
        };
        let (fed, read) = tokio::join!(feeding, reading);
        fed?;
        read?;
    }
    out.code = docker.inspect_exec(&id).await?.exit_code.unwrap_or(-1);
    Ok(out)
}
