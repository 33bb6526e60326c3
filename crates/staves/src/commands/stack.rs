//! `staves stack`: a directory of specs built as one stack, then loaded or pushed.

use std::time::Instant;

use staves_pipeline::PipelineError;
use staves_registry::Reference;
use staves_stack::{Stack, StackError};

use crate::cli::StackArgs;
use crate::report::{CliError, status};

pub fn run(args: &StackArgs) -> Result<(), CliError> {
    let started = Instant::now();
    // A bad destination fails before minutes of work, not after.
    if let Some(prefix) = &args.push {
        Reference::parse(&format!("{}/x", prefix.trim_end_matches('/')))?;
    }
    let stack = Stack::discover(&args.root).map_err(from_stack)?;
    let only = args
        .only
        .iter()
        .map(|name| stack.find(name))
        .collect::<Result<Vec<_>, _>>()
        .map_err(from_stack)?;
    let order = stack.order(&only).map_err(from_stack)?;
    // Without `--output`, layouts go to scratch space in the cache, swept by a later run.
    let scratch = match &args.output {
        Some(_) => None,
        None => Some(staves_repo::Cache::open(args.source.cache.root())?.scratch_dir()?),
    };
    let output = match (&args.output, &scratch) {
        (Some(out), _) => out.clone(),
        (None, Some(dir)) => dir.path().to_owned(),
        (None, None) => return Err(CliError::Internal("no output directory".into())),
    };
    std::fs::create_dir_all(&output)?;
    let options = args.source.stack_options(crate::cli::StackBuild {
        output,
        archives: args.load,
        jobs: args.jobs,
        compression: super::build::compression(args.compression),
        locked: args.locked,
        parallel: args.parallel,
        source_date_epoch: super::source_date_epoch()?,
    });
    let built = staves_stack::build(&stack, &order, &options, crate::report::reporter())
        .map_err(from_stack)?;
    for node in &built {
        if let Some(archive) = &node.archive {
            super::build::load(archive, &[node.name.to_string()])?;
        }
    }
    status(
        "Finished",
        &format!(
            "{} image(s) into {} in {:.2}s",
            built.len(),
            match (&args.output, args.load) {
                (Some(out), _) => out.display().to_string(),
                (None, true) => "the local image store".into(),
                (None, false) => "a scratch directory".into(),
            },
            started.elapsed().as_secs_f64()
        ),
    );
    if let Some(prefix) = &args.push {
        let prefix = prefix.trim_end_matches('/');
        for node in &built {
            let reference = Reference::parse(&format!(
                "{prefix}/{}:{}",
                node.name.repository, node.name.tag
            ))?;
            let layout = staves_oci::Layout::open(&node.layout)?;
            super::push::push_entry(
                (&args.source.cache, &args.source.reach),
                &layout,
                &node.entry,
                &reference,
                &args.registry,
            )?;
        }
    }
    Ok(())
}

/// A stack's errors as the command line reports them: a failed image's own error (its
/// diagnostics name the spec), user mistakes in the stack's shape as usage errors.
pub(crate) fn from_stack(error: StackError) -> CliError {
    match error {
        StackError::Build { name, source } => {
            crate::report::warning(&format!("building {name} failed"));
            CliError::Pipeline(*source)
        }
        StackError::Spec(e) => CliError::Pipeline(PipelineError::Spec(e)),
        StackError::Open(e) => CliError::Pipeline(*e),
        StackError::Io { path, source } => CliError::Pipeline(PipelineError::Io(
            std::io::Error::new(source.kind(), format!("{}: {source}", path.display())),
        )),
        StackError::Internal(m) => CliError::Internal(m),
        other => CliError::Usage(other.to_string()),
    }
}
