//! One configured repository, synchronised into verified, indexed `Packages` files.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::Client;
use crate::cache::Cache;
use crate::error::RepoError;
use crate::index::{Damage, PackageIndex, TextDigest};
use crate::keyring::Keyring;
use crate::release::{FileEntry, Release};

mod decode;
mod release;

use decode::{MAX_INDEX_RATIO, MIN_INDEX_LIMIT, decode_verified};
pub use release::MAX_RELEASE;
use release::apt_default_keyrings;

/// Where a repository's signing keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// Keyring files (binary or armored).
    Files(Vec<PathBuf>),
    /// An armored key block given inline.
    Inline(String),
    /// apt's global keyrings: `/etc/apt/trusted.gpg` and `/etc/apt/trusted.gpg.d/*`.
    AptDefault,
}

/// `base` in the best compression the release lists: `.xz`, `.gz`, then plain.
fn best_compression(release: &Release, base: &str) -> Option<(String, FileEntry)> {
    ["xz", "gz", ""].iter().find_map(|ext| {
        let path = if ext.is_empty() {
            base.to_owned()
        } else {
            format!("{base}.{ext}")
        };
        release.files.get(&path).map(|e| (path, e.clone()))
    })
}

/// A repository as a spec (or the host's apt sources) describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryConfig {
    /// A short name, used in the lockfile and messages.
    pub name: String,
    /// Archive root (`http://…/debian`), without trailing slash.
    pub uri: String,
    /// Suite or codename under `dists/`.
    pub suite: String,
    /// Components to read (`main`, …).
    pub components: Vec<String>,
    /// Keys that must sign the release.
    pub keys: KeySource,
    /// Accept the release without signature or expiry checks.
    pub trusted: bool,
    /// PEM files of authorities trusted for this repository's HTTPS besides the run's.
    pub ca_certificates: Vec<PathBuf>,
    /// Pin priority (apt's `Pin-Priority`) instead of the one its release implies.
    pub priority: Option<i32>,
    /// A snapshot archive of this repository (`<snapshot>/<YYYYMMDDTHHMMSSZ>/<Filename>`).
    pub snapshot: Option<String>,
}

/// When to fetch a release again rather than use the cached one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Use the cached release when fetched less than this long ago.
    MaxAge(Duration),
    /// Always fetch the release (indices are still reused when unchanged).
    Refresh,
    /// Never touch the network.
    Offline,
}

/// A repository whose release was verified and whose indices are ready.
#[derive(Debug)]
pub struct SyncedRepository {
    /// The configuration it came from.
    pub config: RepositoryConfig,
    /// The verified release.
    pub release: Release,
    /// `(component, architecture, index)` for every index read.
    pub indices: Vec<(String, String, PackageIndex)>,
}

impl staves_deb::packages::PackageSource for SyncedRepository {
    fn origin(&self) -> staves_deb::packages::Origin<'_> {
        staves_deb::packages::Origin {
            name: &self.config.name,
            uri: &self.config.uri,
            suite: &self.config.suite,
            release_names: [&self.release.suite, &self.release.codename],
            priority: self.priority(),
            date: self.release.date,
        }
    }

    fn named<'a>(&'a self, name: &'a str) -> staves_deb::packages::Paragraphs<'a> {
        Box::new(
            self.indices
                .iter()
                .flat_map(move |(_, _, i)| i.by_name(name)),
        )
    }

    fn providing<'a>(&'a self, name: &'a str) -> staves_deb::packages::Paragraphs<'a> {
        Box::new(
            self.indices
                .iter()
                .flat_map(move |(_, _, i)| i.providers(name)),
        )
    }

    fn names(&self) -> Box<dyn Iterator<Item = &str> + '_> {
        Box::new(self.indices.iter().flat_map(|(_, _, i)| i.names()))
    }
}

impl SyncedRepository {
    /// Discards every index of this repository a read found damaged (its blocks are
    /// checked as they are read), so that the next sync fetches it again; returns whether
    /// there was one. Offline nothing can be fetched again: that is an error.
    pub fn discard_damaged(&self, client: &Client, cache: &Cache) -> Result<bool, RepoError> {
        let mut any = false;
        for (component, arch, index) in &self.indices {
            let (Some(reason), Some(source)) = (index.damage(), index.source()) else {
                continue;
            };
            let what = format!(
                "{}/dists/{}/{component}/binary-{arch}/Packages",
                self.config.uri, self.config.suite
            );
            if client.is_offline() {
                return Err(RepoError::Damaged {
                    path: PackageIndex::text_path(cache, source),
                    reason: format!("{reason} ({what})"),
                });
            }
            client.progress().repaired(&what, &reason);
            PackageIndex::discard(cache, source)?;
            any = true;
        }
        Ok(any)
    }

    /// Its pin priority: the configured one, else what its release implies (apt's rules).
    pub fn priority(&self) -> i32 {
        self.config.priority.unwrap_or_else(|| {
            staves_deb::packages::release_priority(
                self.release.not_automatic,
                self.release.but_automatic_upgrades,
            )
        })
    }

    /// A repository whose one index is `text`, held in memory and trusted as it is: what
    /// Staves made itself (packages built from source, a build's dependencies).
    pub fn in_memory(name: &str, uri: &str, arch: &str, text: String) -> Self {
        SyncedRepository {
            config: RepositoryConfig {
                name: name.to_owned(),
                uri: uri.to_owned(),
                suite: String::new(),
                components: Vec::new(),
                keys: KeySource::Inline(String::new()),
                trusted: true,
                ca_certificates: Vec::new(),
                priority: None,
                snapshot: None,
            },
            release: Release::default(),
            indices: vec![(
                String::new(),
                arch.to_owned(),
                PackageIndex::from_text(text),
            )],
        }
    }
}

impl RepositoryConfig {
    /// A stable key for this repository's cached release.
    pub fn cache_key(&self) -> String {
        let digest = Sha256::digest(format!("{}\n{}", self.uri, self.suite));
        hex::encode(&digest[..16])
    }

    fn dists(&self) -> String {
        format!("{}/dists/{}", self.uri, self.suite)
    }

    /// Loads the keyring this repository is verified against.
    pub fn keyring(&self) -> Result<Keyring, RepoError> {
        match &self.keys {
            KeySource::Files(paths) => Ok(Keyring::from_files(paths)?),
            KeySource::Inline(text) => {
                let mut ring = Keyring::default();
                ring.add_bytes(text.as_bytes(), &format!("inline key of {}", self.name))?;
                Ok(ring)
            }
            KeySource::AptDefault => Ok(Keyring::from_files(&apt_default_keyrings())?),
        }
    }

    /// Verifies the release (fetching it when `freshness` says so) and makes sure every
    /// `Packages` index for `archs` is cached, verified and indexed.
    pub fn sync(
        &self,
        client: &Client,
        cache: &Cache,
        archs: &[String],
        freshness: Freshness,
        now: SystemTime,
    ) -> Result<SyncedRepository, RepoError> {
        let _lock = cache.lock(&self.cache_key())?;
        let release = self.release(client, cache, freshness, now)?;
        let wanted = self.wanted_indices(&release, archs)?;
        // Each index is checked (and fetched when missing or damaged) in its own thread:
        // hashing the largest one is most of a warm run's work.
        let results: Vec<Result<(String, String, PackageIndex), RepoError>> =
            std::thread::scope(|s| {
                let handles: Vec<_> = wanted
                    .into_iter()
                    .map(|(component, arch, path, entry)| {
                        let release = &release;
                        s.spawn(move || {
                            self.index(client, cache, release, &path, &entry, freshness)
                                .map(|index| (component, arch, index))
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(RepoError::Malformed {
                                what: self.name.clone(),
                                message: "index thread panicked".into(),
                            })
                        })
                    })
                    .collect()
            });
        let indices = results.into_iter().collect::<Result<_, _>>()?;
        Ok(SyncedRepository {
            config: self.clone(),
            release,
            indices,
        })
    }

    /// The `Sources` index of each component of a synced repository, verified through its
    /// release like every `Packages` index (fetched only when the cache cannot serve it).
    pub fn sources(
        &self,
        client: &Client,
        cache: &Cache,
        synced: &SyncedRepository,
        freshness: Freshness,
    ) -> Result<Vec<(String, PackageIndex)>, RepoError> {
        let release = &synced.release;
        self.components
            .iter()
            .map(|component| {
                let base = format!("{component}/source/Sources");
                let (path, entry) =
                    best_compression(release, &base).ok_or_else(|| RepoError::MissingIndex {
                        repository: self.name.clone(),
                        what: base.clone(),
                        available: "no source indices: the archive publishes binary packages only"
                            .into(),
                    })?;
                let index = self.index(client, cache, release, &path, &entry, freshness)?;
                Ok((component.clone(), index))
            })
            .collect()
    }

    /// One index: the cached copy when it is still what was verified, else fetched anew.
    fn index(
        &self,
        client: &Client,
        cache: &Cache,
        release: &Release,
        path: &str,
        entry: &FileEntry,
        freshness: Freshness,
    ) -> Result<PackageIndex, RepoError> {
        let what = format!("{}/{path}", self.dists());
        match PackageIndex::open_verified(cache, &entry.sha256)? {
            Ok(index) => return Ok(index),
            Err(Damage::Damaged(reason)) if freshness == Freshness::Offline => {
                return Err(RepoError::Damaged {
                    path: PackageIndex::text_path(cache, &entry.sha256),
                    reason: format!("{reason} ({what})"),
                });
            }
            Err(Damage::Damaged(reason)) => client.progress().repaired(&what, &reason),
            Err(Damage::Missing) => {}
        }
        if freshness == Freshness::Offline {
            return Err(RepoError::Offline { what });
        }
        let digest = self.fetch_index(client, cache, release, path, entry)?;
        PackageIndex::create(cache, &entry.sha256, digest)
    }

    /// `(component, arch, path, entry)` of each index to read, in the best compression.
    fn wanted_indices(
        &self,
        release: &Release,
        archs: &[String],
    ) -> Result<Vec<(String, String, String, FileEntry)>, RepoError> {
        let mut out = Vec::new();
        // A release that lists its architectures says outright which ones it lacks.
        if let Some(missing) = archs
            .iter()
            .find(|a| !release.architectures.is_empty() && !release.architectures.contains(a))
        {
            return Err(RepoError::UnknownArchitecture {
                repository: self.name.clone(),
                arch: missing.clone(),
                available: release
                    .architectures
                    .iter()
                    .filter(|a| *a != "all")
                    .cloned()
                    .collect(),
            });
        }
        for component in &self.components {
            let mut arch_list: Vec<&str> = archs.iter().map(String::as_str).collect();
            // apt reads `binary-all` only when the release lists `all` among its
            // architectures and does not fold `all` packages into each arch's index.
            if !release.all_in_arch_indices && release.architectures.iter().any(|a| a == "all") {
                arch_list.push("all");
            }
            for arch in arch_list {
                let base = format!("{component}/binary-{arch}/Packages");
                match best_compression(release, &base) {
                    Some((path, entry)) => {
                        out.push((component.clone(), arch.to_owned(), path, entry))
                    }
                    None if arch == "all" => {}
                    None => {
                        let mut available: Vec<&str> = release
                            .files
                            .keys()
                            .filter(|k| k.ends_with("/Packages") || k.ends_with("/Packages.xz"))
                            .map(String::as_str)
                            .take(8)
                            .collect();
                        available.dedup();
                        return Err(RepoError::MissingIndex {
                            repository: self.name.clone(),
                            what: base,
                            available: available.join(", "),
                        });
                    }
                }
            }
        }
        Ok(out)
    }

    /// Downloads one index, checks size and SHA-256 of the bytes as published, and stores the
    /// decompressed text under that checksum. The text may be no larger than the release
    /// says the uncompressed index is (when it lists it, its checksum must match too), or
    /// else a generous multiple of the compressed size: a small signed file must not fill
    /// the disk.
    fn fetch_index(
        &self,
        client: &Client,
        cache: &Cache,
        release: &Release,
        path: &str,
        entry: &FileEntry,
    ) -> Result<TextDigest, RepoError> {
        let plain_entry = [".xz", ".gz"]
            .iter()
            .find_map(|ext| path.strip_suffix(ext))
            .and_then(|base| release.files.get(base));
        let limit = match plain_entry {
            Some(plain) => plain.size,
            None => entry
                .size
                .saturating_mul(MAX_INDEX_RATIO)
                .max(MIN_INDEX_LIMIT),
        };
        let plain = format!("{}/{path}", self.dists());
        let by_hash = match path.rsplit_once('/') {
            Some((dir, _)) if release.acquire_by_hash => Some(format!(
                "{}/{dir}/by-hash/SHA256/{}",
                self.dists(),
                entry.sha256
            )),
            _ => None,
        };
        let target = PackageIndex::text_path(cache, &entry.sha256);
        let download = |url: &str| {
            client.stream(url, Some(entry.size), |body| {
                cache.write_atomic(&target, |file| {
                    let digest = decode_verified(body, file, path, entry, url, &target, limit)?;
                    match plain_entry {
                        Some(plain) if hex::encode(digest.sha256) != plain.sha256 => {
                            Err(RepoError::Checksum {
                                what: format!("{url} (decompressed)"),
                                expected: plain.sha256.clone(),
                                actual: hex::encode(digest.sha256),
                            })
                        }
                        _ => Ok(digest),
                    }
                })
            })
        };
        match by_hash {
            Some(url) => match download(&url) {
                Err(e) if e.is_not_found() => download(&plain),
                other => other,
            },
            None => download(&plain),
        }
    }
}
