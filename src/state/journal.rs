//! The journal: one JSON line per record, appended by every run to
//! `journal.jsonl` in the state folder. Each line goes out in one write
//! (so runs appending at once never interleave inside a line), the file is
//! synced when the run ends, and a failure to write is reported then
//! rather than lost. The file is the user's alone from its creation.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The journal of one run.
pub struct Journal {
    path: PathBuf,
    file: Result<std::fs::File, std::io::Error>,
    run: String,
}

impl Journal {
    /// Opens the journal of the state folder `dir` for a new run.
    pub fn open(dir: &Path, command: &str) -> Journal {
        let path = dir.join("journal.jsonl");
        let file = super::ensure_private(dir).and_then(|()| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)
        });
        let run = format!(
            "{}-{}",
            jiff::Timestamp::now().as_second(),
            std::process::id()
        );
        let mut journal = Journal { path, file, run };
        journal.record("run", serde_json::json!({"command": command}));
        journal
    }

    /// Appends a record of `kind` (`plan`, `event`, `result`, …).
    pub fn record(&mut self, kind: &str, body: Value) {
        let Ok(file) = &mut self.file else {
            return;
        };
        let mut body = body;
        kindform_api::secrets::scrub_json(&mut body);
        let mut line = serde_json::json!({
            "time": jiff::Timestamp::now().to_string(),
            "run": self.run,
            "kind": kind,
            "body": body,
        })
        .to_string();
        line.push('\n');
        if let Err(e) = file.write_all(line.as_bytes()) {
            self.file = Err(e);
        }
    }

    /// Syncs what this run wrote to disk; a warning when any of it could
    /// not be written.
    pub fn finish(self) -> Option<String> {
        let failed = match self.file {
            Ok(file) => file.sync_data().err(),
            Err(e) => Some(e),
        };
        failed.map(|e| {
            format!(
                "the journal {} could not be written ({e}); this run's record in it is incomplete",
                self.path.display()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn the_journal_is_private_from_creation_and_each_record_is_one_line() {
        let dir = std::env::temp_dir().join(format!("kindform-journal-{}", std::process::id()));
        let mut journal = Journal::open(&dir.join("env"), "apply");
        journal.record("event", serde_json::json!({"text": "a\nb"}));
        assert_eq!(journal.finish(), None);
        let path = dir.join("env/journal.jsonl");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let folder = std::fs::metadata(dir.join("env"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(folder & 0o777, 0o700);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["body"]["text"], "a\nb");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_runs_secrets_are_scrubbed_from_every_record() {
        kindform_api::secrets::register("pa\"ss\nword-93ab");
        let dir =
            std::env::temp_dir().join(format!("kindform-journal-scrub-{}", std::process::id()));
        let mut journal = Journal::open(&dir, "apply");
        journal.record(
            "event",
            serde_json::json!({"error": ["helm: value pa\"ss\nword-93ab refused"]}),
        );
        assert_eq!(journal.finish(), None);
        let text = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap();
        assert!(!text.contains("93ab"), "{text}");
        assert!(text.contains("(sensitive)"), "{text}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_journal_that_cannot_be_written_is_reported() {
        let dir = std::env::temp_dir().join(format!("kindform-journal-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // A symlink in its place is never followed.
        std::os::unix::fs::symlink("/dev/null", dir.join("journal.jsonl")).unwrap();
        let journal = Journal::open(&dir, "apply");
        let warning = journal.finish().unwrap();
        assert!(
            warning.contains("journal.jsonl could not be written"),
            "{warning}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
