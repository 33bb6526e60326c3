//! The build pipeline as a library: a spec and plain options in, resolved and locked package
//! sets out — what every command starts from, with no terminal and no argument parser.
//!
//! * [`Workspace`]: the spec, its repositories (the spec's, else the host's apt sources),
//!   the cache, the lockfile, and resolution for each target architecture.
//! * [`Reporter`]: the one way the pipeline tells its caller what happens — status lines,
//!   warnings, and download progress — so a CLI, a test or another program can listen.
//! * [`build`]: from the workspace and its lock to images in an OCI layout or archive.
//! * [`base`]: a base image read back: its packages, accounts and configuration.
//! * [`publish`]: pushing a layout's image to a registry, attaching its SBOM.
//! * [`PipelineError`]: every failure, typed, with what is needed to explain it.

pub mod base;
pub mod build;
pub mod cache_space;
mod error;
mod from_source;
pub mod outdated;
pub mod publish;
mod reporter;
pub mod signing;
mod workspace;

pub use build::{Build, BuildOptions, BuiltImage, Located, Output, build, build_debug};
pub use error::{LocatedResolveError, PipelineError};
pub use reporter::{NoReporter, Reporter};
pub use staves_net::NetOptions;
pub use staves_source::{BuildLimits, SourceError};
pub use workspace::{NetworkMode, Workspace, WorkspaceOptions};
