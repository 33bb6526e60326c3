//! `staves resolve`: print the chosen package set.

use std::io::Write;

use staves_resolve::LockedPackage;

use crate::cli::{GlobalArgs, ResolveArgs};
use crate::report::CliError;
use crate::workspace::Workspace;

pub fn run(global: &GlobalArgs, args: &ResolveArgs) -> Result<(), CliError> {
    let workspace = Workspace::load(global)?;
    let lock = match workspace.matching_lock(global.locked)? {
        Some(lock) if !args.ignore_lock => lock,
        _ => workspace.resolve()?,
    };
    print_packages(&lock.packages, args.json)
}

fn print_packages(packages: &[LockedPackage], json: bool) -> Result<(), CliError> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let result = if json {
        serde_json::to_writer_pretty(&mut out, packages)
            .map_err(std::io::Error::other)
            .and_then(|()| writeln!(out))
    } else {
        packages
            .iter()
            .try_for_each(|p| writeln!(out, "{} {} {}", p.name, p.version, p.arch))
    };
    result
        .and_then(|()| out.flush())
        .or_else(ignore_broken_pipe)
}

/// A closed pipe (`staves resolve | head`) is not an error.
pub fn ignore_broken_pipe(e: std::io::Error) -> Result<(), CliError> {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(CliError::Io(e))
    }
}
