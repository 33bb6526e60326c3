//! Attaching a document (an SBOM, a Sigstore bundle) to a pushed image as an OCI artifact
//! that refers to it, and reading an image's referrers back.
//!
//! The artifact is a manifest whose `subject` is the image, with the document as its one
//! layer. Registries with the OCI 1.1 referrers API list it by themselves (they answer the
//! manifest upload with `OCI-Subject`); for the others, the referrers tag schema is kept:
//! an image index tagged `sha256-<hex of the image digest>` lists the image's artifacts.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use staves_oci::image::media;
use staves_oci::{BlobRef, Layout};

use crate::RegistryError;
use crate::push::{PushOptions, push_blobs};
use crate::session::{Body, Session, header};

/// OCI's empty descriptor content, the config of artifacts that need none.
const EMPTY_CONFIG: &[u8] = b"{}";
const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";

/// Pushes `document` (of media type `artifact_type`, its layer annotated with
/// `annotations`) as an artifact referring to `subject`, which must already be in the
/// session's repository. Returns the artifact's manifest digest.
pub fn attach(
    session: &Session,
    layout: &Layout,
    subject: &BlobRef,
    artifact_type: &str,
    annotations: &BTreeMap<String, String>,
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
            "annotations": annotations,
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

/// Whether the session's registry answers the OCI 1.1 referrers API (asked about `digest`):
/// one that does lists an artifact by its `subject` by itself.
pub fn has_referrers_api(session: &Session, digest: &str) -> Result<bool, RegistryError> {
    let url = session.repo_url(&format!("referrers/{digest}"));
    let response = session.send("GET", &url, &[("Accept", media::INDEX)], &Body::Empty)?;
    Ok(response.status() == 200
        && header(&response, "content-type").is_some_and(|t| t.starts_with(media::INDEX)))
}

/// The documents of `artifact_type` that refer to `digest` in the session's repository:
/// listed by the referrers API, or, where the registry has none, by the referrers tag. Each
/// artifact is pulled into `layout` and checked against its digest; its layers are returned.
pub fn referrers(
    connect: &dyn Fn() -> Result<Session, RegistryError>,
    session: &Session,
    layout: &Layout,
    digest: &str,
    artifact_type: &str,
) -> Result<Vec<crate::cosign::Attached>, RegistryError> {
    let url = session.repo_url(&format!("referrers/{digest}"));
    let response = session.send("GET", &url, &[("Accept", media::INDEX)], &Body::Empty)?;
    let index = if response.status() == 404 {
        crate::pull::tagged(session, &digest.replace(':', "-"), media::INDEX)?.map(|(_, i)| i)
    } else {
        let response = session.expect(response, "GET", &url, &[200])?;
        let bytes = crate::pull::bounded_body(session, &url, response)?;
        Some(serde_json::from_slice(&bytes).map_err(|e| protocol(session, e))?)
    };
    let Some(index) = index else {
        return Ok(Vec::new());
    };
    let listed: Vec<BlobRef> =
        serde_json::from_value(index["manifests"].clone()).map_err(|e| protocol(session, e))?;
    let mut found = Vec::new();
    for artifact in listed
        .iter()
        .filter(|m| m.artifact_type.as_deref() == Some(artifact_type))
    {
        crate::pull::pull(connect, artifact.digest.as_ref(), "referrer", &[], layout)?;
        let manifest: Value = crate::cosign::read_json(layout, &artifact.digest, session)?;
        // A referrer that names another subject is not this image's, whatever lists it.
        if manifest["subject"]["digest"] != digest {
            continue;
        }
        found.extend(crate::cosign::layers(layout, &manifest, session)?);
    }
    Ok(found)
}

fn protocol(session: &Session, e: impl std::fmt::Display) -> RegistryError {
    RegistryError::Protocol {
        registry: session.reference().registry.clone(),
        message: e.to_string(),
    }
}
