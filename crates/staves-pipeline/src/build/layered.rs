//! An image split over several layers (`layers = N`), with a cache of layers by content.
//!
//! A layer's key is its own content: the digest of its uncompressed tar (its diff ID). The
//! packages are streamed once into hashers only — the cheap part of a build: decoding
//! (from kept zstd copies) and tar framing — which gives every layer's diff ID. A layer the
//! cache holds compressed already is linked from there; only the others are streamed again,
//! into compressors. A change to one package thus recompresses only its own layer and the
//! generated one, and a layer of two images holding the same packages is one blob.
//!
//! Keying by content makes the cache immune to anything a key could forget: a blob is kept
//! under the diff ID it was compressed from, its record written after it, atomically; a
//! record whose blob is missing or of the wrong size is ignored.

use std::io::Write;
use std::path::PathBuf;

use serde_json::json;
use sha2::{Digest, Sha256};
use staves_image::{ImageError, Options, PackageInput, Summary};
use staves_oci::{BlobRef, LayerBlob, LayerCompression, LayerWriter, Layout};
use staves_repo::Cache;

use super::cached::blob_path;
use crate::error::PipelineError;

/// Hashes and counts an uncompressed layer.
#[derive(Default)]
struct DiffHasher {
    hasher: Sha256,
    bytes: u64,
}

impl Write for DiffHasher {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.hasher.update(data);
        self.bytes += data.len() as u64;
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl DiffHasher {
    fn diff_id(self) -> (String, u64) {
        (
            format!("sha256:{}", hex::encode(self.hasher.finalize())),
            self.bytes,
        )
    }
}

/// Where the second pass sends a layer: a compressor, or (cached already) a hasher that
/// checks the pass gives the same bytes.
enum Sink {
    Compress(Box<LayerWriter>),
    Check(DiffHasher),
}

impl Write for Sink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::Compress(w) => w.write(data),
            Sink::Check(h) => h.write(data),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What a layered build wrote, and what it took from the cache.
pub(super) struct Layered {
    /// The layers, bottom first.
    pub layers: Vec<LayerBlob>,
    /// Assembly's summary.
    pub summary: Summary,
    /// How many of `layers` were compressed now (the rest came from the cache).
    pub compressed: usize,
}

/// Writes `packages` as up to `budget` layers into `layout`, taking every layer the cache
/// holds from it. The inner result is assembly's own failure (for the damaged-copy retry).
pub(super) fn write_layers(
    cache: &Cache,
    packages: &[PackageInput],
    options: &Options,
    budget: usize,
    layout: &Layout,
    compression: LayerCompression,
    threads: usize,
) -> Result<Result<Layered, ImageError>, PipelineError> {
    let hashers: Vec<DiffHasher> = (0..budget).map(|_| DiffHasher::default()).collect();
    let (hashers, summary) = match staves_image::assemble_layers(packages, options, hashers) {
        Ok(done) => done,
        Err(e) => return Ok(Err(e)),
    };
    let used = summary.layers.len().max(1);
    let diffs: Vec<(String, u64)> = hashers
        .into_iter()
        .take(used)
        .map(DiffHasher::diff_id)
        .collect();
    let cached: Vec<Option<LayerBlob>> = diffs
        .iter()
        .map(|(diff_id, _)| lookup(cache, diff_id, compression))
        .collect();
    let compressed = cached.iter().filter(|c| c.is_none()).count();
    if compressed > 0 {
        let sinks = cached
            .iter()
            .map(|c| match c {
                Some(_) => Ok(Sink::Check(DiffHasher::default())),
                None => Ok(Sink::Compress(Box::new(
                    layout.layer_writer(compression, threads)?,
                ))),
            })
            .collect::<Result<Vec<_>, PipelineError>>()?;
        let sinks = match staves_image::assemble_layers(packages, options, sinks) {
            Ok((sinks, _)) => sinks,
            Err(e) => return Ok(Err(e)),
        };
        let mut layers = Vec::with_capacity(used);
        for ((sink, cached), (diff_id, _)) in sinks.into_iter().zip(cached).zip(&diffs) {
            let written = match (sink, cached) {
                (Sink::Compress(writer), _) => {
                    let layer = writer.finish()?;
                    // Keeping it is an optimisation: a cache that cannot take it costs the
                    // next build, not this one.
                    let _ = store(cache, &layer, compression, layout);
                    layer
                }
                (Sink::Check(hasher), Some(layer)) => {
                    if hasher.diff_id().0 != layer.diff_id {
                        return Err(nondeterministic(&layer.diff_id));
                    }
                    link(cache, &layer.blob, layout)?;
                    layer
                }
                (Sink::Check(_), None) => {
                    return Err(PipelineError::LayerWithoutSink);
                }
            };
            if written.diff_id != *diff_id {
                return Err(nondeterministic(diff_id));
            }
            layers.push(written);
        }
        return Ok(Ok(Layered {
            layers,
            summary,
            compressed,
        }));
    }
    let layers = cached.into_iter().flatten().collect::<Vec<_>>();
    for layer in &layers {
        link(cache, &layer.blob, layout)?;
    }
    Ok(Ok(Layered {
        layers,
        summary,
        compressed: 0,
    }))
}

fn nondeterministic(diff_id: &str) -> PipelineError {
    PipelineError::Nondeterministic(diff_id.to_string())
}

fn record_path(cache: &Cache, diff_id: &str, compression: LayerCompression) -> PathBuf {
    let key = format!("{}-{compression:?}", diff_id.trim_start_matches("sha256:"));
    cache.entry("layers", &key, ".json")
}

/// The compressed layer of `diff_id` the cache holds, when its blob is there at its size.
fn lookup(cache: &Cache, diff_id: &str, compression: LayerCompression) -> Option<LayerBlob> {
    let path = record_path(cache, diff_id, compression);
    let bytes = staves_fs::read_regular(&path, 64 << 10).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let blob: BlobRef = serde_json::from_value(value["blob"].clone()).ok()?;
    let uncompressed_size = value["uncompressed_size"].as_u64()?;
    std::fs::metadata(blob_path(cache, &blob.digest))
        .is_ok_and(|m| m.len() == blob.size)
        .then(|| LayerBlob {
            blob,
            diff_id: diff_id.to_owned(),
            uncompressed_size,
        })
}

/// Keeps `layer` (its blob in `layout`) under its diff ID.
fn store(
    cache: &Cache,
    layer: &LayerBlob,
    compression: LayerCompression,
    layout: &Layout,
) -> std::io::Result<()> {
    let to = blob_path(cache, &layer.blob.digest);
    std::fs::create_dir_all(staves_fs::parent_of(&to))?;
    staves_fs::link_or_copy(&layout.blob_path(&layer.blob.digest), &to)?;
    let path = record_path(cache, &layer.diff_id, compression);
    std::fs::create_dir_all(staves_fs::parent_of(&path))?;
    let value = json!({
        "blob": layer.blob,
        "uncompressed_size": layer.uncompressed_size,
    });
    staves_fs::write_atomic(&path, value.to_string().as_bytes())
}

fn link(cache: &Cache, blob: &BlobRef, layout: &Layout) -> std::io::Result<()> {
    staves_fs::link_or_copy(
        &blob_path(cache, &blob.digest),
        &layout.blob_path(&blob.digest),
    )
}
