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
    let specs = if args.spec.file.is_dir() {
        let stack =
            staves_stack::Stack::discover(&args.spec.file).map_err(super::stack::from_stack)?;
        let order = stack.order(&[]).map_err(super::stack::from_stack)?;
        order
            .into_iter()
            .map(|i| {
                let spec = &stack.nodes[i].spec;
                let shown = spec.canonicalize().unwrap_or_else(|_| spec.clone());
                (stack.nodes[i].name.clone(), shown)
            })
            .collect()
    } else {
        vec![(String::new(), args.spec.file.clone())]
    };
    let several = specs.len() > 1;
    let mut all = Vec::new();
    for (name, spec) in specs {
        let mut one = args.spec.clone();
        one.file = spec.clone();
        let workspace = super::open_workspace(&one, false, 8, staves_oci::LayerCompression::Gzip)?;
        let (updates, note) = match staves_pipeline::outdated::outdated(&workspace) {
            Ok(updates) => (updates, None),
            // In a stack, an image never locked has nothing to be behind on; say so.
            Err(staves_pipeline::PipelineError::StaleLock { missing: true, .. }) if several => (
                Vec::new(),
                Some("no staves.lock: `staves lock` writes one".to_owned()),
            ),
            Err(e) => return Err(e.into()),
        };
        let name = match name.is_empty() {
            true => workspace.spec.name.get_ref().clone(),
            false => name,
        };
        all.push(ImageUpdates {
            image: name,
            spec: spec.display().to_string(),
            updates,
            note,
        });
    }
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
