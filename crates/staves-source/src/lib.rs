//! Packages built from Debian source, the way the spec asks.
//!
//! For a binary package marked `source = true`: its source package is found through the
//! repository's `Sources` index (verified through the signed release like every index),
//! the `.dsc` and its files are fetched and checked by size and SHA-256, the build
//! dependencies are reduced for the architecture and build profiles and resolved as
//! `apt-get build-dep` would, and the build root is assembled from those packages by
//! Staves' own assembler into a directory. `dpkg-buildpackage -b` then runs inside
//! bubblewrap: its own user, network, PID and mount namespaces, the build root read-only,
//! the build directory the only writable place. The binary packages it makes are cached
//! under a key of everything that went in, so an unchanged rebuild does no work.
//!
//! Recipes build your own software the same way, from a source directory and the shell
//! steps they give.
//!
//! * [`locate`]: from a binary package to its verified source package.
//! * [`env`]: the spec's `[env]` turned into Debian's build variables.
//! * [`root`]: build roots, resolved and assembled, cached by their package set.
//! * [`sandbox`]: the bubblewrap invocation and its streamed log.
//! * [`shlibdeps`]: `Depends` from the ELF files of a package, as `dpkg-shlibdeps` derives it.
//! * recipes (`Builder::build_recipe`): your own software built by its recipe's steps in the
//!   same sandbox, and what it installed written as `.deb`s with derived `Depends`.
//! * [`store`]: built packages in the cache, written whole or not at all.

mod accounts;
mod build;
mod build_cache;
pub mod env;
mod error;
pub mod limits;
pub mod locate;
mod package;
mod recipe;
pub mod root;
pub mod sandbox;
pub mod shlibdeps;
pub mod store;
mod tree;

pub use build::{Builder, SourceRequest};
pub use env::BuildEnvironment;
pub use error::SourceError;
pub use limits::BuildLimits;
pub use locate::SourcePackage;
pub use recipe::source_digest;
pub use store::{Built, BuiltDeb};

/// Where a source build tells its caller what happens.
pub trait BuildReporter: Send + Sync {
    /// A status line (`Building`, `Reused`, …).
    fn status(&self, verb: &str, message: &str);
    /// One line of a build's log, as it is written.
    fn log_line(&self, package: &str, line: &str);
}

/// A reporter that drops everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct Quiet;

impl BuildReporter for Quiet {
    fn status(&self, _verb: &str, _message: &str) {}
    fn log_line(&self, _package: &str, _line: &str) {}
}
