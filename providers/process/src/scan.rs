//! Which processes run a given command line, read from `/proc`: how
//! kindform makes sure no `helm` of an environment still runs before it
//! recovers a release that `helm` left pending.

/// A process found running.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Running {
    pub pid: u32,
    /// Its argv.
    pub argv: Vec<String>,
}

/// Every process (but this one) whose argv `matches`. Processes that end
/// while they are read, or that this user may not read, are left out.
pub fn running(matches: impl Fn(&[String]) -> bool) -> Vec<Running> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let own = std::process::id();
    let mut found: Vec<Running> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != own)
        .filter_map(|pid| {
            let bytes = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let argv: Vec<String> = bytes
                .split(|&b| b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            (!argv.is_empty() && matches(&argv)).then_some(Running { pid, argv })
        })
        .collect();
    found.sort_by_key(|r| r.pid);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_child_by_its_argv_and_not_after_it_ended() {
        let marker = format!("kindform-scan-{}", std::process::id());
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 30; true", &marker])
            .spawn()
            .unwrap();
        // Until it has exec'd, the child's argv is still this test's.
        let mut found = Vec::new();
        for _ in 0..100 {
            found = running(|argv| argv.iter().any(|a| a == &marker));
            if !found.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].pid, child.id());
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(running(|argv| argv.iter().any(|a| a == &marker)).is_empty());
    }
}
