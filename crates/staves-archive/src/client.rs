//! The client side of changes: `.deb` files uploaded in one `multipart/form-data` request
//! (streamed from disk, published together), and removals; the server's JSON answers read
//! back.

use std::io::Read;
use std::path::{Path, PathBuf};

/// What the archive said of one package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// `added`, `unchanged` or `removed`.
    pub status: String,
    /// `name version (arch)`.
    pub package: String,
}

/// Why a change failed.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The archive could not be reached.
    #[error("{url}: {message}")]
    Network {
        /// Where.
        url: String,
        /// What happened.
        message: String,
    },
    /// The archive refused the change.
    #[error("the archive answered {status}: {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The archive's message.
        message: String,
    },
}

/// How to reach the archive.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    /// `http(s)://HOST:PORT`.
    pub base: String,
    /// The bearer token.
    pub token: String,
    /// A PEM file of certificate authorities to trust instead of the built-in roots, for an
    /// archive whose certificate a private authority signed.
    pub ca_certificates: Option<PathBuf>,
}

impl Connection {
    /// The network layer's client for this archive: the system's trust plus the named CA
    /// file, proxies from the environment, retries.
    fn client(&self) -> Result<staves_net::Client, UploadError> {
        let options = staves_net::NetOptions {
            ca_certificates: self.ca_certificates.iter().cloned().collect(),
            system_credentials: false,
            ..staves_net::NetOptions::default()
        };
        staves_net::Client::new(options).map_err(|e| UploadError::Network {
            url: self.base.clone(),
            message: e.to_string(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base.trim_end_matches('/'))
    }
}

impl staves_net::Transient for UploadError {
    /// A broken connection or a 408, 429 or 5xx may pass; a refusal will not.
    fn is_transient(&self) -> bool {
        match self {
            UploadError::Network { .. } => true,
            UploadError::Refused { status, .. } => staves_net::transient_status(*status),
            UploadError::Io { .. } => false,
        }
    }
}

/// Sends one request through `client`, again while it fails transiently.
fn send(
    client: &staves_net::Client,
    url: &str,
    mut request: impl FnMut(
        &ureq::Agent,
        Option<ureq::Proxy>,
    ) -> Result<ureq::http::Response<ureq::Body>, UploadError>,
) -> Result<serde_json::Value, UploadError> {
    client.retry().run(
        || {
            let (agent, proxy) = client.agent_for(url).map_err(|e| UploadError::Network {
                url: url.to_owned(),
                message: e.to_string(),
            })?;
            answer(url, request(&agent, proxy)?)
        },
        |_, _| {},
    )
}

fn network(url: &str) -> impl Fn(ureq::Error) -> UploadError + '_ {
    move |e| UploadError::Network {
        url: url.to_owned(),
        message: staves_net::NetError::from_ureq(url, e).to_string(),
    }
}

/// Reads the answer of a change: its JSON, or the refusal.
fn answer(
    url: &str,
    mut response: ureq::http::Response<ureq::Body>,
) -> Result<serde_json::Value, UploadError> {
    let network = |message: String| UploadError::Network {
        url: url.to_owned(),
        message,
    };
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .with_config()
        .limit(1 << 24)
        .read_to_string()
        .map_err(|e| network(e.to_string()))?;
    let json: Option<serde_json::Value> = serde_json::from_str(&text).ok();
    if status != 200 {
        let message = json
            .as_ref()
            .and_then(|j| j.get("error"))
            .and_then(|e| e.as_str())
            .map_or_else(|| text.trim().to_owned(), str::to_owned);
        return Err(UploadError::Refused { status, message });
    }
    json.ok_or_else(|| network("an unreadable answer".into()))
}

/// The packages a JSON answer lists under `key`, each with `status`.
fn listed(json: &serde_json::Value, key: &str, status: &str) -> Vec<Uploaded> {
    let field = |p: &serde_json::Value, k: &str| {
        p.get(k).and_then(|v| v.as_str()).unwrap_or("?").to_owned()
    };
    json.get(key)
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .map(|p| Uploaded {
            status: p
                .get("status")
                .and_then(|s| s.as_str())
                .unwrap_or(status)
                .to_owned(),
            package: format!(
                "{} {} ({})",
                field(p, "package"),
                field(p, "version"),
                field(p, "architecture")
            ),
        })
        .collect()
}

/// Uploads `files` to `suite`'s `component` in one request: the archive adds all of them or
/// none, and publishes once. Returns what it said of each package, then what its retention
/// removed.
pub fn upload(
    to: &Connection,
    suite: &str,
    component: &str,
    files: &[PathBuf],
) -> Result<Vec<Uploaded>, UploadError> {
    let boundary = format!("staves-{:032x}", rand::random::<u128>());
    let url = to.url(&format!("upload/{suite}/{component}"));
    let client = to.client()?;
    let json = send(&client, &url, |agent, proxy| {
        let (mut body, length) = multipart(&boundary, files)?;
        agent
            .post(&url)
            .config()
            .proxy(proxy)
            .http_status_as_error(false)
            .build()
            .header("Authorization", &format!("Bearer {}", to.token))
            .header("Content-Length", &length.to_string())
            .header(
                "Content-Type",
                &format!("multipart/form-data; boundary={boundary}"),
            )
            .send(ureq::SendBody::from_reader(&mut body))
            .map_err(network(&url))
    })?;
    let mut said = listed(&json, "packages", "added");
    said.extend(listed(&json, "removed", "removed"));
    Ok(said)
}

/// The `multipart/form-data` body of an upload, streamed from the files, and its length.
fn multipart(boundary: &str, files: &[PathBuf]) -> Result<(Concat, u64), UploadError> {
    let mut parts: Vec<Box<dyn Read + Send>> = Vec::new();
    let mut length = 0u64;
    for file in files {
        let io = |source| UploadError::Io {
            path: file.clone(),
            source,
        };
        let name =
            deb_name(file).ok_or_else(|| io(std::io::Error::other("not a .deb file name")))?;
        let handle = std::fs::File::open(file).map_err(io)?;
        let size = handle.metadata().map_err(io)?.len();
        let head = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"deb\"; filename=\"{name}\"\r\nContent-Type: application/vnd.debian.binary-package\r\n\r\n"
        );
        length += head.len() as u64 + size + 2;
        parts.push(Box::new(std::io::Cursor::new(head.into_bytes())));
        parts.push(Box::new(handle.take(size)));
        parts.push(Box::new(std::io::Cursor::new(b"\r\n".to_vec())));
    }
    let tail = format!("--{boundary}--\r\n");
    length += tail.len() as u64;
    parts.push(Box::new(std::io::Cursor::new(tail.into_bytes())));
    Ok((Concat(parts.into_iter().collect()), length))
}

/// Removes `name` (one `version`, one `arch`, or all) from `suite`'s `component`.
pub fn remove(
    to: &Connection,
    suite: &str,
    component: &str,
    name: &str,
    version: Option<&str>,
    arch: Option<&str>,
) -> Result<Vec<Uploaded>, UploadError> {
    let url = to.url(&format!("packages/{suite}/{component}/{name}"));
    let client = to.client()?;
    let json = send(&client, &url, |agent, proxy| {
        let mut request = agent
            .delete(&url)
            .config()
            .proxy(proxy)
            .http_status_as_error(false)
            .build()
            .header("Authorization", &format!("Bearer {}", to.token));
        if let Some(version) = version {
            request = request.query("version", version);
        }
        if let Some(arch) = arch {
            request = request.query("arch", arch);
        }
        request.call().map_err(network(&url))
    })?;
    Ok(listed(&json, "removed", "removed"))
}

fn deb_name(file: &Path) -> Option<&str> {
    file.file_name()
        .and_then(|n| n.to_str())
        .filter(|n| n.ends_with(".deb") && !n.contains(['"', '\r', '\n']))
}

/// Readers read one after the other.
struct Concat(std::collections::VecDeque<Box<dyn Read + Send>>);

impl Read for Concat {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while let Some(front) = self.0.front_mut() {
            let n = front.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            self.0.pop_front();
        }
        Ok(0)
    }
}
