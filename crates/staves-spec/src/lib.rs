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
pub mod recipe;
pub mod request;
pub mod services;
pub mod sources;

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
];

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
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
    pub owner: Option<String>,
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

fn check_account(account: &AccountSpec) -> Result<(), String> {
    let name = account.name.get_ref();
    let fields = [
        ("name", Some(name.as_str())),
        ("group", account.group.as_deref()),
        ("home", account.home.as_deref()),
        ("shell", account.shell.as_deref()),
    ];
    let groups = account.groups.iter().map(|g| ("groups", Some(g.as_str())));
    for (key, value) in fields.into_iter().chain(groups) {
        let Some(value) = value else { continue };
        if value.chars().any(|c| c.is_control() || c == ':')
            || (key != "home" && key != "shell" && value.contains(','))
        {
            return Err(format!(
                "account `{}`: `{key}` = \"{}\" holds a control character, `:` or `,`",
                name.escape_debug(),
                value.escape_debug()
            ));
        }
    }
    Ok(())
}

fn check_tag(tag: &str) -> Result<(), String> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && !tag.starts_with(['.', '-'])
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!("`{}` is not an image tag", tag.escape_debug()))
    }
}

/// What `base = …` names: another spec, an OCI image layout, or a registry image.
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
}

impl BaseRef {
    /// Reads `base = …`: a path starts with `.` or `/`; anything else is a registry
    /// reference, which must be pinned by digest.
    pub fn parse(text: &str) -> Result<BaseRef, (String, String)> {
        if text.starts_with('.') || text.starts_with('/') {
            return Ok(BaseRef::Path(text.to_owned()));
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

    /// Parses and validates spec text; `path` is used for messages and relative paths.
    pub fn parse(source: &str, path: &Path) -> Result<Spec, SpecError> {
        let diag = |span: Range<usize>, message: String, help: Option<String>| {
            SpecError::Invalid(Box::new(Diagnostic::new(path, source, span, message, help)))
        };
        let raw: RawSpec = toml::from_str(source).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let (message, help) = hints::explain(source, &span, e.message());
            diag(span, message, help)
        })?;
        if let Some(key) = raw.unknown.first() {
            return Err(diag(
                key.span(),
                format!("unknown key `{}`", key.get_ref()),
                Some(format!(
                    "known keys are: {}; a table (`['{}']`) sets options for one package",
                    KNOWN_KEYS.join(", "),
                    key.get_ref()
                )),
            ));
        }
        let name = raw.name.ok_or_else(|| {
            diag(
                0..0,
                "missing key `name`".into(),
                Some("add `name = \"my-image\"` at the top".into()),
            )
        })?;
        if name.get_ref().trim().is_empty() {
            return Err(diag(name.span(), "`name` is empty".into(), None));
        }
        let packages_key = raw.packages.as_ref().map_or(0..0, |p| p.span());
        let mut packages = Vec::new();
        for entry in raw.packages.map(Spanned::into_inner).unwrap_or_default() {
            let request = parse_request(entry.get_ref()).map_err(|message| {
                diag(
                    entry.span(),
                    message,
                    Some("write `name`, `name=version`, `name (>= version)` or `name:arch`".into()),
                )
            })?;
            packages.push(request.with_span(entry.span()));
        }
        // An image on a base may add only files and configuration.
        if packages.is_empty() && raw.base.is_none() {
            return Err(diag(
                packages_key,
                "the spec requests no packages".into(),
                Some("name at least one: `packages = [\"bash\"]`".into()),
            ));
        }
        // `[enviroment]` parses as the options of a package named so; unless that package
        // is requested, it is a misspelt key.
        for (name, options) in &raw.package_options {
            if let Some(known) = hints::similar_key(name)
                && !packages.iter().any(|p| &p.name == name)
            {
                return Err(diag(
                    options.span(),
                    format!("`[{name}]` is not a key of the spec, nor a requested package"),
                    Some(format!("did you mean `[{known}]`?")),
                ));
            }
        }
        let archs = raw.archs.unwrap_or_default();
        for arch in raw.arch.iter().chain(&archs) {
            if !staves_deb::arch::is_valid(arch.get_ref()) || arch.get_ref() == "all" {
                return Err(diag(
                    arch.span(),
                    format!("`{}` is not a Debian architecture name", arch.get_ref()),
                    Some("for example \"amd64\" or \"arm64\"".into()),
                ));
            }
        }
        if let (Some(arch), false) = (&raw.arch, archs.is_empty()) {
            return Err(diag(
                arch.span(),
                "`arch` and `archs` are both given".into(),
                Some("keep one: `archs = [\"amd64\", \"arm64\"]` lists several".into()),
            ));
        }
        for (i, arch) in archs.iter().enumerate() {
            if archs[..i].iter().any(|a| a.get_ref() == arch.get_ref()) {
                return Err(diag(
                    arch.span(),
                    format!("`{}` is listed twice", arch.get_ref()),
                    None,
                ));
            }
        }
        for (name, options) in &raw.package_options {
            if let Some(version) = &options.get_ref().version {
                request::parse_version_pin(version.get_ref())
                    .map_err(|m| diag(version.span(), format!("package `{name}`: {m}"), None))?;
            }
        }
        let repositories = raw.repositories.unwrap_or_default();
        for repo in &repositories {
            let uri = repo.uri.get_ref();
            if !(uri.starts_with("http://")
                || uri.starts_with("https://")
                || uri.starts_with("file:"))
            {
                return Err(diag(
                    repo.uri.span(),
                    format!("unsupported URI `{uri}`"),
                    Some("use an http://, https:// or file: URI".into()),
                ));
            }
            if RESERVED_REPOSITORIES.contains(&repo.name.get_ref().as_str()) {
                return Err(diag(
                    repo.name.span(),
                    format!(
                        "the repository name `{}` is Staves' own",
                        repo.name.get_ref()
                    ),
                    Some(format!(
                        "the lockfile names packages built from source `built` and local `.deb`s `debs`; choose another name than {}",
                        RESERVED_REPOSITORIES.join(" or ")
                    )),
                ));
            }
            if repo.keyring.is_none() && !repo.trusted {
                return Err(diag(
                    repo.name.span(),
                    format!("repository `{}` has no `keyring`", repo.name.get_ref()),
                    Some("set `keyring = \"/path/to/key.gpg\"` (binary or armored), or `trusted = true` to skip verification".into()),
                ));
            }
        }
        for port in raw.ports.iter().flatten() {
            let (number, proto) = port
                .get_ref()
                .split_once('/')
                .unwrap_or((port.get_ref(), "tcp"));
            if number.parse::<u16>().is_err() || !matches!(proto, "tcp" | "udp" | "sctp") {
                return Err(diag(
                    port.span(),
                    format!("`{}` is not a port", port.get_ref()),
                    Some("write \"80\", \"8080/tcp\" or \"53/udp\"".into()),
                ));
            }
        }
        for account in raw.accounts.iter().flatten() {
            check_account(account).map_err(|m| diag(account.name.span(), m, Some(
                "account fields become lines of /etc/passwd and /etc/group: no control characters, no `:`".into(),
            )))?;
        }
        if let Some(tag) = &raw.tag
            && let Err(m) = check_tag(tag.get_ref())
        {
            return Err(diag(
                tag.span(),
                m,
                Some("a tag is up to 128 of A-Z a-z 0-9 _ . -, not starting with . or -".into()),
            ));
        }
        for name in raw.environment.iter().flat_map(|e| e.keys()) {
            if name.is_empty() || name.contains('=') || name.chars().any(char::is_control) {
                let at = source
                    .find(name.as_str())
                    .map_or(0..0, |i| i..i + name.len());
                return Err(diag(
                    at,
                    format!(
                        "`{}` is not an environment variable name",
                        name.escape_debug()
                    ),
                    Some("a name holds no `=` and no control characters".into()),
                ));
            }
        }
        for p in raw.paths.iter().flatten() {
            if p.content.is_some() && p.source.is_some() {
                return Err(diag(
                    p.path.span(),
                    "`content` and `source` are both given".into(),
                    Some(
                        "keep one: `content` is the text itself, `source` a file beside the spec"
                            .into(),
                    ),
                ));
            }
            if !p.path.get_ref().starts_with('/') {
                return Err(diag(
                    p.path.span(),
                    "paths in the image must be absolute".into(),
                    None,
                ));
            }
            if let Some(mode) = &p.mode
                && u32::from_str_radix(mode.get_ref(), 8).map_or(true, |m| m > 0o7777)
            {
                return Err(diag(
                    mode.span(),
                    format!("`{}` is not an octal mode", mode.get_ref()),
                    Some("write it as a string, e.g. \"0755\"".into()),
                ));
            }
            if let Some(kind) = &p.kind
                && !matches!(kind.get_ref().as_str(), "dir" | "file" | "symlink")
            {
                return Err(diag(
                    kind.span(),
                    format!("unknown path type `{}`", kind.get_ref()),
                    Some("use \"dir\", \"file\" or \"symlink\"".into()),
                ));
            }
        }
        let base = match raw.base {
            Some(base) => {
                let parsed = BaseRef::parse(base.get_ref())
                    .map_err(|(message, help)| diag(base.span(), message, Some(help)))?;
                Some(Spanned::new(base.span(), parsed))
            }
            None => None,
        };
        let layers = match raw.layers {
            None => 1,
            Some(n) => {
                let value = *n.get_ref();
                if !(1..=MAX_LAYERS as i64).contains(&value) {
                    return Err(diag(
                        n.span(),
                        format!("`layers = {value}`: an image has 1 to {MAX_LAYERS} layers"),
                        Some(
                            "8 shares the largest source packages between images; 1 is one layer"
                                .into(),
                        ),
                    ));
                }
                if base.is_some() && value > 1 {
                    return Err(diag(
                        n.span(),
                        "`layers` and `base` are both given".into(),
                        Some("an image on a base adds one layer to the base's; set `layers` in the base's spec".into()),
                    ));
                }
                value as usize
            }
        };
        let services = raw.services.unwrap_or_default();
        let tasks = raw.tasks.unwrap_or_default();
        let init = raw.init.as_ref().is_some_and(|i| *i.get_ref());
        let supervised = !services.is_empty() || !tasks.is_empty();
        if supervised {
            services::check(
                &services,
                &tasks,
                raw.user.as_ref().map(|u| u.get_ref().as_str()),
            )
            .map_err(|p| diag(p.span, p.message, p.help))?;
            if services.is_empty() {
                return Err(diag(
                    tasks.values().next().map_or(0..0, |t| t.span()),
                    "tasks run before services, and the spec declares none".into(),
                    Some("add a `[services.NAME]` with `after = [\"TASK\"]`".into()),
                ));
            }
            let conflict = [
                ("command", raw.command.is_some()),
                ("cmd", raw.cmd.is_some()),
                ("stop-signal", raw.stop_signal.is_some()),
                ("init", raw.init.is_some()),
            ];
            if let Some((key, _)) = conflict.iter().find(|(_, set)| *set) {
                let at = top_level_key_span(source, key);
                return Err(diag(
                    at,
                    format!("`{key}` and `[services]` are both given"),
                    Some(match *key {
                        "stop-signal" => "each service has its own `stop-signal`; the container itself stops on SIGTERM".into(),
                        "init" => "with services, s6 is PID 1 already".into(),
                        _ => "with services the entrypoint is the supervisor; make the command a service with `main = true`".into(),
                    }),
                ));
            }
            // The supervisor and the language of its scripts join the image; switching
            // accounts looks them up through NSS, which needs libc-bin's nsswitch.conf.
            let switches_user = services.values().any(|s| s.get_ref().user.is_some())
                || tasks.values().any(|t| t.get_ref().user.is_some());
            let nss: &[&str] = if switches_user { &["libc-bin"] } else { &[] };
            for &implied in ["s6", "execline"].iter().chain(nss) {
                if !packages.iter().any(|p| p.name == implied) {
                    packages.push(parse_request(implied).map_err(|m| diag(0..0, m, None))?);
                }
            }
        }
        if init {
            if raw.command.is_none() {
                return Err(diag(
                    raw.init.as_ref().map_or(0..0, |i| i.span()),
                    "`init = true` but no `command` to run under it".into(),
                    Some("add `command = [\"program\", …]`".into()),
                ));
            }
            if !packages.iter().any(|p| p.name == "tini") {
                packages.push(parse_request("tini").map_err(|m| diag(0..0, m, None))?);
            }
        }
        let env = raw.env.unwrap_or_default();
        env.check().map_err(|p| diag(p.span, p.message, p.help))?;
        for (package, options) in &raw.package_options {
            let options = options.get_ref();
            for wanted in &options.env {
                if !env.named.contains_key(wanted.get_ref()) {
                    let known: Vec<&str> = env.named.keys().map(String::as_str).collect();
                    return Err(diag(
                        wanted.span(),
                        format!("package `{package}`: no `[env.{}]` table", wanted.get_ref()),
                        Some(if known.is_empty() {
                            format!(
                                "declare it: `[env.{}]` with the variables it sets",
                                wanted.get_ref()
                            )
                        } else {
                            format!("named environments: {}", known.join(", "))
                        }),
                    ));
                }
            }
        }
        let spec = Spec {
            name,
            base,
            env,
            recipes: raw.recipes.unwrap_or_default(),
            debs: raw.debs.unwrap_or_default(),
            layers,
            services,
            tasks,
            init,
            packages,
            command: raw.command.unwrap_or_default(),
            arch: raw.arch,
            archs,
            recommends: raw.recommends.unwrap_or(false),
            exclude: raw.exclude.unwrap_or_default(),
            use_flags: raw.use_flags.unwrap_or_default(),
            repositories,
            package_options: raw.package_options,
            tag: raw.tag.map(Spanned::into_inner),
            cmd: raw.cmd.unwrap_or_default(),
            environment: raw.environment.unwrap_or_default(),
            workdir: raw.workdir,
            user: raw.user,
            ports: raw.ports.unwrap_or_default(),
            volumes: raw.volumes.unwrap_or_default(),
            labels: raw.labels.unwrap_or_default(),
            annotations: raw.annotations.unwrap_or_default(),
            stop_signal: raw.stop_signal,
            accounts: raw.accounts.unwrap_or_default(),
            paths: raw.paths.unwrap_or_default(),
            path: path.to_owned(),
            source: source.to_owned(),
        };
        spec.check_use_flags()?;
        // A recipe's package may have `env` too: with recipes, which packages they make is
        // known once they are read ([`Spec::load_recipes`]).
        if spec.recipes.is_empty() {
            spec.check_env_targets(&[])?;
        }
        Ok(spec)
    }

    /// Every `use` flag, the spec's and each package table's, names a content class.
    fn check_use_flags(&self) -> Result<(), SpecError> {
        let tables = self
            .package_options
            .iter()
            .flat_map(|(name, o)| o.get_ref().use_flags.iter().map(move |f| (Some(name), f)));
        for (package, flag) in self.use_flags.iter().map(|f| (None, f)).chain(tables) {
            let text = flag.get_ref();
            let name = text.strip_prefix(['-', '+']).unwrap_or(text);
            if !USE_FLAGS.contains(&name) {
                let whose = package.map_or(String::new(), |p| format!("package `{p}`: "));
                return Err(SpecError::Invalid(Box::new(self.diagnostic(
                    flag.span(),
                    format!("{whose}`{text}` is not a content class"),
                    Some(format!(
                        "`use` takes {}, each as `name` (keep) or `-name` (drop)",
                        USE_FLAGS.join(", ")
                    )),
                ))));
            }
        }
        Ok(())
    }

    /// Every package table with `env` names a package built from source or by one of the
    /// recipes that make `by_recipes`.
    fn check_env_targets(&self, by_recipes: &[&str]) -> Result<(), SpecError> {
        for (package, options) in &self.package_options {
            let options = options.get_ref();
            if !options.env.is_empty() && !options.source && !by_recipes.contains(&package.as_str())
            {
                return Err(SpecError::Invalid(Box::new(self.diagnostic(
                    options.env[0].span(),
                    format!("package `{package}` has `env` but is not built from source"),
                    Some(
                        "add `source = true` to its table: environments apply to source builds and recipes"
                            .into(),
                    ),
                ))));
            }
        }
        Ok(())
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

/// Where `key = …` starts at the top level of the spec, for a message about it.
fn top_level_key_span(source: &str, key: &str) -> Range<usize> {
    let mut offset = 0;
    for line in source.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            break;
        }
        if let Some(rest) = trimmed.strip_prefix(key)
            && rest.trim_start().starts_with('=')
        {
            let start = offset + (line.len() - trimmed.len());
            return start..start + key.len();
        }
        offset += line.len();
    }
    0..0
}

/// The spec as TOML gives it, before validation.
#[derive(Default)]
struct RawSpec {
    name: Option<Spanned<String>>,
    packages: Option<Spanned<Vec<Spanned<String>>>>,
    command: Option<Vec<String>>,
    arch: Option<Spanned<String>>,
    archs: Option<Vec<Spanned<String>>>,
    recommends: Option<bool>,
    exclude: Option<Vec<Spanned<String>>>,
    use_flags: Option<Vec<Spanned<String>>>,
    repositories: Option<Vec<RepositorySpec>>,
    package_options: BTreeMap<String, Spanned<PackageOptions>>,
    unknown: Vec<Spanned<String>>,
    tag: Option<Spanned<String>>,
    cmd: Option<Vec<String>>,
    environment: Option<BTreeMap<String, String>>,
    workdir: Option<String>,
    user: Option<Spanned<String>>,
    ports: Option<Vec<Spanned<String>>>,
    volumes: Option<Vec<String>>,
    labels: Option<BTreeMap<String, String>>,
    annotations: Option<BTreeMap<String, String>>,
    stop_signal: Option<String>,
    accounts: Option<Vec<AccountSpec>>,
    paths: Option<Vec<PathSpec>>,
    base: Option<Spanned<String>>,
    layers: Option<Spanned<i64>>,
    services: Option<BTreeMap<String, Spanned<ServiceSpec>>>,
    tasks: Option<BTreeMap<String, Spanned<TaskSpec>>>,
    init: Option<Spanned<bool>>,
    env: Option<BuildEnv>,
    recipes: Option<Vec<Spanned<String>>>,
    debs: Option<Vec<Spanned<String>>>,
}

/// The most layers `layers` may ask for (engines handle up to 127; far fewer pay).
pub const MAX_LAYERS: usize = 64;

/// Every top-level key of a spec and the field it fills: the one place keys are named, so
/// the parser and the "known keys" hint cannot drift apart.
macro_rules! spec_keys {
    ($($key:literal => $field:ident),* $(,)?) => {
        /// The spec's top-level keys, in the order GUIDE.md lists them.
        pub(crate) const KNOWN_KEYS: &[&str] = &[$($key),*];

        /// Fills the field `key` names from the map's next value; `false` for any other key.
        fn set_known<'de, A: MapAccess<'de>>(
            raw: &mut RawSpec,
            key: &str,
            map: &mut A,
        ) -> Result<bool, A::Error> {
            match key {
                $($key => raw.$field = Some(map.next_value()?),)*
                _ => return Ok(false),
            }
            Ok(true)
        }
    };
}

spec_keys! {
    "name" => name,
    "base" => base,
    "layers" => layers,
    "packages" => packages,
    "command" => command,
    "arch" => arch,
    "archs" => archs,
    "recommends" => recommends,
    "exclude" => exclude,
    "use" => use_flags,
    "repositories" => repositories,
    "tag" => tag,
    "cmd" => cmd,
    "environment" => environment,
    "workdir" => workdir,
    "user" => user,
    "ports" => ports,
    "volumes" => volumes,
    "labels" => labels,
    "annotations" => annotations,
    "stop-signal" => stop_signal,
    "accounts" => accounts,
    "paths" => paths,
    "init" => init,
    "services" => services,
    "tasks" => tasks,
    "env" => env,
    "recipes" => recipes,
    "debs" => debs,
}

/// A per-package table, or any other value under a key nobody knows.
enum TableOrOther {
    Table(PackageOptions),
    Other,
}

impl<'de> Deserialize<'de> for TableOrOther {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TableOrOther;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a per-package table")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<TableOrOther, A::Error> {
                PackageOptions::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(TableOrOther::Table)
            }
            fn visit_bool<E>(self, _: bool) -> Result<TableOrOther, E> {
                Ok(TableOrOther::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<TableOrOther, E> {
                Ok(TableOrOther::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<TableOrOther, E> {
                Ok(TableOrOther::Other)
            }
            fn visit_str<E>(self, _: &str) -> Result<TableOrOther, E> {
                Ok(TableOrOther::Other)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<TableOrOther, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(TableOrOther::Other)
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for RawSpec {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a staves.toml spec")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawSpec, A::Error> {
                let mut raw = RawSpec::default();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    if set_known(&mut raw, key.get_ref(), &mut map)? {
                        continue;
                    }
                    // Any other table holds one package's options.
                    let value: Spanned<TableOrOther> = map.next_value()?;
                    let span = value.span();
                    match value.into_inner() {
                        TableOrOther::Table(options) => {
                            raw.package_options
                                .insert(key.into_inner(), Spanned::new(span, options));
                        }
                        TableOrOther::Other => raw.unknown.push(key),
                    }
                }
                Ok(raw)
            }
        }
        d.deserialize_map(V)
    }
}
