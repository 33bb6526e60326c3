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
    /// Another version, differing only in its epoch, holds the pool file this one needs.
    #[error(
        "version {version} would be stored as {file}, which holds version {holder} (versions that differ only in their epoch share a file name); upload a version that differs in more than its epoch"
    )]
    PoolClash {
        /// The pool file.
        file: String,
        /// The version uploaded.
        version: String,
        /// The version whose file it is.
        holder: String,
    },
    /// A package list on disk holds an entry the archive cannot believe.
    #[error(
        "{}:{line}: {why}; the list was changed outside Staves (or by an upload an earlier version let through): remove that paragraph and start again", list.display()
    )]
    Corrupt {
        /// The package list.
        list: PathBuf,
        /// The paragraph's first line.
        line: usize,
        /// What is wrong with it.
        why: String,
    },
    /// The archive's signing key is gone while its public key is still published.
    #[error(
        "the signing key {} is missing, but {} publishes the key clients of this archive trust; restore the key file (a new key would break every client), or remove {} to start over with a new key", key.display(), published.display(), published.display()
    )]
    KeyLost {
        /// Where the secret key was.
        key: PathBuf,
        /// The public key still published.
        published: PathBuf,
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
    ConfigFile(Box<staves_types::Diagnostic>),
}

impl ArchiveError {
    /// The HTTP status an upload or removal answers this error with.
    pub fn status(&self) -> u16 {
        match self {
            ArchiveError::NotADeb(_) => 400,
            ArchiveError::NotServed(_) => 404,
            ArchiveError::Conflict { .. } | ArchiveError::PoolClash { .. } => 409,
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
