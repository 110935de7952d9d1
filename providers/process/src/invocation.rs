//! One call of a program: its exact argv, folder, environment, stdin and
//! bounds, and running it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use kindform_api::Cancel;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};

use crate::error::ProcessError;

/// How often a running child's cancel token is looked at.
const CANCEL_POLL: Duration = Duration::from_millis(100);

/// One call of a program, built up and then [run](Invocation::run).
#[derive(Clone, Debug)]
pub struct Invocation {
    program: OsString,
    args: Vec<OsString>,
    cwd: Option<PathBuf>,
    /// `Some`: the child's whole environment; `None`: kindform's own.
    env: Option<Vec<(OsString, OsString)>>,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
    output_cap: usize,
}

/// What a child printed, and how it ended.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Invocation {
    /// A call of `program` with no arguments, a two-minute bound and the
    /// tool-output cap.
    pub fn new(program: impl Into<OsString>) -> Self {
        Invocation {
            program: program.into(),
            args: Vec::new(),
            cwd: None,
            env: None,
            stdin: None,
            timeout: Duration::from_secs(120),
            output_cap: kindform_api::bounded::MAX_TOOL_OUTPUT_BYTES,
        }
    }

    /// Adds one argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds arguments.
    pub fn args<I: IntoIterator<Item = A>, A: Into<OsString>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Runs it in `dir`.
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// Gives the child exactly these variables and no other.
    pub fn only_env<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<OsString>,
        V: Into<OsString>,
    {
        self.env = Some(
            vars.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        );
        self
    }

    /// Feeds `bytes` to its stdin (else stdin is `/dev/null`).
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// How long it may run before its group is killed.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How much it may print on each of stdout and stderr.
    pub fn output_cap(mut self, bytes: usize) -> Self {
        self.output_cap = bytes;
        self
    }

    /// The exact argv, program first: what the table tests compare.
    pub fn argv(&self) -> Vec<String> {
        std::iter::once(&self.program)
            .chain(&self.args)
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    /// The environment it gets, when it gets only what it was given.
    pub fn env(&self) -> Option<&[(OsString, OsString)]> {
        self.env.as_deref()
    }

    /// The time bound.
    pub fn time_bound(&self) -> Duration {
        self.timeout
    }

    /// Runs it to its end. A `cancel` asked meanwhile sends SIGINT to its
    /// group (as Ctrl-C on a terminal would: helm then stops waiting and
    /// leaves a release it can recover from), and the call goes on waiting
    /// for it within its bound. A timeout, an overflow of the output cap,
    /// or dropping the returned future kills the group.
    pub async fn run(&self, cancel: Option<&Cancel>) -> Result<Output, ProcessError> {
        let mut command = tokio::process::Command::new(&self.program);
        command
            .args(&self.args)
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(dir) = &self.cwd {
            command.current_dir(dir);
        }
        if let Some(env) = &self.env {
            command.env_clear();
            command.envs(env.iter().map(|(k, v)| (k, v)));
        }
        own_group_dying_with_us(&mut command);
        let mut child = command
            .spawn()
            .map_err(|source| ProcessError::Spawn { source })?;
        let group = Group(child.id());
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        if let (Some(bytes), Some(mut pipe)) = (self.stdin.clone(), child.stdin.take()) {
            // Fed beside the reads, so a child that prints before it has
            // read all its input cannot stall on a full pipe.
            tokio::spawn(async move {
                // A write error means it exited early; its stderr says why.
                let _ = pipe.write_all(&bytes).await;
            });
        }
        let cap = self.output_cap;
        let whole = async {
            let (stdout, stderr) = tokio::try_join!(capped(stdout, cap), capped(stderr, cap))?;
            let status = child
                .wait()
                .await
                .map_err(|source| ProcessError::Io { source })?;
            Ok::<_, ProcessError>(Output {
                status,
                stdout,
                stderr,
            })
        };
        tokio::pin!(whole);
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut interrupted = false;
        let ended = loop {
            tokio::select! {
                result = &mut whole => break Some(result),
                () = tokio::time::sleep_until(deadline) => break None,
                () = tokio::time::sleep(CANCEL_POLL), if cancel.is_some() && !interrupted => {
                    if cancel.is_some_and(Cancel::is_cancelled) {
                        group.signal(libc::SIGINT);
                        interrupted = true;
                    }
                }
            }
        };
        // The guard kills the group as it goes, whatever the end: what the
        // child left running in the background (a `kubectl port-forward &`
        // of a check) goes with it.
        drop(group);
        match ended {
            Some(Ok(output)) => Ok(output),
            Some(Err(e)) => Err(e),
            None => Err(ProcessError::Timeout {
                waited: self.timeout,
            }),
        }
    }
}

/// A child's process group, killed when this is dropped: at the end of the
/// call, however it ends, and when the call itself is dropped. Its id stays
/// the group's while any member lives (Linux hands out no pid still in use
/// as a group id), so the kill reaches no stranger.
struct Group(Option<u32>);

impl Group {
    fn signal(&self, signal: i32) {
        if let Some(pid) = self.0.and_then(|p| i32::try_from(p).ok()) {
            // SAFETY: kill(2) of the group this call created (its leader's
            // pid is the group id) with a valid signal.
            unsafe {
                libc::kill(-pid, signal);
            }
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.signal(libc::SIGKILL);
    }
}

/// Reads a stream to its end, or fails once it passes `cap`.
async fn capped(
    stream: Option<impl AsyncRead + Unpin>,
    cap: usize,
) -> Result<Vec<u8>, ProcessError> {
    let mut bytes = Vec::new();
    if let Some(stream) = stream {
        stream
            .take(cap as u64 + 1)
            .read_to_end(&mut bytes)
            .await
            .map_err(|source| ProcessError::Io { source })?;
    }
    if bytes.len() > cap {
        return Err(ProcessError::TooMuchOutput { cap });
    }
    Ok(bytes)
}

/// Starts the child in a new process group (so signals reach what it
/// spawns too, and a Ctrl-C at the terminal reaches only kindform, which
/// then decides), and has the kernel SIGKILL it when kindform dies.
///
/// The death signal follows the thread that forked, not the process:
/// kindform spawns from its runtime's worker threads, which live as long
/// as kindform does.
fn own_group_dying_with_us(command: &mut tokio::process::Command) {
    command.process_group(0);
    #[cfg(target_os = "linux")]
    {
        let parent = std::process::id();
        // SAFETY: the closure runs between fork and exec and only makes
        // async-signal-safe calls (prctl, getppid), allocating nothing.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // kindform died before the prctl took: go no further.
                if libc::getppid() as u32 != parent {
                    return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
                }
                Ok(())
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid_alive(pid: i32) -> bool {
        // A zombie still answers kill(0); its state in /proc says it ended.
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                let state = s.rsplit(')').next().unwrap_or("").trim_start();
                !state.starts_with('Z') && !state.starts_with('X')
            })
            .unwrap_or(false)
    }

    /// The pid a test's script wrote to `file`.
    fn pid_in(file: &Path) -> i32 {
        std::fs::read_to_string(file)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// Whether `pid` ends within a second (the kill is sent; the kernel
    /// takes a moment).
    async fn gone_soon(pid: i32) -> bool {
        for _ in 0..50 {
            if !pid_alive(pid) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    #[tokio::test]
    async fn prints_exits_and_feeds_stdin() {
        let output = Invocation::new("sh")
            .args(["-c", "cat; echo err >&2; exit 3"])
            .stdin("hello")
            .run(None)
            .await
            .unwrap();
        assert_eq!(output.stdout, b"hello");
        assert_eq!(output.stderr, b"err\n");
        assert_eq!(output.status.code(), Some(3));
    }

    #[tokio::test]
    async fn a_timeout_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("grandchild");
        let script = format!("sleep 300 & echo $! > {}; wait", pidfile.display());
        let error = Invocation::new("sh")
            .args(["-c", &script])
            .timeout(Duration::from_millis(500))
            .run(None)
            .await
            .unwrap_err();
        assert!(matches!(error, ProcessError::Timeout { .. }), "{error:?}");
        let grandchild = pid_in(&pidfile);
        assert!(
            gone_soon(grandchild).await,
            "the grandchild {grandchild} outlived the timeout"
        );
    }

    #[tokio::test]
    async fn what_a_child_leaves_in_the_background_goes_when_it_ends() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("daemon");
        let script = format!(
            "sleep 300 >/dev/null 2>&1 </dev/null & echo $! > {}",
            pidfile.display()
        );
        let output = Invocation::new("sh")
            .args(["-c", &script])
            .run(None)
            .await
            .unwrap();
        assert!(output.status.success());
        let daemon = pid_in(&pidfile);
        assert!(
            gone_soon(daemon).await,
            "the background process {daemon} outlived the call"
        );
    }

    #[tokio::test]
    async fn output_past_the_cap_is_refused_and_the_child_stopped() {
        let error = Invocation::new("sh")
            .args(["-c", "yes"])
            .output_cap(64 << 10)
            .run(None)
            .await
            .unwrap_err();
        assert!(matches!(error, ProcessError::TooMuchOutput { cap } if cap == 64 << 10));
    }

    #[tokio::test]
    async fn only_the_named_environment_reaches_a_child_that_asks_for_it() {
        // SAFETY: set before any child of this test starts; the variable
        // is this test's own.
        unsafe { std::env::set_var("KINDFORM_PROCESS_TEST_CANARY", "leak") };
        let output = Invocation::new("/usr/bin/env")
            .only_env([("PATH", "/usr/bin:/bin"), ("ONLY", "this")])
            .run(None)
            .await
            .unwrap();
        let printed = String::from_utf8(output.stdout).unwrap();
        let mut lines: Vec<&str> = printed.lines().collect();
        lines.sort();
        assert_eq!(lines, ["ONLY=this", "PATH=/usr/bin:/bin"]);
    }

    #[tokio::test]
    async fn a_cancel_interrupts_the_group_and_the_call_waits_for_it() {
        let cancel = Cancel::new();
        let asked = cancel.clone();
        // Asked once the shell has its trap and its child's pid (a signal
        // before that would find a shell that cannot stop its child).
        let dir = tempfile::tempdir().unwrap();
        let ready = dir.path().join("ready");
        let seen = ready.clone();
        tokio::spawn(async move {
            while !seen.exists() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            asked.cancel();
        });
        let script = format!(
            "trap 'kill $p; echo interrupted; exit 4' INT; sleep 30 & p=$!; : > '{}'; wait",
            ready.display()
        );
        let output = Invocation::new("sh")
            .args(["-c", &script])
            .timeout(Duration::from_secs(20))
            .run(Some(&cancel))
            .await
            .unwrap();
        assert_eq!(output.stdout, b"interrupted\n");
        assert_eq!(output.status.code(), Some(4));
    }

    #[test]
    fn argv_is_the_program_then_its_arguments() {
        let call = Invocation::new("helm").args(["list", "--", "-x"]);
        assert_eq!(call.argv(), ["helm", "list", "--", "-x"]);
    }
}
