//! What the cache holds and what it can let go of: `staves cache du` and `staves cache
//! prune`.
//!
//! A prune never removes what a lock under the directories it is given needs to build
//! `--offline` — each locked `.deb`, its unpacked copy, the source build that made it, the
//! registry base its spec names — nor the package indices the cached releases list, nor the
//! releases themselves. Everything else goes, or with an age only what has not been used
//! (read or written) for that long. It takes the cache for itself first, waiting for every
//! build that uses it, so nothing a build has looked up vanishes under it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use staves_repo::Cache;

use crate::error::PipelineError;
use crate::reporter::Reporter;

/// What the cache keeps, one kind of entry per directory, with how entries are laid out.
const KINDS: &[(&str, &str, Layout)] = &[
    ("debs", "downloaded and built .debs", Layout::Fanned),
    ("unpacked", "unpacked copies of .debs", Layout::Fanned),
    ("indices", "package indices", Layout::Fanned),
    ("releases", "signed releases", Layout::Flat),
    ("images", "records of images built", Layout::Fanned),
    (
        "blobs",
        "image layers, configs and manifests",
        Layout::Fanned,
    ),
    ("deflate", "compressed gzip blocks", Layout::Fanned),
    (
        "changelogs",
        "changelogs read for `outdated`",
        Layout::Fanned,
    ),
    ("bases", "base images pulled or saved", Layout::Dirs),
    ("roots", "source build roots", Layout::Dirs),
    ("built", "source build results", Layout::Dirs),
    ("tmp", "temporaries of running builds", Layout::Dirs),
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Layout {
    /// `KIND/ab/abcdef…`: files under two-letter fan-out directories.
    Fanned,
    /// `KIND/NAME`: files.
    Flat,
    /// `KIND/NAME/…`: one directory (or file) per entry.
    Dirs,
}

/// The space one kind of entry takes.
#[derive(Debug, Clone, Serialize)]
pub struct Usage {
    /// The cache's directory for it.
    pub kind: &'static str,
    /// What it is.
    pub what: &'static str,
    /// How many entries.
    pub entries: u64,
    /// Their bytes on disk.
    pub bytes: u64,
}

/// How much each kind of entry takes, in the order of [`KINDS`].
pub fn usage(cache: &Path) -> Result<Vec<Usage>, PipelineError> {
    let mut all = Vec::new();
    for &(kind, what, layout) in KINDS {
        let entries = entries(&cache.join(kind), layout)?;
        all.push(Usage {
            kind,
            what,
            entries: entries.len() as u64,
            bytes: entries.iter().map(|e| e.bytes).sum(),
        });
    }
    Ok(all)
}

/// What to prune.
#[derive(Debug, Clone, Default)]
pub struct PruneOptions {
    /// Keep what every `staves.lock` below these directories needs.
    pub keep_locked: Vec<PathBuf>,
    /// Remove only what has not been used for this long (everything unkept when absent).
    pub older_than: Option<Duration>,
    /// Say what would go, remove nothing.
    pub dry_run: bool,
}

/// What a prune did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Pruned {
    /// The locks whose packages were kept.
    pub locks: Vec<PathBuf>,
    /// Entries removed (or, dry, that would be).
    pub removed: u64,
    /// Their bytes.
    pub freed: u64,
    /// Entries kept.
    pub kept: u64,
    /// The bytes kept.
    pub kept_bytes: u64,
}

/// Prunes the cache at `cache` as [`PruneOptions`] say.
pub fn prune(
    cache: &Path,
    options: &PruneOptions,
    reporter: &dyn Reporter,
) -> Result<Pruned, PipelineError> {
    let opened = Cache::open(cache)?;
    let _own = match opened.try_exclusive()? {
        Some(lock) => lock,
        None => {
            reporter.status("Waiting", "for the builds using the cache to finish");
            opened.exclusive()?
        }
    };
    let keep = Keep::gather(cache, &options.keep_locked)?;
    let now = SystemTime::now();
    let unused = |entry: &Entry| match options.older_than {
        None => true,
        Some(age) => now.duration_since(entry.used).unwrap_or_default() >= age,
    };
    let mut pruned = Pruned {
        locks: keep.locks.clone(),
        ..Pruned::default()
    };
    // Image records first: the blobs the records kept name are kept with them.
    let mut kept_blobs: HashSet<String> = HashSet::new();
    for &(kind, _, layout) in KINDS {
        if kind == "blobs" {
            continue;
        }
        for entry in entries(&cache.join(kind), layout)? {
            let needed = match kind {
                "releases" | "tmp" => true,
                "debs" | "unpacked" => keep.debs.contains(entry.key()),
                "indices" => keep.indices.contains(entry.key()),
                "bases" => keep.bases.contains(entry.key()),
                "built" => keep.built(&entry.path),
                _ => false,
            };
            let kept = needed || !unused(&entry);
            if kept && kind == "images" {
                kept_blobs.extend(record_blobs(&entry.path));
            }
            pruned.account(&entry, kept, options.dry_run)?;
        }
    }
    for entry in entries(&cache.join("blobs"), Layout::Fanned)? {
        let kept = kept_blobs.contains(entry.key()) || !unused(&entry);
        pruned.account(&entry, kept, options.dry_run)?;
    }
    Ok(pruned)
}

impl Pruned {
    fn account(&mut self, entry: &Entry, kept: bool, dry_run: bool) -> Result<(), PipelineError> {
        if kept {
            self.kept += 1;
            self.kept_bytes += entry.bytes;
            return Ok(());
        }
        if !dry_run {
            let removed = if entry.path.is_dir() {
                std::fs::remove_dir_all(&entry.path)
            } else {
                std::fs::remove_file(&entry.path)
            };
            match removed {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(PipelineError::Io(std::io::Error::new(
                        e.kind(),
                        format!("removing {}: {e}", entry.path.display()),
                    )));
                }
            }
        }
        self.removed += 1;
        self.freed += entry.bytes;
        Ok(())
    }
}

/// What must stay.
#[derive(Debug, Default)]
struct Keep {
    locks: Vec<PathBuf>,
    /// SHA-256 of every locked `.deb`.
    debs: HashSet<String>,
    /// The index entries cached releases list (by their SHA-256).
    indices: HashSet<String>,
    /// Registry bases the locked specs name (`sha256-…`).
    bases: HashSet<String>,
}

impl Keep {
    fn gather(cache: &Path, dirs: &[PathBuf]) -> Result<Keep, PipelineError> {
        let mut keep = Keep::default();
        for dir in dirs {
            if !dir.is_dir() {
                return Err(PipelineError::Io(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("--keep-locked {}: not a directory", dir.display()),
                )));
            }
            keep.locks
                .extend(staves_fs::files_named(dir, "staves.lock")?);
        }
        for path in &keep.locks {
            // A lock that cannot be read would protect nothing: stop rather than guess.
            let lock = staves_resolve::Lockfile::read(path)?.ok_or_else(|| {
                PipelineError::Io(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{} vanished", path.display()),
                ))
            })?;
            for target in &lock.targets {
                keep.debs
                    .extend(target.packages.iter().map(|p| p.sha256.clone()));
            }
            let spec = path.with_file_name("staves.toml");
            if let Ok(spec) = staves_spec::Spec::load(&spec)
                && let Some(staves_spec::BaseRef::Registry { digest, .. }) =
                    spec.base.as_ref().map(|b| b.get_ref())
            {
                keep.bases.insert(digest.replace(':', "-"));
            }
        }
        for entry in entries(&cache.join("releases"), Layout::Flat)? {
            let text = std::fs::read_to_string(&entry.path).unwrap_or_default();
            keep.indices.extend(
                text.split_whitespace()
                    .filter(|w| w.len() == 64 && w.bytes().all(|b| b.is_ascii_hexdigit()))
                    .map(str::to_owned),
            );
        }
        Ok(keep)
    }

    /// A source build is kept when it made a locked `.deb`.
    fn built(&self, dir: &Path) -> bool {
        let manifest = std::fs::read_to_string(dir.join("manifest")).unwrap_or_default();
        manifest.lines().any(|line| {
            line.strip_prefix("deb ")
                .and_then(|rest| rest.split(' ').next())
                .is_some_and(|sha| self.debs.contains(sha))
        })
    }
}

/// The blobs an image record names.
fn record_blobs(record: &Path) -> Vec<String> {
    let Ok(bytes) = staves_fs::read_regular(record, 1 << 20) else {
        return Vec::new();
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Vec::new();
    };
    let digest = |v: &serde_json::Value| {
        v["digest"]
            .as_str()
            .map(|d| d.trim_start_matches("sha256:").to_owned())
    };
    let mut blobs: Vec<String> = [&value["manifest"], &value["config"]]
        .into_iter()
        .filter_map(digest)
        .collect();
    if let Some(layers) = value["layers"].as_array() {
        blobs.extend(layers.iter().filter_map(|l| digest(&l["blob"])));
    }
    blobs
}

/// One entry of the cache.
#[derive(Debug)]
struct Entry {
    path: PathBuf,
    bytes: u64,
    /// When it was last read or written, as far as the file system tells.
    used: SystemTime,
}

impl Entry {
    /// The name it is kept under, without a suffix (`.tar.zst`, `.idx`, `.json`).
    fn key(&self) -> &str {
        let name = self
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        name.split('.').next().unwrap_or(name)
    }
}

fn entries(dir: &Path, layout: Layout) -> Result<Vec<Entry>, PipelineError> {
    let mut found = Vec::new();
    let Ok(read) = std::fs::read_dir(dir) else {
        return Ok(found);
    };
    for item in read {
        let item = item?;
        let path = item.path();
        let kind = item.file_type()?;
        match layout {
            Layout::Fanned if kind.is_dir() => {
                for inner in std::fs::read_dir(&path)? {
                    let inner = inner?;
                    if inner.file_type()?.is_file() {
                        found.push(measure(&inner.path())?);
                    }
                }
            }
            Layout::Flat if kind.is_file() => found.push(measure(&path)?),
            Layout::Dirs if kind.is_dir() || kind.is_file() => found.push(measure(&path)?),
            _ => {}
        }
    }
    Ok(found)
}

/// An entry's bytes and last use: of a directory, everything in it.
fn measure(path: &Path) -> Result<Entry, PipelineError> {
    let mut entry = Entry {
        path: path.to_owned(),
        bytes: 0,
        used: SystemTime::UNIX_EPOCH,
    };
    let mut pending = vec![path.to_owned()];
    while let Some(at) = pending.pop() {
        let meta = std::fs::symlink_metadata(&at)?;
        let used = [meta.accessed(), meta.modified()]
            .into_iter()
            .filter_map(Result::ok)
            .max()
            .unwrap_or(SystemTime::UNIX_EPOCH);
        entry.used = entry.used.max(used);
        if meta.is_dir() {
            for inner in std::fs::read_dir(&at)? {
                pending.push(inner?.path());
            }
        } else {
            // Hard links share their blocks: counted once per entry is close enough.
            entry.bytes += std::os::unix::fs::MetadataExt::blocks(&meta) * 512;
        }
    }
    Ok(entry)
}
