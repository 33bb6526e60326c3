//! Signing and attesting images, and verifying them. Signatures of the image (and of each
//! platform's manifest of an index) and in-toto Statements in DSSE envelopes go where
//! verifiers look: Sigstore bundles (v0.3) as OCI 1.1 referrers, and cosign's tag scheme
//! (`sha256-<hex>.sig`, `sha256-<hex>.att`) for registries without the referrers API. Every
//! document is signed by the one [`Signer`]; verification needs only the public key.

mod documents;
mod verify;

use serde_json::Value;
use staves_attest::{SLSA_PROVENANCE, Signer};
use staves_oci::{BlobRef, Layout};
use staves_registry::cosign::{Document, Kind};
use staves_registry::{Reference, Session};

use crate::error::PipelineError;
use crate::publish::RegistryOptions;
use documents::{Found, Signatures, in_layout, write_artifact};
pub use verify::{Verified, verify, verify_layout};

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

/// Where signatures and attestations go in a registry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SignatureFormat {
    /// Sigstore bundles where the registry has the referrers API, cosign's tags elsewhere.
    #[default]
    Auto,
    /// cosign's `.sig` and `.att` tags (cosign 2 and its verifiers).
    Tags,
    /// Sigstore bundles as referrers (through the referrers tag where there is no API).
    Bundles,
    /// Both.
    Both,
}

impl SignatureFormat {
    /// Which of the two ways `session`'s registry gets, asking it about `digest` for `Auto`.
    fn ways(self, session: &Session, digest: &str) -> Result<(bool, bool), PipelineError> {
        Ok(match self {
            SignatureFormat::Tags => (true, false),
            SignatureFormat::Bundles => (false, true),
            SignatureFormat::Both => (true, true),
            SignatureFormat::Auto => {
                let api = staves_registry::attach::has_referrers_api(session, digest)?;
                (!api, api)
            }
        })
    }
}

/// What signing did.
#[derive(Debug, Clone, Default)]
pub struct Signed {
    /// Manifests (and index) signed.
    pub signed: Vec<String>,
    /// Documents added to cosign's tags that they did not hold.
    pub new: usize,
    /// Attestations attached.
    pub attestations: usize,
    /// Sigstore bundles attached as referrers.
    pub bundles: usize,
}

/// The manifests a signature covers: `entry`, and each manifest of an index.
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

/// Writes into `layout` the signatures of `entry` (an index: it and each of its manifests)
/// as the image `repository`, and `attestations` about it, as OCI 1.1 artifacts whose
/// `subject` is what they sign, listed in `index.json` with their `artifactType`: both
/// cosign's documents and Sigstore bundles, so that `staves push` can carry either way.
/// Returns how many were written.
pub fn sign_layout(
    layout: &Layout,
    entry: &BlobRef,
    repository: &str,
    signer: &dyn Signer,
    attestations: &[Attestation],
) -> Result<usize, PipelineError> {
    let signatures = Signatures::make(repository, &covered(layout, entry)?, signer, attestations)?;
    let mut artifacts = Vec::new();
    for (subject, document) in signatures.tags.iter().chain(&signatures.bundles) {
        artifacts.push(write_artifact(layout, subject, document)?);
    }
    for document in &signatures.attestations {
        artifacts.push(write_artifact(layout, entry, document)?);
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

/// Pushes the signatures, attestations and bundles `layout` holds for `entry` (and an
/// index's manifests) to `reference`, where `entry` already is, in `format`. Returns how
/// many documents were new there.
pub fn carry(
    layout: &Layout,
    entry: &BlobRef,
    reference: &Reference,
    options: &RegistryOptions,
    format: SignatureFormat,
) -> Result<usize, PipelineError> {
    let covered = covered(layout, entry)?;
    let mut signatures = Signatures::default();
    for subject in &covered {
        let digest = subject.digest.as_ref();
        let document = |a: staves_registry::cosign::Attached| Document {
            media_type: a.descriptor.media_type,
            bytes: a.bytes,
            annotations: a.descriptor.annotations,
        };
        for a in in_layout(layout, digest, Found::Tag(Kind::Signatures))? {
            signatures.tags.push((subject.clone(), document(a)));
        }
        for a in in_layout(layout, digest, Found::Tag(Kind::Attestations))? {
            signatures.attestations.push(document(a));
        }
        for a in in_layout(layout, digest, Found::Bundles)? {
            signatures.bundles.push((subject.clone(), document(a)));
        }
    }
    if signatures.tags.is_empty() && signatures.bundles.is_empty() {
        return Ok(0);
    }
    Ok(push_signatures(layout, entry, reference, options, format, &signatures)?.new)
}

/// Signs `entry` of `layout`, already pushed to `reference` (an index: it and each of its
/// manifests), and attaches `attestations` about it, each signed by `signer`, in `format`.
pub fn sign(
    layout: &Layout,
    entry: &BlobRef,
    reference: &Reference,
    options: &RegistryOptions,
    signer: &dyn Signer,
    attestations: &[Attestation],
    format: SignatureFormat,
) -> Result<Signed, PipelineError> {
    let repository = format!("{}/{}", reference.registry, reference.repository);
    let signatures = Signatures::make(&repository, &covered(layout, entry)?, signer, attestations)?;
    push_signatures(layout, entry, reference, options, format, &signatures)
}

/// Pushes `signatures` of `entry` to `reference` the ways `format` says.
fn push_signatures(
    layout: &Layout,
    entry: &BlobRef,
    reference: &Reference,
    options: &RegistryOptions,
    format: SignatureFormat,
    signatures: &Signatures,
) -> Result<Signed, PipelineError> {
    let (session, push) = crate::publish::connect(reference, options)?;
    let (tags, bundles) = format.ways(&session, entry.digest.as_ref())?;
    let mut signed = Signed {
        signed: covered_digests(layout, entry)?,
        ..Signed::default()
    };
    if tags {
        for (subject, document) in &signatures.tags {
            let (_, new) = staves_registry::cosign::append(
                &session,
                layout,
                subject.digest.as_ref(),
                Kind::Signatures,
                std::slice::from_ref(document),
                &push,
            )?;
            signed.new += new;
        }
        if !signatures.attestations.is_empty() {
            let (_, new) = staves_registry::cosign::append(
                &session,
                layout,
                entry.digest.as_ref(),
                Kind::Attestations,
                &signatures.attestations,
                &push,
            )?;
            signed.new += new;
        }
    }
    if bundles {
        for (subject, document) in &signatures.bundles {
            staves_registry::attach::attach(
                &session,
                layout,
                subject,
                &document.media_type,
                &document.annotations,
                &document.bytes,
                &push,
            )?;
            signed.bundles += 1;
        }
    }
    signed.attestations = signatures.attestations.len();
    Ok(signed)
}
