//! The command line, as clap definitions only (the README's: a contract tests
//! and users rely on). Global options may come before or after the command.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use kindform_api::Duration;

/// Provision local Kubernetes environments declaratively: a kind cluster, its
/// images, Helm releases, manifests and checks, from one TOML spec.
#[derive(Debug, Parser)]
#[command(
    name = "kindform",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The environment spec [default: ./kindform.toml]
    #[arg(
        short = 'f',
        long = "file",
        value_name = "SPEC",
        global = true,
        conflicts_with = "env"
    )]
    pub file: Option<PathBuf>,
    /// Shorthand for -f environments/NAME.toml
    #[arg(short = 'e', long = "env", value_name = "NAME", global = true)]
    pub env: Option<String>,
    /// Override a spec variable (repeatable); beats KINDFORM_VAR_<KEY> and [variables]
    #[arg(long = "var", value_name = "KEY=VALUE", global = true, value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
    /// Print without colours
    #[arg(long, global = true)]
    pub no_color: bool,
    /// Print more detail
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Print only the result and errors
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse and check the spec and its graph; touches nothing live
    Validate,
    /// Print the dependency graph
    Graph {
        /// Output format
        #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
        format: GraphFormat,
    },
    /// Show what apply would change, and why
    Plan(PlanArgs),
    /// Change the environment to match the spec
    Apply(ApplyArgs),
    /// Delete the environment
    Destroy {
        /// Do not ask for confirmation
        #[arg(long)]
        auto_approve: bool,
    },
    /// Show the live health of every resource, without planning
    Status {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Observe, plan and repair in a loop until interrupted
    Watch(WatchArgs),
    /// Check whether this machine can run the spec: Docker, kind, helm, disk, memory, inotify, host ports
    Doctor,
    /// Print the path of the environment's kubeconfig
    Kubeconfig {
        /// Merge its context into your kubeconfig (KUBECONFIG's first file, else ~/.kube/config)
        #[arg(long, conflicts_with = "unexport")]
        export: bool,
        /// Take out of your kubeconfig what --export put there
        #[arg(long)]
        unexport: bool,
    },
}

/// `plan`'s options.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Print the plan as JSON
    #[arg(long)]
    pub json: bool,
    /// Save the plan for `apply PLANFILE`
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Exit 2 when there are changes, 0 when there are none
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Plan only this address and what it depends on (repeatable)
    #[arg(long, value_name = "ADDR")]
    pub target: Vec<String>,
    /// Plan this address as replaced (repeatable)
    #[arg(long, value_name = "ADDR")]
    pub replace: Vec<String>,
    /// Never rebuild the cluster: a repair that would stops and says why (as allow_rebuild = false)
    #[arg(long)]
    pub no_rebuild: bool,
}

/// `apply`'s options.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Do not ask for confirmation
    #[arg(long)]
    pub auto_approve: bool,
    /// How many resources may change at once
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..))]
    pub parallelism: u16,
    /// Apply only this address and what it depends on (repeatable)
    #[arg(long, value_name = "ADDR")]
    pub target: Vec<String>,
    /// Replace this address (repeatable)
    #[arg(long, value_name = "ADDR")]
    pub replace: Vec<String>,
    /// Never rebuild the cluster: a repair that would stops and says why (as allow_rebuild = false)
    #[arg(long)]
    pub no_rebuild: bool,
    /// A plan saved by `plan --out`
    #[arg(value_name = "PLANFILE")]
    pub plan_file: Option<PathBuf>,
}

/// `watch`'s options.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Time between observations
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub interval: Duration,
    /// Also apply changes made to the spec, not only repairs
    #[arg(long)]
    pub apply_spec_changes: bool,
    /// Never rebuild the cluster: a repair that would stops and says why (as allow_rebuild = false)
    #[arg(long)]
    pub no_rebuild: bool,
    /// How many resources may change at once
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..))]
    pub parallelism: u16,
}

/// Formats of `graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// Graphviz DOT
    Dot,
    /// A Mermaid flowchart
    Mermaid,
    /// Layers that could run in parallel
    Text,
}

fn parse_var(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if crate::spec::is_variable_name(key) => {
            Ok((key.to_owned(), value.to_owned()))
        }
        Some((key, _)) => Err(format!(
            "`{key}` is not a variable name: use letters, digits, `_` and `-`, starting with a letter or `_`"
        )),
        None => Err(format!("`{text}` is not KEY=VALUE")),
    }
}
