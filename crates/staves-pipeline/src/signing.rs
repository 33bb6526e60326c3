//! Signing and attesting pushed images, and verifying them, in cosign's tag scheme:
//! signatures of the image (and of each platform's manifest of an index) under
//! `sha256-<hex>.sig`, in-toto Statements in DSSE envelopes under `sha256-<hex>.att`. Every
//! document is signed by the one [`Signer`]; verification needs only the public key.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::Value;
use staves_attest::{Envelope, IN_TOTO, PublicKey, SLSA_PROVENANCE, Signer, Statement};
use staves_oci::{BlobRef, Layout};
use staves_registry::cosign::{Document, Kind};
use staves_registry::{Reference, Session};

use crate::error::PipelineError;
use crate::publish::RegistryOptions;

/// The layer annotation cosign keeps a signature in.
const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The media type of an attestation layer.
const DSSE: &str = "application/vnd.dsse.envelope.v1+json";

/// One attestation to attach: a predicate and its type.
#[derive(Debug, Clone)]
pub struct Attestation {
    /// `https://slsa.dev/provenance/v1`, `https://spdx.dev/Document`, …
    pub predicate_type: String,
    /// The predicate.
    pub predicate: Value,
}

/// What signing did.
#[derive(Debug, Clone, Default)]
pub struct Signed {
    /// Manifests (and index) signed.
    pub signed: Vec<String>,
    /// Documents uploaded that the registry did not have.
    pub new: usize,
    /// Attestations attached.
    pub attestations: usize,
}

/// Signs `entry` of `layout`, already pushed to `reference` (an index: it and each of its
/// manifests), and attaches `attestations` about it, each signed by `signer`.
pub fn sign(
    layout: &Layout,
    entry: &BlobRef,
    reference: &Reference,
    options: &RegistryOptions,
    signer: &dyn Signer,
    attestations: &[Attestation],
) -> Result<Signed, PipelineError> {
    let (session, push) = crate::publish::connect(reference, options)?;
    let repository = format!("{}/{}", reference.registry, reference.repository);
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut digests = vec![entry.digest.to_string()];
    if entry.media_type == staves_oci::image::media::INDEX {
        digests.extend(layout.children(entry)?.iter().map(|c| c.digest.to_string()));
    }
    let mut signed = Signed::default();
    for digest in &digests {
        let payload = staves_attest::simple_signing_payload(&repository, digest);
        let signature = signer.sign(&payload)?;
        let document = Document {
            media_type: staves_attest::SIMPLE_SIGNING.into(),
            bytes: payload,
            annotations: BTreeMap::from([(SIGNATURE_ANNOTATION.into(), b64.encode(signature))]),
        };
        let (_, new) = staves_registry::cosign::append(
            &session,
            layout,
            digest,
            Kind::Signatures,
            &[document],
            &push,
        )?;
        signed.new += new;
        signed.signed.push(digest.clone());
    }
    let documents = attestations
        .iter()
        .map(|a| {
            let statement = Statement::about(
                &repository,
                entry.digest.as_ref(),
                &a.predicate_type,
                a.predicate.clone(),
            );
            let envelope = Envelope::sign(IN_TOTO, &statement.to_json(), signer)?;
            Ok(Document {
                media_type: DSSE.into(),
                bytes: envelope.to_json(),
                annotations: BTreeMap::from([("predicateType".into(), a.predicate_type.clone())]),
            })
        })
        .collect::<Result<Vec<_>, PipelineError>>()?;
    if !documents.is_empty() {
        let (_, new) = staves_registry::cosign::append(
            &session,
            layout,
            entry.digest.as_ref(),
            Kind::Attestations,
            &documents,
            &push,
        )?;
        signed.new += new;
        signed.attestations = documents.len();
    }
    Ok(signed)
}

/// What verification found.
#[derive(Debug, Clone, Default)]
pub struct Verified {
    /// The digest the reference names.
    pub digest: String,
    /// Each manifest (and index) whose signature verified.
    pub signed: Vec<String>,
    /// The predicate type of each attestation, all verified.
    pub attestations: Vec<String>,
    /// The provenance's predicate, when there is one.
    pub provenance: Option<Value>,
}

/// Verifies the image `reference` names: a signature by `key` of its manifest (or index and
/// every manifest in it), and every attestation attached to it signed by `key` and about
/// this digest. Anything else is an error saying what failed.
pub fn verify(
    reference: &Reference,
    key: &PublicKey,
    options: &RegistryOptions,
) -> Result<Verified, PipelineError> {
    let session_options = crate::publish::session_options(options);
    let connect = || Session::open_to_pull(reference, &session_options);
    let session = connect()?;
    let digest = match (&reference.digest, &reference.tag) {
        (Some(digest), _) => digest.clone(),
        (None, tag) => {
            staves_registry::pull::resolve_tag(&session, tag.as_deref().unwrap_or("latest"))?
        }
    };
    let cache = staves_repo::Cache::open(&options.cache)?;
    let scratch = cache.scratch_dir()?;
    let layout = Layout::create(scratch.path())?;
    let pulled = staves_registry::pull::pull(&connect, &digest, "verify", &[], &layout)?;
    let mut digests = vec![digest.clone()];
    if let Some(entry) = pulled.entry.filter(|e| {
        e.media_type == staves_oci::image::media::INDEX
            || e.media_type == staves_oci::image::media::DOCKER_LIST
    }) {
        digests.extend(
            layout
                .children(&entry)?
                .iter()
                .map(|c| c.digest.to_string()),
        );
    }
    let refused = |why: String| PipelineError::NotVerified {
        reference: reference.to_string(),
        why,
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut verified = Verified {
        digest: digest.clone(),
        ..Verified::default()
    };
    for one in &digests {
        let documents =
            staves_registry::cosign::read(&connect, &session, &layout, one, Kind::Signatures)?;
        if documents.is_empty() {
            return Err(refused(format!(
                "{one} has no signature ({})",
                Kind::Signatures.tag(one)
            )));
        }
        let mut why = Vec::new();
        let good = documents.iter().any(|d| {
            let Some(signature) = d
                .descriptor
                .annotations
                .get(SIGNATURE_ANNOTATION)
                .and_then(|s| b64.decode(s).ok())
            else {
                why.push("a signature layer without a signature".to_owned());
                return false;
            };
            match staves_attest::verify_simple_signing(&d.bytes, &signature, key, one) {
                Ok(_) => true,
                Err(e) => {
                    why.push(e.to_string());
                    false
                }
            }
        });
        if !good {
            return Err(refused(format!(
                "no signature of {one} verifies with the key: {}",
                why.join("; ")
            )));
        }
        verified.signed.push(one.clone());
    }
    let documents =
        staves_registry::cosign::read(&connect, &session, &layout, &digest, Kind::Attestations)?;
    for d in documents {
        let envelope = staves_attest::Envelope::from_json(&d.bytes)?;
        let payload = envelope
            .verify(key)
            .map_err(|e| refused(format!("an attestation: {e}")))?;
        let statement = Statement::from_json(&payload)?;
        if !statement.names(&digest) {
            return Err(refused(format!(
                "an attestation ({}) is about another image, not {digest}",
                statement.predicate_type
            )));
        }
        if statement.predicate_type == SLSA_PROVENANCE {
            verified.provenance = Some(statement.predicate.clone());
        }
        verified.attestations.push(statement.predicate_type);
    }
    Ok(verified)
}
