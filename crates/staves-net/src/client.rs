//! The client every fetch goes through: one agent per trust (built on first use, so a run
//! that fetches nothing reads no certificate store), a proxy chosen per address, apt's
//! credentials matched per address (redirects followed here, so each hop is matched anew
//! and a redirect elsewhere never carries them), and offline as a refusal before any
//! connection.

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::{Counted, Credentials, NetError, Proxies, Retry, Transient, Trust, USER_AGENT};

/// Receives progress of downloads; the CLI draws it, libraries and tests ignore it.
pub trait Progress: Send + Sync {
    /// A download of `what` begins; `size` when known in advance.
    fn started(&self, what: &str, size: Option<u64>) {
        let _ = (what, size);
    }
    /// `bytes` more bytes arrived.
    fn advanced(&self, bytes: u64) {
        let _ = bytes;
    }
    /// The download of `what` ended (successfully or not).
    fn finished(&self, what: &str) {
        let _ = what;
    }
    /// A cached copy of `what` was not what was verified (`why`) and is fetched again.
    fn repaired(&self, what: &str, why: &str) {
        let _ = (what, why);
    }
    /// A failed attempt will be retried after `delay`.
    fn retrying(&self, what: &str, error: &dyn std::error::Error, delay: Duration) {
        let _ = (what, error, delay);
    }
    /// `what` came from somewhere else than asked (a snapshot archive, say).
    fn note(&self, what: &str) {
        let _ = what;
    }
}

/// A [`Progress`] that shows nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;
impl Progress for NoProgress {}

/// How a run reaches the network: plain values the CLI fills.
#[derive(Debug, Clone)]
pub struct NetOptions {
    /// Refuse every fetch: what the caches lack is an error naming it.
    pub offline: bool,
    /// PEM files of authorities trusted besides the system's store (`--ca-cert`).
    pub ca_certificates: Vec<PathBuf>,
    /// Credential files read before apt's own (`--auth-file`, `STAVES_AUTH_FILE`).
    pub auth_files: Vec<PathBuf>,
    /// Read apt's `/etc/apt/auth.conf.d/*.conf` and `/etc/apt/auth.conf` too.
    pub system_credentials: bool,
    /// Follow `http_proxy`, `https_proxy`, `all_proxy` and `no_proxy`.
    pub proxies_from_env: bool,
    /// How failed exchanges are tried again.
    pub retry: Retry,
}

impl Default for NetOptions {
    fn default() -> Self {
        NetOptions {
            offline: false,
            ca_certificates: Vec::new(),
            auth_files: Vec::new(),
            system_credentials: true,
            proxies_from_env: true,
            retry: Retry::default(),
        }
    }
}

/// The most redirects one fetch follows.
const MAX_REDIRECTS: usize = 10;

/// An HTTP client shared by every fetch of a run; clones share connections.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
    progress: Arc<dyn Progress>,
}

struct Shared {
    options: NetOptions,
    proxies: Proxies,
    credentials: Credentials,
    /// Extra CA files for addresses under a prefix (a repository's `ca-cert`).
    scoped: Vec<(String, Vec<PathBuf>)>,
    /// One agent per set of CA files (`None`: plain HTTP, which reads no certificate
    /// store), built on first use.
    agents: Mutex<HashMap<Option<Vec<PathBuf>>, Arc<Connector>>>,
}

/// An agent and the trust it was built with.
type Connector = (ureq::Agent, Trust);

impl Shared {
    fn new(options: NetOptions, proxies: Proxies, credentials: Credentials) -> Shared {
        Shared {
            options,
            proxies,
            credentials,
            scoped: Vec::new(),
            agents: Mutex::new(HashMap::new()),
        }
    }

    /// The same settings, with connections of its own.
    fn derived(&self) -> Shared {
        Shared {
            scoped: self.scoped.clone(),
            ..Shared::new(
                self.options.clone(),
                self.proxies.clone(),
                self.credentials.clone(),
            )
        }
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

impl Default for Client {
    /// Online, the system's trust and apt's credentials, proxies from the environment.
    fn default() -> Self {
        let options = NetOptions::default();
        Client {
            shared: Arc::new(Shared::new(
                options,
                Proxies::from_env().unwrap_or_default(),
                Credentials::load(&[], true).unwrap_or_default(),
            )),
            progress: Arc::new(NoProgress),
        }
    }
}

impl Client {
    /// A client for `options`: the named CA and credential files are read now, so a
    /// mistake in them is reported before any work; the system store on first use.
    pub fn new(options: NetOptions) -> Result<Client, NetError> {
        for path in &options.ca_certificates {
            crate::trust::read_ca_file(path)?;
        }
        let credentials = Credentials::load(&options.auth_files, options.system_credentials)?;
        let proxies = if options.proxies_from_env {
            Proxies::from_env()?
        } else {
            Proxies::default()
        };
        Ok(Client {
            shared: Arc::new(Shared::new(options, proxies, credentials)),
            progress: Arc::new(NoProgress),
        })
    }

    /// An offline client: every fetch is refused.
    pub fn offline() -> Client {
        let options = NetOptions {
            offline: true,
            system_credentials: false,
            proxies_from_env: false,
            ..NetOptions::default()
        };
        Client {
            shared: Arc::new(Shared::new(
                options,
                Proxies::default(),
                Credentials::default(),
            )),
            progress: Arc::new(NoProgress),
        }
    }

    /// This client reporting to `progress`, sharing its connections.
    pub fn with_progress(&self, progress: Arc<dyn Progress>) -> Client {
        Client {
            shared: self.shared.clone(),
            progress,
        }
    }

    /// A client that also trusts the authorities of `ca_certificates` for addresses under
    /// `prefix` (a repository's own `ca-cert`); the same client when there are none.
    pub fn trusting_under(
        &self,
        prefix: &str,
        ca_certificates: &[PathBuf],
    ) -> Result<Client, NetError> {
        if ca_certificates.is_empty() {
            return Ok(self.clone());
        }
        for path in ca_certificates {
            crate::trust::read_ca_file(path)?;
        }
        let mut shared = self.shared.derived();
        shared
            .scoped
            .push((prefix.to_owned(), ca_certificates.to_vec()));
        Ok(Client {
            shared: Arc::new(shared),
            progress: self.progress.clone(),
        })
    }

    /// Changes how failed exchanges are tried again.
    pub fn with_retry(&self, retry: Retry) -> Client {
        let mut shared = self.shared.derived();
        shared.options.retry = retry;
        Client {
            shared: Arc::new(shared),
            progress: self.progress.clone(),
        }
    }

    /// Whether every fetch is refused.
    pub fn is_offline(&self) -> bool {
        self.shared.options.offline
    }

    /// The retry policy.
    pub fn retry(&self) -> Retry {
        self.shared.options.retry
    }

    /// The progress sink of this client.
    pub fn progress(&self) -> &dyn Progress {
        &*self.progress
    }

    /// The credentials this client sends.
    pub fn credentials(&self) -> &Credentials {
        &self.shared.credentials
    }

    /// The agent for `url`: this client's trust, with the CA files scoped to the longest
    /// prefix of `url` (built on first use).
    fn agent(&self, url: &str) -> Result<Arc<Connector>, NetError> {
        // Plain HTTP (Debian's mirrors, as a rule) needs no trust: no store is read for it.
        let plain = url.starts_with("http://");
        let mut files = self.shared.options.ca_certificates.clone();
        if let Some((_, extra)) = self
            .shared
            .scoped
            .iter()
            .filter(|(prefix, _)| url.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
        {
            files.extend(extra.iter().cloned());
        }
        let mut agents = self.shared.agents.lock().map_err(|_| NetError::Config {
            path: PathBuf::from("agents"),
            message: "a thread failed while building an agent".into(),
        })?;
        let key = (!plain).then_some(files);
        if let Some(found) = agents.get(&key) {
            return Ok(found.clone());
        }
        let trust = match &key {
            Some(files) => Trust::load(files)?,
            None => Trust::none(),
        };
        let config = ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(15)))
            .timeout_recv_response(Some(Duration::from_secs(30)))
            .timeout_recv_body(Some(Duration::from_secs(300)))
            .user_agent(USER_AGENT)
            .max_redirects(0)
            .http_status_as_error(false)
            // Proxies are chosen per address, curl's way, not ureq's.
            .proxy(None)
            .tls_config(trust.tls_config())
            .build();
        let agent = ureq::Agent::with_parts(
            config,
            ureq::unversioned::transport::DefaultConnector::new(),
            CachingResolver::default(),
        );
        let built = Arc::new((agent, trust));
        agents.insert(key, built.clone());
        Ok(built)
    }

    /// For requests other than a fetch (an upload, a removal): the agent, with this client's
    /// trust and timeouts, and the proxy for `url`. Redirects are not followed and statuses
    /// come back as responses; the caller reads them.
    pub fn agent_for(&self, url: &str) -> Result<(ureq::Agent, Option<ureq::Proxy>), NetError> {
        if self.is_offline() {
            return Err(NetError::Offline {
                url: url.to_owned(),
            });
        }
        let uri: ureq::http::Uri = url.parse().map_err(|_| NetError::Refused {
            url: url.to_owned(),
            message: "not a URL".into(),
        })?;
        let proxy = self
            .shared
            .proxies
            .for_address(
                uri.scheme_str().unwrap_or_default(),
                uri.host().unwrap_or_default(),
            )
            .cloned();
        Ok((self.agent(url)?.0.clone(), proxy))
    }

    /// Fetches `url` into memory, refusing more than `limit` bytes.
    pub fn get_bytes(&self, url: &str, limit: u64) -> Result<Vec<u8>, NetError> {
        self.stream(url, None, |body| read_bounded(body, url, limit))
    }

    /// Fetches `url` into memory asking for the content type `accept` (an index that
    /// negotiates, as PEP 691 does), refusing more than `limit` bytes; retried while the
    /// failure is transient.
    pub fn get_accepting(&self, url: &str, accept: &str, limit: u64) -> Result<Vec<u8>, NetError> {
        if self.is_offline() {
            return Err(NetError::Offline {
                url: url.to_owned(),
            });
        }
        self.retry().run(
            || {
                let response = self.call(url, 0, Some(accept))?;
                read_bounded(&mut response.into_body().into_reader(), url, limit)
            },
            |e, delay| self.progress.retrying(url, e, delay),
        )
    }

    /// Opens `url` and hands the body to `consume`, retrying the whole exchange (with what
    /// `consume` checks) while it fails transiently. `consume` must start afresh on each
    /// call; read errors of the body are mapped with [`network`].
    pub fn stream<T, E: Transient + From<NetError> + std::error::Error>(
        &self,
        url: &str,
        size: Option<u64>,
        mut consume: impl FnMut(&mut dyn Read) -> Result<T, E>,
    ) -> Result<T, E> {
        self.retry().run(
            || {
                self.progress.started(url, size);
                let result = self
                    .open_range(url, 0)
                    .map_err(E::from)
                    .and_then(|(mut body, _)| {
                        consume(&mut Counted::new(&mut *body, |n| self.progress.advanced(n)))
                    });
                self.progress.finished(url);
                result
            },
            |e, delay| {
                tracing::debug!("retrying {url} in {delay:?}: {e}");
                self.progress.retrying(url, e, delay);
            },
        )
    }

    /// Opens `url` from byte `from` on. Returns the body and whether it starts at `from`
    /// (a `206`, or a local file); otherwise the body starts at byte 0 again.
    pub fn open_range(
        &self,
        url: &str,
        from: u64,
    ) -> Result<(Box<dyn Read + Send>, bool), NetError> {
        if staves_deb::archive_path::url_climbs(url) {
            return Err(NetError::Refused {
                url: url.to_owned(),
                message: "the path climbs with `..`; refusing to fetch it".into(),
            });
        }
        if let Some(path) = url
            .strip_prefix("file://")
            .or_else(|| url.strip_prefix("file:"))
        {
            let io = |source| NetError::Io {
                path: PathBuf::from(path),
                source,
            };
            let mut file = std::fs::File::open(path).map_err(io)?;
            std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(from)).map_err(io)?;
            return Ok((Box::new(file), true));
        }
        if self.is_offline() {
            return Err(NetError::Offline {
                url: url.to_owned(),
            });
        }
        let response = self.call(url, from, None)?;
        let partial = response.status() == 206;
        Ok((Box::new(response.into_body().into_reader()), partial))
    }

    /// One GET, following redirects; each hop gets its own proxy and credentials.
    fn call(
        &self,
        url: &str,
        from: u64,
        accept: Option<&str>,
    ) -> Result<ureq::http::Response<ureq::Body>, NetError> {
        let mut current = url.to_owned();
        for _ in 0..=MAX_REDIRECTS {
            // Per hop: a redirect from HTTP to HTTPS gets the trust HTTPS needs.
            let agent_and_trust = self.agent(&current)?;
            let (agent, trust) = &*agent_and_trust;
            let uri: ureq::http::Uri = current.parse().map_err(|_| NetError::Refused {
                url: current.clone(),
                message: "not a URL".into(),
            })?;
            let scheme = uri.scheme_str().unwrap_or_default().to_owned();
            let mut request = agent.get(&current);
            if from > 0 {
                request = request.header("Range", format!("bytes={from}-"));
            }
            if let Some(accept) = accept {
                request = request.header("Accept", accept);
            }
            let auth = self.shared.credentials.for_url(&current);
            if let Some(entry) = auth {
                request = request.header("Authorization", entry.authorization());
            }
            let proxy = self
                .shared
                .proxies
                .for_address(&scheme, uri.host().unwrap_or_default())
                .cloned();
            let response = match request.config().proxy(proxy).build().call() {
                Ok(response) => response,
                Err(e) => {
                    return Err(match NetError::from_ureq(&current, e) {
                        NetError::Untrusted { url, .. } => NetError::Untrusted {
                            detail: crate::diagnose::untrusted_detail(&url, trust.sources()),
                            url,
                        },
                        other => other,
                    });
                }
            };
            let status = response.status().as_u16();
            if matches!(status, 301 | 302 | 303 | 307 | 308) {
                let location = response
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| NetError::Refused {
                        url: current.clone(),
                        message: format!("a {status} without a Location"),
                    })?;
                let next = resolve(&uri, location);
                // apt refuses to be sent from HTTPS to plain HTTP; so does Staves.
                if scheme == "https" && !next.starts_with("https://") {
                    return Err(NetError::Refused {
                        url: current,
                        message: format!("redirected from HTTPS to `{next}`; refusing it"),
                    });
                }
                current = next;
                continue;
            }
            if status >= 400 {
                return Err(self.status_error(&current, status, auth.map(|a| a.source.as_str())));
            }
            return Ok(response);
        }
        Err(NetError::Refused {
            url: url.to_owned(),
            message: format!("more than {MAX_REDIRECTS} redirects"),
        })
    }

    fn status_error(&self, url: &str, status: u16, sent: Option<&str>) -> NetError {
        let hint = match (status, sent) {
            (401 | 403, Some(source)) => {
                Some(format!("the credentials of {source} were sent and refused"))
            }
            (401 | 403, None) => {
                let files = self.shared.credentials.files();
                Some(format!(
                    "no credentials match this address; they are read, apt's way (`machine HOST/PATH login USER password PASS`), from --auth-file, STAVES_AUTH_FILE, /etc/apt/auth.conf.d/*.conf and /etc/apt/auth.conf{}",
                    if files.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " (read: {})",
                            files
                                .iter()
                                .map(|f| f.display().to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                ))
            }
            _ => None,
        };
        NetError::Status {
            url: url.to_owned(),
            status,
            hint,
        }
    }
}

/// Where `location` points, seen from `base`.
fn resolve(base: &ureq::http::Uri, location: &str) -> String {
    let scheme = base.scheme_str().unwrap_or("http");
    let authority = base.authority().map(|a| a.as_str()).unwrap_or_default();
    if location.contains("://") {
        location.to_owned()
    } else if let Some(rest) = location.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else {
        let dir = base.path().rsplit_once('/').map_or("", |(d, _)| d);
        format!("{scheme}://{authority}{dir}/{location}")
    }
}

/// Maps a read error of a response body to a (retriable) network error.
pub fn network(url: &str) -> impl Fn(std::io::Error) -> NetError + '_ {
    move |e| NetError::Network {
        url: url.to_owned(),
        message: e.to_string(),
    }
}

/// Resolves each host once per run. ureq asks the resolver on every request, even when it
/// then reuses a pooled connection; a lost DNS datagram costs the resolver's 5-second retry,
/// so dozens of downloads would each risk that stall. apt, too, resolves a mirror once.
#[derive(Debug, Default)]
struct CachingResolver {
    inner: ureq::unversioned::resolver::DefaultResolver,
    cache: std::sync::Mutex<
        std::collections::HashMap<String, ureq::unversioned::resolver::ResolvedSocketAddrs>,
    >,
}

impl ureq::unversioned::resolver::Resolver for CachingResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let key = format!("{:?}{:?}", uri.scheme(), uri.authority());
        if let Some(found) = self.cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(found);
        }
        let found = self.inner.resolve(uri, config, timeout)?;
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(key, found.clone());
        }
        Ok(found)
    }
}

/// The whole of `body`, refused beyond `limit` bytes.
fn read_bounded(body: &mut dyn Read, url: &str, limit: u64) -> Result<Vec<u8>, NetError> {
    let mut out = Vec::new();
    body.take(limit + 1)
        .read_to_end(&mut out)
        .map_err(network(url))?;
    if out.len() as u64 > limit {
        return Err(NetError::TooLarge {
            url: url.to_owned(),
            limit,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_resolve_against_the_address() {
        let base: ureq::http::Uri = "https://a.example:8443/debian/dists/x/InRelease"
            .parse()
            .unwrap();
        assert_eq!(resolve(&base, "https://b/c"), "https://b/c");
        assert_eq!(resolve(&base, "//b/c"), "https://b/c");
        assert_eq!(
            resolve(&base, "/m/InRelease"),
            "https://a.example:8443/m/InRelease"
        );
        assert_eq!(
            resolve(&base, "Release"),
            "https://a.example:8443/debian/dists/x/Release"
        );
    }

    #[test]
    fn offline_refuses_before_connecting() {
        let client = Client::offline();
        let error = client.get_bytes("http://127.0.0.1:9/x", 10).unwrap_err();
        assert!(matches!(error, NetError::Offline { .. }), "{error}");
        let climbs = client.get_bytes("http://h/a/../b", 10).unwrap_err();
        assert!(matches!(climbs, NetError::Refused { .. }), "{climbs}");
    }
}
