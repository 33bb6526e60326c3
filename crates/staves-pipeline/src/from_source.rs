//! Packages the spec builds from source or by recipes, and local `.deb`s it names, joined to
//! the resolution: what the builds made, and the local files, are repositories put first,
//! so they replace the archive's packages of the same name and version; the lockfile
//! records them with their checksums under [`BUILT`] and [`LOCAL`].

use std::path::Path;

use staves_deb::Version;
use staves_repo::{RepoError, SyncedRepository};
use staves_resolve::Lockfile;
use staves_source::{BuildReporter, Builder, SourceRequest};

use crate::error::PipelineError;
use crate::reporter::Reporter;
use crate::workspace::Workspace;

/// The lockfile's name for packages built from source.
pub const BUILT: &str = "built";
/// The lockfile's URI for them: they live in the cache, by checksum.
pub const BUILT_URI: &str = "staves:built";

/// `(name, version)` of each package built from source.
pub(crate) type BuiltVersions = Vec<(String, Version)>;

/// The pipeline's reporter, for the source builder.
struct Bridge<'a>(&'a dyn Reporter);

impl BuildReporter for Bridge<'_> {
    fn status(&self, verb: &str, message: &str) {
        self.0.status(verb, message);
    }
    fn log_line(&self, package: &str, line: &str) {
        self.0.build_log(package, line);
    }
}

/// Where a package of the lock lives: for one built from source, its `.deb` in the cache.
pub fn url(cache_root: &Path, uri: &str, filename: &str) -> String {
    if uri == BUILT_URI || uri == LOCAL_URI {
        format!("file:{}/{filename}", cache_root.display())
    } else {
        format!("{uri}/{filename}")
    }
}

/// The lockfile's name for local `.deb`s the spec's `debs` gives.
pub const LOCAL: &str = "debs";
/// The lockfile's URI for them: copied into the cache, by checksum.
pub const LOCAL_URI: &str = "staves:debs";

/// The fingerprint lines of what recipes and local `.deb`s bring: a recipe's text and
/// source tree, each local file's checksum. A change makes the lock stale.
pub(crate) fn inputs(
    spec: &staves_spec::Spec,
    recipes: &[staves_spec::recipe::Recipe],
) -> Result<String, PipelineError> {
    let mut lines = Vec::new();
    for recipe in recipes {
        let digest = staves_source::source_digest(recipe)?;
        let text = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&recipe.text));
        let env: Vec<String> = spec
            .env_for(recipe.name.get_ref())
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        // The language packages it fetches, by the hashes their lock files list.
        let mut fetched = String::new();
        for file in recipe.lock_files() {
            let bytes = staves_fs::read_regular(&file, 16 << 20)
                .map_err(|e| PipelineError::Repo(RepoError::io("reading", &file)(e)))?;
            fetched.push_str(&hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)));
        }
        lines.push(format!(
            "recipe={text} tree={digest} env={env:?} pip={fetched}"
        ));
    }
    for path in local_debs(spec)? {
        let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
        std::fs::File::open(&path)
            .and_then(|mut f| std::io::copy(&mut f, &mut hasher))
            .map_err(|e| PipelineError::Repo(RepoError::io("reading", &path)(e)))?;
        let digest = hex::encode(sha2::Digest::finalize(hasher));
        lines.push(format!("deb={} {digest}", path.display()));
    }
    Ok(staves_resolve::lockfile::fingerprint(lines))
}

/// The files the spec's `debs` names: each `.deb`, and the `.deb`s of each directory.
fn local_debs(spec: &staves_spec::Spec) -> Result<Vec<std::path::PathBuf>, PipelineError> {
    let mut out = Vec::new();
    for entry in &spec.debs {
        let path = spec.base_dir().join(entry.get_ref());
        let invalid = |message: String| {
            PipelineError::Spec(staves_spec::SpecError::Invalid(Box::new(
                spec.diagnostic(
                    entry.span(),
                    message,
                    Some(
                        "`debs` lists `.deb` files and directories of them, relative to the spec"
                            .into(),
                    ),
                ),
            )))
        };
        if path.is_dir() {
            let mut found: Vec<_> = std::fs::read_dir(&path)
                .map_err(|e| invalid(format!("`{}`: {e}", path.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "deb") && p.is_file())
                .collect();
            if found.is_empty() {
                return Err(invalid(format!(
                    "`{}` holds no `.deb` file",
                    path.display()
                )));
            }
            found.sort();
            out.extend(found);
        } else if path.is_file() {
            out.push(path);
        } else {
            return Err(invalid(format!(
                "`{}` is neither a file nor a directory",
                path.display()
            )));
        }
    }
    Ok(out)
}

/// Builds up the `Packages` text of an in-memory repository.
#[derive(Default)]
struct Made {
    text: String,
    versions: BuiltVersions,
    /// The `.deb` files, in the cache.
    paths: Vec<std::path::PathBuf>,
}

impl Made {
    fn add(&mut self, cache: &Path, deb: &staves_source::BuiltDeb) -> Result<(), PipelineError> {
        if self.versions.iter().any(|(n, _)| *n == deb.name) {
            return Ok(());
        }
        let relative = deb
            .path
            .strip_prefix(cache)
            .map_err(|_| PipelineError::BuiltPackage(format!("{} outside the cache", deb.name)))?;
        self.text.push_str(&format!(
            "{}\nFilename: {}\nSize: {}\nSHA256: {}\n\n",
            deb.control,
            relative.display(),
            deb.size,
            deb.sha256
        ));
        let version = Version::parse(&deb.version).map_err(|e| {
            PipelineError::BuiltPackage(format!("{} has version {}: {e}", deb.name, deb.version))
        })?;
        self.versions.push((deb.name.clone(), version));
        self.paths.push(deb.path.clone());
        Ok(())
    }
}

impl Workspace {
    /// Builds (or takes from the cache) every `source = true` package and every recipe for
    /// `arch`, and takes in the spec's local `.deb`s; returns the repositories of what was
    /// built and given (to put before the archive's), with the version of each package.
    pub(crate) fn source_builds(
        &self,
        arch: &str,
        synced: &mut Vec<SyncedRepository>,
    ) -> Result<(Vec<SyncedRepository>, BuiltVersions), PipelineError> {
        let names = self.spec.source_builds();
        let mut built = Made::default();
        if !names.is_empty() || !self.recipes.is_empty() {
            self.build_all(arch, synced, &names, &mut built)?;
            self.reported_builds
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let mut local = Made::default();
        for path in local_debs(&self.spec)? {
            let deb = staves_source::store::import(&self.cache, &path)?;
            if deb.arch != arch && deb.arch != "all" {
                continue;
            }
            local.add(self.cache.root(), &deb)?;
        }
        let mut repositories = Vec::new();
        let mut versions = Vec::new();
        for (made, name, uri) in [(built, BUILT, BUILT_URI), (local, LOCAL, LOCAL_URI)] {
            if made.versions.is_empty() {
                continue;
            }
            let mut repository = SyncedRepository::in_memory(name, uri, arch, made.text);
            repository.config.suite = name.into();
            repositories.push(repository);
            versions.extend(made.versions);
        }
        Ok((repositories, versions))
    }

    /// Every package the spec builds from source or by a recipe for `arch`, split packages
    /// included, built now or taken from the cache: their `.deb` files in the cache, for
    /// `staves upload --built`.
    pub fn built_packages(&self, arch: &str) -> Result<Vec<std::path::PathBuf>, PipelineError> {
        let names = self.spec.source_builds();
        let mut made = Made::default();
        if !names.is_empty() || !self.recipes.is_empty() {
            let mut synced = self.sync(arch)?;
            self.build_all(arch, &mut synced, &names, &mut made)?;
        }
        Ok(made.paths)
    }

    fn build_all(
        &self,
        arch: &str,
        synced: &mut Vec<SyncedRepository>,
        names: &[&str],
        made: &mut Made,
    ) -> Result<(), PipelineError> {
        let progress = self.reporter().downloads("Fetching");
        let client = self.client(progress.clone());
        let mut sources = Vec::new();
        if !names.is_empty() {
            for repository in synced.iter() {
                match repository
                    .config
                    .sources(&client, &self.cache, repository, self.freshness())
                {
                    Ok(indices) => sources.push(indices),
                    // A repository of binary packages only has nothing to build from.
                    Err(RepoError::MissingIndex { .. }) => sources.push(Vec::new()),
                    Err(e) => return Err(e.into()),
                }
            }
        }
        let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
        let bridge = Bridge(self.reporter());
        let builder = Builder {
            cache: &self.cache,
            client: &client,
            arch,
            jobs,
            reporter: &bridge,
            limits: self.build_limits,
            shared: self.shared.as_deref(),
        };
        for name in names {
            let pin = self
                .spec
                .package_options
                .get(*name)
                .and_then(|o| o.get_ref().version.as_ref())
                .and_then(|v| staves_spec::request::parse_version_pin(v.get_ref()).ok());
            let request = SourceRequest {
                binary: name,
                pin: pin.as_ref(),
                env: self.spec.env_for(name),
            };
            let built = builder.build(synced, &sources, &request)?;
            self.report_reused(&built);
            for deb in &built.debs {
                made.add(self.cache.root(), deb)?;
            }
        }
        for recipe in &self.recipes {
            let env = self.spec.env_for(recipe.name.get_ref());
            let built = builder.build_recipe(synced, recipe, &env)?;
            self.report_reused(&built);
            for deb in &built.debs {
                made.add(self.cache.root(), deb)?;
            }
        }
        Ok(())
    }

    fn report_reused(&self, built: &staves_source::Built) {
        if built.reused {
            self.reporter().status(
                "Reused",
                &format!(
                    "{} built before with the same inputs ({})",
                    built.source,
                    built.cflags()
                ),
            );
        }
    }

    /// Makes sure every package the lock says was built from source is in the cache: a
    /// cache cleaned since is rebuilt, and a rebuild whose bytes differ from the lock's is
    /// an error (the build is not reproducible).
    pub(crate) fn ensure_built(&self, lock: &Lockfile) -> Result<(), PipelineError> {
        for arch in &self.selected {
            let Some(target) = lock.target(arch) else {
                continue;
            };
            let (kept, missing): (Vec<_>, Vec<_>) = target
                .packages
                .iter()
                .filter(|p| {
                    // By the lock's URI: only Staves' own repositories have these.
                    lock.repositories.iter().any(|r| {
                        r.name == p.repository && (r.uri == BUILT_URI || r.uri == LOCAL_URI)
                    })
                })
                .partition(|p| staves_repo::debs::deb_path(&self.cache, &p.sha256).is_file());
            let said = self
                .reported_builds
                .load(std::sync::atomic::Ordering::Relaxed);
            for package in kept.iter().filter(|_| !said) {
                self.reporter().status(
                    "Reused",
                    &format!(
                        "{} {}, built before and kept in the cache",
                        package.name, package.version
                    ),
                );
            }
            if missing.is_empty() {
                continue;
            }
            let mut synced = self.sync(arch)?;
            let (made, _) = self.source_builds(arch, &mut synced)?;
            for package in missing {
                let same = made.iter().flat_map(|r| &r.indices).any(|(_, _, index)| {
                    index
                        .by_name(&package.name)
                        .any(|p| p.get("SHA256") == Some(package.sha256.as_str()))
                });
                if same {
                    continue;
                }
                return Err(PipelineError::LockedDebChanged {
                    name: package.name.clone(),
                    version: package.version.clone(),
                    local: package.repository == LOCAL,
                });
            }
        }
        Ok(())
    }
}
