//! A repository's release: fetched (`InRelease`, else `Release` with `Release.gpg`), verified
//! against the keyring under the signature policy, and kept with a digest of its verification
//! so a later run believes the cached copy only while it still matches.

use std::io::Write;
use std::path::PathBuf;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use super::decode::read_bounded;
use crate::keyring::Signer;
use crate::release::Release;
use crate::{Cache, Client, Freshness, KeySource, RepoError, RepositoryConfig};

pub(super) const DETACHED_MAGIC: &[u8; 16] = b"STAVES-DETACHED\n";

/// The largest release file read: Debian's are ~150 KB.
pub const MAX_RELEASE: u64 = 16 << 20;

/// The largest detached signature read.
pub(super) const MAX_SIGNATURE: u64 = 1 << 20;

impl RepositoryConfig {
    /// The verified release: from the cache when fresh enough, else fetched and verified
    /// before it replaces the cached one.
    pub(super) fn release(
        &self,
        client: &Client,
        cache: &Cache,
        freshness: Freshness,
        now: SystemTime,
    ) -> Result<Release, RepoError> {
        let cached = cache.release_path(&format!("{}.InRelease", self.cache_key()));
        let age = std::fs::metadata(&cached)
            .and_then(|m| m.modified())
            .ok()
            .map(|t| now.duration_since(t).unwrap_or_default());
        let use_cached = match (freshness, age) {
            (_, None) => false,
            (Freshness::Offline, Some(_)) => true,
            (Freshness::Refresh, Some(_)) => false,
            (Freshness::MaxAge(max), Some(age)) => age < max,
        };
        let what = format!("{}/InRelease", self.dists());
        if use_cached {
            let bytes = read_bounded(&cached, MAX_RELEASE)?;
            match self.accept(cache, &bytes, None, &what, now) {
                Ok(release) => return Ok(release),
                // Offline there is nothing to repair it with; say what is wrong.
                Err(e) if freshness == Freshness::Offline => return Err(e),
                // A copy refused after the keyring changed is not damage: fetch it again
                // without saying "repairing"; the fresh copy gives the real answer.
                Err(_) if self.keyring_changed(cache)? => {
                    cache.discard(&cached)?;
                }
                Err(e) => {
                    client
                        .progress()
                        .repaired(&what, &format!("the cached copy was refused ({e})"));
                    cache.discard(&cached)?;
                }
            }
        }
        if freshness == Freshness::Offline {
            return Err(RepoError::NotCached {
                repository: self.name.clone(),
            });
        }
        let (signed, release) = match client.get_bytes(&what, MAX_RELEASE) {
            Ok(bytes) => {
                let release = self.accept(cache, &bytes, None, &what, now)?;
                (bytes, release)
            }
            Err(e) if e.is_not_found() => self.fetch_detached(client, cache, now)?,
            Err(e) => return Err(e.into()),
        };
        // Store the release in InRelease form only when it was one; a detached pair is kept
        // as the release followed by its signature in a second file.
        cache.write_atomic(&cached, |f| {
            f.write_all(&signed)
                .map_err(RepoError::io("writing", &cached))
        })?;
        let record = self.keyring_record(cache);
        let digest = self.keyring_digest()?;
        cache.write_atomic(&record, |f| {
            f.write_all(digest.as_bytes())
                .map_err(RepoError::io("writing", &record))
        })?;
        Ok(release)
    }

    /// Where the digest of the keyring the cached release was last verified with is kept.
    fn keyring_record(&self, cache: &Cache) -> PathBuf {
        cache.release_path(&format!("{}.keyring", self.cache_key()))
    }

    /// Whether the keyring differs from the one the cached release was verified with (or
    /// that is not known): a refused copy is then the keyring's doing, not damage.
    fn keyring_changed(&self, cache: &Cache) -> Result<bool, RepoError> {
        let recorded = std::fs::read_to_string(self.keyring_record(cache)).ok();
        Ok(recorded.as_deref() != Some(self.keyring_digest()?.as_str()))
    }

    /// `Release` + `Release.gpg`, for repositories without `InRelease`.
    pub(super) fn fetch_detached(
        &self,
        client: &Client,
        cache: &Cache,
        now: SystemTime,
    ) -> Result<(Vec<u8>, Release), RepoError> {
        let what = format!("{}/Release", self.dists());
        let data = match client.get_bytes(&what, MAX_RELEASE) {
            Ok(data) => data,
            Err(e) if e.is_not_found() => return Err(self.unknown_suite(client)),
            Err(e) => return Err(e.into()),
        };
        let signature = match client.get_bytes(&format!("{what}.gpg"), MAX_SIGNATURE) {
            Ok(sig) => Some(sig),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e.into()),
        };
        let release = self.accept(cache, &data, signature.as_deref(), &what, now)?;
        // Cache the pair as one file: the signature is re-checked from it on later runs.
        let mut combined = Vec::new();
        combined.extend_from_slice(DETACHED_MAGIC);
        combined.extend_from_slice(&(data.len() as u64).to_le_bytes());
        combined.extend_from_slice(&data);
        combined.extend_from_slice(signature.as_deref().unwrap_or_default());
        Ok((combined, release))
    }

    /// Neither `InRelease` nor `Release` exists: which suites the archive does have, from
    /// the releases of the usual names (their `Suite` and `Codename` fields, unverified:
    /// they only word the error).
    fn unknown_suite(&self, client: &Client) -> RepoError {
        /// Debian's suite names and the codenames around the current releases.
        const USUAL: &[&str] = &[
            "oldoldstable",
            "oldstable",
            "stable",
            "testing",
            "unstable",
            "bullseye",
            "bookworm",
            "trixie",
            "forky",
            "sid",
        ];
        let mut available: Vec<String> = Vec::new();
        for name in USUAL.iter().filter(|n| **n != self.suite) {
            let url = format!("{}/dists/{name}/InRelease", self.uri);
            let Ok(bytes) = client.get_bytes(&url, MAX_RELEASE) else {
                continue;
            };
            let text = String::from_utf8_lossy(&bytes);
            let field = |key: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
                    .map(|v| v.trim().to_owned())
            };
            let named = match (field("Suite"), field("Codename")) {
                (Some(suite), Some(codename)) if suite != codename => {
                    format!("{suite} ({codename})")
                }
                (Some(one), _) | (None, Some(one)) => one,
                (None, None) => (*name).to_owned(),
            };
            if !available.contains(&named) {
                available.push(named);
            }
        }
        RepoError::UnknownSuite {
            repository: self.name.clone(),
            suite: self.suite.clone(),
            url: format!("{}/InRelease", self.dists()),
            available,
        }
    }

    /// Verifies (unless trusted) and parses a release, refusing expired ones.
    pub(super) fn accept(
        &self,
        cache: &Cache,
        bytes: &[u8],
        detached: Option<&[u8]>,
        what: &str,
        now: SystemTime,
    ) -> Result<Release, RepoError> {
        let (data, signature) = match split_detached(bytes) {
            Some((data, sig)) => (data, Some(sig).filter(|s| !s.is_empty())),
            None => (bytes, detached),
        };
        let text = std::str::from_utf8(data).map_err(|_| RepoError::Malformed {
            what: what.to_owned(),
            message: "release is not UTF-8 text".into(),
        })?;
        let clear_signed = text
            .trim_start()
            .starts_with("-----BEGIN PGP SIGNED MESSAGE-----");
        let body = if self.trusted {
            match clear_signed {
                true => strip_cleartext(text),
                false => text.to_owned(),
            }
        } else {
            // Verifying costs far more than everything else a warm run does, so a verified
            // body is remembered under a digest of the exact release, signature and keyring
            // bytes: any change to one of them verifies afresh.
            let memo = cache.entry(
                "releases",
                &self.verification_digest(data, signature)?,
                ".verified",
            );
            // The memo also holds when the signing key expires: past that, verify afresh (and
            // refuse). A revocation arrives as a changed keyring, which changes the digest.
            let now_secs = now
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            // The memo names the SHA-256 of the body it holds: a damaged memo is not
            // believed, the release is verified afresh and the memo rewritten.
            let remembered = read_bounded(&memo, MAX_RELEASE).ok().and_then(|bytes| {
                let text = String::from_utf8(bytes).ok()?;
                let (first, rest) = text.split_once('\n')?;
                let (second, body) = rest.split_once('\n')?;
                let until = first.strip_prefix("verified-until ")?;
                let sum = second.strip_prefix("body-sha256 ")?;
                let intact = hex::encode(Sha256::digest(body.as_bytes())) == sum;
                let fresh = until == "never" || until.parse::<u64>().is_ok_and(|u| now_secs < u);
                (intact && fresh).then(|| body.to_owned())
            });
            match remembered {
                Some(body) => body,
                None => {
                    let (body, signer) =
                        self.verify(text, data, clear_signed, signature, what, now)?;
                    let until = signer
                        .expires
                        .map_or_else(|| "never".to_owned(), |u| u.to_string());
                    let sum = hex::encode(Sha256::digest(body.as_bytes()));
                    cache.write_atomic(&memo, |f| {
                        f.write_all(
                            format!("verified-until {until}\nbody-sha256 {sum}\n{body}").as_bytes(),
                        )
                        .map_err(RepoError::io("writing", &memo))
                    })?;
                    body
                }
            }
        };
        let release = Release::parse(&body, what)?;
        if !self.trusted
            && let Some(until) = release.valid_until
        {
            let now = now
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            if until < now {
                return Err(RepoError::Expired {
                    what: what.to_owned(),
                    valid_until: release.valid_until_text.clone(),
                });
            }
        }
        Ok(release)
    }

    /// Checks the signature and returns the signed text.
    pub(super) fn verify(
        &self,
        text: &str,
        data: &[u8],
        clear_signed: bool,
        signature: Option<&[u8]>,
        what: &str,
        now: SystemTime,
    ) -> Result<(String, Signer), RepoError> {
        let keyring = self.keyring()?;
        match (clear_signed, signature) {
            (true, _) => Ok(keyring.verify_cleartext_by(text, what, now)?),
            (false, Some(sig)) => {
                let signer = keyring.verify_detached(data, sig, what, now)?;
                Ok((text.to_owned(), signer))
            }
            (false, None) => Err(staves_openpgp::OpenPgpError::Signature {
                what: what.to_owned(),
                message: "is not signed; set `trusted = true` on the repository only if \
                          you trust it without a signature"
                    .into(),
            }
            .into()),
        }
    }

    /// SHA-256 over the release, its signature and every byte of the keyring.
    pub(super) fn verification_digest(
        &self,
        data: &[u8],
        signature: Option<&[u8]>,
    ) -> Result<String, RepoError> {
        let mut hasher = Sha256::new();
        for part in [data, signature.unwrap_or_default()] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        hasher.update(self.keyring_digest()?.as_bytes());
        Ok(hex::encode(hasher.finalize()))
    }

    /// A digest of the keyring's bytes, inline or in its files.
    fn keyring_digest(&self) -> Result<String, RepoError> {
        let mut hasher = Sha256::new();
        let files = match &self.keys {
            KeySource::Inline(text) => {
                hasher.update(text.as_bytes());
                Vec::new()
            }
            KeySource::Files(paths) => paths.clone(),
            KeySource::AptDefault => apt_default_keyrings(),
        };
        for path in files {
            let bytes = crate::keyring::read_keyring_file(&path)?;
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(&bytes);
        }
        Ok(hex::encode(hasher.finalize()))
    }
}

/// apt's global keyrings: `/etc/apt/trusted.gpg` and `/etc/apt/trusted.gpg.d/*.{gpg,asc}`.
pub(super) fn apt_default_keyrings() -> Vec<PathBuf> {
    let mut paths = vec![PathBuf::from("/etc/apt/trusted.gpg")];
    if let Ok(dir) = std::fs::read_dir("/etc/apt/trusted.gpg.d") {
        let mut more: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        more.sort();
        paths.extend(more);
    }
    paths.retain(|p| {
        p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("gpg" | "asc"))
    });
    paths
}

pub(super) fn split_detached(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = bytes.strip_prefix(DETACHED_MAGIC.as_slice())?;
    let len = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?) as usize;
    let data = rest.get(8..8 + len)?;
    Some((data, &rest[8 + len..]))
}

/// The text of a clear-signed message without checking it (trusted repositories only).
pub(super) fn strip_cleartext(text: &str) -> String {
    let body = text.split_once("\n\n").map_or(text, |(_, b)| b);
    let body = body
        .split("-----BEGIN PGP SIGNATURE-----")
        .next()
        .unwrap_or("");
    body.lines()
        .map(|l| l.strip_prefix("- ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}
