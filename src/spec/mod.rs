//! The spec: TOML -> [`Spec`](kindform_api::Spec), with every problem found in
//! one pass and reported at its file, line and column.
//!
//! A TOML syntax error stops at that error. After parsing, each resource is
//! deserialized on its own (so one bad release does not hide another), then
//! the rules run (names, files, references, variables) and the graph is built
//! (unknown dependencies, cycles).

mod confine;
mod diagnostic;
mod kind_config;
mod loader;
mod rules;
mod source;
mod tree;
mod variables;

pub use diagnostic::{Diagnostic, Diagnostics};
pub use kind_config::to_snake;
pub use loader::{LoadOptions, load, load_text};
pub use source::SourceFile;
pub use variables::{Variables, is_variable_name};

use kindform_api::Spec;

use crate::graph::Graph;

/// A spec that passed every check, with its dependency graph.
#[derive(Debug)]
pub struct Loaded {
    /// The environment as the spec states it, variables substituted.
    pub spec: Spec,
    /// Its dependency graph.
    pub graph: Graph,
    /// The folders outside its repository the spec reads from, by its
    /// `outside_paths`, as written: every command names them, since an
    /// unreviewed spec could list any folder.
    pub outside_paths: Vec<String>,
}

/// Why a spec could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The path as the user gave it.
        path: String,
        /// Why reading failed.
        #[source]
        source: std::io::Error,
    },
    /// The spec has problems; each names its place.
    #[error("{0}")]
    Invalid(Diagnostics),
}
