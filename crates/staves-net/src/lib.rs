//! The one network layer every fetch of Staves goes through (repositories, recipe sources,
//! registries, the archive's upload client): one agent builder — trust as the rest of the
//! system has it (the system store, `SSL_CERT_FILE`/`SSL_CERT_DIR`, extra CA files), proxies
//! as curl reads them, apt's credentials, timeouts, a user agent, each host resolved once —
//! one retry policy that never retries a permanent failure, offline as a mode of the client,
//! and the counting and hashing readers.
//!
//! A failure says what to do about it: an untrusted certificate names the certificate and
//! the ways to trust it; a 401 or 403 says whether credentials were sent and where they are
//! read from.

mod auth;
mod client;
mod diagnose;
mod error;
pub mod pinned;
mod proxy;
mod read;
mod retry;
mod trust;

pub use auth::{AuthEntry, Credentials, SYSTEM_AUTH_FILES};
pub use client::{Client, NetOptions, NoProgress, Progress, network};
pub use error::NetError;
pub use proxy::Proxies;
pub use read::{Counted, Hashing};
pub use retry::{Retry, Transient, transient_status};
pub use trust::{Trust, read_pem_certificates};

/// The user agent every request carries.
pub const USER_AGENT: &str = concat!("staves/", env!("CARGO_PKG_VERSION"));
