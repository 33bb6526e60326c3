//! Who may change the archive: a bearer token from the `Authorization` header, either one
//! of the static tokens the archive is given (one per line of a file, compared in constant
//! time) or a JWT checked against a JWKS with the claims the suite requires. No token is
//! ever logged. Static tokens are the administrator's: they may change every suite.

use std::path::Path;

use crate::archive::Suite;
use crate::config::AuthConfig;
use crate::error::ArchiveError;
pub use crate::jwt::Denied;
use crate::jwt::JwtVerifier;

/// Every credential the archive accepts.
#[derive(Debug, Default)]
pub struct Auth {
    tokens: Option<Tokens>,
    jwt: Option<JwtVerifier>,
}

impl Auth {
    /// Reads the token file and the key set the configuration names.
    pub fn new(
        config: &AuthConfig,
        log: std::sync::Arc<dyn crate::log::ServerLog>,
    ) -> Result<Auth, ArchiveError> {
        Ok(Auth {
            tokens: config
                .token_file
                .as_deref()
                .map(Tokens::from_file)
                .transpose()?,
            jwt: config
                .jwt
                .clone()
                .map(|jwt| JwtVerifier::new(jwt, log))
                .transpose()?,
        })
    }

    /// Whether any credential is accepted at all.
    pub fn enabled(&self) -> bool {
        self.tokens.is_some() || self.jwt.is_some()
    }

    /// Checks an `Authorization` header for a change to `suite`; returns who made it, for
    /// the log. May read the JWKS again, so it blocks.
    pub fn check(&self, header: Option<&str>, suite: &Suite) -> Result<String, Denied> {
        if !self.enabled() {
            return Err(Denied::Forbidden(
                "this archive takes no uploads: it was started without tokens or [jwt]".into(),
            ));
        }
        let token = bearer(header)?;
        // A JWT is three base64url parts joined by dots; a static token has no dots.
        if let Some(jwt) = &self.jwt
            && token.split('.').count() == 3
        {
            return jwt.verify(token, &suite.claims, &suite.name);
        }
        match &self.tokens {
            Some(tokens) => tokens
                .check(Some(token))
                .map(|()| "a static token".to_owned()),
            None => Err(Denied::Invalid("the token is not a JWT".into())),
        }
    }
}

/// The token of an `Authorization: Bearer TOKEN` header.
fn bearer(header: Option<&str>) -> Result<&str, Denied> {
    // The scheme is case-insensitive (RFC 7235, section 2.1).
    header
        .and_then(|h| h.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty())
        .ok_or(Denied::Missing)
}

/// The tokens that may upload.
#[derive(Clone, Default)]
pub struct Tokens {
    tokens: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokens({} configured)", self.tokens.len())
    }
}

impl Tokens {
    /// Reads a token file: one token per line; blank lines and `#` comments are skipped.
    pub fn from_file(path: &Path) -> Result<Tokens, ArchiveError> {
        let bytes = staves_fs::read_regular(path, 1 << 20)
            .map_err(ArchiveError::io("reading the token file", path))?;
        let text = String::from_utf8_lossy(&bytes);
        let tokens: Vec<Vec<u8>> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| l.as_bytes().to_vec())
            .collect();
        if tokens.is_empty() {
            return Err(ArchiveError::Config(format!(
                "{} holds no token: write one per line",
                path.display()
            )));
        }
        if let Some(short) = tokens.iter().find(|t| t.len() < 16) {
            return Err(ArchiveError::Config(format!(
                "{}: a token of {} characters is too easy to guess; use at least 16 (`openssl rand -hex 32` makes one)",
                path.display(),
                short.len()
            )));
        }
        Ok(Tokens { tokens })
    }

    /// Checks a bearer token.
    fn check(&self, token: Option<&str>) -> Result<(), Denied> {
        let token = token.ok_or(Denied::Missing)?;
        let mut found = false;
        for known in &self.tokens {
            found |= constant_time_eq(known, token.as_bytes());
        }
        if found {
            Ok(())
        } else {
            Err(Denied::Invalid("the token is not valid here".into()))
        }
    }
}

/// Equality whose time depends on the lengths only, not on where the bytes differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_listed_bearer_token_passes() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("tokens");
        std::fs::write(&file, "# ci\n0123456789abcdef0123\n\n").expect("write");
        let auth = Auth::new(
            &AuthConfig {
                token_file: Some(file.clone()),
                jwt: None,
            },
            std::sync::Arc::new(crate::log::NoLog),
        )
        .expect("tokens");
        let suite = Suite::new("stable", &["main"], &["amd64"]);
        for scheme in ["Bearer", "bearer", "BEARER"] {
            let header = format!("{scheme} 0123456789abcdef0123");
            assert!(auth.check(Some(&header), &suite).is_ok(), "{scheme}");
        }
        assert!(matches!(
            auth.check(Some("Bearer 0123456789abcdef0124"), &suite),
            Err(Denied::Invalid(_))
        ));
        assert_eq!(auth.check(Some("Basic abc"), &suite), Err(Denied::Missing));
        assert_eq!(auth.check(None, &suite), Err(Denied::Missing));
        assert!(matches!(
            Auth::default().check(Some("Bearer 0123456789abcdef0123"), &suite),
            Err(Denied::Forbidden(_))
        ));
        std::fs::write(&file, "short\n").expect("write");
        assert!(Tokens::from_file(&file).is_err());
    }
}
