//! `staves`: build minimal, reproducible container images from Debian's signed packages.

mod cli;
mod commands;
mod progress;
mod report;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    report::init_tracing(cli.verbose);
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => report::print(&error),
    }
}
