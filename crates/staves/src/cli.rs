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
    /// Target architecture: one of the spec's `archs`, or instead of its `arch` (default:
    /// every one of `archs`, else `arch`, else the host's).
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
    /// `--load` into the local Docker or podman, `--push REF` to a registry.
    Build(BuildArgs),
    /// Push an OCI image layout (what `build --output DIR` writes) to a registry.
    Push(PushCommandArgs),
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
    /// The directory `[[paths]] source` files may come from (default: the spec's directory).
    /// Symlinks are followed and must stay inside it.
    #[arg(long, value_name = "DIR")]
    pub context: Option<PathBuf>,
    /// Image tag (default: the spec's `tag`, else `latest`).
    #[arg(long, short)]
    pub tag: Option<String>,
    /// Parallel package downloads.
    #[arg(long, default_value_t = 8)]
    pub jobs: usize,
    /// Layer compression: gzip (every engine) or zstd (faster, smaller; Docker 23+).
    #[arg(long, value_enum, default_value_t = Compression::Gzip)]
    pub compression: Compression,
    /// Push the image (or, for several architectures, the image index) to REF:
    /// `HOST[:PORT]/REPOSITORY[:TAG]`.
    #[arg(long, value_name = "REF")]
    pub push: Option<String>,
    /// Write an SPDX 2.3 JSON SBOM of the image (or of every image of the index) to FILE.
    /// Each image also carries its own at /var/lib/staves/sbom.spdx.json.
    #[arg(long, value_name = "FILE")]
    pub sbom: Option<PathBuf>,
    /// With `--push`: also push the SBOM as an OCI artifact whose subject is the image (found
    /// through the referrers API, or the `sha256-<digest>` tag where the registry lacks it).
    #[arg(long, requires = "push")]
    pub attach_sbom: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub struct PushCommandArgs {
    /// The OCI image layout directory to push; `DIR:NAME` picks the entry tagged NAME.
    pub layout: String,
    /// Where to: `HOST[:PORT]/REPOSITORY[:TAG]`.
    #[arg(value_name = "REF")]
    pub reference: String,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// How to reach a registry.
#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// Speak plain HTTP to this `HOST:PORT` (repeatable). Everything else is HTTPS.
    #[arg(long, value_name = "HOST:PORT")]
    pub insecure_registry: Vec<String>,
    /// Write the pushed digest (`sha256:…`) to this file.
    #[arg(long, value_name = "FILE")]
    pub digest_file: Option<PathBuf>,
    /// Upload blobs larger than this many MiB in chunks of this size.
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    pub chunk_size: u64,
    /// Directory of per-registry CA certificates (`DIR/HOST:PORT/ca.crt`).
    #[arg(long, value_name = "DIR", default_value = staves_registry::session::DOCKER_CERTS_DIR)]
    pub certs_dir: PathBuf,
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
