//! `staves update`: the lock moved by the smallest steps, each move said with the CVEs
//! it fixes — for one spec, or with a directory for every image of the stack in it,
//! bases first; then, when asked, the images whose lock or base changed rebuilt (and
//! nothing else), loaded or pushed.

use staves_pipeline::PipelineError;
use staves_stack::Stack;

use crate::cli::UpdateArgs;
use crate::report::{CliError, status};

pub fn run(args: &UpdateArgs) -> Result<(), CliError> {
    let stack = Stack::discover(&args.spec.file).map_err(super::stack::from_stack)?;
    let order = stack.order(&[]).map_err(super::stack::from_stack)?;
    let several = order.len() > 1;
    let mut changed = Vec::new();
    for index in order {
        let node = &stack.nodes[index];
        let mut one = args.spec.clone();
        one.file = node.spec.clone();
        let workspace = super::open_workspace(&one, false, args.jobs, compression(args))?;
        let done = match staves_pipeline::outdated::update(&workspace, args.security_only) {
            Ok(done) => done,
            // In a stack, an image never locked has nothing to update; say so.
            Err(PipelineError::StaleLock { missing: true, .. }) if several => {
                status("Skipped", &format!("{}: no staves.lock", node.name));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if several {
            status("Image", &node.name);
        }
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
        if !changes.is_empty() {
            changed.push(index);
        }
    }
    if !(args.build || args.load || args.output.is_some() || args.push.is_some()) {
        return Ok(());
    }
    // What changed and everything built on it; the bases they need come along in the
    // order, unchanged, from the image cache.
    let stale = stack.with_dependents(&changed);
    if stale.is_empty() {
        status("Unchanged", "no lock moved: nothing to rebuild");
        return Ok(());
    }
    let order = stack.order(&stale).map_err(super::stack::from_stack)?;
    let ship = super::stack::Ship {
        output: args.output.clone(),
        load: args.load,
        push: args.push.clone(),
        parallel: args.parallel,
        jobs: args.jobs,
        compression: args.compression,
        locked: true,
    };
    let built = ship.build(&stack, &order, &args.spec.source)?;
    let rebuilt: Vec<_> = built
        .nodes
        .into_iter()
        .filter(|node| stale.contains(&node.index))
        .collect();
    for node in &rebuilt {
        status("Rebuilt", &format!("{} ({})", node.name, node.entry.digest));
    }
    ship.push_all(&rebuilt, &args.spec.source, &args.registry)
}

fn compression(args: &UpdateArgs) -> staves_oci::LayerCompression {
    super::build::compression(args.compression)
}
