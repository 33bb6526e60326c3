//! What a build tells its reporter beyond progress: the maintainer scripts' commands left
//! unmodelled or to the first start, and files whose libraries or interpreters the image
//! lacks, with the package that would bring them.

use super::BuiltImage;
use crate::{PipelineError, Workspace};

/// What maintainer scripts did that the image does not reproduce, once per package, in
/// the verbose log (`staves build -v`); `staves scripts` lists it on demand.
pub(super) fn report_scripts(workspace: &Workspace, b: &BuiltImage) {
    let reporter = workspace.reporter();
    for report in &b.summary.scripts {
        // The walk covers `preinst` and `postinst`: the package is named, not one script.
        let package = &report.package;
        for command in &report.unmodelled {
            reporter.detail(&format!(
                "{package}'s maintainer scripts: not modelled: {command}"
            ));
        }
        for command in &report.run_time {
            reporter.detail(&format!(
                "{package}'s maintainer scripts: left to the first start: {command}"
            ));
        }
        for note in &report.notes {
            reporter.detail(&format!("{package}'s maintainer scripts: {note}"));
        }
    }
}

/// Warns of each library a `[[paths]]` program needs that the image lacks, naming the
/// packages that ship it (from the archive's Contents index, fetched only now).
pub(super) fn report_missing_libraries(
    workspace: &Workspace,
    b: &BuiltImage,
    several: bool,
) -> Result<(), PipelineError> {
    let missing = &b.summary.missing_libraries;
    if missing.is_empty() {
        return Ok(());
    }
    let names: std::collections::BTreeSet<String> = missing
        .iter()
        .map(|m| {
            m.library
                .rsplit('/')
                .next()
                .unwrap_or(&m.library)
                .to_owned()
        })
        .collect();
    let repositories = workspace.sync(&b.arch)?;
    let client = workspace.client(workspace.reporter().downloads("Contents"));
    let owners = staves_repo::contents::library_owners(
        &client,
        &workspace.cache,
        &repositories,
        &b.arch,
        &names,
    );
    drop(client);
    // Naming the package is a courtesy: without the Contents index the warning stands.
    let owners = owners.unwrap_or_else(|e| {
        workspace.reporter().status(
            "Skipped",
            &format!("naming the packages of missing libraries: {e}"),
        );
        Default::default()
    });
    let on = if several {
        format!(" for {}", b.arch)
    } else {
        String::new()
    };
    for m in missing {
        let name = m.library.rsplit('/').next().unwrap_or(&m.library);
        let fix = match owners.get(name) {
            Some(packages) if !packages.is_empty() => format!(
                "add {} to `packages`",
                packages
                    .iter()
                    .map(|p| format!("\"{p}\""))
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
            _ => "no repository's Contents index names a package shipping it".into(),
        };
        workspace.reporter().warning(&format!(
            "{} needs {}, which the image{on} lacks: {fix}",
            m.file, m.library
        ));
    }
    Ok(())
}

/// Well-known paths and the Debian package that provides each.
pub(super) const PROVIDERS: &[(&str, &str)] = &[
    ("/bin/sh", "dash"),
    ("/usr/bin/sh", "dash"),
    ("/bin/bash", "bash"),
    ("/usr/bin/bash", "bash"),
];

/// "the image has no /bin/sh, yet …: add `dash`".
pub(super) fn unmet_message(unmet: &staves_image::Unmet, arch: &str, several: bool) -> String {
    let examples: Vec<String> = unmet
        .examples
        .iter()
        .map(|n| format!("{} ({}) {}", n.path, n.package, n.why))
        .collect();
    let more = unmet.count - unmet.examples.len();
    let more = if more > 0 {
        format!(" and {more} more file(s)")
    } else {
        String::new()
    };
    let fix = match PROVIDERS.iter().find(|(path, _)| *path == unmet.requires) {
        Some((_, package)) => format!(
            "add \"{package}\" to `packages` (or `exclude = [\"{package}\"]` to go without)"
        ),
        None => format!(
            "add the package that ships {} to `packages`",
            unmet.requires
        ),
    };
    let on = if several {
        format!(" for {arch}")
    } else {
        String::new()
    };
    format!(
        "the image{on} has no {}, yet {}{more}: {fix}",
        unmet.requires,
        examples.join("; ")
    )
}
