//! The `kindform` binary: parse the command line, run it, exit with its code.

use clap::Parser;

fn main() {
    let cli = kindform::cli::Cli::parse();
    std::process::exit(kindform::run(cli));
}
