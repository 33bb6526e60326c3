//! Why an image could not be assembled.

use std::path::PathBuf;

/// Why an image could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A `.deb` could not be read.
    #[error("{package}: {source}")]
    Deb {
        /// The package.
        package: String,
        /// What is wrong with its file.
        source: staves_deb::deb::DebError,
    },
    /// A file's data was shorter than its header said.
    #[error("`/{path}`: the archive declares {declared} bytes but holds {actual}")]
    Short {
        /// The path in the image.
        path: String,
        /// The size the header declares.
        declared: u64,
        /// The bytes that were there.
        actual: u64,
    },
    /// A package ships something at a path Staves writes itself.
    #[error("`/{path}` is written by Staves (accounts, dpkg database or SBOM), but {} ships it too", owner.map_or_else(|| "the image".to_owned(), |o| format!("package #{o}")))]
    Reserved {
        /// The path.
        path: String,
        /// Index of the package that shipped it.
        owner: Option<usize>,
    },
    /// Reading a package's contents failed.
    #[error("{package}: reading its contents: {source}")]
    Read {
        /// The package.
        package: String,
        /// The error.
        source: std::io::Error,
    },
    /// Writing the layer failed.
    #[error("writing the layer: {0}")]
    Write(std::io::Error),
    /// A package holds an entry no image may contain.
    #[error("{package}: refusing `{entry}`: {reason}")]
    Hostile {
        /// The package.
        package: String,
        /// The entry as written in its archive.
        entry: String,
        /// Why.
        reason: String,
    },
    /// A path that is not a layer path (empty, absolute, or with `..`) reached the layer:
    /// a bug in what produced it, named rather than left to the tar writer.
    #[error(
        "`{path}` is not a path inside the image (an entry the assembly made itself; please report it)"
    )]
    NotALayerPath {
        /// The path as it was given.
        path: String,
    },
    /// Two packages ship the same path.
    #[error("`/{path}` is shipped by both {first} and {second}, and neither Replaces the other")]
    Conflict {
        /// The path.
        path: String,
        /// The package that shipped it first.
        first: String,
        /// The package that ships it again.
        second: String,
    },
    /// A local file named by the spec could not be read.
    #[error("{path}: {source}")]
    Local {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// An account could not be added.
    #[error(transparent)]
    Account(#[from] crate::accounts::AccountError),
}

impl ImageError {
    pub(crate) fn write(e: std::io::Error) -> Self {
        ImageError::Write(e)
    }
}
