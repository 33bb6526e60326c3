//! One module per command.

mod build;
mod completions;
mod init;
mod inspect;
mod lock;
mod push;
mod resolve;
mod stack;
mod why;

use crate::cli::{Cli, Command};
use crate::report::CliError;

/// Runs the command line's command.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match &cli.command {
        Command::Build(args) => build::run(args),
        Command::Resolve(args) => resolve::run(args),
        Command::Why(args) => why::run(args),
        Command::Lock(args) => lock::run(args),
        Command::Push(args) => push::run(args),
        Command::Init(args) => init::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Stack(args) => stack::run(args),
        Command::Completions(args) => completions::run(args),
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory, so no reader
/// ever sees half of it.
pub(crate) fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> Result<(), CliError> {
    Ok(staves_fs::write_atomic(path, bytes)?)
}
