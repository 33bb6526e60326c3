//! Command-line definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Build minimal, reproducible container images from Debian's signed packages.
#[derive(Debug, Parser)]
#[command(name = "staves", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// Options shared by every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The spec to read.
    #[arg(
        long,
        short,
        global = true,
        default_value = "staves.toml",
        env = "STAVES_FILE"
    )]
    pub file: PathBuf,
    /// Cache directory (default: $XDG_CACHE_HOME/staves).
    #[arg(long, global = true, env = "STAVES_CACHE")]
    pub cache: Option<PathBuf>,
    /// Target architecture (default: the spec's `arch`, else the host's).
    #[arg(long, global = true)]
    pub arch: Option<String>,
    /// Fetch every release file again (unchanged indices are still reused).
    #[arg(long, global = true, conflicts_with = "offline")]
    pub refresh: bool,
    /// Never use the network; fail if the cache lacks something.
    #[arg(long, global = true)]
    pub offline: bool,
    /// Fail unless `staves.lock` exists and matches the spec.
    #[arg(long, global = true)]
    pub locked: bool,
    /// Print debug logs (repeat for more).
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the package set the spec resolves to: `name version arch` per line.
    Resolve(ResolveArgs),
    /// Resolve and write `staves.lock` next to the spec.
    Lock,
    /// Build the image: `--output image.tar` (docker-archive), `--output DIR` (OCI layout),
    /// or `--load` into the local Docker or podman.
    Build(BuildArgs),
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Where to write the image: a path ending in `.tar` is a docker-archive, anything else
    /// an OCI image layout directory.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Load the image into the local Docker (or podman when Docker is absent).
    #[arg(long)]
    pub load: bool,
    /// Image tag (default: the spec's `tag`, else `latest`).
    #[arg(long, short)]
    pub tag: Option<String>,
    /// Parallel package downloads.
    #[arg(long, default_value_t = 8)]
    pub jobs: usize,
    /// Layer compression: gzip (every engine) or zstd (faster, smaller; Docker 23+).
    #[arg(long, value_enum, default_value_t = Compression::Gzip)]
    pub compression: Compression,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Compression {
    Gzip,
    Zstd,
}

#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// Print JSON: one object per package with file, size, checksum and repository.
    #[arg(long)]
    pub json: bool,
    /// Resolve afresh even when a matching `staves.lock` exists.
    #[arg(long, conflicts_with = "locked")]
    pub ignore_lock: bool,
}
