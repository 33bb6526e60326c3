//! Turning errors into messages a user can act on, and status lines on stderr.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use annotate_snippets::{AnnotationKind, Level, Renderer, Snippet};
use staves_pipeline::{LocatedResolveError, PipelineError};
use staves_repo::RepoError;
use staves_resolve::ResolveError;
use staves_spec::{Diagnostic, SpecError};

/// Every way a command can fail, with what is needed to explain it.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Sources(#[from] staves_deb::sources::SourcesError),
    #[error("{}{}", .0.error, .0.arch.as_ref().map(|a| format!(" (for {a})")).unwrap_or_default())]
    Resolve(Box<LocatedResolveError>),
    #[error(transparent)]
    Lock(#[from] ResolveError),
    #[error("{}", if *missing { format!("{} does not exist", path.display()) } else { format!("{} does not match the spec", path.display()) })]
    StaleLock { path: PathBuf, missing: bool },
    #[error("the spec names no repository and the host has no apt sources")]
    NoRepositories,
    #[error("writing output: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Image(#[from] staves_image::ImageError),
    #[error(transparent)]
    Oci(#[from] staves_oci::OciError),
    #[error(transparent)]
    Registry(#[from] staves_registry::RegistryError),
    #[error("{0}")]
    Usage(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<PipelineError> for CliError {
    fn from(error: PipelineError) -> Self {
        match error {
            PipelineError::Spec(e) => CliError::Spec(e),
            PipelineError::Repo(e) => CliError::Repo(e),
            PipelineError::Sources(e) => CliError::Sources(e),
            PipelineError::Resolve(e) => CliError::Resolve(e),
            PipelineError::Lock(e) => CliError::Lock(e),
            PipelineError::StaleLock { path, missing } => CliError::StaleLock { path, missing },
            PipelineError::NoRepositories => CliError::NoRepositories,
            PipelineError::Io(e) => CliError::Io(e),
            PipelineError::Image(e) => CliError::Image(e),
            PipelineError::Oci(e) => CliError::Oci(e),
            PipelineError::Invalid(message) => CliError::Usage(message),
            PipelineError::Internal(message) => CliError::Internal(message),
        }
    }
}

/// The pipeline's reporter for a person at a terminal (or a log): cargo-style status
/// lines on stderr, and progress bars only on a terminal.
#[derive(Debug, Default, Clone, Copy)]
pub struct TerminalReporter;

impl staves_pipeline::Reporter for TerminalReporter {
    fn status(&self, verb: &str, message: &str) {
        status(verb, message);
    }

    fn warning(&self, message: &str) {
        warning(message);
    }

    fn downloads(&self, label: &'static str) -> std::sync::Arc<dyn staves_repo::Progress> {
        crate::progress::labelled(label)
    }
}

/// The reporter every command hands the pipeline.
pub fn reporter() -> std::sync::Arc<dyn staves_pipeline::Reporter> {
    std::sync::Arc::new(TerminalReporter)
}

impl CliError {
    /// Advice for the user, when there is any.
    fn hint(&self) -> Option<String> {
        match self {
            CliError::Repo(RepoError::Signature { .. }) => Some(
                "check the repository's `keyring`; it must hold the key that signs the release"
                    .into(),
            ),
            CliError::Repo(RepoError::Expired { .. }) => {
                Some("use an up-to-date mirror, or `--refresh` if the cached release is old".into())
            }
            CliError::Repo(RepoError::Network { .. } | RepoError::Status { .. }) => Some(
                "check the repository URI and your network; `--offline` uses only the cache".into(),
            ),
            CliError::Repo(RepoError::NotCached { .. } | RepoError::Offline { .. }) => {
                Some("run once without `--offline` to fill the cache".into())
            }
            CliError::Repo(RepoError::TooLarge { .. } | RepoError::UnsafePath { .. }) => Some(
                "the repository serves data no Debian archive holds; check that its URI and keyring are the ones you mean to trust".into(),
            ),
            CliError::Repo(RepoError::Damaged { .. }) => Some(
                "the cache was changed behind Staves' back; run again without `--offline` to repair it, or remove the cache directory".into(),
            ),
            CliError::Repo(RepoError::Io { source, .. }) | CliError::Io(source)
                if source.raw_os_error() == Some(28) =>
            {
                Some("the disk is full: free some space, or put the cache elsewhere with `--cache DIR`".into())
            }
            CliError::Registry(e) => e.hint(),
            CliError::StaleLock { .. } => Some("run `staves lock` to update it".into()),
            CliError::NoRepositories => {
                Some("add a [[repositories]] table to the spec, or configure apt sources".into())
            }
            _ => None,
        }
    }
}

/// Prints `error` (with source snippets where it points into the spec) and picks the exit code.
pub fn print(error: &CliError) -> ExitCode {
    let styled = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let renderer = if styled {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    match error {
        CliError::Spec(SpecError::Invalid(d)) => eprintln!("{}", render(&renderer, d)),
        CliError::Resolve(located) if located.span.is_some() => {
            let (mut message, help) = resolve_message(&located.error);
            if let Some(arch) = &located.arch {
                message.push_str(&format!(" for {arch}"));
            }
            let span = located.span.clone().unwrap_or_default();
            let d = Diagnostic::new(&located.path, &located.source_text, span, message, help);
            eprintln!("{}", render(&renderer, &d));
        }
        other => {
            eprintln!("error: {other}");
            if let Some(hint) = other.hint() {
                eprintln!("  help: {hint}");
            }
        }
    }
    ExitCode::FAILURE
}

fn resolve_message(error: &ResolveError) -> (String, Option<String>) {
    match error {
        ResolveError::UnknownPackage {
            name, suggestions, ..
        } => (
            format!("no package named `{name}` is available"),
            Some(match suggestions.as_slice() {
                [] => "check the name, and that the repository carrying it is configured".into(),
                names => format!(
                    "did you mean {}?",
                    names
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
        ),
        ResolveError::Unsatisfiable { failure, .. } => (
            format!(
                "this request cannot be satisfied:\n{}",
                failure.to_string().trim_end()
            ),
            Some(
                "pin another version, add a repository carrying what is missing, or `exclude` it"
                    .into(),
            ),
        ),
        other => (other.to_string(), None),
    }
}

fn render(renderer: &Renderer, d: &Diagnostic) -> String {
    let path = d.path.display().to_string();
    let mut group = Level::ERROR.primary_title(&d.message).element(
        Snippet::source(&d.source)
            .path(&path)
            .annotation(AnnotationKind::Primary.span(d.span.clone())),
    );
    if let Some(help) = &d.help {
        group = group.element(Level::HELP.message(help));
    }
    renderer.render(&[group]).to_string()
}

/// A status line on stderr, cargo style: `    Locked 29 packages`.
pub fn status(verb: &str, message: &str) {
    eprintln!("{verb:>12} {message}");
}

/// A warning on stderr, in the same column as status lines: `     Warning the image …`.
pub fn warning(message: &str) {
    status("Warning", message);
}

pub fn init_tracing(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("STAVES_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    // Colour only for a person at a terminal: logs and pipes get plain text.
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .init();
}
