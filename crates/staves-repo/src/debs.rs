//! Downloading `.deb` files into the cache, verified against the signed index's SHA-256.
//!
//! Downloads run in parallel. A download cut off by the network is resumed with an HTTP range
//! request where the server allows it, the hash carried over; bytes reach their cache entry
//! only once size and hash match. A `.deb` already in the cache is hashed again before it is
//! used (in parallel, at disk speed): a damaged or swapped file is removed and fetched anew,
//! never built into an image.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::Client;
use crate::cache::Cache;
use crate::error::RepoError;

/// One file to fetch: where from, and what it must be.
#[derive(Debug, Clone)]
pub struct DebFetch {
    /// The package, as messages name it (`nginx 1.22.1-9`).
    pub package: String,
    /// Full URL.
    pub url: String,
    /// Expected size in bytes, or [`UNKNOWN_SIZE`] when only the checksum is known.
    pub size: u64,
    /// Expected SHA-256 (lower-case hex).
    pub sha256: String,
    /// Where else the same file may be had when `url` is gone (a snapshot archive), and how
    /// a message names that place; checked the same way.
    pub elsewhere: Option<(String, String)>,
}

/// The size of a file only its SHA-256 is known of (a recipe's source URL): the checksum
/// alone decides, and the download stops at [`MAX_UNSIZED`] bytes.
pub const UNKNOWN_SIZE: u64 = u64::MAX;

/// The most bytes fetched for a file of [`UNKNOWN_SIZE`].
pub const MAX_UNSIZED: u64 = 4 << 30;

/// Where a cached `.deb` with this checksum lives.
pub fn deb_path(cache: &Cache, sha256: &str) -> PathBuf {
    cache.entry("debs", sha256, ".deb")
}

/// Makes sure every file is in the cache and intact; returns their paths in the same order.
/// Files already cached and intact cost no network access; an offline client refuses any,
/// and the error lists every file missing, not the first. `jobs` files are checked or
/// downloaded at once.
pub fn fetch_debs(
    client: &Client,
    cache: &Cache,
    files: &[DebFetch],
    jobs: usize,
) -> Result<Vec<PathBuf>, RepoError> {
    fetch_verified(client, cache, ("debs", ".deb"), files, jobs)
}

/// Like [`fetch_debs`], for any file the signed chain gives a size and SHA-256 of, kept in
/// the cache as `kind/…<suffix>`.
pub fn fetch_verified(
    client: &Client,
    cache: &Cache,
    (kind, suffix): (&str, &str),
    files: &[DebFetch],
    jobs: usize,
) -> Result<Vec<PathBuf>, RepoError> {
    let offline = client.is_offline();
    let paths: Vec<PathBuf> = files
        .iter()
        .map(|f| cache.entry(kind, &f.sha256, suffix))
        .collect();
    let queue = Mutex::new(0..files.len());
    let errors = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| {
                loop {
                    let next = queue.lock().map(|mut q| q.next()).unwrap_or(None);
                    let Some(i) = next else { break };
                    if let Err(e) = ensure_one(client, cache, &files[i], &paths[i], offline)
                        && let Ok(mut errors) = errors.lock()
                    {
                        errors.push((i, e));
                    }
                }
            });
        }
    });
    // The first failing file in the caller's order, whichever thread met it first; offline,
    // every file the cache lacks at once.
    let mut errors = errors.into_inner().unwrap_or_default();
    errors.sort_by_key(|(i, _)| *i);
    let missing: Vec<&DebFetch> = errors
        .iter()
        .filter(|(_, e)| matches!(e, RepoError::Offline { .. }))
        .map(|(i, _)| &files[*i])
        .collect();
    if missing.len() > 1 {
        return Err(RepoError::OfflineMissing {
            names: missing.iter().map(|f| f.package.clone()).collect(),
            bytes: missing
                .iter()
                .filter(|f| f.size != UNKNOWN_SIZE)
                .map(|f| f.size)
                .sum(),
        });
    }
    match errors.into_iter().next() {
        Some((_, e)) => Err(e),
        None => Ok(paths),
    }
}

/// One file: the cached copy when it is intact, else downloaded (unless offline).
fn ensure_one(
    client: &Client,
    cache: &Cache,
    file: &DebFetch,
    target: &Path,
    offline: bool,
) -> Result<(), RepoError> {
    match check_cached(file, target)? {
        Cached::Intact => return Ok(()),
        // Offline it cannot be repaired; it stays until a run that can.
        Cached::Damaged(reason) if offline => {
            return Err(RepoError::Damaged {
                path: target.to_owned(),
                reason: format!("{reason} ({})", file.package),
            });
        }
        Cached::Damaged(reason) => {
            client.progress().repaired(&file.package, &reason);
            cache.discard(target)?;
        }
        Cached::Missing => {}
    }
    if offline {
        return Err(RepoError::Offline {
            what: format!("{} ({})", file.package, file.url),
        });
    }
    fetch_one(client, cache, file, target)
}

enum Cached {
    Intact,
    Missing,
    Damaged(String),
}

/// Checks a cached file's size and SHA-256 against the signed index's.
fn check_cached(file: &DebFetch, path: &Path) -> Result<Cached, RepoError> {
    let mut handle = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Cached::Missing),
        Err(e) => return Err(RepoError::io("reading", path)(e)),
    };
    let len = handle
        .metadata()
        .map_err(RepoError::io("reading", path))?
        .len();
    if file.size != UNKNOWN_SIZE && len != file.size {
        return Ok(Cached::Damaged(format!(
            "the cached copy is {len} bytes, the signed index says {}",
            file.size
        )));
    }
    let mut hasher = Sha256::new();
    std::io::copy(&mut handle, &mut hasher).map_err(RepoError::io("reading", path))?;
    if hex::encode(hasher.finalize()) != file.sha256 {
        return Ok(Cached::Damaged(
            "the cached copy's SHA-256 differs from the signed index's".into(),
        ));
    }
    Ok(Cached::Intact)
}

fn fetch_one(
    client: &Client,
    cache: &Cache,
    file: &DebFetch,
    target: &Path,
) -> Result<(), RepoError> {
    cache.write_atomic(target, |out| {
        // Carried over attempts: a broken transfer resumes where it stopped.
        let mut partial = Partial {
            out,
            target,
            hasher: Sha256::new(),
            written: 0,
        };
        let mut from = |url: &str| {
            let size = (file.size != UNKNOWN_SIZE).then_some(file.size);
            client.progress().started(url, size);
            let result = client.retry().run(
                || {
                    receive(client, file, url, &mut partial)?;
                    verify(file, partial.written, partial.hasher.clone())
                },
                |e, delay| client.progress().retrying(url, e, delay),
            );
            client.progress().finished(url);
            result
        };
        match from(&file.url) {
            Err(e) if e.is_not_found() => match &file.elsewhere {
                Some((url, place)) => {
                    client.progress().note(&format!(
                        "{} is gone from its repository; fetched from {place}",
                        file.package
                    ));
                    // Whatever arrived already is the same file (the hash decides), so a
                    // place that honours the range resumes it; `receive` starts over otherwise.
                    from(url).map_err(|e| gone(file, Some(url), e))
                }
                None => Err(gone(file, None, e)),
            },
            other => other,
        }
    })
}

/// What has arrived of one file so far, carried across attempts.
struct Partial<'a> {
    /// The cache's temporary file the bytes go to.
    out: &'a mut std::fs::File,
    /// The cache entry it becomes: what a write error names (a full disk is the cache's).
    target: &'a Path,
    hasher: Sha256,
    written: u64,
}

impl Partial<'_> {
    /// Empties the file to receive it from the start.
    fn restart(&mut self) -> Result<(), RepoError> {
        self.out
            .set_len(0)
            .map_err(RepoError::io("truncating", self.target))?;
        std::io::Seek::rewind(self.out).map_err(RepoError::io("rewinding", self.target))?;
        self.hasher = Sha256::new();
        self.written = 0;
        Ok(())
    }
}

/// A file its repository (and the other place, when there was one) no longer has.
fn gone(file: &DebFetch, elsewhere: Option<&str>, error: RepoError) -> RepoError {
    if !error.is_not_found() {
        return error;
    }
    RepoError::Gone {
        what: file.package.clone(),
        url: file.url.clone(),
        elsewhere: elsewhere.map(str::to_owned),
    }
}

/// Appends the rest of the file (from what has arrived on) to the partial file, hashing as
/// it goes.
fn receive(
    client: &Client,
    file: &DebFetch,
    url: &str,
    partial: &mut Partial<'_>,
) -> Result<(), RepoError> {
    let (mut body, resumed) = client.open_range(url, partial.written)?;
    if !resumed && partial.written > 0 {
        // The server ignored the range: start over.
        partial.restart()?;
    }
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = body.read(&mut buf).map_err(staves_net::network(url))?;
        if n == 0 {
            break;
        }
        if partial.written + n as u64 > file.size.min(MAX_UNSIZED) {
            return Err(RepoError::Size {
                what: url.to_owned(),
                expected: file.size.min(MAX_UNSIZED),
                actual: partial.written + n as u64,
            });
        }
        partial
            .out
            .write_all(&buf[..n])
            .map_err(RepoError::io("writing", partial.target))?;
        partial.hasher.update(&buf[..n]);
        partial.written += n as u64;
        client.progress().advanced(n as u64);
    }
    if file.size != UNKNOWN_SIZE && partial.written < file.size {
        return Err(RepoError::Net(staves_net::NetError::Network {
            url: url.to_owned(),
            message: format!(
                "connection closed after {} of {} bytes",
                partial.written, file.size
            ),
        }));
    }
    Ok(())
}

fn verify(file: &DebFetch, written: u64, hasher: Sha256) -> Result<(), RepoError> {
    if file.size != UNKNOWN_SIZE && written != file.size {
        return Err(RepoError::Size {
            what: file.url.clone(),
            expected: file.size,
            actual: written,
        });
    }
    let actual = hex::encode(hasher.finalize());
    if actual != file.sha256 {
        return Err(RepoError::Checksum {
            what: file.url.clone(),
            expected: file.sha256.clone(),
            actual,
        });
    }
    Ok(())
}
