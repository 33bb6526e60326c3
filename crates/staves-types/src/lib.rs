//! The vocabulary several stages share without depending on each other — as rattler keeps
//! its types apart from its network and solver:
//!
//! * [`diagnostic`]: a problem at a place in a file (specs, recipes, the archive's
//!   configuration).
//! * [`extra_path`]: a directory, file or link the spec (or its services) adds to an image.
//! * [`shared_cache`]: the tier of the cache several machines share, as a trait its users
//!   and its registry-backed implementation meet at.

pub mod diagnostic;
pub mod extra_path;
pub mod shared_cache;

pub use diagnostic::{Diagnostic, line_column};
pub use extra_path::ExtraPath;
pub use shared_cache::{KeptFile, SharedCache, SharedError};
