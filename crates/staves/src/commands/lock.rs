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
    lock.write(&workspace.lock_path())?;
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
