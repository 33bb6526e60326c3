//! `staves why PACKAGE`: the chain of dependencies that brought a package in, the
//! alternative chosen at each step, and what the package costs.

use staves_resolve::why::{Explanation, explain};
use staves_resolve::{Origin, Resolution};

use crate::cli::WhyArgs;
use crate::report::CliError;
use staves_pipeline::Workspace;

pub fn run(args: &WhyArgs) -> Result<(), CliError> {
    let workspace =
        super::open_workspace(&args.spec, false, 8, staves_oci::LayerCompression::Gzip)?;
    let lock = workspace.matching_lock(false)?;
    let mut absent_from = Vec::new();
    for arch in &workspace.selected {
        let resolution = workspace.resolution(arch, lock.as_ref().and_then(|l| l.target(arch)))?;
        let explanations = explain(&resolution, &args.package);
        if explanations.is_empty() {
            absent_from.push(absent(&resolution, &args.package));
            continue;
        }
        if workspace.selected.len() > 1 {
            println!("[{arch}]");
        }
        for explanation in &explanations {
            print!("{}", describe(&workspace, &resolution, explanation, arch));
        }
    }
    match absent_from.first() {
        Some(why) if absent_from.len() == workspace.selected.len() => {
            Err(CliError::Usage(why.clone()))
        }
        _ => Ok(()),
    }
}

/// Why `name` is not there: left out by `exclude`, or simply not needed.
fn absent(resolution: &Resolution, name: &str) -> String {
    let needed_by: Vec<&str> = resolution
        .excluded
        .iter()
        .filter(|(excluded, _)| excluded == name)
        .map(|(_, by)| by.as_str())
        .collect();
    if needed_by.is_empty() {
        let similar: Vec<&str> = resolution
            .packages
            .iter()
            .map(|p| p.name.as_str())
            .filter(|p| p.contains(name) || name.contains(p))
            .take(5)
            .collect();
        let hint = match similar.as_slice() {
            [] => String::new(),
            some => format!(" (the image has {})", some.join(", ")),
        };
        format!("{name} is not in the image: nothing requested depends on it{hint}")
    } else {
        format!(
            "{name} is not in the image: the spec's `exclude` keeps it out (needed by {})",
            needed_by.join(", ")
        )
    }
}

fn describe(
    workspace: &Workspace,
    resolution: &Resolution,
    explanation: &Explanation,
    arch: &str,
) -> String {
    let mut out = String::new();
    let Some(last) = explanation.chain.last() else {
        return out;
    };
    let package = &last.package;
    out.push_str(&format!(
        "{} {} ({}): {} installed",
        package.display_name(arch),
        package.version,
        package.arch,
        size(explanation.own_size())
    ));
    out.push_str(&pin_note(workspace, package));
    if explanation.brought_in.is_empty() {
        out.push('\n');
    } else {
        let mut names: Vec<String> = explanation
            .brought_in
            .iter()
            .map(|p| p.display_name(arch))
            .collect();
        names.sort();
        out.push_str(&format!(
            "; {} with the {} package(s) it brought in: {}\n",
            size(explanation.total_size()),
            names.len(),
            names.join(", ")
        ));
    }
    for link in &explanation.chain {
        let name = link.package.display_name(arch);
        match &link.origin {
            Origin::Requested(index) => {
                let line = workspace
                    .spec
                    .packages
                    .get(*index)
                    .map(|r| {
                        let (line, column) =
                            staves_spec::line_column(&workspace.spec.source, r.span.start);
                        format!(" ({}:{line}:{column})", workspace.spec.path.display())
                    })
                    .unwrap_or_default();
                out.push_str(&format!("  {name}: requested by the spec{line}\n"));
            }
            Origin::Installed => out.push_str(&format!("  {name}: installed in the base image\n")),
            Origin::Implied(_) => out.push_str(&format!(
                "  {name}: added to every image (Debian's skeleton: /etc/os-release, /tmp, /run); \
                 `exclude = [\"{name}\"]` leaves it out\n"
            )),
            Origin::Dependency {
                by,
                group,
                recommended,
            } => {
                let verb = if *recommended {
                    "recommends"
                } else {
                    "depends on"
                };
                let choice = if group.contains('|') {
                    alternative_note(group, &name, resolution)
                } else {
                    String::new()
                };
                out.push_str(&format!(
                    "  {name}: {} {verb} `{group}`{choice}\n",
                    by.display_name(arch)
                ));
            }
        }
    }
    out
}

/// Which alternative of `group` was taken, and why the earlier ones were not.
fn alternative_note(group: &str, chosen: &str, resolution: &Resolution) -> String {
    let first = group.split('|').next().unwrap_or_default().trim();
    let first_name = first.split([' ', '(', ':']).next().unwrap_or_default();
    if first_name == chosen {
        return " (its first alternative)".into();
    }
    if chosen == staves_resolve::USR_IS_MERGED {
        return " (the marker: every image has a merged /usr)".into();
    }
    let earlier_in_set = resolution.packages.iter().any(|p| p.name == first_name);
    if earlier_in_set {
        format!(" (chose {chosen})")
    } else {
        format!(" (chose {chosen}: {first_name} could not be installed)")
    }
}

/// KiB as a human size.
fn size(kib: u64) -> String {
    if kib >= 1024 {
        format!("{:.1} MiB", kib as f64 / 1024.0)
    } else {
        format!("{kib} KiB")
    }
}

/// When a pin chose the version: the spec's `name/release` (or `suite`), or a repository
/// priority other than apt's default.
fn pin_note(workspace: &Workspace, package: &staves_resolve::universe::Package) -> String {
    let spec = &workspace.spec;
    let release = spec
        .packages
        .iter()
        .find(|r| r.name == package.name)
        .and_then(|r| r.release.clone())
        .or_else(|| {
            spec.package_options
                .get(&package.name)
                .and_then(|o| o.get_ref().suite.as_ref().map(|s| s.get_ref().clone()))
        });
    match release {
        Some(release) => format!(" [taken from release {release}, as the spec asks]"),
        None if package.pin != staves_deb::packages::DEFAULT_PRIORITY => {
            format!(" [pin priority {}]", package.pin)
        }
        None => String::new(),
    }
}
