//! `staves outdated`: the locked packages the repositories have newer versions of, with
//! the suite, whether it is a security update, and the CVEs the changelog names — for one
//! spec, or with a directory for every image of the stack in it, bases first (an image on
//! a base has the base's packages installed, not locked: they are reported once, at the
//! base).

use std::io::Write;

use serde::Serialize;
use staves_pipeline::outdated::Update;

use crate::cli::OutdatedArgs;
use crate::report::CliError;

#[derive(Serialize)]
struct ImageUpdates {
    image: String,
    spec: String,
    updates: Vec<Update>,
    /// Why there is nothing to compare (an image of a stack without a lock).
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

pub fn run(args: &OutdatedArgs) -> Result<(), CliError> {
    let stack = staves_stack::Stack::discover(&args.spec.file).map_err(super::stack::from_stack)?;
    // A directory: every image of it, bases first. A spec: itself alone (the first image
    // found), on its bases.
    let order = match args.spec.file.is_dir() {
        true => stack.order(&[]).map_err(super::stack::from_stack)?,
        false => vec![0],
    };
    let several = order.len() > 1;
    let options = args.spec.source.stack_options(crate::cli::StackBuild {
        output: std::path::PathBuf::new(),
        archives: false,
        jobs: 8,
        compression: staves_oci::LayerCompression::Gzip,
        locked: false,
        parallel: 1,
        source_date_epoch: super::source_date_epoch()?,
    });
    let mut all = Vec::new();
    let mut failed: Option<CliError> = None;
    // Each base is built (or taken from the image cache) and read once for every image on it.
    staves_stack::open_each(
        &stack,
        &order,
        &options,
        crate::report::reporter(),
        |index, opened| {
            let node = &stack.nodes[index];
            let spec = node
                .spec
                .canonicalize()
                .unwrap_or_else(|_| node.spec.clone());
            let found = opened
                .map_err(super::stack::from_stack)
                .and_then(|workspace| Ok(staves_pipeline::outdated::outdated(&workspace)?));
            let (updates, note) = match found {
                Ok(updates) => (updates, None),
                // In a stack, an image never locked has nothing to be behind on; say so.
                Err(CliError::Pipeline(staves_pipeline::PipelineError::StaleLock {
                    missing: true,
                    ..
                })) if several => (
                    Vec::new(),
                    Some("no staves.lock: `staves lock` writes one".to_owned()),
                ),
                Err(e) => {
                    failed.get_or_insert(e);
                    return Err(staves_stack::StackError::Internal("stopped".into()));
                }
            };
            all.push(ImageUpdates {
                image: node.name.clone(),
                spec: spec.display().to_string(),
                updates,
                note,
            });
            Ok(())
        },
    )
    .map_err(|e| match failed.take() {
        Some(first) => first,
        None => super::stack::from_stack(e),
    })?;
    // One spec: its updates; a stack: each image with its own.
    let json = match several {
        true => serde_json::to_value(&all),
        false => serde_json::to_value(&all[0].updates),
    }
    .map_err(|e| CliError::Internal(e.to_string()))?;
    super::resolve::print_report(args.json, &json, |out| {
        all.iter().try_for_each(|image| {
            if several {
                writeln!(out, "[{}] {}", image.image, image.spec)?;
            }
            match &image.note {
                Some(note) => writeln!(out, "{note}"),
                None => print_table(out, &image.updates),
            }
        })
    })?;
    match all.iter().flat_map(|i| &i.updates).any(|u| u.security) {
        true => Err(CliError::Reported),
        false => Ok(()),
    }
}

fn print_table(out: &mut dyn Write, updates: &[Update]) -> std::io::Result<()> {
    if updates.is_empty() {
        return writeln!(
            out,
            "every locked package is the newest the repositories have"
        );
    }
    let several = updates.iter().any(|u| u.target != updates[0].target);
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
