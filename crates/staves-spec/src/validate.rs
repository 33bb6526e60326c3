//! The spec read and checked: every value of the raw TOML checked where it stands, so each
//! mistake is one diagnostic with its file, line and column, and what to do.

use std::ops::Range;
use std::path::Path;

use toml::Spanned;

use std::collections::BTreeMap;

use crate::{
    AccountSpec, BaseRef, BuildEnv, Diagnostic, KNOWN_KEYS, MAX_LAYERS, PackageOptions,
    PackageRequest, PathSpec, RESERVED_REPOSITORIES, RawSpec, RepositorySpec, Spec, SpecError,
    USE_FLAGS, hints, parse_request, request, services, top_level_key_span,
};

impl Spec {
    /// Parses and validates spec text; `path` is used for messages and relative paths.
    pub fn parse(source: &str, path: &Path) -> Result<Spec, SpecError> {
        let at = Place { source, path };
        let raw: RawSpec = toml::from_str(source).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let (message, help) = hints::explain(source, &span, e.message());
            at.error(span, message, help)
        })?;
        at.known_keys(&raw)?;
        let name = raw.name.clone().ok_or_else(|| {
            at.error(
                0..0,
                "missing key `name`".into(),
                Some("add `name = \"my-image\"` at the top".into()),
            )
        })?;
        if name.get_ref().trim().is_empty() {
            return Err(at.error(name.span(), "`name` is empty".into(), None));
        }
        let mut packages = at.packages(&raw)?;
        let archs = at.archs(&raw)?;
        at.repositories(raw.repositories.as_deref().unwrap_or_default())?;
        at.image_config(&raw)?;
        at.paths(raw.paths.as_deref().unwrap_or_default())?;
        let base = match &raw.base {
            Some(base) => {
                let parsed = BaseRef::parse(base.get_ref())
                    .map_err(|(message, help)| at.error(base.span(), message, Some(help)))?;
                Some(Spanned::new(base.span(), parsed))
            }
            None => None,
        };
        let layers = at.layers(&raw)?;
        let init = wants_init(&raw);
        at.supervision(&raw, init, &mut packages)?;
        let env = raw.env.unwrap_or_default();
        env.check()
            .map_err(|p| at.error(p.span, p.message, p.help))?;
        at.env_names(&raw.package_options, &env)?;
        let spec = Spec {
            name,
            base,
            env,
            recipes: raw.recipes.unwrap_or_default(),
            debs: raw.debs.unwrap_or_default(),
            layers,
            services: raw.services.unwrap_or_default(),
            tasks: raw.tasks.unwrap_or_default(),
            init,
            packages,
            command: raw.command.unwrap_or_default(),
            arch: raw.arch,
            archs,
            recommends: raw.recommends.unwrap_or(false),
            exclude: raw.exclude.unwrap_or_default(),
            use_flags: raw.use_flags.unwrap_or_default(),
            repositories: raw.repositories.unwrap_or_default(),
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
            debug: raw.debug.unwrap_or(false),
            debug_packages: at.requests(raw.debug_packages.as_deref().unwrap_or_default())?,
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
    pub(super) fn check_use_flags(&self) -> Result<(), SpecError> {
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
    pub(super) fn check_env_targets(&self, by_recipes: &[&str]) -> Result<(), SpecError> {
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
}

/// The spec's text and file, for diagnostics at a place in it.
struct Place<'a> {
    source: &'a str,
    path: &'a Path,
}

impl Place<'_> {
    fn error(&self, span: Range<usize>, message: String, help: Option<String>) -> SpecError {
        SpecError::Invalid(Box::new(Diagnostic::new(
            self.path,
            self.source,
            span,
            message,
            help,
        )))
    }

    fn known_keys(&self, raw: &RawSpec) -> Result<(), SpecError> {
        if let Some(key) = raw.unknown.first() {
            let help = match hints::similar_any_key(key.get_ref()) {
                Some(known) => format!("did you mean `{known}`?"),
                None => format!(
                    "known keys are: {}; a table (`['{}']`) sets options for one package",
                    KNOWN_KEYS.join(", "),
                    key.get_ref()
                ),
            };
            return Err(self.error(
                key.span(),
                format!("unknown key `{}`", key.get_ref()),
                Some(help),
            ));
        }
        Ok(())
    }

    /// Package requests, each where it is written.
    fn requests(&self, entries: &[Spanned<String>]) -> Result<Vec<PackageRequest>, SpecError> {
        entries
            .iter()
            .map(|entry| {
                parse_request(entry.get_ref())
                    .map(|r| r.with_span(entry.span()))
                    .map_err(|message| {
                        self.error(
                            entry.span(),
                            message,
                            Some(
                                "write `name`, `name=version`, `name (>= version)` or `name:arch`"
                                    .into(),
                            ),
                        )
                    })
            })
            .collect()
    }

    /// The requested packages, and the package tables that name them.
    fn packages(&self, raw: &RawSpec) -> Result<Vec<PackageRequest>, SpecError> {
        let packages_key = raw.packages.as_ref().map_or(0..0, |p| p.span());
        let packages = self.requests(raw.packages.as_ref().map_or(&[][..], |p| p.get_ref()))?;
        // An image on a base may add only files and configuration.
        if packages.is_empty() && raw.base.is_none() {
            return Err(self.error(
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
                return Err(self.error(
                    options.span(),
                    format!("`[{name}]` is not a key of the spec, nor a requested package"),
                    Some(format!("did you mean `[{known}]`?")),
                ));
            }
            if let Some(suite) = &options.get_ref().suite
                && !request::is_release_name(suite.get_ref())
            {
                return Err(self.error(
                    suite.span(),
                    format!("`{}` is not a release name", suite.get_ref()),
                    Some("a suite or codename, as `bookworm-backports`".into()),
                ));
            }
            if let Some(version) = &options.get_ref().version {
                request::parse_version_pin(version.get_ref()).map_err(|m| {
                    self.error(version.span(), format!("package `{name}`: {m}"), None)
                })?;
            }
        }
        Ok(packages)
    }

    fn archs(&self, raw: &RawSpec) -> Result<Vec<Spanned<String>>, SpecError> {
        let archs = raw.archs.clone().unwrap_or_default();
        for arch in raw.arch.iter().chain(&archs) {
            if !staves_deb::arch::is_valid(arch.get_ref()) || arch.get_ref() == "all" {
                return Err(self.error(
                    arch.span(),
                    format!("`{}` is not a Debian architecture name", arch.get_ref()),
                    Some("for example \"amd64\" or \"arm64\"".into()),
                ));
            }
        }
        if let (Some(arch), false) = (&raw.arch, archs.is_empty()) {
            return Err(self.error(
                arch.span(),
                "`arch` and `archs` are both given".into(),
                Some("keep one: `archs = [\"amd64\", \"arm64\"]` lists several".into()),
            ));
        }
        for (i, arch) in archs.iter().enumerate() {
            if archs[..i].iter().any(|a| a.get_ref() == arch.get_ref()) {
                return Err(self.error(
                    arch.span(),
                    format!("`{}` is listed twice", arch.get_ref()),
                    None,
                ));
            }
        }
        Ok(archs)
    }

    fn repositories(&self, repositories: &[RepositorySpec]) -> Result<(), SpecError> {
        for repo in repositories {
            let uri = repo.uri.get_ref();
            if !(uri.starts_with("http://")
                || uri.starts_with("https://")
                || uri.starts_with("file:"))
            {
                return Err(self.error(
                    repo.uri.span(),
                    format!("unsupported URI `{uri}`"),
                    Some("use an http://, https:// or file: URI".into()),
                ));
            }
            if RESERVED_REPOSITORIES.contains(&repo.name.get_ref().as_str()) {
                return Err(self.error(
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
            if let Some(priority) = &repo.priority
                && !(-32768..=32767).contains(priority.get_ref())
            {
                return Err(self.error(
                    priority.span(),
                    format!("`priority = {}` is out of range", priority.get_ref()),
                    Some("apt's pin priorities run from -32768 to 32767: 1 takes nothing unless asked, 500 is the default, 990 a target release, above 1000 even downgrades, below 0 never".into()),
                ));
            }
            if let Some(snapshot) = &repo.snapshot
                && !(snapshot.get_ref().starts_with("http://")
                    || snapshot.get_ref().starts_with("https://")
                    || snapshot.get_ref().starts_with("file:"))
            {
                return Err(self.error(
                    snapshot.span(),
                    format!("unsupported snapshot URI `{}`", snapshot.get_ref()),
                    Some("name the snapshot archive's root for this repository, e.g. \"http://snapshot.example/archive/debian\"".into()),
                ));
            }
            if repo.keyring.is_none() && !repo.trusted {
                return Err(self.error(
                    repo.name.span(),
                    format!("repository `{}` has no `keyring`", repo.name.get_ref()),
                    Some("set `keyring = \"/path/to/key.gpg\"` (binary or armored), or `trusted = true` to skip verification".into()),
                ));
            }
        }
        Ok(())
    }

    /// Ports, accounts, the tag and environment names: what becomes image configuration.
    fn image_config(&self, raw: &RawSpec) -> Result<(), SpecError> {
        for port in raw.ports.iter().flatten() {
            let (number, proto) = port
                .get_ref()
                .split_once('/')
                .unwrap_or((port.get_ref(), "tcp"));
            if number.parse::<u16>().is_err() || !matches!(proto, "tcp" | "udp" | "sctp") {
                return Err(self.error(
                    port.span(),
                    format!("`{}` is not a port", port.get_ref()),
                    Some("write \"80\", \"8080/tcp\" or \"53/udp\"".into()),
                ));
            }
        }
        for account in raw.accounts.iter().flatten() {
            check_account(account).map_err(|m| self.error(account.name.span(), m, Some(
                "account fields become lines of /etc/passwd and /etc/group: no control characters, no `:`".into(),
            )))?;
        }
        if let Some(tag) = &raw.tag
            && let Err(m) = check_tag(tag.get_ref())
        {
            return Err(self.error(
                tag.span(),
                m,
                Some("a tag is up to 128 of A-Z a-z 0-9 _ . -, not starting with . or -".into()),
            ));
        }
        for name in raw.environment.iter().flat_map(|e| e.keys()) {
            if name.is_empty() || name.contains('=') || name.chars().any(char::is_control) {
                let at = self
                    .source
                    .find(name.as_str())
                    .map_or(0..0, |i| i..i + name.len());
                return Err(self.error(
                    at,
                    format!(
                        "`{}` is not an environment variable name",
                        name.escape_debug()
                    ),
                    Some("a name holds no `=` and no control characters".into()),
                ));
            }
        }
        Ok(())
    }

    fn paths(&self, paths: &[PathSpec]) -> Result<(), SpecError> {
        for p in paths {
            if p.content.is_some() && p.source.is_some() {
                return Err(self.error(
                    p.path.span(),
                    "`content` and `source` are both given".into(),
                    Some(
                        "keep one: `content` is the text itself, `source` a file beside the spec"
                            .into(),
                    ),
                ));
            }
            if !p.path.get_ref().starts_with('/') {
                return Err(self.error(
                    p.path.span(),
                    "paths in the image must be absolute".into(),
                    None,
                ));
            }
            if let Some(mode) = &p.mode
                && u32::from_str_radix(mode.get_ref(), 8).map_or(true, |m| m > 0o7777)
            {
                return Err(self.error(
                    mode.span(),
                    format!("`{}` is not an octal mode", mode.get_ref()),
                    Some("write it as a string, e.g. \"0755\"".into()),
                ));
            }
            if let Some(kind) = &p.kind
                && !matches!(kind.get_ref().as_str(), "dir" | "file" | "symlink")
            {
                return Err(self.error(
                    kind.span(),
                    format!("unknown path type `{}`", kind.get_ref()),
                    Some("use \"dir\", \"file\" or \"symlink\"".into()),
                ));
            }
        }
        Ok(())
    }

    fn layers(&self, raw: &RawSpec) -> Result<usize, SpecError> {
        let Some(n) = &raw.layers else {
            return Ok(1);
        };
        let value = *n.get_ref();
        if !(1..=MAX_LAYERS as i64).contains(&value) {
            return Err(self.error(
                n.span(),
                format!("`layers = {value}`: an image has 1 to {MAX_LAYERS} layers"),
                Some("8 shares the largest source packages between images; 1 is one layer".into()),
            ));
        }
        Ok(value as usize)
    }

    /// Services, tasks and `init`: checked against each other and the command, and the
    /// packages they imply added to `packages`.
    fn supervision(
        &self,
        raw: &RawSpec,
        init: bool,
        packages: &mut Vec<PackageRequest>,
    ) -> Result<(), SpecError> {
        let no_services = BTreeMap::new();
        let no_tasks = BTreeMap::new();
        let services = raw.services.as_ref().unwrap_or(&no_services);
        let tasks = raw.tasks.as_ref().unwrap_or(&no_tasks);
        // Each implied package points at what implies it, for errors about it.
        let mut implied: Vec<(&str, Range<usize>)> = Vec::new();
        let services_at = services.values().next().map_or(0..0, |s| s.span());
        if !services.is_empty() || !tasks.is_empty() {
            services::check(
                services,
                tasks,
                raw.user.as_ref().map(|u| u.get_ref().as_str()),
            )
            .map_err(|p| self.error(p.span, p.message, p.help))?;
            if services.is_empty() {
                return Err(self.error(
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
                let at = top_level_key_span(self.source, key);
                return Err(self.error(
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
            implied.extend([
                ("s6", services_at.clone()),
                ("execline", services_at.clone()),
            ]);
            let switches_user = services.values().any(|s| s.get_ref().user.is_some())
                || tasks.values().any(|t| t.get_ref().user.is_some());
            if switches_user {
                implied.push(("libc-bin", services_at.clone()));
            }
        }
        if init {
            if raw.command.is_none() {
                return Err(self.error(
                    raw.init.as_ref().map_or(0..0, |i| i.span()),
                    "`init = true` but no `command` to run under it".into(),
                    Some("add `command = [\"program\", …]`".into()),
                ));
            }
            let at = match &raw.init {
                Some(init) => init.span(),
                None => top_level_key_span(self.source, "command"),
            };
            implied.push(("tini", at));
        }
        for (name, at) in implied {
            if !packages.iter().any(|p| p.name == name) {
                let request = parse_request(name).map_err(|m| self.error(0..0, m, None))?;
                packages.push(request.with_span(at));
            }
        }
        Ok(())
    }

    /// Every named environment a package table asks for is declared.
    fn env_names(
        &self,
        package_options: &BTreeMap<String, Spanned<PackageOptions>>,
        env: &BuildEnv,
    ) -> Result<(), SpecError> {
        for (package, options) in package_options {
            for wanted in &options.get_ref().env {
                if !env.named.contains_key(wanted.get_ref()) {
                    let known: Vec<&str> = env.named.keys().map(String::as_str).collect();
                    return Err(self.error(
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
        Ok(())
    }
}

pub(super) fn check_account(account: &AccountSpec) -> Result<(), String> {
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

pub(super) fn check_tag(tag: &str) -> Result<(), String> {
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

/// Programs that are a PID 1 themselves: a command naming one gets no `init` by default.
const INITS: &[&str] = &[
    "tini",
    "tini-static",
    "dumb-init",
    "catatonit",
    "docker-init",
    "s6-svscan",
    "runsvdir",
    "runit",
    "init",
    "systemd",
    "supervisord",
];

/// Whether `command` runs under tini: as the spec says, else whenever there is a command
/// that is not an init itself and no services. A program as PID 1 gets no default signal
/// handlers from the kernel, so one that sets none ignores `docker stop`'s SIGTERM and is
/// killed 10 s later (137); under tini it gets the signal as any process would.
fn wants_init(raw: &RawSpec) -> bool {
    if let Some(init) = &raw.init {
        return *init.get_ref();
    }
    let has_services = raw.services.as_ref().is_some_and(|s| !s.is_empty())
        || raw.tasks.as_ref().is_some_and(|t| !t.is_empty());
    let program = raw
        .command
        .as_ref()
        .and_then(|c| c.first())
        .map(|p| p.rsplit('/').next().unwrap_or(p));
    !has_services && program.is_some_and(|p| !INITS.contains(&p))
}
