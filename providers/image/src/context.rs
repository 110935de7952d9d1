//! The build context's hash: every file of the context (minus what
//! `.dockerignore` leaves out, `.git` and kindform's `.kindform` state
//! folders wherever they sit, which a context at or above the spec's folder
//! would otherwise hold; a symlink counted by its target's name, never
//! followed), the
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
        let read = match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                std::fs::read_link(&path).map(|target| target.into_os_string().into_encoded_bytes())
            }
            Ok(_) => std::fs::read(&path),
            Err(e) => Err(e),
        };
        let bytes = read.map_err(|source| ContextError {
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
        let entry = entry.map_err(error(dir))?;
        let path = entry.path();
        // The entry's own type, a symlink not followed: a link is sent as
        // a link, so nothing outside the context reaches the build.
        let kind = entry.file_type().map_err(error(&path))?;
        let relative = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        // Version control and kindform's state folders (which hold the
        // kubeconfig), wherever they sit in the context, are never part of
        // what an image is built from.
        let name = entry.file_name();
        if name == ".git" || name == ".kindform" || skip.is_match(&relative) {
            continue;
        }
        if kind.is_dir() {
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

    #[test]
    fn state_folders_anywhere_are_left_out_and_symlinks_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        // A context of `..` from the spec's folder `env/` holds its state.
        std::fs::create_dir_all(root.join("env/.kindform/dev")).unwrap();
        std::fs::write(root.join("env/.kindform/dev/kubeconfig"), "secret").unwrap();
        std::fs::write(root.join("Dockerfile"), "FROM scratch\n").unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("id_rsa"), "key").unwrap();
        std::os::unix::fs::symlink(outside.path().join("id_rsa"), root.join("key")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("home")).unwrap();
        let build = BuildSpec {
            context: "..".into(),
            dockerfile: "Dockerfile".into(),
            args: Default::default(),
            target: None,
        };
        let base = root.join("env");
        let listed: Vec<String> = files(&build, &base)
            .unwrap()
            .into_iter()
            .map(|f| f.0)
            .collect();
        assert_eq!(listed, ["Dockerfile", "home", "key"]);
        let first = context_hash(&build, &base).unwrap();
        // What a link points at is not read: only where it points.
        std::fs::write(outside.path().join("id_rsa"), "another key").unwrap();
        assert_eq!(context_hash(&build, &base).unwrap(), first);
    }
}
