//! Loading an image into nodes as `kind load docker-image` does, without
//! its temporary file: one Docker image export (bollard) streamed straight
//! into `ctr --namespace=k8s.io images import --all-platforms --digests
//! --snapshotter=<the node's> -` over an attached exec in each node, all
//! nodes fed from the same stream at once. Memory stays flat whatever the
//! image's size: each node's feed holds a few chunks at most.

use bollard::Docker;
use bollard::exec::StartExecResults;
use bytes::Bytes;
use futures::StreamExt as _;
use kindform_api::provider::Progress;
use tokio::io::AsyncWriteExt as _;
use tokio::sync::mpsc;

/// Chunks each node's feed may hold before the export waits for it.
const FEED_DEPTH: usize = 8;

/// Why a load failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Docker refused.
    #[error("cannot load {reference} into {node}")]
    Docker {
        reference: String,
        node: String,
        #[source]
        source: bollard::errors::Error,
    },
    /// The export failed.
    #[error("cannot export {reference} from Docker")]
    Export {
        reference: String,
        #[source]
        source: bollard::errors::Error,
    },
    /// `ctr images import` failed in a node.
    #[error("`ctr images import` of {reference} failed in {node} (exit {code}): {stderr}")]
    Import {
        reference: String,
        node: String,
        /// Its exit code.
        code: i64,
        /// What it printed.
        stderr: String,
    },
}

/// The snapshotter a node's containerd uses, read from `containerd config
/// dump` as kind reads it (config version 2: the CRI plugin's containerd
/// section; versions 3 and 4: the CRI images plugin).
pub async fn snapshotter(docker: &Docker, node: &str) -> String {
    let dump = crate::exec::run(docker, node, &crate::exec::config_dump()).await;
    let Ok(ran) = dump else {
        return "overlayfs".to_owned();
    };
    let Ok(config) = ran.stdout.parse::<toml::Table>() else {
        return "overlayfs".to_owned();
    };
    let version = config
        .get("version")
        .and_then(toml::Value::as_integer)
        .unwrap_or(1);
    let plugins = config.get("plugins");
    let found = if version >= 3 {
        plugins
            .and_then(|p| p.get("io.containerd.cri.v1.images"))
            .and_then(|p| p.get("snapshotter"))
    } else {
        plugins
            .and_then(|p| p.get("io.containerd.grpc.v1.cri"))
            .and_then(|p| p.get("containerd"))
            .and_then(|p| p.get("snapshotter"))
    };
    found
        .and_then(toml::Value::as_str)
        .unwrap_or("overlayfs")
        .to_owned()
}

/// Streams one export of `reference` into every node of `nodes` at once;
/// each node is given with its snapshotter.
pub async fn load(
    docker: &Docker,
    reference: &str,
    nodes: &[(String, String)],
    total: Option<u64>,
    progress: &dyn Progress,
) -> Result<(), LoadError> {
    let mut feeds = Vec::new();
    let mut imports = Vec::new();
    for (node, snapshotter) in nodes {
        let failed = |source| LoadError::Docker {
            reference: reference.to_owned(),
            node: node.clone(),
            source,
        };
        let cmd = crate::exec::import_images(snapshotter);
        let (id, started) = crate::exec::start(docker, node, &cmd, true)
            .await
            .map_err(failed)?;
        let StartExecResults::Attached {
            mut output,
            mut input,
        } = started
        else {
            continue;
        };
        let (tx, mut rx) = mpsc::channel::<Bytes>(FEED_DEPTH);
        feeds.push(tx);
        let docker = docker.clone();
        let (reference, node) = (reference.to_owned(), node.clone());
        imports.push(tokio::spawn(async move {
            let feeding = async {
                while let Some(chunk) = rx.recv().await {
                    input.write_all(&chunk).await?;
                }
                // ctr reads until its input ends: always close it.
                input.shutdown().await
            };
            let reading = async {
                let mut stderr = String::new();
                while let Some(Ok(item)) = output.next().await {
                    if let bollard::container::LogOutput::StdErr { message } = item {
                        stderr.push_str(&String::from_utf8_lossy(&message));
                    }
                }
                stderr
            };
            let (fed, stderr) = tokio::join!(feeding, reading);
            let code = crate::exec::exit_code(&docker, &id).await;
            if fed.is_err() || code != 0 {
                return Err(LoadError::Import {
                    reference,
                    node,
                    code,
                    stderr: stderr.trim().to_owned(),
                });
            }
            Ok(())
        }));
    }
    let mut export = docker.export_image(reference);
    let mut moved = 0u64;
    let mut export_error = None;
    while let Some(chunk) = export.next().await {
        match chunk {
            Ok(chunk) => {
                moved += chunk.len() as u64;
                for feed in &feeds {
                    // A closed feed is a node whose import failed; its task says why.
                    let _ = feed.send(chunk.clone()).await;
                }
                progress.bytes(moved, total);
            }
            Err(source) => {
                export_error = Some(LoadError::Export {
                    reference: reference.to_owned(),
                    source,
                });
                break;
            }
        }
    }
    drop(feeds);
    let mut first_error = export_error;
    for import in imports {
        match import.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(join) => {
                first_error.get_or_insert(LoadError::Import {
                    reference: reference.to_owned(),
                    node: "?".into(),
                    code: -1,
                    stderr: join.to_string(),
                });
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
