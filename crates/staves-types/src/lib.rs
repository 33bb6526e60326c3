//! The vocabulary several stages share without depending on each other — as rattler keeps
//! its types apart from its network and solver:
//!
//! * [`diagnostic`]: a problem at a place in a file (specs, recipes, the archive's
//!   configuration).
//! * [`extra_path`]: a directory, file or link the spec (or its services) adds to an image.

pub mod diagnostic;
pub mod extra_path;

pub use diagnostic::{Diagnostic, line_column};
pub use extra_path::ExtraPath;
