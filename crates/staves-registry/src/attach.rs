//! Attaching a document (an SBOM) to a pushed image as an OCI artifact that refers to it.
//!
//! The artifact is a manifest whose `subject` is the image, with the document as its one
//! layer. Registries with the OCI 1.1 referrers API list it by themselves (they answer the
//! manifest upload with `OCI-Subject`); for the others, the referrers tag schema is kept:
//! an image index tagged `sha256-<hex of the image digest>` lists the image's artifacts.

use serde_json::{Value, json};
use staves_oci::image::media;
use staves_oci::{BlobRef, Layout};

use crate::RegistryError;
use crate::push::{PushOptions, push_blobs};
use crate::session::{Body, Session, header};

/// OCI's empty descriptor content, the config of artifacts that need none.
const EMPTY_CONFIG: &[u8] = b"{}";
const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";

/// Pushes `document` (of media type `artifact_type`, named `title`) as an artifact referring
/// to `subject`, which must already be in the session's repository. Returns the artifact's
/// manifest digest.
pub fn attach(
    session: &Session,
    layout: &Layout,
    subject: &BlobRef,
    artifact_type: &str,
    title: &str,
    document: &[u8],
    options: &PushOptions,
) -> Result<String, RegistryError> {
    let layout_error = |e: staves_oci::OciError| RegistryError::Layout {
        path: layout.root().to_owned(),
        message: e.to_string(),
    };
    let config = layout
        .put_blob(EMPTY_MEDIA_TYPE, EMPTY_CONFIG)
        .map_err(layout_error)?;
    let layer = layout
        .put_blob(artifact_type, document)
        .map_err(layout_error)?;
    push_blobs(
        session,
        layout,
        &[config.clone(), layer.clone()],
        options,
        &crate::push::Memo::none(),
    )?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media::MANIFEST,
        "artifactType": artifact_type,
        "config": { "mediaType": EMPTY_MEDIA_TYPE, "digest": config.digest, "size": config.size },
        "layers": [{
            "mediaType": artifact_type,
            "digest": layer.digest,
            "size": layer.size,
            "annotations": { "org.opencontainers.image.title": title },
        }],
        "subject": { "mediaType": subject.media_type, "digest": subject.digest, "size": subject.size },
    });
    let bytes = serde_json::to_vec(&manifest).map_err(|e| RegistryError::Protocol {
        registry: session.reference().registry.clone(),
        message: e.to_string(),
    })?;
    let artifact = layout
        .put_blob(media::MANIFEST, &bytes)
        .map_err(layout_error)?;
    let url = session.repo_url(&format!("manifests/{}", artifact.digest));
    let headers = [("Content-Type", media::MANIFEST)];
    let response = session.send("PUT", &url, &headers, &Body::Bytes(&bytes))?;
    let response = session.expect(response, "PUT", &url, &[200, 201])?;
    if header(&response, "oci-subject").is_none() {
        add_to_referrers_tag(session, subject, &artifact, artifact_type)?;
    }
    Ok(artifact.digest.to_string())
}

/// Adds `artifact` to the index tagged `sha256-<hex>` for `subject`, creating it if needed.
fn add_to_referrers_tag(
    session: &Session,
    subject: &BlobRef,
    artifact: &BlobRef,
    artifact_type: &str,
) -> Result<(), RegistryError> {
    let tag = subject.digest.replace(':', "-");
    let mut manifests: Vec<Value> = match crate::pull::tagged(session, &tag, media::INDEX)? {
        Some((_, index)) => index["manifests"].as_array().cloned().unwrap_or_default(),
        None => Vec::new(),
    };
    if manifests
        .iter()
        .any(|m| m["digest"] == artifact.digest.as_str())
    {
        return Ok(());
    }
    manifests.push(json!({
        "mediaType": media::MANIFEST,
        "digest": artifact.digest,
        "size": artifact.size,
        "artifactType": artifact_type,
    }));
    let index = json!({
        "schemaVersion": 2,
        "mediaType": media::INDEX,
        "manifests": manifests,
    });
    let bytes = serde_json::to_vec(&index).map_err(|e| RegistryError::Protocol {
        registry: session.reference().registry.clone(),
        message: e.to_string(),
    })?;
    let url = session.repo_url(&format!("manifests/{tag}"));
    let headers = [("Content-Type", media::INDEX)];
    let response = session.send("PUT", &url, &headers, &Body::Bytes(&bytes))?;
    session.expect(response, "PUT", &url, &[200, 201])?;
    Ok(())
}
