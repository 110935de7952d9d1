//! The user's kubeconfig, which kindform touches only when asked:
//! `kindform kubeconfig --export` merges the environment's cluster, user and
//! context (`kind-<cluster>`) into it, `--unexport` and `destroy` take out
//! what export put in.
//!
//! The file is edited as text, not parsed and written again, so every other
//! entry, comment and blank line stays byte for byte: each of the three
//! entries is a block-sequence item inserted after the last item of its list
//! (or put in place of an entry of the same name). The file written is
//! `$KUBECONFIG`'s first path, else `~/.kube/config`, as kubectl writes new
//! entries; it is locked as client-go locks it (`<file>.lock`, made
//! exclusively), copied to `<file>.kindform-backup` first, and replaced
//! through a temporary file. What was exported is remembered in the state
//! folder (`exported.json`), so that only that is taken out again.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The three lists of a kubeconfig, and the entry of each kindform adds.
const SECTIONS: [&str; 3] = ["clusters", "users", "contexts"];

/// Why the user's kubeconfig was not changed.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    /// The environment has no kubeconfig: its cluster was never made.
    #[error("there is no kubeconfig at {0} yet: `kindform apply` makes the cluster and writes it")]
    Missing(PathBuf),
    /// Neither `KUBECONFIG` nor `HOME` says where the user's kubeconfig is.
    #[error("neither KUBECONFIG nor HOME is set, so there is no kubeconfig of yours to merge into")]
    NoTarget,
    /// A file could not be read or written.
    #[error("cannot {what} {path}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Another program holds the file's lock.
    #[error(
        "{0} is locked by another program ({0}.lock exists); try again, or remove the lock if nothing holds it"
    )]
    Locked(PathBuf),
    /// The environment's kubeconfig lacks the entries of its context.
    #[error("{path} has no context {context} with its cluster and user")]
    Incomplete { path: PathBuf, context: String },
    /// The user's file is not in a shape kindform edits without rewriting it.
    #[error("{path}: {why}; kindform leaves the file as it is")]
    Unmergeable { path: PathBuf, why: String },
}

/// What an export put where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exported {
    /// The file.
    pub path: PathBuf,
    /// The names of the entries in `clusters`, `users` and `contexts`.
    pub names: [String; 3],
}

/// The user's kubeconfig kindform merges into.
pub fn target() -> Result<PathBuf, KubeconfigError> {
    if let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        if let Some(first) = std::env::split_paths(&list).find(|p| !p.as_os_str().is_empty()) {
            return Ok(first);
        }
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|home| PathBuf::from(home).join(".kube").join("config"))
        .ok_or(KubeconfigError::NoTarget)
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> KubeconfigError {
    let path = path.to_owned();
    move |source| KubeconfigError::Io { what, path, source }
}

/// The entries of `context` in the environment's kubeconfig `ours`, each as
/// the YAML of one list item, in the order of [`SECTIONS`].
fn entries(
    ours: &str,
    path: &Path,
    context: &str,
) -> Result<[(String, String); 3], KubeconfigError> {
    let incomplete = || KubeconfigError::Incomplete {
        path: path.to_owned(),
        context: context.to_owned(),
    };
    let doc: Value = serde_yaml_ng::from_str(ours).map_err(|_| incomplete())?;
    let find = |section: &str, name: &str| {
        doc[section]
            .as_array()?
            .iter()
            .find(|e| e["name"] == name)
            .cloned()
    };
    let ctx = find("contexts", context).ok_or_else(incomplete)?;
    let cluster = ctx["context"]["cluster"]
        .as_str()
        .ok_or_else(incomplete)?
        .to_owned();
    let user = ctx["context"]["user"]
        .as_str()
        .ok_or_else(incomplete)?
        .to_owned();
    let item = |section: &str, name: &str| -> Result<(String, String), KubeconfigError> {
        let entry = find(section, name).ok_or_else(incomplete)?;
        Ok((
            name.to_owned(),
            serde_yaml_ng::to_string(&entry).map_err(|_| incomplete())?,
        ))
    };
    Ok([
        item("clusters", &cluster)?,
        item("users", &user)?,
        item("contexts", context)?,
    ])
}

/// One top-level list of a kubeconfig's text: the line of its key, and the
/// byte ranges of its items.
struct List {
    /// The key's line.
    key: std::ops::Range<usize>,
    /// Each item, from its `- ` line to the line before the next item or
    /// the end of the list (trailing blank and comment lines excluded).
    items: Vec<std::ops::Range<usize>>,
    /// How far its items' dashes are indented.
    indent: usize,
    /// `key: []`, to be written out as a block list.
    empty_flow: bool,
}

/// Lines of `text` with their byte ranges, newline included.
fn lines(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, b) in text.bytes().enumerate() {
        if b == b'\n' {
            out.push(start..i + 1);
            start = i + 1;
        }
    }
    if start < text.len() {
        out.push(start..text.len());
    }
    out
}

fn find_list(text: &str, section: &str, path: &Path) -> Result<Option<List>, KubeconfigError> {
    let unmergeable = |why: String| KubeconfigError::Unmergeable {
        path: path.to_owned(),
        why,
    };
    let all = lines(text);
    let Some(at) = all.iter().position(|r| {
        let line = &text[r.clone()];
        line.strip_prefix(section)
            .and_then(|rest| rest.strip_prefix(':'))
            .is_some()
    }) else {
        return Ok(None);
    };
    let key = all[at].clone();
    let rest = text[key.clone()][section.len() + 1..].trim();
    let rest = rest.split(" #").next().unwrap_or_default().trim();
    match rest {
        "" | "null" | "~" => {}
        "[]" => {
            return Ok(Some(List {
                key,
                items: Vec::new(),
                indent: 0,
                empty_flow: true,
            }));
        }
        _ => {
            return Err(unmergeable(format!(
                "its `{section}` is not a block list (`{section}:` followed by `- ` items)"
            )));
        }
    }
    let mut items: Vec<std::ops::Range<usize>> = Vec::new();
    let mut indent = None;
    let mut last_content = key.end;
    for r in &all[at + 1..] {
        let line = &text[r.clone()];
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let spaces = line.len() - trimmed.len();
        if trimmed.starts_with("- ") || trimmed.trim_end() == "-" {
            let this = *indent.get_or_insert(spaces);
            if spaces == this {
                if let Some(previous) = items.last_mut() {
                    previous.end = last_content;
                }
                items.push(r.start..r.end);
                last_content = r.end;
                continue;
            }
        }
        if spaces == 0 && !trimmed.starts_with('-') {
            break; // the next top-level key
        }
        if items.is_empty() {
            return Err(unmergeable(format!(
                "its `{section}` holds something other than `- ` items"
            )));
        }
        last_content = r.end;
    }
    if let Some(previous) = items.last_mut() {
        previous.end = last_content;
    }
    Ok(Some(List {
        key,
        items,
        indent: indent.unwrap_or(0),
        empty_flow: false,
    }))
}

/// The `name` of the list item whose text is `item`.
fn item_name(item: &str, indent: usize) -> Option<String> {
    // Dedented by the dash's column, the item is a one-item sequence.
    let text: String = item
        .lines()
        .map(|l| {
            l.get(indent.min(l.len() - l.trim_start().len())..)
                .unwrap_or("")
        })
        .collect::<Vec<_>>()
        .join("\n");
    let doc: Value = serde_yaml_ng::from_str(&text).ok()?;
    doc.get(0)?.get("name")?.as_str().map(str::to_owned)
}

/// `entry` (one item's YAML) as an item of a list indented `indent`.
fn as_item(entry: &str, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let mut out = String::new();
    for (i, line) in entry.lines().enumerate() {
        if i == 0 {
            out.push_str(&format!("{pad}- {line}\n"));
        } else {
            out.push_str(&format!("{pad}  {line}\n"));
        }
    }
    out
}

/// `text` with `entry` (named `name`) in its `section` list: in place of an
/// item of that name, else after the last item.
fn merged(
    text: &str,
    section: &str,
    name: &str,
    entry: &str,
    path: &Path,
) -> Result<String, KubeconfigError> {
    let Some(list) = find_list(text, section, path)? else {
        let mut out = text.to_owned();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("{section}:\n{}", as_item(entry, 0)));
        return Ok(out);
    };
    if list.empty_flow {
        return Ok(format!(
            "{}{section}:\n{}{}",
            &text[..list.key.start],
            as_item(entry, 0),
            &text[list.key.end..]
        ));
    }
    let item = as_item(entry, list.indent);
    if let Some(same) = list
        .items
        .iter()
        .find(|r| item_name(&text[(*r).clone()], list.indent).as_deref() == Some(name))
    {
        return Ok(format!(
            "{}{item}{}",
            &text[..same.start],
            &text[same.end..]
        ));
    }
    let at = list.items.last().map_or(list.key.end, |r| r.end);
    let mut before = text[..at].to_owned();
    if !before.ends_with('\n') {
        before.push('\n');
    }
    Ok(format!("{before}{item}{}", &text[at..]))
}

/// `text` without the item named `name` of its `section` list.
fn removed(text: &str, section: &str, name: &str, path: &Path) -> Result<String, KubeconfigError> {
    let Some(list) = find_list(text, section, path)? else {
        return Ok(text.to_owned());
    };
    match list
        .items
        .iter()
        .find(|r| item_name(&text[(*r).clone()], list.indent).as_deref() == Some(name))
    {
        Some(same) => Ok(format!("{}{}", &text[..same.start], &text[same.end..])),
        None => Ok(text.to_owned()),
    }
}

/// Holds `<file>.lock` as client-go does, and removes it when dropped.
struct FileLock(PathBuf);

impl FileLock {
    fn take(file: &Path) -> Result<FileLock, KubeconfigError> {
        let lock = PathBuf::from(format!("{}.lock", file.display()));
        for _ in 0..20 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&lock)
            {
                Ok(_) => return Ok(FileLock(lock)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                Err(e) => return Err(io("lock", &lock)(e)),
            }
        }
        Err(KubeconfigError::Locked(file.to_owned()))
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Rewrites `path` with `edit` of its text, under its lock, after a backup.
fn rewrite(
    path: &Path,
    edit: impl FnOnce(&str) -> Result<String, KubeconfigError>,
) -> Result<bool, KubeconfigError> {
    use std::os::unix::fs::PermissionsExt as _;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io("make the folder of", path))?;
    }
    let _lock = FileLock::take(path)?;
    let before = match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io("read", path)(e)),
    };
    let text = before.clone().unwrap_or_default();
    let after = edit(&text)?;
    if after == text {
        return Ok(false);
    }
    // What is written must still be a kubeconfig.
    serde_yaml_ng::from_str::<Value>(&after).map_err(|e| KubeconfigError::Unmergeable {
        path: path.to_owned(),
        why: format!("the merged file would not be YAML ({e})"),
    })?;
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions().mode())
        .unwrap_or(0o600);
    if before.is_some() {
        let backup = PathBuf::from(format!("{}.kindform-backup", path.display()));
        std::fs::copy(path, &backup).map_err(io("back up", path))?;
    }
    let temp = PathBuf::from(format!(
        "{}.kindform-{}",
        path.display(),
        std::process::id()
    ));
    std::fs::write(&temp, &after).map_err(io("write", &temp))?;
    std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(mode & 0o777))
        .map_err(io("set the mode of", &temp))?;
    std::fs::rename(&temp, path).map_err(io("replace", path))?;
    Ok(true)
}

/// Merges `context` of the environment's kubeconfig `ours` into `target`;
/// what it put there.
pub fn export(ours: &Path, context: &str, target: &Path) -> Result<Exported, KubeconfigError> {
    let text = match std::fs::read_to_string(ours) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(KubeconfigError::Missing(ours.to_owned()));
        }
        Err(e) => return Err(io("read", ours)(e)),
    };
    let found = entries(&text, ours, context)?;
    rewrite(target, |current| {
        let mut out = current.to_owned();
        for (section, (name, entry)) in SECTIONS.iter().zip(&found) {
            out = merged(&out, section, name, entry, target)?;
        }
        Ok(out)
    })?;
    Ok(Exported {
        path: target.to_owned(),
        names: found.map(|(name, _)| name),
    })
}

/// Takes out of its file what `exported` put there; whether anything was.
pub fn unexport(exported: &Exported) -> Result<bool, KubeconfigError> {
    if !exported.path.exists() {
        return Ok(false);
    }
    rewrite(&exported.path, |current| {
        let mut out = current.to_owned();
        for (section, name) in SECTIONS.iter().zip(&exported.names) {
            out = removed(&out, section, name, &exported.path)?;
        }
        Ok(out)
    })
}

/// Where the state folder remembers an export.
pub fn record_path(state_dir: &Path) -> PathBuf {
    state_dir.join("exported.json")
}

/// The export the state folder remembers.
pub fn recorded(state_dir: &Path) -> Option<Exported> {
    let text = std::fs::read_to_string(record_path(state_dir)).ok()?;
    serde_json::from_str(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: &str = "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://127.0.0.1:6443\n  name: kind-demo\nusers:\n- name: kind-demo\n  user:\n    token: abc\ncontexts:\n- context:\n    cluster: kind-demo\n    user: kind-demo\n  name: kind-demo\ncurrent-context: kind-demo\n";

    const THEIRS: &str = "# my clusters\napiVersion: v1\nclusters:\n  - cluster:\n      server: https://prod.example.com\n    name: prod   # the real one\n\n  - name: staging\n    cluster: {server: 'https://staging.example.com'}\ncontexts:\n  - context: {cluster: prod, user: me}\n    name: prod\ncurrent-context: prod\nkind: Config\npreferences: {}\nusers:\n  - name: me\n    user:\n      token: secret-of-mine\n";

    fn export_text(theirs: &str) -> String {
        let path = Path::new("config");
        let found = entries(OURS, path, "kind-demo").unwrap();
        let mut out = theirs.to_owned();
        for (section, (name, entry)) in SECTIONS.iter().zip(&found) {
            out = merged(&out, section, name, entry, path).unwrap();
        }
        out
    }

    fn unexport_text(text: &str) -> String {
        let mut out = text.to_owned();
        for section in SECTIONS {
            out = removed(&out, section, "kind-demo", Path::new("config")).unwrap();
        }
        out
    }

    #[test]
    fn an_export_adds_three_entries_and_an_unexport_gives_back_the_same_bytes() {
        let exported = export_text(THEIRS);
        let doc: Value = serde_yaml_ng::from_str(&exported).unwrap();
        for section in SECTIONS {
            let names: Vec<&str> = doc[section]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|e| e["name"].as_str())
                .collect();
            assert!(
                names.contains(&"kind-demo"),
                "{section}: {names:?}\n{exported}"
            );
        }
        assert_eq!(doc["current-context"], "prod", "the current context stays");
        // Theirs is untouched up to the end of their first list's last item.
        let first = THEIRS.find("contexts:").unwrap();
        assert!(exported.starts_with(&THEIRS[..first]), "{exported}");
        assert_eq!(unexport_text(&exported), THEIRS);
        // A second export replaces its entries, adding nothing.
        assert_eq!(export_text(&exported), exported);
    }

    #[test]
    fn missing_and_empty_lists_are_made_and_flow_lists_refused() {
        let exported = export_text("apiVersion: v1\nkind: Config\nclusters: []\n");
        let doc: Value = serde_yaml_ng::from_str(&exported).unwrap();
        for section in SECTIONS {
            assert_eq!(doc[section][0]["name"], "kind-demo", "{exported}");
        }
        assert_eq!(
            unexport_text(&exported),
            "apiVersion: v1\nkind: Config\nclusters:\nusers:\ncontexts:\n"
        );
        let err = merged(
            "clusters: [{name: a, cluster: {}}]\n",
            "clusters",
            "kind-demo",
            "name: kind-demo\n",
            Path::new("config"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("is not a block list"), "{err}");
    }
}
