//! `staves stack`: a directory of specs built as one stack, then loaded or pushed.

use std::path::PathBuf;
use std::time::Instant;

use staves_pipeline::PipelineError;
use staves_registry::Reference;
use staves_stack::{BuiltNode, Stack, StackError};

use crate::cli::{RegistryArgs, SourceArgs, StackArgs};
use crate::report::{CliError, status};

pub fn run(args: &StackArgs) -> Result<(), CliError> {
    let stack = Stack::discover(&args.root).map_err(from_stack)?;
    let mut only = args
        .only
        .iter()
        .map(|name| stack.find(name))
        .collect::<Result<Vec<_>, _>>()
        .map_err(from_stack)?;
    if let Some(git_ref) = &args.changed_since {
        let changed = staves_stack::changed::changed_since(&stack, git_ref).map_err(from_stack)?;
        only = match only.is_empty() {
            true => changed,
            false => only.into_iter().filter(|i| changed.contains(i)).collect(),
        };
        if only.is_empty() {
            status("Finished", &format!("nothing changed since {git_ref}"));
            return Ok(());
        }
        let names: Vec<&str> = only.iter().map(|&i| stack.nodes[i].name.as_str()).collect();
        status("Changed", &format!("since {git_ref}: {}", names.join(", ")));
    }
    let order = stack.order(&only).map_err(from_stack)?;
    let ship = Ship {
        output: args.output.clone(),
        load: args.load,
        push: args.push.clone(),
        parallel: args.parallel,
        jobs: args.jobs,
        compression: args.compression,
        locked: args.locked,
    };
    // The workspace file's `[cache] registry`, unless `--cache-registry` names another.
    let mut source = args.source.clone();
    if source.cache_registry.is_none()
        && let Some(text) = &stack.cache_registry
    {
        source.cache_registry = Some(staves_registry::Reference::parse(text)?);
    }
    // A job another runner finished: one request, nothing to do.
    let marker = match (&args.job_key, source.shared()) {
        (Some(key), Some(shared)) if args.output.is_none() && !args.load => {
            let marker = staves_stack::plan::done_marker(
                key,
                &args.only,
                args.packages,
                args.push.as_deref(),
            );
            if job_done(&source, shared.as_ref(), &marker)? {
                status(
                    "Skipped",
                    &format!("job {key}: another runner finished it (the shared cache says so)"),
                );
                return Ok(());
            }
            Some((shared, marker))
        }
        _ => None,
    };
    run_job(args, &stack, only, order, ship, &source)?;
    if let Some((shared, marker)) = marker {
        mark_done(
            &source,
            shared.as_ref(),
            &marker,
            args.job_key.as_deref().unwrap_or(""),
        )?;
    }
    Ok(())
}

/// Whether the shared cache holds `marker`; a failure to ask is a warning and the job runs.
fn job_done(
    source: &SourceArgs,
    shared: &dyn staves_types::SharedCache,
    marker: &str,
) -> Result<bool, CliError> {
    let scratch = staves_repo::Cache::open(source.cache.root())?.scratch_dir()?;
    match shared.fetch("job", marker, scratch.path()) {
        Ok(found) => Ok(found.is_some()),
        Err(e) => {
            crate::report::warning(&format!("asking the shared cache about this job: {e}"));
            Ok(false)
        }
    }
}

/// Keeps `marker` in the shared cache: a small file saying which job finished.
fn mark_done(
    source: &SourceArgs,
    shared: &dyn staves_types::SharedCache,
    marker: &str,
    key: &str,
) -> Result<(), CliError> {
    let scratch = staves_repo::Cache::open(source.cache.root())?.scratch_dir()?;
    let path = scratch.path().join("job.json");
    let text = serde_json::json!({ "key": key, "marker": marker }).to_string();
    std::fs::write(&path, &text)?;
    let file = staves_types::KeptFile {
        name: "job.json".into(),
        path,
        sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes())),
    };
    if let Err(e) = shared.keep("job", marker, &[file]) {
        crate::report::warning(&format!("telling the shared cache this job finished: {e}"));
    }
    Ok(())
}

/// The job itself: the packages, or the images (built, then pushed).
fn run_job(
    args: &StackArgs,
    stack: &Stack,
    only: Vec<usize>,
    order: Vec<usize>,
    ship: Ship,
    source: &SourceArgs,
) -> Result<(), CliError> {
    if args.packages {
        let nodes = match only.is_empty() {
            true => (0..stack.nodes.len()).collect(),
            false => only,
        };
        let options = source.stack_options(crate::cli::StackBuild {
            output: std::env::temp_dir(),
            archives: false,
            jobs: args.jobs,
            compression: super::build::compression(args.compression),
            locked: args.locked,
            parallel: args.parallel,
            source_date_epoch: super::source_date_epoch()?,
        });
        let count =
            staves_stack::build_packages(stack, &nodes, &options, crate::report::reporter())
                .map_err(from_stack)?;
        status(
            "Finished",
            &format!("{count} package(s) built from source or by recipes"),
        );
        return Ok(());
    }
    let built = ship.build(stack, &order, source)?;
    ship.push_all(&built.nodes, source, &args.registry)
}

/// The images of a stack, built; their layouts last as long as this.
pub(crate) struct Shipped {
    pub nodes: Vec<BuiltNode>,
    _scratch: Option<staves_fs::TempDir>,
}

/// What to do with the images of a stack: where their layouts go, whether they are
/// loaded into an engine or pushed, and how they are built.
pub(crate) struct Ship {
    pub output: Option<PathBuf>,
    pub load: bool,
    pub push: Option<String>,
    pub parallel: usize,
    pub jobs: usize,
    pub compression: crate::cli::Compression,
    pub locked: bool,
}

impl Ship {
    /// Builds the images `order` lists (bases first) and loads them when asked.
    pub fn build(
        &self,
        stack: &Stack,
        order: &[usize],
        source: &SourceArgs,
    ) -> Result<Shipped, CliError> {
        let started = Instant::now();
        // A bad destination fails before minutes of work, not after.
        if let Some(prefix) = &self.push {
            Reference::parse(&format!("{}/x", prefix.trim_end_matches('/')))?;
        }
        // Without `--output`, layouts go to scratch space in the cache, swept by a later run.
        let scratch = match &self.output {
            Some(_) => None,
            None => Some(staves_repo::Cache::open(source.cache.root())?.scratch_dir()?),
        };
        let output = match (&self.output, &scratch) {
            (Some(out), _) => out.clone(),
            (None, Some(dir)) => dir.path().to_owned(),
            (None, None) => return Err(CliError::Internal("no output directory".into())),
        };
        std::fs::create_dir_all(&output)?;
        let options = source.stack_options(crate::cli::StackBuild {
            output,
            archives: self.load,
            jobs: self.jobs,
            compression: super::build::compression(self.compression),
            locked: self.locked,
            parallel: self.parallel,
            source_date_epoch: super::source_date_epoch()?,
        });
        let built = staves_stack::build(stack, order, &options, crate::report::reporter())
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
                match (&self.output, self.load) {
                    (Some(out), _) => out.display().to_string(),
                    (None, true) => "the local image store".into(),
                    (None, false) => "a scratch directory".into(),
                },
                started.elapsed().as_secs_f64()
            ),
        );
        Ok(Shipped {
            nodes: built,
            _scratch: scratch,
        })
    }

    /// Pushes each of `nodes` as `PREFIX/NAME:TAG`, when a prefix was given.
    pub fn push_all(
        &self,
        nodes: &[BuiltNode],
        source: &SourceArgs,
        registry: &RegistryArgs,
    ) -> Result<(), CliError> {
        let Some(prefix) = &self.push else {
            return Ok(());
        };
        let prefix = prefix.trim_end_matches('/');
        for node in nodes {
            let reference = Reference::parse(&format!(
                "{prefix}/{}:{}",
                node.name.repository, node.name.tag
            ))?;
            let layout = staves_oci::Layout::open(&node.layout)?;
            super::push::push_entry(
                (&source.cache, &source.reach),
                &layout,
                &node.entry,
                &reference,
                registry,
            )?;
        }
        Ok(())
    }
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
