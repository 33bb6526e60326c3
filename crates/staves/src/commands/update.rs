//! `staves update`: the lock moved by the smallest steps, each move said with the CVEs
//! it fixes.

use crate::cli::UpdateArgs;
use crate::report::{CliError, status};

pub fn run(args: &UpdateArgs) -> Result<(), CliError> {
    let workspace =
        super::open_workspace(&args.spec, false, 8, staves_oci::LayerCompression::Gzip)?;
    let done = staves_pipeline::outdated::update(&workspace, args.security_only)?;
    let changes = staves_resolve::changes(&done.before, &done.after);
    super::lock::print_changes(&changes, done.after.targets.len() > 1);
    for taken in done.taken.iter().filter(|t| !t.cves.is_empty()) {
        status(
            "Fixes",
            &format!(
                "{} {}: {}",
                taken.package,
                taken.candidate,
                taken.cves.join(" ")
            ),
        );
    }
    status(
        "Locked",
        &format!(
            "{} package(s) moved ({} update(s) taken{}) in {}",
            changes.len(),
            done.taken.len(),
            if args.security_only {
                ", security only"
            } else {
                ""
            },
            workspace.lock_path().display()
        ),
    );
    Ok(())
}
