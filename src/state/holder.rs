//! Who holds a lock: a process named so that it is told apart from any
//! other, even one with the same pid later, in another container or after a
//! reboot (host, boot id, pid and the process's start time).

use serde::{Deserialize, Serialize};

/// A kindform process holding, or having held, a lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The host it runs on.
    #[serde(default)]
    pub host: String,
    /// The boot of that host (`/proc/sys/kernel/random/boot_id`).
    #[serde(default)]
    pub boot_id: String,
    /// Its process id.
    pub pid: u32,
    /// When it started, in clock ticks since boot (`/proc/<pid>/stat`).
    #[serde(default)]
    pub start_time: u64,
    /// The command it runs.
    pub command: String,
    /// When it took the lock.
    pub since: String,
}

impl Holder {
    /// This process, about to run `command`.
    pub fn this_process(command: &str) -> Holder {
        let pid = std::process::id();
        Holder {
            host: host_name(),
            boot_id: boot_id(),
            pid,
            start_time: start_time(pid).unwrap_or(0),
            command: command.to_owned(),
            since: jiff::Timestamp::now()
                .round(jiff::Unit::Second)
                .unwrap_or_else(|_| jiff::Timestamp::now())
                .to_string(),
        }
    }

    /// Whether the process still runs, as far as this host can tell: a
    /// holder on another host is taken to run; on this one, a pid now used
    /// by a process that started at another time is not it.
    pub fn running(&self) -> bool {
        if self.host != host_name() {
            return true;
        }
        if self.boot_id.is_empty() || self.boot_id != boot_id() {
            return false;
        }
        start_time(self.pid).is_some_and(|t| t == self.start_time)
    }

    /// Whether it is a process of this host (since its boot), so that
    /// [`Holder::running`] knows rather than assumes.
    pub fn here(&self) -> bool {
        self.host == host_name() && !self.boot_id.is_empty() && self.boot_id == boot_id()
    }

    /// How it is named in messages.
    pub fn describe(&self) -> String {
        let host = if self.host.is_empty() || self.host == host_name() {
            String::new()
        } else {
            format!(" on {}", self.host)
        };
        format!(
            "kindform {} (process {}{host}, since {})",
            self.command, self.pid, self.since
        )
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|b| b.trim().to_owned())
        .unwrap_or_default()
}

/// Field 22 of `/proc/<pid>/stat`, counted after the command name, which
/// may itself hold spaces and parentheses.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_runs_and_one_with_another_start_time_does_not() {
        let me = Holder::this_process("apply");
        assert!(me.start_time > 0, "{me:?}");
        assert!(me.running());
        let reused = Holder {
            start_time: me.start_time + 1,
            ..me.clone()
        };
        assert!(!reused.running());
        let rebooted = Holder {
            boot_id: "another-boot".to_owned(),
            ..me.clone()
        };
        assert!(!rebooted.running());
        let elsewhere = Holder {
            host: "another-host".to_owned(),
            pid: 1,
            ..me
        };
        assert!(elsewhere.running());
        assert!(elsewhere.describe().contains("on another-host"));
    }
}
