//! The `kindform` binary: parse the command line, run it, exit with its code.

use clap::Parser;

fn main() {
    let cli = match kindform::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout and succeed; a usage error is an
            // error like any other (exit 1: 2 means "changes" or "unhealthy").
            let _ = e.print();
            std::process::exit(if e.use_stderr() { 1 } else { 0 });
        }
    };
    std::process::exit(kindform::run(cli));
}
