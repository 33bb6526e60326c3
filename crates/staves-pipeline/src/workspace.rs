//! What every command starts from: the spec, its repositories, the cache and the lockfile.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use staves_deb::sources::{self, SignedBy};
use staves_repo::{Cache, Client, Freshness, KeySource, RepositoryConfig, SyncedRepository};
use staves_resolve::{
    LockedTarget, Lockfile, Request, Resolution, Task, Universe, lockfile::fingerprint, resolve,
};
use staves_spec::Spec;

use crate::base::BaseImage;
use crate::error::{LocatedResolveError, PipelineError};
use crate::reporter::Reporter;

/// How long a fetched release is used before it is checked again.
const RELEASE_MAX_AGE: Duration = Duration::from_secs(60 * 60);

/// What a workspace is opened with.
#[derive(Debug, Clone, Default)]
pub struct WorkspaceOptions {
    /// The spec.
    pub file: PathBuf,
    /// The cache directory.
    pub cache: PathBuf,
    /// One architecture to work on: one of the spec's `archs`, or instead of its `arch`.
    pub arch: Option<String>,
    /// How the network is used: releases as cached, fetched again, or never.
    pub network: NetworkMode,
    /// The build context: host files the spec's `[[paths]]` and its recipes' `source`
    /// copy must lie inside it (the spec's directory when unset).
    pub context: Option<PathBuf>,
    /// Time, processes and scratch space each source or recipe build may use.
    pub build_limits: staves_source::BuildLimits,
    /// Trust, credentials, proxies and retries for every fetch (its `offline` is set from
    /// `network`).
    pub net: staves_net::NetOptions,
    /// The cache's tier shared with other machines (`--cache-registry`): built images,
    /// source builds and recipes asked for before they are made, offered once made.
    pub shared: Option<Arc<dyn staves_types::SharedCache>>,
}

/// How a run uses the network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NetworkMode {
    /// Fetch what the cache lacks; a release is fetched again when its copy is old.
    #[default]
    Cached,
    /// Fetch every release again (unchanged indices are still reused).
    Refresh,
    /// Never touch the network: everything comes from the cache, or the run fails saying
    /// what is missing.
    Offline,
}

/// A loaded spec with everything needed to resolve it.
pub struct Workspace {
    /// The spec, validated.
    pub spec: Spec,
    /// Every architecture the spec targets (what the lock covers).
    pub archs: Vec<String>,
    /// The architectures this run works on: all of them, or the one `--arch` picks.
    pub selected: Vec<String>,
    /// Where packages come from: the spec's repositories, else the host's apt sources.
    pub repositories: Vec<RepositoryConfig>,
    /// The cache every download and verification goes through.
    pub cache: Cache,
    /// The recipes the spec lists, read.
    pub recipes: Vec<staves_spec::recipe::Recipe>,
    freshness: Freshness,
    /// The one client every fetch of the run goes through.
    client: Client,
    /// What each source or recipe build may use.
    pub build_limits: staves_source::BuildLimits,
    inputs: String,
    reporter: Arc<dyn Reporter>,
    /// The base image of each architecture, when the spec builds on one: its installed
    /// packages are kept, never resolved again.
    bases: Vec<Arc<BaseImage>>,
    /// Whether this run has built (or taken from the cache) the spec's own packages and said
    /// so already: the later check of the lock's says nothing more of them.
    pub(crate) reported_builds: std::sync::atomic::AtomicBool,
    /// Held while the workspace lives: `staves cache prune` waits for it.
    _in_use: staves_repo::CacheLock,
    /// Where the lock is, when not `staves.lock` beside the spec.
    lock_file: Option<PathBuf>,
    /// The cache's shared tier, when there is one.
    pub shared: Option<Arc<dyn staves_types::SharedCache>>,
}

impl Workspace {
    /// Reads the spec and opens the cache; nothing is fetched yet.
    pub fn load(
        args: &WorkspaceOptions,
        reporter: Arc<dyn Reporter>,
    ) -> Result<Self, PipelineError> {
        let spec = Spec::load(&args.file)?;
        let (archs, selected) = target_archs(&spec, args.arch.as_deref())?;
        let repositories = repositories(&spec)?;
        let cache = Cache::open(&args.cache)?;
        let in_use = cache.in_use()?;
        let freshness = match args.network {
            NetworkMode::Offline => Freshness::Offline,
            NetworkMode::Refresh => Freshness::Refresh,
            NetworkMode::Cached => Freshness::MaxAge(RELEASE_MAX_AGE),
        };
        let mut net = args.net.clone();
        net.offline = args.network == NetworkMode::Offline;
        let mut client = Client::new(net).map_err(staves_repo::RepoError::from)?;
        for repository in &repositories {
            client = client
                .trusting_under(&repository.uri, &repository.ca_certificates)
                .map_err(staves_repo::RepoError::from)?;
        }
        let recipes = spec.load_recipes()?;
        let context = args
            .context
            .clone()
            .unwrap_or_else(|| spec.base_dir().to_owned());
        spec.check_recipe_sources(&recipes, &context)?;
        let mut inputs = inputs_fingerprint(&spec, &archs, &repositories);
        if !recipes.is_empty() || !spec.debs.is_empty() {
            inputs = fingerprint(vec![inputs, crate::from_source::inputs(&spec, &recipes)?]);
        }
        Ok(Workspace {
            spec,
            archs,
            selected,
            repositories,
            cache,
            recipes,
            freshness,
            client,
            build_limits: args.build_limits,
            inputs,
            reporter,
            bases: Vec::new(),
            reported_builds: std::sync::atomic::AtomicBool::new(false),
            _in_use: in_use,
            lock_file: None,
            shared: args.shared.clone(),
        })
    }

    /// The same repositories, cache and client for another spec (a variant of this one:
    /// a debug image, say), whose lock is `lock_file`. It is on no base until given one.
    pub fn variant(&self, spec: Spec, lock_file: PathBuf) -> Result<Workspace, PipelineError> {
        let inputs = inputs_fingerprint(&spec, &self.archs, &self.repositories);
        Ok(Workspace {
            spec,
            archs: self.archs.clone(),
            selected: self.selected.clone(),
            repositories: self.repositories.clone(),
            cache: self.cache.clone(),
            recipes: Vec::new(),
            freshness: self.freshness,
            client: self.client.clone(),
            build_limits: self.build_limits,
            inputs,
            reporter: self.reporter.clone(),
            bases: Vec::new(),
            reported_builds: std::sync::atomic::AtomicBool::new(false),
            _in_use: self.cache.in_use()?,
            lock_file: Some(lock_file),
            shared: self.shared.clone(),
        })
    }

    /// Builds on `base`: its installed packages meet what they meet and are not resolved
    /// again, and its digest becomes an input of the lock, so a lock made on another base
    /// is stale (and refused with `--locked`).
    pub fn on_base(&mut self, bases: Vec<Arc<BaseImage>>) {
        let mut lines = vec![self.inputs.clone()];
        for base in &bases {
            let digest = base.digest.as_deref().unwrap_or("unknown");
            lines.push(format!("base={} {digest}", base.arch));
        }
        self.inputs = fingerprint(lines);
        self.bases = bases;
    }

    /// The base image `arch` is built on, if the spec names one. A spec with `base` whose
    /// workspace was not given its base ([`Workspace::on_base`]) is refused here, so nothing
    /// resolves or builds it as if it had none.
    pub fn base(&self, arch: &str) -> Result<Option<&Arc<BaseImage>>, PipelineError> {
        let found = self.bases.iter().find(|b| b.arch == arch);
        if found.is_none() && self.spec.base.is_some() {
            return Err(PipelineError::BaseNotOpened {
                spec: self.spec.path.clone(),
            });
        }
        Ok(found)
    }

    /// Where the pipeline reports to.
    pub fn reporter(&self) -> &dyn Reporter {
        self.reporter.as_ref()
    }

    /// When releases are fetched again.
    pub(crate) fn freshness(&self) -> Freshness {
        self.freshness
    }

    /// Whether this run may not touch the network.
    pub fn offline(&self) -> bool {
        self.client.is_offline()
    }

    /// The run's client, reporting to `progress`.
    pub fn client(&self, progress: Arc<dyn staves_repo::Progress>) -> Client {
        self.client.with_progress(progress)
    }

    /// `staves.lock` beside the spec.
    pub fn lock_path(&self) -> PathBuf {
        match &self.lock_file {
            Some(path) => path.clone(),
            None => self.spec.base_dir().join("staves.lock"),
        }
    }

    /// The lockfile when it exists and matches the spec; with `required`, anything else is
    /// an error.
    pub fn matching_lock(&self, required: bool) -> Result<Option<Lockfile>, PipelineError> {
        let path = self.lock_path();
        match Lockfile::read(&path)? {
            Some(lock) if lock.matches(&self.inputs) => Ok(Some(lock)),
            Some(_) if required => Err(PipelineError::StaleLock {
                path,
                missing: false,
            }),
            None if required => Err(PipelineError::StaleLock {
                path,
                missing: true,
            }),
            _ => Ok(None),
        }
    }

    /// The package sets a build uses: the lock when it matches. A lock the spec has moved
    /// away from is an error with `locked`; otherwise every architecture is resolved afresh,
    /// the lock rewritten and the change reported, as cargo updates `Cargo.lock`. Without a
    /// lock, the spec is resolved and no lock is written.
    pub fn lock_for_build(&self, locked: bool) -> Result<Lockfile, PipelineError> {
        let path = self.lock_path();
        let old = match Lockfile::read(&path)? {
            Some(lock) if lock.matches(&self.inputs) => return Ok(lock),
            Some(_) | None if locked => {
                return Err(PipelineError::StaleLock {
                    missing: !path.exists(),
                    path,
                });
            }
            None => return self.resolve(&self.selected),
            Some(old) => old,
        };
        let new = self.resolve_from(&self.archs, Some(&old))?;
        new.write(&path)?;
        self.reporter.status(
            "Updated",
            &format!(
                "{}: the spec or its repositories changed since it was written ({}); \
                 `--locked` refuses instead",
                path.display(),
                lock_changes(&old, &new)
            ),
        );
        Ok(new)
    }

    /// Resolves the spec afresh for each of `archs`, into one lockfile.
    pub fn resolve(&self, archs: &[String]) -> Result<Lockfile, PipelineError> {
        self.resolve_from(archs, None)
    }

    /// Like [`Workspace::resolve`]; with a `previous` lock, its versions are preferred
    /// wherever the repositories still have them, so only what must change does.
    pub fn resolve_from(
        &self,
        archs: &[String],
        previous: Option<&Lockfile>,
    ) -> Result<Lockfile, PipelineError> {
        let mut lock: Option<Lockfile> = None;
        for arch in archs {
            let one = self.resolve_arch(arch, previous.and_then(|p| p.target(arch)))?;
            match &mut lock {
                Some(lock) => lock.targets.extend(one.targets),
                None => lock = Some(one),
            }
        }
        lock.ok_or(PipelineError::NoArchitecture)
    }

    /// Syncs every repository (in parallel) for `arch` and resolves the spec for it. Each
    /// architecture sees only its own indices (and `all`), as apt on that machine would.
    fn resolve_arch(
        &self,
        arch: &str,
        previous: Option<&LockedTarget>,
    ) -> Result<Lockfile, PipelineError> {
        self.with_universe(arch, |universe, built| {
            self.resolve_arch_in(universe, built, previous)
        })
    }

    fn resolve_arch_in(
        &self,
        universe: &Universe<'_>,
        built: crate::from_source::BuiltVersions,
        previous: Option<&LockedTarget>,
    ) -> Result<Lockfile, PipelineError> {
        let arch = universe.native();
        let mut task = self.task(arch)?;
        for (name, arch, version) in locked_versions(previous) {
            task.locked.insert((name, arch), version);
        }
        pin_built(&mut task, built);
        let resolution = self.resolve_in(universe, &task)?;
        for (package, origin) in resolution.packages.iter().zip(&resolution.origins) {
            if let staves_resolve::Origin::Implied(_) = origin {
                self.reporter.status(
                    "Added",
                    &format!(
                        "{} {}: every image gets Debian's skeleton (/etc/os-release, /tmp, \
                         /run, /var/run); `exclude = [\"{}\"]` leaves it out",
                        package.name, package.version, package.name
                    ),
                );
            }
        }
        if resolution.excluded.iter().any(|(name, _)| name == "libc6") {
            self.reporter.warning(
                "`exclude` keeps libc6 out: without the C library nothing dynamically linked \
                 will run in this image",
            );
        }
        for (name, needed_by) in &resolution.excluded {
            let on = if self.archs.len() > 1 {
                format!(" on {arch}")
            } else {
                String::new()
            };
            self.reporter.status(
                "Excluded",
                &format!("{name} (a dependency of {needed_by}){on}, as the spec asks"),
            );
        }
        Ok(Lockfile::from_resolution(
            &resolution,
            universe,
            self.inputs.clone(),
        )?)
    }

    /// Runs `resolve` over the universe of `arch`'s synced repositories. Index text is
    /// checked block by block as resolution reads it; when a read block was damaged, the
    /// index is discarded and fetched again and `resolve` runs again on the repaired one.
    fn with_universe<T>(
        &self,
        arch: &str,
        resolve: impl Fn(&Universe<'_>, crate::from_source::BuiltVersions) -> Result<T, PipelineError>,
    ) -> Result<T, PipelineError> {
        let mut repaired = false;
        loop {
            let (synced, built) = self.sync_with_builds(arch)?;
            let result = resolve(&Universe::new(&synced, arch), built);
            let read_damage = synced.iter().any(|r| {
                r.indices
                    .iter()
                    .any(|(_, _, index)| index.damage().is_some())
            });
            if !read_damage {
                return result;
            }
            let client = self.client(self.reporter.downloads("Repairing"));
            let mut damaged = false;
            for repository in &synced {
                damaged |= repository.discard_damaged(&client, &self.cache)?;
            }
            match (damaged, repaired) {
                (false, _) => return result,
                (true, false) => repaired = true,
                (true, true) => {
                    return Err(staves_repo::RepoError::Damaged {
                        path: self.cache.root().join("indices"),
                        reason:
                            "an index was damaged again right after it was fetched; check the disk"
                                .into(),
                    }
                    .into());
                }
            }
        }
    }

    /// The resolution for `arch` with why each package is there. With `locked`, every
    /// package is held at its locked version, so the answer is about the locked set.
    pub fn resolution(
        &self,
        arch: &str,
        locked: Option<&LockedTarget>,
    ) -> Result<Resolution, PipelineError> {
        self.with_universe(arch, |universe, built| {
            let mut task = self.task(arch)?;
            pin_built(&mut task, built);
            for (name, _, version) in locked_versions(locked) {
                task.pins.insert(name, (staves_deb::VersionOp::Eq, version));
            }
            self.resolve_in(universe, &task)
        })
    }

    fn resolve_in(
        &self,
        universe: &Universe<'_>,
        task: &Task,
    ) -> Result<Resolution, PipelineError> {
        let arch = universe.native();
        resolve(universe, task).map_err(|error| {
            // A pin that rules a package out is where to look, not the request.
            let text = error.to_string();
            let pin = self.spec.package_options.iter().find_map(|(name, options)| {
                let version = options.get_ref().version.as_ref()?;
                let blocks = text.contains(&format!("{name} is pinned"))
                    || matches!(&error, staves_resolve::ResolveError::NoVersion { name: n, .. } if n == name);
                blocks.then(|| version.span())
            });
            PipelineError::Resolve(Box::new(LocatedResolveError {
                arch: (self.archs.len() > 1).then(|| arch.to_owned()),
                span: pin.or_else(|| {
                    error
                        .request()
                        .and_then(|i| self.spec.packages.get(i))
                        .map(|r| r.span.clone())
                }),
                source_text: self.spec.source.clone(),
                path: self.spec.path.clone(),
                error,
            }))
        })
    }

    /// [`Workspace::sync`], with the packages the spec builds from source built (or taken
    /// from the cache) and their repository put first, and the versions built.
    fn sync_with_builds(
        &self,
        arch: &str,
    ) -> Result<(Vec<SyncedRepository>, crate::from_source::BuiltVersions), PipelineError> {
        let mut synced = self.sync(arch)?;
        let (repositories, built) = self.source_builds(arch, &mut synced)?;
        for repository in repositories.into_iter().rev() {
            synced.insert(0, repository);
        }
        Ok((synced, built))
    }

    /// Every repository's release and indices for `arch` (and the architectures requests
    /// name), verified, fetched in parallel where the cache cannot serve them.
    pub fn sync(&self, arch: &str) -> Result<Vec<SyncedRepository>, PipelineError> {
        let progress = self.reporter.downloads("Fetching");
        let client = self.client(progress.clone());
        let mut archs = vec![arch.to_owned()];
        for request in &self.spec.packages {
            if let Some(a) = &request.arch
                && !archs.contains(a)
            {
                archs.push(a.clone());
            }
        }
        let now = SystemTime::now();
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .repositories
                .iter()
                .map(|repo| {
                    let (client, archs) = (&client, &archs);
                    s.spawn(move || repo.sync(client, &self.cache, archs, self.freshness, now))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().map_err(|_| PipelineError::SyncPanicked))
                .collect()
        });
        drop(client);
        drop(progress);
        let mut synced = Vec::new();
        for result in results {
            match result? {
                Ok(repository) => synced.push(repository),
                Err(staves_repo::RepoError::UnknownArchitecture {
                    repository,
                    arch,
                    available,
                }) => return Err(self.unknown_arch(&repository, &arch, &available)),
                Err(other) => return Err(other.into()),
            }
        }
        Ok(synced)
    }

    /// An architecture the repositories lack, pointed out where it was asked for: the
    /// spec's `arch`, its entry of `archs`, a package's `:arch`, or `--arch`.
    fn unknown_arch(&self, repository: &str, arch: &str, available: &[String]) -> PipelineError {
        let message = format!("{repository} has no packages for `{arch}`");
        let help = format!("its release lists: {}", available.join(", "));
        let spec = &self.spec;
        let span = spec
            .arch
            .iter()
            .chain(&spec.archs)
            .find(|a| a.get_ref() == arch)
            .map(|a| a.span())
            .or_else(|| {
                spec.packages
                    .iter()
                    .find(|p| p.arch.as_deref() == Some(arch))
                    .map(|p| p.span.clone())
            });
        match span {
            Some(span) => PipelineError::Spec(staves_spec::SpecError::Invalid(Box::new(
                spec.diagnostic(span, message, Some(help)),
            ))),
            None => PipelineError::Arch {
                arch: arch.to_owned(),
                message,
                help,
            },
        }
    }

    fn task(&self, arch: &str) -> Result<Task, PipelineError> {
        let mut task = Task {
            requests: self
                .spec
                .packages
                .iter()
                .map(|r| Request {
                    name: r.name.clone(),
                    arch: r.arch.clone(),
                    constraint: r.constraint.clone(),
                })
                .collect(),
            exclude: self
                .spec
                .exclude
                .iter()
                .map(|e| e.get_ref().clone())
                .collect::<HashSet<_>>(),
            recommends: self.spec.recommends,
            merged_usr: true,
            installed: match self.base(arch)? {
                Some(base) => {
                    staves_resolve::installed_from_status(&base.system.status, &base.name)?
                }
                None => Vec::new(),
            },
            ..Task::default()
        };
        // Essential packages are never declared, so without this an image that needs
        // /var/run or /etc/os-release would lack them; the spec can still exclude it.
        if !task.exclude.contains(staves_resolve::BASE_FILES) {
            task.implied.push(Request {
                name: staves_resolve::BASE_FILES.into(),
                arch: None,
                constraint: None,
            });
        }
        for (name, options) in &self.spec.package_options {
            let options = options.get_ref();
            if let Some(r) = options.recommends {
                task.recommends_for.insert(name.clone(), r);
            }
            if let Some(version) = &options.version
                && let Ok(pin) = staves_spec::request::parse_version_pin(version.get_ref())
            {
                task.pins.insert(name.clone(), pin);
            }
            if let Some(suite) = &options.suite {
                task.releases.insert(name.clone(), suite.get_ref().clone());
            }
        }
        // `name/release` in `packages` says it where it is asked for.
        for request in &self.spec.packages {
            if let Some(release) = &request.release {
                task.releases.insert(request.name.clone(), release.clone());
            }
        }
        Ok(task)
    }
}

/// Holds each package built from source at the version built: the archive's package of
/// the same name and version is the same package rebuilt, and the built one comes first.
fn pin_built(task: &mut Task, built: crate::from_source::BuiltVersions) {
    for (name, version) in built {
        task.pins.insert(name, (staves_deb::VersionOp::Eq, version));
    }
}

/// `(name, architecture, version)` of every package of a locked target (none without one).
fn locked_versions(
    target: Option<&LockedTarget>,
) -> impl Iterator<Item = (String, String, staves_deb::Version)> + '_ {
    target
        .map(|t| t.packages.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(|p| {
            let version = staves_deb::Version::parse(&p.version).ok()?;
            Some((p.name.clone(), p.arch.clone(), version))
        })
}

/// What changed between two locks, in words: `2 added, 1 removed, 3 changed`.
fn lock_changes(old: &Lockfile, new: &Lockfile) -> String {
    let changes = staves_resolve::changes(old, new);
    let added = changes.iter().filter(|c| c.before.is_none()).count();
    let removed = changes.iter().filter(|c| c.after.is_none()).count();
    let changed = changes.len() - added - removed;
    if changes.is_empty() {
        return "the same packages".into();
    }
    format!("{added} added, {removed} removed, {changed} changed")
}

/// The spec's target architectures, and those of them this run works on.
fn target_archs(
    spec: &Spec,
    pick: Option<&str>,
) -> Result<(Vec<String>, Vec<String>), PipelineError> {
    if spec.archs.is_empty() {
        let arch = pick
            .map(str::to_owned)
            .or_else(|| spec.arch.as_ref().map(|a| a.get_ref().clone()))
            .unwrap_or_else(|| staves_deb::arch::host().to_owned());
        return Ok((vec![arch.clone()], vec![arch]));
    }
    let archs: Vec<String> = spec.archs.iter().map(|a| a.get_ref().clone()).collect();
    let selected = match pick {
        Some(one) if archs.iter().any(|a| a == one) => vec![one.to_owned()],
        Some(one) => {
            return Err(PipelineError::ArchNotInSpec {
                arch: one.to_owned(),
                archs,
            });
        }
        None => archs.clone(),
    };
    Ok((archs, selected))
}

/// The spec's repositories, or the host's apt sources when it names none.
fn repositories(spec: &Spec) -> Result<Vec<RepositoryConfig>, PipelineError> {
    if !spec.repositories.is_empty() {
        return Ok(spec
            .repositories
            .iter()
            .map(|r| {
                let components: Vec<String> =
                    r.components.iter().map(|c| c.get_ref().clone()).collect();
                RepositoryConfig {
                    name: r.name.get_ref().clone(),
                    uri: r.uri.get_ref().trim_end_matches('/').to_owned(),
                    suite: r.suite.get_ref().clone(),
                    components: if components.is_empty() {
                        vec!["main".into()]
                    } else {
                        components
                    },
                    keys: match &r.keyring {
                        Some(path) => KeySource::Files(vec![spec.base_dir().join(path.get_ref())]),
                        None => KeySource::Files(Vec::new()),
                    },
                    trusted: r.trusted,
                    ca_certificates: r
                        .ca_cert
                        .iter()
                        .map(|c| spec.base_dir().join(c.get_ref()))
                        .collect(),
                    priority: r.priority.as_ref().map(|p| *p.get_ref() as i32),
                    snapshot: r
                        .snapshot
                        .as_ref()
                        .map(|s| s.get_ref().trim_end_matches('/').to_owned()),
                }
            })
            .collect());
    }
    let entries = sources::read_host_sources(Path::new("/"))?;
    if entries.is_empty() {
        return Err(PipelineError::NoRepositories);
    }
    let mut names = HashSet::new();
    Ok(entries
        .into_iter()
        .map(|e| {
            let mut name = e.suite.trim_end_matches('/').replace('/', "-");
            let mut n = 2;
            while !names.insert(name.clone()) {
                name = format!("{}-{n}", e.suite);
                n += 1;
            }
            RepositoryConfig {
                name,
                uri: e.uri,
                suite: e.suite,
                components: e.components,
                keys: match e.signed_by {
                    SignedBy::Default => KeySource::AptDefault,
                    SignedBy::Files(paths) => KeySource::Files(paths),
                    SignedBy::Inline(text) => KeySource::Inline(text),
                },
                trusted: e.trusted,
                ca_certificates: Vec::new(),
                priority: None,
                snapshot: None,
            }
        })
        .collect())
}

/// Everything resolution depends on, hashed: a lock made from other inputs is stale.
fn inputs_fingerprint(spec: &Spec, archs: &[String], repositories: &[RepositoryConfig]) -> String {
    let mut lines = vec![
        format!("arch={}", archs.join(",")),
        format!("recommends={}", spec.recommends),
        // Resolution rules that changed what a lock holds.
        "merged-usr=marker".into(),
        format!("implied={}", staves_resolve::BASE_FILES),
    ];
    lines.extend(spec.packages.iter().map(|p| format!("request={p}")));
    let mut excluded: Vec<&String> = spec.exclude.iter().map(|e| e.get_ref()).collect();
    excluded.sort();
    lines.extend(excluded.iter().map(|e| format!("exclude={e}")));
    for (name, options) in &spec.package_options {
        let o = options.get_ref();
        lines.push(format!(
            "package={name} version={:?} recommends={:?}",
            o.version.as_ref().map(|v| v.get_ref()),
            o.recommends
        ));
        if let Some(suite) = &o.suite {
            lines.push(format!("package={name} suite={}", suite.get_ref()));
        }
        // A source build with other flags is another package: the lock must follow.
        if o.source {
            let env: Vec<String> = spec
                .env_for(name)
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            lines.push(format!("source={name} env={env:?}"));
        }
    }
    for repo in repositories {
        lines.push(format!(
            "repository={} {} {} {} trusted={}",
            repo.name,
            repo.uri,
            repo.suite,
            repo.components.join(","),
            repo.trusted
        ));
        if let Some(priority) = repo.priority {
            lines.push(format!("priority={} {priority}", repo.name));
        }
        if let KeySource::Files(paths) = &repo.keys {
            for path in paths {
                // The keyring's content counts: trusting other keys is a different input.
                let digest = staves_repo::keyring::read_keyring_file(path)
                    .map(|bytes| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes)));
                lines.push(format!(
                    "keyring={} {}",
                    path.display(),
                    digest.unwrap_or_default()
                ));
            }
        }
    }
    fingerprint(lines)
}
