//! One source build, from the binary package's name to its cached `.deb`s.

use std::path::PathBuf;
use std::time::Instant;

use sha2::{Digest, Sha256};
use staves_deb::source::build_relations;
use staves_deb::{Version, VersionOp};
use staves_repo::debs::{DebFetch, fetch_verified};
use staves_repo::{Cache, Client, PackageIndex, SyncedRepository};

use crate::env::BuildEnvironment;
use crate::error::SourceError;
use crate::locate::{SourcePackage, check_dsc, locate};
use crate::sandbox::{STEP_MARKER, Sandbox};
use crate::store::{self, Built};
use crate::{BuildReporter, root};

/// Changes whenever what a build does changes, so older results are not reused.
const BUILD_FORMAT: &str = "staves source build 1";

/// What builds packages from source, and where.
pub struct Builder<'a> {
    /// Downloads and results go here.
    pub cache: &'a Cache,
    /// Where source files and build dependencies are fetched with (offline when it is).
    pub client: &'a Client,
    /// The architecture built for (natively).
    pub arch: &'a str,
    /// Parallel downloads, and `parallel=` of `DEB_BUILD_OPTIONS`.
    pub jobs: usize,
    /// Where progress and build logs go.
    pub reporter: &'a dyn BuildReporter,
    /// Time, processes and scratch space each build may use.
    pub limits: crate::BuildLimits,
    /// The cache's tier shared with other machines: asked before a build, offered its
    /// result after.
    pub shared: Option<&'a dyn staves_types::SharedCache>,
}

/// One package to build from source.
#[derive(Debug, Clone)]
pub struct SourceRequest<'a> {
    /// The binary package the spec marks `source = true`.
    pub binary: &'a str,
    /// The spec's version pin for it.
    pub pin: Option<&'a (VersionOp, Version)>,
    /// `[env]` assignments, in order.
    pub env: Vec<(&'a str, &'a str)>,
}

impl Builder<'_> {
    /// Builds (or finds in the cache) the source package of `request.binary`. `synced`
    /// are the repositories (given back as they came), `sources[i]` the `Sources`
    /// indices of `synced[i]`.
    pub fn build(
        &self,
        synced: &mut Vec<SyncedRepository>,
        sources: &[Vec<(String, PackageIndex)>],
        request: &SourceRequest<'_>,
    ) -> Result<Built, SourceError> {
        let env = BuildEnvironment::new(&request.env, self.jobs)?;
        let package = locate(request.binary, self.arch, request.pin, synced, sources)?;
        let label = package.label();
        let fields = package.fields().ok_or_else(|| SourceError::Malformed {
            what: format!("the Sources paragraph of {label}"),
            message: "is empty".into(),
        })?;
        let relations = build_relations(&fields, self.arch, &env.profiles).map_err(|e| {
            SourceError::Malformed {
                what: format!("the build relationships of {label}"),
                message: e.to_string(),
            }
        })?;
        let root_packages = root::resolve_packages(synced, self.arch, &relations, &label)?;
        let dsc = format!("dsc {}", package.dsc.sha256);
        let key = self.key(BUILD_FORMAT, &dsc, &root_packages, &env, &[]);
        let _lock = self.cache.lock(&format!("built-{key}"))?;
        if let Some(built) = self.lookup(&key, &label) {
            return Ok(built);
        }
        let started = Instant::now();
        let files = self.fetch_sources(&package)?;
        let root = self.root(synced, &root_packages, &label)?;
        let assembled = started.elapsed();
        self.report_building(
            &format!("{label} from source"),
            &root_packages,
            &root,
            assembled,
            &env,
        );
        let scratch = self.cache.scratch_dir()?;
        let work = scratch.path().join("build");
        std::fs::create_dir_all(&work).map_err(SourceError::io("creating", &work))?;
        let sandbox = Sandbox {
            root: &root.dir,
            work: &work,
            inputs: files
                .iter()
                .map(|(path, name)| (path.clone(), name.clone()))
                .collect(),
            caches: Vec::new(),
            env: env
                .vars
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            limits: self.limits,
        };
        let log = scratch.path().join("build.log");
        let outcome = sandbox.run(&script(&package), &log, self.reporter, request.binary)?;
        if outcome.code != 0 {
            return Err(self.failed(label, &package.name, &package.version, outcome, &log));
        }
        let made = made_debs(&work)?;
        let flags = read_flags(&work.join("flags"));
        let built = store::store(self.cache, &key, &label, &made, &flags, &log)?;
        self.offer(&key, &label, &built);
        if !built.debs.iter().any(|d| d.name == request.binary) {
            return Err(SourceError::NotMade {
                source_package: label,
                binary: request.binary.to_owned(),
                made: built
                    .debs
                    .iter()
                    .map(|d| d.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        self.report_built(&label, &built, started, |d| {
            format!("{} {}", d.name, d.version)
        });
        Ok(built)
    }

    /// `Building …`: what, on how many packages, how long the root took, with which flags.
    pub(crate) fn report_building(
        &self,
        what: &str,
        packages: &root::RootPackages,
        root: &root::BuildRoot,
        assembled: std::time::Duration,
        env: &BuildEnvironment,
    ) {
        self.reporter.status(
            "Building",
            &format!(
                "{what} for {} in a sandbox on {} packages ({}{:.1} s){}",
                self.arch,
                packages.packages.len(),
                if root.reused {
                    "root reused, "
                } else {
                    "root assembled in "
                },
                assembled.as_secs_f64(),
                describe_env(env),
            ),
        );
    }

    /// `Built …`: each package as `describe` puts it, the time, the C flags.
    /// The build `key` from this cache, else from the shared tier (a failure there is
    /// reported and the package built here).
    pub(crate) fn lookup(&self, key: &str, label: &str) -> Option<Built> {
        if let Some(built) = store::lookup(self.cache, key) {
            return Some(built);
        }
        let shared = self.shared?;
        match store::lookup_shared(self.cache, shared, key) {
            Ok(Some(built)) => {
                self.reporter.status(
                    "Shared",
                    &format!("{label}: built before on another machine, from the shared cache"),
                );
                Some(built)
            }
            Ok(None) => None,
            Err(e) => {
                self.reporter.status(
                    "Skipped",
                    &format!("{label} from the shared cache, built here instead: {e}"),
                );
                None
            }
        }
    }

    /// Offers a build just made to the shared tier; a failure costs other machines a build.
    pub(crate) fn offer(&self, key: &str, label: &str, built: &Built) {
        if let Some(shared) = self.shared
            && let Err(e) = store::keep_shared(self.cache, shared, key, built)
        {
            self.reporter.status(
                "Skipped",
                &format!("offering {label} to the shared cache: {e}"),
            );
        }
    }

    pub(crate) fn report_built(
        &self,
        label: &str,
        built: &Built,
        started: Instant,
        describe: impl Fn(&crate::BuiltDeb) -> String,
    ) {
        let debs: Vec<String> = built.debs.iter().map(describe).collect();
        self.reporter.status(
            "Built",
            &format!(
                "{label}: {} in {:.1} s ({}); log: {}",
                debs.join(", "),
                started.elapsed().as_secs_f64(),
                built.cflags(),
                built.log.display(),
            ),
        );
    }

    /// The error for a build that failed, its log kept outside the scratch directory.
    pub(crate) fn failed(
        &self,
        label: String,
        name: &str,
        version: &str,
        outcome: crate::sandbox::Outcome,
        log: &std::path::Path,
    ) -> SourceError {
        let kept = self
            .cache
            .root()
            .join("logs")
            .join(format!("{name}_{version}.log"));
        let kept = std::fs::create_dir_all(staves_fs::parent_of(&kept))
            .and_then(|()| std::fs::copy(log, &kept))
            .map_or(log.to_owned(), |_| kept);
        if let Some(limit) = outcome.stopped {
            return SourceError::Limit {
                source_package: label,
                step: outcome.step,
                limit,
                log: kept,
            };
        }
        SourceError::Failed {
            source_package: label,
            step: outcome.step,
            code: outcome.code,
            log: kept,
            tail: outcome.tail.join("\n"),
        }
    }

    /// The cache key of a build: its kind (`format`, changed whenever what a build does
    /// changes), the architecture, what it builds from (`inputs`: lines such as
    /// `dsc SHA256`), the build root's package set and the environment; `extra` is any
    /// further text that counts (a recipe's).
    pub(crate) fn key(
        &self,
        format: &str,
        inputs: &str,
        root: &root::RootPackages,
        env: &BuildEnvironment,
        extra: &[u8],
    ) -> String {
        let mut hasher = Sha256::new();
        hasher.update(format!(
            "{format}\narch {}\n{inputs}\nroot {}\n",
            self.arch, root.key
        ));
        for line in env.lines() {
            hasher.update(format!("env {line}\n"));
        }
        hasher.update(extra);
        hex::encode(hasher.finalize())
    }

    /// The build root of `packages`: from the cache, or fetched and assembled.
    pub(crate) fn root(
        &self,
        synced: &[SyncedRepository],
        packages: &root::RootPackages,
        label: &str,
    ) -> Result<root::BuildRoot, SourceError> {
        root::assemble(self.cache, self.client, synced, packages, self.jobs, label)
    }

    /// Fetches every file of the source package, checked by size and SHA-256 against the
    /// signed index, and checks that the `.dsc` names the same files.
    fn fetch_sources(
        &self,
        package: &SourcePackage,
    ) -> Result<Vec<(PathBuf, String)>, SourceError> {
        let fetches: Vec<DebFetch> = package
            .files
            .iter()
            .map(|f| DebFetch {
                elsewhere: None,
                package: format!("{} ({})", package.label(), f.name),
                url: format!("{}/{}/{}", package.uri, package.directory, f.name),
                size: f.size,
                sha256: f.sha256.clone(),
            })
            .collect();
        let paths = fetch_verified(
            self.client,
            self.cache,
            ("sources", ""),
            &fetches,
            self.jobs,
        )?;
        let names = package.files.iter().map(|f| f.name.clone());
        let files: Vec<(PathBuf, String)> = paths.into_iter().zip(names).collect();
        let dsc = files
            .iter()
            .find(|(_, name)| *name == package.dsc.name)
            .map(|(path, _)| path.clone())
            .unwrap_or_default();
        let text = std::fs::read(&dsc).map_err(SourceError::io("reading", &dsc))?;
        check_dsc(package, &String::from_utf8_lossy(&text))?;
        Ok(files)
    }
}

/// The script run in the sandbox: unpack, report the flags, build binary packages.
fn script(package: &SourcePackage) -> String {
    // The flags C programs are built with; `[env]` may change any of FLAGS.
    let flags = ["CFLAGS", "CPPFLAGS", "CXXFLAGS", "LDFLAGS"].join(" ");
    format!(
        "echo '{STEP_MARKER}dpkg-source -x'\n\
         dpkg-source -x '{dsc}' src\n\
         cd src\n\
         echo '{STEP_MARKER}dpkg-buildflags'\n\
         for flag in {flags}; do echo \"$flag=$(dpkg-buildflags --get $flag)\"; done > /build/flags\n\
         cat /build/flags\n\
         echo '{STEP_MARKER}dpkg-buildpackage -b'\n\
         dpkg-buildpackage -b -uc -us\n",
        dsc = package.dsc.name,
    )
}

/// The `.deb`s `dpkg-buildpackage` wrote beside the source tree, by name.
fn made_debs(work: &std::path::Path) -> Result<Vec<PathBuf>, SourceError> {
    let mut made: Vec<PathBuf> = std::fs::read_dir(work)
        .map_err(SourceError::io("reading", work))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "deb") && p.is_file())
        .collect();
    made.sort();
    Ok(made)
}

pub(crate) fn read_flags(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|t| t.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// `, with DEB_CFLAGS_APPEND=-O3 …` for the status line, or nothing.
pub(crate) fn describe_env(env: &BuildEnvironment) -> String {
    let set: Vec<String> = env
        .lines()
        .into_iter()
        .filter(|l| !l.starts_with("DEB_BUILD_OPTIONS=parallel=") || l.contains(' '))
        .collect();
    if set.is_empty() {
        String::new()
    } else {
        format!(", with {}", set.join(" "))
    }
}
