//! Writing the image's layers: tar streams whose entries are normalised and never repeated.
//!
//! One file system is written, into one tar stream or split over several (an image of
//! layers): each entry goes to the layer selected when it is written, and a layer holds
//! every directory its own entries lie in, with the metadata its own packages give them, so
//! that its bytes depend on what it holds and not on what the layers beside it hold.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};

use crate::ImageError;

/// What a path in the layer is, and who put it there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// Owning package index, or `None` for generated entries.
    pub owner: Option<usize>,
    /// Entry kind.
    pub kind: Kind,
    /// In the image below this layer (a base's), not written by it.
    pub below: bool,
}

/// Kinds of layer entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A directory.
    Dir,
    /// A regular file.
    File,
    /// A symlink to the given target.
    Symlink(String),
    /// A hard link to the given path.
    Hardlink(String),
}

/// Ownership and permissions of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// Permission bits, setuid/setgid/sticky included.
    pub mode: u32,
    /// Owner id.
    pub uid: u64,
    /// Group id.
    pub gid: u64,
    /// Modification time (already clamped).
    pub mtime: u64,
}

impl Meta {
    /// root-owned with `mode`.
    pub fn root(mode: u32, mtime: u64) -> Self {
        Meta {
            mode,
            uid: 0,
            gid: 0,
            mtime,
        }
    }
}

/// A tar layer (or several) under construction.
pub struct Layer<W: Write> {
    sinks: Vec<tar::Builder<W>>,
    /// The layer entries go to.
    current: usize,
    /// With several layers: the paths each one holds.
    held: Vec<HashSet<String>>,
    seen: HashMap<String, Slot>,
    /// Bytes of file content written.
    pub content_bytes: u64,
    /// Entries written.
    pub entries: usize,
    /// Directories whose owner and mode the spec decides (its `paths`, its volumes):
    /// written so the first time, whoever writes them, since engines refuse a second
    /// entry for one path in a layer.
    declared: HashMap<String, Meta>,
}

impl<W: Write> Layer<W> {
    /// A layer writing to `out`.
    pub fn new(out: W) -> Self {
        Layer::split(vec![out])
    }

    /// Directories to write with the given owner and mode whenever they are first written
    /// (keys as layer paths, without the leading `/`).
    pub fn declare_dirs(&mut self, dirs: HashMap<String, Meta>) {
        self.declared = dirs;
    }

    /// Layers writing to `outs`, bottom first; entries go to the first until [`Layer::select`]
    /// picks another.
    pub fn split(outs: Vec<W>) -> Self {
        let held = if outs.len() > 1 {
            vec![HashSet::new(); outs.len()]
        } else {
            Vec::new()
        };
        let sinks = outs
            .into_iter()
            .map(|out| {
                let mut tar = tar::Builder::new(out);
                tar.mode(tar::HeaderMode::Complete);
                tar
            })
            .collect();
        Layer {
            sinks,
            current: 0,
            held,
            seen: HashMap::new(),
            content_bytes: 0,
            entries: 0,
            declared: HashMap::new(),
        }
    }

    /// Writes what comes next into layer `index` (of those [`Layer::split`] was given).
    pub fn select(&mut self, index: usize) {
        self.current = index.min(self.sinks.len().saturating_sub(1));
    }

    /// Whether the selected layer itself holds `path` (with one layer: whether it exists).
    pub fn holds(&self, path: &str) -> bool {
        match self.held.get(self.current) {
            Some(held) => held.contains(path),
            None => self.seen.contains_key(path),
        }
    }

    fn tar(&mut self) -> &mut tar::Builder<W> {
        &mut self.sinks[self.current]
    }

    fn hold(&mut self, path: &str) {
        if let Some(held) = self.held.get_mut(self.current) {
            held.insert(path.to_owned());
        }
    }

    /// A layer writing to `out` on top of an image that already holds `below`: those paths
    /// count as present (for conflicts, parents and links) but are not written again.
    pub fn on(out: W, below: impl IntoIterator<Item = (String, Kind)>) -> Self {
        Layer::new(out).over(below)
    }

    /// These layers, on top of an image that already holds `below` (see [`Layer::on`]).
    pub fn over(mut self, below: impl IntoIterator<Item = (String, Kind)>) -> Self {
        self.seen = below
            .into_iter()
            .map(|(path, kind)| {
                let slot = Slot {
                    owner: None,
                    kind,
                    below: true,
                };
                (path, slot)
            })
            .collect();
        self
    }

    /// What is at `path` already, if anything.
    pub fn get(&self, path: &str) -> Option<&Slot> {
        self.seen.get(path)
    }

    /// Every path written so far (relative, merged `/usr`), in no particular order.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.seen.keys().map(String::as_str)
    }

    /// Whether `path` exists as something other than a directory.
    pub fn has_non_dir(&self, path: &str) -> bool {
        self.seen.get(path).is_some_and(|s| s.kind != Kind::Dir)
    }

    /// Moves ownership of `path` to `owner` (a package that Replaces the previous one).
    pub fn reown(&mut self, path: &str, owner: usize) {
        if let Some(slot) = self.seen.get_mut(path) {
            slot.owner = Some(owner);
        }
    }

    /// Every entry's path is relative, non-empty and free of `.` and `..` components: what
    /// a script walk or the spec produced has been normalised before it gets here.
    fn check(path: &str) -> Result<(), ImageError> {
        let bad = path.is_empty()
            || path.starts_with('/')
            || path
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == "..");
        match bad {
            true => Err(ImageError::NotALayerPath {
                path: path.to_owned(),
            }),
            false => Ok(()),
        }
    }

    fn header(kind: tar::EntryType, meta: Meta, size: u64) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(meta.mode);
        header.set_uid(meta.uid);
        header.set_gid(meta.gid);
        header.set_mtime(meta.mtime);
        header.set_size(size);
        header
    }

    fn record(&mut self, path: &str, owner: Option<usize>, kind: Kind) {
        self.entries += 1;
        self.hold(path);
        let below = false;
        self.seen
            .insert(path.to_owned(), Slot { owner, kind, below });
    }

    /// Adds every missing parent directory of `path` to the selected layer, root-owned,
    /// mode 0755.
    pub fn parents(&mut self, path: &str, mtime: u64) -> Result<(), ImageError> {
        let mut end = 0;
        while let Some(slash) = path[end..].find('/') {
            let parent = &path[..end + slash];
            if !self.holds(parent) {
                self.dir(parent, Meta::root(0o755, mtime), None)?;
            }
            end += slash + 1;
        }
        Ok(())
    }

    /// Adds a directory unless one is already there (in the selected layer: a directory of
    /// a layer below is written again, so that this layer holds its own).
    pub fn dir(&mut self, path: &str, meta: Meta, owner: Option<usize>) -> Result<(), ImageError> {
        Self::check(path)?;
        let meta = self.declared.get(path).copied().unwrap_or(meta);
        let elsewhere = match self.seen.get(path) {
            None => false,
            Some(slot) if slot.kind == Kind::Dir && !slot.below && !self.holds(path) => true,
            Some(_) => return Ok(()),
        };
        let mut header = Self::header(tar::EntryType::Directory, meta, 0);
        self.tar()
            .append_data(&mut header, format!("{path}/"), std::io::empty())
            .map_err(ImageError::write)?;
        if elsewhere {
            self.entries += 1;
            self.hold(path);
        } else {
            self.record(path, owner, Kind::Dir);
        }
        Ok(())
    }

    /// Gives declared directory `path` its declared owner and mode: written now if no layer
    /// holds it yet, or once more above a base that shipped it (a later entry of the same
    /// path is what unpacking leaves). A directory this image wrote already got them when
    /// first written; an undeclared path or one that is not a directory is left alone.
    pub fn declared_dir(&mut self, path: &str) -> Result<(), ImageError> {
        let Some(&meta) = self.declared.get(path) else {
            return Ok(());
        };
        match self.seen.get(path) {
            None => self.dir(path, meta, None),
            Some(slot) if slot.kind == Kind::Dir && slot.below => {
                let mut header = Self::header(tar::EntryType::Directory, meta, 0);
                self.hold(path);
                self.tar()
                    .append_data(&mut header, format!("{path}/"), std::io::empty())
                    .map_err(ImageError::write)
            }
            Some(_) => Ok(()),
        }
    }

    /// Adds a regular file with `size` bytes read from `data`; fewer or more bytes than
    /// `size` is an error (the tar header would lie about its data).
    pub fn file(
        &mut self,
        path: &str,
        meta: Meta,
        size: u64,
        data: impl Read,
        owner: Option<usize>,
    ) -> Result<(), ImageError> {
        Self::check(path)?;
        let mut header = Self::header(tar::EntryType::Regular, meta, size);
        let mut counted = Counted {
            inner: data.take(size),
            count: 0,
        };
        self.tar()
            .append_data(&mut header, path, &mut counted)
            .map_err(ImageError::write)?;
        if counted.count != size {
            return Err(ImageError::Short {
                path: path.to_owned(),
                declared: size,
                actual: counted.count,
            });
        }
        self.content_bytes += size;
        self.record(path, owner, Kind::File);
        Ok(())
    }

    /// Adds a symlink.
    pub fn symlink(
        &mut self,
        path: &str,
        target: &str,
        meta: Meta,
        owner: Option<usize>,
    ) -> Result<(), ImageError> {
        let meta = Meta {
            mode: 0o777,
            ..meta
        };
        self.link(
            tar::EntryType::Symlink,
            path,
            target,
            meta,
            owner,
            Kind::Symlink(target.to_owned()),
        )
    }

    /// Adds a hard link to an earlier entry.
    pub fn hardlink(
        &mut self,
        path: &str,
        target: &str,
        meta: Meta,
        owner: Option<usize>,
    ) -> Result<(), ImageError> {
        self.link(
            tar::EntryType::Link,
            path,
            target,
            meta,
            owner,
            Kind::Hardlink(target.to_owned()),
        )
    }

    fn link(
        &mut self,
        entry_type: tar::EntryType,
        path: &str,
        target: &str,
        meta: Meta,
        owner: Option<usize>,
        kind: Kind,
    ) -> Result<(), ImageError> {
        Self::check(path)?;
        let mut header = Self::header(entry_type, meta, 0);
        self.tar()
            .append_link(&mut header, path, target)
            .map_err(ImageError::write)?;
        self.record(path, owner, kind);
        Ok(())
    }

    /// Adds a generated text file (root-owned). Its path must be free, or hold a file of
    /// the image below (which this one replaces): a package that shipped something there
    /// would make two entries for one path.
    pub fn text(
        &mut self,
        path: &str,
        mode: u32,
        mtime: u64,
        text: &str,
    ) -> Result<(), ImageError> {
        self.text_as(path, Meta::root(mode, mtime), text)
    }

    /// Adds a generated text file with the given owner and mode (see [`Layer::text`]).
    pub fn text_as(&mut self, path: &str, meta: Meta, text: &str) -> Result<(), ImageError> {
        if let Some(slot) = self
            .seen
            .get(path)
            .filter(|s| !s.below || s.kind == Kind::Dir)
        {
            return Err(ImageError::Reserved {
                path: path.to_owned(),
                owner: slot.owner,
            });
        }
        self.parents(path, meta.mtime)?;
        self.file(path, meta, text.len() as u64, text.as_bytes(), None)
    }

    /// Where `path` really lands once the symlinks already in the layer are followed for
    /// each of its parent directories (the last component is not followed), as the kernel
    /// and dpkg follow them when the layer is unpacked. Absolute targets resolve against the
    /// image's root, and `..` never climbs above it.
    pub fn resolve_parents(&self, path: &str) -> Result<String, &'static str> {
        const MAX_HOPS: usize = 40;
        let mut hops = 0;
        let mut pending: Vec<String> = path.split('/').rev().map(str::to_owned).collect();
        let mut done: Vec<String> = Vec::new();
        while let Some(part) = pending.pop() {
            if pending.is_empty() {
                done.push(part); // the entry itself
                break;
            }
            match part.as_str() {
                "" | "." => continue,
                ".." => {
                    done.pop();
                    continue;
                }
                _ => {}
            }
            done.push(part);
            let here = done.join("/");
            if let Some(Slot {
                kind: Kind::Symlink(target),
                ..
            }) = self.seen.get(&here)
            {
                hops += 1;
                if hops > MAX_HOPS {
                    return Err("too many levels of symbolic links");
                }
                done.pop();
                if target.starts_with('/') {
                    done.clear();
                }
                pending.extend(target.split('/').rev().map(str::to_owned));
            }
        }
        Ok(done.join("/"))
    }

    /// Finishes the archive and returns the writer (of the first layer, when split).
    pub fn finish(self) -> Result<W, ImageError> {
        self.finish_all()?
            .into_iter()
            .next()
            .ok_or_else(|| ImageError::write(std::io::Error::other("a layer without output")))
    }

    /// Finishes every layer's archive and returns the writers, bottom first.
    pub fn finish_all(self) -> Result<Vec<W>, ImageError> {
        self.sinks
            .into_iter()
            .map(|tar| tar.into_inner().map_err(ImageError::write))
            .collect()
    }
}

/// Counts the bytes read through it.
struct Counted<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}
