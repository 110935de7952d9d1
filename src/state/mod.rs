//! The environment's state folder, `.kindform/<environment>/` beside the
//! spec: the lock that keeps two applies (or destroys) off one environment,
//! who holds it, and the journal each run appends to. Live state, not this
//! folder, is the source of truth: deleting it loses nothing but history.
//! The folder is the user's alone (0700), since it holds the cluster's
//! kubeconfig.

mod holder;
mod journal;
mod lock;

pub use holder::Holder;
pub use journal::Journal;
pub use lock::{Lock, LockError};

use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::Path;

/// Makes the state folder `dir` (and its parents) when missing, and makes
/// it the user's alone; a folder made by an older kindform is narrowed.
pub fn ensure_private(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let mode = std::fs::metadata(dir)?.permissions().mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}
