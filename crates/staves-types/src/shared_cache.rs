//! A second tier under the local cache, shared by every machine that builds the same
//! things: sets of named files kept under a key of their inputs. A build that misses in its
//! own cache asks it before working, and offers what it made afterwards. Whatever backs it
//! (a registry) is untrusted storage: every file comes back checked against the digest it
//! was kept with, and an entry kept under one key is never taken for another.

use std::path::{Path, PathBuf};

/// One file of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptFile {
    /// Its name within the entry.
    pub name: String,
    /// Where it is (to keep) or was put (fetched).
    pub path: PathBuf,
    /// Its SHA-256, hex.
    pub sha256: String,
}

/// What went wrong talking to the shared tier: a build reports it and works on as on a miss.
pub type SharedError = Box<dyn std::error::Error + Send + Sync>;

/// The shared tier.
pub trait SharedCache: Send + Sync + std::fmt::Debug {
    /// The files kept under `kind` and `key`, fetched into `dir` and checked against their
    /// digests; none when nothing is kept there.
    fn fetch(
        &self,
        kind: &str,
        key: &str,
        dir: &Path,
    ) -> Result<Option<Vec<KeptFile>>, SharedError>;

    /// Keeps `files` under `kind` and `key`. Keeping what is already kept changes nothing,
    /// so two machines racing on one key are harmless.
    fn keep(&self, kind: &str, key: &str, files: &[KeptFile]) -> Result<(), SharedError>;
}
