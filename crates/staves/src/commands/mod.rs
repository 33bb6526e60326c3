//! One module per command.

mod build;
mod cache;
mod completions;
mod diff;
mod doctor;
mod init;
mod inspect;
mod lock;
mod outdated;
mod plan;
mod push;
mod resolve;
mod scripts;
mod serve;
mod sign;
mod stack;
mod update;
mod upload;
mod why;

use crate::cli::{Cli, Command};
use crate::report::CliError;

/// Runs the command line's command.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match &cli.command {
        Command::Build(args) => build::run(args),
        Command::Resolve(args) => resolve::run(args),
        Command::Why(args) => why::run(args),
        Command::Scripts(args) => scripts::run(args),
        Command::Lock(args) => lock::run(args),
        Command::Push(args) => push::run(args),
        Command::Init(args) => init::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Diff(args) => diff::run(args),
        Command::Outdated(args) => outdated::run(args),
        Command::Update(args) => update::run(args),
        Command::Stack(args) => stack::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Upload(args) => upload::run(args),
        Command::Remove(args) => upload::remove(args),
        Command::Include(args) => serve::include(args),
        Command::Completions(args) => completions::run(args),
        Command::Doctor(args) => doctor::run(args),
        Command::Cache(command) => cache::run(command),
        Command::Keygen(args) => sign::keygen(args),
        Command::Plan(args) => plan::run(args),
        Command::Sign(args) => sign::sign(args),
        Command::Verify(args) => sign::verify(args),
    }
}

/// `SOURCE_DATE_EPOCH` from the environment, when set: the date of every file of the image.
pub(crate) fn source_date_epoch() -> Result<Option<u64>, CliError> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) => value.trim().parse().map(Some).map_err(|_| {
            CliError::Usage(format!(
                "SOURCE_DATE_EPOCH=`{value}` is not a number of seconds since 1970"
            ))
        }),
        Err(_) => Ok(None),
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory, so no reader
/// ever sees half of it.
pub(crate) fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> Result<(), CliError> {
    Ok(staves_fs::write_atomic(path, bytes)?)
}

/// The spec's workspace, on its base when it names one: a base spec is built first (with
/// the bases below it) into scratch space that lives as long as the returned workspace.
pub(crate) fn open_workspace(
    args: &crate::cli::SpecArgs,
    locked: bool,
    jobs: usize,
    compression: staves_oci::LayerCompression,
) -> Result<staves_stack::OpenedWorkspace, CliError> {
    let bases = args.source.stack_options(crate::cli::StackBuild {
        output: std::path::PathBuf::new(),
        archives: false,
        jobs,
        compression,
        locked,
        parallel: 1,
        source_date_epoch: source_date_epoch()?,
    });
    staves_stack::open_workspace(&args.options(), &bases, crate::report::reporter())
        .map_err(stack::from_stack)
}
