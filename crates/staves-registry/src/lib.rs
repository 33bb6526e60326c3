//! Publishing: the OCI distribution API, from credentials to a pushed image (and back:
//! pulling a base image pinned by digest).
//!
//! A push sends every blob the registry lacks (asking first with `HEAD`, mounting from
//! another repository of the same registry when one is known to hold it), monolithically
//! or in chunks as the size calls for, retrying transient faults, and only then the
//! manifests — children before the index — so a tag never points at missing content.
//!
//! * [`reference`]: image references, `HOST[:PORT]/REPOSITORY[:TAG][@DIGEST]`.
//! * [`credentials`]: docker's `config.json`, `credsStore` and `credHelpers`.
//! * [`session`]: requests to one repository, over TLS or (for registries marked insecure)
//!   plain HTTP, answering basic and bearer authentication challenges.
//! * [`push`]: blobs then manifests, from an OCI image layout.
//! * [`pull`]: an image pinned by digest into an OCI image layout, every blob checked.
//! * [`attach`]: a document (an SBOM) as an OCI artifact referring to a pushed image.

use std::path::PathBuf;

pub mod attach;
mod auth;
pub mod cosign;
pub mod credentials;
pub mod keyed;
pub mod pull;
pub mod push;
pub mod reference;
mod retry;
pub mod session;

pub use credentials::Credentials;
pub use push::{PushOptions, PushReport, push_layout};
pub use reference::{ImageName, Reference};
pub use session::{Session, SessionOptions};

/// Receives upload progress; the CLI draws it, libraries and tests ignore it.
pub trait Progress: Send + Sync {
    /// `bytes` more are going to be uploaded.
    fn sending(&self, bytes: u64) {
        let _ = bytes;
    }
    /// `bytes` more were handed to the network.
    fn sent(&self, bytes: u64) {
        let _ = bytes;
    }
    /// A transient failure; the step is tried again after `delay`.
    fn retrying(&self, error: &RegistryError, delay: std::time::Duration) {
        let _ = (error, delay);
    }
}

/// A [`Progress`] that shows nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;
impl Progress for NoProgress {}

/// What can go wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A reference that does not parse.
    #[error("`{reference}` is not an image reference: {why}")]
    Reference {
        /// The text given.
        reference: String,
        /// What is wrong.
        why: String,
    },
    /// docker's config.json is unreadable.
    #[error("{}: {message}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A `docker-credential-*` helper failed.
    #[error("credential helper `{program}` failed: {message}")]
    CredentialHelper {
        /// The program.
        program: String,
        /// What it said.
        message: String,
    },
    /// No connection could be made.
    #[error("cannot reach registry {registry}: {message}")]
    Unreachable {
        /// `host:port`.
        registry: String,
        /// The cause.
        message: String,
    },
    /// The TLS handshake failed, most often because the certificate's issuer is unknown.
    #[error("TLS with registry {registry} failed: {message}")]
    Tls {
        /// `host:port`.
        registry: String,
        /// The cause.
        message: String,
    },
    /// The registry refused the credentials (or wanted some and none were found).
    #[error("registry {registry} refused {who}")]
    Unauthorized {
        /// `host:port`.
        registry: String,
        /// Which credentials, or "anonymous access".
        who: String,
    },
    /// The registry answered with an error.
    #[error("{method} {url}: {status} {message}")]
    Status {
        /// Request method.
        method: String,
        /// Request URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// The registry's error codes and messages.
        message: String,
    },
    /// The connection broke mid-request.
    #[error("{method} {url}: {message}")]
    Network {
        /// Request method.
        method: String,
        /// Request URL.
        url: String,
        /// The cause.
        message: String,
    },
    /// The registry answered something the protocol does not allow.
    #[error("registry {registry}: {message}")]
    Protocol {
        /// `host:port`.
        registry: String,
        /// What was wrong.
        message: String,
    },
    /// The OCI layout to push is unreadable or incomplete.
    #[error("{}: {message}", path.display())]
    Layout {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl RegistryError {
    /// What the user can do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            RegistryError::Reference { .. } => {
                Some("write the destination as HOST[:PORT]/REPOSITORY[:TAG]".into())
            }
            RegistryError::Unreachable { registry, .. } => Some(format!(
                "check that a registry listens on {registry}; plain-HTTP registries need `--insecure-registry {registry}`"
            )),
            RegistryError::Tls { registry, .. } => Some(format!(
                "trust the registry's CA by putting it in /etc/docker/certs.d/{registry}/ca.crt (or the system store); `--insecure-registry {registry}` uses plain HTTP"
            )),
            RegistryError::Unauthorized { registry, .. } => Some(format!(
                "log in with `docker login {registry}`, or set the credentials in $DOCKER_CONFIG/config.json"
            )),
            _ => None,
        }
    }
}
