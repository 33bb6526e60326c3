//! The repository client: from a repository's address and keyring to verified, indexed
//! `Packages` data on local disk.
//!
//! Trust flows one way. A release file (`InRelease`, or `Release` + `Release.gpg`) is accepted
//! only with a valid OpenPGP signature from the configured [`Keyring`] and before its
//! `Valid-Until`; every index is accepted only when its SHA-256 matches the one in that signed
//! release. Accepted bytes land in a content-addressed [`Cache`], written to a temporary file
//! and renamed, so an interrupted run or a second process never sees half a file.
//!
//! * [`archive_path`]: paths below an archive's root, refused when they would leave it.
//! * [`keyring`]: OpenPGP keyrings and signature policy (`staves-openpgp`'s, shared with the
//!   archive server).
//! * [`release`]: the `Release` format and its checksum list.
//! * [`cache`]: the content-addressed store.
//! * [`debs`]: package downloads, parallel, resumable, verified.
//! * [`index`]: a `Packages` file with a persistent lookup table, mapped rather than parsed.
//! * [`repository`]: one configured source, synchronised into indices.
//!
//! Every fetch goes through `staves-net`'s [`Client`] (trust, proxies, credentials, retries,
//! offline).

pub use staves_deb::archive_path;
pub mod cache;
pub mod contents;
pub mod debs;
pub mod error;
pub mod index;
pub use staves_openpgp::OpenPgpError;
pub use staves_openpgp::verify as keyring;
pub mod release;
pub mod repository;

pub use cache::{Cache, CacheLock};
pub use error::RepoError;
pub use index::PackageIndex;
pub use keyring::{Keyring, Signer};
pub use release::Release;
pub use repository::{Freshness, KeySource, RepositoryConfig, SyncedRepository};
pub use staves_net::{Client, NetError, NoProgress, Progress};
