//! OpenPGP keyrings and the signature policy for release files.
//!
//! A signature counts only when it was made by a key (primary or subkey) in the keyring, with
//! a hash other than MD5, SHA-1 or RIPEMD-160, and verifies over the exact bytes. Subkeys must
//! carry a valid binding signature from their primary key. A key that is revoked or expired
//! now signs nothing, as with gpgv (apt's `EXPKEYSIG`, `REVKEYSIG`); neither does an expired
//! signature. Debian signs each release with several keys; one good signature from the
//! keyring is enough, as with apt.

use std::io::Cursor;
use std::path::Path;
use std::time::SystemTime;

use pgp::composed::SignedPublicSubKey;
use pgp::composed::{
    CleartextSignedMessage, Deserializable, DetachedSignature, PublicOrSecret, SignedPublicKey,
};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{Signature, SignatureType};
use pgp::types::{KeyDetails, Tag, VerifyingKey};

use crate::OpenPgpError;

/// The key that made a good signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// Its fingerprint (upper-case hex).
    pub fingerprint: String,
    /// When it stops being able to sign (seconds since the epoch; the earlier of the primary
    /// key's and the subkey's expiry), `None` when it does not expire.
    pub expires: Option<u64>,
}

/// A set of public keys trusted to sign releases.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    keys: Vec<SignedPublicKey>,
}

/// The largest keyring file read: Debian's archive keyring is about 100 KB.
pub const MAX_KEYRING: u64 = 16 << 20;

/// Reads a keyring file: a regular file of at most [`MAX_KEYRING`] bytes (not a device, a
/// FIFO or a directory, which could hang or exhaust memory).
pub fn read_keyring_file(path: &Path) -> Result<Vec<u8>, OpenPgpError> {
    staves_fs::read_regular(path, MAX_KEYRING).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidData => OpenPgpError::Keyring {
            origin: path.display().to_string(),
            message: e.to_string(),
        },
        _ => OpenPgpError::Io {
            path: path.to_owned(),
            source: e,
        },
    })
}

impl Keyring {
    /// Reads keyring files, binary (`.gpg`) or armored (`.asc`), each possibly holding
    /// several keys.
    pub fn from_files<P: AsRef<Path>>(paths: &[P]) -> Result<Self, OpenPgpError> {
        let mut ring = Keyring::default();
        for path in paths {
            let path = path.as_ref();
            let bytes = read_keyring_file(path)?;
            ring.add_bytes(&bytes, &path.display().to_string())?;
        }
        Ok(ring)
    }

    /// Adds the keys held in `bytes` (binary or armored); `origin` names them in errors.
    pub fn add_bytes(&mut self, bytes: &[u8], origin: &str) -> Result<(), OpenPgpError> {
        let bad = |message: String| OpenPgpError::Keyring {
            origin: origin.to_owned(),
            message,
        };
        let before = self.keys.len();
        const ARMOR: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
        let text = std::str::from_utf8(bytes)
            .ok()
            .filter(|t| t.contains(ARMOR));
        // An armored file may hold several blocks one after another; parse each on its own.
        let blocks: Vec<&[u8]> = match text {
            Some(t) => t
                .match_indices(ARMOR)
                .map(|(i, _)| &t.as_bytes()[i..])
                .collect(),
            None => vec![bytes],
        };
        for block in blocks {
            let (keys, _) = PublicOrSecret::from_reader_many(Cursor::new(block))
                .map_err(|e| bad(format!("not an OpenPGP keyring ({e})")))?;
            for key in keys {
                match key {
                    Ok(PublicOrSecret::Public(k)) => self.keys.push(k),
                    Ok(PublicOrSecret::Secret(k)) => self.keys.push(k.to_public_key()),
                    Err(e) => tracing::debug!("{origin}: skipping unreadable key: {e}"),
                }
            }
        }
        if self.keys.len() == before {
            return Err(bad("holds no OpenPGP public key".into()));
        }
        Ok(())
    }

    /// Number of primary keys held.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the keyring holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Verifies a clear-signed `InRelease` and returns the signed text (LF line endings).
    pub fn verify_cleartext(&self, armored: &str, what: &str) -> Result<String, OpenPgpError> {
        self.verify_cleartext_by(armored, what, SystemTime::now())
            .map(|(text, _)| text)
    }

    /// Like [`Keyring::verify_cleartext`] at time `now`, also naming the key that made the
    /// good signature.
    pub fn verify_cleartext_by(
        &self,
        armored: &str,
        what: &str,
        now: SystemTime,
    ) -> Result<(String, Signer), OpenPgpError> {
        let refuse = |message: String| OpenPgpError::Signature {
            what: what.to_owned(),
            message,
        };
        let (msg, _) = CleartextSignedMessage::from_string(armored)
            .map_err(|e| refuse(format!("not a clear-signed OpenPGP message ({e})")))?;
        let signed = msg.signed_text();
        let signer = self.check_any(msg.signatures().iter(), signed.as_bytes(), what, now)?;
        Ok((signed.replace("\r\n", "\n"), signer))
    }

    /// Verifies a detached signature (`Release.gpg`, armored or binary) over `data` at time
    /// `now` and returns the key that made the good signature.
    pub fn verify_detached(
        &self,
        data: &[u8],
        signature: &[u8],
        what: &str,
        now: SystemTime,
    ) -> Result<Signer, OpenPgpError> {
        let refuse = |message: String| OpenPgpError::Signature {
            what: what.to_owned(),
            message,
        };
        let sigs: Vec<DetachedSignature> = if signature.starts_with(b"-----BEGIN") {
            let (iter, _) = DetachedSignature::from_armor_many(Cursor::new(signature))
                .map_err(|e| refuse(format!("unreadable signature ({e})")))?;
            iter.filter_map(Result::ok).collect()
        } else {
            DetachedSignature::from_bytes_many(Cursor::new(signature))
                .map_err(|e| refuse(format!("unreadable signature ({e})")))?
                .filter_map(Result::ok)
                .collect()
        };
        self.check_any(sigs.iter().map(|s| &s.signature), data, what, now)
    }

    /// Accepts when one signature verifies under the policy, naming its key; otherwise
    /// explains the refusals.
    fn check_any<'s>(
        &self,
        signatures: impl Iterator<Item = &'s Signature>,
        data: &[u8],
        what: &str,
        now: SystemTime,
    ) -> Result<Signer, OpenPgpError> {
        let now = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX));
        let mut reasons = Vec::new();
        for sig in signatures {
            match self.check_one(sig, data, now) {
                Ok(signer) => return Ok(signer),
                Err(reason) => reasons.push(reason),
            }
        }
        let message = if reasons.is_empty() {
            "carries no signature".to_owned()
        } else {
            format!(
                "no valid signature from the keyring: {}",
                reasons.join("; ")
            )
        };
        Err(OpenPgpError::Signature {
            what: what.to_owned(),
            message,
        })
    }

    fn check_one(&self, sig: &Signature, data: &[u8], now: u32) -> Result<Signer, String> {
        let issuers: Vec<String> = sig
            .issuer_fingerprint()
            .iter()
            .map(|f| hex::encode_upper(f.as_bytes()))
            .chain(
                sig.issuer_key_id()
                    .iter()
                    .map(|k| hex::encode_upper(k.as_ref())),
            )
            .collect();
        let label = issuers
            .first()
            .cloned()
            .unwrap_or_else(|| "unknown key".into());
        match sig.hash_alg() {
            Some(HashAlgorithm::Md5 | HashAlgorithm::Sha1 | HashAlgorithm::Ripemd160) | None => {
                return Err(format!("signature by {label} uses a weak or unknown hash"));
            }
            Some(_) => {}
        }
        if let (Some(created), Some(lifetime)) = (sig.created(), sig.signature_expiration_time())
            && lifetime.as_secs() != 0
            && u64::from(created.as_secs()) + u64::from(lifetime.as_secs()) <= u64::from(now)
        {
            return Err(format!("signature by {label} expired"));
        }
        let mut known = false;
        let mut unusable_because = None;
        for key in &self.keys {
            let primary_matches = issuer_matches(&issuers, &key.primary_key);
            if primary_matches {
                known = true;
                if sig.verify(&key.primary_key, data).is_ok() {
                    match validity(key, None, now) {
                        Ok(expires) => {
                            return Ok(Signer {
                                fingerprint: fingerprint(&key.primary_key),
                                expires,
                            });
                        }
                        Err(why) => unusable_because = Some(why),
                    }
                }
            }
            for sub in &key.public_subkeys {
                if issuer_matches(&issuers, &sub.key) {
                    known = true;
                    if sub.verify_bindings(&key.primary_key).is_err() {
                        continue;
                    }
                    if sig.verify(&sub.key, data).is_ok() {
                        match validity(key, Some(sub), now) {
                            Ok(expires) => {
                                return Ok(Signer {
                                    fingerprint: fingerprint(&sub.key),
                                    expires,
                                });
                            }
                            Err(why) => unusable_because = Some(why),
                        }
                    }
                }
            }
        }
        if let Some(why) = unusable_because {
            return Err(format!("signature by {label} is from a key that {why}"));
        }
        Err(if known {
            format!("signature by {label} does not verify (the file was altered)")
        } else {
            format!("signed by {label}, which is not in the keyring")
        })
    }
}

fn fingerprint(key: &impl KeyDetails) -> String {
    hex::encode_upper(key.fingerprint().as_bytes())
}

/// Whether the primary key of `key` — or its subkey `sub` — may sign at `now`: `Ok` with
/// its expiry (if any), or why not.
fn validity(
    key: &SignedPublicKey,
    sub: Option<&SignedPublicSubKey>,
    now: u32,
) -> Result<Option<u64>, String> {
    let primary = &key.primary_key;
    if key
        .details
        .revocation_signatures
        .iter()
        .any(|s| s.verify_key(primary).is_ok())
    {
        return Err("is revoked".into());
    }
    // The newest valid self-signature says when the primary key expires.
    let mut self_signatures: Vec<&Signature> = key
        .details
        .direct_signatures
        .iter()
        .filter(|s| s.verify_key(primary).is_ok())
        .collect();
    for user in &key.details.users {
        self_signatures.extend(user.signatures.iter().filter(|s| {
            s.typ() != Some(SignatureType::CertRevocation)
                && s.verify_certification(primary, Tag::UserId, &user.id)
                    .is_ok()
        }));
    }
    let mut expires = expiry(primary.created_at().as_secs(), &self_signatures);
    if let Some(sub) = sub {
        let checked: Vec<&Signature> = sub
            .signatures
            .iter()
            .filter(|s| s.verify_subkey_binding(primary, &sub.key).is_ok())
            .collect();
        if checked
            .iter()
            .any(|s| s.typ() == Some(SignatureType::SubkeyRevocation))
        {
            return Err("is a revoked subkey".into());
        }
        let bindings: Vec<&Signature> = checked
            .into_iter()
            .filter(|s| s.typ() == Some(SignatureType::SubkeyBinding))
            .collect();
        if let Some(sub_expires) = expiry(sub.key.created_at().as_secs(), &bindings) {
            expires = Some(expires.map_or(sub_expires, |e| e.min(sub_expires)));
        }
    }
    match expires {
        Some(until) if until <= u64::from(now) => Err(match (u64::from(now) - until) / 86_400 {
            0 => "expired today".to_owned(),
            days => format!("expired {days} days ago"),
        }),
        _ => Ok(expires),
    }
}

/// When a key created at `created` expires per the newest of `signatures`, if it does.
fn expiry(created: u32, signatures: &[&Signature]) -> Option<u64> {
    let newest = signatures
        .iter()
        .max_by_key(|s| s.created().map_or(0, |t| t.as_secs()))?;
    let lifetime = newest.key_expiration_time().filter(|d| d.as_secs() != 0)?;
    Some(u64::from(created) + u64::from(lifetime.as_secs()))
}

fn issuer_matches(issuers: &[String], key: &impl VerifyingKey) -> bool {
    let fp = fingerprint(key);
    let id = hex::encode_upper(key.legacy_key_id().as_ref());
    issuers.iter().any(|i| *i == fp || *i == id)
}
