//! The signed documents of one image, made once and then written into a layout or pushed:
//! cosign's simple-signing payloads (the `.sig` tag), DSSE envelopes of in-toto Statements
//! (the `.att` tag), and the same envelopes, with a signature Statement per manifest, as
//! Sigstore bundles (OCI 1.1 referrers). One signature per document: a bundle reuses the
//! envelope its attestation was signed in.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::Value;
use staves_attest::{BUNDLE, Bundle, COSIGN_SIGN, Envelope, IN_TOTO, Signer, Statement};
use staves_oci::{BlobRef, Layout};
use staves_registry::cosign::{Attached, Document, Kind};

use super::Attestation;
use crate::error::PipelineError;

/// The layer annotation cosign keeps a signature in.
pub(super) const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The media type of an attestation layer.
pub(super) const DSSE: &str = "application/vnd.dsse.envelope.v1+json";
/// OCI's empty descriptor, the config of an artifact.
const EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// The annotations cosign gives a bundle's layer.
const BUNDLE_CONTENT: &str = "dev.sigstore.bundle.content";
const BUNDLE_PREDICATE: &str = "dev.sigstore.bundle.predicateType";

/// Where a document is found, and so how it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Found {
    /// Under one of cosign's tags.
    Tag(Kind),
    /// A Sigstore bundle referring to the image.
    Bundles,
}

/// Every signed document of one image.
#[derive(Debug, Default)]
pub(super) struct Signatures {
    /// A simple-signing document per covered digest.
    pub tags: Vec<(BlobRef, Document)>,
    /// The attestations' envelopes, about the entry.
    pub attestations: Vec<Document>,
    /// A bundle per covered digest (its signature), then one per attestation.
    pub bundles: Vec<(BlobRef, Document)>,
}

impl Signatures {
    /// Signs `covered` (the entry first) as the image `repository`, and `attestations`
    /// about the entry.
    pub fn make(
        repository: &str,
        covered: &[BlobRef],
        signer: &dyn Signer,
        attestations: &[Attestation],
    ) -> Result<Signatures, PipelineError> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let key = signer.public();
        let bundle = |envelope: Envelope, predicate_type: &str| Document {
            media_type: BUNDLE.into(),
            bytes: match &key {
                Some(key) => Bundle::new(envelope, key),
                None => Bundle {
                    envelope,
                    hint: String::new(),
                },
            }
            .to_json(),
            annotations: BTreeMap::from([
                (BUNDLE_CONTENT.into(), "dsse-envelope".into()),
                (BUNDLE_PREDICATE.into(), predicate_type.into()),
            ]),
        };
        let mut out = Signatures::default();
        for subject in covered {
            let digest = subject.digest.as_ref();
            let payload = staves_attest::simple_signing_payload(repository, digest);
            let signature = signer.sign(&payload)?;
            let document = Document {
                media_type: staves_attest::SIMPLE_SIGNING.into(),
                bytes: payload,
                annotations: BTreeMap::from([(SIGNATURE_ANNOTATION.into(), b64.encode(signature))]),
            };
            out.tags.push((subject.clone(), document));
            let statement =
                Statement::about(repository, digest, COSIGN_SIGN, serde_json::json!({}));
            let envelope = Envelope::sign(IN_TOTO, &statement.to_json(), signer)?;
            out.bundles
                .push((subject.clone(), bundle(envelope, COSIGN_SIGN)));
        }
        let Some(entry) = covered.first() else {
            return Ok(out);
        };
        for a in attestations {
            let statement = Statement::about(
                repository,
                entry.digest.as_ref(),
                &a.predicate_type,
                a.predicate.clone(),
            );
            let envelope = Envelope::sign(IN_TOTO, &statement.to_json(), signer)?;
            out.attestations.push(Document {
                media_type: DSSE.into(),
                bytes: envelope.to_json(),
                annotations: BTreeMap::from([("predicateType".into(), a.predicate_type.clone())]),
            });
            out.bundles
                .push((entry.clone(), bundle(envelope, &a.predicate_type)));
        }
        Ok(out)
    }
}

/// Writes `document` into `layout` as an artifact manifest: the empty config, the document
/// as its one layer, `subject` as what it refers to (image-spec 1.1). Returns its index
/// entry.
pub(super) fn write_artifact(
    layout: &Layout,
    subject: &BlobRef,
    document: &Document,
) -> Result<BlobRef, PipelineError> {
    let config = layout.put_blob(EMPTY, b"{}")?;
    let mut layer = layout.put_blob(&document.media_type, &document.bytes)?;
    layer.annotations = document.annotations.clone();
    let subject = BlobRef {
        platform: None,
        annotations: BTreeMap::new(),
        artifact_type: None,
        ..subject.clone()
    };
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": staves_oci::image::media::MANIFEST,
        "artifactType": document.media_type,
        "config": config,
        "layers": [layer],
        "subject": subject,
    });
    let bytes = serde_json::to_vec(&manifest)
        .map_err(|e| PipelineError::Io(std::io::Error::other(e.to_string())))?;
    let mut entry = layout.put_blob(staves_oci::image::media::MANIFEST, &bytes)?;
    entry.artifact_type = Some(document.media_type.clone());
    Ok(entry)
}

/// The documents of `layout`'s artifacts that refer to `digest` and are found as `found`.
pub(super) fn in_layout(
    layout: &Layout,
    digest: &str,
    found: Found,
) -> Result<Vec<Attached>, PipelineError> {
    let wanted = match found {
        Found::Tag(Kind::Signatures) => staves_attest::SIMPLE_SIGNING,
        Found::Tag(Kind::Attestations) => DSSE,
        Found::Bundles => BUNDLE,
    };
    let mut out = Vec::new();
    for entry in layout.index()? {
        if entry.artifact_type.as_deref() != Some(wanted) {
            continue;
        }
        let manifest: Value = serde_json::from_slice(&read_blob(layout, &entry)?)
            .map_err(|e| PipelineError::Io(std::io::Error::other(e.to_string())))?;
        if manifest["subject"]["digest"] != digest {
            continue;
        }
        let layers: Vec<BlobRef> = serde_json::from_value(manifest["layers"].clone())
            .map_err(|e| PipelineError::Io(std::io::Error::other(e.to_string())))?;
        for descriptor in layers {
            let bytes = read_blob(layout, &descriptor)?;
            out.push(Attached { descriptor, bytes });
        }
    }
    Ok(out)
}

/// A blob of `layout`, checked against its digest.
fn read_blob(layout: &Layout, blob: &BlobRef) -> Result<Vec<u8>, PipelineError> {
    let bytes = staves_fs::read_regular(&layout.blob_path(&blob.digest), 64 << 20)?;
    if staves_oci::Digest::of(&bytes) != blob.digest {
        return Err(PipelineError::Io(std::io::Error::other(format!(
            "{}: the blob is damaged (its digest differs)",
            blob.digest
        ))));
    }
    Ok(bytes)
}
