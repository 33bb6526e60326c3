//! OpenPGP, for both sides of an archive.
//!
//! * [`verify`]: the client's keyrings and its signature policy for release files.
//! * [`SigningKey`]: the archives Staves serves: a signing key made once and kept, and the
//!   two signatures apt reads — `InRelease` (cleartext-signed `Release`) and `Release.gpg`
//!   (detached). Keys are v4 Ed25519 (EdDSA), which bookworm's `gpgv` and newer verifiers
//!   (`sqv`) both accept; every signature hashes with SHA-512, as the newest verifiers
//!   require. The tests check them with [`verify`] and, in the archive's tests, with apt.

pub mod verify;

pub use verify::{Keyring, Signer};

use pgp::composed::{
    CleartextSignedMessage, Deserializable, DetachedSignature, KeyType, SecretKeyParamsBuilder,
    SignedPublicKey, SignedSecretKey,
};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{SignatureConfig, SignatureType, Subpacket, SubpacketData};
use pgp::ser::Serialize;
use pgp::types::{KeyDetails, Password, Timestamp};

/// Why a key could not be made, read or used, or a signature was refused.
#[derive(Debug, thiserror::Error)]
pub enum OpenPgpError {
    /// A keyring could not be read or holds no usable key.
    #[error("keyring {origin}: {message}")]
    Keyring {
        /// Path or description of the keyring.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// A signature is missing, invalid or made by an unknown key.
    #[error("{what}: {message}")]
    Signature {
        /// The signed file.
        what: String,
        /// Why it was refused.
        message: String,
    },
    /// A keyring file could not be read.
    #[error("reading keyring {path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The key text is not an OpenPGP secret key Staves can sign with.
    #[error("{origin}: {message}")]
    Key {
        /// Where the key came from.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// Signing failed.
    #[error("signing {what}: {message}")]
    Sign {
        /// What was signed.
        what: String,
        /// The library's explanation.
        message: String,
    },
}

/// An archive's signing key.
#[derive(Debug, Clone)]
pub struct SigningKey {
    secret: SignedSecretKey,
}

fn key_error(origin: &str) -> impl Fn(pgp::errors::Error) -> OpenPgpError + '_ {
    move |e| OpenPgpError::Key {
        origin: origin.to_owned(),
        message: e.to_string(),
    }
}

impl SigningKey {
    /// Makes a new Ed25519 signing key for `user_id` (`Name <address>`).
    pub fn generate(user_id: &str) -> Result<SigningKey, OpenPgpError> {
        let params = SecretKeyParamsBuilder::default()
            .key_type(KeyType::Ed25519Legacy)
            .can_certify(true)
            .can_sign(true)
            .primary_user_id(user_id.to_owned())
            .preferred_hash_algorithms(vec![HashAlgorithm::Sha512, HashAlgorithm::Sha256].into())
            .build()
            .map_err(|e| OpenPgpError::Key {
                origin: "a new key".into(),
                message: e.to_string(),
            })?;
        let secret = params
            .generate(rand::thread_rng())
            .map_err(key_error("a new key"))?;
        Ok(SigningKey { secret })
    }

    /// Reads an armored secret key (unprotected: the file's permissions protect it).
    pub fn from_armored(text: &str, origin: &str) -> Result<SigningKey, OpenPgpError> {
        let (secret, _) = SignedSecretKey::from_string(text).map_err(key_error(origin))?;
        secret.verify_bindings().map_err(key_error(origin))?;
        Ok(SigningKey { secret })
    }

    /// The secret key, armored, to keep.
    pub fn secret_armored(&self) -> Result<String, OpenPgpError> {
        self.secret
            .to_armored_string(None.into())
            .map_err(key_error("the secret key"))
    }

    fn public(&self) -> SignedPublicKey {
        self.secret.to_public_key()
    }

    /// The public key, armored (`.asc`), for clients to fetch.
    pub fn public_armored(&self) -> Result<String, OpenPgpError> {
        self.public()
            .to_armored_string(None.into())
            .map_err(key_error("the public key"))
    }

    /// The public key as a binary keyring (`.gpg`), what apt's `signed-by` reads.
    pub fn public_binary(&self) -> Result<Vec<u8>, OpenPgpError> {
        self.public()
            .to_bytes()
            .map_err(key_error("the public key"))
    }

    /// The key's fingerprint, upper-case hex.
    pub fn fingerprint(&self) -> String {
        format!("{:X}", self.secret.fingerprint())
    }

    /// The hashed and unhashed subpackets every signature carries: when, and by whom.
    fn config(&self, typ: SignatureType) -> Result<SignatureConfig, OpenPgpError> {
        let sign = |e: pgp::errors::Error| OpenPgpError::Sign {
            what: "a signature's subpackets".into(),
            message: e.to_string(),
        };
        let mut config = SignatureConfig::v4(typ, self.secret.algorithm(), HashAlgorithm::Sha512);
        config.hashed_subpackets = vec![
            Subpacket::regular(SubpacketData::SignatureCreationTime(Timestamp::now()))
                .map_err(sign)?,
            Subpacket::regular(SubpacketData::IssuerFingerprint(self.secret.fingerprint()))
                .map_err(sign)?,
        ];
        config.unhashed_subpackets = vec![
            Subpacket::regular(SubpacketData::IssuerKeyId(self.secret.legacy_key_id()))
                .map_err(sign)?,
        ];
        Ok(config)
    }

    /// `text` cleartext-signed, as `InRelease` holds it.
    pub fn sign_cleartext(&self, text: &str, what: &str) -> Result<String, OpenPgpError> {
        let sign = |e: pgp::errors::Error| OpenPgpError::Sign {
            what: what.to_owned(),
            message: e.to_string(),
        };
        let config = self.config(SignatureType::Text)?;
        let message =
            CleartextSignedMessage::new(text, config, &self.secret.primary_key, &Password::empty())
                .map_err(sign)?;
        message.to_armored_string(None.into()).map_err(sign)
    }

    /// A detached binary signature of `data`, as `Release.gpg` holds it.
    pub fn sign_detached(&self, data: &[u8], what: &str) -> Result<Vec<u8>, OpenPgpError> {
        let sign = |e: pgp::errors::Error| OpenPgpError::Sign {
            what: what.to_owned(),
            message: e.to_string(),
        };
        let config = self.config(SignatureType::Binary)?;
        let signature = config
            .sign(&self.secret.primary_key, &Password::empty(), data)
            .map_err(sign)?;
        DetachedSignature::new(signature).to_bytes().map_err(sign)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Keyring;

    #[test]
    fn the_client_verifies_what_the_key_signs_and_refuses_a_changed_text() {
        let key = SigningKey::generate("Staves test <archive@localhost>").expect("key");
        let again = SigningKey::from_armored(&key.secret_armored().expect("armor"), "test")
            .expect("read back");
        assert_eq!(again.fingerprint(), key.fingerprint());
        let mut ring = Keyring::default();
        ring.add_bytes(&key.public_binary().expect("public"), "test")
            .expect("keyring");
        let release = "Origin: test\nSuite: stable\nSHA256:\n 0123 10 main/binary-amd64/Packages\n";
        let signed = key.sign_cleartext(release, "Release").expect("sign");
        assert!(signed.contains("Hash: SHA512"), "{signed}");
        let text = ring.verify_cleartext(&signed, "InRelease").expect("good");
        assert_eq!(text.trim_end(), release.trim_end());
        assert!(
            ring.verify_cleartext(&signed.replace("Origin: test", "Origin: evil"), "InRelease")
                .is_err()
        );
        let detached = key
            .sign_detached(release.as_bytes(), "Release")
            .expect("sign");
        let now = std::time::SystemTime::now();
        ring.verify_detached(release.as_bytes(), &detached, "Release.gpg", now)
            .expect("good detached");
        assert!(
            ring.verify_detached(b"Origin: evil\n", &detached, "Release.gpg", now)
                .is_err()
        );
        let armored = key.public_armored().expect("armor");
        assert!(armored.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"));
    }
}
