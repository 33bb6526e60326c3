//! A directory, file or link the spec, or the service scripts made from it, adds to an image
//! besides its packages.

/// Something the spec adds to the image besides packages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtraPath {
    /// A directory.
    Dir {
        /// Absolute path.
        path: String,
        /// Mode.
        mode: u32,
        /// Owner (user name).
        owner: Option<String>,
    },
    /// A file with inline content or the content of a local file.
    File {
        /// Absolute path.
        path: String,
        /// Mode.
        mode: u32,
        /// Owner (user name).
        owner: Option<String>,
        /// Content.
        content: Vec<u8>,
    },
    /// A symlink.
    Symlink {
        /// Absolute path.
        path: String,
        /// Target.
        target: String,
    },
}
