//! JWTs checked against a JWKS: the signature by a key of the set (named by `kid`), `exp`
//! and `nbf`, the issuer and audience, then the claims a suite requires. A token naming a
//! key the set lacks makes the set be read again (at most once every few seconds, so
//! forged `kid`s cannot turn the server into a load generator): keys rotated by the
//! issuer are picked up while the server runs.

use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde_json::{Map, Value};

use crate::config::{Claims, JwksSource, JwtConfig};
use crate::error::ArchiveError;

/// Why a request may not change the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// No bearer token (401).
    Missing,
    /// A token that is not one of the archive's, or not valid now (401).
    Invalid(String),
    /// A valid token without the claims the suite requires (403).
    Forbidden(String),
}

/// The least time between two readings of the key set caused by unknown keys.
const REFETCH_INTERVAL: Duration = Duration::from_secs(5);
/// The largest key set read.
const MAX_JWKS: u64 = 1 << 20;

/// A JWT checker with its current key set.
pub struct JwtVerifier {
    config: JwtConfig,
    log: std::sync::Arc<dyn crate::log::ServerLog>,
    keys: RwLock<JwkSet>,
    last_refetch: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("jwks", &self.config.jwks)
            .finish_non_exhaustive()
    }
}

/// Reads the key set from its source.
pub fn read_jwks(source: &JwksSource) -> Result<JwkSet, ArchiveError> {
    let text = match source {
        JwksSource::File(path) => {
            let bytes = staves_fs::read_regular(path, MAX_JWKS)
                .map_err(ArchiveError::io("reading the JWKS", path))?;
            String::from_utf8_lossy(&bytes).into_owned()
        }
        JwksSource::Url(url) => {
            // One attempt: a token waits on this; the next token tries again.
            let client = staves_net::Client::default().with_retry(staves_net::Retry {
                attempts: 1,
                ..staves_net::Retry::default()
            });
            let bytes = client
                .get_bytes(url, MAX_JWKS)
                .map_err(|e| ArchiveError::Config(format!("fetching the JWKS: {e}")))?;
            String::from_utf8_lossy(&bytes).into_owned()
        }
    };
    serde_json::from_str(&text)
        .map_err(|e| ArchiveError::Config(format!("the JWKS {:?} is not a key set: {e}", source)))
}

impl JwtVerifier {
    /// A checker for `config`. A key set that cannot be read now (the issuer is down) is
    /// read again when the first token comes; a file that cannot be read is an error.
    pub fn new(
        config: JwtConfig,
        log: std::sync::Arc<dyn crate::log::ServerLog>,
    ) -> Result<JwtVerifier, ArchiveError> {
        let keys = match read_jwks(&config.jwks) {
            Ok(keys) => keys,
            Err(error) if matches!(config.jwks, JwksSource::Url(_)) => {
                log.warning(&format!("{error}; it is fetched again when a token comes"));
                JwkSet { keys: Vec::new() }
            }
            Err(error) => return Err(error),
        };
        Ok(JwtVerifier {
            config,
            log,
            keys: RwLock::new(keys),
            last_refetch: Mutex::new(None),
        })
    }

    /// The key named `kid` (or the only key, for a token without `kid`).
    fn find(&self, kid: Option<&str>) -> Option<Jwk> {
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        match kid {
            Some(kid) => keys.find(kid).cloned(),
            None if keys.keys.len() == 1 => keys.keys.first().cloned(),
            None => None,
        }
    }

    /// Reads the key set again unless that was done moments ago.
    fn refetch(&self) {
        {
            let mut last = self.last_refetch.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| t.elapsed() < REFETCH_INTERVAL) {
                return;
            }
            *last = Some(Instant::now());
        }
        match read_jwks(&self.config.jwks) {
            Ok(keys) => *self.keys.write().unwrap_or_else(|p| p.into_inner()) = keys,
            Err(error) => self.log.warning(&error.to_string()),
        }
    }

    /// Checks `token` and the claims `required` adds to the configured ones; returns who
    /// the token names (`sub`), for the log.
    pub fn verify(&self, token: &str, required: &Claims, suite: &str) -> Result<String, Denied> {
        let invalid = |why: String| Denied::Invalid(why);
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| invalid(format!("not a JWT: {e}")))?;
        if matches!(
            header.alg,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        ) {
            return Err(invalid(
                "a JWT signed with a shared secret is not accepted".into(),
            ));
        }
        let kid = header.kid.as_deref();
        let jwk = match self.find(kid) {
            Some(jwk) => jwk,
            None => {
                self.refetch();
                self.find(kid).ok_or_else(|| {
                    invalid(format!(
                        "the token is signed by key `{}`, which the JWKS does not hold",
                        kid.unwrap_or("(no kid)")
                    ))
                })?
            }
        };
        if let Some(alg) = jwk.common.key_algorithm
            && format!("{alg:?}") != format!("{:?}", header.alg)
        {
            return Err(invalid(format!(
                "the token says {:?}, its key is for {alg:?}",
                header.alg
            )));
        }
        let key = DecodingKey::from_jwk(&jwk)
            .map_err(|e| invalid(format!("the JWKS key cannot be used: {e}")))?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.config.leeway;
        validation.validate_nbf = true;
        validation.set_audience(&[&self.config.audience]);
        let mut spec_claims = vec!["exp", "aud"];
        if let Some(issuer) = &self.config.issuer {
            validation.set_issuer(&[issuer]);
            spec_claims.push("iss");
        }
        validation.set_required_spec_claims(&spec_claims);
        let data =
            jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation).map_err(|e| {
                invalid(match e.kind() {
                    ErrorKind::ExpiredSignature => "the token has expired".into(),
                    ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".into(),
                    ErrorKind::InvalidSignature => {
                        "the token's signature does not verify with the JWKS key".into()
                    }
                    ErrorKind::InvalidIssuer => "the token's issuer (iss) is not accepted".into(),
                    ErrorKind::InvalidAudience => {
                        "the token is made for another audience (aud)".into()
                    }
                    ErrorKind::MissingRequiredClaim(c) => match raw_claim(token, c) {
                        Some(value) => format!(
                            "the token's `{c}` is {}, not a date as seconds since 1970",
                            printable(&value.to_string(), 40)
                        ),
                        None => format!("the token has no `{c}`"),
                    },
                    _ => format!("the token is not valid: {e}"),
                })
            })?;
        let claims = data.claims;
        for (name, accepted) in self.config.claims.iter().chain(required) {
            let value = match claims.get(name) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => {
                    return Err(Denied::Forbidden(format!(
                        "the token has no `{name}` claim, which suite `{suite}` requires"
                    )));
                }
                Some(other) => other.to_string(),
            };
            if !accepted.contains(&value) {
                return Err(Denied::Forbidden(format!(
                    "the token's `{name}` is `{value}`; suite `{suite}` accepts {}",
                    accepted
                        .iter()
                        .map(|v| format!("`{v}`"))
                        .collect::<Vec<_>>()
                        .join(" or ")
                )));
            }
        }
        Ok(claims
            .get("sub")
            .and_then(Value::as_str)
            // The subject is logged: its control characters must not forge log lines.
            .map_or_else(|| "a JWT without sub".to_owned(), |sub| printable(sub, 200)))
    }
}

/// The claim `name` of the token's payload as sent, before any validation: only to say why a
/// claim the validator could not use was refused.
fn raw_claim(token: &str, name: &str) -> Option<Value> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: Map<String, Value> = serde_json::from_slice(&bytes).ok()?;
    claims.get(name).cloned()
}

/// `text` with control characters escaped and cut to `max` characters: for messages and log
/// lines that quote what a client sent.
pub fn printable(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .take(max)
        .flat_map(char::escape_debug)
        .collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_client_sent_is_quoted_without_its_control_characters() {
        assert_eq!(printable("ci\nforged line", 200), "ci\\nforged line");
        assert!(printable(&"x".repeat(300), 200).ends_with('…'));
        use base64::Engine as _;
        let payload =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"exp":"tomorrow"}"#);
        let token = format!("e30.{payload}.signature");
        assert_eq!(raw_claim(&token, "exp"), Some(Value::from("tomorrow")));
        assert_eq!(raw_claim(&token, "aud"), None);
        assert_eq!(raw_claim("not a token", "exp"), None);
    }
}
