//! The user interface: runs each command and prints its result. Only this
//! module (and `main`) prints; the engine modules return data.

mod apply;
mod status;
mod watch;

use std::path::PathBuf;

use std::io::IsTerminal as _;

use kindform_api::Address;

use crate::cli::{Cli, Command, GlobalArgs, GraphFormat, PlanArgs};
use crate::engine::{Engine, EngineError};
use crate::plan::PlanOptions;
use crate::spec::{self, LoadOptions, Loaded};

/// Runs a parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    logging(cli.global.verbose);
    let result = match &cli.command {
        Command::Validate => validate(&cli.global),
        Command::Graph { format } => graph(&cli.global, *format),
        Command::Plan(args) => plan(&cli.global, args),
        Command::Apply(args) => apply::apply(&cli.global, args),
        Command::Destroy { auto_approve } => apply::destroy(&cli.global, *auto_approve),
        Command::Status { json } => status::status(&cli.global, *json),
        Command::Watch(args) => watch::watch(&cli.global, args),
        Command::Doctor => doctor(&cli.global),
        Command::Kubeconfig { export, unexport } => kubeconfig(&cli.global, *export, *unexport),
    };
    if let Some(kb) = peak_memory_kb() {
        tracing::debug!("peak memory {} MB", kb / 1024);
    }
    match result {
        Ok(exit) => exit.code(),
        Err(failure) => {
            // Failures quote helm, the API and pods.
            eprintln!(
                "{}",
                kindform_api::printable::printable(&failure.to_string())
            );
            Exit::Failed.code()
        }
    }
}

/// How a command ended, as its exit code tells it (README, "Exit codes").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    /// It did what it was asked: 0.
    Done,
    /// `plan --detailed-exitcode` found changes, or `status` found something
    /// not healthy: 2.
    Attention,
    /// It failed, or something it applied failed: 1.
    Failed,
    /// Ctrl-C stopped it: 130.
    Interrupted,
}

impl Exit {
    /// The process's exit code.
    pub(crate) fn code(self) -> i32 {
        match self {
            Exit::Done => 0,
            Exit::Attention => 2,
            Exit::Failed => 1,
            Exit::Interrupted => 130,
        }
    }
}

/// What the second Ctrl-C prints, before kindform exits at once.
const STOPPED: &str = "stopped: run `kindform apply` to finish the job";

/// A failed command, printed as the user sees it: the one rendering of an
/// error and its causes (`error: <message>`, then `  caused by: <cause>`
/// for each), or the spec's diagnostics.
pub(crate) struct Failure(String);

impl Failure {
    /// An error and its causes.
    pub(crate) fn of(error: &dyn std::error::Error) -> Failure {
        let mut text = format!("error: {error}");
        let mut cause = error.source();
        while let Some(inner) = cause {
            text.push_str(&format!("\n  caused by: {inner}"));
            cause = inner.source();
        }
        Failure(text)
    }

    /// A message of the command line's own.
    pub(crate) fn message(text: impl std::fmt::Display) -> Failure {
        Failure(format!("error: {text}"))
    }

    /// The message without its `error: ` (for a line of watch's log).
    pub(crate) fn line(&self) -> &str {
        self.0.trim_start_matches("error: ")
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<spec::Error> for Failure {
    fn from(error: spec::Error) -> Self {
        match error {
            spec::Error::Invalid(diagnostics) => Failure(diagnostics.to_string()),
            other => Failure::of(&other),
        }
    }
}

/// `kindform doctor`: one line per finding, then the count; exit 1 when
/// something blocks an apply.
fn doctor(global: &GlobalArgs) -> Result<Exit, Failure> {
    use crate::doctor::Severity;
    let loaded = load(global)?;
    let state = crate::engine::state_dir(&loaded);
    let found = runtime()?.block_on(crate::doctor::examine(&loaded.spec, &state));
    // As wide as the longest subject, `leftover`.
    let width = 8;
    for finding in &found {
        let word = match finding.severity {
            Severity::Ok => "ok",
            Severity::Warning => "warning",
            Severity::Blocking => "blocked",
        };
        let hint = finding
            .hint
            .as_ref()
            .map(|h| format!("; fix: {h}"))
            .unwrap_or_default();
        println!(
            "{word:<8} {:<width$}  {}{hint}",
            finding.what, finding.detail
        );
    }
    let count = |s: Severity| found.iter().filter(|f| f.severity == s).count();
    let (blocking, warnings) = (count(Severity::Blocking), count(Severity::Warning));
    println!(
        "{blocking} blocking, {warnings} warning{}.",
        if warnings == 1 { "" } else { "s" }
    );
    Ok(if blocking > 0 {
        Exit::Failed
    } else {
        Exit::Done
    })
}

/// `kindform kubeconfig`: the path of the environment's kubeconfig; with
/// `export`, its context merged into the user's kubeconfig; with
/// `unexport`, that taken out again.
fn kubeconfig(global: &GlobalArgs, export: bool, unexport: bool) -> Result<Exit, Failure> {
    use crate::kubeconfig as user;
    let loaded = load(global)?;
    let state = crate::engine::state_dir(&loaded);
    let ours = state.join("kubeconfig");
    let context = format!("kind-{}", loaded.spec.cluster.name);
    if unexport {
        match user::recorded(&state) {
            Some(exported) => {
                let changed = user::unexport(&exported).map_err(|e| Failure::of(&e))?;
                let _ = std::fs::remove_file(user::record_path(&state));
                if changed {
                    println!("Took context {context} out of {}.", exported.path.display());
                } else {
                    println!(
                        "{} no longer held context {context}.",
                        exported.path.display()
                    );
                }
            }
            None => println!("Nothing to take out: context {context} was not exported."),
        }
        return Ok(Exit::Done);
    }
    if !export {
        if !ours.is_file() {
            return Err(Failure::of(&user::KubeconfigError::Missing(ours)));
        }
        println!("{}", ours.display());
        return Ok(Exit::Done);
    }
    let target = user::target().map_err(|e| Failure::of(&e))?;
    let exported = user::export(&ours, &context, &target).map_err(|e| Failure::of(&e))?;
    let record = serde_json::to_string_pretty(&exported).unwrap_or_default();
    std::fs::write(user::record_path(&state), record).map_err(|e| {
        Failure::message(format!(
            "cannot remember the export in {}: {e}",
            user::record_path(&state).display()
        ))
    })?;
    println!(
        "Merged context {context} into {}; reach the cluster with `kubectl --context {context}`.",
        target.display()
    );
    Ok(Exit::Done)
}

/// The process's peak resident memory in kB, where the system tells it
/// (Linux's `VmHWM`).
fn peak_memory_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The spec file the options name, and how to show it.
fn spec_path(global: &GlobalArgs) -> PathBuf {
    match (&global.file, &global.env) {
        (Some(file), _) => file.clone(),
        (None, Some(env)) => PathBuf::from("environments").join(format!("{env}.toml")),
        (None, None) => PathBuf::from("kindform.toml"),
    }
}

/// `--no-rebuild`: the spec's cluster as if it said `allow_rebuild = false`.
fn forbid_rebuild(loaded: &mut Loaded, no_rebuild: bool) {
    if no_rebuild {
        loaded.spec.cluster.allow_rebuild = false;
    }
}

fn load(global: &GlobalArgs) -> Result<Loaded, Failure> {
    let path = spec_path(global);
    let options = LoadOptions {
        overrides: global.vars.iter().cloned().collect(),
        ..LoadOptions::default()
    }
    .with_environment(std::env::vars());
    let loaded = spec::load(&path, &path.display().to_string(), &options)?;
    if !loaded.outside_paths.is_empty() {
        // Said on every command: a spec nobody reviewed may list any folder.
        eprintln!(
            "note: this spec reads from outside its repository, by its `outside_paths`: {}",
            kindform_api::printable::printable(&loaded.outside_paths.join(", "))
        );
    }
    Ok(loaded)
}

fn validate(global: &GlobalArgs) -> Result<Exit, Failure> {
    let loaded = load(global)?;
    let spec = &loaded.spec;
    if !global.quiet {
        let count =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        println!(
            "{} is valid: cluster `{}`, {}, {}, {}, {}",
            spec_path(global).display(),
            spec.cluster.name,
            count(spec.images.len(), "image", "images"),
            count(spec.releases.len(), "release", "releases"),
            count(spec.manifests.len(), "manifest", "manifests"),
            count(spec.checks.len(), "check", "checks"),
        );
    }
    Ok(Exit::Done)
}

fn graph(global: &GlobalArgs, format: GraphFormat) -> Result<Exit, Failure> {
    let loaded = load(global)?;
    let text = match format {
        GraphFormat::Dot => loaded.graph.to_dot(&loaded.spec.name),
        GraphFormat::Mermaid => loaded.graph.to_mermaid(),
        GraphFormat::Text => loaded.graph.to_text(),
    };
    print!("{text}");
    Ok(Exit::Done)
}

fn addresses(list: &[String], loaded: &Loaded) -> Result<Vec<Address>, Failure> {
    list.iter()
        .map(|text| {
            let address: Address = text.parse().map_err(|e| Failure::message(&e))?;
            // A release or manifest that left the spec may be targeted too;
            // observation says whether it is one.
            let may_have_left = matches!(address, Address::Release(_) | Address::Manifest(_));
            if may_have_left || loaded.graph.addresses().any(|a| *a == address) {
                Ok(address)
            } else {
                Err(Failure::message(format!(
                    "`{address}` is not a resource of the spec"
                )))
            }
        })
        .collect()
}

/// `-v` shows what kindform does and how long it takes, `-vv` also what the
/// libraries under it do (HTTP requests to the API, Docker calls), on
/// stderr, timed from the start of the run.
fn logging(verbose: u8) {
    use tracing::level_filters::LevelFilter;
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::prelude::*;

    let filter = match verbose {
        0 => return,
        1 => Targets::new().with_target("kindform", LevelFilter::DEBUG),
        _ => Targets::new()
            .with_default(LevelFilter::DEBUG)
            .with_target("kindform", LevelFilter::TRACE),
    };
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(crate::render::ScrubbedStderr)
        .with_timer(tracing_subscriber::fmt::time::uptime())
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_target(false);
    let _ = tracing_subscriber::registry()
        .with(layer)
        .with(filter)
        .try_init();
}

/// Whether stdout gets colours: a terminal, and neither `--no-color` nor
/// `NO_COLOR`.
fn colour(global: &GlobalArgs) -> bool {
    !global.no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

/// The runtime the engine's commands run on.
fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::message(format!("cannot start: {e}")))
}

fn plan(global: &GlobalArgs, args: &PlanArgs) -> Result<Exit, Failure> {
    let mut loaded = load(global)?;
    forbid_rebuild(&mut loaded, args.no_rebuild);
    let options = PlanOptions {
        targets: addresses(&args.target, &loaded)?,
        replace: addresses(&args.replace, &loaded)?,
    };
    let planning = runtime()?
        .block_on(async {
            let session = Engine::connect(&loaded, 10).await?;
            let engine = Engine::new(&loaded, &session);
            let planning = engine.plan(&options).await?;
            if let Some(out) = &args.out {
                engine.save(&planning, out)?;
            }
            Ok::<_, EngineError>(planning)
        })
        .map_err(|e| Failure::of(&e))?;
    let plan = &planning.plan;
    if args.json {
        println!("{}", crate::render::plan_json(plan));
    } else {
        print!(
            "{}",
            kindform_api::printable::printable_styled(&crate::render::plan_text(
                plan,
                colour(global)
            ))
        );
        if let Some(out) = &args.out {
            println!(
                "\nSaved the plan to {}. Apply exactly this plan with `kindform apply {}`.",
                out.display(),
                out.display()
            );
        }
    }
    Ok(if args.detailed_exitcode && plan.has_changes() {
        Exit::Attention
    } else {
        Exit::Done
    })
}
