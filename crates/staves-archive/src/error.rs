//! Why an archive operation failed, each with the HTTP status an upload answers with.

use std::path::PathBuf;

/// Everything that can go wrong serving or changing an archive.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Reading or writing the archive's files failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The upload is not a Debian binary package Staves can read.
    #[error("not a valid .deb: {0}")]
    NotADeb(String),
    /// The suite, component or architecture is not served.
    #[error("{0}")]
    NotServed(String),
    /// The same package, version and architecture is there with other bytes.
    #[error(
        "{name} {version} ({arch}) is already in the archive with other bytes (SHA-256 {existing}); a version is never replaced: upload a new version"
    )]
    Conflict {
        /// Package name.
        name: String,
        /// Version.
        version: String,
        /// Architecture.
        arch: String,
        /// The checksum of what is there.
        existing: String,
    },
    /// One file of several was refused, so none was added.
    #[error("{file}: {source} (nothing of this upload was added)")]
    InBatch {
        /// The file's name.
        file: String,
        /// Why it was refused.
        source: Box<ArchiveError>,
    },
    /// Signing the release failed.
    #[error(transparent)]
    Sign(#[from] staves_openpgp::OpenPgpError),
    /// The archive's configuration is unusable.
    #[error("{0}")]
    Config(String),
    /// The configuration file is malformed at a known place.
    #[error("{0}")]
    ConfigFile(Box<staves_spec::Diagnostic>),
}

impl ArchiveError {
    /// The HTTP status an upload or removal answers this error with.
    pub fn status(&self) -> u16 {
        match self {
            ArchiveError::NotADeb(_) => 400,
            ArchiveError::NotServed(_) => 404,
            ArchiveError::Conflict { .. } => 409,
            ArchiveError::InBatch { source, .. } => source.status(),
            _ => 500,
        }
    }

    /// An I/O error mapper for `action` on `path`.
    pub fn io(action: &'static str, path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_owned();
        move |source| ArchiveError::Io {
            action,
            path,
            source,
        }
    }
}
