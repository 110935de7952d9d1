//! Where kindform keeps what it may read again instead of asking a tool:
//! `KINDFORM_CACHE_DIR`, else the platform's cache folder
//! (`$XDG_CACHE_HOME/kindform`, or `~/.cache/kindform`). Only the path is
//! decided here; its users read and write it.

use std::path::PathBuf;

/// The cache folder; `None` when neither the variables nor a home say one.
pub fn dir() -> Option<PathBuf> {
    let set = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = set("KINDFORM_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = set("XDG_CACHE_HOME") {
        return Some(PathBuf::from(dir).join("kindform"));
    }
    set("HOME").map(|home| PathBuf::from(home).join(".cache").join("kindform"))
}
