//! Language packages a recipe builds with, fetched before its sandbox — where the build has
//! no network — and content-addressed like every other input:
//!
//! * [`requirements`]: a pip requirements file in hash-checking mode (every requirement
//!   `name==version` with its `--hash=sha256:…`), read with the place of every problem;
//! * [`pypi`]: each requirement's files found on a PEP 691 (JSON) simple index, only those
//!   whose SHA-256 the file lists, downloaded through the one network layer and kept in the
//!   cache under their hash, so that every recipe and image shares them and `--offline`
//!   needs nothing else;
//! * [`wheel`]: the libraries a manylinux wheel bundles, refused unless allowed;
//! * [`cargo`]: the crates a `Cargo.lock` pins, by its checksums, from a registry's download
//!   template, and the cargo configuration that vendors them for an offline build.

pub mod cargo;
mod error;
pub mod pypi;
pub mod requirements;
pub mod wheel;

pub use error::LangError;

/// A lock or requirements file's text, read bounded (bytes that are not UTF-8 replaced: the
/// parsers point at what they cannot read).
fn read_text(path: &std::path::Path, limit: u64) -> Result<String, LangError> {
    let bytes = staves_fs::read_regular(path, limit).map_err(|source| LangError::Io {
        path: path.to_owned(),
        source,
    })?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// One fetched file, in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The file's name as its tool reads it (`six-1.16.0-py2.py3-none-any.whl`,
    /// `itoa-1.0.11.crate`).
    pub filename: String,
    /// Its SHA-256.
    pub sha256: String,
    /// Where the cache keeps it.
    pub path: std::path::PathBuf,
}
