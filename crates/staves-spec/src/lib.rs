//! The `staves.toml` spec: what an image holds, read into typed values that keep their
//! position in the file, so every later error can point at the line and column to fix.
//!
//! ```toml
//! name = "nginx"
//! packages = ["nginx", "curl (>= 7.88)", "bash=5.2.15-2+b2"]
//! command = ["nginx", "-g", "daemon off;"]
//!
//! [[repositories]]
//! name = "debian"
//! uri = "http://deb.example/debian"
//! suite = "bookworm"
//! components = ["main"]
//! keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
//!
//! ['nginx']
//! recommends = false
//! ```
//!
//! Top-level tables whose name is not a known key are per-package tables, as in the original
//! Staves.

pub mod env;
mod error;
mod hints;
mod raw;
pub mod recipe;
pub mod request;
pub mod services;
pub mod sources;
mod validate;

pub use raw::MAX_LAYERS;
pub(crate) use raw::{KNOWN_KEYS, RawSpec, top_level_key_span};

/// The content classes `use` turns on and off (what each holds is image assembly's
/// business: `staves_image::features`).
pub const USE_FLAGS: &[&str] = &[
    "doc",
    "man",
    "info",
    "nls",
    "gconv",
    "lintian",
    "bash-completion",
    "static",
];

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

pub use env::BuildEnv;
pub use error::{Diagnostic, SpecError, line_column};
pub use request::{PackageRequest, parse_request};
pub use services::{LogPrefix, Millis, Process, ReadySpec, Restart, ServiceSpec, TaskSpec};

/// A repository declared in the spec.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepositorySpec {
    /// Short name, recorded in the lockfile.
    pub name: Spanned<String>,
    /// Archive root URI.
    pub uri: Spanned<String>,
    /// Suite or codename.
    pub suite: Spanned<String>,
    /// Components; `["main"]` when omitted.
    #[serde(default)]
    pub components: Vec<Spanned<String>>,
    /// Path of the OpenPGP keyring (binary or armored), relative to the spec's directory.
    pub keyring: Option<Spanned<String>>,
    /// Accept this repository without signature or expiry checks.
    #[serde(default)]
    pub trusted: bool,
    /// A PEM file of the authority that signed the repository's HTTPS certificate,
    /// relative to the spec's directory (trusted besides the system's store).
    #[serde(rename = "ca-cert")]
    pub ca_cert: Option<Spanned<String>>,
    /// apt's `Pin-Priority` for the whole repository (default: 500, or what its release
    /// says: 1 for `NotAutomatic`, 100 with `ButAutomaticUpgrades`).
    pub priority: Option<Spanned<i64>>,
    /// A snapshot archive of this repository (`http://…/archive/debian`, laid out as
    /// `<snapshot>/<YYYYMMDDTHHMMSSZ>/<Filename>`): where a locked `.deb` the repository
    /// no longer serves is fetched from, at the time the lock read the repository.
    pub snapshot: Option<Spanned<String>>,
}

/// Options for one package, from a `['name']` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PackageOptions {
    /// Pin this package's version (`"1.22.1-9"`) or constrain it (`">= 1.22"`).
    pub version: Option<Spanned<String>>,
    /// Follow this package's Recommends (overrides the global setting for it).
    pub recommends: Option<bool>,
    /// Feature toggles for this package's content (applied when the image is built).
    #[serde(default, rename = "use")]
    pub use_flags: Vec<Spanned<String>>,
    /// Build this package (and the others of its source package) from Debian source.
    #[serde(default)]
    pub source: bool,
    /// Named environments (`[env.NAME]`) its source build gets, after `[env]`'s plain keys.
    #[serde(default)]
    pub env: Vec<Spanned<String>>,
    /// Take this package from this release (a suite or codename), as `name/release` does.
    pub suite: Option<Spanned<String>>,
}

/// An account from `[[accounts]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSpec {
    /// User name.
    pub name: Spanned<String>,
    /// User id (next free from 1000 when absent).
    pub uid: Option<u32>,
    /// Primary group name (a group named like the user when absent).
    pub group: Option<String>,
    /// Primary group id when the group is created.
    pub gid: Option<u32>,
    /// Home directory.
    pub home: Option<String>,
    /// Login shell.
    pub shell: Option<String>,
    /// Supplementary groups.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// A path from `[[paths]]`: a directory, a file (inline `content` or local `source`) or a
/// symlink (`target`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathSpec {
    /// Absolute path in the image.
    pub path: Spanned<String>,
    /// `dir`, `file` or `symlink`; inferred from the other keys when absent.
    #[serde(rename = "type")]
    pub kind: Option<Spanned<String>>,
    /// Octal mode as a string (`"0755"`).
    pub mode: Option<Spanned<String>>,
    /// Owner (user name).
    pub owner: Option<Spanned<String>>,
    /// File content.
    pub content: Option<String>,
    /// Local file whose content is copied, relative to the spec.
    pub source: Option<Spanned<String>>,
    /// Symlink target.
    pub target: Option<String>,
}

/// Repository names the lockfile gives packages built from source and local `.deb`s.
pub const RESERVED_REPOSITORIES: &[&str] = &["built", "debs"];

/// The largest spec read: real ones are a few KB.
pub const MAX_SPEC: u64 = 1 << 20;

/// What `base = …` names: another spec, an OCI image layout, a registry image, or an
/// image in an engine's store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseRef {
    /// A path (relative to the spec's directory): a directory holding a `staves.toml` or
    /// an OCI image layout, or a spec file.
    Path(String),
    /// `registry/repository@sha256:…`: an image pinned by digest.
    Registry {
        /// Everything before `@`.
        name: String,
        /// The manifest (or index) digest.
        digest: String,
    },
    /// `docker:NAME[:TAG]` or `podman:NAME[:TAG]`: an image in an engine's local store
    /// (one loaded with `--load`, say). A tag there can move: the image built records the
    /// base's digest, and an image built on another base is another image.
    Engine {
        /// `docker` or `podman`.
        engine: String,
        /// The image's name in the store.
        name: String,
    },
}

impl BaseRef {
    /// Reads `base = …`: a path starts with `.` or `/`; anything else is a registry
    /// reference, which must be pinned by digest.
    pub fn parse(text: &str) -> Result<BaseRef, (String, String)> {
        if text.starts_with('.') || text.starts_with('/') {
            return Ok(BaseRef::Path(text.to_owned()));
        }
        for engine in ["docker", "podman"] {
            if let Some(name) = text
                .strip_prefix(engine)
                .and_then(|rest| rest.strip_prefix(':'))
            {
                if name.is_empty() || name.starts_with('-') || name.contains(char::is_whitespace) {
                    return Err((
                        format!("`{text}` names no image"),
                        format!("write `{engine}:NAME[:TAG]`, as `{engine} images` lists it"),
                    ));
                }
                return Ok(BaseRef::Engine {
                    engine: engine.to_owned(),
                    name: name.to_owned(),
                });
            }
        }
        let Some((name, digest)) = text.split_once('@') else {
            return Err((
                format!("`{text}` is not pinned by digest"),
                "write a registry image as `registry/name@sha256:<64 hex digits>` (a tag can move under the lock), or a path as `./dir`".into(),
            ));
        };
        let hex = digest.strip_prefix("sha256:").unwrap_or_default();
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err((
                format!("`{digest}` is not a sha256 digest"),
                "a digest is `sha256:` and 64 lowercase hex digits".into(),
            ));
        }
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err((
                format!("`{text}` names no image"),
                "write `registry/name@sha256:…`".into(),
            ));
        }
        Ok(BaseRef::Registry {
            name: name.to_owned(),
            digest: digest.to_owned(),
        })
    }
}

/// A parsed spec.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Image name.
    pub name: Spanned<String>,
    /// Requested packages, in apt syntax.
    pub packages: Vec<PackageRequest>,
    /// The entrypoint.
    pub command: Vec<String>,
    /// Target architecture; the host's when absent.
    pub arch: Option<Spanned<String>>,
    /// Several target architectures (`archs = ["amd64", "arm64"]`): one image per
    /// architecture, published as an image index. Exclusive with `arch`.
    pub archs: Vec<Spanned<String>>,
    /// Follow Recommends for every package.
    pub recommends: bool,
    /// Packages kept out even when something depends on them.
    pub exclude: Vec<Spanned<String>>,
    /// Global feature toggles (applied when the image is built).
    pub use_flags: Vec<Spanned<String>>,
    /// Repositories; the host's apt sources when empty.
    pub repositories: Vec<RepositorySpec>,
    /// Per-package tables.
    pub package_options: BTreeMap<String, Spanned<PackageOptions>>,
    /// Image tag (`latest` when absent).
    pub tag: Option<String>,
    /// Default arguments to `command`.
    pub cmd: Vec<String>,
    /// Environment variables.
    pub environment: BTreeMap<String, String>,
    /// Working directory.
    pub workdir: Option<String>,
    /// User to run as (name or uid, optionally `:group`).
    pub user: Option<Spanned<String>>,
    /// Exposed ports (`"80"`, `"53/udp"`).
    pub ports: Vec<Spanned<String>>,
    /// Volumes.
    pub volumes: Vec<String>,
    /// Image config labels.
    pub labels: BTreeMap<String, String>,
    /// Manifest annotations.
    pub annotations: BTreeMap<String, String>,
    /// Stop signal (`SIGTERM`).
    pub stop_signal: Option<String>,
    /// Accounts.
    pub accounts: Vec<AccountSpec>,
    /// Extra paths.
    pub paths: Vec<PathSpec>,
    /// The image this one is built on, where it says so.
    pub base: Option<Spanned<BaseRef>>,
    /// The most layers the image's packages are split over, the generated files' layer
    /// included (`1`: one layer, the default).
    pub layers: usize,
    /// Processes run under s6 as PID 1 (`[services.NAME]`); the entrypoint when any.
    pub services: BTreeMap<String, Spanned<ServiceSpec>>,
    /// One-shot commands run at container start before the services after them.
    pub tasks: BTreeMap<String, Spanned<TaskSpec>>,
    /// Run `command` under a minimal PID 1 that forwards signals and reaps orphans.
    pub init: bool,
    /// The environment of source builds (`[env]`).
    pub env: BuildEnv,
    /// Recipe files (relative to the spec) whose packages join the resolution.
    pub recipes: Vec<Spanned<String>>,
    /// Local `.deb` files and directories of them (relative to the spec) that join the
    /// resolution.
    pub debs: Vec<Spanned<String>>,
    /// Also build the debug variant, `TAG-debug` (as `staves build --debug`).
    pub debug: bool,
    /// What the debug variant adds on top (Debian's static busybox when empty).
    pub debug_packages: Vec<PackageRequest>,
    /// Where the spec was read from.
    pub path: PathBuf,
    /// Its text, for diagnostics and the lockfile's fingerprint.
    pub source: String,
}

impl Spec {
    /// Reads and validates the spec at `path`.
    pub fn load(path: &Path) -> Result<Spec, SpecError> {
        let io = |source: std::io::Error| SpecError::Io {
            path: path.to_owned(),
            source,
        };
        let bytes = staves_fs::read_regular(path, MAX_SPEC).map_err(io)?;
        let source = String::from_utf8(bytes).map_err(|e| {
            io(std::io::Error::other(format!(
                "not UTF-8 text (byte {} is not); a spec is a TOML file",
                e.utf8_error().valid_up_to()
            )))
        })?;
        Spec::parse(&source, path)
    }

    /// Checks every `[[paths]]` `source` before anything is fetched: it must exist, be a
    /// regular file of at most [`sources::MAX_SOURCE`] bytes, and — symlinks followed — lie
    /// inside `context` (the spec's directory unless the user names another).
    pub fn check_sources(&self, context: &Path) -> Result<(), SpecError> {
        for p in &self.paths {
            let Some(source) = &p.source else { continue };
            let file = self.base_dir().join(source.get_ref());
            sources::check(&file, context).map_err(|(message, help)| {
                SpecError::Invalid(Box::new(Diagnostic::new(
                    &self.path,
                    &self.source,
                    source.span(),
                    message,
                    Some(help),
                )))
            })?;
        }
        Ok(())
    }

    /// Checks that each recipe, and the `source` directory it builds, lies inside `context`
    /// (symlinks followed): a spec from elsewhere must not copy the builder's own files into
    /// a package. Files inside are checked as `[[paths]]` trees are (regular, bounded).
    pub fn check_recipe_sources(
        &self,
        recipes: &[recipe::Recipe],
        context: &Path,
    ) -> Result<(), SpecError> {
        for recipe in recipes {
            let entry = self
                .recipes
                .iter()
                .find(|e| self.base_dir().join(e.get_ref()) == recipe.path);
            if let Some(entry) = entry {
                sources::check(&recipe.path, context).map_err(|(message, help)| {
                    SpecError::Invalid(Box::new(self.diagnostic(entry.span(), message, Some(help))))
                })?;
            }
            let (Some(source), Some(dir)) = (&recipe.source, recipe.source_dir()) else {
                continue;
            };
            sources::check(&dir, context).map_err(|(message, help)| {
                SpecError::Invalid(Box::new(Diagnostic::new(
                    &recipe.path,
                    &recipe.text,
                    source.span(),
                    message,
                    Some(help),
                )))
            })?;
        }
        Ok(())
    }

    /// Reads the recipes the spec lists; a file that cannot be read is pointed at in the
    /// spec, a mistake inside one in the recipe. A package table with `env` must name a
    /// package built from source or by a recipe.
    pub fn load_recipes(&self) -> Result<Vec<recipe::Recipe>, SpecError> {
        let mut recipes: Vec<recipe::Recipe> = Vec::new();
        for entry in &self.recipes {
            let path = self.base_dir().join(entry.get_ref());
            let recipe = recipe::Recipe::load(&path).map_err(|e| match e {
                SpecError::Io { source, .. } => SpecError::Invalid(Box::new(Diagnostic::new(
                    &self.path,
                    &self.source,
                    entry.span(),
                    format!("recipe `{}`: {source}", path.display()),
                    Some("`recipes` lists TOML files relative to the spec".into()),
                ))),
                other => other,
            })?;
            if recipes
                .iter()
                .any(|r| r.name.get_ref() == recipe.name.get_ref())
            {
                return Err(SpecError::Invalid(Box::new(self.diagnostic(
                    entry.span(),
                    format!("two recipes make `{}`", recipe.name.get_ref()),
                    Some("each recipe makes its own package".into()),
                ))));
            }
            recipes.push(recipe);
        }
        let names: Vec<&str> = recipes.iter().map(|r| r.name.get_ref().as_str()).collect();
        self.check_env_targets(&names)?;
        Ok(recipes)
    }

    /// Packages the spec builds from source (`source = true`), by name.
    pub fn source_builds(&self) -> Vec<&str> {
        self.package_options
            .iter()
            .filter(|(_, o)| o.get_ref().source)
            .map(|(name, _)| name.as_str())
            .collect()
    }

    /// The variables `package`'s source build gets, in the order they apply: `[env]`'s
    /// plain keys, then each named environment it lists. A later value may refer to an
    /// earlier one (or to the build's default) as `${NAME}`.
    pub fn env_for(&self, package: &str) -> Vec<(&str, &str)> {
        let mut out: Vec<(&str, &str)> = self
            .env
            .default
            .iter()
            .map(|(k, v)| (k.as_str(), v.get_ref().as_str()))
            .collect();
        let named = self
            .package_options
            .get(package)
            .map(|o| o.get_ref().env.as_slice())
            .unwrap_or_default();
        for name in named {
            if let Some(table) = self.env.named.get(name.get_ref()) {
                out.extend(
                    table
                        .get_ref()
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.get_ref().as_str())),
                );
            }
        }
        out
    }

    /// The directory relative paths in the spec are resolved against.
    pub fn base_dir(&self) -> &Path {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        }
    }

    /// Where top-level `key` is written (the start of the spec when it is not).
    pub fn key_span(&self, key: &str) -> Range<usize> {
        top_level_key_span(&self.source, key)
    }

    /// A diagnostic pointing at `span` of this spec.
    pub fn diagnostic(
        &self,
        span: Range<usize>,
        message: String,
        help: Option<String>,
    ) -> Diagnostic {
        Diagnostic::new(&self.path, &self.source, span, message, help)
    }
}
