//! `staves resolve`: print the chosen package set.

use std::io::Write;

use staves_resolve::{LockedPackage, LockedTarget};

use crate::cli::ResolveArgs;
use crate::report::CliError;

pub fn run(args: &ResolveArgs) -> Result<(), CliError> {
    let workspace =
        super::open_workspace(&args.spec, false, 8, staves_oci::LayerCompression::Gzip)?;
    let lock = match workspace.matching_lock(args.locked)? {
        Some(lock) if !args.ignore_lock => lock,
        _ => workspace.resolve(&workspace.selected)?,
    };
    let targets: Vec<&LockedTarget> = workspace
        .selected
        .iter()
        .filter_map(|arch| lock.target(arch))
        .collect();
    print_targets(&targets, args.json)
}

/// One architecture prints as before: lines, or a JSON array. Several print one section
/// (`[arch]` header, or a JSON object keyed by architecture) each.
fn print_targets(targets: &[&LockedTarget], json: bool) -> Result<(), CliError> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let lines = |out: &mut dyn Write, packages: &[LockedPackage]| {
        packages
            .iter()
            .try_for_each(|p| writeln!(out, "{} {} {}", p.name, p.version, p.arch))
    };
    let result = match (json, targets) {
        (true, [one]) => serde_json::to_writer_pretty(&mut out, &one.packages)
            .map_err(std::io::Error::other)
            .and_then(|()| writeln!(out)),
        (true, many) => {
            let map: std::collections::BTreeMap<&str, &[LockedPackage]> = many
                .iter()
                .map(|t| (t.arch.as_str(), t.packages.as_slice()))
                .collect();
            serde_json::to_writer_pretty(&mut out, &map)
                .map_err(std::io::Error::other)
                .and_then(|()| writeln!(out))
        }
        (false, [one]) => lines(&mut out, &one.packages),
        (false, many) => many.iter().try_for_each(|t| {
            writeln!(out, "[{}]", t.arch)?;
            lines(&mut out, &t.packages)
        }),
    };
    result
        .and_then(|()| out.flush())
        .or_else(ignore_broken_pipe)
}

/// A report on stdout: `value` as pretty JSON with `json`, else what `text` writes; a
/// closed pipe (`| head`) is not an error.
pub fn print_report(
    json: bool,
    value: &impl serde::Serialize,
    text: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<(), CliError> {
    use std::io::Write;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let written = if json {
        serde_json::to_writer_pretty(&mut out, value)
            .map_err(std::io::Error::other)
            .and_then(|()| writeln!(out))
    } else {
        text(&mut out)
    };
    written
        .and_then(|()| out.flush())
        .or_else(ignore_broken_pipe)
}

/// A closed pipe (`staves resolve | head`) is not an error.
pub fn ignore_broken_pipe(e: std::io::Error) -> Result<(), CliError> {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(e.into())
    }
}
