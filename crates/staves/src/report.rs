//! Turning errors into messages a user can act on, and status lines on stderr.

use std::io::IsTerminal;
use std::process::ExitCode;

use annotate_snippets::{AnnotationKind, Level, Renderer, Snippet};
use staves_pipeline::PipelineError;
use staves_repo::RepoError;
use staves_resolve::ResolveError;
use staves_spec::{Diagnostic, SpecError};

/// Every way a command can fail: the pipeline's errors, and the command line's own.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Archive(#[from] staves_archive::ArchiveError),
    #[error(transparent)]
    Upload(#[from] staves_archive::client::UploadError),
    #[error("internal error: {0}")]
    Internal(String),
    /// The host lacks what Staves needs (`staves doctor`).
    #[error("{0}")]
    Host(String),
    /// A finding already printed — two things differ (`staves diff`), a security update
    /// waits (`staves outdated`): exit 1 without a message.
    #[error("exit 1: see the report above")]
    Reported,
}

/// Errors of the crates below the pipeline reach the CLI as the pipeline's.
macro_rules! through_pipeline {
    ($($from:ty),* $(,)?) => {
        $(impl From<$from> for CliError {
            fn from(error: $from) -> Self {
                CliError::Pipeline(error.into())
            }
        })*
    };
}

through_pipeline!(
    SpecError,
    RepoError,
    ResolveError,
    std::io::Error,
    staves_image::ImageError,
    staves_oci::OciError,
    staves_registry::RegistryError,
);

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

    fn uploads(&self, label: &'static str) -> std::sync::Arc<dyn staves_registry::Progress> {
        crate::progress::labelled(label)
    }

    /// Shown with `--verbose`, through the log's `info` level.
    fn detail(&self, message: &str) {
        tracing::info!("{message}");
    }

    /// Source builds' logs stream to a terminal, or with `--verbose`; elsewhere they are
    /// kept in the cache and a failure shows their last lines.
    fn build_log(&self, package: &str, line: &str) {
        if STREAM_BUILD_LOGS.load(std::sync::atomic::Ordering::Relaxed) {
            eprintln!("{package:>12} | {line}");
        }
    }
}

/// Whether source builds' logs are printed as they are written.
static STREAM_BUILD_LOGS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The reporter every command hands the pipeline.
pub fn reporter() -> std::sync::Arc<dyn staves_pipeline::Reporter> {
    std::sync::Arc::new(TerminalReporter)
}

impl CliError {
    /// Advice for the user, when there is any.
    fn hint(&self) -> Option<String> {
        use PipelineError as P;
        use staves_archive::client::UploadError as U;
        let error = match self {
            CliError::Pipeline(error) => error,
            CliError::Upload(U::Refused { status: 401, .. }) => {
                return Some("check the token: `--token`, `--token-file` or STAVES_TOKEN".into());
            }
            CliError::Upload(U::Refused { status: 403, .. }) => {
                return Some(
                    "the token is valid but lacks a claim this suite requires: check the job's branch protection and project against the archive's [jwt] and suite claims".into(),
                );
            }
            CliError::Upload(U::Refused { status: 409, .. }) => {
                return Some(
                    "a published version never changes: raise the version and upload again".into(),
                );
            }
            CliError::Upload(U::Network { .. }) => {
                return Some("check the archive's URL and that `staves serve` runs there".into());
            }
            _ => return None,
        };
        match error {
            P::Registry(e) => e.hint(),
            P::Repo(RepoError::OpenPgp(staves_repo::OpenPgpError::Signature { .. })) => Some(
                "check the repository's `keyring`; it must hold the key that signs the release"
                    .into(),
            ),
            P::Repo(RepoError::Expired { .. }) => {
                Some("use an up-to-date mirror, or `--refresh` if the cached release is old".into())
            }
            P::Repo(RepoError::Net(staves_repo::NetError::Untrusted { .. })) => None,
            P::Repo(RepoError::Net(staves_repo::NetError::Status { status: 401 | 403, .. })) => {
                None
            }
            P::Repo(RepoError::Gone {
                elsewhere: None, ..
            }) => Some(
                "mirrors drop superseded versions: `staves lock` moves the lock to what the mirror holds, or `snapshot = \"…\"` on the repository fetches the locked file from a snapshot archive".into(),
            ),
            P::Repo(RepoError::Gone { .. }) => Some(
                "the snapshot archive lacks it too at the time the lock names: check the repository's `snapshot`, or run `staves lock`".into(),
            ),
            P::Repo(RepoError::Net(_)) => Some(
                "check the repository URI and your network; `--offline` uses only the cache".into(),
            ),
            P::Repo(
                RepoError::NotCached { .. }
                | RepoError::Offline { .. }
                | RepoError::OfflineMissing { .. },
            ) => {
                Some("run once without `--offline` to fill the cache".into())
            }
            P::Repo(RepoError::TooLarge { .. } | RepoError::UnsafePath { .. }) => Some(
                "the repository serves data no Debian archive holds; check that its URI and keyring are the ones you mean to trust".into(),
            ),
            P::Repo(RepoError::Damaged { .. }) => Some(
                "the cache was changed behind Staves' back; run again without `--offline` to repair it, or remove the cache directory".into(),
            ),
            error if disk_full(error) => {
                Some("the disk is full: free some space, or put the cache elsewhere with `--cache DIR`".into())
            }
            P::Repo(RepoError::UnknownSuite { .. }) => Some(
                "check the repository's `suite` (in the spec, or the apt sources it came from)"
                    .into(),
            ),
            P::Source(staves_pipeline::SourceError::Sandbox(e))
                if e.kind() == std::io::ErrorKind::NotFound =>
            {
                Some("source builds and recipes run in bubblewrap: `apt-get install bubblewrap` (`staves doctor` checks the rest)".into())
            }
            P::StaleLock { .. } => Some("run `staves lock` to update it".into()),
            P::NoRepositories => {
                Some("add a [[repositories]] table to the spec, or configure apt sources".into())
            }
            _ => None,
        }
    }
}

/// Whether `error` comes down to a full disk (ENOSPC), wherever in its chain the write was.
fn disk_full(error: &PipelineError) -> bool {
    let enospc = |e: &std::io::Error| e.raw_os_error() == Some(28);
    // Errors that hold an I/O error without naming it their source.
    if let PipelineError::Io(e) | PipelineError::Image(staves_image::ImageError::Write(e)) = error {
        return enospc(e);
    }
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = next {
        if error.downcast_ref::<std::io::Error>().is_some_and(enospc) {
            return true;
        }
        next = error.source();
    }
    false
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
        CliError::Pipeline(PipelineError::Spec(SpecError::Invalid(d)))
        | CliError::Archive(staves_archive::ArchiveError::ConfigFile(d)) => {
            eprintln!("{}", render(&renderer, d))
        }
        CliError::Pipeline(PipelineError::Resolve(located)) if located.span.is_some() => {
            let (mut message, help) = resolve_message(&located.error);
            if let Some(arch) = &located.arch {
                message.push_str(&format!(" for {arch}"));
            }
            let span = located.span.clone().unwrap_or_default();
            let d = Diagnostic::new(&located.path, &located.source_text, span, message, help);
            eprintln!("{}", render(&renderer, &d));
        }
        CliError::Reported => {}
        other => {
            eprintln!("error: {other}");
            if let Some(hint) = other.hint() {
                eprintln!("  help: {hint}");
            }
        }
    }
    // 2 for what the user asked wrongly (as clap does), 70 (EX_SOFTWARE) for a bug, 1 for
    // everything the world did to the build.
    match error {
        CliError::Usage(_)
        | CliError::Archive(
            staves_archive::ArchiveError::Config(_) | staves_archive::ArchiveError::ConfigFile(_),
        )
        | CliError::Pipeline(PipelineError::Spec(_)) => ExitCode::from(2),
        CliError::Pipeline(e) if e.is_usage() => ExitCode::from(2),
        CliError::Internal(_) => ExitCode::from(70),
        CliError::Pipeline(e) if e.is_bug() => ExitCode::from(70),
        _ => ExitCode::FAILURE,
    }
}

fn resolve_message(error: &ResolveError) -> (String, Option<String>) {
    match error {
        ResolveError::UnknownPackage {
            name, suggestions, ..
        } => (
            format!("no package named `{name}` is available"),
            Some(match suggestions.as_slice() {
                [] if name == "tini" => "a `command` runs under tini by default so that `docker stop` works: add a repository that carries it (Debian's main does), or set `init = false`".into(),
                [] if ["s6", "execline"].contains(&name.as_str()) => "services run under s6 and execline: add a repository that carries them (Debian's main does)".into(),
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
    STREAM_BUILD_LOGS.store(
        verbose > 0 || std::io::stderr().is_terminal(),
        std::sync::atomic::Ordering::Relaxed,
    );
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

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> std::io::Error {
        std::io::Error::from_raw_os_error(28)
    }

    #[test]
    fn a_full_disk_is_found_wherever_the_write_was() {
        let path = std::path::Path::new("/cache/x");
        for error in [
            PipelineError::Io(full()),
            PipelineError::Image(staves_image::ImageError::Write(full())),
            PipelineError::Repo(RepoError::io("writing", path)(full())),
            PipelineError::Source(staves_pipeline::SourceError::Io {
                action: "unpacking a build root into",
                path: path.to_owned(),
                source: full(),
            }),
        ] {
            let cli = CliError::Pipeline(error);
            let hint = cli.hint().unwrap_or_default();
            assert!(hint.contains("the disk is full"), "{cli}: {hint:?}");
        }
        let other = PipelineError::Io(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        assert!(!disk_full(&other));
    }
}
