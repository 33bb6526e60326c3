//! The `Release` file of a suite as the archive writes it (the format is `staves-deb`'s,
//! the same the client parses).

pub use staves_deb::release::{ReleaseWriter as Release, http_date};
