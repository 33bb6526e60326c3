//! Verifying an image's signatures and attestations with a public key, wherever the
//! documents are: a registry (cosign's tags, and Sigstore bundles among its referrers) or
//! an OCI layout (its artifacts).

use base64::Engine as _;
use serde_json::Value;
use staves_attest::{BUNDLE, Bundle, COSIGN_SIGN, PublicKey, SLSA_PROVENANCE, Statement};
use staves_oci::Layout;
use staves_registry::cosign::{Attached, Kind};
use staves_registry::{Reference, Session};

use super::documents::{Found, SIGNATURE_ANNOTATION, in_layout};
use crate::error::PipelineError;
use crate::publish::RegistryOptions;

/// What verification found.
#[derive(Debug, Clone, Default)]
pub struct Verified {
    /// The digest the reference names.
    pub digest: String,
    /// Each manifest (and index) whose signature verified.
    pub signed: Vec<String>,
    /// The predicate type of each attestation, all verified (each type once).
    pub attestations: Vec<String>,
    /// Sigstore bundles by this key that verified.
    pub bundles: usize,
    /// The names the verified signatures give the image (`registry/repository` as it was
    /// signed; cosign does not bind a signature to where the image is now, nor does this).
    pub identities: Vec<String>,
    /// The provenance's predicate, when there is one.
    pub provenance: Option<Value>,
}

/// Verifies the image `reference` names: a signature by `key` of its manifest (or index and
/// every manifest in it), and every attestation attached to it
/// signed by `key` and about this digest. Anything else is an error saying what failed.
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
    let digests = super::covered_digests(&layout, &entry)?;
    let fetch = |one: &str, found: Found| -> Result<Vec<Attached>, PipelineError> {
        Ok(match found {
            Found::Tag(kind) => {
                staves_registry::cosign::read(&connect, &session, &layout, one, kind)?
            }
            Found::Bundles => {
                staves_registry::attach::referrers(&connect, &session, &layout, one, BUNDLE)?
            }
        })
    };
    let checks = Checks {
        name: reference.to_string(),
        key,
    };
    checks.run(&digest, &digests, fetch)
}

/// Verifies the image an OCI layout holds (`select` picks an entry by its name) from the
/// signatures and attestations written into the layout with it.
pub fn verify_layout(
    layout: &Layout,
    select: Option<&str>,
    key: &PublicKey,
) -> Result<Verified, PipelineError> {
    let entry = staves_registry::push::select(layout, select)?;
    let digests = super::covered_digests(layout, &entry)?;
    let checks = Checks {
        name: layout.root().display().to_string(),
        key,
    };
    checks.run(entry.digest.as_ref(), &digests, |one, found| {
        in_layout(layout, one, found)
    })
}

/// The checks of a verification, wherever the documents come from.
struct Checks<'a> {
    /// What is verified, for messages.
    name: String,
    key: &'a PublicKey,
}

impl Checks<'_> {
    fn refused(&self, why: String) -> PipelineError {
        PipelineError::NotVerified {
            reference: self.name.clone(),
            why,
        }
    }

    /// A signature by the key of each of `digests`, every attestation signed by the key and
    /// about `digest`, every bundle that names the key verified.
    fn run(
        &self,
        digest: &str,
        digests: &[String],
        fetch: impl Fn(&str, Found) -> Result<Vec<Attached>, PipelineError>,
    ) -> Result<Verified, PipelineError> {
        let mut verified = Verified {
            digest: digest.to_owned(),
            ..Verified::default()
        };
        let mut identities = Vec::new();
        for one in digests {
            let mut why = Vec::new();
            let mut good = false;
            for d in fetch(one, Found::Tag(Kind::Signatures))? {
                match self.simple_signing(&d, one) {
                    Ok(identity) => {
                        good = true;
                        identities.push(identity);
                    }
                    Err(e) => why.push(e),
                }
            }
            for statement in self.bundles(fetch(one, Found::Bundles)?, one)? {
                verified.bundles += 1;
                if statement.predicate_type == COSIGN_SIGN {
                    good = true;
                    identities.extend(
                        statement
                            .subject
                            .iter()
                            .filter_map(|s| s["name"].as_str().map(str::to_owned)),
                    );
                }
            }
            if !good {
                return Err(self.refused(match why.is_empty() {
                    true => format!(
                        "{one} has no signature ({} or a Sigstore bundle)",
                        Kind::Signatures.tag(one)
                    ),
                    false => format!(
                        "no signature of {one} verifies with the key: {}",
                        why.join("; ")
                    ),
                }));
            }
            verified.signed.push(one.clone());
        }
        identities.sort();
        identities.dedup();
        verified.identities = identities;
        let mut statements = Vec::new();
        for d in fetch(digest, Found::Tag(Kind::Attestations))? {
            let envelope = staves_attest::Envelope::from_json(&d.bytes)?;
            let payload = envelope
                .verify(self.key)
                .map_err(|e| self.refused(format!("an attestation: {e}")))?;
            statements.push(self.about(Statement::from_json(&payload)?, digest)?);
        }
        // The bundles of the entry were counted with its signature above.
        let bundled = self.bundles(fetch(digest, Found::Bundles)?, digest)?;
        statements.extend(
            bundled
                .into_iter()
                .filter(|s| s.predicate_type != COSIGN_SIGN),
        );
        for statement in statements {
            if statement.predicate_type == SLSA_PROVENANCE {
                verified.provenance = Some(statement.predicate.clone());
            }
            if !verified.attestations.contains(&statement.predicate_type) {
                verified.attestations.push(statement.predicate_type);
            }
        }
        Ok(verified)
    }

    /// A simple-signing document's signature, checked against the key and `digest`;
    /// returns the name it signs the image as.
    fn simple_signing(&self, d: &Attached, digest: &str) -> Result<String, String> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let signature = d
            .descriptor
            .annotations
            .get(SIGNATURE_ANNOTATION)
            .and_then(|s| b64.decode(s).ok())
            .ok_or("a signature layer without a signature")?;
        staves_attest::verify_simple_signing(&d.bytes, &signature, self.key, digest)
            .map_err(|e| e.to_string())
    }

    /// The Statements of the bundles that name this key (or no key), each verified and
    /// about `digest`; bundles of other keys are another signer's and are passed over.
    fn bundles(&self, found: Vec<Attached>, digest: &str) -> Result<Vec<Statement>, PipelineError> {
        let hint = self.key.hint();
        let mut out = Vec::new();
        for d in found {
            let bundle = Bundle::from_json(&d.bytes)?;
            if !bundle.hint.is_empty() && bundle.hint != hint {
                continue;
            }
            let payload = bundle
                .envelope
                .verify(self.key)
                .map_err(|e| self.refused(format!("a Sigstore bundle: {e}")))?;
            out.push(self.about(Statement::from_json(&payload)?, digest)?);
        }
        Ok(out)
    }

    /// `statement`, once it is known to be about `digest`.
    fn about(&self, statement: Statement, digest: &str) -> Result<Statement, PipelineError> {
        match statement.names(digest) {
            true => Ok(statement),
            false => Err(self.refused(format!(
                "an attestation ({}) is about another image, not {digest}",
                statement.predicate_type
            ))),
        }
    }
}
