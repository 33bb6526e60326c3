//! Every way the pipeline fails.

use std::ops::Range;
use std::path::PathBuf;

use staves_repo::RepoError;
use staves_resolve::ResolveError;
use staves_spec::SpecError;

/// A resolution error with the spec text it points into.
#[derive(Debug)]
pub struct LocatedResolveError {
    /// What went wrong.
    pub error: ResolveError,
    /// The architecture resolved for, named when the spec targets several.
    pub arch: Option<String>,
    /// Where in the spec: the request, or the pin that rules a package out.
    pub span: Option<Range<usize>>,
    /// The spec's text.
    pub source_text: String,
    /// The spec's path.
    pub path: PathBuf,
}

/// Why the pipeline failed.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The spec is unreadable or invalid (with its position).
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A repository or the cache failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// The host's apt sources could not be read.
    #[error(transparent)]
    Sources(#[from] staves_deb::sources::SourcesError),
    /// Resolution failed, pointed at the spec.
    #[error("{}{}", .0.error, .0.arch.as_ref().map(|a| format!(" (for {a})")).unwrap_or_default())]
    Resolve(Box<LocatedResolveError>),
    /// The lockfile could not be read or written.
    #[error(transparent)]
    Lock(#[from] ResolveError),
    /// `locked` was asked for and the lock is missing or stale.
    #[error("{}", if *missing { format!("{} does not exist", path.display()) } else { format!("{} does not match the spec", path.display()) })]
    StaleLock {
        /// The lockfile.
        path: PathBuf,
        /// It does not exist at all.
        missing: bool,
    },
    /// Neither the spec nor the host names a repository.
    #[error("the spec names no repository and the host has no apt sources")]
    NoRepositories,
    /// File system trouble.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Assembly refused a package or failed.
    #[error(transparent)]
    Image(#[from] staves_image::ImageError),
    /// Writing the image layout or archive failed.
    #[error(transparent)]
    Oci(#[from] staves_oci::OciError),
    /// A registry refused, or could not be reached.
    #[error(transparent)]
    Registry(#[from] staves_registry::RegistryError),
    /// Building a package from source failed.
    #[error(transparent)]
    Source(#[from] staves_source::SourceError),
    /// The spec names a base, and the workspace was opened without it: the image would
    /// silently lack its base.
    #[error(
        "{} is built on a base (`base = …`), but its workspace was opened without it; open it with `staves_stack::open_workspace`, which builds or reads the base first", spec.display()
    )]
    BaseNotOpened {
        /// The spec.
        spec: PathBuf,
    },
    /// The options contradict the spec (`arch` not among `archs`, …).
    #[error("{0}")]
    Invalid(String),
    /// A bug: what was expected to hold did not.
    #[error("internal error: {0}")]
    Internal(String),
}
