//! The pool: where each package's file goes (as Debian lays it out), its digests, and the
//! files no package list names any more.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{Archive, Entry, Packages};
use crate::error::ArchiveError;

impl Archive {
    /// Deletes the pool files of `dropped` that no list names any more (a pool file is
    /// shared by every suite listing the same package). A client holding an index of a kept
    /// older generation may still ask for one; it gets 404 and updates, as with Debian's own
    /// archive after a dinstall.
    pub(super) fn drop_pool_files<'a>(
        &self,
        state: &BTreeMap<(String, String), Packages>,
        dropped: impl IntoIterator<Item = &'a Entry>,
    ) {
        let dropped: Vec<&str> = dropped.into_iter().map(Entry::filename).collect();
        if dropped.is_empty() {
            return;
        }
        let listed = listed_files(state);
        for file in dropped.into_iter().filter(|f| !listed.contains(f)) {
            let _ = std::fs::remove_file(self.config.dir.join(file));
        }
    }

    /// Deletes every pool file no list names.
    pub(super) fn sweep_pool(&self, state: &BTreeMap<(String, String), Packages>) {
        let listed = listed_files(state);
        for path in files_under(&self.config.dir.join("pool")) {
            let relative = path
                .strip_prefix(&self.config.dir)
                .ok()
                .and_then(Path::to_str);
            if relative.is_some_and(|r| !listed.contains(r)) {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

/// Size, SHA-256 and MD5 of a file, read once.
pub(super) fn digests(path: &Path) -> Result<(u64, String, String), ArchiveError> {
    let mut file = std::fs::File::open(path).map_err(ArchiveError::io("reading", path))?;
    let mut sha = Sha256::new();
    let mut md5 = md5::Md5::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .map_err(ArchiveError::io("reading", path))?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        md5.update(&buf[..n]);
        size += n as u64;
    }
    Ok((
        size,
        hex::encode(sha.finalize()),
        hex::encode(md5.finalize()),
    ))
}

/// `pool/main/h/hello` (or `pool/main/libc/libcurl`) for a source package name.
pub(super) fn pool_dir(component: &str, source: &str) -> String {
    let prefix = if source.starts_with("lib") && source.len() > 3 {
        &source[..4]
    } else {
        &source[..1]
    };
    format!("pool/{component}/{prefix}/{source}")
}

/// The pool files every list names.
pub(super) fn listed_files(
    state: &BTreeMap<(String, String), Packages>,
) -> std::collections::HashSet<&str> {
    state
        .values()
        .flat_map(|p| p.values())
        .map(Entry::filename)
        .collect()
}

/// Every regular file below `dir`.
pub(super) fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => pending.push(entry.path()),
                Ok(kind) if kind.is_file() => files.push(entry.path()),
                _ => {}
            }
        }
    }
    files
}
