//! Reading an image back: from an OCI image layout or a docker-archive, its manifest, its
//! config and its layers as tar streams — for `inspect` and for tests that look inside.
//!
//! Both are treated as untrusted: digests are parsed as [`Digest`]s before they name a file,
//! a blob must be a regular file of the size its descriptor declares and is read no further,
//! JSON documents are read with a size bound, every blob named by digest is read to its end
//! and checked against it (a layer is drained past the tar reader's end-of-archive blocks), tar
//! streams pass a guard that bounds long names and PAX headers, and a docker-archive's
//! members are found by one pass over its headers, then read in place without unpacking
//! anything.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::image::{BlobRef, Layout, Platform, media};
use crate::{Digest, OciError};

/// Largest JSON document (index, manifest, config, `manifest.json`) read.
const MAX_JSON: u64 = 8 << 20;

/// Most members a docker-archive may have.
const MAX_MEMBERS: usize = 100_000;

/// The most bytes a layer may unpack to.
const MAX_LAYER: u64 = 256 << 30;

/// The most bytes a decompressed layer may carry after its tar stream's end (tar pads a
/// stream to its block size: a few kilobytes).
const MAX_TRAILER: u64 = 1 << 20;

/// One image, opened for reading.
pub struct ImageReader {
    source: Source,
    /// The manifest's digest, where the image came with one.
    pub manifest_digest: Option<Digest>,
    /// The names the image carries (`name:tag`).
    pub names: Vec<String>,
    /// The image config, as JSON.
    pub config: serde_json::Value,
    /// Where each layer is, in order, bottom first.
    layers: Vec<Blob>,
    /// The manifest's layer descriptors (an OCI layout's; a docker-archive has none).
    pub descriptors: Vec<BlobRef>,
    /// Where the config is.
    config_blob: Blob,
}

enum Source {
    Layout(Layout),
    /// Member name → (offset of its data, size).
    Archive {
        path: PathBuf,
        members: HashMap<String, (u64, u64)>,
    },
}

/// A blob: where to read it, and its digest and size when known.
#[derive(Clone)]
struct Blob {
    location: String,
    digest: Option<Digest>,
    size: Option<u64>,
}

impl ImageReader {
    /// Opens `path`: a directory is an OCI layout (`select` picks an entry by its
    /// `ref.name`, and `arch` an image of a multi-architecture index), a file a
    /// docker-archive.
    pub fn open(
        path: &Path,
        select: Option<&str>,
        arch: Option<&str>,
    ) -> Result<ImageReader, OciError> {
        if path.is_dir() {
            open_layout(path, select, arch)
        } else {
            open_archive(path)
        }
    }

    /// The OCI layout the image is read from (a docker-archive is not one).
    pub fn layout(&self) -> Option<&Layout> {
        match &self.source {
            Source::Layout(layout) => Some(layout),
            Source::Archive { .. } => None,
        }
    }

    /// The number of layers.
    pub fn layer_count(&self) -> usize {
        self.layers.len()
    }

    /// Layer `index` as an uncompressed tar stream (gzip, zstd or plain, by its first
    /// bytes), guarded against huge long names and bombs. Its digest is checked when the
    /// stream is [finished](LayerStream::finish), which reads the blob to its end.
    pub fn layer(&self, index: usize) -> Result<LayerStream<'_>, OciError> {
        self.layer_stream(index, true)
    }

    fn layer_stream(&self, index: usize, diff_id: bool) -> Result<LayerStream<'_>, OciError> {
        let blob = self
            .layers
            .get(index)
            .ok_or_else(|| OciError::Layout(format!("the image has no layer {index}")))?;
        let (media_type, buffered) = self.open_layer_blob(blob)?;
        let decoded = match media_type {
            media::LAYER_GZIP => {
                Decoded::Gzip(Box::new(flate2::read::MultiGzDecoder::new(buffered)))
            }
            media::LAYER_ZSTD => Decoded::Zstd(
                zstd::stream::read::Decoder::with_buffer(buffered)
                    .map_err(OciError::io(&blob.location))?,
            ),
            _ => Decoded::Plain(buffered),
        };
        Ok(LayerStream {
            guard: staves_deb::tar_guard::TarGuard::new(
                Hashing {
                    inner: decoded,
                    hasher: diff_id.then(Sha256::new),
                },
                MAX_LAYER,
            ),
            location: blob.location.clone(),
        })
    }

    /// Writes the image into `layout` as it is: its config and every layer byte for byte
    /// (a blob promised a digest is checked against it on the way), under a new manifest,
    /// which is returned. This is how a docker-archive, which has no manifest of its own,
    /// becomes an image in a layout.
    pub fn write_into(&self, layout: &Layout) -> Result<BlobRef, OciError> {
        let mut config = self.open_blob(&self.config_blob)?;
        let config = layout.put_blob_from(media::CONFIG, &mut (&mut config).take(MAX_JSON))?;
        let mut layers = Vec::new();
        for blob in &self.layers {
            let (media_type, mut buffered) = self.open_layer_blob(blob)?;
            layers.push(layout.put_blob_from(media_type, &mut buffered)?);
        }
        layout.put_manifest(config, layers, Some(self.platform()))
    }

    /// The platform the image's config names.
    pub fn platform(&self) -> Platform {
        Platform {
            architecture: self.config["architecture"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            os: self.config["os"].as_str().unwrap_or("linux").to_owned(),
            variant: self.config["variant"].as_str().map(str::to_owned),
        }
    }

    /// A layer's blob as it is stored, buffered, with the media type its first bytes say
    /// (gzip, zstd, or a plain tar).
    fn open_layer_blob(&self, blob: &Blob) -> Result<(&'static str, RawBlob<'_>), OciError> {
        let mut buffered = BufReader::with_capacity(1 << 16, self.open_blob(blob)?);
        let head = buffered.fill_buf().map_err(OciError::io(&blob.location))?;
        let media_type = if head.starts_with(&[0x1f, 0x8b]) {
            media::LAYER_GZIP
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            media::LAYER_ZSTD
        } else {
            media::LAYER_TAR
        };
        Ok((media_type, buffered))
    }

    fn open_blob(&self, blob: &Blob) -> Result<Verifying<Box<dyn Read + '_>>, OciError> {
        let reader: Box<dyn Read> = match &self.source {
            Source::Layout(layout) => {
                let path = layout.root().join(&blob.location);
                let file = File::open(&path).map_err(OciError::io(&path))?;
                let meta = file.metadata().map_err(OciError::io(&path))?;
                // A blob planted as a link to a device or FIFO would never end.
                if !meta.is_file() {
                    return Err(OciError::Layout(format!(
                        "{} is not a regular file",
                        path.display()
                    )));
                }
                if let Some(size) = blob.size
                    && meta.len() != size
                {
                    return Err(OciError::Layout(format!(
                        "{} is {} bytes; its descriptor says {size}",
                        path.display(),
                        meta.len()
                    )));
                }
                Box::new(file.take(meta.len()))
            }
            Source::Archive { path, members } => {
                let &(offset, size) = members.get(&blob.location).ok_or_else(|| {
                    OciError::Layout(format!("{}: no member {}", path.display(), blob.location))
                })?;
                let mut file = File::open(path).map_err(OciError::io(path))?;
                file.seek(SeekFrom::Start(offset))
                    .map_err(OciError::io(path))?;
                Box::new(file.take(size))
            }
        };
        Ok(Verifying {
            inner: reader,
            hasher: Sha256::new(),
            expected: blob.digest.clone(),
            checked: false,
        })
    }

    fn read_json(&self, blob: &Blob) -> Result<serde_json::Value, OciError> {
        let mut bytes = Vec::new();
        let mut reader = self.open_blob(blob)?;
        (&mut reader)
            .take(MAX_JSON + 1)
            .read_to_end(&mut bytes)
            .map_err(OciError::io(&blob.location))?;
        if bytes.len() as u64 > MAX_JSON {
            return Err(OciError::Layout(format!(
                "{} is larger than {MAX_JSON} bytes",
                blob.location
            )));
        }
        // The end was reached: the digest was checked on the way.
        reader.finish().map_err(OciError::io(&blob.location))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| OciError::Layout(format!("{}: {e}", blob.location)))
    }
}

/// One file of an image's file system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// `-` file, `d` directory, `l` symlink, `h` hard link, `c`/`b` devices, `p` FIFO.
    pub kind: char,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Size of a regular file's data.
    pub size: u64,
    /// A link's target.
    pub link: Option<String>,
    /// The SHA-256 of a regular file's content (lower-case hex), when the tree was read
    /// with [`ImageReader::tree_hashed`].
    pub sha256: Option<String>,
}

/// An image's file system: every path (absolute) after all layers, and the contents of the
/// files asked for.
#[derive(Debug, Default)]
pub struct Tree {
    /// Path → entry.
    pub files: BTreeMap<String, FileEntry>,
    /// Path → contents, for the regular files asked for.
    pub contents: BTreeMap<String, Vec<u8>>,
    /// The digest of each layer's uncompressed stream, as it was read: what the config's
    /// `rootfs.diff_ids` must say.
    pub diff_ids: Vec<Digest>,
}

impl ImageReader {
    /// Applies every layer in order (whiteouts remove what lower layers had) and keeps the
    /// contents of the regular files in `keep`, each read up to `limit` bytes.
    pub fn tree(&self, keep: &[&str], limit: u64) -> Result<Tree, OciError> {
        self.tree_keeping(|path| keep.contains(&path), limit)
    }

    /// Like [`ImageReader::tree`], keeping the contents of the regular files `keep`
    /// accepts (by absolute path). A kept file larger than `limit` is an error, not a
    /// truncated copy.
    pub fn tree_keeping(&self, keep: impl Fn(&str) -> bool, limit: u64) -> Result<Tree, OciError> {
        self.walk(keep, limit, false, true)
    }

    /// Like [`ImageReader::tree_keeping`], with every regular file's content hashed
    /// ([`FileEntry::sha256`]): what comparing two images needs. Layers are still checked
    /// against their digests, but their `diff_id`s are not computed (`Tree::diff_ids` is
    /// empty): the config's are what a comparison of layers reads.
    pub fn tree_hashed(&self, keep: impl Fn(&str) -> bool, limit: u64) -> Result<Tree, OciError> {
        self.walk(keep, limit, true, false)
    }

    fn walk(
        &self,
        keep: impl Fn(&str) -> bool,
        limit: u64,
        hash: bool,
        diff_ids: bool,
    ) -> Result<Tree, OciError> {
        let mut tree = Tree::default();
        for index in 0..self.layer_count() {
            let location = self.layers[index].location.clone();
            let mut archive = tar::Archive::new(self.layer_stream(index, diff_ids)?);
            for entry in archive.entries().map_err(OciError::io(&location))? {
                let mut entry = entry.map_err(OciError::io(&location))?;
                let raw = entry
                    .path()
                    .map_err(OciError::io(&location))?
                    .to_string_lossy()
                    .into_owned();
                let path = format!("/{}", raw.trim_start_matches("./").trim_end_matches('/'));
                if let Some((dir, name)) = path.rsplit_once('/')
                    && let Some(hidden) = name.strip_prefix(".wh.")
                {
                    let gone = if hidden == ".wh..opq" {
                        dir.to_owned()
                    } else {
                        format!("{dir}/{hidden}")
                    };
                    let prefix = format!("{gone}/");
                    let opaque = hidden == ".wh..opq";
                    let hidden = |p: &String| p.starts_with(&prefix) || (!opaque && *p == gone);
                    tree.files.retain(|p, _| !hidden(p));
                    tree.contents.retain(|p, _| !hidden(p));
                    continue;
                }
                // What a lower layer had at this path is replaced, whatever it becomes.
                tree.contents.remove(&path);
                let header = entry.header();
                let kind = match header.entry_type() {
                    tar::EntryType::Directory => 'd',
                    tar::EntryType::Symlink => 'l',
                    tar::EntryType::Link => 'h',
                    tar::EntryType::Char => 'c',
                    tar::EntryType::Block => 'b',
                    tar::EntryType::Fifo => 'p',
                    _ => '-',
                };
                let mut file = FileEntry {
                    sha256: None,
                    kind,
                    mode: header.mode().unwrap_or(0) & 0o7777,
                    uid: header.uid().unwrap_or(0),
                    gid: header.gid().unwrap_or(0),
                    size: if kind == '-' { entry.size() } else { 0 },
                    link: entry
                        .link_name()
                        .map_err(OciError::io(&location))?
                        .map(|l| l.to_string_lossy().into_owned()),
                };
                if kind == '-' && keep(&path) {
                    if entry.size() > limit {
                        return Err(OciError::Layout(format!(
                            "{path} in layer {index} is {} bytes; at most {limit} are read",
                            entry.size()
                        )));
                    }
                    let mut bytes = Vec::new();
                    (&mut entry)
                        .take(limit)
                        .read_to_end(&mut bytes)
                        .map_err(OciError::io(&location))?;
                    if hash {
                        file.sha256 = Some(hex::encode(Sha256::digest(&bytes)));
                    }
                    tree.contents.insert(path.clone(), bytes);
                } else if kind == '-' && hash {
                    let mut hasher = HashingSink(Sha256::new());
                    io::copy(&mut entry, &mut hasher).map_err(OciError::io(&location))?;
                    file.sha256 = Some(hex::encode(hasher.0.finalize()));
                }
                tree.files.insert(path, file);
            }
            let diff_id = archive
                .into_inner()
                .finish()
                .map_err(OciError::io(&location))?;
            tree.diff_ids.extend(diff_id);
        }
        tree.files.remove("/");
        Ok(tree)
    }
}

/// Hashes what is written to it.
struct HashingSink(Sha256);

impl io::Write for HashingSink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0.update(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn by_digest(blob: &BlobRef) -> Blob {
    Blob {
        location: format!("blobs/sha256/{}", blob.digest.hex()),
        digest: Some(blob.digest.clone()),
        size: Some(blob.size),
    }
}

fn open_layout(
    root: &Path,
    select: Option<&str>,
    arch: Option<&str>,
) -> Result<ImageReader, OciError> {
    let layout = Layout::open(root)?;
    let entries = layout.images()?;
    let entry = match select {
        Some(name) => entries
            .iter()
            .find(|e| {
                e.annotations.get("org.opencontainers.image.ref.name") == Some(&name.to_owned())
            })
            .ok_or_else(|| {
                OciError::Layout(format!(
                    "{} has no image named `{name}`; it has: {}",
                    root.display(),
                    names_of(&entries).join(", ")
                ))
            })?,
        None => entries
            .first()
            .ok_or_else(|| OciError::Layout(format!("{} holds no image", root.display())))?,
    };
    let names = entries
        .iter()
        .filter(|e| e.digest == entry.digest)
        .filter_map(|e| e.annotations.get("io.containerd.image.name").cloned())
        .collect();
    let manifest = if entry.media_type == media::INDEX || entry.media_type == media::DOCKER_LIST {
        pick_platform(&layout, entry, arch)?
    } else {
        entry.clone()
    };
    let mut reader = ImageReader {
        source: Source::Layout(layout),
        manifest_digest: Some(manifest.digest.clone()),
        names,
        config: serde_json::Value::Null,
        layers: Vec::new(),
        descriptors: Vec::new(),
        config_blob: Blob {
            location: String::new(),
            digest: None,
            size: None,
        },
    };
    let manifest_json = reader.read_json(&by_digest(&manifest))?;
    let config: BlobRef = serde_json::from_value(manifest_json["config"].clone())
        .map_err(|e| OciError::Layout(format!("manifest config: {e}")))?;
    let layers: Vec<BlobRef> = serde_json::from_value(manifest_json["layers"].clone())
        .map_err(|e| OciError::Layout(format!("manifest layers: {e}")))?;
    reader.config_blob = by_digest(&config);
    reader.config = reader.read_json(&reader.config_blob)?;
    reader.layers = layers.iter().map(by_digest).collect();
    reader.descriptors = layers;
    Ok(reader)
}

fn names_of(entries: &[BlobRef]) -> Vec<String> {
    entries
        .iter()
        .filter_map(|e| {
            e.annotations
                .get("org.opencontainers.image.ref.name")
                .cloned()
        })
        .collect()
}

/// The manifest of an image index for the Debian architecture `arch` (the host's when
/// absent, or the only image).
fn pick_platform(
    layout: &Layout,
    index: &BlobRef,
    arch: Option<&str>,
) -> Result<BlobRef, OciError> {
    let children = layout.children(index)?;
    let host = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let wanted = Platform::from_debian(arch.unwrap_or(host));
    let found = children.iter().find(|c| {
        c.platform
            .as_ref()
            .is_some_and(|p| p.architecture == wanted.architecture && p.variant == wanted.variant)
    });
    match (found, arch) {
        (Some(one), _) => Ok(one.clone()),
        (None, None) if children.len() == 1 => Ok(children[0].clone()),
        _ => Err(OciError::Layout(format!(
            "the image index has no image for {}; it has: {}",
            arch.unwrap_or(host),
            children
                .iter()
                .filter_map(|c| c.platform.as_ref().map(|p| p.architecture.clone()))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn open_archive(path: &Path) -> Result<ImageReader, OciError> {
    let mut file = File::open(path).map_err(OciError::io(path))?;
    // The tar reader reads a long name whole: its headers are checked first.
    staves_deb::tar_guard::check_headers(&mut file)
        .map_err(|e| OciError::Layout(format!("{}: {e}", path.display())))?;
    let mut archive = tar::Archive::new(file);
    let mut members = HashMap::new();
    let bad = |e: io::Error| {
        OciError::Layout(format!(
            "{}: not a docker-archive (a tar file): {e}",
            path.display()
        ))
    };
    for entry in archive.entries_with_seek().map_err(bad)? {
        let entry = entry.map_err(bad)?;
        if members.len() >= MAX_MEMBERS {
            return Err(OciError::Layout(format!(
                "{}: more than {MAX_MEMBERS} members",
                path.display()
            )));
        }
        let name = entry.path().map_err(bad)?.to_string_lossy().into_owned();
        let name = name.trim_start_matches("./").to_owned();
        members.insert(name, (entry.raw_file_position(), entry.size()));
    }
    let mut reader = ImageReader {
        source: Source::Archive {
            path: path.to_owned(),
            members,
        },
        manifest_digest: None,
        names: Vec::new(),
        config: serde_json::Value::Null,
        layers: Vec::new(),
        descriptors: Vec::new(),
        config_blob: Blob {
            location: String::new(),
            digest: None,
            size: None,
        },
    };
    let legacy = reader.read_json(&Blob {
        location: "manifest.json".into(),
        digest: None,
        size: None,
    })?;
    let first = legacy.as_array().and_then(|a| a.first()).ok_or_else(|| {
        OciError::Layout(format!("{}: manifest.json lists no image", path.display()))
    })?;
    // Members named `blobs/sha256/<hex>` are checked against that digest.
    let member = |name: &str| -> Result<Blob, OciError> {
        let digest = match name.strip_prefix("blobs/sha256/") {
            Some(hex) => Some(Digest::parse(&format!("sha256:{hex}"))?),
            None => None,
        };
        Ok(Blob {
            digest,
            location: name.to_owned(),
            size: None,
        })
    };
    let config_name = first["Config"]
        .as_str()
        .ok_or_else(|| OciError::Layout("manifest.json: no Config".into()))?;
    reader.config_blob = member(config_name)?;
    reader.config = reader.read_json(&reader.config_blob)?;
    reader.names = first["RepoTags"]
        .as_array()
        .map(|tags| {
            tags.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    reader.layers = first["Layers"]
        .as_array()
        .ok_or_else(|| OciError::Layout("manifest.json: no Layers".into()))?
        .iter()
        .map(|l| {
            l.as_str()
                .ok_or_else(|| OciError::Layout("manifest.json: a layer is not a name".into()))
                .and_then(member)
        })
        .collect::<Result<_, _>>()?;
    // Archives written as Docker 25 writes them also carry an OCI index: the digest.
    if let Source::Archive { members, .. } = &reader.source
        && members.contains_key("index.json")
    {
        reader.manifest_digest = reader
            .read_json(&Blob {
                location: "index.json".into(),
                digest: None,
                size: None,
            })
            .ok()
            .and_then(|i| i["manifests"][0]["digest"].as_str().map(Digest::parse))
            .transpose()?;
    }
    Ok(reader)
}

/// Passes bytes through, failing at the end when their SHA-256 is not `expected`.
struct Verifying<R> {
    inner: R,
    hasher: Sha256,
    expected: Option<Digest>,
    checked: bool,
}

impl<R: Read> Read for Verifying<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() && !self.checked {
            self.checked = true;
            let got = Digest::from_sha256(self.hasher.finalize_reset().into());
            if let Some(expected) = &self.expected
                && got != *expected
            {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("blob {expected} has digest {got}: it is damaged or was swapped"),
                ));
            }
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

impl<R: Read> Verifying<R> {
    /// Reads what is left, so that the digest is checked whatever the reader stopped at.
    fn finish(&mut self) -> io::Result<()> {
        io::copy(self, &mut io::sink())?;
        Ok(())
    }
}

/// A layer's bytes, decompressed as its first bytes say.
enum Decoded<R: BufRead> {
    Gzip(Box<flate2::read::MultiGzDecoder<R>>),
    Zstd(zstd::stream::read::Decoder<'static, R>),
    Plain(R),
}

impl<R: BufRead> Read for Decoded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoded::Gzip(d) => d.read(buf),
            Decoded::Zstd(d) => d.read(buf),
            Decoded::Plain(r) => r.read(buf),
        }
    }
}

impl<R: BufRead> Decoded<R> {
    /// The compressed stream underneath, where the decompressor left it.
    fn into_raw(self) -> R {
        match self {
            Decoded::Gzip(d) => d.into_inner(),
            Decoded::Zstd(d) => d.finish(),
            Decoded::Plain(r) => r,
        }
    }
}

/// Hashes what passes: a layer's uncompressed stream, for its `diff_id`.
struct Hashing<R> {
    inner: R,
    /// None when nobody asked for the `diff_id`.
    hasher: Option<Sha256>,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&buf[..n]);
        }
        Ok(n)
    }
}

type RawBlob<'a> = BufReader<Verifying<Box<dyn Read + 'a>>>;

/// One layer as a tar stream. The tar reader stops at the end-of-archive blocks, before the
/// end of the blob: [`LayerStream::finish`] reads the rest, so that a swapped blob whose tar
/// stream happens to read well is still caught by its digest.
pub struct LayerStream<'a> {
    guard: staves_deb::tar_guard::TarGuard<Hashing<Decoded<RawBlob<'a>>>>,
    location: String,
}

impl Read for LayerStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.guard.read(buf)
    }
}

impl LayerStream<'_> {
    /// Reads the layer to its end and checks its digest; returns the digest of its
    /// uncompressed stream (its `diff_id`), unless it was opened without hashing it.
    pub fn finish(mut self) -> io::Result<Option<Digest>> {
        let trailer = io::copy(
            &mut (&mut self.guard).take(MAX_TRAILER + 1),
            &mut io::sink(),
        )?;
        if trailer > MAX_TRAILER {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} carries more than {MAX_TRAILER} bytes after its tar stream's end",
                    self.location
                ),
            ));
        }
        let hashing = self.guard.into_inner();
        let diff_id = hashing
            .hasher
            .map(|h| Digest::from_sha256(h.finalize().into()));
        let mut raw = hashing.inner.into_raw();
        io::copy(&mut raw, &mut io::sink())?;
        raw.into_inner().finish()?;
        Ok(diff_id)
    }
}
