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
/// OCI's empty descriptor, the config of an artifact.
const EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// One attestation to attach: a predicate and its type.
#[derive(Debug, Clone)]
pub struct Attestation {
    /// `https://slsa.dev/provenance/v1`, `https://spdx.dev/Document`, …
    pub predicate_type: String,
    /// The predicate.
    pub predicate: Value,
}

/// What the caller knows of a build that its provenance says.
#[derive(Debug, Clone)]
pub struct BuildFacts {
    /// Who built it (a URI: a CI job, a host).
    pub builder_id: String,
    /// The spec file the build was given.
    pub spec: std::path::PathBuf,
    /// The image's names.
    pub names: Vec<String>,
    /// When the build started.
    pub started: std::time::SystemTime,
    /// The layer compression (`gzip`, `zstd`).
    pub compression: String,
    /// `SOURCE_DATE_EPOCH`, when set.
    pub source_date_epoch: Option<u64>,
}

/// What a signed build attests of its image: SLSA provenance (the spec and lock by
/// SHA-256, every `.deb` and base by digest, the builder, start and end), and, when the
/// build made one, the SBOM as SPDX and as CycloneDX.
pub fn attestations(
    workspace: &crate::Workspace,
    built: &crate::Build,
    facts: &BuildFacts,
) -> Result<Vec<Attestation>, PipelineError> {
    let mut dependencies: Vec<staves_attest::Dependency> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for image in &built.images {
        if let Some(base) = workspace.base(&image.arch)?
            && let Some(digest) = &base.digest
            && seen.insert(digest.clone())
        {
            dependencies.push(staves_attest::Dependency {
                uri: base.name.clone(),
                sha256: digest.trim_start_matches("sha256:").to_owned(),
                name: Some("base image".into()),
            });
        }
        for l in &image.listed {
            if seen.insert(l.package.sha256.clone()) {
                dependencies.push(staves_attest::Dependency {
                    uri: l.url.clone(),
                    sha256: l.package.sha256.clone(),
                    name: Some(format!(
                        "{} {} {}",
                        l.package.name, l.package.version, l.package.arch
                    )),
                });
            }
        }
    }
    let seconds = |time: std::time::SystemTime| {
        time.duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    };
    let provenance = staves_attest::Provenance {
        builder_id: facts.builder_id.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
        spec: (
            facts.spec.display().to_string(),
            file_sha256(&facts.spec).unwrap_or_default(),
        ),
        lock: file_sha256(&workspace.lock_path()),
        names: facts.names.clone(),
        archs: workspace.selected.clone(),
        source_date_epoch: facts.source_date_epoch,
        compression: facts.compression.clone(),
        dependencies,
        invocation_id: hex::encode(rand::random::<[u8; 16]>()),
        started: staves_oci::image::rfc3339(seconds(facts.started)),
        finished: staves_oci::image::rfc3339(seconds(std::time::SystemTime::now())),
    };
    let mut out = vec![Attestation {
        predicate_type: SLSA_PROVENANCE.into(),
        predicate: provenance.predicate(),
    }];
    if let Some(spdx) = &built.sbom {
        let value: Value = serde_json::from_slice(spdx)
            .map_err(|e| PipelineError::Io(std::io::Error::other(format!("the SBOM: {e}"))))?;
        let cyclonedx =
            staves_sbom::cyclonedx::from_spdx(&staves_sbom::Document::from_value(value.clone()));
        out.push(Attestation {
            predicate_type: "https://spdx.dev/Document".into(),
            predicate: value,
        });
        out.push(Attestation {
            predicate_type: "https://cyclonedx.org/bom".into(),
            predicate: cyclonedx,
        });
    }
    Ok(out)
}

/// The SHA-256 of the file at `path`, streamed; none when it cannot be read.
pub fn file_sha256(path: &std::path::Path) -> Option<String> {
    let mut hashing = staves_net::Hashing::new(std::fs::File::open(path).ok()?);
    std::io::copy(&mut hashing, &mut std::io::sink()).ok()?;
    Some(hashing.finish().0)
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

/// The digests a signature covers: `entry`, and each manifest of an index.
fn covered(layout: &Layout, entry: &BlobRef) -> Result<Vec<BlobRef>, PipelineError> {
    let mut covered = vec![entry.clone()];
    if entry.media_type == staves_oci::image::media::INDEX
        || entry.media_type == staves_oci::image::media::DOCKER_LIST
    {
        covered.extend(layout.children(entry)?);
    }
    Ok(covered)
}

/// The digests a signature covers.
fn covered_digests(layout: &Layout, entry: &BlobRef) -> Result<Vec<String>, PipelineError> {
    Ok(covered(layout, entry)?
        .iter()
        .map(|b| b.digest.to_string())
        .collect())
}

/// The signature document of `digest` as the image `repository`.
fn signature_document(
    repository: &str,
    digest: &str,
    signer: &dyn Signer,
) -> Result<Document, PipelineError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = staves_attest::simple_signing_payload(repository, digest);
    let signature = signer.sign(&payload)?;
    Ok(Document {
        media_type: staves_attest::SIMPLE_SIGNING.into(),
        bytes: payload,
        annotations: BTreeMap::from([(SIGNATURE_ANNOTATION.into(), b64.encode(signature))]),
    })
}

/// The attestation documents about `digest` of `repository`.
fn attestation_documents(
    repository: &str,
    digest: &str,
    attestations: &[Attestation],
    signer: &dyn Signer,
) -> Result<Vec<Document>, PipelineError> {
    attestations
        .iter()
        .map(|a| {
            let statement =
                Statement::about(repository, digest, &a.predicate_type, a.predicate.clone());
            let envelope = Envelope::sign(IN_TOTO, &statement.to_json(), signer)?;
            Ok(Document {
                media_type: DSSE.into(),
                bytes: envelope.to_json(),
                annotations: BTreeMap::from([("predicateType".into(), a.predicate_type.clone())]),
            })
        })
        .collect()
}

/// Writes into `layout` the signatures of `entry` (an index: it and each of its manifests)
/// as the image `repository`, and `attestations` about it, as OCI 1.1 artifacts whose
/// `subject` is what they sign, listed in `index.json` with their `artifactType`. `staves
/// push` carries them to the registry. Returns how many were written.
pub fn sign_layout(
    layout: &Layout,
    entry: &BlobRef,
    repository: &str,
    signer: &dyn Signer,
    attestations: &[Attestation],
) -> Result<usize, PipelineError> {
    let mut artifacts = Vec::new();
    for subject in &covered(layout, entry)? {
        let document = signature_document(repository, subject.digest.as_ref(), signer)?;
        artifacts.push(write_artifact(layout, subject, &document)?);
    }
    for document in attestation_documents(repository, entry.digest.as_ref(), attestations, signer)?
    {
        artifacts.push(write_artifact(layout, entry, &document)?);
    }
    let mut index = layout.index()?;
    let written = artifacts.len();
    for artifact in artifacts {
        if !index.iter().any(|e| e.digest == artifact.digest) {
            index.push(artifact);
        }
    }
    layout.put_index(&index)?;
    Ok(written)
}

/// An artifact manifest: the empty config, `document` as its one layer, `subject` as what
/// it refers to (image-spec 1.1). Returns its index entry.
fn write_artifact(
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

/// The artifacts of `layout` that refer to `digest`, their documents read back.
fn layout_documents(
    layout: &Layout,
    digest: &str,
    kind: Kind,
) -> Result<Vec<staves_registry::cosign::Attached>, PipelineError> {
    let wanted = match kind {
        Kind::Signatures => staves_attest::SIMPLE_SIGNING,
        Kind::Attestations => DSSE,
    };
    let mut found = Vec::new();
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
            found.push(staves_registry::cosign::Attached { descriptor, bytes });
        }
    }
    Ok(found)
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

/// Pushes the signatures and attestations `layout` holds for `entry` (and an index's
/// manifests) to `reference`, where `entry` already is, in cosign's tag scheme. Returns how
/// many documents were new there.
pub fn carry(
    layout: &Layout,
    entry: &BlobRef,
    reference: &Reference,
    options: &RegistryOptions,
) -> Result<usize, PipelineError> {
    let mut pending = Vec::new();
    for digest in covered_digests(layout, entry)? {
        for kind in [Kind::Signatures, Kind::Attestations] {
            let documents: Vec<Document> = layout_documents(layout, &digest, kind)?
                .into_iter()
                .map(|a| Document {
                    media_type: a.descriptor.media_type,
                    bytes: a.bytes,
                    annotations: a.descriptor.annotations,
                })
                .collect();
            if !documents.is_empty() {
                pending.push((digest.clone(), kind, documents));
            }
        }
    }
    if pending.is_empty() {
        return Ok(0);
    }
    let (session, push) = crate::publish::connect(reference, options)?;
    let mut new = 0;
    for (digest, kind, documents) in pending {
        new +=
            staves_registry::cosign::append(&session, layout, &digest, kind, &documents, &push)?.1;
    }
    Ok(new)
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
    let mut signed = Signed::default();
    for digest in covered_digests(layout, entry)? {
        let document = signature_document(&repository, &digest, signer)?;
        let (_, new) = staves_registry::cosign::append(
            &session,
            layout,
            &digest,
            Kind::Signatures,
            &[document],
            &push,
        )?;
        signed.new += new;
        signed.signed.push(digest);
    }
    let documents =
        attestation_documents(&repository, entry.digest.as_ref(), attestations, signer)?;
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
    let digest = crate::publish::digest_of(reference, &session)?;
    let cache = staves_repo::Cache::open(&options.cache)?;
    let scratch = cache.scratch_dir()?;
    let layout = Layout::create(scratch.path())?;
    let pulled = staves_registry::pull::pull(&connect, &digest, "verify", &[], &layout)?;
    let entry = pulled.entry.ok_or_else(|| PipelineError::NotVerified {
        reference: reference.to_string(),
        why: format!("{digest} could not be read"),
    })?;
    let digests = covered_digests(&layout, &entry)?;
    let fetch =
        |one: &str, kind: Kind| -> Result<Vec<staves_registry::cosign::Attached>, PipelineError> {
            Ok(staves_registry::cosign::read(
                &connect, &session, &layout, one, kind,
            )?)
        };
    check(&reference.to_string(), &digest, &digests, key, fetch)
}

/// Verifies the image an OCI layout holds (`select` picks an entry by its name) from the
/// signatures and attestations written into the layout with it.
pub fn verify_layout(
    layout: &Layout,
    select: Option<&str>,
    key: &PublicKey,
) -> Result<Verified, PipelineError> {
    let entry = staves_registry::push::select(layout, select)?;
    let digests = covered_digests(layout, &entry)?;
    check(
        &layout.root().display().to_string(),
        entry.digest.as_ref(),
        &digests,
        key,
        |one, kind| layout_documents(layout, one, kind),
    )
}

/// The checks of a verification, wherever the documents come from: a signature by `key`
/// of each of `digests`, every attestation signed by `key` and about `digest`.
fn check(
    name: &str,
    digest: &str,
    digests: &[String],
    key: &PublicKey,
    fetch: impl Fn(&str, Kind) -> Result<Vec<staves_registry::cosign::Attached>, PipelineError>,
) -> Result<Verified, PipelineError> {
    let refused = |why: String| PipelineError::NotVerified {
        reference: name.to_owned(),
        why,
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut verified = Verified {
        digest: digest.to_owned(),
        ..Verified::default()
    };
    for one in digests {
        let documents = fetch(one, Kind::Signatures)?;
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
    for d in fetch(digest, Kind::Attestations)? {
        let envelope = staves_attest::Envelope::from_json(&d.bytes)?;
        let payload = envelope
            .verify(key)
            .map_err(|e| refused(format!("an attestation: {e}")))?;
        let statement = Statement::from_json(&payload)?;
        if !statement.names(digest) {
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
