//! Fetching over HTTP(S) (and `file:` for local archives), with retries and progress.
//!
//! A fetch is retried with exponential backoff when the network fails, the server answers
//! 408, 429 or 5xx, or the bytes arrive corrupted; a 404 or another client error is final.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use crate::error::RepoError;

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
    fn retrying(&self, what: &str, error: &RepoError, delay: Duration) {
        let _ = (what, error, delay);
    }
}

/// A [`Progress`] that shows nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;
impl Progress for NoProgress {}

/// An HTTP client shared by every fetch of a run.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    attempts: u32,
    base_delay: Duration,
    progress: Arc<dyn Progress>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

impl Default for Client {
    fn default() -> Self {
        Client::new(Arc::new(NoProgress))
    }
}

impl Client {
    /// A client reporting to `progress`, with 5 attempts per fetch.
    pub fn new(progress: Arc<dyn Progress>) -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(15)))
            .timeout_recv_response(Some(Duration::from_secs(30)))
            .timeout_recv_body(Some(Duration::from_secs(300)))
            .user_agent(concat!("staves/", env!("CARGO_PKG_VERSION")))
            .build();
        let agent = ureq::Agent::with_parts(
            config,
            ureq::unversioned::transport::DefaultConnector::new(),
            CachingResolver::default(),
        );
        Client {
            agent,
            attempts: 5,
            base_delay: Duration::from_millis(200),
            progress,
        }
    }

    /// Changes the number of attempts and the first backoff delay (doubling each time).
    pub fn with_retries(mut self, attempts: u32, base_delay: Duration) -> Self {
        self.attempts = attempts.max(1);
        self.base_delay = base_delay;
        self
    }

    /// The progress sink of this client.
    pub fn progress(&self) -> &dyn Progress {
        &*self.progress
    }

    /// Fetches `url` into memory (for release files; indices stream through [`Client::stream`]),
    /// refusing more than `limit` bytes.
    pub fn get_bytes(&self, url: &str, limit: u64) -> Result<Vec<u8>, RepoError> {
        self.stream(url, None, |body| {
            let mut out = Vec::new();
            body.take(limit + 1)
                .read_to_end(&mut out)
                .map_err(network(url))?;
            if out.len() as u64 > limit {
                return Err(RepoError::TooLarge {
                    what: url.to_owned(),
                    limit,
                });
            }
            Ok(out)
        })
    }

    /// Opens `url` and hands the body to `consume`, retrying the whole exchange (including
    /// whatever `consume` verifies) on transient failures. `consume` must start afresh on
    /// each call. Read errors of the body must be mapped with [`network`].
    pub fn stream<T>(
        &self,
        url: &str,
        size: Option<u64>,
        mut consume: impl FnMut(&mut dyn Read) -> Result<T, RepoError>,
    ) -> Result<T, RepoError> {
        let mut attempt = 1;
        loop {
            self.progress.started(url, size);
            let result = self.open(url).and_then(|mut body| {
                let mut counted = Counted {
                    inner: &mut *body,
                    progress: &*self.progress,
                };
                consume(&mut counted)
            });
            self.progress.finished(url);
            match result {
                Err(e) if attempt < self.attempts && is_transient(&e) => {
                    self.backoff(url, &e, attempt);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Opens `url` from byte `from` on. Returns the body and whether it starts at `from`
    /// (a `206`, or a local file); otherwise the body starts at byte 0 again.
    pub fn open_range(
        &self,
        url: &str,
        from: u64,
    ) -> Result<(Box<dyn Read + Send>, bool), RepoError> {
        if crate::archive_path::url_climbs(url) {
            return Err(RepoError::Malformed {
                what: url.to_owned(),
                message: "the path climbs with `..`; refusing to fetch it".into(),
            });
        }
        if let Some(path) = url
            .strip_prefix("file://")
            .or_else(|| url.strip_prefix("file:"))
        {
            let mut file = std::fs::File::open(path).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => RepoError::Status {
                    url: url.to_owned(),
                    status: 404,
                },
                _ => RepoError::io("reading", path)(e),
            })?;
            std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(from))
                .map_err(RepoError::io("reading", path))?;
            return Ok((Box::new(file), true));
        }
        let mut request = self.agent.get(url);
        if from > 0 {
            request = request.header("Range", format!("bytes={from}-"));
        }
        match request.call() {
            Ok(response) => {
                let partial = response.status() == 206;
                Ok((Box::new(response.into_body().into_reader()), partial))
            }
            Err(ureq::Error::StatusCode(status)) => Err(RepoError::Status {
                url: url.to_owned(),
                status,
            }),
            Err(e) => Err(RepoError::Network {
                url: url.to_owned(),
                message: e.to_string(),
            }),
        }
    }

    /// Number of attempts per fetch.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Sleeps before attempt `attempt` (1-based) and reports the retry.
    pub(crate) fn backoff(&self, what: &str, error: &RepoError, attempt: u32) {
        let delay = (self.base_delay * 2u32.saturating_pow(attempt.saturating_sub(1)))
            .min(Duration::from_secs(10));
        tracing::debug!("retrying {what} in {delay:?}: {error}");
        self.progress.retrying(what, error, delay);
        std::thread::sleep(delay);
    }

    fn open(&self, url: &str) -> Result<Box<dyn Read + Send>, RepoError> {
        self.open_range(url, 0).map(|(body, _)| body)
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

/// Maps a read error of a response body to a (retriable) network error.
pub fn network(url: &str) -> impl Fn(std::io::Error) -> RepoError + '_ {
    move |e| RepoError::Network {
        url: url.to_owned(),
        message: e.to_string(),
    }
}

pub(crate) fn is_transient(e: &RepoError) -> bool {
    match e {
        RepoError::Network { .. } | RepoError::Checksum { .. } | RepoError::Size { .. } => true,
        RepoError::Status { status, .. } => matches!(status, 408 | 429 | 500..=599),
        _ => false,
    }
}

/// Counts body bytes into the progress sink as they are read.
struct Counted<'a> {
    inner: &'a mut (dyn Read + Send),
    progress: &'a dyn Progress,
}

impl Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advanced(n as u64);
        Ok(n)
    }
}
