//! A base image read back for an image to be built on it: its installed packages (from its
//! dpkg database), its accounts, its configuration, its file system and its layers. An
//! image without a dpkg database cannot be a base: nothing would say what it holds.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use staves_image::Accounts;
use staves_image::layer::Kind;
use staves_oci::{Below, ImageReader, LayerBlob, Layout};

use crate::build::Located;
use crate::error::PipelineError;
use staves_resolve::LockedPackage;

const STATUS: &str = "var/lib/dpkg/status";
const PASSWD: &str = "etc/passwd";
const GROUP: &str = "etc/group";
const SBOM: &str = "var/lib/staves/sbom.spdx.json";
/// The most any one file kept from a base may hold.
const MAX_FILE: u64 = 64 << 20;

/// What an image built on a base needs to know of it.
#[derive(Debug)]
pub struct BaseImage {
    /// How messages name it: its path or reference.
    pub name: String,
    /// The Debian architecture of the image read.
    pub arch: String,
    /// The base's manifest digest, where known.
    pub digest: Option<String>,
    /// Its accounts.
    pub accounts: Accounts,
    /// Its image config (`config` of the OCI config: Env, User, Entrypoint, …).
    pub config: serde_json::Value,
    /// Its layers and history, kept byte for byte beneath the new layer.
    pub below: Below,
    /// The layout its blobs are in.
    pub layout: PathBuf,
    /// Its file system and database, for assembly on it.
    pub system: Arc<staves_image::Base>,
    /// Its packages with their `.deb` checksums and locations, as its own SBOM records
    /// them (none for a base without one), so an SBOM of an image on it lists them too.
    pub packages: Vec<Located>,
}

impl BaseImage {
    /// Puts the base's layer blobs into `layout`, byte for byte: the same digests, shared
    /// wherever they go.
    pub fn link_layers_into(&self, layout: &Layout) -> std::io::Result<()> {
        for layer in &self.below.layers {
            let digest = &layer.blob.digest;
            let from = self
                .layout
                .join("blobs/sha256")
                .join(digest.trim_start_matches("sha256:"));
            staves_fs::link_or_copy(&from, &layout.blob_path(digest))?;
        }
        Ok(())
    }
}

/// Copies image `name` out of an engine's store (`docker save`, `podman save`) into an
/// OCI layout in the cache, named by its manifest's digest, and returns the layout: the
/// same image read again gives the same layout, a moved tag another one. Every layer
/// comes over byte for byte; the engine's archive is scratch, removed after.
pub fn engine_base(
    engine: staves_oci::engine::Engine,
    name: &str,
    archs: &[String],
    cache: &Path,
) -> Result<PathBuf, PipelineError> {
    let cache = staves_repo::Cache::open(cache)?;
    let scratch = cache.scratch_dir()?;
    let archive = scratch.path().join("saved.tar");
    engine.save(name, &archive)?;
    let image = ImageReader::open(&archive, None, None)?;
    let found = image.platform();
    for arch in archs {
        let wanted = staves_oci::Platform::from_debian(arch);
        if wanted.architecture != found.architecture {
            return Err(PipelineError::BaseArch {
                name: name.to_owned(),
                found: found.architecture.clone(),
                wanted: wanted.architecture,
            });
        }
    }
    let staged = scratch.path().join("layout");
    let layout = Layout::create(&staged)?;
    let manifest = image.write_into(&layout)?;
    layout.put_index(std::slice::from_ref(&manifest))?;
    let dir = cache
        .root()
        .join("bases")
        .join(format!("engine-{}", manifest.digest.hex()));
    if !dir.join("index.json").is_file() {
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent)?;
        }
        staves_fs::replace_dir(&staged, &dir)?;
    }
    Ok(dir)
}

/// Reads the base at `path`, an OCI layout (`select` picks an entry by name, `arch` an
/// image of an index), as `name`. Layer digests are checked while reading.
pub fn read_base(
    path: &Path,
    name: &str,
    select: Option<&str>,
    arch: &str,
) -> Result<BaseImage, PipelineError> {
    let image = ImageReader::open(path, select, Some(arch))?;
    let Some(layout) = image.layout() else {
        return Err(PipelineError::BaseNotALayout {
            name: name.to_owned(),
        });
    };
    let layout = layout.root().to_owned();
    let keep = |absolute: &str| {
        let path = absolute.trim_start_matches('/');
        path == PASSWD || path == GROUP || path == SBOM || staves_image::Base::wants(path)
    };
    let tree = image.tree_keeping(keep, MAX_FILE)?;
    let text = |file: &str| {
        tree.contents
            .get(&format!("/{file}"))
            .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
    };
    let status = text(STATUS).ok_or_else(|| PipelineError::BaseWithoutDatabase {
        name: name.to_owned(),
    })?;
    // Read once now, so a damaged database is refused before anything else happens.
    staves_resolve::installed_from_status(&status, &format!("{name}: /{STATUS}"))?;
    let accounts = Accounts::from_files(
        &text(PASSWD).unwrap_or_default(),
        &text(GROUP).unwrap_or_default(),
    )
    .map_err(|error| PipelineError::BaseAccounts {
        name: name.to_owned(),
        error,
    })?;

    let diff_ids: Vec<String> = image.config["rootfs"]["diff_ids"]
        .as_array()
        .map(|ids| {
            ids.iter()
                .filter_map(|d| d.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if diff_ids.len() != image.descriptors.len() {
        return Err(PipelineError::BaseLayerCount {
            name: name.to_owned(),
            config: diff_ids.len(),
            manifest: image.descriptors.len(),
        });
    }
    // The config's diff_ids go into the new image's config as they are: what the layers
    // really unpack to must be what they say, or an engine refuses the image on load.
    for (index, (said, read)) in diff_ids.iter().zip(&tree.diff_ids).enumerate() {
        if *said != *read {
            return Err(PipelineError::BaseDiffId {
                name: name.to_owned(),
                index,
                read: read.to_string(),
                said: said.clone(),
            });
        }
    }
    let layers = image
        .descriptors
        .iter()
        .zip(diff_ids)
        .map(|(blob, diff_id)| LayerBlob {
            blob: blob.clone(),
            diff_id,
            uncompressed_size: 0,
        })
        .collect();
    let history = image.config["history"]
        .as_array()
        .cloned()
        .unwrap_or_default();

    let paths = tree
        .files
        .iter()
        .map(|(path, entry)| {
            let kind = match (entry.kind, &entry.link) {
                ('d', _) => Kind::Dir,
                ('l', Some(target)) => Kind::Symlink(target.clone()),
                ('h', Some(target)) => {
                    Kind::Hardlink(target.trim_start_matches(['/', '.']).to_owned())
                }
                _ => Kind::File,
            };
            (path.trim_start_matches('/').to_owned(), kind)
        })
        .collect();
    let packages = tree
        .contents
        .get(&format!("/{SBOM}"))
        .map(|bytes| sbom_packages(bytes))
        .unwrap_or_default();
    let contents = tree
        .contents
        .iter()
        .map(|(path, bytes)| (path.trim_start_matches('/').to_owned(), bytes.clone()))
        .collect();
    Ok(BaseImage {
        name: name.to_owned(),
        arch: arch.to_owned(),
        digest: image.manifest_digest.as_ref().map(ToString::to_string),
        accounts,
        config: image.config["config"].clone(),
        below: Below { layers, history },
        layout,
        system: Arc::new(staves_image::Base::from_tree(paths, &contents)),
        packages,
    })
}

/// The Debian packages an SPDX document written by Staves lists, with their checksums and
/// download locations; what it cannot read is left out.
fn sbom_packages(bytes: &[u8]) -> Vec<Located> {
    let Ok(document) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Vec::new();
    };
    let packages = document["packages"].as_array().cloned().unwrap_or_default();
    packages
        .iter()
        .filter_map(|p| {
            let described = p["description"].as_str()?.strip_prefix("Debian package ")?;
            let mut words = described.split(' ');
            let (name, version, arch) = (words.next()?, words.next()?, words.next()?);
            let arch = arch.strip_prefix('(')?.strip_suffix(')')?;
            let sha256 = p["checksums"][0]["checksumValue"].as_str()?;
            Some(Located {
                package: LockedPackage {
                    name: name.to_owned(),
                    version: version.to_owned(),
                    arch: arch.to_owned(),
                    filename: String::new(),
                    size: 0,
                    sha256: sha256.to_owned(),
                    repository: String::new(),
                },
                url: p["downloadLocation"]
                    .as_str()
                    .unwrap_or("NOASSERTION")
                    .to_owned(),
                snapshot: None,
            })
        })
        .collect()
}
