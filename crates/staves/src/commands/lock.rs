//! `staves lock`: resolve and write `staves.lock`.

use crate::cli::LockArgs;
use crate::report::{CliError, status};

pub fn run(args: &LockArgs) -> Result<(), CliError> {
    let workspace =
        super::open_workspace(&args.spec, false, 8, staves_oci::LayerCompression::Gzip)?;
    if args.check {
        // The lock must already be right; writing it would hide a drift.
        workspace.matching_lock(true)?;
        status(
            "Locked",
            &format!("{} is up to date", workspace.lock_path().display()),
        );
        return Ok(());
    }
    let lock = workspace.resolve(&workspace.archs)?;
    let before = staves_resolve::Lockfile::read(&workspace.lock_path())?;
    lock.write(&workspace.lock_path())?;
    if let Some(before) = &before {
        print_changes(
            &staves_resolve::changes(before, &lock),
            lock.targets.len() > 1,
        );
    }
    let counts: Vec<String> = lock
        .targets
        .iter()
        .map(|t| format!("{} packages for {}", t.packages.len(), t.arch))
        .collect();
    status(
        "Locked",
        &format!(
            "{} in {}",
            counts.join(", "),
            workspace.lock_path().display()
        ),
    );
    Ok(())
}

/// One line per package that moved, as cargo reports a lock update: `Updating nginx
/// 1.22.1-9 -> 1.22.1-9+deb12u1`, `Adding`, `Removing`.
pub(crate) fn print_changes(changes: &[staves_resolve::LockChange], several: bool) {
    for change in changes {
        let on = if several {
            format!(" ({})", change.target)
        } else {
            String::new()
        };
        let (verb, text) = match (&change.before, &change.after) {
            (Some(before), Some(after)) => (
                "Updating",
                format!("{} {before} -> {after}", change.package),
            ),
            (None, Some(after)) => ("Adding", format!("{} {after}", change.package)),
            (Some(before), None) => ("Removing", format!("{} {before}", change.package)),
            (None, None) => continue,
        };
        status(verb, &format!("{text}{on}"));
    }
}
