//! Small local test images, made with `docker import` (there is no registry):
//! each holds one file, so it can be exported, and a rebuild under the same
//! tag gets a new image ID.

use bollard::Docker;
use bollard::query_parameters::CreateImageOptionsBuilder;
use futures::TryStreamExt as _;

/// Builds `reference` (e.g. `ghcr.io/org/app:local`) holding a file of
/// `size` bytes whose content starts with `seed`; returns the image ID.
pub async fn build(
    docker: &Docker,
    reference: &str,
    seed: &str,
    size: usize,
) -> Result<String, bollard::errors::Error> {
    build_labelled(docker, reference, seed, size, &[]).await
}

/// [`build`], with image labels (as a Dockerfile's `LABEL` sets them).
pub async fn build_labelled(
    docker: &Docker,
    reference: &str,
    seed: &str,
    size: usize,
    labels: &[(&str, &str)],
) -> Result<String, bollard::errors::Error> {
    let mut payload = seed.as_bytes().to_vec();
    payload.resize(size.max(seed.len()), b'.');
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_mode(0o644);
    header.set_size(payload.len() as u64);
    builder
        .append_data(&mut header, "payload", payload.as_slice())
        .map_err(bollard::errors::Error::from)?;
    let tarball = builder.into_inner().map_err(bollard::errors::Error::from)?;
    let changes = std::iter::once("CMD [\"/payload\"]".to_owned())
        .chain(labels.iter().map(|(k, v)| format!("LABEL {k}={v}")))
        .collect();
    import(docker, reference, tarball, changes).await
}

/// `docker import` of a root file system tarball as `reference`, with
/// Dockerfile-like `changes`; the image's ID.
async fn import(
    docker: &Docker,
    reference: &str,
    tarball: Vec<u8>,
    changes: Vec<String>,
) -> Result<String, bollard::errors::Error> {
    let (repo, tag) = split_reference(reference);
    let options = CreateImageOptionsBuilder::default()
        .from_src("-")
        .repo(repo)
        .tag(tag)
        .changes(changes)
        .build();
    docker
        .create_image(
            Some(options),
            Some(bollard::body_full(tarball.into())),
            None,
        )
        .try_collect::<Vec<_>>()
        .await?;
    let inspect = docker.inspect_image(reference).await?;
    Ok(inspect.id.unwrap_or_default())
}

/// `repo:tag` split as Docker reads it (a port is not a tag).
pub fn split_reference(reference: &str) -> (&str, &str) {
    match reference.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (reference, "latest"),
    }
}

/// Makes `reference` (such as `busybox:1.36`) a local image holding the
/// host's static busybox with its `sh` and `httpd` applets, so that a
/// Dockerfile starting `FROM` it builds without a registry.
pub async fn busybox(docker: &Docker, reference: &str) -> Result<String, bollard::errors::Error> {
    let mut builder = tar::Builder::new(Vec::new());
    let io = bollard::errors::Error::from;
    for dir in ["bin", "tmp"] {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_size(0);
        builder
            .append_data(&mut header, dir, std::io::empty())
            .map_err(io)?;
    }
    builder
        .append_path_with_name("/bin/busybox", "bin/busybox")
        .map_err(io)?;
    for applet in ["sh", "httpd", "echo", "cat", "ls", "sleep"] {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_mode(0o777);
        header.set_size(0);
        builder
            .append_link(&mut header, format!("bin/{applet}"), "busybox")
            .map_err(io)?;
    }
    let tarball = builder.into_inner().map_err(io)?;
    let (repo, tag) = split_reference(reference);
    let options = CreateImageOptionsBuilder::default()
        .from_src("-")
        .repo(repo)
        .tag(tag)
        .changes(vec!["CMD [\"sh\"]".to_owned()])
        .build();
    docker
        .create_image(
            Some(options),
            Some(bollard::body_full(tarball.into())),
            None,
        )
        .try_collect::<Vec<_>>()
        .await?;
    Ok(docker
        .inspect_image(reference)
        .await?
        .id
        .unwrap_or_default())
}
