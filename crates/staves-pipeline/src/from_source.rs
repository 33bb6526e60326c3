//! Packages the spec builds from source, joined to the resolution: what the builds made is
//! one more repository, put first, so the built packages replace the archive's of the same
//! name and version; the lockfile records them with their checksums under [`BUILT`].

use std::path::Path;

use staves_deb::{Version, VersionOp};
use staves_repo::{Client, RepoError, SyncedRepository};
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
    if uri == BUILT_URI {
        format!("file:{}/{filename}", cache_root.display())
    } else {
        format!("{uri}/{filename}")
    }
}

impl Workspace {
    /// Builds (or takes from the cache) every `source = true` package for `arch` and returns
    /// the repository of what was made, with the version of each package built.
    pub(crate) fn source_builds(
        &self,
        arch: &str,
        synced: &mut Vec<SyncedRepository>,
    ) -> Result<Option<(SyncedRepository, BuiltVersions)>, PipelineError> {
        let names = self.spec.source_builds();
        if names.is_empty() {
            return Ok(None);
        }
        let progress = self.reporter().downloads("Fetching");
        let client = Client::new(progress.clone());
        let mut sources = Vec::new();
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
        let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
        let bridge = Bridge(self.reporter());
        let builder = Builder {
            cache: &self.cache,
            client: &client,
            arch,
            jobs,
            offline: self.offline(),
            reporter: &bridge,
        };
        let pins: Vec<Option<(VersionOp, Version)>> = names
            .iter()
            .map(|name| {
                self.spec
                    .package_options
                    .get(*name)
                    .and_then(|o| o.get_ref().version.as_ref())
                    .and_then(|v| staves_spec::request::parse_version_pin(v.get_ref()).ok())
            })
            .collect();
        let mut text = String::new();
        let mut made = Vec::new();
        for (name, pin) in names.iter().zip(&pins) {
            let request = SourceRequest {
                binary: name,
                pin: pin.as_ref(),
                env: self.spec.env_for(name),
            };
            let built = builder.build(synced, &sources, &request)?;
            if built.reused {
                self.reporter().status(
                    "Reused",
                    &format!(
                        "{} built from source before with the same inputs ({})",
                        built.source,
                        built
                            .flags
                            .iter()
                            .find(|f| f.starts_with("CFLAGS="))
                            .map_or("", String::as_str)
                    ),
                );
            }
            for deb in &built.debs {
                if made.iter().any(|(n, _)| *n == deb.name) {
                    continue;
                }
                let relative = deb.path.strip_prefix(self.cache.root()).map_err(|_| {
                    PipelineError::Internal("a built package outside the cache".into())
                })?;
                text.push_str(&format!(
                    "{}\nFilename: {}\nSize: {}\nSHA256: {}\n\n",
                    deb.control,
                    relative.display(),
                    deb.size,
                    deb.sha256
                ));
                let version = Version::parse(&deb.version).map_err(|e| {
                    PipelineError::Internal(format!(
                        "built {} has version {}: {e}",
                        deb.name, deb.version
                    ))
                })?;
                made.push((deb.name.clone(), version));
            }
        }
        drop(client);
        drop(progress);
        let mut repository = SyncedRepository::in_memory(BUILT, BUILT_URI, arch, text);
        repository.config.suite = "source".into();
        Ok(Some((repository, made)))
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
                .filter(|p| p.repository == BUILT)
                .partition(|p| staves_repo::debs::deb_path(&self.cache, &p.sha256).is_file());
            for package in kept {
                self.reporter().status(
                    "Reused",
                    &format!(
                        "{} {} built from source as locked (kept in the cache)",
                        package.name, package.version
                    ),
                );
            }
            if missing.is_empty() {
                continue;
            }
            let mut synced = self.sync(arch)?;
            let Some((built, _)) = self.source_builds(arch, &mut synced)? else {
                continue;
            };
            for package in missing {
                let same = built.indices.iter().any(|(_, _, index)| {
                    index
                        .by_name(&package.name)
                        .any(|p| p.get("SHA256") == Some(package.sha256.as_str()))
                });
                if !same {
                    return Err(PipelineError::Invalid(format!(
                        "{} {} was built from source again (the cache had lost it) and its bytes differ from the lock's: the build is not reproducible; `staves lock` records the new build",
                        package.name, package.version
                    )));
                }
            }
        }
        Ok(())
    }
}
