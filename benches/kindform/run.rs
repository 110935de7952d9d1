//! Running things and timing them: the built `kindform` in a project folder
//! of a world, a stand-in tool, a shell pipeline; medians of repeated runs.

use std::path::Path;
use std::time::{Duration, Instant};

use kindform_world::World;

/// What a finished process said.
pub struct Ran {
    /// Its exit code.
    pub code: i32,
    /// stdout then stderr.
    pub output: String,
    /// How long it took, start to exit.
    pub took: Duration,
}

/// Runs `program` (found on the world's `PATH` first) in `dir`.
pub fn command(world: &World, dir: &Path, program: &str, args: &[&str]) -> Ran {
    let started = Instant::now();
    let out = world
        .command(program)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    Ran {
        code: out.status.code().unwrap_or(-1),
        output: String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr),
        took: started.elapsed(),
    }
}

/// Runs the built `kindform` in `dir`.
pub fn kindform(world: &World, dir: &Path, args: &[&str]) -> Ran {
    command(world, dir, env!("CARGO_BIN_EXE_kindform"), args)
}

/// [`kindform`], which must exit `code`.
pub fn kindform_ok(world: &World, dir: &Path, args: &[&str], code: i32) -> Ran {
    let ran = kindform(world, dir, args);
    assert_eq!(ran.code, code, "kindform {args:?}:\n{}", ran.output);
    ran
}

/// The median of `values`.
pub fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

/// Writes `spec` as `dir/kindform.toml`.
pub fn project(dir: &Path, spec: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("kindform.toml"), spec).unwrap();
}

/// The peak memory `-v` reported, in MB.
pub fn peak_mb(output: &str) -> Option<u64> {
    output
        .lines()
        .find_map(|l| l.split("peak memory ").nth(1))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}

/// The walk's own time in the newest run of `environment`'s journal: from
/// the first event to the last (observation and process start left out).
pub fn walk_time(dir: &Path, environment: &str) -> Option<Duration> {
    let journal = std::fs::read_to_string(
        dir.join(".kindform")
            .join(environment)
            .join("journal.jsonl"),
    )
    .ok()?;
    let lines: Vec<serde_json::Value> = journal
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let run = lines.last()?["run"].clone();
    let times: Vec<jiff::Timestamp> = lines
        .iter()
        .filter(|l| l["run"] == run && l["kind"] == "event")
        .filter_map(|l| l["time"].as_str()?.parse().ok())
        .collect();
    let (first, last) = (times.first()?, times.last()?);
    let span = last.duration_since(*first);
    Some(Duration::from_secs_f64(span.as_secs_f64().max(0.0)))
}
