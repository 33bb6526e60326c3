//! What the resolver is asked (a [`Task`]: requests, exclusions, pins, the installed set, the
//! locked versions) and what it answers (a [`Resolution`] with each package's [`Origin`]).

use std::collections::{HashMap, HashSet};

use staves_deb::{Version, VersionOp};

use crate::universe::PackageRef;

/// One requested package.
#[derive(Debug, Clone)]
pub struct Request {
    /// Package name (or a virtual name with a single provider).
    pub name: String,
    /// Architecture qualifier; the native architecture when absent.
    pub arch: Option<String>,
    /// Version pin or constraint.
    pub constraint: Option<(VersionOp, Version)>,
}

/// What to resolve.
#[derive(Debug, Clone, Default)]
pub struct Task {
    /// Requested packages, in order.
    pub requests: Vec<Request>,
    /// Names kept out: dependencies on them count as met.
    pub exclude: HashSet<String>,
    /// Follow Recommends of every package.
    pub recommends: bool,
    /// Per-package override of `recommends` (for that package's own Recommends).
    pub recommends_for: HashMap<String, bool>,
    /// Per-package version pins from the spec.
    pub pins: HashMap<String, (VersionOp, Version)>,
    /// Packages taken from a named release (apt's `name/release`): that release's version
    /// is the candidate; its dependencies keep their own candidates unless only another
    /// version satisfies them. The release is a repository's suite or its release's suite
    /// or codename.
    pub releases: HashMap<String, String>,
    /// The target system is merged-/usr: `usr-is-merged` meets `usrmerge | usr-is-merged`.
    pub merged_usr: bool,
    /// Packages every image gets although nobody asked (`base-files`), marked after the
    /// requests; each only where a repository has it.
    pub implied: Vec<Request>,
    /// Packages already installed (a base image's): they satisfy whatever they satisfy, as
    /// apt keeps an installed version, and are not part of the resolution. Another version
    /// of one of them is never chosen.
    pub installed: Vec<PackageRef>,
    /// `(name, architecture)` → version to prefer as the candidate when the repositories
    /// still have it (the lockfile's), so that re-resolving changes only what must change.
    pub locked: HashMap<(String, String), Version>,
}

/// The package every Debian system has its skeleton from: `/etc/os-release`, `/tmp`, `/run`
/// and `/var/run`, `/etc/debian_version`. Essential, so nothing declares a dependency on it.
pub const BASE_FILES: &str = "base-files";

/// The marker package that says a system's /usr is merged.
pub const USR_IS_MERGED: &str = "usr-is-merged";

/// Why a package is in the resolution.
#[derive(Debug, Clone)]
pub enum Origin {
    /// The spec's request of this index asked for it.
    Requested(usize),
    /// [`Task::implied`] of this index added it.
    Implied(usize),
    /// It is installed already ([`Task::installed`]).
    Installed,
    /// It was chosen for one dependency group of `by`.
    Dependency {
        /// The package whose dependency it meets.
        by: PackageRef,
        /// The dependency group as written (`usrmerge | usr-is-merged`).
        group: String,
        /// The group is a Recommends, not a Depends.
        recommended: bool,
    },
}

/// The chosen set.
#[derive(Debug)]
pub struct Resolution {
    /// Chosen packages, sorted by name and architecture.
    pub packages: Vec<PackageRef>,
    /// Why each package is there, in the order of `packages`.
    pub origins: Vec<Origin>,
    /// `(excluded name, package that depended on it)`, for the build output.
    pub excluded: Vec<(String, String)>,
}
