//! The kind node image of the test world: the host's containerd and ctr, a
//! busybox shell and glibc, as docs/tools.md describes; built once per content
//! and tagged under whatever node image name a cluster asks for.

use std::io::Write as _;
use std::path::Path;

use bollard::Docker;
use bollard::query_parameters::{CreateImageOptionsBuilder, TagImageOptionsBuilder};
use futures::TryStreamExt as _;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

/// containerd's config in the node: version 2 with the overlayfs snapshotter,
/// as a kind node's `containerd config dump` shows.
const CONTAINERD_CONFIG: &str = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  snapshotter = \"overlayfs\"\n";

/// Host files copied into the node, and where they go.
const FILES: &[(&str, &str)] = &[
    ("/bin/busybox", "bin/busybox"),
    ("/usr/bin/containerd", "usr/bin/containerd"),
    ("/usr/bin/ctr", "usr/bin/ctr"),
    (
        "/lib/x86_64-linux-gnu/libc.so.6",
        "lib/x86_64-linux-gnu/libc.so.6",
    ),
    ("/lib64/ld-linux-x86-64.so.2", "lib64/ld-linux-x86-64.so.2"),
];

const APPLETS: &[&str] = &[
    "sh", "sleep", "echo", "cat", "ls", "mkdir", "rm", "ps", "true",
];

static BUILT: OnceCell<String> = OnceCell::const_new();

/// Why the node image could not be built.
#[derive(Debug, thiserror::Error)]
pub enum NodeImageError {
    /// A host file the node needs is missing.
    #[error("{path} is missing: install Debian's docker.io (containerd, ctr) and busybox-static")]
    Missing {
        /// The file.
        path: String,
    },
    /// Reading or packing the files failed.
    #[error("cannot pack the node image")]
    Io(#[from] std::io::Error),
    /// Docker refused the import.
    #[error("docker could not import the node image")]
    Docker(#[from] bollard::errors::Error),
}

/// The node image's local name, `kindform-test/node:<content hash>`, built on
/// first use in this process (and reused across processes by its tag).
pub async fn node_image(docker: &Docker) -> Result<String, NodeImageError> {
    BUILT.get_or_try_init(|| build(docker)).await.cloned()
}

async fn build(docker: &Docker) -> Result<String, NodeImageError> {
    let mut hasher = Sha256::new();
    for (host, _) in FILES {
        if !Path::new(host).is_file() {
            return Err(NodeImageError::Missing {
                path: (*host).to_owned(),
            });
        }
        hasher.update(host.as_bytes());
        hasher.update(std::fs::read(host)?);
    }
    hasher.update(CONTAINERD_CONFIG);
    let hash: String = hasher
        .finalize()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect();
    let name = format!("kindform-test/node:{hash}");
    if docker.inspect_image(&name).await.is_ok() {
        return Ok(name);
    }
    let tarball = tokio::task::spawn_blocking(pack)
        .await
        .map_err(std::io::Error::other)??;
    let options = CreateImageOptionsBuilder::default()
        .from_src("-")
        .repo("kindform-test/node")
        .tag(&hash)
        .changes(vec!["ENTRYPOINT [\"/usr/bin/containerd\"]".to_owned()])
        .build();
    docker
        .create_image(
            Some(options),
            Some(bollard::body_full(tarball.into())),
            None,
        )
        .try_collect::<Vec<_>>()
        .await?;
    Ok(name)
}

fn pack() -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for dir in [
        "bin",
        "usr/bin",
        "lib/x86_64-linux-gnu",
        "lib64",
        "etc/containerd",
        "tmp",
        "run",
        "var/lib/containerd",
        "proc",
        "sys",
        "dev",
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_size(0);
        builder.append_data(&mut header, dir, std::io::empty())?;
    }
    for (host, inside) in FILES {
        builder.append_path_with_name(host, inside)?;
    }
    for applet in APPLETS {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_mode(0o777);
        header.set_size(0);
        builder.append_link(&mut header, format!("bin/{applet}"), "busybox")?;
    }
    let mut header = tar::Header::new_gnu();
    header.set_mode(0o644);
    header.set_size(CONTAINERD_CONFIG.len() as u64);
    builder.append_data(
        &mut header,
        "etc/containerd/config.toml",
        CONTAINERD_CONFIG.as_bytes(),
    )?;
    let mut out = builder.into_inner()?;
    out.flush()?;
    Ok(out)
}

/// Tags the node image as `requested` (kind's `--image`, or a node's
/// `image`), so node containers show the image name the cluster asked for.
/// A digest in the name is dropped: Docker cannot tag by digest.
pub async fn tag_as(
    docker: &Docker,
    built: &str,
    requested: &str,
) -> Result<String, bollard::errors::Error> {
    let without_digest = requested.split('@').next().unwrap_or(requested);
    let (repo, tag) = match without_digest.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (without_digest, "latest"),
    };
    let options = TagImageOptionsBuilder::default()
        .repo(repo)
        .tag(tag)
        .build();
    docker.tag_image(built, Some(options)).await?;
    Ok(format!("{repo}:{tag}"))
}
