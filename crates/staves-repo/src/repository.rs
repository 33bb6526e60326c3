//! One configured repository, synchronised into verified, indexed `Packages` files.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::cache::Cache;
use crate::error::RepoError;
use crate::http::{Client, network};
use crate::index::{Damage, PackageIndex, TextDigest};
use crate::keyring::{Keyring, Signer};
use crate::release::{FileEntry, Release};

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

    /// The verified release: from the cache when fresh enough, else fetched and verified
    /// before it replaces the cached one.
    fn release(
        &self,
        client: &Client,
        cache: &Cache,
        freshness: Freshness,
        now: SystemTime,
    ) -> Result<Release, RepoError> {
        let cached = cache.release_path(&format!("{}.InRelease", self.cache_key()));
        let age = std::fs::metadata(&cached)
            .and_then(|m| m.modified())
            .ok()
            .map(|t| now.duration_since(t).unwrap_or_default());
        let use_cached = match (freshness, age) {
            (_, None) => false,
            (Freshness::Offline, Some(_)) => true,
            (Freshness::Refresh, Some(_)) => false,
            (Freshness::MaxAge(max), Some(age)) => age < max,
        };
        let what = format!("{}/InRelease", self.dists());
        if use_cached {
            let bytes = read_bounded(&cached, MAX_RELEASE)?;
            match self.accept(cache, &bytes, None, &what, now) {
                Ok(release) => return Ok(release),
                // Offline there is nothing to repair it with; say what is wrong.
                Err(e) if freshness == Freshness::Offline => return Err(e),
                Err(e) => {
                    client
                        .progress()
                        .repaired(&what, &format!("the cached copy was refused ({e})"));
                    cache.discard(&cached)?;
                }
            }
        }
        if freshness == Freshness::Offline {
            return Err(RepoError::NotCached {
                repository: self.name.clone(),
            });
        }
        let (signed, release) = match client.get_bytes(&what, MAX_RELEASE) {
            Ok(bytes) => {
                let release = self.accept(cache, &bytes, None, &what, now)?;
                (bytes, release)
            }
            Err(RepoError::Status { status: 404, .. }) => {
                self.fetch_detached(client, cache, now)?
            }
            Err(e) => return Err(e),
        };
        // Store the release in InRelease form only when it was one; a detached pair is kept
        // as the release followed by its signature in a second file.
        cache.write_atomic(&cached, |f| {
            f.write_all(&signed)
                .map_err(RepoError::io("writing", &cached))
        })?;
        Ok(release)
    }

    /// `Release` + `Release.gpg`, for repositories without `InRelease`.
    fn fetch_detached(
        &self,
        client: &Client,
        cache: &Cache,
        now: SystemTime,
    ) -> Result<(Vec<u8>, Release), RepoError> {
        let what = format!("{}/Release", self.dists());
        let data = client.get_bytes(&what, MAX_RELEASE)?;
        let signature = match client.get_bytes(&format!("{what}.gpg"), MAX_SIGNATURE) {
            Ok(sig) => Some(sig),
            Err(RepoError::Status { status: 404, .. }) => None,
            Err(e) => return Err(e),
        };
        let release = self.accept(cache, &data, signature.as_deref(), &what, now)?;
        // Cache the pair as one file: the signature is re-checked from it on later runs.
        let mut combined = Vec::new();
        combined.extend_from_slice(DETACHED_MAGIC);
        combined.extend_from_slice(&(data.len() as u64).to_le_bytes());
        combined.extend_from_slice(&data);
        combined.extend_from_slice(signature.as_deref().unwrap_or_default());
        Ok((combined, release))
    }

    /// Verifies (unless trusted) and parses a release, refusing expired ones.
    fn accept(
        &self,
        cache: &Cache,
        bytes: &[u8],
        detached: Option<&[u8]>,
        what: &str,
        now: SystemTime,
    ) -> Result<Release, RepoError> {
        let (data, signature) = match split_detached(bytes) {
            Some((data, sig)) => (data, Some(sig).filter(|s| !s.is_empty())),
            None => (bytes, detached),
        };
        let text = std::str::from_utf8(data).map_err(|_| RepoError::Malformed {
            what: what.to_owned(),
            message: "release is not UTF-8 text".into(),
        })?;
        let clear_signed = text
            .trim_start()
            .starts_with("-----BEGIN PGP SIGNED MESSAGE-----");
        let body = if self.trusted {
            match clear_signed {
                true => strip_cleartext(text),
                false => text.to_owned(),
            }
        } else {
            // Verifying costs far more than everything else a warm run does, so a verified
            // body is remembered under a digest of the exact release, signature and keyring
            // bytes: any change to one of them verifies afresh.
            let memo = cache.entry(
                "releases",
                &self.verification_digest(data, signature)?,
                ".verified",
            );
            // The memo also holds when the signing key expires: past that, verify afresh (and
            // refuse). A revocation arrives as a changed keyring, which changes the digest.
            let now_secs = now
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            // The memo names the SHA-256 of the body it holds: a damaged memo is not
            // believed, the release is verified afresh and the memo rewritten.
            let remembered = read_bounded(&memo, MAX_RELEASE).ok().and_then(|bytes| {
                let text = String::from_utf8(bytes).ok()?;
                let (first, rest) = text.split_once('\n')?;
                let (second, body) = rest.split_once('\n')?;
                let until = first.strip_prefix("verified-until ")?;
                let sum = second.strip_prefix("body-sha256 ")?;
                let intact = hex::encode(Sha256::digest(body.as_bytes())) == sum;
                let fresh = until == "never" || until.parse::<u64>().is_ok_and(|u| now_secs < u);
                (intact && fresh).then(|| body.to_owned())
            });
            match remembered {
                Some(body) => body,
                None => {
                    let (body, signer) =
                        self.verify(text, data, clear_signed, signature, what, now)?;
                    let until = signer
                        .expires
                        .map_or_else(|| "never".to_owned(), |u| u.to_string());
                    let sum = hex::encode(Sha256::digest(body.as_bytes()));
                    cache.write_atomic(&memo, |f| {
                        f.write_all(
                            format!("verified-until {until}\nbody-sha256 {sum}\n{body}").as_bytes(),
                        )
                        .map_err(RepoError::io("writing", &memo))
                    })?;
                    body
                }
            }
        };
        let release = Release::parse(&body, what)?;
        if !self.trusted
            && let Some(until) = release.valid_until
        {
            let now = now
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            if until < now {
                return Err(RepoError::Expired {
                    what: what.to_owned(),
                    valid_until: release.valid_until_text.clone(),
                });
            }
        }
        Ok(release)
    }

    /// Checks the signature and returns the signed text.
    fn verify(
        &self,
        text: &str,
        data: &[u8],
        clear_signed: bool,
        signature: Option<&[u8]>,
        what: &str,
        now: SystemTime,
    ) -> Result<(String, Signer), RepoError> {
        let keyring = self.keyring()?;
        match (clear_signed, signature) {
            (true, _) => Ok(keyring.verify_cleartext_by(text, what, now)?),
            (false, Some(sig)) => {
                let signer = keyring.verify_detached(data, sig, what, now)?;
                Ok((text.to_owned(), signer))
            }
            (false, None) => Err(staves_openpgp::OpenPgpError::Signature {
                what: what.to_owned(),
                message: "is not signed; set `trusted = true` on the repository only if \
                          you trust it without a signature"
                    .into(),
            }
            .into()),
        }
    }

    /// SHA-256 over the release, its signature and every byte of the keyring.
    fn verification_digest(
        &self,
        data: &[u8],
        signature: Option<&[u8]>,
    ) -> Result<String, RepoError> {
        let mut hasher = Sha256::new();
        for part in [data, signature.unwrap_or_default()] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        let files = match &self.keys {
            KeySource::Inline(text) => {
                hasher.update(text.as_bytes());
                Vec::new()
            }
            KeySource::Files(paths) => paths.clone(),
            KeySource::AptDefault => apt_default_keyrings(),
        };
        for path in files {
            let bytes = crate::keyring::read_keyring_file(&path)?;
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(&bytes);
        }
        Ok(hex::encode(hasher.finalize()))
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
                Err(RepoError::Status { status: 404, .. }) => download(&plain),
                other => other,
            },
            None => download(&plain),
        }
    }
}

/// apt's global keyrings: `/etc/apt/trusted.gpg` and `/etc/apt/trusted.gpg.d/*.{gpg,asc}`.
fn apt_default_keyrings() -> Vec<PathBuf> {
    let mut paths = vec![PathBuf::from("/etc/apt/trusted.gpg")];
    if let Ok(dir) = std::fs::read_dir("/etc/apt/trusted.gpg.d") {
        let mut more: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        more.sort();
        paths.extend(more);
    }
    paths.retain(|p| {
        p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("gpg" | "asc"))
    });
    paths
}

const DETACHED_MAGIC: &[u8; 16] = b"STAVES-DETACHED\n";

/// The largest release file read: Debian's are ~150 KB.
pub const MAX_RELEASE: u64 = 16 << 20;
/// The largest detached signature read.
const MAX_SIGNATURE: u64 = 1 << 20;
/// Without a signed uncompressed size, an index may expand to this multiple of its
/// compressed size (Debian's xz indices expand about six times)…
const MAX_INDEX_RATIO: u64 = 50;
/// …or to this, whichever is larger.
const MIN_INDEX_LIMIT: u64 = 64 << 20;

/// Reads a cache file of at most `limit` bytes.
fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, RepoError> {
    staves_fs::read_regular(path, limit).map_err(RepoError::io("reading", path))
}

fn split_detached(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = bytes.strip_prefix(DETACHED_MAGIC.as_slice())?;
    let len = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?) as usize;
    let data = rest.get(8..8 + len)?;
    Some((data, &rest[8 + len..]))
}

/// The text of a clear-signed message without checking it (trusted repositories only).
fn strip_cleartext(text: &str) -> String {
    let body = text.split_once("\n\n").map_or(text, |(_, b)| b);
    let body = body
        .split("-----BEGIN PGP SIGNATURE-----")
        .next()
        .unwrap_or("");
    body.lines()
        .map(|l| l.strip_prefix("- ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Streams `body` through a hasher and the right decompressor into `out`, then checks the
/// hash and size of what arrived against the signed entry. Returns the decoded text's digest;
/// more than `limit` decoded bytes are refused.
fn decode_verified(
    body: &mut dyn Read,
    out: &mut std::fs::File,
    path: &str,
    entry: &FileEntry,
    url: &str,
    target: &Path,
    limit: u64,
) -> Result<TextDigest, RepoError> {
    // One byte more than signed is enough to know the size is wrong.
    let mut bounded = body.take(entry.size.saturating_add(1));
    let mut hashing = HashingReader {
        inner: &mut bounded,
        hasher: Sha256::new(),
        bytes: 0,
        error: None,
    };
    let mut writer = GuardedWriter {
        inner: std::io::BufWriter::with_capacity(1 << 16, out),
        hasher: Sha256::new(),
        written: 0,
        limit,
        fault: None,
    };
    let copied = if path.ends_with(".xz") {
        std::io::copy(
            &mut liblzma::read::XzDecoder::new_multi_decoder(&mut hashing),
            &mut writer,
        )
    } else if path.ends_with(".gz") {
        std::io::copy(
            &mut flate2::read::MultiGzDecoder::new(&mut hashing),
            &mut writer,
        )
    } else {
        std::io::copy(&mut hashing, &mut writer)
    };
    if let Some(e) = hashing.error.take() {
        return Err(network(url)(e));
    }
    // A full disk is the disk's fault, not the data's: say so, and do not retry.
    match writer.fault.take() {
        Some(WriteFault::TooLarge) => {
            return Err(RepoError::TooLarge {
                what: format!("{url} (decompressed)"),
                limit,
            });
        }
        Some(WriteFault::Io(e)) => return Err(RepoError::io("writing", target)(e)),
        None => {}
    }
    if let Err(e) = copied {
        // Neither the network nor the disk (both checked above): the stream is corrupt.
        return Err(RepoError::Checksum {
            what: url.to_owned(),
            expected: entry.sha256.clone(),
            actual: format!("undecodable data ({e})"),
        });
    }
    // Trailing bytes after the compressed stream still count towards size and hash.
    std::io::copy(&mut hashing, &mut std::io::sink()).map_err(network(url))?;
    std::io::Write::flush(&mut writer.inner).map_err(RepoError::io("writing", target))?;
    if hashing.bytes != entry.size {
        return Err(RepoError::Size {
            what: url.to_owned(),
            expected: entry.size,
            actual: hashing.bytes,
        });
    }
    let actual = hex::encode(hashing.hasher.finalize());
    if actual != entry.sha256 {
        return Err(RepoError::Checksum {
            what: url.to_owned(),
            expected: entry.sha256.clone(),
            actual,
        });
    }
    Ok(TextDigest {
        len: writer.written,
        sha256: writer.hasher.finalize().into(),
    })
}

enum WriteFault {
    TooLarge,
    Io(std::io::Error),
}

/// Writes decoded text to the cache, hashing it, refusing more than `limit` bytes, and
/// remembering why a write failed so that it is not mistaken for corrupt data.
struct GuardedWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    written: u64,
    limit: u64,
    fault: Option<WriteFault>,
}

impl<W: Write> Write for GuardedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.written + buf.len() as u64 > self.limit {
            self.fault = Some(WriteFault::TooLarge);
            return Err(std::io::Error::other("decoded index too large"));
        }
        match self.inner.write(buf) {
            Ok(n) => {
                self.hasher.update(&buf[..n]);
                self.written += n as u64;
                Ok(n)
            }
            Err(e) => {
                let kind = e.kind();
                self.fault = Some(WriteFault::Io(e));
                Err(std::io::Error::new(kind, "cache write failed"))
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Hashes and counts bytes on their way through; remembers a read error of the source so it
/// is reported as a network failure rather than as corrupt data.
struct HashingReader<'a> {
    inner: &'a mut dyn Read,
    hasher: Sha256,
    bytes: u64,
    error: Option<std::io::Error>,
}

impl Read for HashingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.hasher.update(&buf[..n]);
                self.bytes += n as u64;
                Ok(n)
            }
            Err(e) => {
                let kind = e.kind();
                self.error = Some(e);
                Err(std::io::Error::new(kind, "network read failed"))
            }
        }
    }
}
