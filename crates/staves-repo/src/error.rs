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
    /// A fetch failed (after retries, where retrying could help).
    #[error(transparent)]
    Net(#[from] staves_net::NetError),
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
    /// Several files are not in the cache and network access is disabled.
    #[error(
        "{} files are not in the cache and network access is disabled (--offline), {} MB in all: {}",
        names.len(),
        bytes.div_ceil(1_000_000),
        names.join(", ")
    )]
    OfflineMissing {
        /// What each is (`nginx 1.22.1-9`).
        names: Vec<String>,
        /// Their total size.
        bytes: u64,
    },
    /// The repository has no release for the suite (a misspelled suite, or one the
    /// archive does not carry).
    #[error("repository `{repository}` has no suite `{suite}`: {url} and its Release are not found (404){}", if available.is_empty() { String::new() } else { format!("; it has {}", available.join(", ")) })]
    UnknownSuite {
        /// The repository's name.
        repository: String,
        /// The suite asked for.
        suite: String,
        /// The `InRelease` that was not found.
        url: String,
        /// Suites the archive does serve, as their releases name them (`stable
        /// (bookworm)`), among the usual ones.
        available: Vec<String>,
    },
    /// A file its repository no longer serves (a mirror dropped a superseded version).
    #[error("{what}: the repository no longer has {url}{}", elsewhere.as_deref().map(|e| format!(", nor has {e}")).unwrap_or_default())]
    Gone {
        /// What it is (`nginx 1.22.1-9 (amd64)`).
        what: String,
        /// Where it was.
        url: String,
        /// The other place tried (a snapshot archive).
        elsewhere: Option<String>,
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

impl From<staves_deb::release::ReleaseError> for RepoError {
    fn from(e: staves_deb::release::ReleaseError) -> Self {
        RepoError::Malformed {
            what: e.what,
            message: e.message,
        }
    }
}

impl staves_net::Transient for RepoError {
    /// Network trouble that may pass, and bytes that arrived damaged, are tried again.
    fn is_transient(&self) -> bool {
        match self {
            RepoError::Net(e) => e.is_transient(),
            RepoError::Checksum { .. } | RepoError::Size { .. } => true,
            _ => false,
        }
    }
}

impl RepoError {
    /// Whether the server said the file is not there (404, 410).
    pub fn is_not_found(&self) -> bool {
        matches!(self, RepoError::Net(e) if e.is_not_found())
    }

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
