//! Files that are whole or absent.
//!
//! Every file Staves writes for later use — cache entries, image layouts, archives — is
//! written to a temporary file in the same directory, flushed to disk (`fsync`) and renamed
//! into place, so a crash or a kill leaves the old file or the new one, never half of one.
//!
//! A kill still leaves the temporary behind. Temporaries are therefore named after the
//! process that writes them (`.staves-tmp-PID-START-…`, START being the process's start time
//! as the kernel counts it, so a reused PID is not mistaken for the writer), and [`sweep`]
//! removes those whose process is gone. Directories that collect temporaries are swept when a
//! later run opens them.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub use tempfile::{NamedTempFile, TempDir};

const PREFIX: &str = ".staves-tmp-";

/// This process's part of a temporary's name: `.staves-tmp-PID-START-`.
fn own_prefix() -> String {
    let pid = std::process::id();
    format!("{PREFIX}{pid}-{}-", start_time(pid).unwrap_or(0))
}

/// The start time of process `pid` (field 22 of `/proc/PID/stat`), when it is running.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from its end.
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the temporary named `name` belongs to a process that is gone.
fn is_orphan(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(PREFIX) else {
        return false;
    };
    let mut parts = rest.splitn(3, '-');
    let (Some(pid), Some(start)) = (parts.next(), parts.next()) else {
        return false;
    };
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else {
        return false;
    };
    start_time(pid) != Some(start)
}

/// A new temporary file in `dir`, named after this process.
pub fn temp_file_in(dir: &Path) -> io::Result<NamedTempFile> {
    tempfile::Builder::new()
        .prefix(&own_prefix())
        .tempfile_in(dir)
}

/// A new temporary directory in `dir`, named after this process; removed when dropped.
pub fn temp_dir_in(dir: &Path) -> io::Result<TempDir> {
    tempfile::Builder::new()
        .prefix(&own_prefix())
        .tempdir_in(dir)
}

/// Flushes `tmp` to disk and renames it to `target`, then flushes the directory entry.
pub fn persist(tmp: NamedTempFile, target: &Path) -> io::Result<File> {
    tmp.as_file().sync_all()?;
    let file = tmp.persist(target).map_err(|e| e.error)?;
    sync_parent(target);
    Ok(file)
}

/// Puts the file at `from` at `to` too, unless a file of the same size is there already:
/// a hard link where both are on one file system (no byte copied), else a copy written to a
/// temporary file and renamed, so `to` is never seen half-written. Content-addressed files
/// (blobs) are what this is for: a `to` of the right size holds the same bytes, one of
/// another size was damaged and is replaced.
pub fn link_or_copy(from: &Path, to: &Path) -> io::Result<()> {
    let size = std::fs::metadata(from)?.len();
    if std::fs::metadata(to).is_ok_and(|m| m.is_file() && m.len() == size) {
        return Ok(());
    }
    let dir = parent_of(to);
    let tmp = temp_file_in(dir)?;
    let staged = tmp.path().to_owned();
    // The temporary name is ours; a link needs it free.
    drop(tmp.into_temp_path().close());
    match std::fs::hard_link(from, &staged) {
        Ok(()) => {}
        Err(_) => {
            let mut tmp = temp_file_in(dir)?;
            std::io::copy(&mut File::open(from)?, &mut tmp)?;
            return persist(tmp, to).map(drop);
        }
    }
    match std::fs::rename(&staged, to) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&staged);
            Err(e)
        }
    }
}

/// Writes `bytes` to `path` whole or not at all.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = parent_of(path);
    let mut tmp = temp_file_in(dir)?;
    tmp.write_all(bytes)?;
    persist(tmp, path).map(drop)
}

/// Reads a regular file of at most `limit` bytes: not a device, FIFO or directory, which
/// could hang a run or exhaust its memory. Files from outside — specs, keyrings, lockfiles,
/// sources, cache entries — are read through this.
pub fn read_regular(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let refuse = |message: String| io::Error::new(io::ErrorKind::InvalidData, message);
    let file = File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(refuse("is not a regular file".into()));
    }
    let too_large = || refuse(format!("is more than the {limit} bytes accepted"));
    if meta.len() > limit {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// The directory a path lives in (`.` for a bare file name).
pub fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Makes a rename into `path`'s directory durable. Best effort: not every file system lets a
/// directory be opened for syncing, and the rename itself is already atomic.
pub fn sync_parent(path: &Path) {
    if let Ok(dir) = File::open(parent_of(path)) {
        let _ = dir.sync_all();
    }
}

/// Puts the directory `staged` (a temporary of this process, fully written) at `target`,
/// replacing what is there: readers see the old directory or the new one, never a half-
/// written one. Between the two renames `target` is briefly absent; a kill there leaves the
/// old directory under a temporary name, which the next sweep removes.
pub fn replace_dir(staged: &Path, target: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(target) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
        Ok(_) => {
            // A fresh temporary name beside it, then the old directory moved onto it.
            let old = temp_dir_in(parent_of(target))?.keep();
            std::fs::rename(target, &old)?;
            std::fs::rename(staged, target)?;
            sync_parent(target);
            return std::fs::remove_dir_all(&old);
        }
    }
    std::fs::rename(staged, target)?;
    sync_parent(target);
    Ok(())
}

/// Removes the temporaries (files or directories) in `dir` whose writing process is gone.
/// Returns what was removed. A missing directory holds nothing to sweep.
pub fn sweep(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !is_orphan(name) {
            continue;
        }
        let path = entry.path();
        let result = match entry.file_type() {
            Ok(t) if t.is_dir() => std::fs::remove_dir_all(&path),
            _ => std::fs::remove_file(&path),
        };
        match result {
            Ok(()) => removed.push(path),
            // Another process swept it first.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(removed)
}

/// Every file named `name` below `dir` (itself included), in the order a depth-first walk
/// finds them, skipping hidden directories and OCI image layouts (output, not sources).
pub fn files_named(dir: &Path, name: &str) -> io::Result<Vec<PathBuf>> {
    fn walk(dir: &Path, name: &str, found: &mut Vec<PathBuf>) -> io::Result<()> {
        if dir.join("oci-layout").is_file() {
            return Ok(());
        }
        let file = dir.join(name);
        if file.is_file() {
            found.push(file);
        }
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            if !hidden && entry.file_type()?.is_dir() {
                walk(&entry.path(), name, found)?;
            }
        }
        Ok(())
    }
    let mut found = Vec::new();
    walk(dir, name, &mut found)?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_temporaries_survive_and_orphans_go() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mine = temp_file_in(dir.path()).expect("temp");
        let mine_dir = temp_dir_in(dir.path()).expect("temp dir");
        // No process can have PID 2^32 - 1: its temporaries are orphans.
        let orphan = dir.path().join(format!("{PREFIX}4294967295-1-abc"));
        std::fs::write(&orphan, b"half").expect("orphan");
        let orphan_dir = dir.path().join(format!("{PREFIX}4294967295-1-dir"));
        std::fs::create_dir(&orphan_dir).expect("orphan dir");
        std::fs::write(orphan_dir.join("blob"), b"x").expect("blob");
        let unrelated = dir.path().join("image.tar");
        std::fs::write(&unrelated, b"keep").expect("unrelated");

        let mut removed = sweep(dir.path()).expect("sweep");
        removed.sort();
        assert_eq!(removed, vec![orphan.clone(), orphan_dir.clone()]);
        assert!(mine.path().exists());
        assert!(mine_dir.path().exists());
        assert!(unrelated.exists());
    }

    #[test]
    fn a_reused_pid_is_not_the_writer() {
        // This very process, but a start time that is not its own.
        let pid = std::process::id();
        let real = start_time(pid).expect("own start time");
        assert!(!is_orphan(&format!("{PREFIX}{pid}-{real}-x")));
        assert!(is_orphan(&format!("{PREFIX}{pid}-{}-x", real + 1)));
        assert!(!is_orphan("image.tar"));
    }

    #[test]
    fn replace_dir_swaps_whole_directories() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("layout");
        for round in ["one", "two"] {
            let staged = temp_dir_in(dir.path()).expect("stage").keep();
            std::fs::write(staged.join("index.json"), round).expect("write");
            replace_dir(&staged, &target).expect("replace");
            assert_eq!(
                std::fs::read_to_string(target.join("index.json")).expect("read"),
                round
            );
        }
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
    }

    #[test]
    fn write_atomic_replaces_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        write_atomic(&path, b"one").expect("write");
        write_atomic(&path, b"two").expect("rewrite");
        assert_eq!(std::fs::read(&path).expect("read"), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
    }
}
