//! Building an image with Docker (through bollard): the context sent as a
//! tar of the files the context hash covers, the context hash kept as an
//! image label, the build's output streamed to progress.

use std::collections::HashMap;
use std::path::Path;

use bollard::Docker;
use bollard::query_parameters::BuildImageOptionsBuilder;
use futures::StreamExt as _;
use kindform_api::BuildSpec;
use kindform_api::provider::Progress;

use crate::context::{CONTEXT_LABEL, ContextError, files};

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The context could not be read.
    #[error(transparent)]
    Context(#[from] ContextError),
    /// Docker refused or the build failed.
    #[error("docker build of {reference} failed: {message}")]
    Failed {
        reference: String,
        /// Docker's message.
        message: String,
    },
}

fn context_tar(build: &BuildSpec, base_dir: &Path) -> Result<Vec<u8>, ContextError> {
    let mut tar = tar::Builder::new(Vec::new());
    // A symlink goes in as a link, as `docker build` sends it: following it
    // would send whatever it points at, inside the context or not.
    tar.follow_symlinks(false);
    for (relative, path) in files(build, base_dir)? {
        tar.append_path_with_name(&path, &relative)
            .map_err(|source| ContextError {
                path: path.display().to_string(),
                source,
            })?;
    }
    tar.into_inner().map_err(|source| ContextError {
        path: base_dir.join(&build.context).display().to_string(),
        source,
    })
}

/// Builds `reference` from `build`, labelled with `hash`.
pub async fn build(
    docker: &Docker,
    reference: &str,
    build: &BuildSpec,
    base_dir: &Path,
    hash: &str,
    progress: &dyn Progress,
) -> Result<(), BuildError> {
    let tar = context_tar(build, base_dir)?;
    let labels: HashMap<String, String> = [(CONTEXT_LABEL.to_owned(), hash.to_owned())].into();
    let args: HashMap<String, String> = build.args.clone().into_iter().collect();
    let dockerfile = build.dockerfile.display().to_string();
    let mut options = BuildImageOptionsBuilder::default()
        .t(reference)
        .dockerfile(&dockerfile)
        .rm(true)
        .labels(&labels)
        .buildargs(&args);
    if let Some(target) = &build.target {
        options = options.target(target);
    }
    let failed = |message: String| BuildError::Failed {
        reference: reference.to_owned(),
        message,
    };
    let mut stream =
        docker.build_image(options.build(), None, Some(bollard::body_full(tar.into())));
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| failed(e.to_string()))?;
        if let Some(error) = info.error_detail.and_then(|d| d.message) {
            return Err(failed(
                kindform_api::printable::printable(&error).into_owned(),
            ));
        }
        if let Some(line) = info.stream {
            let line = kindform_api::printable::printable(line.trim_end()).into_owned();
            if !line.is_empty() {
                progress.output(&line);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_tar_sends_a_symlink_as_a_link_not_what_it_points_at() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("id_rsa"), "private key").unwrap();
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        std::os::unix::fs::symlink(outside.path().join("id_rsa"), dir.path().join("key")).unwrap();
        let build = BuildSpec {
            context: ".".into(),
            dockerfile: "Dockerfile".into(),
            args: Default::default(),
            target: None,
        };
        let bytes = context_tar(&build, dir.path()).unwrap();
        let mut archive = tar::Archive::new(bytes.as_slice());
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            let path = entry.path().unwrap().display().to_string();
            seen.push((path, entry.header().entry_type().is_symlink()));
        }
        assert_eq!(
            seen,
            [("Dockerfile".to_owned(), false), ("key".to_owned(), true)]
        );
        assert!(!bytes.windows(11).any(|w| w == b"private key"));
    }
}
