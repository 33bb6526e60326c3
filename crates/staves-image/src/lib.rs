//! Image assembly: the resolved packages' contents streamed into one layer, turned into a
//! Debian system that tools recognise — without running a single maintainer script.
//!
//! Each package's `data.tar` goes straight from its `.deb` into the layer (see
//! [`staves_deb::deb`]), its paths mapped onto merged `/usr`, filtered by [`Features`], and
//! checked: absolute paths, `..`, escaping links and device nodes are refused, and two
//! packages shipping one path is an error unless one `Replaces` the other. Then come the
//! dpkg database, the accounts, and what `postinst` scripts would have done ([`scripts`]).
//!
//! The output is a plain tar stream; compression and OCI packaging are `staves-oci`'s job.
//! Every header is normalised (times clamped to one date), so the same inputs give the same
//! bytes.

pub mod accounts;
pub mod features;
pub mod layer;
pub mod paths;
pub mod scripts;

mod assemble;
mod dpkg;
mod effects;
mod plan;
mod prefetch;

pub use accounts::{AccountRequest, Accounts};
pub use assemble::{
    ExtraPath, GeneratedFile, Options, PackageFacts, PackageInput, Summary, assemble,
};
pub use features::Features;
pub use prefetch::unpacked_copy_is_intact;

use std::path::PathBuf;

/// Why an image could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A `.deb` could not be read.
    #[error(transparent)]
    Deb(#[from] staves_deb::deb::DebError),
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
    Account(#[from] accounts::AccountError),
    /// An account a package's `postinst` creates could not be added.
    #[error("{package}'s postinst creates an account that cannot be added: {message}")]
    ScriptAccount {
        /// The package.
        package: String,
        /// Why.
        message: String,
    },
}

impl ImageError {
    pub(crate) fn write(e: std::io::Error) -> Self {
        ImageError::Write(e)
    }
}
