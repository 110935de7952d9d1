//! The versions of tool binaries already asked, kept in the cache folder
//! (`helm-versions.json`) by the binary's resolved path, size and
//! modification time: a plan does not start `helm version` for a binary
//! it has seen, and an upgraded binary (another size or time) is asked
//! again. A cache that cannot be read or written is passed over.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

const FILE: &str = "helm-versions.json";

/// A binary as found on PATH.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Binary {
    path: PathBuf,
    seen: Seen,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Seen {
    size: u64,
    /// Nanoseconds since the epoch.
    modified: u64,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    seen: Seen,
    version: String,
}

impl Binary {
    /// The first `name` on PATH, its links resolved.
    pub(crate) fn on_path(name: &str) -> Option<Binary> {
        let path = std::env::var_os("PATH")?;
        let found = std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())?;
        Binary::at(&found)
    }

    fn at(path: &Path) -> Option<Binary> {
        let path = std::fs::canonicalize(path).ok()?;
        let meta = std::fs::metadata(&path).ok()?;
        let modified = meta
            .modified()
            .ok()?
            .duration_since(UNIX_EPOCH)
            .ok()?
            .as_nanos()
            .try_into()
            .ok()?;
        Some(Binary {
            path,
            seen: Seen {
                size: meta.len(),
                modified,
            },
        })
    }

    fn file() -> Option<PathBuf> {
        kindform_api::cache::dir().map(|d| d.join(FILE))
    }

    fn read(file: &Path) -> BTreeMap<String, Entry> {
        std::fs::File::open(file)
            .and_then(|f| kindform_api::bounded::read_capped(f, 1 << 20))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// The version cached for this very binary.
    pub(crate) fn cached(&self) -> Option<String> {
        let entries = Binary::read(&Binary::file()?);
        let entry = entries.get(&self.path.display().to_string())?;
        (entry.seen == self.seen).then(|| entry.version.clone())
    }

    /// Caches `version` for this binary.
    pub(crate) fn store(&self, version: &str) {
        let Some(file) = Binary::file() else {
            return;
        };
        let mut entries = Binary::read(&file);
        entries.insert(
            self.path.display().to_string(),
            Entry {
                seen: self.seen.clone(),
                version: version.to_owned(),
            },
        );
        let write = || -> std::io::Result<()> {
            let dir = file.parent().unwrap_or(Path::new("."));
            std::fs::create_dir_all(dir)?;
            let temp = dir.join(format!(".{FILE}.{}", std::process::id()));
            std::fs::write(
                &temp,
                serde_json::to_vec_pretty(&entries).unwrap_or_default(),
            )?;
            std::fs::rename(&temp, &file)
        };
        if let Err(e) = write() {
            tracing::debug!("cannot cache helm's version in {}: {e}", file.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binary_is_known_by_its_path_size_and_time() {
        let dir = tempfile::tempdir().unwrap();
        let helm = dir.path().join("helm");
        std::fs::write(&helm, "#!/bin/sh\necho v3.17.2\n").unwrap();
        let first = Binary::at(&helm).unwrap();
        assert_eq!(first, Binary::at(&helm).unwrap());
        // Another binary at that path: another size.
        std::fs::write(&helm, "#!/bin/sh\necho v4.3.1 # upgraded\n").unwrap();
        assert_ne!(first, Binary::at(&helm).unwrap());
        let entries: BTreeMap<String, Entry> = [(
            first.path.display().to_string(),
            Entry {
                seen: first.seen.clone(),
                version: "v3.17.2".into(),
            },
        )]
        .into_iter()
        .collect();
        // Through the file, as a later run reads it.
        let file = dir.path().join(FILE);
        std::fs::write(&file, serde_json::to_vec_pretty(&entries).unwrap()).unwrap();
        let back = Binary::read(&file);
        let entry = &back[&first.path.display().to_string()];
        assert_eq!(
            (entry.seen == first.seen, entry.version.as_str()),
            (true, "v3.17.2")
        );
    }
}
