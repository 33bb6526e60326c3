//! Registry credentials, found the way docker finds them.
//!
//! `$DOCKER_CONFIG/config.json` (else `~/.docker/config.json`) maps registries to
//! credentials: a helper named for that host in `credHelpers`, else the store in
//! `credsStore`, else the inline `auths` entry. Helpers are the `docker-credential-NAME`
//! programs, asked with `get` and the host on stdin.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use serde::Deserialize;

use crate::RegistryError;

/// Credentials for one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// User name and password (or token used as a password).
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// An OAuth2 refresh token (docker's `identitytoken`), exchanged at the token endpoint.
    IdentityToken(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets, not even in debug logs.
        match self {
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Credentials::IdentityToken(_) => write!(f, "IdentityToken(***)"),
        }
    }
}

impl Credentials {
    /// The `Authorization` header value for HTTP basic authentication, when this is basic.
    pub fn basic_header(&self) -> Option<String> {
        match self {
            Credentials::Basic { username, password } => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
            )),
            Credentials::IdentityToken(_) => None,
        }
    }

    /// Who these credentials name, for messages.
    pub fn describe(&self) -> String {
        match self {
            Credentials::Basic { username, .. } => format!("user `{username}`"),
            Credentials::IdentityToken(_) => "an identity token".into(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default, rename = "identitytoken")]
    identity_token: Option<String>,
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// Where docker keeps its client configuration.
pub fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker/config.json"))
}

/// The credentials docker would use for `registry` (`host[:port]`), if any.
pub fn lookup(registry: &str) -> Result<Option<Credentials>, RegistryError> {
    match docker_config_path() {
        Some(path) => lookup_in(&path, registry),
        None => Ok(None),
    }
}

/// Like [`lookup`], reading the config at `path`.
pub fn lookup_in(path: &Path, registry: &str) -> Result<Option<Credentials>, RegistryError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(RegistryError::Config {
                path: path.to_owned(),
                message: e.to_string(),
            });
        }
    };
    let config: DockerConfig =
        serde_json::from_slice(&bytes).map_err(|e| RegistryError::Config {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
    if let Some(helper) = config.cred_helpers.get(registry) {
        return from_helper(helper, registry);
    }
    if let Some(store) = &config.creds_store
        && let Some(found) = from_helper(store, registry)?
    {
        return Ok(Some(found));
    }
    let entry = config
        .auths
        .iter()
        .find(|(key, _)| auths_key_matches(key, registry));
    let Some((_, entry)) = entry else {
        return Ok(None);
    };
    if let Some(token) = &entry.identity_token
        && !token.is_empty()
    {
        return Ok(Some(Credentials::IdentityToken(token.clone())));
    }
    if let (Some(username), Some(password)) = (&entry.username, &entry.password) {
        return Ok(Some(Credentials::Basic {
            username: username.clone(),
            password: password.clone(),
        }));
    }
    let Some(auth) = &entry.auth else {
        return Ok(None);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .ok()
        .and_then(|d| String::from_utf8(d).ok())
        .and_then(|d| d.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned())))
        .ok_or_else(|| RegistryError::Config {
            path: path.to_owned(),
            message: format!("`auths.{registry}.auth` is not base64 of `user:password`"),
        })?;
    Ok(Some(Credentials::Basic {
        username: decoded.0,
        password: decoded.1,
    }))
}

/// `auths` keys are sometimes full URLs (`https://host:port/v1/`).
fn auths_key_matches(key: &str, registry: &str) -> bool {
    let host = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = host.split('/').next().unwrap_or(host);
    host == registry
}

fn from_helper(helper: &str, registry: &str) -> Result<Option<Credentials>, RegistryError> {
    let program = format!("docker-credential-{helper}");
    let failed = |message: String| RegistryError::CredentialHelper {
        program: program.clone(),
        message,
    };
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("cannot run it: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(registry.as_bytes())
            .map_err(|e| failed(e.to_string()))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| failed(e.to_string()))?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stdout);
        // The protocol's answer for "nothing stored for this host".
        if said.contains("credentials not found") {
            return Ok(None);
        }
        return Err(failed(
            format!(
                "{} {}",
                said.trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            )
            .trim()
            .to_owned(),
        ));
    }
    let answer: HelperAnswer = serde_json::from_slice(&out.stdout)
        .map_err(|e| failed(format!("unreadable answer: {e}")))?;
    Ok(Some(if answer.username == "<token>" {
        Credentials::IdentityToken(answer.secret)
    } else {
        Credentials::Basic {
            username: answer.username,
            password: answer.secret,
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, json).unwrap();
        (dir, path)
    }

    #[test]
    fn reads_inline_auths_by_host_or_url_key() {
        let (_d, path) = config(
            r#"{"auths":{"https://reg.test:5000/v1/":{"auth":"dTpwOnc="},"other:1":{"username":"a","password":"b"}}}"#,
        );
        assert_eq!(
            lookup_in(&path, "reg.test:5000").unwrap(),
            Some(Credentials::Basic {
                username: "u".into(),
                password: "p:w".into()
            })
        );
        assert_eq!(
            lookup_in(&path, "other:1").unwrap().unwrap().describe(),
            "user `a`"
        );
        assert_eq!(lookup_in(&path, "absent:1").unwrap(), None);
    }
}
