//! Where a spec may read from: its repository (the git work tree holding
//! the spec, or the spec's folder when there is none) and the folders its
//! `outside_paths` names. `plan` runs in CI on specs nobody has reviewed
//! yet, so a chart, values file, `set` file, build context, manifest, kind
//! config, check program or working folder outside them is refused at
//! validate; a symlink counts by where it leads, and a folder (a chart, a
//! manifest folder, a build context) by every link inside it.

use std::path::{Component, Path, PathBuf};

/// The folders a spec may read from.
#[derive(Clone, Debug)]
pub struct Confinement {
    /// The repository, resolved.
    root: PathBuf,
    /// The spec's `outside_paths`, resolved.
    allowed: Vec<PathBuf>,
}

/// Where a path leads when it leads out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outside {
    /// The path itself is outside.
    Path,
    /// A symlink, at the path or inside its folder, leads out.
    Link {
        /// The link, as found under the path.
        link: PathBuf,
    },
}

impl Confinement {
    /// The repository holding the spec folder `base_dir`: the nearest
    /// folder at or above it with a `.git`, else `base_dir` itself.
    pub fn of(base_dir: &Path) -> Self {
        let base = resolve(base_dir);
        let root = base
            .ancestors()
            .find(|dir| dir.join(".git").exists())
            .unwrap_or(&base)
            .to_owned();
        Confinement {
            root,
            allowed: Vec::new(),
        }
    }

    /// Allows reading under `folder` as well.
    pub fn allow(&mut self, folder: &Path) {
        self.allowed.push(resolve(folder));
    }

    fn inside(&self, resolved: &Path) -> bool {
        std::iter::once(&self.root)
            .chain(&self.allowed)
            .any(|dir| resolved.starts_with(dir))
    }

    /// Whether `full` (and, for a folder, everything under it) stays
    /// inside; the first way out when it does not.
    pub fn check(&self, full: &Path) -> Result<(), Outside> {
        let lexical = normalize(&std::path::absolute(full).unwrap_or_else(|_| full.to_owned()));
        if !self.inside(&lexical) {
            return Err(Outside::Path);
        }
        if !self.inside(&resolve(full)) {
            return Err(Outside::Link {
                link: full.to_owned(),
            });
        }
        if std::fs::symlink_metadata(full).is_ok_and(|m| m.is_dir()) {
            self.check_tree(full, full)?;
        }
        Ok(())
    }

    fn check_tree(&self, top: &Path, dir: &Path) -> Result<(), Outside> {
        let mut seen = std::collections::HashSet::new();
        seen.insert(resolve(dir));
        self.check_under(top, dir, &mut seen)
    }

    /// Every link under `dir` leads inside; a link to a folder inside is
    /// followed (tools reading the folder follow it too), each real folder
    /// once.
    fn check_under(
        &self,
        top: &Path,
        dir: &Path,
        seen: &mut std::collections::HashSet<PathBuf>,
    ) -> Result<(), Outside> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let real = if kind.is_symlink() {
                let real = resolve(&path);
                if !self.inside(&real) {
                    return Err(Outside::Link {
                        link: path.strip_prefix(top).unwrap_or(&path).to_owned(),
                    });
                }
                if !real.is_dir() {
                    continue;
                }
                real
            } else if kind.is_dir() && entry.file_name() != ".git" {
                resolve(&path)
            } else {
                continue;
            };
            if seen.insert(real) {
                self.check_under(top, &path, seen)?;
            }
        }
        Ok(())
    }
}

/// Where `path` really leads: the system's own resolution (symlinks
/// followed before each `..`, as opening it would) of its longest part
/// that exists, the rest, which holds no symlink, normalized by hand.
fn resolve(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            let mut out = real;
            out.extend(rest.iter().rev());
            return normalize(&out);
        }
        match (existing.parent(), existing.components().next_back()) {
            (Some(parent), Some(last)) => {
                rest.push(last.as_os_str().to_owned());
                existing = parent;
            }
            _ => return normalize(&absolute),
        }
    }
}

/// `path` with `.` and `..` taken out without reading the disk.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_links_out_of_the_repository_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(repo.join(".git")).unwrap();
        std::fs::create_dir_all(repo.join("envs/dev/chart/templates")).unwrap();
        std::fs::create_dir_all(dir.path().join("common")).unwrap();
        let spec_dir = repo.join("envs/dev");
        let confinement = Confinement::of(&spec_dir);

        assert_eq!(confinement.check(&spec_dir.join("chart")), Ok(()));
        // Up to the repository's root is inside; past it is not.
        assert_eq!(confinement.check(&spec_dir.join("../../README.md")), Ok(()));
        assert_eq!(
            confinement.check(&spec_dir.join("../../../common")),
            Err(Outside::Path)
        );
        assert_eq!(
            confinement.check(Path::new("/etc/passwd")),
            Err(Outside::Path)
        );

        std::os::unix::fs::symlink("/etc/passwd", spec_dir.join("values.yaml")).unwrap();
        assert!(matches!(
            confinement.check(&spec_dir.join("values.yaml")),
            Err(Outside::Link { .. })
        ));
        std::os::unix::fs::symlink("/etc", spec_dir.join("chart/templates/etc")).unwrap();
        assert_eq!(
            confinement.check(&spec_dir.join("chart")),
            Err(Outside::Link {
                link: PathBuf::from("templates/etc")
            })
        );

        // `..` after a link goes up from where the link leads, as the
        // system resolves it, not from the link's own folder.
        std::fs::create_dir_all(dir.path().join("elsewhere/deep")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("elsewhere/deep"), spec_dir.join("l")).unwrap();
        std::fs::write(dir.path().join("elsewhere/secret.yaml"), "a: 1").unwrap();
        assert!(matches!(
            confinement.check(&spec_dir.join("l/../secret.yaml")),
            Err(Outside::Link { .. })
        ));
        // A link to a folder inside is followed, and a link out found there.
        std::fs::remove_file(spec_dir.join("chart/templates/etc")).unwrap();
        std::fs::create_dir_all(repo.join("other")).unwrap();
        std::os::unix::fs::symlink("/etc", repo.join("other/y")).unwrap();
        std::os::unix::fs::symlink(repo.join("other"), spec_dir.join("chart/templates/x")).unwrap();
        assert_eq!(
            confinement.check(&spec_dir.join("chart")),
            Err(Outside::Link {
                link: PathBuf::from("templates/x/y")
            })
        );

        let mut allowing = Confinement::of(&spec_dir);
        allowing.allow(&dir.path().join("common"));
        assert_eq!(
            allowing.check(&spec_dir.join("../../../common/x.yaml")),
            Ok(())
        );
    }

    #[test]
    fn without_a_git_work_tree_the_spec_folder_is_the_repository() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("spec")).unwrap();
        let confinement = Confinement::of(&dir.path().join("spec"));
        assert_eq!(confinement.check(&dir.path().join("spec/a.yaml")), Ok(()));
        assert_eq!(
            confinement.check(&dir.path().join("b.yaml")),
            Err(Outside::Path)
        );
    }
}
