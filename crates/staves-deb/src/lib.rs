//! Debian's own formats, parsed exactly and without any I/O beyond reading files handed in.
//!
//! * [`version`]: package versions ordered as `dpkg --compare-versions` orders them.
//! * [`deb822`]: zero-copy paragraphs of control files, `Packages` and `Release` indices.
//! * [`relation`]: `Depends`-style fields: alternatives, version constraints, arch qualifiers.
//! * [`sources`]: the host's apt sources, deb822 `*.sources` and one-line `sources.list`.
//! * [`date`]: the RFC 2822 dates of release files, read and written.
//! * [`release`]: `Release` files, parsed and written.
//! * [`arch`]: Debian architecture names and the host's own.
//! * [`source`]: source packages: their files and build relationships, reduced.
//! * [`deb`]: `.deb` files: control files read up front, contents as a decompressing stream.
//! * [`write`]: `.deb` files written reproducibly, as `dpkg-deb --build --root-owner-group`.
//!
//! Nothing here touches the network; every other Staves crate builds on these types.

pub mod arch;
pub mod archive_path;
pub mod date;
pub mod deb;
pub mod deb822;
pub mod packages;
pub mod relation;
pub mod release;
pub mod source;
pub mod sources;
pub mod tar_guard;
pub mod version;
pub mod write;

pub use relation::{Dependency, Relation, RelationError, VersionOp};
pub use version::{Version, VersionError};

/// Whether `name` is a Debian package name: lowercase letters, digits, `+`, `-` and `.`,
/// at least two characters, starting with a letter or digit (Debian Policy 5.6.1).
pub fn is_package_name(name: &str) -> bool {
    name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
}
