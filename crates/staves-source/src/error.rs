//! Why a source build failed.

use std::path::PathBuf;

/// Everything that can go wrong building from source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Fetching or verifying repository data failed.
    #[error(transparent)]
    Repo(#[from] staves_repo::RepoError),
    /// Fetching a recipe's language packages failed.
    #[error(transparent)]
    Fetch(#[from] staves_lang::LangError),
    /// The build dependencies cannot be resolved.
    #[error("the build dependencies of {source_package} cannot be installed: {error}")]
    BuildDepends {
        /// `name version` of the source package.
        source_package: String,
        /// The resolver's explanation.
        error: Box<staves_resolve::ResolveError>,
    },
    /// No repository has the binary package.
    #[error("no repository has a package `{0}` to build from source")]
    NoBinary(String),
    /// The binary's source package is not in any `Sources` index.
    #[error(
        "{binary} comes from source package {source_package} {version}, which no `Sources` index lists"
    )]
    NoSource {
        /// The binary package asked for.
        binary: String,
        /// Its source package.
        source_package: String,
        /// The version wanted.
        version: String,
    },
    /// An index or control file holds something that cannot be read.
    #[error("{what}: {message}")]
    Malformed {
        /// What was read.
        what: String,
        /// What is wrong.
        message: String,
    },
    /// The `.dsc` names other files than the signed index does.
    #[error("{dsc} does not match the signed `Sources` index: {message}")]
    DscMismatch {
        /// The `.dsc` file.
        dsc: String,
        /// The difference.
        message: String,
    },
    /// The spec's `[env]` cannot be applied.
    #[error("[env] `{name}`: {message}")]
    Env {
        /// The variable.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// Assembling the build root failed.
    #[error("assembling the build root of {source_package}: {error}")]
    Root {
        /// `name version` of the source package.
        source_package: String,
        /// What failed.
        error: Box<staves_image::ImageError>,
    },
    /// The sandbox could not be started.
    #[error("starting bubblewrap (`bwrap`): {0}")]
    Sandbox(std::io::Error),
    /// The build ran and failed.
    #[error("building {source_package} failed at `{step}` (exit {code}); the last lines of {}:\n{tail}", log.display())]
    Failed {
        /// `name version` of the source package.
        source_package: String,
        /// The step that failed (`unpack`, `dpkg-buildpackage`, …).
        step: String,
        /// The exit code, or -1 for a signal.
        code: i32,
        /// The whole log.
        log: PathBuf,
        /// Its last lines.
        tail: String,
    },
    /// The build passed one of its limits and was stopped.
    #[error("building {source_package} was stopped at `{step}`: {limit}; its log is {}", log.display())]
    Limit {
        /// What was being built.
        source_package: String,
        /// The step it was in.
        step: String,
        /// The limit it passed.
        limit: crate::limits::Exceeded,
        /// The build log, kept.
        log: std::path::PathBuf,
    },
    /// The build succeeded but made none of the packages it was asked for.
    #[error("building {source_package} made no package `{binary}` (it made: {made})")]
    NotMade {
        /// `name version` of the source package.
        source_package: String,
        /// The binary package asked for.
        binary: String,
        /// What it did make.
        made: String,
    },
    /// A file could not be read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl SourceError {
    pub(crate) fn io(
        action: &'static str,
        path: &std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_owned();
        move |source| SourceError::Io {
            action,
            path,
            source,
        }
    }
}
