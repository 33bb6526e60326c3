//! Images already built, kept in the cache under a key of everything that went into them —
//! the locked packages and their digests, the spec's text and the files it copies in, the
//! base's digest, the compression, the date and Staves' own version — so an unchanged
//! rebuild downloads, decodes and compresses nothing: its blobs are linked into the output.
//!
//! A record is written only after every blob it names is in the cache's blob store, and
//! under a temporary name renamed into place: an interrupted or concurrent build leaves no
//! record, or a whole one, never one naming a wrong or half-written layer. Blobs are
//! content-addressed and never rewritten; a record whose blobs are missing or of the wrong
//! size is ignored and the image built again.

use std::path::PathBuf;

use serde_json::json;
use sha2::{Digest, Sha256};
use staves_image::Options;
use staves_oci::{BlobRef, LayerBlob, LayerCompression, Layout};
use staves_repo::Cache;
use staves_resolve::LockedTarget;

use crate::base::BaseImage;

/// Changes whenever what Staves writes for the same inputs may change (3: gzip layers cut
/// into content-defined blocks, ended by an empty final block; SBOMs name no host path).
const FORMAT: &str = concat!("staves-image-cache 18 ", env!("CARGO_PKG_VERSION"));

/// What a cached image is made of.
#[derive(Debug, Clone)]
pub(super) struct Record {
    /// Its manifest.
    pub manifest: BlobRef,
    /// Its config.
    pub config: BlobRef,
    /// The layers it added, bottom first.
    pub layers: Vec<LayerBlob>,
    /// Its date.
    pub mtime: u64,
    /// Files left out by `use`.
    pub filtered: usize,
    /// What an SBOM needs of its packages, when asked for and kept.
    pub facts: Option<Vec<staves_image::PackageFacts>>,
}

impl Record {
    /// Every blob of its own: manifest, config, layers.
    fn blobs(&self) -> impl Iterator<Item = &BlobRef> {
        [&self.manifest, &self.config]
            .into_iter()
            .chain(self.layers.iter().map(|l| &l.blob))
    }
}

/// The key of an image of `target` built with `options` (and on `base`).
pub(super) fn key(
    spec_text: &str,
    target: &LockedTarget,
    options: &Options,
    base: Option<&BaseImage>,
    compression: LayerCompression,
) -> String {
    let mut h = Sha256::new();
    let mut line = |text: &str| {
        h.update(text.as_bytes());
        h.update(b"\n");
    };
    line(FORMAT);
    line(spec_text);
    line(&format!("arch={}", target.arch));
    for p in &target.packages {
        line(&format!(
            "package={} {} {} {}",
            p.name, p.version, p.arch, p.sha256
        ));
    }
    // What `[[paths]]` copies in, by content.
    line(&format!("{:?}", options.extra_paths));
    line(&format!("mtime={:?}", options.mtime));
    line(&format!("base={:?}", base.map(|b| &b.digest)));
    line(&format!("compression={compression:?}"));
    hex::encode(h.finalize())
}

fn record_path(cache: &Cache, key: &str) -> PathBuf {
    cache.entry("images", key, ".json")
}

/// Where the cache keeps the blob `digest` (images' and layers' alike).
pub(super) fn blob_path(cache: &Cache, digest: &str) -> PathBuf {
    cache.entry("blobs", digest.trim_start_matches("sha256:"), "")
}

fn facts_path(cache: &Cache, key: &str) -> PathBuf {
    cache.entry("images", key, ".facts.json")
}

/// The most a kept package-facts file may hold (copyright files are most of it).
const MAX_FACTS: u64 = 64 << 20;

/// The record under `key`, when it and every blob it names are there — and, with `facts`,
/// what an SBOM needs of its packages (kept beside it).
pub(super) fn lookup(cache: &Cache, key: &str, facts: bool) -> Option<Record> {
    let bytes = staves_fs::read_regular(&record_path(cache, key), 1 << 20).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let blob = |v: &serde_json::Value| serde_json::from_value::<BlobRef>(v.clone()).ok();
    let record = Record {
        manifest: blob(&value["manifest"])?,
        config: blob(&value["config"])?,
        layers: value["layers"]
            .as_array()?
            .iter()
            .map(|l| {
                Some(LayerBlob {
                    blob: blob(&l["blob"])?,
                    diff_id: l["diff_id"].as_str()?.to_owned(),
                    uncompressed_size: l["uncompressed_size"].as_u64()?,
                })
            })
            .collect::<Option<Vec<_>>>()?,
        mtime: value["mtime"].as_u64()?,
        filtered: usize::try_from(value["filtered"].as_u64()?).ok()?,
        facts: match facts {
            true => Some(read_facts(&facts_path(cache, key))?),
            false => None,
        },
    };
    // The base's blobs need no check: reading the base has just read every one of them.
    let whole = record
        .blobs()
        .all(|b| std::fs::metadata(blob_path(cache, &b.digest)).is_ok_and(|m| m.len() == b.size));
    whole.then_some(record)
}

/// Keeps the image `record` describes (its blobs in `layout`) under `key`.
pub(super) fn store(
    cache: &Cache,
    key: &str,
    record: &Record,
    layout: &Layout,
) -> std::io::Result<()> {
    for blob in record.blobs() {
        let to = blob_path(cache, &blob.digest);
        std::fs::create_dir_all(staves_fs::parent_of(&to))?;
        staves_fs::link_or_copy(&layout.blob_path(&blob.digest), &to)?;
    }
    let value = json!({
        "manifest": record.manifest,
        "config": record.config,
        "layers": record.layers.iter().map(|l| json!({
            "blob": l.blob,
            "diff_id": l.diff_id,
            "uncompressed_size": l.uncompressed_size,
        })).collect::<Vec<_>>(),
        "mtime": record.mtime,
        "filtered": record.filtered,
    });
    let path = record_path(cache, key);
    std::fs::create_dir_all(staves_fs::parent_of(&path))?;
    // The facts first: a record whose facts are missing is only a miss for an SBOM build.
    if let Some(facts) = &record.facts {
        let list: Vec<serde_json::Value> = facts
            .iter()
            .map(|f| {
                json!({
                    "name": f.name,
                    "version": f.version,
                    "arch": f.arch,
                    "control": f.control,
                    "copyright": f.copyright,
                })
            })
            .collect();
        staves_fs::write_atomic(
            &facts_path(cache, key),
            serde_json::Value::from(list).to_string().as_bytes(),
        )?;
    }
    staves_fs::write_atomic(&path, value.to_string().as_bytes())
}

fn read_facts(path: &std::path::Path) -> Option<Vec<staves_image::PackageFacts>> {
    let bytes = staves_fs::read_regular(path, MAX_FACTS).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value
        .as_array()?
        .iter()
        .map(|f| {
            Some(staves_image::PackageFacts {
                name: f["name"].as_str()?.to_owned(),
                version: f["version"].as_str()?.to_owned(),
                arch: f["arch"].as_str()?.to_owned(),
                control: f["control"].as_str()?.to_owned(),
                copyright: f["copyright"].as_str().map(str::to_owned),
            })
        })
        .collect()
}

/// Puts the cached image's blobs (and its base's) into `layout`.
pub(super) fn restore(
    cache: &Cache,
    record: &Record,
    base: Option<&BaseImage>,
    layout: &Layout,
) -> std::io::Result<()> {
    for blob in record.blobs() {
        staves_fs::link_or_copy(
            &blob_path(cache, &blob.digest),
            &layout.blob_path(&blob.digest),
        )?;
    }
    if let Some(base) = base {
        base.link_layers_into(layout)?;
    }
    Ok(())
}

/// What an image entry of the shared tier is called.
const SHARED_KIND: &str = "image";

/// Asks the shared tier for the image `key` that this cache lacks: a whole entry (its
/// blobs, each checked against its digest, then its facts and record, written last) is
/// brought into this cache and looked up as a local one. A failure is a miss, reported.
pub(super) fn lookup_shared(
    cache: &Cache,
    shared: &dyn staves_types::SharedCache,
    key: &str,
    facts: bool,
    reporter: &dyn crate::Reporter,
) -> Option<Record> {
    let scratch = cache.scratch_dir().ok()?;
    let files = match shared.fetch(SHARED_KIND, key, scratch.path()) {
        Ok(Some(files)) => files,
        Ok(None) => return None,
        Err(e) => {
            reporter.warning(&format!(
                "the shared cache's image {key} is not used, the image is built here: {e}"
            ));
            return None;
        }
    };
    let bring = || -> std::io::Result<()> {
        let mut record = None;
        let mut facts_file = None;
        for file in &files {
            match file.name.as_str() {
                "record.json" => record = Some(&file.path),
                "facts.json" => facts_file = Some(&file.path),
                name if name.starts_with("blob-") => {
                    let to = blob_path(cache, &file.sha256);
                    std::fs::create_dir_all(staves_fs::parent_of(&to))?;
                    staves_fs::link_or_copy(&file.path, &to)?;
                }
                _ => {}
            }
        }
        let to = record_path(cache, key);
        std::fs::create_dir_all(staves_fs::parent_of(&to))?;
        if let Some(path) = facts_file {
            staves_fs::write_atomic(&facts_path(cache, key), &std::fs::read(path)?)?;
        }
        if let Some(path) = record {
            staves_fs::write_atomic(&to, &std::fs::read(path)?)?;
        }
        Ok(())
    };
    if let Err(e) = bring() {
        reporter.warning(&format!("the shared cache's image {key}: {e}"));
        return None;
    }
    lookup(cache, key, facts)
}

/// Offers the image `record` (kept in this cache under `key`) to the shared tier.
pub(super) fn keep_shared(
    cache: &Cache,
    shared: &dyn staves_types::SharedCache,
    key: &str,
    record: &Record,
) -> Result<(), staves_types::SharedError> {
    let file = |name: String, path: PathBuf| -> std::io::Result<staves_types::KeptFile> {
        let mut hashing = staves_net::Hashing::new(std::fs::File::open(&path)?);
        std::io::copy(&mut hashing, &mut std::io::sink())?;
        Ok(staves_types::KeptFile {
            name,
            path,
            sha256: hashing.finish().0,
        })
    };
    let mut files = vec![file("record.json".into(), record_path(cache, key))?];
    if record.facts.is_some() {
        files.push(file("facts.json".into(), facts_path(cache, key))?);
    }
    for blob in record.blobs() {
        let hex = blob
            .digest
            .as_ref()
            .trim_start_matches("sha256:")
            .to_owned();
        files.push(staves_types::KeptFile {
            name: format!("blob-{hex}"),
            path: blob_path(cache, &hex),
            sha256: hex,
        });
    }
    shared.keep(SHARED_KIND, key, &files)
}
