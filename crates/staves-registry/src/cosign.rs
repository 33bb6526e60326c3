//! cosign's tag scheme, for registries without the OCI 1.1 referrers API (Debian's
//! docker-registry is one): an image's signatures under the tag `sha256-<hex>.sig`, its
//! attestations under `sha256-<hex>.att`, each a manifest whose layers are the signed
//! documents (with what verifies them in the layer's annotations). New documents are
//! appended to what the tag already holds; one already there is not added twice.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use staves_oci::image::media;
use staves_oci::{BlobRef, Digest, Layout};

use crate::RegistryError;
use crate::push::{Memo, PushOptions, push_blobs};
use crate::session::{Body, Session};

/// Which of an image's tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `.sig`: simple-signing payloads, the signature in an annotation.
    Signatures,
    /// `.att`: DSSE envelopes.
    Attestations,
}

impl Kind {
    /// The tag of `digest`'s documents of this kind.
    pub fn tag(self, digest: &str) -> String {
        let suffix = match self {
            Kind::Signatures => "sig",
            Kind::Attestations => "att",
        };
        format!("{}.{suffix}", digest.replace(':', "-"))
    }
}

/// One document to attach.
#[derive(Debug, Clone)]
pub struct Document {
    /// Its media type.
    pub media_type: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// The layer's annotations.
    pub annotations: BTreeMap<String, String>,
}

/// One document read back, its bytes checked against their digest.
#[derive(Debug, Clone)]
pub struct Attached {
    /// Its descriptor (with the annotations).
    pub descriptor: BlobRef,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// Appends `documents` to the `kind` tag of `digest` in the session's repository; returns
/// the tag's new manifest digest and how many documents were new. `layout` is where the
/// blobs are staged.
pub fn append(
    session: &Session,
    layout: &Layout,
    digest: &str,
    kind: Kind,
    documents: &[Document],
    options: &PushOptions,
) -> Result<(String, usize), RegistryError> {
    let tag = kind.tag(digest);
    let layout_error = |e: staves_oci::OciError| RegistryError::Layout {
        path: layout.root().to_owned(),
        message: e.to_string(),
    };
    let existing = crate::pull::tagged(session, &tag, media::MANIFEST)?;
    let mut layers: Vec<BlobRef> = match &existing {
        Some((_, manifest)) => {
            serde_json::from_value(manifest["layers"].clone()).unwrap_or_default()
        }
        None => Vec::new(),
    };
    let mut new = Vec::new();
    for document in documents {
        let mut blob = layout
            .put_blob(&document.media_type, &document.bytes)
            .map_err(layout_error)?;
        blob.annotations = document.annotations.clone();
        if layers
            .iter()
            .any(|l| l.digest == blob.digest && l.annotations == blob.annotations)
        {
            continue;
        }
        new.push(blob.clone());
        layers.push(blob);
    }
    if new.is_empty() {
        let current = existing.map(|(digest, _)| digest).unwrap_or_default();
        return Ok((current, 0));
    }
    // A config as cosign writes one: an image of no platform whose layers are the documents.
    let config = json!({
        "architecture": "",
        "os": "",
        "created": "0001-01-01T00:00:00Z",
        "config": {},
        "rootfs": {
            "type": "layers",
            "diff_ids": layers.iter().map(|l| l.digest.to_string()).collect::<Vec<_>>(),
        },
    });
    let config_bytes = serde_json::to_vec(&config).map_err(|e| protocol(session, e))?;
    let config = layout
        .put_blob(media::CONFIG, &config_bytes)
        .map_err(layout_error)?;
    let mut blobs = new.clone();
    blobs.push(config.clone());
    push_blobs(session, layout, &blobs, options, &Memo::none())?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media::MANIFEST,
        "config": { "mediaType": media::CONFIG, "digest": config.digest, "size": config.size },
        "layers": layers,
    });
    let bytes = serde_json::to_vec(&manifest).map_err(|e| protocol(session, e))?;
    let url = session.repo_url(&format!("manifests/{tag}"));
    let headers = [("Content-Type", media::MANIFEST)];
    let response = session.send("PUT", &url, &headers, &Body::Bytes(&bytes))?;
    session.expect(response, "PUT", &url, &[200, 201])?;
    Ok((Digest::of(&bytes).to_string(), new.len()))
}

/// The documents of the `kind` tag of `digest`, each checked against its digest; none when
/// the tag does not exist. `layout` receives the blobs.
pub fn read(
    connect: &dyn Fn() -> Result<Session, RegistryError>,
    session: &Session,
    layout: &Layout,
    digest: &str,
    kind: Kind,
) -> Result<Vec<Attached>, RegistryError> {
    let tag = kind.tag(digest);
    let Some((manifest_digest, _)) = crate::pull::tagged(session, &tag, media::MANIFEST)? else {
        return Ok(Vec::new());
    };
    crate::pull::pull(connect, &manifest_digest, &tag, &[], layout)?;
    let parsed = Digest::parse(&manifest_digest).map_err(|e| protocol(session, e))?;
    let manifest: Value = read_json(layout, &parsed, session)?;
    layers(layout, &manifest, session)
}

/// The layers of `manifest`, read from `layout` (where a pull checked them).
pub(crate) fn layers(
    layout: &Layout,
    manifest: &Value,
    session: &Session,
) -> Result<Vec<Attached>, RegistryError> {
    let layers: Vec<BlobRef> =
        serde_json::from_value(manifest["layers"].clone()).map_err(|e| protocol(session, e))?;
    layers
        .into_iter()
        .map(|descriptor| {
            let path = layout.blob_path(&descriptor.digest);
            let bytes =
                staves_fs::read_regular(&path, 16 << 20).map_err(|e| RegistryError::Layout {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
            Ok(Attached { descriptor, bytes })
        })
        .collect()
}

pub(crate) fn read_json(
    layout: &Layout,
    digest: &Digest,
    session: &Session,
) -> Result<Value, RegistryError> {
    let path = layout.blob_path(digest);
    let bytes = staves_fs::read_regular(&path, 4 << 20).map_err(|e| RegistryError::Layout {
        path: path.clone(),
        message: e.to_string(),
    })?;
    serde_json::from_slice(&bytes).map_err(|e| protocol(session, e))
}

fn protocol(session: &Session, e: impl std::fmt::Display) -> RegistryError {
    RegistryError::Protocol {
        registry: session.reference().registry.clone(),
        message: e.to_string(),
    }
}
