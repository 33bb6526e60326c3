//! The OCI image layout: blobs, the image config, the manifest and the index.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::OciError;
use crate::gzip::ParallelGzip;

/// Media types used.
pub mod media {
    /// Image manifest.
    pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// Image index.
    pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// Image config.
    pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// gzip-compressed layer.
    pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    /// zstd-compressed layer.
    pub const LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    /// Uncompressed layer (what `docker save` writes).
    pub const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
    /// Docker's image manifest, which registries still serve for older images.
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    /// Docker's manifest list (its image index).
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
}

/// A reference to a blob: what `config`, `layers` and index entries hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRef {
    /// Media type.
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// `sha256:<hex>`, checked when read.
    pub digest: crate::Digest,
    /// Size in bytes.
    pub size: u64,
    /// Platform (index entries only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub platform: Option<Platform>,
    /// Annotations.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub annotations: BTreeMap<String, String>,
    /// What an artifact is (an index entry of a manifest that refers to another: a
    /// signature, an attestation); none for an image.
    #[serde(
        rename = "artifactType",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub artifact_type: Option<String>,
}

/// An OCI platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// GOARCH-style architecture (`amd64`, `arm64`).
    pub architecture: String,
    /// Always `linux`.
    pub os: String,
    /// `v8` for arm64, `v7` for armhf.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub variant: Option<String>,
}

impl Platform {
    /// The OCI platform of a Debian architecture.
    pub fn from_debian(arch: &str) -> Platform {
        let (architecture, variant) = match arch {
            "amd64" => ("amd64", None),
            "arm64" => ("arm64", Some("v8")),
            "armhf" => ("arm", Some("v7")),
            "armel" => ("arm", Some("v5")),
            "i386" => ("386", None),
            "ppc64el" => ("ppc64le", None),
            "mips64el" => ("mips64le", None),
            other => (other, None),
        };
        Platform {
            architecture: architecture.into(),
            os: "linux".into(),
            variant: variant.map(Into::into),
        }
    }
}

/// What the image runs and how (the `config` object of the image config).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImageConfig {
    /// `user[:group]`.
    #[serde(rename = "User", skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `port/proto` → `{}`.
    #[serde(rename = "ExposedPorts", skip_serializing_if = "BTreeMap::is_empty")]
    pub exposed_ports: BTreeMap<String, Empty>,
    /// `KEY=value`.
    #[serde(rename = "Env", skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// The entrypoint.
    #[serde(rename = "Entrypoint", skip_serializing_if = "Vec::is_empty")]
    pub entrypoint: Vec<String>,
    /// Default arguments.
    #[serde(rename = "Cmd", skip_serializing_if = "Vec::is_empty")]
    pub cmd: Vec<String>,
    /// Volume paths → `{}`.
    #[serde(rename = "Volumes", skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, Empty>,
    /// Working directory.
    #[serde(rename = "WorkingDir", skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Labels.
    #[serde(rename = "Labels", skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Stop signal.
    #[serde(rename = "StopSignal", skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
}

/// `{}` in JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

#[derive(Serialize)]
struct ConfigDocument<'a> {
    created: String,
    architecture: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<&'a str>,
    os: &'a str,
    config: &'a ImageConfig,
    rootfs: RootFs<'a>,
    history: Vec<serde_json::Value>,
}

/// What an image is made of, for [`Layout::put_image`].
#[derive(Debug, Clone)]
pub struct NewImage<'a> {
    /// Its platform.
    pub platform: &'a Platform,
    /// Its run configuration.
    pub config: &'a ImageConfig,
    /// The image it is built on (nothing, for an image from scratch).
    pub below: Below,
    /// The layers it adds, bottom first.
    pub layers: &'a [LayerBlob],
    /// Its date (seconds since the epoch).
    pub created: u64,
    /// One history comment per added layer.
    pub comments: Vec<String>,
    /// Manifest annotations.
    pub annotations: BTreeMap<String, String>,
}

/// The layers and history of the image an image is built on, kept as they are.
#[derive(Debug, Clone, Default)]
pub struct Below {
    /// Its layers, bottom first (their blobs must be in the layout).
    pub layers: Vec<LayerBlob>,
    /// Its config's history entries, verbatim.
    pub history: Vec<serde_json::Value>,
}

#[derive(Serialize)]
struct RootFs<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    diff_ids: Vec<&'a str>,
}

#[derive(Serialize)]
struct History<'a> {
    created: String,
    created_by: &'a str,
    comment: String,
}

#[derive(Serialize, Deserialize)]
struct Manifest {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType")]
    media_type: String,
    config: BlobRef,
    layers: Vec<BlobRef>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct Index {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    // Optional in the image spec (umoci leaves it out of index.json); Staves writes it.
    #[serde(rename = "mediaType", default)]
    media_type: String,
    manifests: Vec<BlobRef>,
}

impl Index {
    /// The serialised image index listing `manifests`.
    pub(crate) fn json(manifests: &[BlobRef]) -> Result<Vec<u8>, OciError> {
        serde_json::to_vec(&Index {
            schema_version: 2,
            media_type: media::INDEX.into(),
            manifests: manifests.to_vec(),
        })
        .map_err(|e| OciError::Layout(e.to_string()))
    }

    /// The manifests the index at `path` lists.
    fn read(path: &Path) -> Result<Vec<BlobRef>, OciError> {
        let bytes = std::fs::read(path).map_err(OciError::io(path))?;
        let index: Index = serde_json::from_slice(&bytes)
            .map_err(|e| OciError::Layout(format!("{}: {e}", path.display())))?;
        Ok(index.manifests)
    }
}

/// How layers are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LayerCompression {
    /// gzip level 3, on every core: what every engine reads. Level 3 makes layers 2–3 %
    /// larger than level 6 at half the compression time.
    #[default]
    Gzip,
    /// zstd level 3, on every core: faster and smaller; Docker reads it from version 23 on.
    Zstd,
}

/// A written layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerBlob {
    /// The compressed blob.
    pub blob: BlobRef,
    /// `sha256:` of the uncompressed tar.
    pub diff_id: String,
    /// Uncompressed size.
    pub uncompressed_size: u64,
}

/// An OCI image layout directory being written.
pub struct Layout {
    root: PathBuf,
    /// Where gzip layers take blocks compressed before from, and keep new ones.
    deflate_cache: Option<std::sync::Arc<dyn crate::gzip::DeflateCache>>,
}

impl std::fmt::Debug for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layout")
            .field("root", &self.root)
            .field("deflate_cache", &self.deflate_cache.is_some())
            .finish()
    }
}

/// A layer blob being written (see [`Layout::layer_writer`]).
pub struct LayerWriter {
    plain: Hashing<Encoder<Hashing<BufWriter<File>>>>,
    tmp: staves_fs::NamedTempFile,
    compression: LayerCompression,
    root: PathBuf,
}

impl Write for LayerWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.plain.write(data)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl LayerWriter {
    /// Ends the stream and stores the blob under its digest.
    pub fn finish(self) -> Result<LayerBlob, OciError> {
        let LayerWriter {
            plain,
            tmp,
            compression,
            root,
        } = self;
        let Hashing {
            inner: encoder,
            hasher: diff_hasher,
            bytes: uncompressed_size,
        } = plain;
        let mut compressed = encoder.finish().map_err(OciError::io(tmp.path()))?;
        compressed.flush().map_err(OciError::io(tmp.path()))?;
        let digest = sha256_ref(compressed.hasher);
        let size = compressed.bytes;
        let path = root.join("blobs/sha256").join(digest.hex());
        staves_fs::persist(tmp, &path).map_err(OciError::io(&path))?;
        Ok(LayerBlob {
            blob: BlobRef {
                media_type: match compression {
                    LayerCompression::Gzip => media::LAYER_GZIP,
                    LayerCompression::Zstd => media::LAYER_ZSTD,
                }
                .into(),
                digest,
                size,
                platform: None,
                annotations: BTreeMap::new(),
                artifact_type: None,
            },
            diff_id: sha256_ref(diff_hasher).to_string(),
            uncompressed_size,
        })
    }
}

/// Counts and hashes bytes on their way to `inner`.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(data)?;
        self.hasher.update(&data[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The layer compressor in use.
enum Encoder<W: Write> {
    Gzip(ParallelGzip<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Encoder<W> {
    fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Gzip(g) => g.finish(),
            Encoder::Zstd(z) => z.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Gzip(g) => g.write(data),
            Encoder::Zstd(z) => z.write(data),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn sha256_ref(hasher: Sha256) -> crate::Digest {
    crate::Digest::from_sha256(hasher.finalize().into())
}

/// RFC 3339 (UTC) for a Unix time.
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

impl Layout {
    /// Creates (or reuses) a layout directory.
    /// Temporaries a killed run left in it are removed.
    pub fn create(root: &Path) -> Result<Layout, OciError> {
        let blobs = root.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).map_err(OciError::io(&blobs))?;
        for dir in [root, blobs.as_path()] {
            staves_fs::sweep(dir).map_err(OciError::io(dir))?;
        }
        let layout = Layout {
            root: root.to_owned(),
            deflate_cache: None,
        };
        layout.write_file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        Ok(layout)
    }

    /// The layout's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Path of a blob by digest.
    pub fn blob_path(&self, digest: &crate::Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    fn write_file(&self, name: &str, bytes: &[u8]) -> Result<(), OciError> {
        let path = self.root.join(name);
        let mut tmp = staves_fs::temp_file_in(&self.root).map_err(OciError::io(&self.root))?;
        tmp.write_all(bytes).map_err(OciError::io(&path))?;
        staves_fs::persist(tmp, &path).map_err(OciError::io(&path))?;
        Ok(())
    }

    /// Stores `bytes` as a blob.
    pub fn put_blob(&self, media_type: &str, bytes: &[u8]) -> Result<BlobRef, OciError> {
        let digest = crate::Digest::of(bytes);
        let path = self.blob_path(&digest);
        if !path.is_file() {
            let dir = self.root.join("blobs/sha256");
            let mut tmp = staves_fs::temp_file_in(&dir).map_err(OciError::io(&dir))?;
            tmp.write_all(bytes).map_err(OciError::io(&path))?;
            staves_fs::persist(tmp, &path).map_err(OciError::io(&path))?;
        }
        Ok(BlobRef {
            media_type: media_type.into(),
            digest,
            size: bytes.len() as u64,
            platform: None,
            annotations: BTreeMap::new(),
            artifact_type: None,
        })
    }

    /// Stores what `reader` gives as a blob, streamed and hashed on the way (the reader
    /// checks what it reads against whatever it was promised).
    pub fn put_blob_from(
        &self,
        media_type: &str,
        reader: &mut dyn io::Read,
    ) -> Result<BlobRef, OciError> {
        let dir = self.root.join("blobs/sha256");
        let tmp = staves_fs::temp_file_in(&dir).map_err(OciError::io(&dir))?;
        let mut hashing = Hashing {
            inner: BufWriter::with_capacity(1 << 20, tmp.reopen().map_err(OciError::io(&dir))?),
            hasher: Sha256::new(),
            bytes: 0,
        };
        io::copy(reader, &mut hashing).map_err(OciError::io(tmp.path()))?;
        hashing.flush().map_err(OciError::io(tmp.path()))?;
        let digest = crate::Digest::from_sha256(hashing.hasher.finalize().into());
        let path = self.blob_path(&digest);
        staves_fs::persist(tmp, &path).map_err(OciError::io(&path))?;
        Ok(BlobRef {
            media_type: media_type.into(),
            digest,
            size: hashing.bytes,
            platform: None,
            annotations: BTreeMap::new(),
            artifact_type: None,
        })
    }

    /// Writes the manifest of `config` and `layers` (blobs already in the layout).
    pub fn put_manifest(
        &self,
        config: BlobRef,
        layers: Vec<BlobRef>,
        platform: Option<Platform>,
    ) -> Result<BlobRef, OciError> {
        let manifest = Manifest {
            schema_version: 2,
            media_type: media::MANIFEST.into(),
            config,
            layers,
            annotations: BTreeMap::new(),
        };
        let json = serde_json::to_vec(&manifest).map_err(|e| OciError::Layout(e.to_string()))?;
        let mut reference = self.put_blob(media::MANIFEST, &json)?;
        reference.platform = platform;
        Ok(reference)
    }

    /// Writes a layer: `produce` writes the uncompressed tar into the writer it is given.
    pub fn put_layer<E>(
        &self,
        compression: LayerCompression,
        threads: usize,
        produce: impl FnOnce(&mut dyn Write) -> Result<(), E>,
    ) -> Result<Result<LayerBlob, E>, OciError> {
        let mut writer = self.layer_writer(compression, threads)?;
        if let Err(e) = produce(&mut writer) {
            return Ok(Err(e));
        }
        writer.finish().map(Ok)
    }

    /// Gzip layers written from now on take blocks compressed before from `cache` (checked
    /// to inflate back to their bytes) and keep new ones there.
    pub fn with_deflate_cache(
        mut self,
        cache: std::sync::Arc<dyn crate::gzip::DeflateCache>,
    ) -> Layout {
        self.deflate_cache = Some(cache);
        self
    }

    /// A layer being written: the uncompressed tar goes in, [`LayerWriter::finish`] stores
    /// the compressed blob. Several may be open at once (an image's layers written together).
    pub fn layer_writer(
        &self,
        compression: LayerCompression,
        threads: usize,
    ) -> Result<LayerWriter, OciError> {
        let dir = self.root.join("blobs/sha256");
        let tmp = staves_fs::temp_file_in(&dir).map_err(OciError::io(&dir))?;
        let file = tmp.reopen().map_err(OciError::io(tmp.path()))?;
        let compressed = Hashing {
            inner: BufWriter::with_capacity(1 << 20, file),
            hasher: Sha256::new(),
            bytes: 0,
        };
        let encoder: Encoder<_> = match compression {
            LayerCompression::Gzip => {
                let gzip = ParallelGzip::new(compressed, 3, threads);
                Encoder::Gzip(match &self.deflate_cache {
                    Some(cache) => gzip.with_cache(cache.clone()),
                    None => gzip,
                })
            }
            LayerCompression::Zstd => {
                let mut z = zstd::stream::write::Encoder::new(compressed, 3)
                    .map_err(OciError::io(tmp.path()))?;
                // Workers are always used, so the bytes do not depend on the core count.
                z.multithread(threads.max(1) as u32)
                    .map_err(OciError::io(tmp.path()))?;
                Encoder::Zstd(z)
            }
        };
        Ok(LayerWriter {
            plain: Hashing {
                inner: encoder,
                hasher: Sha256::new(),
                bytes: 0,
            },
            tmp,
            compression,
            root: self.root.clone(),
        })
    }

    /// Writes the config and manifest of a one-platform image and returns the manifest.
    pub fn put_image(&self, image: &NewImage<'_>) -> Result<BlobRef, OciError> {
        let NewImage {
            platform,
            config,
            below,
            layers,
            created,
            comments,
            annotations,
        } = image;
        let mut history: Vec<serde_json::Value> = below.history.to_vec();
        for (index, _) in layers.iter().enumerate() {
            let entry = History {
                created: rfc3339(*created),
                created_by: "staves build",
                comment: comments.get(index).cloned().unwrap_or_default(),
            };
            history.push(serde_json::to_value(entry).map_err(|e| OciError::Layout(e.to_string()))?);
        }
        let layers: Vec<&LayerBlob> = below.layers.iter().chain(layers.iter()).collect();
        let document = ConfigDocument {
            created: rfc3339(*created),
            architecture: &platform.architecture,
            variant: platform.variant.as_deref(),
            os: &platform.os,
            config,
            rootfs: RootFs {
                kind: "layers",
                diff_ids: layers.iter().map(|l| l.diff_id.as_str()).collect(),
            },
            history,
        };
        let config_json =
            serde_json::to_vec(&document).map_err(|e| OciError::Layout(e.to_string()))?;
        let config_ref = self.put_blob(media::CONFIG, &config_json)?;
        let manifest = Manifest {
            schema_version: 2,
            media_type: media::MANIFEST.into(),
            config: config_ref,
            layers: layers.iter().map(|l| l.blob.clone()).collect(),
            annotations: annotations.clone(),
        };
        let json = serde_json::to_vec(&manifest).map_err(|e| OciError::Layout(e.to_string()))?;
        let mut reference = self.put_blob(media::MANIFEST, &json)?;
        reference.platform = Some((*platform).clone());
        Ok(reference)
    }

    /// Writes `index.json` listing `manifests` (each tagged with its reference name).
    pub fn put_index(&self, manifests: &[BlobRef]) -> Result<(), OciError> {
        self.write_file("index.json", &Index::json(manifests)?)
    }

    /// Opens an existing layout for reading.
    pub fn open(root: &Path) -> Result<Layout, OciError> {
        let marker = root.join("oci-layout");
        if !marker.is_file() {
            return Err(OciError::Layout(format!(
                "{} is not an OCI image layout (no oci-layout file)",
                root.display()
            )));
        }
        Ok(Layout {
            root: root.to_owned(),
            deflate_cache: None,
        })
    }

    /// The entries of `index.json` that are images (or image indexes): not the artifacts
    /// (signatures, attestations) that refer to them.
    pub fn images(&self) -> Result<Vec<BlobRef>, OciError> {
        Ok(self
            .index()?
            .into_iter()
            .filter(|e| e.artifact_type.is_none())
            .collect())
    }

    /// Every entry of `index.json`, artifacts included.
    pub fn index(&self) -> Result<Vec<BlobRef>, OciError> {
        Index::read(&self.root.join("index.json"))
    }

    /// The manifests an image index blob lists.
    pub fn children(&self, index: &BlobRef) -> Result<Vec<BlobRef>, OciError> {
        Index::read(&self.blob_path(&index.digest))
    }

    /// Stores an image index listing `manifests` (each with its platform) as a blob.
    pub fn put_image_index(&self, manifests: &[BlobRef]) -> Result<BlobRef, OciError> {
        self.put_blob(media::INDEX, &Index::json(manifests)?)
    }

    /// The config and layer digests of a manifest blob in this layout.
    pub fn manifest_parts(&self, manifest: &BlobRef) -> Result<(BlobRef, Vec<BlobRef>), OciError> {
        let path = self.blob_path(&manifest.digest);
        let file = File::open(&path).map_err(OciError::io(&path))?;
        let m: Manifest = serde_json::from_reader(io::BufReader::new(file))
            .map_err(|e| OciError::Layout(format!("{}: {e}", path.display())))?;
        Ok((m.config, m.layers))
    }
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn formats_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_222_382), "2026-11-21T00:53:02Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
