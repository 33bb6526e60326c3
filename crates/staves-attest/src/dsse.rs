//! DSSE envelopes of in-toto Statements: the signature is over the pre-authentication
//! encoding `DSSEv1 SP len(type) SP type SP len(body) SP body`, so a payload cannot be
//! passed off as another type.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{AttestError, PublicKey, Signer};

/// The payload type of an in-toto Statement.
pub const IN_TOTO: &str = "application/vnd.in-toto+json";

/// What is signed: `DSSEv1 <len> <type> <len> <body>`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// One signature of an envelope.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Signature {
    /// Which key (may be empty, as cosign leaves it).
    #[serde(default)]
    pub keyid: String,
    /// The signature, base64.
    pub sig: String,
}

/// A DSSE envelope.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// What the payload is.
    pub payload_type: String,
    /// The payload, base64.
    pub payload: String,
    /// Its signatures.
    pub signatures: Vec<Signature>,
}

impl Envelope {
    /// Signs `payload` of `payload_type` with `signer`.
    pub fn sign(
        payload_type: &str,
        payload: &[u8],
        signer: &dyn Signer,
    ) -> Result<Envelope, AttestError> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let signature = signer.sign(&pae(payload_type, payload))?;
        Ok(Envelope {
            payload_type: payload_type.to_owned(),
            payload: b64.encode(payload),
            signatures: vec![Signature {
                keyid: String::new(),
                sig: b64.encode(signature),
            }],
        })
    }

    /// The payload, once a signature verifies with `key`.
    pub fn verify(&self, key: &PublicKey) -> Result<Vec<u8>, AttestError> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let payload = b64
            .decode(&self.payload)
            .map_err(|e| AttestError::Malformed(format!("the envelope's payload: {e}")))?;
        let signed = pae(&self.payload_type, &payload);
        let verified = self.signatures.iter().any(|s| {
            b64.decode(&s.sig)
                .is_ok_and(|sig| key.verify(&signed, &sig).is_ok())
        });
        match verified {
            true => Ok(payload),
            false => Err(AttestError::BadSignature(
                "no signature of the envelope verifies with this key".into(),
            )),
        }
    }

    /// The envelope as JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads an envelope.
    pub fn from_json(bytes: &[u8]) -> Result<Envelope, AttestError> {
        serde_json::from_slice(bytes)
            .map_err(|e| AttestError::Malformed(format!("not a DSSE envelope: {e}")))
    }
}

/// An in-toto Statement v1 about one image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Statement {
    /// `https://in-toto.io/Statement/v1`.
    #[serde(rename = "_type")]
    pub kind: String,
    /// What it is about: `{name, digest: {sha256}}`.
    pub subject: Vec<Value>,
    /// What the predicate is.
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// The predicate.
    pub predicate: Value,
}

impl Statement {
    /// A statement about the image `name` whose manifest is `digest` (`sha256:…`).
    pub fn about(name: &str, digest: &str, predicate_type: &str, predicate: Value) -> Statement {
        Statement {
            kind: "https://in-toto.io/Statement/v1".into(),
            subject: vec![serde_json::json!({
                "name": name,
                "digest": { "sha256": digest.trim_start_matches("sha256:") },
            })],
            predicate_type: predicate_type.to_owned(),
            predicate,
        }
    }

    /// Whether one of its subjects is `digest` (`sha256:…`).
    pub fn names(&self, digest: &str) -> bool {
        let hex = digest.trim_start_matches("sha256:");
        self.subject.iter().any(|s| s["digest"]["sha256"] == hex)
    }

    /// The statement as JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads the statement a verified envelope carries.
    pub fn from_json(bytes: &[u8]) -> Result<Statement, AttestError> {
        let statement: Statement = serde_json::from_slice(bytes)
            .map_err(|e| AttestError::Malformed(format!("not an in-toto Statement: {e}")))?;
        if !statement.kind.starts_with("https://in-toto.io/Statement/") {
            return Err(AttestError::Malformed(format!(
                "`{}` is not an in-toto Statement type",
                statement.kind
            )));
        }
        Ok(statement)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SigningKey;

    #[test]
    fn the_pre_authentication_encoding_is_dsse_v1s() {
        // The example of the DSSE specification's protocol document.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
    }

    #[test]
    fn an_envelope_verifies_with_its_key_only_and_not_once_altered() {
        for key in [SigningKey::generate(), ed25519()] {
            let statement = Statement::about("app", "sha256:ab", "x", serde_json::json!({}));
            let envelope = Envelope::sign(IN_TOTO, &statement.to_json(), &key).expect("signs");
            let payload = envelope.verify(&key.public_key()).expect("verifies");
            assert!(
                Statement::from_json(&payload)
                    .expect("statement")
                    .names("sha256:ab")
            );
            let other = SigningKey::generate().public_key();
            assert!(envelope.verify(&other).is_err());
            let mut altered = envelope.clone();
            altered.payload_type = "text/plain".into();
            assert!(altered.verify(&key.public_key()).is_err());
            let mut altered = envelope.clone();
            let b64 = base64::engine::general_purpose::STANDARD;
            altered.payload = b64.encode(b"{}");
            assert!(altered.verify(&key.public_key()).is_err());
        }
    }

    fn ed25519() -> SigningKey {
        SigningKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&[7; 32]))
    }
}
