//! OCI output: an image layout (`oci-layout`, `index.json`, `blobs/sha256/…`) written blob by
//! blob, and a docker-archive made from it that `docker load` and `podman load` accept.
//!
//! [`read`] opens an image again (a layout or a docker-archive) to list what it holds;
//! [`engine`] saves one from Docker's or podman's store to read it the same way.
//!
//! Layers are compressed on every core ([`gzip`]) while being hashed twice — the
//! uncompressed stream for the `diff_id`, the compressed one for the blob digest — so a layer
//! goes from the assembler to its blob file in one pass. Every blob is written to a
//! temporary file and renamed into place under its digest. JSON documents are serialised from
//! structs with a fixed field order and maps sorted by key, so equal inputs give equal bytes.

pub mod archive;
pub mod digest;
pub mod engine;
pub mod gzip;
pub mod image;
pub mod read;

pub use archive::write_docker_archive;
pub use digest::{BadDigest, Digest};
pub use image::{
    Below, BlobRef, ImageConfig, LayerBlob, LayerCompression, LayerWriter, Layout, NewImage,
    Platform,
};
pub use read::{FileEntry, ImageReader, LayerStream, Tree};

use std::path::PathBuf;

/// Why OCI output failed.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// File system trouble.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The layout on disk is not what was expected.
    #[error("{0}")]
    Layout(String),
    /// A digest that is not one.
    #[error(transparent)]
    Digest(#[from] BadDigest),
}

impl OciError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| OciError::Io { path, source }
    }
}
