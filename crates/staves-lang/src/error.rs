//! What can go wrong fetching language packages.

use staves_types::Diagnostic;

/// Errors of requirements files, indices and downloads.
#[derive(Debug, thiserror::Error)]
pub enum LangError {
    /// A requirements file that pip's hash-checking mode would refuse, or that names what
    /// the index does not have: at its place in the file.
    #[error("{0}")]
    Requirement(Box<Diagnostic>),
    /// The index could not be asked.
    #[error("the package index at {url}: {message}")]
    Index {
        /// What was asked.
        url: String,
        /// Why it failed.
        message: String,
    },
    /// Reading a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Downloading or checking a file.
    #[error(transparent)]
    Repo(#[from] staves_repo::RepoError),
}
