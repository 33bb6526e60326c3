//! The archive server: a Debian repository that apt uses as it is, and that takes uploads.
//!
//! * [`archive`]: the archive on disk: the pool, each suite's package list, and indices
//!   published as a new generation switched to atomically, signed, with `by-hash` files.
//! * [`control`]: an upload's control paragraph checked before it reaches an index.
//! * [`blocks`]: compressed indices from cached blocks, so a change recompresses one block.
//! * [`release`]: the `Release` file and its dates.
//! * [`config`]: the server's configuration file.
//! * [`auth`], [`jwt`]: who may upload: static tokens, JWTs against a JWKS.
//! * [`tls`]: HTTPS, handshakes off the accepting loop.
//! * [`connections`]: connections bounded in number and in how long a quiet one is kept.
//! * [`server`]: HTTP: the static tree, and uploads streamed, checked and published.
//! * [`client`]: `staves upload`'s side of an upload.
//! * [`log`]: where the server says what it did (the caller's [`ServerLog`]).
//! * [`key`]: the archive's signing key, made on first start and kept.

pub mod archive;
pub mod auth;
pub mod blocks;
pub mod client;
pub mod config;
pub mod connections;
pub mod control;
mod error;
pub mod jwt;
pub mod key;
pub mod log;
pub mod release;
pub mod server;
pub mod tls;

pub use archive::{Added, Archive, ArchiveConfig, Entry, Suite};
pub use auth::{Auth, Tokens};
pub use config::ServerConfig;
pub use error::ArchiveError;
pub use log::{NoLog, ServerLog};
pub use server::serve;
