//! `staves cache du` and `staves cache prune`.

use staves_pipeline::cache_space::{self, PruneOptions};

use crate::cli::{CacheCommand, CacheDuArgs, CachePruneArgs};
use crate::report::{CliError, status};

pub fn run(command: &CacheCommand) -> Result<(), CliError> {
    match command {
        CacheCommand::Du(args) => du(args),
        CacheCommand::Prune(args) => prune(args),
    }
}

fn du(args: &CacheDuArgs) -> Result<(), CliError> {
    let root = args.cache.root();
    let usage = cache_space::usage(&root)?;
    let total: u64 = usage.iter().map(|u| u.bytes).sum();
    let json = serde_json::json!({
        "cache": root,
        "kinds": usage,
        "bytes": total,
    });
    super::resolve::print_report(args.json, &json, |out| {
        for u in &usage {
            writeln!(
                out,
                "{:>10}  {:>7}  {:<9} {}",
                human(u.bytes),
                u.entries,
                u.kind,
                u.what
            )?;
        }
        writeln!(
            out,
            "{:>10}           total in {}",
            human(total),
            root.display()
        )
    })
}

fn prune(args: &CachePruneArgs) -> Result<(), CliError> {
    let root = args.cache.root();
    if args.keep_locked.is_empty() && args.older_than.is_none() && !args.dry_run {
        status(
            "Note",
            "no --keep-locked or --older-than: everything but releases and the indices they list goes",
        );
    }
    let pruned = cache_space::prune(
        &root,
        &PruneOptions {
            keep_locked: args.keep_locked.clone(),
            older_than: args.older_than,
            dry_run: args.dry_run,
        },
        crate::report::reporter().as_ref(),
    )?;
    if args.json {
        return super::resolve::print_report(true, &pruned, |_| Ok(()));
    }
    status(
        "Kept",
        &format!(
            "what {} lock(s) need, {} entries in all ({})",
            pruned.locks.len(),
            pruned.kept,
            human(pruned.kept_bytes)
        ),
    );
    status(
        if args.dry_run {
            "Would remove"
        } else {
            "Removed"
        },
        &format!("{} entries, {}", pruned.removed, human(pruned.freed)),
    );
    Ok(())
}

fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GB", b as f64 / 1e9),
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / 1e6),
        b => format!("{:.1} kB", b as f64 / 1e3),
    }
}
