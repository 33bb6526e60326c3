//! `staves plan`: the stack as jobs for a CI engine, on stdout.

use std::io::Write;

use staves_stack::Stack;

use crate::cli::{PlanArgs, PlanFormat};
use crate::report::CliError;

pub fn run(args: &PlanArgs) -> Result<(), CliError> {
    let stack = Stack::discover(&args.root).map_err(super::stack::from_stack)?;
    let mut extra = Vec::new();
    for host in &args.insecure_registry {
        extra.extend(["--insecure-registry".to_owned(), host.clone()]);
    }
    if let Some(dir) = &args.certs_dir {
        extra.extend(["--certs-dir".to_owned(), dir.display().to_string()]);
    }
    if let Some(reference) = &args.cache_registry {
        extra.extend(["--cache-registry".to_owned(), reference.clone()]);
    }
    // Each job runs from the stack's directory.
    let mut plan = staves_stack::plan::plan(&stack, ".", &extra, args.push.as_deref())
        .map_err(super::stack::from_stack)?;
    if let Some(git_ref) = &args.changed_since {
        let changed = staves_stack::changed::changed_since(&stack, git_ref)
            .map_err(super::stack::from_stack)?;
        plan.only(&stack, &changed);
    }
    let name = args
        .root
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "stack".into());
    let dir = args.root.display().to_string();
    let documents = match args.format {
        PlanFormat::Json => vec![plan.to_json()],
        PlanFormat::Gitlab => vec![plan.to_gitlab(&args.image, &dir)],
        PlanFormat::Github => vec![plan.to_github(&args.runs_on, &dir)],
        PlanFormat::Kubernetes => plan.to_kubernetes(&args.image, &name),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let written = documents.iter().enumerate().try_for_each(|(i, doc)| {
        // JSON is YAML: GitLab, GitHub and kubectl read it; several documents are `---`-separated.
        if i > 0 {
            writeln!(out, "---")?;
        }
        serde_json::to_writer_pretty(&mut out, doc).map_err(std::io::Error::other)?;
        writeln!(out)
    });
    written
        .and_then(|()| out.flush())
        .or_else(super::resolve::ignore_broken_pipe)
}
