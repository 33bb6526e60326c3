//! The content-addressed cache shared by every Staves process on the machine.
//!
//! Files are named by the SHA-256 of the bytes they were verified against. New entries are
//! written to a temporary file in `tmp/`, flushed to disk and renamed into place: a crash
//! never leaves a truncated entry, and two processes writing the same entry both write
//! identical bytes. Temporaries of killed processes are swept when the cache is next opened.
//! An advisory lock per repository keeps two processes from fetching the same release at
//! the same time.
//!
//! Being named by a checksum does not make an entry right: a disk, a user or another program
//! can damage it. So nothing is read from the cache on trust — each reader checks what it
//! reads against what the signed chain says (see [`crate::index`], [`crate::debs`]) and
//! removes what fails, to fetch it again.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::RepoError;

/// A cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

/// An exclusive advisory lock, released when dropped.
#[derive(Debug)]
pub struct CacheLock {
    _file: File,
}

impl Cache {
    /// Opens (creating if needed) a cache rooted at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, RepoError> {
        let root = root.into();
        for sub in ["indices", "releases", "locks", "debs", "tmp"] {
            let dir = root.join(sub);
            std::fs::create_dir_all(&dir).map_err(RepoError::io("creating", &dir))?;
        }
        let tmp = root.join("tmp");
        for gone in staves_fs::sweep(&tmp).map_err(RepoError::io("cleaning", &tmp))? {
            tracing::debug!("removed {} left by a killed run", gone.display());
        }
        Ok(Cache { root })
    }

    /// `$XDG_CACHE_HOME/staves`, else `~/.cache/staves`.
    pub fn default_root() -> PathBuf {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(|| std::env::temp_dir().join("staves-cache"));
        base.join("staves")
    }

    /// The cache's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where an entry of `kind` (`indices`, `debs`, …) with this SHA-256 lives.
    pub fn entry(&self, kind: &str, sha256: &str, suffix: &str) -> PathBuf {
        let fan = sha256.get(..2).unwrap_or("00");
        self.root
            .join(kind)
            .join(fan)
            .join(format!("{sha256}{suffix}"))
    }

    /// Path of a per-repository file (its cached release) named by a stable key.
    pub fn release_path(&self, key: &str) -> PathBuf {
        self.root.join("releases").join(key)
    }

    /// Where temporaries go: on the cache's file system, swept when their process is gone.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// A scratch directory for one run, removed when dropped (or by the next run's sweep
    /// when this one is killed).
    pub fn scratch_dir(&self) -> Result<staves_fs::TempDir, RepoError> {
        let tmp = self.tmp_dir();
        staves_fs::temp_dir_in(&tmp).map_err(RepoError::io("creating a scratch directory in", &tmp))
    }

    /// Removes a damaged entry so that it is fetched again.
    pub fn discard(&self, path: &Path) -> Result<(), RepoError> {
        match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(RepoError::io("removing damaged entry", path)(e)),
        }
    }

    /// Takes the exclusive lock `name`, waiting for another process to release it.
    pub fn lock(&self, name: &str) -> Result<CacheLock, RepoError> {
        let path = self.root.join("locks").join(format!("{name}.lock"));
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(RepoError::io("opening lock", &path))?;
        file.lock().map_err(RepoError::io("locking", &path))?;
        Ok(CacheLock { _file: file })
    }

    /// Says this process uses the cache (a shared lock, held until dropped): a prune waits
    /// until no process does, so nothing a build has looked up vanishes under it.
    pub fn in_use(&self) -> Result<CacheLock, RepoError> {
        let (file, path) = self.use_lock_file()?;
        file.lock_shared()
            .map_err(RepoError::io("locking", &path))?;
        Ok(CacheLock { _file: file })
    }

    /// Takes the cache for itself (an exclusive lock on what [`Cache::in_use`] shares):
    /// `None` at once when another process uses it, so the caller can say it waits.
    pub fn try_exclusive(&self) -> Result<Option<CacheLock>, RepoError> {
        let (file, path) = self.use_lock_file()?;
        match file.try_lock() {
            Ok(()) => Ok(Some(CacheLock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(RepoError::io("locking", &path)(e)),
        }
    }

    /// Takes the cache for itself, waiting for every process that uses it.
    pub fn exclusive(&self) -> Result<CacheLock, RepoError> {
        let (file, path) = self.use_lock_file()?;
        file.lock().map_err(RepoError::io("locking", &path))?;
        Ok(CacheLock { _file: file })
    }

    fn use_lock_file(&self) -> Result<(File, PathBuf), RepoError> {
        let path = self.root.join("locks").join("in-use.lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(RepoError::io("opening lock", &path))?;
        Ok((file, path))
    }

    /// Writes `path` atomically: `fill` writes into a temporary file, which is flushed to
    /// disk and renamed over `path` only when `fill` succeeds.
    pub fn write_atomic<T>(
        &self,
        path: &Path,
        fill: impl FnOnce(&mut File) -> Result<T, RepoError>,
    ) -> Result<T, RepoError> {
        let dir = path.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(dir).map_err(RepoError::io("creating", dir))?;
        let tmp_dir = self.tmp_dir();
        let mut tmp = staves_fs::temp_file_in(&tmp_dir)
            .map_err(RepoError::io("creating a temporary file in", &tmp_dir))?;
        let value = fill(tmp.as_file_mut())?;
        tmp.as_file_mut()
            .flush()
            .map_err(RepoError::io("writing", path))?;
        staves_fs::persist(tmp, path).map_err(RepoError::io("writing", path))?;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prune_cannot_take_the_cache_while_a_build_uses_it() {
        let dir = tempfile::tempdir().expect("tmp");
        let cache = Cache::open(dir.path()).expect("cache");
        let build = cache.in_use().expect("shared");
        let other_build = cache.in_use().expect("builds share it");
        assert!(cache.try_exclusive().expect("tries").is_none());
        drop(build);
        assert!(cache.try_exclusive().expect("tries").is_none());
        drop(other_build);
        let prune = cache.try_exclusive().expect("tries").expect("free now");
        drop(prune);
        assert!(cache.try_exclusive().expect("tries").is_some());
    }
}
