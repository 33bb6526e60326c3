//! Packages streamed into the layer: each `.deb` opened, its data archive read once through the
//! tar guard, every entry normalised onto merged `/usr`, claimed against the other packages
//! (`Replaces`, `Multi-Arch: same`), filtered by the features, and written with the owners and
//! modes scripts set.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::Write;

use staves_deb::Version;
use staves_deb::deb::DebFile;
use staves_deb::relation::Relation;

use crate::ImageError;
use crate::dpkg::{self, Installed, PackageFacts};
use crate::features::Features;
use crate::layer::{Kind, Layer, Meta};
use crate::needs::{Need, Sniffer};
use crate::options::{LayerContents, LayerRole, Options, PackageInput};
use crate::paths::{
    GENERATED, MERGED_DIRS, is_certificate, merge_usr, normalize, symlink_stays_inside,
};
use crate::plan::{Migration, relocate};
use crate::prefetch::{Prefetch, Source};

/// The most a file scripts copy may hold to be copied into another layer.
pub(crate) const MAX_COPIED: u64 = 1 << 20;

pub(crate) struct Opened {
    pub(crate) input: PackageInput,
    /// The source package it is built from.
    pub(crate) source: String,
    /// Bytes it installs (`Installed-Size`), for layering.
    pub(crate) size: u64,
    pub(crate) deb: DebFile,
    pub(crate) replaces: Vec<Relation>,
    /// Its name, essential flag, dependencies and provides, for the order scripts run in.
    pub(crate) relations: crate::configure_order::Relations,
    pub(crate) multi_arch_same: bool,
    /// `Priority: required`: part of every Debian system's plumbing (dpkg, debconf, awk),
    /// whose files' needs are not reported.
    pub(crate) required: bool,
    /// The most bytes its data archive may unpack to.
    pub(crate) limit: u64,
}

/// Names the package behind a [`ImageError::Reserved`] error.
pub(crate) fn name_owner(error: ImageError, opened: &[Opened]) -> ImageError {
    match error {
        ImageError::Reserved {
            path,
            owner: Some(owner),
        } => ImageError::Hostile {
            package: opened[owner].input.name.clone(),
            entry: format!("/{path}"),
            reason: "Staves writes this path itself (accounts, dpkg database or SBOM)".into(),
        },
        other => other,
    }
}

/// What streaming the packages leaves for the phases after it.
#[derive(Default)]
pub(crate) struct Streamed {
    /// dpkg's record of each package, in install order.
    pub(crate) installed: Vec<Installed>,
    /// What the SBOM says of each package.
    pub(crate) facts: Vec<PackageFacts>,
    /// Certificates for the CA bundle, by path.
    pub(crate) certificates: BTreeMap<String, Vec<u8>>,
    /// Paths files need at run time.
    pub(crate) needs: Vec<Need>,
    /// Files left out by `use`.
    pub(crate) filtered: usize,
    /// What files maintainer scripts copy hold, by path, for a copy in another layer than
    /// its source (one layer links it instead).
    pub(crate) copy_sources: BTreeMap<String, Vec<u8>>,
}

/// Phase 1: every package's data archive into the layer, the next ones decoded ahead on
/// other cores.
pub(crate) fn stream_packages<W: Write>(
    layer: &mut Layer<W>,
    opened: &[Opened],
    options: &Options,
    rules: &Rules<'_>,
    split: &Split,
    streamed: &mut Streamed,
) -> Result<(), ImageError> {
    let sources: Vec<Source<'_>> = split
        .order
        .iter()
        .map(|&i| &opened[i])
        .map(|p| Source {
            deb: &p.deb,
            sha256: &p.input.sha256,
            kept: p.input.unpacked.as_deref(),
            temp_dir: options.temp_dir.as_deref(),
            limit: p.limit,
        })
        .collect();
    let ahead = std::thread::available_parallelism().map_or(2, |n| n.get());
    // Records land at their install position, whatever the streaming order.
    let mut records: Vec<Option<(Installed, PackageFacts)>> =
        std::iter::repeat_with(|| None).take(opened.len()).collect();
    std::thread::scope(|scope| -> Result<(), ImageError> {
        let mut prefetch = Prefetch::new(scope, &sources, ahead);
        for &index in &split.order {
            let data = prefetch
                .next_reader()
                .ok_or_else(|| ImageError::Write(std::io::Error::other("prefetch ended early")))?;
            layer.select(split.layer_of[index]);
            let rules = Rules {
                mtime: split.mtime_of[index],
                ..*rules
            };
            let (record, skipped, copyright) =
                add_package(layer, opened, index, data, &rules, streamed)?;
            let input = &opened[index].input;
            let facts = PackageFacts {
                name: input.name.clone(),
                version: input.version.clone(),
                arch: input.arch.clone(),
                control: record.control.clone(),
                copyright,
            };
            records[index] = Some((record, facts));
            streamed.filtered += skipped;
        }
        Ok(())
    })?;
    for (record, facts) in records.into_iter().flatten() {
        streamed.installed.push(record);
        streamed.facts.push(facts);
    }
    Ok(())
}

/// What applies to every package's entries while they stream in.
#[derive(Clone, Copy)]
pub(crate) struct Rules<'a> {
    /// The image below, whose packages own some paths already.
    pub(crate) base: Option<&'a crate::Base>,
    pub(crate) features: &'a Features,
    pub(crate) mtime: u64,
    pub(crate) script_dirs: &'a BTreeMap<String, Meta>,
    /// Directories that become links.
    pub(crate) migrations: &'a [Migration],
    /// Files whose content is kept: what scripts copy, when the image has several layers.
    pub(crate) kept: &'a HashSet<String>,
    /// Owners and modes scripts set.
    pub(crate) overrides: &'a crate::plan::Overrides,
    /// Shipped symlinks scripts removed.
    pub(crate) removed_links: &'a BTreeSet<String>,
}

/// Streams one package's data archive into the layer.
pub(crate) fn add_package<W: Write>(
    layer: &mut Layer<W>,
    opened: &[Opened],
    index: usize,
    data: impl std::io::Read,
    rules: &Rules<'_>,
    streamed: &mut Streamed,
) -> Result<(Installed, usize, Option<String>), ImageError> {
    let p = &opened[index];
    let name = &p.input.name;
    let copyright_path = format!("usr/share/doc/{name}/copyright");
    let conffiles = p
        .deb
        .control
        .conffiles
        .as_deref()
        .map(dpkg::conffile_paths)
        .unwrap_or_default();
    let mut conffile_sums: Vec<(String, String)> = Vec::new();
    let mut copyright = None;
    let read_err = |source| ImageError::Read {
        package: name.clone(),
        source,
    };
    let hostile = |entry: &str, reason: String| ImageError::Hostile {
        package: name.clone(),
        entry: entry.to_owned(),
        reason,
    };
    let mut record = Installed {
        info_name: if p.multi_arch_same {
            format!("{name}:{}", p.input.arch)
        } else {
            name.clone()
        },
        control: p.deb.control.control.clone(),
        md5sums: p.deb.control.md5sums.clone(),
        conffiles: p.deb.control.conffiles.clone(),
        build_info: p.deb.control.build_info.clone(),
        ..Installed::default()
    };
    let mut filtered = 0;
    let mut archive = tar::Archive::new(data);
    for entry in archive.entries().map_err(read_err)? {
        let mut entry = entry.map_err(read_err)?;
        let raw_bytes = entry.path_bytes().into_owned();
        // A name that is not UTF-8 is refused, not renamed: the image must hold what the
        // package holds or nothing.
        let raw = String::from_utf8(raw_bytes).map_err(|e| {
            hostile(
                &String::from_utf8_lossy(e.as_bytes()),
                "path is not UTF-8".into(),
            )
        })?;
        let norm =
            normalize(std::path::Path::new(&raw)).map_err(|r| hostile(&raw, r.to_string()))?;
        if norm.is_empty() {
            record.listed.push("/.".into());
            continue;
        }
        let original = format!("/{norm}");
        let mut path = merge_usr(&norm);
        // A directory base-files turns into a link is not written; what lies below it goes
        // where the link will point.
        if rules.migrations.iter().any(|m| path == m.dir) {
            record.listed.push(original);
            continue;
        }
        path = relocate(&path, rules.migrations);
        // Follow the symlinks already in the layer, as unpacking will: `usr/lib/esc -> /etc`
        // then `usr/lib/esc/passwd` writes /etc/passwd, and is judged as /etc/passwd.
        let resolved = layer
            .resolve_parents(&path)
            .map_err(|r| hostile(&raw, r.to_owned()))?;
        let resolved = relocate(&merge_usr(&resolved), rules.migrations);
        if resolved != path {
            if resolved.is_empty()
                || GENERATED.contains(&resolved.as_str())
                || MERGED_DIRS.contains(&resolved.as_str())
            {
                return Err(hostile(
                    &raw,
                    format!("writes `/{resolved}` through a symlink"),
                ));
            }
            path = resolved;
        }
        let header = entry.header();
        let kind = header.entry_type();
        let meta = Meta {
            mode: header.mode().map_err(read_err)? & 0o7777,
            uid: header.uid().map_err(read_err)?,
            gid: header.gid().map_err(read_err)?,
            mtime: header.mtime().map_err(read_err)?.min(rules.mtime),
        };
        if MERGED_DIRS.contains(&norm.as_str()) {
            // `./bin/` itself: on merged /usr it is the symlink added at the end.
            record.listed.push(original);
            continue;
        }
        let meta = rules.overrides.apply(&path, meta);
        if kind.is_dir() {
            let meta = rules.script_dirs.get(&path).copied().unwrap_or(meta);
            if layer
                .get(&path)
                .is_some_and(|s| s.below && matches!(s.kind, Kind::Symlink(_)))
            {
                // A directory the base has as a link stays a link, as dpkg leaves it.
                record.listed.push(original);
                continue;
            }
            if layer.has_non_dir(&path) {
                return Err(conflict(layer, opened, &path, index));
            }
            layer.parents(&path, rules.mtime)?;
            layer.dir(&path, meta, Some(index))?;
            record.listed.push(original);
            continue;
        }
        if matches!(
            kind,
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo
        ) {
            return Err(hostile(
                &raw,
                "device nodes and FIFOs are not allowed in images".into(),
            ));
        }
        if !(kind.is_file() || kind.is_symlink() || kind.is_hard_link()) {
            return Err(hostile(&raw, format!("unsupported entry type {kind:?}")));
        }
        if GENERATED.contains(&path.as_str()) {
            continue;
        }
        if !rules.features.keeps(name, &path) {
            filtered += 1;
            continue;
        }
        if layer.get(&path).is_some() && !claim(layer, opened, &path, index, rules.base)? {
            continue;
        }
        layer.parents(&path, rules.mtime)?;
        let link_name = || -> Result<String, ImageError> {
            let bytes = entry
                .link_name_bytes()
                .ok_or_else(|| hostile(&raw, "link without target".into()))?;
            String::from_utf8(bytes.into_owned())
                .map_err(|_| hostile(&raw, "link target is not UTF-8".into()))
        };
        if kind.is_symlink() {
            if rules.removed_links.contains(&path) {
                record.listed.push(original);
                continue;
            }
            let target = link_name()?;
            let target = relocate_link(&norm, &path, &target);
            if !symlink_stays_inside(&path, &target) {
                return Err(hostile(
                    &raw,
                    format!("symlink to `{target}` leaves the image"),
                ));
            }
            layer.symlink(&path, &target, meta, Some(index))?;
        } else if kind.is_hard_link() {
            let target = link_name()?;
            let target = normalize(std::path::Path::new(&target))
                .map_err(|r| hostile(&raw, format!("hard link target: {r}")))?;
            let target = relocate(&merge_usr(&target), rules.migrations);
            let target = layer
                .resolve_parents(&target)
                .map_err(|r| hostile(&raw, format!("hard link target: {r}")))?;
            if layer.get(&target).map(|s| &s.kind) != Some(&Kind::File) {
                return Err(hostile(
                    &raw,
                    format!("hard link to `{target}`, which is not a file of the image"),
                ));
            }
            if !layer.holds(&target) {
                return Err(hostile(
                    &raw,
                    format!(
                        "hard link to `{target}`, a file of another layer (build with fewer `layers`)"
                    ),
                ));
            }
            layer.hardlink(&path, &target, meta, Some(index))?;
        } else {
            let size = entry.size();
            if path == copyright_path {
                // Kept for the SBOM's licences; 4 MiB is far above any real copyright file.
                let text = read_small(&mut entry, size, 4 << 20).map_err(read_err)?;
                if text.len() as u64 != size {
                    return Err(hostile(&raw, "copyright file larger than 4 MiB".into()));
                }
                layer.file(&path, meta, size, text.as_slice(), Some(index))?;
                copyright = Some(String::from_utf8_lossy(&text).into_owned());
            } else if is_certificate(&path) {
                // Kept for the CA bundle that update-ca-certificates would build; a real
                // certificate is a few KB.
                const MAX_CERTIFICATE: u64 = 1 << 20;
                if size > MAX_CERTIFICATE {
                    return Err(hostile(
                        &raw,
                        format!("certificate of {size} bytes (at most {MAX_CERTIFICATE})"),
                    ));
                }
                let pem = read_small(&mut entry, size, MAX_CERTIFICATE).map_err(read_err)?;
                layer.file(&path, meta, size, pem.as_slice(), Some(index))?;
                streamed.certificates.insert(path.clone(), pem);
            } else if rules.kept.contains(&path) && size <= MAX_COPIED {
                let bytes = read_small(&mut entry, size, MAX_COPIED).map_err(read_err)?;
                layer.file(&path, meta, size, bytes.as_slice(), Some(index))?;
                streamed.copy_sources.insert(path.clone(), bytes);
            } else {
                let executable = meta.mode & 0o111 != 0 && !p.required;
                let shown = format!("/{path}");
                let scan = crate::needs::worth_scanning(name, &shown, executable);
                if conffiles.contains(&original) {
                    let mut hashing = Md5Reader {
                        inner: &mut entry,
                        hasher: <md5::Md5 as md5::Digest>::new(),
                    };
                    let mut sniffer = Sniffer::new(&mut hashing, scan);
                    layer.file(&path, meta, size, &mut sniffer, Some(index))?;
                    streamed
                        .needs
                        .extend(sniffer.needs(name, &shown, executable));
                    let md5 = hex::encode(md5::Digest::finalize(hashing.hasher));
                    conffile_sums.push((original.clone(), md5));
                } else {
                    let mut sniffer = Sniffer::new(&mut entry, scan);
                    layer.file(&path, meta, size, &mut sniffer, Some(index))?;
                    streamed
                        .needs
                        .extend(sniffer.needs(name, &shown, executable));
                }
            }
        }
        record.listed.push(original);
        record.kept.insert(norm);
    }
    // Read past tar's end marker to the end of the stream: a decoder checks its checksum
    // (zstd's, of a kept copy) only there.
    std::io::copy(&mut archive.into_inner(), &mut std::io::sink()).map_err(read_err)?;
    // In the order `conffiles` lists them, as dpkg writes them.
    conffile_sums.sort_by_key(|(path, _)| conffiles.iter().position(|c| c == path));
    record.conffile_sums = conffile_sums;
    Ok((record, filtered, copyright))
}

/// Reads an entry of `size` bytes kept whole in memory, never more than `limit`.
pub(crate) fn read_small(
    entry: impl std::io::Read,
    size: u64,
    limit: u64,
) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(size.min(limit) as usize);
    std::io::Read::read_to_end(&mut entry.take(limit), &mut bytes)?;
    Ok(bytes)
}

/// MD5s what passes through (dpkg keeps conffiles' MD5s in its status file).
pub(crate) struct Md5Reader<R> {
    pub(crate) inner: R,
    pub(crate) hasher: md5::Md5,
}

impl<R: std::io::Read> std::io::Read for Md5Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        md5::Digest::update(&mut self.hasher, &buf[..n]);
        Ok(n)
    }
}

/// Decides what happens when `path` is already in the layer: `Ok(true)` to write it again
/// (the new package Replaces the old owner), `Ok(false)` to keep what is there.
pub(crate) fn claim<W: Write>(
    layer: &mut Layer<W>,
    opened: &[Opened],
    path: &str,
    index: usize,
    base: Option<&crate::Base>,
) -> Result<bool, ImageError> {
    let Some(slot) = layer.get(path).cloned() else {
        return Ok(true);
    };
    if slot.below {
        let owner = base.and_then(|b| b.owners.get(path));
        return match owner {
            // Replacing a base package's file is what dpkg allows; anything else would
            // change the base's files under its feet.
            Some(owner) if opened[index].replaces.iter().any(|r| r.name == *owner) => Ok(true),
            Some(owner) => Err(ImageError::Conflict {
                path: path.to_owned(),
                first: format!("{owner} (in the base image)"),
                second: opened[index].input.name.clone(),
            }),
            None if slot.kind == Kind::Dir => Err(ImageError::Conflict {
                path: path.to_owned(),
                first: "a directory of the base image".into(),
                second: opened[index].input.name.clone(),
            }),
            // What the base generated (accounts, its SBOM) is rewritten later if at all.
            None => Ok(false),
        };
    }
    if slot.kind == Kind::Dir {
        // A directory and a file at one path, even within one package: two entries for one
        // path, which unpack differently depending on the tool.
        return Err(conflict(layer, opened, path, index));
    }
    let Some(owner) = slot.owner else {
        return Ok(false);
    };
    if owner == index || opened[owner].input.name == opened[index].input.name {
        return Ok(false); // the same file again, or a Multi-Arch: same sibling's copy
    }
    if replaces(&opened[index], &opened[owner]) {
        layer.reown(path, index);
        return Ok(true);
    }
    if replaces(&opened[owner], &opened[index]) {
        return Ok(false);
    }
    Err(conflict(layer, opened, path, index))
}

pub(crate) fn conflict<W: Write>(
    layer: &Layer<W>,
    opened: &[Opened],
    path: &str,
    index: usize,
) -> ImageError {
    if layer.get(path).and_then(|s| s.owner) == Some(index) {
        return ImageError::Hostile {
            package: opened[index].input.name.clone(),
            entry: format!("/{path}"),
            reason:
                "ships two different kinds of entry (a directory and a non-directory) at this path"
                    .into(),
        };
    }
    let first = layer
        .get(path)
        .and_then(|s| s.owner)
        .map_or_else(|| "staves".to_owned(), |o| opened[o].input.name.clone());
    ImageError::Conflict {
        path: path.to_owned(),
        first,
        second: opened[index].input.name.clone(),
    }
}

pub(crate) fn replaces(new: &Opened, old: &Opened) -> bool {
    let version = Version::parse(&old.input.version).ok();
    new.replaces
        .iter()
        .any(|r| r.name == old.input.name && version.as_ref().is_none_or(|v| r.admits_version(v)))
}

/// A relative symlink moved from `original` to `merged` (`bin/x` → `usr/bin/x`) must still
/// reach the same place: its target is recomputed from the new location.
pub(crate) fn relocate_link(original: &str, merged: &str, target: &str) -> String {
    if original == merged || target.starts_with('/') {
        return target.to_owned();
    }
    let mut resolved: Vec<&str> = original.split('/').collect();
    resolved.pop();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if resolved.pop().is_none() {
                    return target.to_owned(); // climbs out: the caller refuses it
                }
            }
            _ => resolved.push(part),
        }
    }
    let resolved = merge_usr(&resolved.join("/"));
    let from: Vec<&str> = merged.split('/').collect();
    let to: Vec<&str> = resolved.split('/').collect();
    let from_dir = &from[..from.len() - 1];
    let common = from_dir.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = vec![".."; from_dir.len() - common];
    parts.extend(&to[common..]);
    parts.join("/")
}

/// How the packages are split over layers: each one's layer and date, the streaming order.
pub(crate) struct Split {
    /// Each package's layer.
    pub(crate) layer_of: Vec<usize>,
    /// The layer of the generated files, above every archive package's.
    pub(crate) top: usize,
    /// The layer of the spec's own content and packages, when it has one: the topmost,
    /// so that a change to the spec's own files ships that layer alone.
    pub(crate) own: Option<usize>,
    /// The date each package's entries are clamped to: the newest of its layer's packages
    /// (never after the image's), so a layer's bytes do not depend on the other layers.
    pub(crate) mtime_of: Vec<u64>,
    /// Package indices in the order they are streamed: layer by layer, install order
    /// within each.
    pub(crate) order: Vec<usize>,
    /// Whether there are several layers.
    pub(crate) several: bool,
}

impl Split {
    /// `own_content`: the spec adds paths, volumes or services of its own.
    pub(crate) fn new(opened: &[Opened], budget: usize, mtime: u64, own_content: bool) -> Split {
        if budget <= 1 {
            return Split {
                layer_of: vec![0; opened.len()],
                top: 0,
                own: None,
                mtime_of: vec![mtime; opened.len()],
                order: (0..opened.len()).collect(),
                several: false,
            };
        }
        let has_own = own_content || opened.iter().any(|p| p.input.own);
        // The spec's own layer is the last of the budget; the archive's packages and the
        // generated files share the rest as before (with two layers, one).
        let shared_budget = if has_own { budget - 1 } else { budget };
        let archive: Vec<crate::layering::Member<'_>> = opened
            .iter()
            .filter(|p| !(has_own && p.input.own))
            .map(|p| crate::layering::Member {
                source: &p.source,
                size: p.size,
            })
            .collect();
        let planned = if shared_budget >= 2 {
            crate::layering::plan(&archive, shared_budget)
        } else {
            vec![0; archive.len()]
        };
        let top = match shared_budget {
            1 => 0,
            _ => planned.iter().max().map_or(0, |m| m + 1),
        };
        let mut planned = planned.into_iter();
        let own = has_own.then_some(top + 1);
        let layer_of: Vec<usize> = opened
            .iter()
            .map(|p| match own {
                Some(own) if p.input.own => own,
                _ => planned.next().unwrap_or(0),
            })
            .collect();
        let layers = own.unwrap_or(top) + 1;
        let mut newest = vec![0; layers];
        for (p, &l) in opened.iter().zip(&layer_of) {
            newest[l] = newest[l].max(p.deb.control.mtime);
        }
        let mtime_of = layer_of.iter().map(|&l| newest[l].min(mtime)).collect();
        let mut order: Vec<usize> = (0..opened.len()).collect();
        order.sort_by_key(|&i| (layer_of[i], i));
        Split {
            layer_of,
            top,
            own,
            mtime_of,
            order,
            several: true,
        }
    }

    /// What each layer holds, bottom first; empty for one layer.
    pub(crate) fn contents(&self, opened: &[Opened]) -> Vec<LayerContents> {
        if !self.several {
            return Vec::new();
        }
        let mut layers = vec![LayerContents::default(); self.own.unwrap_or(self.top) + 1];
        layers[self.top].holds = LayerRole::Generated;
        if let Some(own) = self.own {
            layers[own].holds = LayerRole::Own;
        }
        for (p, &l) in opened.iter().zip(&self.layer_of) {
            if !layers[l].sources.contains(&p.source) {
                layers[l].sources.push(p.source.clone());
            }
            layers[l].packages.push(p.input.name.clone());
        }
        layers
    }
}
