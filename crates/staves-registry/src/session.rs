//! One conversation with a registry about one repository: transport, TLS trust and
//! authentication.
//!
//! TLS trusts the system's roots (`$SSL_CERT_FILE`, else Debian's bundle) plus docker's
//! per-registry `certs.d/<host:port>/*.crt`. Plain HTTP is used only for registries the
//! caller names insecure. Authentication follows the registry's `WWW-Authenticate`
//! challenge: basic credentials are sent as they are; for a bearer challenge a token scoped
//! to this repository (and any repository mounted from) is fetched from the named realm.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ureq::http::{self, Response};

use staves_net::pinned::RegistryTls;

use crate::{Credentials, NoProgress, Progress, Reference, RegistryError};

/// A network configuration file (a CA bundle) as a registry error.
fn net_config(error: staves_net::NetError) -> RegistryError {
    match error {
        staves_net::NetError::Config { path, message } => RegistryError::Config { path, message },
        staves_net::NetError::Io { path, source } => RegistryError::Config {
            path,
            message: source.to_string(),
        },
        other => RegistryError::Config {
            path: PathBuf::from("network"),
            message: other.to_string(),
        },
    }
}

/// Where docker keeps per-registry CA certificates.
pub const DOCKER_CERTS_DIR: &str = "/etc/docker/certs.d";

/// How to reach registries.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// `host:port`s spoken to over plain HTTP.
    pub insecure: Vec<String>,
    /// Directory of per-registry CA certificates (`<dir>/<host:port>/*.crt`).
    pub certs_dir: PathBuf,
    /// Credentials to use instead of docker's configuration.
    pub credentials: Option<Credentials>,
    /// PEM files of authorities trusted besides the system's store (`--ca-cert`).
    pub ca_certificates: Vec<PathBuf>,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            insecure: Vec::new(),
            certs_dir: PathBuf::from(DOCKER_CERTS_DIR),
            credentials: None,
            ca_certificates: Vec::new(),
        }
    }
}

/// A request body that can be produced again when the request is retried.
pub enum Body<'a> {
    /// No body.
    Empty,
    /// Bytes in memory.
    Bytes(&'a [u8]),
    /// `len` bytes of a file from `offset`.
    File {
        /// The file.
        path: &'a Path,
        /// Where the part starts.
        offset: u64,
        /// How long it is.
        len: u64,
    },
}

/// An authenticated connection to one repository of one registry.
pub struct Session {
    pub(crate) agent: ureq::Agent,
    base: String,
    pub(crate) reference: Reference,
    pub(crate) credentials: Option<Credentials>,
    /// Repositories the token must also allow pulling from (mount sources).
    pub(crate) extra_pull: Mutex<Vec<String>>,
    /// What the token must allow on the repository: `pull,push`, or `pull` to read only.
    pub(crate) actions: &'static str,
    authorization: Mutex<Option<String>>,
    progress: Arc<dyn Progress>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("base", &self.base)
            .field("repository", &self.reference.repository)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Prepares a session for `reference`'s repository and checks that the registry answers
    /// and accepts the credentials (`GET /v2/`).
    pub fn open(reference: &Reference, options: &SessionOptions) -> Result<Session, RegistryError> {
        Session::connect(reference, options, "pull,push")
    }

    /// Like [`Session::open`], asking only to read: credentials that may pull but not push
    /// are enough.
    pub fn open_to_pull(
        reference: &Reference,
        options: &SessionOptions,
    ) -> Result<Session, RegistryError> {
        Session::connect(reference, options, "pull")
    }

    fn connect(
        reference: &Reference,
        options: &SessionOptions,
        actions: &'static str,
    ) -> Result<Session, RegistryError> {
        let insecure = options.insecure.iter().any(|h| h == &reference.registry);
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(Duration::from_secs(15)))
            .timeout_recv_response(Some(Duration::from_secs(120)))
            .user_agent(staves_net::USER_AGENT);
        let scheme = if insecure { "http" } else { "https" };
        let proxies = staves_net::Proxies::from_env().map_err(net_config)?;
        let host = reference
            .registry
            .rsplit_once(':')
            .map_or(reference.registry.as_str(), |(h, _)| h);
        config = config.proxy(proxies.for_address(scheme, host).cloned());
        let mut pinned = None;
        if !insecure {
            let trust = staves_net::Trust::load(&options.ca_certificates).map_err(net_config)?;
            match staves_net::pinned::registry_tls(&reference.registry, &options.certs_dir, &trust)
                .map_err(net_config)?
            {
                RegistryTls::Roots(tls) => config = config.tls_config(tls),
                RegistryTls::Pinned(layer) => pinned = Some(layer),
            }
        }
        let config = config.build();
        let agent = match &pinned {
            Some(layer) => layer.agent(config),
            None => ureq::Agent::new_with_config(config),
        };
        let credentials = match &options.credentials {
            Some(c) => Some(c.clone()),
            None => crate::credentials::lookup(&reference.registry)?,
        };
        let session = Session {
            agent,
            base: format!("{scheme}://{}", reference.registry),
            reference: reference.clone(),
            credentials,
            extra_pull: Mutex::new(Vec::new()),
            actions,
            authorization: Mutex::new(None),
            progress: Arc::new(NoProgress),
        };
        let ping = session.url("/v2/");
        crate::retry::retrying(5, &NoProgress, || {
            let response = session.send("GET", &ping, &[], &Body::Empty)?;
            session.expect(response, "GET", &ping, &[200]).map(drop)
        })?;
        Ok(session)
    }

    /// Reports uploaded bytes to `progress` from now on.
    pub fn set_progress(&mut self, progress: Arc<dyn Progress>) {
        self.progress = progress;
    }

    /// Where uploads are reported.
    pub fn progress(&self) -> &dyn Progress {
        &*self.progress
    }

    /// The reference this session pushes to.
    pub fn reference(&self) -> &Reference {
        &self.reference
    }

    /// An absolute URL for `path` (`/v2/…`), or `path` itself when it is already absolute
    /// (upload locations may be either).
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// Whether `url` points at the registry itself.
    fn is_registry_url(&self, url: &str) -> bool {
        url.strip_prefix(&self.base)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }

    /// `/v2/<repository>/<rest>`.
    pub fn repo_url(&self, rest: &str) -> String {
        self.url(&format!("/v2/{}/{rest}", self.reference.repository))
    }

    /// Lets the token also cover pulling from `repository` (for cross-repository mounts).
    pub fn allow_pull_from(&self, repository: &str) {
        if let Ok(mut extra) = self.extra_pull.lock()
            && !extra.iter().any(|r| r == repository)
        {
            extra.push(repository.to_owned());
            // A bearer token is scoped: drop it so the next request asks for a wider one.
            if let Ok(mut auth) = self.authorization.lock()
                && auth.as_deref().is_some_and(|a| a.starts_with("Bearer "))
            {
                *auth = None;
            }
        }
    }

    /// Sends a request, answering one authentication challenge when the registry makes one.
    pub fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &Body<'_>,
    ) -> Result<Response<ureq::Body>, RegistryError> {
        let sent_with = self.authorization.lock().ok().and_then(|a| a.clone());
        let response = self.send_once(method, url, headers, body, sent_with.as_deref())?;
        if response.status() != 401 {
            return Ok(response);
        }
        let challenge = header(&response, "www-authenticate").unwrap_or_default();
        let authorization = self.answer(&challenge)?;
        if sent_with.as_deref() == Some(authorization.as_str()) {
            return Err(self.unauthorized());
        }
        if let Ok(mut auth) = self.authorization.lock() {
            *auth = Some(authorization.clone());
        }
        let response = self.send_once(method, url, headers, body, Some(&authorization))?;
        if response.status() == 401 {
            return Err(self.unauthorized());
        }
        Ok(response)
    }

    /// Checks that `response` has one of `expected` statuses, turning the registry's error
    /// document into a message otherwise.
    pub fn expect(
        &self,
        response: Response<ureq::Body>,
        method: &str,
        url: &str,
        expected: &[u16],
    ) -> Result<Response<ureq::Body>, RegistryError> {
        let status = response.status().as_u16();
        if expected.contains(&status) {
            return Ok(response);
        }
        if status == 401 {
            return Err(self.unauthorized());
        }
        let mut text = String::new();
        let _ = response
            .into_body()
            .into_reader()
            .take(64 * 1024)
            .read_to_string(&mut text);
        Err(RegistryError::Status {
            method: method.into(),
            url: url.into(),
            status,
            message: error_message(&text),
        })
    }

    pub(crate) fn unauthorized(&self) -> RegistryError {
        RegistryError::Unauthorized {
            registry: self.reference.registry.clone(),
            who: match &self.credentials {
                Some(c) => format!(
                    "the credentials of {} for {}",
                    c.describe(),
                    self.reference.repository
                ),
                None => format!(
                    "anonymous access to {} (no credentials found)",
                    self.reference.repository
                ),
            },
        }
    }

    fn send_once(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &Body<'_>,
        authorization: Option<&str>,
    ) -> Result<Response<ureq::Body>, RegistryError> {
        let mut request = http::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        // Credentials go to the registry only, never to an upload location elsewhere (a
        // storage backend's presigned URL, say).
        if let Some(auth) = authorization
            && self.is_registry_url(url)
        {
            request = request.header("Authorization", auth);
        }
        let result = match body {
            Body::Empty => {
                let request = request
                    .header("Content-Length", "0")
                    .body(())
                    .map_err(|e| self.network(method, url, e.to_string()))?;
                self.agent.run(request)
            }
            Body::Bytes(bytes) => {
                let request = request
                    .body(*bytes)
                    .map_err(|e| self.network(method, url, e.to_string()))?;
                self.agent.run(request)
            }
            Body::File { path, offset, len } => {
                let mut file = std::fs::File::open(path).map_err(|e| RegistryError::Layout {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })?;
                std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(*offset)).map_err(|e| {
                    RegistryError::Layout {
                        path: path.to_path_buf(),
                        message: e.to_string(),
                    }
                })?;
                let progress = &*self.progress;
                let mut part = staves_net::Counted::new(
                    std::io::BufReader::with_capacity(1 << 20, file).take(*len),
                    |n| progress.sent(n),
                );
                let request = request
                    .header("Content-Length", len.to_string())
                    .body(ureq::SendBody::from_reader(&mut part))
                    .map_err(|e| self.network(method, url, e.to_string()))?;
                self.agent.run(request)
            }
        };
        result.map_err(|e| self.classify(method, url, e))
    }

    pub(crate) fn network(&self, method: &str, url: &str, message: String) -> RegistryError {
        RegistryError::Network {
            method: method.into(),
            url: url.into(),
            message,
        }
    }

    pub(crate) fn classify(&self, method: &str, url: &str, error: ureq::Error) -> RegistryError {
        let registry = self.reference.registry.clone();
        match error {
            ureq::Error::Io(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::HostUnreachable
                ) =>
            {
                RegistryError::Unreachable {
                    registry,
                    message: e.to_string(),
                }
            }
            ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => {
                RegistryError::Unreachable {
                    registry,
                    message: error.to_string(),
                }
            }
            other => match staves_net::NetError::from_ureq(url, other) {
                staves_net::NetError::Untrusted { detail, .. } => RegistryError::Tls {
                    registry,
                    message: detail,
                },
                staves_net::NetError::Tls { message, .. } => {
                    RegistryError::Tls { registry, message }
                }
                other => self.network(method, url, other.to_string()),
            },
        }
    }
}

/// A response header as text.
pub fn header(response: &Response<ureq::Body>, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The registry's `{"errors":[{"code","message"}]}` as one line, else the text itself.
fn error_message(text: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorEntry>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorEntry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    match serde_json::from_str::<Errors>(text) {
        Ok(errors) if !errors.errors.is_empty() => errors
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.code, e.message))
            .collect::<Vec<_>>()
            .join("; "),
        _ => text.trim().chars().take(200).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_only_go_to_the_registry_itself() {
        let session = Session {
            agent: ureq::Agent::new_with_defaults(),
            base: "https://reg.test:5000".into(),
            reference: Reference::parse("reg.test:5000/app").expect("reference"),
            credentials: None,
            extra_pull: Mutex::new(Vec::new()),
            actions: "pull,push",
            authorization: Mutex::new(None),
            progress: Arc::new(NoProgress),
        };
        assert!(session.is_registry_url("https://reg.test:5000/v2/app/blobs/uploads/x"));
        assert!(!session.is_registry_url("https://reg.test:50001/v2/"));
        assert!(!session.is_registry_url("https://reg.test:5000.evil.test/v2/"));
        assert!(!session.is_registry_url("https://storage.test/upload?sig=1"));
    }

    #[test]
    fn reads_registry_errors() {
        assert_eq!(
            error_message(
                r#"{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match"}]}"#
            ),
            "DIGEST_INVALID: provided digest did not match"
        );
        assert_eq!(error_message("plain words\n"), "plain words");
    }
}
