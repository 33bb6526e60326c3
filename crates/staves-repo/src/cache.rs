//! The content-addressed cache shared by every Staves process on the machine.
//!
//! Files are named by the SHA-256 of the bytes they were verified against, so an entry is
//! either absent or right. New entries are written to a temporary file in the same directory
//! and renamed into place: a crash leaves at worst a stray temporary file, never a truncated
//! entry, and two processes writing the same entry both write identical bytes. An advisory
//! lock per repository keeps two processes from fetching the same release at the same time.

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
        for sub in ["indices", "releases", "locks", "debs"] {
            let dir = root.join(sub);
            std::fs::create_dir_all(&dir).map_err(RepoError::io("creating", &dir))?;
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

    /// Writes `path` atomically: `fill` writes into a temporary file in the same directory,
    /// which is renamed over `path` only when `fill` succeeds.
    pub fn write_atomic<T>(
        &self,
        path: &Path,
        fill: impl FnOnce(&mut File) -> Result<T, RepoError>,
    ) -> Result<T, RepoError> {
        let dir = path.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(dir).map_err(RepoError::io("creating", dir))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(dir)
            .map_err(RepoError::io("creating a temporary file in", dir))?;
        let value = fill(tmp.as_file_mut())?;
        tmp.as_file_mut()
            .flush()
            .map_err(RepoError::io("writing", path))?;
        tmp.persist(path)
            .map_err(|e| RepoError::io("renaming into", path)(e.error))?;
        Ok(value)
    }
}
