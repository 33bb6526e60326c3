//! Answering a registry's authentication challenge: basic credentials as they are, or a
//! bearer token fetched from the realm the challenge names, scoped to the repository being
//! pushed (and any repository mounted from).

use std::io::Read;

use crate::session::Session;
use crate::{Credentials, RegistryError};

impl Session {
    /// The `Authorization` value that answers `challenge`.
    pub(crate) fn answer(&self, challenge: &str) -> Result<String, RegistryError> {
        let (scheme, params) = parse_challenge(challenge);
        if scheme.eq_ignore_ascii_case("basic") {
            return self
                .credentials
                .as_ref()
                .and_then(Credentials::basic_header)
                .ok_or_else(|| self.unauthorized());
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(RegistryError::Protocol {
                registry: self.reference.registry.clone(),
                message: format!("unsupported authentication challenge `{challenge}`"),
            });
        }
        let realm = params
            .iter()
            .find(|(k, _)| k == "realm")
            .map(|(_, v)| v.clone())
            .ok_or_else(|| RegistryError::Protocol {
                registry: self.reference.registry.clone(),
                message: format!("bearer challenge without a realm: `{challenge}`"),
            })?;
        let service = params
            .iter()
            .find(|(k, _)| k == "service")
            .map(|(_, v)| v.as_str());
        let mut scopes = vec![format!(
            "repository:{}:{}",
            self.reference.repository, self.actions
        )];
        if let Ok(extra) = self.extra_pull.lock() {
            scopes.extend(extra.iter().map(|r| format!("repository:{r}:pull")));
        }
        if let Some((_, s)) = params.iter().find(|(k, _)| k == "scope")
            && !scopes.contains(s)
        {
            scopes.push(s.clone());
        }
        self.fetch_token(&realm, service, &scopes)
            .map(|token| format!("Bearer {token}"))
    }

    fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
    ) -> Result<String, RegistryError> {
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(service) = service {
            query.push(("service", service));
        }
        for scope in scopes {
            query.push(("scope", scope));
        }
        let response = match &self.credentials {
            Some(Credentials::IdentityToken(token)) => {
                // The OAuth2 form takes the scopes as one space-separated value.
                let scope = scopes.join(" ");
                let mut form = vec![
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token.as_str()),
                    ("client_id", "staves"),
                    ("scope", scope.as_str()),
                ];
                if let Some(service) = service {
                    form.push(("service", service));
                }
                self.agent.post(realm).send_form(form)
            }
            credentials => {
                let url = format!(
                    "{realm}{}{}",
                    if realm.contains('?') { '&' } else { '?' },
                    encode_query(&query)
                );
                let mut request = self.agent.get(&url);
                if let Some(basic) = credentials.as_ref().and_then(|c| c.basic_header()) {
                    request = request.header("Authorization", basic);
                }
                request.call()
            }
        }
        .map_err(|e| self.classify("GET", realm, e))?;
        if matches!(response.status().as_u16(), 401 | 403) {
            return Err(self.unauthorized());
        }
        let response = self.expect(response, "GET", realm, &[200])?;
        let mut text = String::new();
        response
            .into_body()
            .into_reader()
            .take(1 << 20)
            .read_to_string(&mut text)
            .map_err(|e| self.network("GET", realm, e.to_string()))?;
        #[derive(serde::Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let token: Token = serde_json::from_str(&text).map_err(|e| RegistryError::Protocol {
            registry: self.reference.registry.clone(),
            message: format!("unreadable token from {realm}: {e}"),
        })?;
        token
            .token
            .or(token.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| RegistryError::Protocol {
                registry: self.reference.registry.clone(),
                message: format!("{realm} answered without a token"),
            })
    }
}

/// Splits `Bearer realm="…",service="…"` into the scheme and its parameters.
fn parse_challenge(challenge: &str) -> (String, Vec<(String, String)>) {
    let challenge = challenge.trim();
    let (scheme, rest) = challenge.split_once(' ').unwrap_or((challenge, ""));
    let mut params = Vec::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            (&quoted[..end], quoted.get(end + 1..).unwrap_or(""))
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        params.push((key, value.to_owned()));
        rest = after.trim_start_matches([',', ' ']);
    }
    (scheme.to_owned(), params)
}

fn encode_query(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenges() {
        let (scheme, params) = parse_challenge(
            r#"Bearer realm="https://auth.test/token",service="reg.test",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(scheme, "Bearer");
        assert_eq!(
            params,
            vec![
                ("realm".to_owned(), "https://auth.test/token".to_owned()),
                ("service".to_owned(), "reg.test".to_owned()),
                ("scope".to_owned(), "repository:a/b:pull,push".to_owned()),
            ]
        );
        let (scheme, params) = parse_challenge(r#"Basic realm="Registry Realm""#);
        assert_eq!((scheme.as_str(), params.len()), ("Basic", 1));
    }

    #[test]
    fn encodes_scopes() {
        assert_eq!(
            percent_encode("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush"
        );
    }
}
