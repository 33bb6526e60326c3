//! `staves outdated`: the locked packages the repositories have newer versions of, with
//! the suite, whether it is a security update, and the CVEs the changelog names.

use std::io::Write;

use crate::cli::OutdatedArgs;
use crate::report::CliError;

pub fn run(args: &OutdatedArgs) -> Result<(), CliError> {
    let workspace =
        super::open_workspace(&args.spec, false, 8, staves_oci::LayerCompression::Gzip)?;
    let updates = staves_pipeline::outdated::outdated(&workspace)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let written = if args.json {
        serde_json::to_writer_pretty(&mut out, &updates)
            .map_err(std::io::Error::other)
            .and_then(|()| writeln!(out))
    } else {
        print_table(&mut out, &updates, workspace.archs.len() > 1)
    };
    written
        .and_then(|()| out.flush())
        .or_else(super::resolve::ignore_broken_pipe)?;
    match updates.iter().any(|u| u.security) {
        true => Err(CliError::Differs),
        false => Ok(()),
    }
}

fn print_table(
    out: &mut dyn Write,
    updates: &[staves_pipeline::outdated::Update],
    several: bool,
) -> std::io::Result<()> {
    if updates.is_empty() {
        return writeln!(
            out,
            "every locked package is the newest the repositories have"
        );
    }
    for u in updates {
        let on = if several {
            format!(" ({})", u.target)
        } else {
            String::new()
        };
        let kind = if u.security { "security" } else { "update" };
        let urgency = u
            .urgency
            .as_deref()
            .map(|x| format!(", urgency {x}"))
            .unwrap_or_default();
        let cves = if u.cves.is_empty() {
            String::new()
        } else {
            format!(": {}", u.cves.join(" "))
        };
        writeln!(
            out,
            "{}{on} {} -> {} [{kind} from {}{urgency}]{cves}",
            u.package, u.locked, u.candidate, u.suite
        )?;
    }
    let security = updates.iter().filter(|u| u.security).count();
    writeln!(
        out,
        "{} update(s), {security} of them security update(s)",
        updates.len()
    )
}
