//! The build context's hash: every file of the context (minus what
//! `.dockerignore` leaves out, `.git` and kindform's `.kindform` state
//! folder, which a context at the spec's folder would otherwise hold), the
//! Dockerfile's path, the build arguments
//! and the target. Kept as an image label at build time, so a changed
//! context is seen without building.

use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use kindform_api::BuildSpec;
use sha2::{Digest, Sha256};

/// The label a built image carries its context hash in.
pub const CONTEXT_LABEL: &str = "kindform.dev/context-hash";

/// Why the context could not be hashed.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the build context at {path}")]
pub struct ContextError {
    /// The file or folder.
    pub path: String,
    #[source]
    pub source: std::io::Error,
}

fn ignored(context: &Path) -> GlobSet {
    let mut builder = GlobSetBuilder::new();
    if let Ok(text) = std::fs::read_to_string(context.join(".dockerignore")) {
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            let pattern = line.trim_start_matches("./").trim_end_matches('/');
            for p in [pattern.to_owned(), format!("{pattern}/**")] {
                if let Ok(glob) = Glob::new(&p) {
                    builder.add(glob);
                }
            }
        }
    }
    builder.build().unwrap_or_else(|_| GlobSet::empty())
}

/// The files of `build`'s context (relative to `base_dir`): their paths
/// inside the context (`/`-separated) and on disk, sorted.
pub fn files(build: &BuildSpec, base_dir: &Path) -> Result<Vec<(String, PathBuf)>, ContextError> {
    let root = base_dir.join(&build.context);
    let skip = ignored(&root);
    let mut files = Vec::new();
    walk(&root, &root, &skip, &mut files)?;
    files.sort();
    Ok(files)
}

/// The hash of `build`'s context (relative to `base_dir`), 16 hex digits.
pub fn context_hash(build: &BuildSpec, base_dir: &Path) -> Result<String, ContextError> {
    let mut hasher = Sha256::new();
    for (relative, path) in files(build, base_dir)? {
        let bytes = std::fs::read(&path).map_err(|source| ContextError {
            path: path.display().to_string(),
            source,
        })?;
        hasher.update(relative.as_bytes());
        hasher.update([0]);
        hasher.update(Sha256::digest(&bytes));
    }
    hasher.update(build.dockerfile.display().to_string().as_bytes());
    for (k, v) in &build.args {
        hasher.update(format!("\0{k}={v}").as_bytes());
    }
    if let Some(target) = &build.target {
        hasher.update(format!("\0target={target}").as_bytes());
    }
    Ok(hasher
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn walk(
    root: &Path,
    dir: &Path,
    skip: &GlobSet,
    files: &mut Vec<(String, PathBuf)>,
) -> Result<(), ContextError> {
    let error = |path: &Path| {
        let path = path.display().to_string();
        move |source| ContextError { path, source }
    };
    for entry in std::fs::read_dir(dir).map_err(error(dir))? {
        let path = entry.map_err(error(dir))?.path();
        let relative = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        // Version control and kindform's own state folder are never part of
        // what an image is built from.
        if relative == ".git" || relative == ".kindform" || skip.is_match(&relative) {
            continue;
        }
        if path.is_dir() {
            walk(root, &path, skip, files)?;
        } else {
            files.push((relative, path));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_follows_content_and_ignores_what_dockerignore_leaves_out() {
        let dir = std::env::temp_dir().join(format!("kindform-ctx-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("app/node_modules")).unwrap();
        std::fs::write(dir.join("app/Dockerfile"), "FROM scratch\n").unwrap();
        std::fs::write(dir.join("app/.dockerignore"), "node_modules\n").unwrap();
        std::fs::write(dir.join("app/node_modules/x.js"), "1").unwrap();
        let build = BuildSpec {
            context: "app".into(),
            dockerfile: "Dockerfile".into(),
            args: Default::default(),
            target: None,
        };
        let first = context_hash(&build, &dir).unwrap();
        std::fs::write(dir.join("app/node_modules/x.js"), "2").unwrap();
        assert_eq!(context_hash(&build, &dir).unwrap(), first);
        std::fs::write(dir.join("app/Dockerfile"), "FROM scratch\nCOPY a /a\n").unwrap();
        assert_ne!(context_hash(&build, &dir).unwrap(), first);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
