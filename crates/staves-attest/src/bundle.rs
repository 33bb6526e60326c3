//! Sigstore bundles (v0.3), as cosign 3 attaches them as OCI 1.1 referrers: one DSSE
//! envelope with what verifies it. A key-based bundle carries no certificate and no
//! transparency-log entry, only a hint naming the public key; the verifier brings the key.
//! An image's signature is a Statement of predicate type [`COSIGN_SIGN`] about its digest,
//! so signatures and attestations are verified by one path.

use base64::Engine as _;
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::{AttestError, Envelope, PublicKey};

/// The media type of a v0.3 bundle (also the referrer's `artifactType`).
pub const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The predicate type of cosign's image signature in a bundle.
pub const COSIGN_SIGN: &str = "https://sigstore.dev/cosign/sign/v1";

/// A bundle: a DSSE envelope and the hint of the key that signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// The signed envelope.
    pub envelope: Envelope,
    /// The key's hint: its SPKI's SHA-256, base64.
    pub hint: String,
}

impl Bundle {
    /// A bundle of `envelope`, signed by the key whose public half is `key`.
    pub fn new(envelope: Envelope, key: &PublicKey) -> Bundle {
        Bundle {
            envelope,
            hint: key.hint(),
        }
    }

    /// The bundle as protobuf-JSON, as Sigstore's clients read it.
    pub fn to_json(&self) -> Vec<u8> {
        let bundle = json!({
            "mediaType": BUNDLE,
            "verificationMaterial": { "publicKey": { "hint": self.hint } },
            "dsseEnvelope": self.envelope,
        });
        serde_json::to_vec(&bundle).unwrap_or_default()
    }

    /// Reads a v0.3 bundle that holds a DSSE envelope.
    pub fn from_json(bytes: &[u8]) -> Result<Bundle, AttestError> {
        let malformed = |why: String| AttestError::Malformed(format!("a Sigstore bundle: {why}"));
        let value: Value = serde_json::from_slice(bytes).map_err(|e| malformed(e.to_string()))?;
        if value["mediaType"] != BUNDLE {
            return Err(malformed(format!(
                "media type {} is not {BUNDLE}",
                value["mediaType"]
            )));
        }
        let envelope: Envelope = serde_json::from_value(value["dsseEnvelope"].clone())
            .map_err(|e| malformed(format!("no DSSE envelope: {e}")))?;
        Ok(Bundle {
            envelope,
            hint: value["verificationMaterial"]["publicKey"]["hint"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        })
    }
}

impl PublicKey {
    /// The hint a bundle names this key by: the SHA-256 of its SPKI DER, base64.
    pub fn hint(&self) -> String {
        let der = self.to_der();
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(der))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{IN_TOTO, SigningKey, Statement};

    #[test]
    fn a_bundle_reads_back_and_verifies_with_its_key() {
        let key = SigningKey::generate();
        let statement = Statement::about("app", "sha256:ab", COSIGN_SIGN, json!({}));
        let envelope = Envelope::sign(IN_TOTO, &statement.to_json(), &key).expect("signs");
        let bundle = Bundle::new(envelope, &key.public_key());
        let read = Bundle::from_json(&bundle.to_json()).expect("reads");
        assert_eq!(read, bundle);
        assert_eq!(read.hint, key.public_key().hint());
        assert_ne!(read.hint, SigningKey::generate().public_key().hint());
        read.envelope.verify(&key.public_key()).expect("verifies");
        let mut other = serde_json::from_slice::<Value>(&bundle.to_json()).expect("json");
        other["mediaType"] = "application/vnd.dev.sigstore.bundle+json;version=0.1".into();
        assert!(Bundle::from_json(&serde_json::to_vec(&other).expect("json")).is_err());
    }
}
