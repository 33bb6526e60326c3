//! Signatures and attestations of images, in the formats the ecosystem verifies: signing
//! keys made and read (ECDSA P-256 as cosign makes them, Ed25519 too), cosign's
//! simple-signing payload for a manifest digest, in-toto Statements (SLSA provenance v1, an
//! SBOM) in DSSE envelopes, and the checks a verifier makes of each. Nothing here touches
//! the network: moving these documents to and from a registry is the registry crate's job.

mod bundle;
mod dsse;
mod error;
mod keys;
mod provenance;
mod simple;

pub use bundle::{BUNDLE, Bundle, COSIGN_SIGN};
pub use dsse::{Envelope, IN_TOTO, Signature, Statement, pae};
pub use error::AttestError;
pub use keys::{CommandSigner, PublicKey, Signer, SigningKey};
pub use provenance::{BUILD_TYPE, Dependency, Provenance, SLSA_PROVENANCE};
pub use simple::{SIMPLE_SIGNING, simple_signing_payload, verify_simple_signing};
