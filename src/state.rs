//! The environment's state folder, `.kindform/<environment>/` beside the
//! spec: the lock that keeps two applies (or destroys) off one environment,
//! and the journal each run appends to. Live state, not this folder, is the
//! source of truth: deleting it loses nothing but history.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Who holds a lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// Its process.
    pub pid: u32,
    /// The command it runs.
    pub command: String,
    /// When it took the lock.
    pub since: String,
}

/// The lock of one environment; released when dropped.
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another live process holds it.
    #[error(
        "environment \"{environment}\" is locked by kindform {} (process {}, since {}); wait for it to finish, or stop it",
        holder.command, holder.pid, holder.since
    )]
    Held {
        /// The environment.
        environment: String,
        /// Who holds it.
        holder: Holder,
    },
    /// The lock file could not be written.
    #[error("cannot take the lock {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists.
    let result = unsafe { libc::kill(pid, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

impl Lock {
    /// Takes the lock of the environment whose state folder is `dir` for
    /// `command`. A lock left by a process that is gone is taken over; the
    /// second value then says so.
    pub fn acquire(
        dir: &Path,
        environment: &str,
        command: &str,
    ) -> Result<(Lock, Option<String>), LockError> {
        let path = dir.join("lock");
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let holder = Holder {
            pid: std::process::id(),
            command: command.to_owned(),
            since: jiff::Timestamp::now()
                .round(jiff::Unit::Second)
                .unwrap_or_else(|_| jiff::Timestamp::now())
                .to_string(),
        };
        let text = serde_json::to_string(&holder).unwrap_or_default();
        let mut note = None;
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut file) => {
                    file.write_all(text.as_bytes()).map_err(io)?;
                    return Ok((Lock { path }, note));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let existing: Option<Holder> = std::fs::read_to_string(&path)
                        .ok()
                        .and_then(|t| serde_json::from_str(&t).ok());
                    match existing {
                        Some(other) if alive(other.pid) => {
                            return Err(LockError::Held {
                                environment: environment.to_owned(),
                                holder: other,
                            });
                        }
                        other => {
                            note = Some(match other {
                                Some(o) => format!(
                                    "took over the lock left by kindform {} (process {}, since {}), which is no longer running",
                                    o.command, o.pid, o.since
                                ),
                                None => "took over an unreadable lock file".to_owned(),
                            });
                            let _ = std::fs::remove_file(&path);
                        }
                    }
                }
                Err(e) => return Err(io(e)),
            }
        }
        Err(io(std::io::Error::other(
            "the lock changed hands while being taken",
        )))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let ours = std::fs::read_to_string(&self.path)
            .ok()
            .and_then(|t| serde_json::from_str::<Holder>(&t).ok())
            .is_some_and(|h| h.pid == std::process::id());
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The journal: one JSON line per record, appended by every run.
pub struct Journal {
    file: Option<std::fs::File>,
    run: String,
}

impl Journal {
    /// Opens the journal of the state folder `dir` for a new run.
    pub fn open(dir: &Path, command: &str) -> Journal {
        let file = std::fs::create_dir_all(dir).ok().and_then(|()| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("journal.jsonl"))
                .ok()
        });
        let run = format!(
            "{}-{}",
            jiff::Timestamp::now().as_second(),
            std::process::id()
        );
        let mut journal = Journal { file, run };
        journal.record("run", serde_json::json!({"command": command}));
        journal
    }

    /// Appends a record of `kind` (`plan`, `event`, `result`, …).
    pub fn record(&mut self, kind: &str, body: Value) {
        let Some(file) = &mut self.file else {
            return;
        };
        let line = serde_json::json!({
            "time": jiff::Timestamp::now().to_string(),
            "run": self.run,
            "kind": kind,
            "body": body,
        });
        let _ = writeln!(file, "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_and_a_dead_ones_lock_is_taken_over() {
        let dir = std::env::temp_dir().join(format!("kindform-lock-{}", std::process::id()));
        let (lock, note) = Lock::acquire(&dir, "env", "apply").unwrap();
        assert!(note.is_none());
        let err = Lock::acquire(&dir, "env", "destroy").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("environment \"env\" is locked by kindform apply (process "),
            "{err}"
        );
        drop(lock);
        assert!(!dir.join("lock").exists());
        // A process that no longer runs (pid_max is below 2^22 on Linux).
        std::fs::write(
            dir.join("lock"),
            r#"{"pid": 4194304, "command": "apply", "since": "2026-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        let (_lock, note) = Lock::acquire(&dir, "env", "apply").unwrap();
        assert!(note.unwrap().contains("process 4194304"));
        drop(_lock);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
