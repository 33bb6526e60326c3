//! Files kept under a key in a registry: the shared tier of Staves' cache. An entry is an
//! OCI artifact manifest (artifactType [`ARTIFACT_TYPE`], the empty config) whose layers are
//! the files, each named by its `org.opencontainers.image.title` annotation (as ORAS keeps
//! files), tagged `KIND-KEY` and annotated with `KIND:KEY`. Fetching checks every file
//! against its digest (a pull does) and the annotation against the key asked for, so a tag
//! moved onto another entry, or a damaged blob, is refused rather than used. Keeping pushes
//! only the blobs the registry lacks and then the manifest: the same files give the same
//! manifest, so keeping twice, or from two machines at once, leaves one valid entry.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::json;
use staves_oci::image::media;
use staves_oci::{BlobRef, Digest, Layout};
use staves_types::{KeptFile, SharedCache, SharedError};

use crate::push::{Memo, PushOptions, push_blobs};
use crate::session::{Body, Session};
use crate::{Reference, RegistryError, SessionOptions};

/// The artifact type of a kept entry.
pub const ARTIFACT_TYPE: &str = "application/vnd.staves.cache.v1";
/// The manifest annotation naming an entry's kind and key.
const KEY_ANNOTATION: &str = "dev.staves.cache.key";
const TITLE: &str = "org.opencontainers.image.title";
const FILE_TYPE: &str = "application/octet-stream";
const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";

/// A repository of a registry used as the shared tier.
#[derive(Debug, Clone)]
pub struct RegistryCache {
    /// The repository (`HOST[:PORT]/NAME`; a tag or digest is ignored).
    pub reference: Reference,
    /// How to reach it.
    pub session: SessionOptions,
    /// How to push to it.
    pub push: PushOptions,
    /// Where blobs are staged for a push (a directory of the local cache).
    pub staging: std::path::PathBuf,
}

impl RegistryCache {
    fn tag(kind: &str, key: &str) -> String {
        format!("{kind}-{key}")
    }

    fn open(&self, write: bool) -> Result<Session, RegistryError> {
        match write {
            true => Session::open(&self.reference, &self.session),
            false => Session::open_to_pull(&self.reference, &self.session),
        }
    }

    fn fetch_entry(
        &self,
        kind: &str,
        key: &str,
        dir: &Path,
    ) -> Result<Option<Vec<KeptFile>>, RegistryError> {
        let session = self.open(false)?;
        let tag = Self::tag(kind, key);
        let Some((digest, manifest)) = crate::pull::tagged(&session, &tag, media::MANIFEST)? else {
            return Ok(None);
        };
        let wanted = format!("{kind}:{key}");
        if manifest["annotations"][KEY_ANNOTATION] != wanted.as_str()
            || manifest["artifactType"] != ARTIFACT_TYPE
        {
            return Err(RegistryError::Protocol {
                registry: self.reference.registry.clone(),
                message: format!("{tag} holds an entry for another key, not {wanted}"),
            });
        }
        let layout = Layout::create(dir).map_err(|e| layout_error(dir, e))?;
        let connect = || self.open(false);
        crate::pull::pull(&connect, &digest, &tag, &[], &layout)?;
        let layers: Vec<BlobRef> =
            serde_json::from_value(manifest["layers"].clone()).map_err(|e| {
                RegistryError::Protocol {
                    registry: self.reference.registry.clone(),
                    message: format!("{tag}: {e}"),
                }
            })?;
        let mut files = Vec::new();
        for layer in layers {
            let name = layer.annotations.get(TITLE).cloned().unwrap_or_default();
            // A name becomes a file name for whoever uses the entry: one path component.
            if name.is_empty() || name.contains('/') || name == "." || name == ".." {
                return Err(RegistryError::Protocol {
                    registry: self.reference.registry.clone(),
                    message: format!("{tag} names a file `{name}`"),
                });
            }
            files.push(KeptFile {
                name,
                path: layout.blob_path(&layer.digest),
                sha256: layer
                    .digest
                    .as_ref()
                    .trim_start_matches("sha256:")
                    .to_owned(),
            });
        }
        Ok(Some(files))
    }

    fn keep_entry(&self, kind: &str, key: &str, files: &[KeptFile]) -> Result<(), RegistryError> {
        let session = self.open(true)?;
        std::fs::create_dir_all(&self.staging).map_err(|e| layout_error(&self.staging, e))?;
        let scratch = tempfile::Builder::new()
            .prefix("keep-")
            .tempdir_in(&self.staging)
            .map_err(|e| layout_error(&self.staging, e))?;
        let layout = Layout::create(scratch.path()).map_err(|e| layout_error(scratch.path(), e))?;
        let config = layout
            .put_blob(EMPTY_MEDIA_TYPE, b"{}")
            .map_err(|e| layout_error(scratch.path(), e))?;
        let mut layers = Vec::new();
        for file in files {
            let digest = Digest::parse(&format!("sha256:{}", file.sha256))
                .map_err(|e| layout_error(&file.path, e))?;
            let to = layout.blob_path(&digest);
            staves_fs::link_or_copy(&file.path, &to).map_err(|e| layout_error(&file.path, e))?;
            let size = std::fs::metadata(&to)
                .map_err(|e| layout_error(&to, e))?
                .len();
            layers.push(BlobRef {
                media_type: FILE_TYPE.into(),
                digest,
                size,
                platform: None,
                annotations: BTreeMap::from([(TITLE.to_owned(), file.name.clone())]),
                artifact_type: None,
            });
        }
        let mut blobs = layers.clone();
        blobs.push(config.clone());
        push_blobs(&session, &layout, &blobs, &self.push, &Memo::none())?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": media::MANIFEST,
            "artifactType": ARTIFACT_TYPE,
            "config": { "mediaType": EMPTY_MEDIA_TYPE, "digest": config.digest, "size": config.size },
            "layers": layers,
            "annotations": { KEY_ANNOTATION: format!("{kind}:{key}") },
        });
        let bytes = serde_json::to_vec(&manifest).map_err(|e| RegistryError::Protocol {
            registry: self.reference.registry.clone(),
            message: e.to_string(),
        })?;
        let url = session.repo_url(&format!("manifests/{}", Self::tag(kind, key)));
        let response = session.send(
            "PUT",
            &url,
            &[("Content-Type", media::MANIFEST)],
            &Body::Bytes(&bytes),
        )?;
        session.expect(response, "PUT", &url, &[200, 201])?;
        Ok(())
    }
}

impl SharedCache for RegistryCache {
    fn fetch(
        &self,
        kind: &str,
        key: &str,
        dir: &Path,
    ) -> Result<Option<Vec<KeptFile>>, SharedError> {
        Ok(self.fetch_entry(kind, key, dir)?)
    }

    fn keep(&self, kind: &str, key: &str, files: &[KeptFile]) -> Result<(), SharedError> {
        Ok(self.keep_entry(kind, key, files)?)
    }
}

fn layout_error(path: &Path, e: impl std::fmt::Display) -> RegistryError {
    RegistryError::Layout {
        path: path.to_owned(),
        message: e.to_string(),
    }
}
