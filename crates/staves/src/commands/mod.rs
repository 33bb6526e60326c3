//! One module per command.

mod build;
mod lock;
mod push;
mod resolve;

use crate::cli::{Cli, Command};
use crate::report::CliError;

/// Runs the command line's command.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match &cli.command {
        Command::Resolve(args) => resolve::run(&cli.global, args),
        Command::Lock => lock::run(&cli.global),
        Command::Build(args) => build::run(&cli.global, args),
        Command::Push(args) => push::run(&cli.global, args),
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory, so no reader
/// ever sees half of it.
pub(crate) fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> Result<(), CliError> {
    Ok(staves_fs::write_atomic(path, bytes)?)
}
