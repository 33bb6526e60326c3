//! Errors in a spec, located in its text.

use std::path::PathBuf;

pub use staves_types::diagnostic::{Diagnostic, line_column};

/// Why a spec could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The spec's path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The spec is malformed at a known place.
    #[error("{0}")]
    Invalid(Box<Diagnostic>),
}
