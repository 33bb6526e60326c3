//! Errors of the repository client.

use std::path::PathBuf;

/// Everything that can go wrong between a repository's address and a verified index.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// Local file system trouble.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done (`reading`, `writing`, …).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The server answered with an HTTP error status.
    #[error("{url}: HTTP status {status}")]
    Status {
        /// The URL fetched.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The network failed (after retries).
    #[error("{url}: {message}")]
    Network {
        /// The URL fetched.
        url: String,
        /// What failed.
        message: String,
    },
    /// Bytes did not match the checksum from the signed release.
    #[error("{what}: checksum mismatch (expected sha256 {expected}, got {actual})")]
    Checksum {
        /// The file whose content was wrong.
        what: String,
        /// The signed checksum.
        expected: String,
        /// The checksum of what arrived.
        actual: String,
    },
    /// A size did not match the signed release.
    #[error("{what}: size mismatch (expected {expected} bytes, got {actual})")]
    Size {
        /// The file.
        what: String,
        /// Expected size.
        expected: u64,
        /// Actual size.
        actual: u64,
    },
    /// A keyring could not be read or holds no usable key, or a release's signature is
    /// missing, invalid or made by an unknown key.
    #[error(transparent)]
    OpenPgp(#[from] staves_openpgp::OpenPgpError),
    /// The release is past its `Valid-Until` date.
    #[error("{what} expired on {valid_until} (Valid-Until); the repository or a mirror is stale")]
    Expired {
        /// The release file.
        what: String,
        /// Its `Valid-Until` field.
        valid_until: String,
    },
    /// A release or index is malformed.
    #[error("{what}: {message}")]
    Malformed {
        /// The file.
        what: String,
        /// What is wrong.
        message: String,
    },
    /// The release does not list the architecture asked for.
    #[error("{repository} has no packages for {arch}; its release lists {}", available.join(", "))]
    UnknownArchitecture {
        /// Repository name.
        repository: String,
        /// The architecture asked for.
        arch: String,
        /// The release's `Architectures:`.
        available: Vec<String>,
    },
    /// The release does not publish an index that was asked for.
    #[error("{repository} publishes no {what}; the release lists: {available}")]
    MissingIndex {
        /// Repository name.
        repository: String,
        /// The index (`main/binary-arm64/Packages`).
        what: String,
        /// The indices it does list, abbreviated.
        available: String,
    },
    /// The cache was used while offline but holds nothing for this repository.
    #[error("{repository}: nothing cached and network access is disabled")]
    NotCached {
        /// Repository name.
        repository: String,
    },
    /// A file is not in the cache (or was damaged there) and network access is disabled.
    #[error(
        "{what} is not in the cache (or its cached copy was damaged) and network access is disabled"
    )]
    Offline {
        /// What was needed (a package, an index).
        what: String,
    },
    /// A cache entry is not what was verified.
    #[error("cache entry {path} is damaged: {reason}")]
    Damaged {
        /// The entry.
        path: PathBuf,
        /// How it differs.
        reason: String,
    },
    /// Data from a repository is larger than anything legitimate of its kind.
    #[error("{what} is larger than {limit} bytes; refusing it")]
    TooLarge {
        /// The file.
        what: String,
        /// The limit.
        limit: u64,
    },
    /// A path named by an index (`Filename:`) leaves the archive's root.
    #[error("repository {repository}: `Filename: {filename}` {reason}; refusing it")]
    UnsafePath {
        /// The repository.
        repository: String,
        /// The path as the index gives it.
        filename: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl RepoError {
    /// An I/O failure while `action` on `path`, as a closure for `map_err`.
    pub fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| RepoError::Io {
            action,
            path,
            source,
        }
    }
}
