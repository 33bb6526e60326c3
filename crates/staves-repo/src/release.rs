//! The `Release` file: a suite's metadata and the signed checksums of every index in it
//! (the format itself is `staves-deb`'s, shared with the archive that writes it).

pub use staves_deb::release::{FileEntry, Release, ReleaseError, parse_rfc2822};
