//! Signing keys: ECDSA P-256 (what cosign makes; signatures ASN.1 DER over SHA-256, with
//! RFC 6979 nonces, so signing the same payload twice gives the same bytes) and Ed25519.
//! Private keys are PKCS#8 PEM, public keys SPKI PEM. A private key is never printed: its
//! `Debug` names only the algorithm.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use p256::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};

use crate::AttestError;

/// Something that signs payloads: a key in hand, or an external signer (a KMS, an HSM,
/// a keyless flow) behind a command.
pub trait Signer: Send + Sync {
    /// The signature of `payload`.
    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, AttestError>;
    /// Its public key, where known (an external signer's is given separately).
    fn public(&self) -> Option<PublicKey>;
}

/// A private key.
pub enum SigningKey {
    /// ECDSA on NIST P-256 with SHA-256.
    P256(p256::ecdsa::SigningKey),
    /// Ed25519.
    Ed25519(ed25519_dalek::SigningKey),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SigningKey::P256(_) => f.write_str("SigningKey(ECDSA P-256)"),
            SigningKey::Ed25519(_) => f.write_str("SigningKey(Ed25519)"),
        }
    }
}

impl SigningKey {
    /// A new ECDSA P-256 key from the system's random source.
    pub fn generate() -> SigningKey {
        SigningKey::P256(p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng))
    }

    /// A new Ed25519 key from the system's random source.
    pub fn generate_ed25519() -> SigningKey {
        SigningKey::Ed25519(ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng))
    }

    /// Reads a PKCS#8 PEM private key (`PRIVATE KEY`), or a SEC1 one (`EC PRIVATE KEY`).
    pub fn from_pem(text: &str) -> Result<SigningKey, AttestError> {
        if let Ok(key) = p256::ecdsa::SigningKey::from_pkcs8_pem(text) {
            return Ok(SigningKey::P256(key));
        }
        if let Ok(key) = ed25519_dalek::SigningKey::from_pkcs8_pem(text) {
            return Ok(SigningKey::Ed25519(key));
        }
        if let Ok(secret) = p256::SecretKey::from_sec1_pem(text) {
            return Ok(SigningKey::P256(secret.into()));
        }
        let what = if text.contains("ENCRYPTED") {
            "an encrypted key; export it unencrypted (PKCS#8) for Staves, or sign with `--sign-with`"
        } else {
            "not an unencrypted ECDSA P-256 or Ed25519 private key in PEM (PKCS#8 or SEC1)"
        };
        Err(AttestError::Key(what.into()))
    }

    /// Reads the key in `path`.
    pub fn read(path: &Path) -> Result<SigningKey, AttestError> {
        let bytes = staves_fs::read_regular(path, 64 << 10).map_err(|source| AttestError::Io {
            path: path.to_owned(),
            source,
        })?;
        let text = String::from_utf8(bytes)
            .map_err(|_| AttestError::Key(format!("{}: not a PEM file", path.display())))?;
        SigningKey::from_pem(&text)
            .map_err(|e| AttestError::Key(format!("{}: {e}", path.display())))
    }

    /// The key as PKCS#8 PEM.
    pub fn to_pem(&self) -> Result<String, AttestError> {
        let pem = match self {
            SigningKey::P256(key) => key.to_pkcs8_pem(LineEnding::LF),
            SigningKey::Ed25519(key) => key.to_pkcs8_pem(LineEnding::LF),
        }
        .map_err(|e| AttestError::Key(e.to_string()))?;
        Ok(pem.to_string())
    }

    /// Its public half.
    pub fn public_key(&self) -> PublicKey {
        match self {
            SigningKey::P256(key) => PublicKey::P256(*key.verifying_key()),
            SigningKey::Ed25519(key) => PublicKey::Ed25519(key.verifying_key()),
        }
    }

    /// Writes `PREFIX.key` (mode 0600) and `PREFIX.pub`, refusing to replace either.
    pub fn write_pair(&self, prefix: &Path) -> Result<(PathBuf, PathBuf), AttestError> {
        let key = prefix.with_extension("key");
        let public = prefix.with_extension("pub");
        for path in [&key, &public] {
            if path.exists() {
                return Err(AttestError::Key(format!(
                    "{} exists; remove it or choose another prefix",
                    path.display()
                )));
            }
        }
        write_private(&key, self.to_pem()?.as_bytes())?;
        write_private(&public, self.public_key().to_pem()?.as_bytes())?;
        set_mode(&public, 0o644)?;
        Ok((key, public))
    }
}

/// Writes `bytes` to `path` through a temporary file that is 0600 before anything is in it.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), AttestError> {
    let io = |source| AttestError::Io {
        path: path.to_owned(),
        source,
    };
    let mut tmp = staves_fs::temp_file_in(staves_fs::parent_of(path)).map_err(io)?;
    set_mode(tmp.path(), 0o600)?;
    tmp.write_all(bytes).map_err(io)?;
    staves_fs::persist(tmp, path).map_err(io)?;
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<(), AttestError> {
    let permissions = std::os::unix::fs::PermissionsExt::from_mode(mode);
    std::fs::set_permissions(path, permissions).map_err(|source| AttestError::Io {
        path: path.to_owned(),
        source,
    })
}

impl Signer for SigningKey {
    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, AttestError> {
        use p256::ecdsa::signature::Signer as _;
        Ok(match self {
            SigningKey::P256(key) => {
                let signature: p256::ecdsa::DerSignature = key.sign(payload);
                signature.as_bytes().to_vec()
            }
            SigningKey::Ed25519(key) => key.sign(payload).to_bytes().to_vec(),
        })
    }

    fn public(&self) -> Option<PublicKey> {
        Some(self.public_key())
    }
}

/// A public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// ECDSA P-256.
    P256(p256::ecdsa::VerifyingKey),
    /// Ed25519.
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl PublicKey {
    /// Reads an SPKI PEM public key (`PUBLIC KEY`).
    pub fn from_pem(text: &str) -> Result<PublicKey, AttestError> {
        if let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_pem(text) {
            return Ok(PublicKey::P256(key));
        }
        if let Ok(key) = ed25519_dalek::VerifyingKey::from_public_key_pem(text) {
            return Ok(PublicKey::Ed25519(key));
        }
        Err(AttestError::Key(
            "not an ECDSA P-256 or Ed25519 public key in PEM (SPKI, `PUBLIC KEY`)".into(),
        ))
    }

    /// Reads the public key in `path`; a private key file gives its public half.
    pub fn read(path: &Path) -> Result<PublicKey, AttestError> {
        let bytes = staves_fs::read_regular(path, 64 << 10).map_err(|source| AttestError::Io {
            path: path.to_owned(),
            source,
        })?;
        let text = String::from_utf8_lossy(&bytes);
        PublicKey::from_pem(&text)
            .or_else(|_| SigningKey::from_pem(&text).map(|k| k.public_key()))
            .map_err(|e| AttestError::Key(format!("{}: {e}", path.display())))
    }

    /// The key as SPKI PEM.
    pub fn to_pem(&self) -> Result<String, AttestError> {
        match self {
            PublicKey::P256(key) => key.to_public_key_pem(LineEnding::LF),
            PublicKey::Ed25519(key) => key.to_public_key_pem(LineEnding::LF),
        }
        .map_err(|e| AttestError::Key(e.to_string()))
    }

    /// The key as SPKI DER.
    pub fn to_der(&self) -> Vec<u8> {
        match self {
            PublicKey::P256(key) => key.to_public_key_der(),
            PublicKey::Ed25519(key) => key.to_public_key_der(),
        }
        .map(|d| d.into_vec())
        .unwrap_or_default()
    }

    /// What securesystemslib and in-toto call its scheme.
    pub fn scheme(&self) -> &'static str {
        match self {
            PublicKey::P256(_) => "ecdsa-sha2-nistp256",
            PublicKey::Ed25519(_) => "ed25519",
        }
    }

    /// Checks `signature` of `payload`: DER (or the raw 64 bytes) for P-256, 64 bytes for
    /// Ed25519.
    pub fn verify(&self, payload: &[u8], signature: &[u8]) -> Result<(), AttestError> {
        use p256::ecdsa::signature::Verifier as _;
        let bad = |why: String| AttestError::BadSignature(why);
        match self {
            PublicKey::P256(key) => {
                let parsed = p256::ecdsa::Signature::from_der(signature)
                    .or_else(|_| p256::ecdsa::Signature::from_slice(signature))
                    .map_err(|e| bad(format!("not an ECDSA signature: {e}")))?;
                key.verify(payload, &parsed)
                    .map_err(|_| bad("the signature does not verify with this key".into()))
            }
            PublicKey::Ed25519(key) => {
                let parsed = ed25519_dalek::Signature::from_slice(signature)
                    .map_err(|e| bad(format!("not an Ed25519 signature: {e}")))?;
                key.verify_strict(payload, &parsed)
                    .map_err(|_| bad("the signature does not verify with this key".into()))
            }
        }
    }
}

/// A signer behind a command: the payload on its standard input, the signature (base64,
/// or raw bytes) on its standard output. The seam for KMS, HSM and keyless signing.
#[derive(Debug, Clone)]
pub struct CommandSigner {
    /// The program and its arguments.
    pub argv: Vec<String>,
    /// Its public key, to check what it signs.
    pub public: Option<PublicKey>,
}

impl Signer for CommandSigner {
    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, AttestError> {
        let (program, args) = self
            .argv
            .split_first()
            .ok_or_else(|| AttestError::Signer("no signer command given".into()))?;
        let failed = |why: String| AttestError::Signer(format!("`{program}`: {why}"));
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| failed(e.to_string()))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A signer that exits without reading it all says why on stderr, below.
            match stdin.write_all(payload) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    return Err(failed(e.to_string()));
                }
                _ => {}
            }
        }
        let out = child
            .wait_with_output()
            .map_err(|e| failed(e.to_string()))?;
        if !out.status.success() {
            return Err(failed(format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let signature = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .unwrap_or(out.stdout.clone());
        if signature.is_empty() {
            return Err(failed("it printed no signature".into()));
        }
        if let Some(public) = &self.public {
            public.verify(payload, &signature).map_err(|e| {
                failed(format!(
                    "what it printed is not a signature by the key given: {e}"
                ))
            })?;
        }
        Ok(signature)
    }

    fn public(&self) -> Option<PublicKey> {
        self.public.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_pair_is_written_private_and_read_back_as_itself() {
        let dir = tempfile::tempdir().expect("tmp");
        for (name, key) in [
            ("p256", SigningKey::generate()),
            ("ed25519", SigningKey::generate_ed25519()),
        ] {
            let (private, public) = key.write_pair(&dir.path().join(name)).expect("writes");
            let mode = std::os::unix::fs::PermissionsExt::mode(
                &std::fs::metadata(&private).expect("key").permissions(),
            );
            assert_eq!(mode & 0o777, 0o600, "{name}");
            let read = SigningKey::read(&private).expect("reads");
            assert_eq!(read.public_key(), key.public_key());
            assert_eq!(PublicKey::read(&public).expect("reads"), key.public_key());
            // The private key file gives its public half too; a key is never replaced.
            assert_eq!(PublicKey::read(&private).expect("reads"), key.public_key());
            assert!(key.write_pair(&dir.path().join(name)).is_err());
            // Debug names the algorithm, never the key.
            assert!(!format!("{read:?}").contains("PRIVATE"));
        }
        assert!(SigningKey::from_pem("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----").is_err());
    }

    #[test]
    fn a_command_signer_is_checked_against_its_public_key() {
        let key = SigningKey::generate();
        // A command that prints something that is no signature by the key.
        let liar = CommandSigner {
            argv: vec!["sh".into(), "-c".into(), "cat >/dev/null; echo AAAA".into()],
            public: Some(key.public_key()),
        };
        let error = liar.sign(b"payload").expect_err("refused");
        assert!(error.to_string().contains("not a signature"), "{error}");
        let failing = CommandSigner {
            argv: vec!["sh".into(), "-c".into(), "echo no key >&2; exit 3".into()],
            public: None,
        };
        assert!(
            failing
                .sign(b"x")
                .expect_err("fails")
                .to_string()
                .contains("no key")
        );
    }
}
