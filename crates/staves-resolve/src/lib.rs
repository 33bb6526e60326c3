//! The resolver and the lockfile: from requested names to the exact set of Debian packages
//! apt would install on an empty system, pinned so later builds repeat it.
//!
//! * [`universe`]: the packages of every synced repository, parsed on first lookup.
//! * [`resolver`]: apt's marking algorithm, with readable explanations when it fails.
//! * [`lockfile`]: `staves.lock`, versioned, sorted, stale when the spec's inputs change.
//! * [`why`]: the dependency chain that brought a package in, and what it costs.

pub mod error;
pub mod lockfile;
mod marked;
pub mod resolver;
mod task;
pub mod universe;
pub mod why;

pub use error::{Failure, ResolveError};
pub use lockfile::{LockChange, LockedPackage, LockedRepository, LockedTarget, Lockfile, changes};
pub use resolver::{BASE_FILES, Origin, Request, Resolution, Task, USR_IS_MERGED, resolve};
pub use universe::{INSTALLED, MultiArch, Package, PackageRef, Universe, installed_from_status};
