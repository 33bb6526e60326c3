//! cosign's simple-signing payload: what a signature of an image signs — its repository and
//! its manifest digest — so that a signature cannot be moved to another image.

use serde_json::{Value, json};

use crate::{AttestError, PublicKey};

/// The media type of the payload layer of a `.sig` manifest.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

/// The payload for the manifest `digest` of `repository` (`registry/name`, no tag).
pub fn simple_signing_payload(repository: &str, digest: &str) -> Vec<u8> {
    let payload = json!({
        "critical": {
            "identity": { "docker-reference": repository },
            "image": { "docker-manifest-digest": digest },
            "type": "cosign container image signature",
        },
        "optional": null,
    });
    serde_json::to_vec(&payload).unwrap_or_default()
}

/// Checks that `signature` of `payload` verifies with `key` and that the payload signs the
/// manifest `digest`; returns the repository it names.
pub fn verify_simple_signing(
    payload: &[u8],
    signature: &[u8],
    key: &PublicKey,
    digest: &str,
) -> Result<String, AttestError> {
    key.verify(payload, signature)?;
    let value: Value = serde_json::from_slice(payload)
        .map_err(|e| AttestError::Malformed(format!("the signed payload: {e}")))?;
    let critical = &value["critical"];
    if critical["type"] != "cosign container image signature" {
        return Err(AttestError::Malformed(
            "the signed payload is not a cosign container image signature".into(),
        ));
    }
    let signed = critical["image"]["docker-manifest-digest"]
        .as_str()
        .unwrap_or_default();
    if signed != digest {
        return Err(AttestError::Mismatch(format!(
            "the signature is of {signed}, not of {digest}"
        )));
    }
    Ok(critical["identity"]["docker-reference"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Signer, SigningKey};

    #[test]
    fn a_signature_names_its_digest_and_no_other() {
        let key = SigningKey::generate();
        let digest = format!("sha256:{}", "a".repeat(64));
        let payload = simple_signing_payload("registry.example/app", &digest);
        let signature = key.sign(&payload).expect("signs");
        // RFC 6979: the same payload gives the same signature.
        assert_eq!(signature, key.sign(&payload).expect("signs"));
        let public = key.public_key();
        assert_eq!(
            verify_simple_signing(&payload, &signature, &public, &digest).expect("verifies"),
            "registry.example/app"
        );
        let moved = format!("sha256:{}", "b".repeat(64));
        assert!(matches!(
            verify_simple_signing(&payload, &signature, &public, &moved),
            Err(AttestError::Mismatch(_))
        ));
        let other = SigningKey::generate().public_key();
        assert!(matches!(
            verify_simple_signing(&payload, &signature, &other, &digest),
            Err(AttestError::BadSignature(_))
        ));
    }
}
