//! The lock of one environment: an exclusive `flock` on the state folder's
//! `lock` file, taken on an open descriptor, so the kernel decides who holds
//! it, and lets it go when the holder ends however it ends: there is no
//! stale lock to take over, and no window in which two processes both think
//! they hold it. The `lock` file is never deleted (a process waiting on the
//! old file would hold a lock nobody else sees). Who holds it is written
//! beside it, to `holder`, replaced whole by a rename, for messages only.

use std::io::Write as _;
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Holder;

/// The lock of one environment; released when dropped.
#[derive(Debug)]
pub struct Lock {
    /// Holds the `flock`; closing it releases the lock.
    _file: std::fs::File,
    holder: PathBuf,
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it.
    #[error(
        "environment \"{environment}\" is locked by {}; wait for it to finish, or stop it",
        holder.as_ref().map_or_else(|| "another kindform process".to_owned(), |h| h.describe())
    )]
    Held {
        /// The environment.
        environment: String,
        /// Who holds it, when that could be read.
        holder: Option<Box<Holder>>,
    },
    /// The lock file could not be opened or written.
    #[error("cannot take the lock {path}")]
    Io {
        /// The file.
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Lock {
    /// Takes the lock of the environment whose state folder is `dir` for
    /// `command`, without waiting. When the last holder ended without
    /// letting go (it was killed), the second value says who that was.
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
        super::ensure_private(dir).map_err(io)?;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(io)?;
        let holder_path = dir.join("holder");
        let before = read_holder(&holder_path);
        if !try_flock(&file).map_err(io)? {
            return Err(LockError::Held {
                environment: environment.to_owned(),
                holder: current_holder(&holder_path, before.as_ref()).map(Box::new),
            });
        }
        let note = read_holder(&holder_path).map(|left| {
            format!(
                "took over the lock left by {}, which ended without letting it go",
                left.describe()
            )
        });
        let me = Holder::this_process(command);
        write_holder(dir, &holder_path, &me).map_err(|source| LockError::Io {
            path: holder_path.clone(),
            source,
        })?;
        // Earlier kindforms wrote `set` values to files here for helm; a
        // kill could leave them. Nothing writes there now.
        let _ = std::fs::remove_dir_all(dir.join("values"));
        Ok((
            Lock {
                _file: file,
                holder: holder_path,
            },
            note,
        ))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Still under the lock: nobody else can have written it.
        let _ = std::fs::remove_file(&self.holder);
    }
}

/// Takes the `flock` of `file` without blocking on a holder. A holder that
/// just let go may still be seen holding it for a moment: a process that
/// forked just then keeps a copy of its descriptor until it execs (the
/// descriptor is close-on-exec). So a refusal is retried for half a second
/// before it counts.
fn try_flock(file: &std::fs::File) -> std::io::Result<bool> {
    for attempt in 0..10 {
        // SAFETY: flock(2) on a descriptor the caller owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(true);
        }
        let error = std::io::Error::last_os_error();
        if error.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(error);
        }
        if attempt < 9 {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(false)
}

fn read_holder(path: &Path) -> Option<Holder> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// Who holds the lock now. Right after a takeover the file may still name
/// the holder that ended (`before`, read before trying the lock); the new
/// one writes itself within moments. A holder on another host cannot be
/// seen to have ended, so the one read before is named only once the file
/// has had time to change.
fn current_holder(path: &Path, before: Option<&Holder>) -> Option<Holder> {
    let mut last = None;
    for _ in 0..80 {
        last = read_holder(path).filter(Holder::running);
        if let Some(holder) = &last {
            if Some(holder) != before || holder.here() {
                return last;
            }
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    last
}

fn write_holder(dir: &Path, path: &Path, holder: &Holder) -> std::io::Result<()> {
    let temp = dir.join(format!(".holder.{}", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&temp)?;
    file.write_all(serde_json::to_string(holder).unwrap_or_default().as_bytes())?;
    std::fs::rename(&temp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kindform-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    /// Whether this test runs in a process of its own; when not, runs it
    /// in one and asserts it passed. A lock is released only when every
    /// copy of its descriptor is closed, and a copy lives in any child
    /// another test thread forks until that child execs: a test that drops
    /// a lock and takes it again must not share its process with spawns.
    fn alone(test: &str) -> bool {
        if std::env::var_os("KINDFORM_LOCK_ALONE").is_some() {
            return true;
        }
        let output = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env("KINDFORM_LOCK_ALONE", "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        false
    }

    #[test]
    fn a_second_holder_is_refused_and_a_killed_ones_lock_is_taken() {
        if !alone("state::lock::tests::a_second_holder_is_refused_and_a_killed_ones_lock_is_taken")
        {
            return;
        }
        let dir = temp("lock");
        let (lock, note) = Lock::acquire(&dir, "env", "apply").unwrap();
        assert!(note.is_none());
        let err = Lock::acquire(&dir, "env", "destroy").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("environment \"env\" is locked by kindform apply (process "),
            "{err}"
        );
        drop(lock);
        assert!(!dir.join("holder").exists());
        assert!(dir.join("lock").exists(), "the lock file is never deleted");
        // What a holder that was killed leaves: its name, and no flock.
        std::fs::write(
            dir.join("holder"),
            r#"{"host": "h", "boot_id": "b", "pid": 4194304, "start_time": 1, "command": "apply", "since": "2026-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        let (lock, note) = Lock::acquire(&dir, "env", "apply").unwrap();
        assert!(note.unwrap().contains("process 4194304 on h"));
        drop(lock);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn set_values_files_an_earlier_kindform_left_are_swept_when_the_lock_is_taken() {
        let dir = temp("sweep");
        std::fs::create_dir_all(dir.join("values")).unwrap();
        std::fs::write(dir.join("values/web.yaml"), "password: left-behind\n").unwrap();
        let (lock, _) = Lock::acquire(&dir, "env", "apply").unwrap();
        assert!(!dir.join("values").exists());
        drop(lock);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Run as a child of the race tests (it does nothing otherwise): takes
    /// the lock in `KINDFORM_LOCK_RACE_DIR`, says whether it won, and holds
    /// what it took until the file `go` appears.
    #[test]
    fn lock_race_child() {
        let Some(dir) = std::env::var_os("KINDFORM_LOCK_RACE_DIR").map(PathBuf::from) else {
            return;
        };
        let taken = Lock::acquire(&dir, "env", "apply");
        match &taken {
            Ok((_, note)) => println!("RACE won {}", note.is_some()),
            Err(e) => println!("RACE lost {e}"),
        }
        while !dir.join("go").exists() {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Eight processes take the lock at once; the outcomes they print.
    fn race(dir: &Path) -> Vec<String> {
        let exe = std::env::current_exe().unwrap();
        let mut children: Vec<_> = (0..8)
            .map(|_| {
                Command::new(&exe)
                    .args([
                        "--exact",
                        "state::lock::tests::lock_race_child",
                        "--nocapture",
                    ])
                    .env("KINDFORM_LOCK_RACE_DIR", dir)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        // Once every child has printed, every one has tried: then they may end.
        let lines = children
            .iter_mut()
            .map(|c| {
                use std::io::BufRead as _;
                let stdout = std::io::BufReader::new(c.stdout.take().unwrap());
                stdout
                    .lines()
                    .map_while(Result::ok)
                    .find(|l| l.starts_with("RACE "))
                    .unwrap_or_else(|| "RACE none".to_owned())
            })
            .collect();
        std::fs::write(dir.join("go"), "").unwrap();
        for mut child in children {
            child.wait().unwrap();
        }
        lines
    }

    #[test]
    fn of_eight_processes_at_once_exactly_one_takes_the_lock() {
        let dir = temp("lock-race");
        std::fs::create_dir_all(&dir).unwrap();
        let lines = race(&dir);
        let won: Vec<_> = lines.iter().filter(|l| l.starts_with("RACE won")).collect();
        assert_eq!(won, ["RACE won false"], "{lines:#?}");
        let lost = lines
            .iter()
            .filter(|l| l.starts_with("RACE lost environment \"env\" is locked by"))
            .count();
        assert_eq!(lost, 7, "{lines:#?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn of_eight_processes_taking_over_a_killed_holders_lock_exactly_one_wins() {
        let dir = temp("lock-takeover");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("holder"),
            r#"{"host": "h", "boot_id": "b", "pid": 4194304, "start_time": 1, "command": "apply", "since": "2026-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        std::fs::write(dir.join("lock"), "").unwrap();
        let lines = race(&dir);
        let won: Vec<_> = lines.iter().filter(|l| l.starts_with("RACE won")).collect();
        assert_eq!(won, ["RACE won true"], "{lines:#?}");
        // The losers name the winner, never the killed holder.
        let lost: Vec<_> = lines
            .iter()
            .filter(|l| l.starts_with("RACE lost"))
            .collect();
        assert_eq!(lost.len(), 7, "{lines:#?}");
        assert!(lost.iter().all(|l| !l.contains("4194304")), "{lines:#?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
