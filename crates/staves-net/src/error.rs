//! Why a fetch failed, in terms a user can act on, and whether trying again could help.

use std::path::PathBuf;

use crate::retry::{Transient, transient_status};

/// Everything that can go wrong between an address and the bytes behind it.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The server answered with an error status.
    #[error("{url}: HTTP status {status}{}", hint.as_deref().map(|h| format!(" ({h})")).unwrap_or_default())]
    Status {
        /// The address fetched.
        url: String,
        /// The status code.
        status: u16,
        /// What to do about it (for 401 and 403: the credentials sent, or where they are read).
        hint: Option<String>,
    },
    /// The connection failed or broke (worth another attempt).
    #[error("{url}: {message}")]
    Network {
        /// The address fetched.
        url: String,
        /// What failed.
        message: String,
    },
    /// The server's certificate is not signed by an authority this run trusts.
    #[error("{url}: {detail}")]
    Untrusted {
        /// The address fetched.
        url: String,
        /// Which certificate, and the ways to trust it.
        detail: String,
    },
    /// TLS failed for another reason than trust (a protocol or name mismatch).
    #[error("{url}: TLS: {message}")]
    Tls {
        /// The address fetched.
        url: String,
        /// What failed.
        message: String,
    },
    /// The client is offline and the file is not in any cache.
    #[error("{url}: not fetched, network access is disabled (--offline)")]
    Offline {
        /// The address that would have been fetched.
        url: String,
    },
    /// The body is larger than anything legitimate of its kind.
    #[error("{url} is larger than {limit} bytes; refusing it")]
    TooLarge {
        /// The address fetched.
        url: String,
        /// The limit.
        limit: u64,
    },
    /// The address, or where the server sent the client, is refused.
    #[error("{url}: {message}")]
    Refused {
        /// The address.
        url: String,
        /// Why it is refused.
        message: String,
    },
    /// A file that configures the network (a CA bundle, credentials) is unusable.
    #[error("{}: {message}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where in it.
        message: String,
    },
    /// A local file (a `file:` repository) could not be read.
    #[error("reading {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl NetError {
    /// The HTTP status of a refused request (a missing `file:` file counts as 404).
    pub fn status(&self) -> Option<u16> {
        match self {
            NetError::Status { status, .. } => Some(*status),
            NetError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                Some(404)
            }
            _ => None,
        }
    }

    /// Whether the answer is "not there" (404 or 410, or a missing local file).
    pub fn is_not_found(&self) -> bool {
        matches!(self.status(), Some(404 | 410))
    }

    /// Reads the error of a ureq call on `url`: statuses, TLS trust, and network failures
    /// told apart so that only the last are retried.
    pub fn from_ureq(url: &str, error: ureq::Error) -> NetError {
        let url = url.to_owned();
        match error {
            ureq::Error::StatusCode(status) => NetError::Status {
                url,
                status,
                hint: None,
            },
            ureq::Error::Rustls(rustls::Error::InvalidCertificate(why)) => NetError::Untrusted {
                url,
                detail: format!("the server's certificate is not trusted ({why:?})"),
            },
            ureq::Error::Rustls(other) => NetError::Tls {
                url,
                message: other.to_string(),
            },
            ureq::Error::Tls(message) => NetError::Tls {
                url,
                message: message.to_owned(),
            },
            ureq::Error::BadUri(message) => NetError::Refused { url, message },
            ureq::Error::InvalidProxyUrl => NetError::Refused {
                url,
                message: "the proxy's address (http_proxy / https_proxy) is not a URL".into(),
            },
            ureq::Error::Io(e) if is_certificate_io(&e) => NetError::Untrusted {
                url,
                detail: format!("the server's certificate is not trusted ({e})"),
            },
            other => NetError::Network {
                url,
                message: other.to_string(),
            },
        }
    }
}

/// rustls reports a refused certificate through the socket as an I/O error wrapping its own.
fn is_certificate_io(e: &std::io::Error) -> bool {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|r| matches!(r, rustls::Error::InvalidCertificate(_)))
}

impl Transient for NetError {
    /// A broken connection or a 408, 429 or 5xx may go away; trust, credentials, a 404, a
    /// refused address or the offline mode will not.
    fn is_transient(&self) -> bool {
        match self {
            NetError::Network { .. } => true,
            NetError::Status { status, .. } => transient_status(*status),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permanent_failures_are_not_retried() {
        let status = |status| NetError::Status {
            url: "u".into(),
            status,
            hint: None,
        };
        assert!(status(503).is_transient());
        assert!(status(429).is_transient());
        for permanent in [401, 403, 404, 410] {
            assert!(!status(permanent).is_transient(), "{permanent}");
        }
        let untrusted = NetError::from_ureq(
            "https://x/",
            ureq::Error::Rustls(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            )),
        );
        assert!(matches!(untrusted, NetError::Untrusted { .. }));
        assert!(!untrusted.is_transient());
        let reset = NetError::from_ureq(
            "https://x/",
            ureq::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
        );
        assert!(reset.is_transient());
        assert!(status(404).is_not_found());
    }
}
