//! What assembly is given and what it gives back: the packages, the spec's options (features,
//! accounts, extra paths, layering), the generated files and the summary of what was built.

use std::path::PathBuf;

pub use staves_types::ExtraPath;

use crate::accounts::Accounts;
use crate::dpkg::PackageFacts;
use crate::features::Features;

/// A package to install: its identity and its verified `.deb`.
#[derive(Debug, Clone)]
pub struct PackageInput {
    /// Package name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Architecture.
    pub arch: String,
    /// The cached `.deb`, already checked against `sha256`.
    pub deb: PathBuf,
    /// The `.deb`'s SHA-256 (lower-case hex), as the signed index gives it.
    pub sha256: String,
    /// Where a zstd copy of the decompressed data archive is kept between builds (a cache
    /// entry), or `None` to always decompress the `.deb`.
    pub unpacked: Option<PathBuf>,
    /// The spec's own software (built from source, by a recipe, or a local `.deb`): in a
    /// split image it goes to the top layer with the spec's paths, which change together.
    pub own: bool,
}

/// How to assemble.
#[derive(Debug, Clone)]
pub struct Options {
    /// Content classes kept.
    pub features: Features,
    /// Accounts written to `/etc/passwd` and friends.
    pub accounts: Accounts,
    /// Every timestamp is clamped to this (seconds since the epoch); `None` takes the newest
    /// package's build time, so the date comes from the inputs, never from the clock.
    pub mtime: Option<u64>,
    /// Additional paths from the spec.
    pub extra_paths: Vec<ExtraPath>,
    /// Files rendered from what was installed, once every package is in (an SBOM).
    pub generated: Vec<GeneratedFile>,
    /// Where temporaries of kept decoded copies are written (on their file system).
    pub temp_dir: Option<PathBuf>,
    /// Volume paths: made to exist, owned by `user`, unless `extra_paths` declares them.
    pub volumes: Vec<String>,
    /// The user the image runs as (`name`, `uid`, `name:group`, `uid:gid`).
    pub user: Option<String>,
    /// Also keep each package's `shlibs`, `symbols` and `triggers` in the dpkg database,
    /// as dpkg does: a build root needs them (`dpkg-shlibdeps`), a runtime image not.
    pub build_info: bool,
    /// The image this layer goes on (a base image): its paths are taken, its packages are
    /// listed first in the layer's status file, and its shells, certificates and
    /// alternatives are merged with the new ones. `accounts` must start from its accounts.
    pub base: Option<std::sync::Arc<crate::Base>>,
    /// Programs the image is to run (its command, its services' and tasks'): each one
    /// missing from the finished image is listed in [`Summary::missing_programs`].
    pub programs: Vec<Program>,
}

/// A program the image runs, and the paths it may be at: its own when it names one, else
/// one in each directory of `PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// As the spec writes it.
    pub name: String,
    /// Absolute paths; the program is there when any of them exists.
    pub candidates: Vec<String>,
}

/// What one layer of a split image holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayerContents {
    /// The source packages whose packages it holds (none: the generated files).
    pub sources: Vec<String>,
    /// Those packages, in install order.
    pub packages: Vec<String>,
    /// What this layer holds besides packages.
    pub holds: LayerRole,
}

/// What a layer of a split image holds besides packages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LayerRole {
    /// Packages only.
    #[default]
    Packages,
    /// The files generated from every package: dpkg database, accounts, the SBOM.
    Generated,
    /// The spec's own: its paths, volumes and services, and its own packages.
    Own,
}

/// A file whose content depends on the installed packages, written last.
#[derive(Clone)]
pub struct GeneratedFile {
    /// Path in the image (`var/lib/…`).
    pub path: String,
    /// Renders the content from the installed packages (in install order) and the image's
    /// date.
    pub render: Render,
}

/// Renders a generated file from the installed packages and the image's date.
pub type Render = std::sync::Arc<dyn Fn(&[PackageFacts], u64) -> Vec<u8> + Send + Sync>;

impl std::fmt::Debug for GeneratedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Figures about the assembled layer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Tar entries written.
    pub entries: usize,
    /// Bytes of file content.
    pub content_bytes: u64,
    /// Files left out by feature toggles.
    pub filtered: usize,
    /// Alternatives set up.
    pub alternatives: usize,
    /// The date every timestamp was clamped to.
    pub mtime: u64,
    /// The installed packages, in install order.
    pub packages: Vec<PackageFacts>,
    /// Paths files need at run time that the image lacks (an interpreter, `/bin/sh`).
    pub unmet: Vec<crate::needs::Unmet>,
    /// Shared libraries the spec's own programs need that the image lacks.
    pub missing_libraries: Vec<crate::libraries::MissingLibrary>,
    /// With several layers: what each one written holds, bottom first (the last is the
    /// generated files'). Writers past these were given nothing.
    pub layers: Vec<LayerContents>,
    /// What each package's `postinst` did that Staves does not reproduce.
    pub scripts: Vec<crate::plan::ScriptReport>,
    /// The user names of the image's `/etc/passwd`.
    pub users: Vec<String>,
    /// The group names of its `/etc/group`.
    pub groups: Vec<String>,
    /// Indexes into [`Options::programs`] of the programs the image does not hold.
    pub missing_programs: Vec<usize>,
}
