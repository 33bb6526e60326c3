//! Command-line definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Build minimal, reproducible container images from Debian's signed packages.
#[derive(Debug, Parser)]
#[command(name = "staves", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Print debug logs (repeat for more).
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// The spec a command reads, where its repositories are cached, and how fresh they must be.
#[derive(Debug, Args, Clone)]
pub struct SpecArgs {
    /// The spec to read.
    #[arg(long, short, default_value = "staves.toml", env = "STAVES_FILE")]
    pub file: PathBuf,
    /// The directory `[[paths]] source` files and recipe sources may come from (default: the
    /// spec's directory). Symlinks are followed and must stay inside it.
    #[arg(long, value_name = "DIR")]
    pub context: Option<PathBuf>,
    #[command(flatten)]
    pub source: SourceArgs,
}

/// Where packages come from and how: the cache, the architecture, the network.
#[derive(Debug, Args, Clone)]
pub struct SourceArgs {
    #[command(flatten)]
    pub cache: CacheArgs,
    /// Target architecture: one of the spec's `archs`, or instead of its `arch` (default:
    /// every one of `archs`, else `arch`, else the host's).
    #[arg(long)]
    pub arch: Option<String>,
    /// Fetch every release file again (unchanged indices are still reused).
    #[arg(long, conflicts_with = "offline")]
    pub refresh: bool,
    /// Never use the network; fail if the cache lacks something.
    #[arg(long)]
    pub offline: bool,
    /// Seconds a source or recipe build may run.
    #[arg(long, value_name = "SECONDS", default_value_t = 6 * 3600, value_parser = clap::value_parser!(u64).range(1..))]
    pub build_timeout: u64,
    /// Processes a source or recipe build may have at once.
    #[arg(long, value_name = "N", default_value_t = 4096, value_parser = clap::value_parser!(u64).range(8..))]
    pub build_processes: u64,
    /// Scratch space a source or recipe build may write (its tree, `/tmp` and the packages).
    #[arg(long, value_name = "MIB", default_value_t = 64 << 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub build_scratch_mib: u64,
    /// Share built images, source builds and recipes with every machine that names the same
    /// registry repository: what the cache lacks is asked for there before it is made, and
    /// offered there once made (with the trust and credentials of a push).
    #[arg(long, value_name = "HOST[:PORT]/NAME", env = "STAVES_CACHE_REGISTRY", value_parser = parse_reference)]
    pub cache_registry: Option<staves_registry::Reference>,
    #[command(flatten)]
    pub reach: ReachArgs,
}

fn parse_reference(text: &str) -> Result<staves_registry::Reference, String> {
    staves_registry::Reference::parse(text).map_err(|e| e.to_string())
}

/// Trust and credentials for every fetch (repositories, recipe sources, registries).
#[derive(Debug, Args, Clone, Default)]
pub struct NetArgs {
    /// Trust the certificate authorities of this PEM file too, besides the system's store
    /// (which `SSL_CERT_FILE` and `SSL_CERT_DIR` replace) (repeatable).
    #[arg(long = "ca-cert", value_name = "FILE")]
    pub ca_cert: Vec<PathBuf>,
    /// Read repository credentials from this file, in apt's auth.conf format, before
    /// /etc/apt/auth.conf.d/*.conf and /etc/apt/auth.conf (repeatable).
    #[arg(long = "auth-file", value_name = "FILE", env = "STAVES_AUTH_FILE")]
    pub auth_file: Vec<PathBuf>,
}

impl NetArgs {
    /// The network layer's options (online; the workspace sets offline from its mode).
    pub fn options(&self) -> staves_pipeline::NetOptions {
        staves_pipeline::NetOptions {
            ca_certificates: self.ca_cert.clone(),
            auth_files: self.auth_file.clone(),
            ..staves_pipeline::NetOptions::default()
        }
    }
}

/// How registries are reached: to push, and to pull bases pinned by digest.
#[derive(Debug, Args, Clone)]
pub struct ReachArgs {
    /// Speak plain HTTP to this `HOST:PORT` (repeatable). Everything else is HTTPS.
    #[arg(long, value_name = "HOST:PORT")]
    pub insecure_registry: Vec<String>,
    /// Directory of per-registry CA certificates (`DIR/HOST:PORT/ca.crt`).
    #[arg(long, value_name = "DIR", default_value = staves_registry::session::DOCKER_CERTS_DIR)]
    pub certs_dir: PathBuf,
    #[command(flatten)]
    pub net: NetArgs,
}

impl ReachArgs {
    /// The pipeline's registry options; blobs above `chunk_size` bytes go up in chunks.
    pub fn options(
        &self,
        cache: &CacheArgs,
        chunk_size: u64,
    ) -> staves_pipeline::publish::RegistryOptions {
        staves_pipeline::publish::RegistryOptions {
            insecure: self.insecure_registry.clone(),
            certs_dir: self.certs_dir.clone(),
            chunk_size,
            cache: cache.root(),
            ca_certificates: self.net.ca_cert.clone(),
        }
    }
}

impl SourceArgs {
    /// The stack's options from these arguments and the build's own.
    pub fn stack_options(&self, build: StackBuild) -> staves_stack::StackOptions {
        staves_stack::StackOptions {
            cache: self.cache.root(),
            arch: self.arch.clone(),
            network: self.network(),
            net: self.reach.net.options(),
            output: build.output,
            archives: build.archives,
            jobs: build.jobs,
            compression: build.compression,
            locked: build.locked,
            parallel: build.parallel,
            build_limits: self.build_limits(),
            source_date_epoch: build.source_date_epoch,
            registry: self.reach.options(&self.cache, 64 << 20),
            shared: self.shared(),
        }
    }

    /// The cache's shared tier, when `--cache-registry` names one.
    pub fn shared(&self) -> Option<std::sync::Arc<dyn staves_types::SharedCache>> {
        let reference = self.cache_registry.as_ref()?;
        Some(staves_pipeline::publish::shared_cache(
            reference,
            &self.reach.options(&self.cache, 64 << 20),
        ))
    }
}

/// What a stack build is asked for beyond where packages come from.
pub struct StackBuild {
    pub output: PathBuf,
    pub archives: bool,
    pub jobs: usize,
    pub compression: staves_oci::LayerCompression,
    pub locked: bool,
    pub parallel: usize,
    pub source_date_epoch: Option<u64>,
}

impl SourceArgs {
    /// How the run uses the network, from `--refresh` and `--offline`.
    pub fn network(&self) -> staves_pipeline::NetworkMode {
        match (self.offline, self.refresh) {
            (true, _) => staves_pipeline::NetworkMode::Offline,
            (false, true) => staves_pipeline::NetworkMode::Refresh,
            (false, false) => staves_pipeline::NetworkMode::Cached,
        }
    }

    /// What each source or recipe build may use.
    pub fn build_limits(&self) -> staves_pipeline::BuildLimits {
        staves_pipeline::BuildLimits {
            time: std::time::Duration::from_secs(self.build_timeout),
            processes: usize::try_from(self.build_processes).unwrap_or(usize::MAX),
            scratch: self.build_scratch_mib.saturating_mul(1 << 20),
        }
    }
}

impl SpecArgs {
    /// The pipeline's options from these arguments.
    pub fn options(&self) -> staves_pipeline::WorkspaceOptions {
        staves_pipeline::WorkspaceOptions {
            file: self.file.clone(),
            cache: self.source.cache.root(),
            arch: self.source.arch.clone(),
            network: self.source.network(),
            context: self.context.clone(),
            build_limits: self.source.build_limits(),
            net: self.source.reach.net.options(),
            shared: self.source.shared(),
        }
    }
}

/// Where downloaded and verified data is kept.
#[derive(Debug, Args, Clone)]
pub struct CacheArgs {
    /// Cache directory (default: $XDG_CACHE_HOME/staves).
    #[arg(long = "cache", env = "STAVES_CACHE", value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

impl CacheArgs {
    pub fn root(&self) -> PathBuf {
        self.dir
            .clone()
            .unwrap_or_else(staves_repo::Cache::default_root)
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the image: `--output image.tar` (docker-archive), `--output DIR` (OCI layout),
    /// `--load` into the local Docker or podman, `--push REF` to a registry.
    #[command(after_help = "Examples:
  staves build --load                       # into docker/podman, tagged NAME:latest
  staves build -o image.tar -t app:1.0      # a docker-archive
  staves build -o layout/ --sbom app.spdx.json
  staves build --push registry.example:5000/team/app:1.0 -t app:latest")]
    Build(BuildArgs),
    /// Print the package set the spec resolves to: `name version arch` per line.
    #[command(after_help = "Examples:
  staves resolve
  staves resolve --json --arch arm64")]
    Resolve(ResolveArgs),
    /// Show why a package is in the image: the dependencies that brought it in, the
    /// alternative chosen, and the size it costs.
    #[command(after_help = "Example:
  staves why perl")]
    Why(WhyArgs),
    /// List what the package set's maintainer scripts do that the image does not
    /// reproduce: commands without a model, run-time state left to the first start, and
    /// lines that could not be followed, package by package.
    #[command(after_help = "Example:
  staves scripts -f examples/postgresql/staves.toml")]
    Scripts(ScriptsArgs),
    /// Resolve and write `staves.lock` next to the spec.
    #[command(after_help = "Examples:
  staves lock            # write or update staves.lock
  staves lock --check    # fail when staves.lock is missing or stale (for CI)")]
    Lock(LockArgs),
    /// Push an OCI image layout (what `build --output DIR` writes) to a registry.
    #[command(after_help = "Example:
  staves push layout/ registry.example:5000/team/app:1.0")]
    Push(PushCommandArgs),
    /// Write a commented `staves.toml` for the given packages.
    #[command(after_help = "Examples:
  staves init nginx
  staves init -f web/staves.toml python3 python3-flask")]
    Init(InitArgs),
    /// List an image's packages, files and run configuration, from an OCI layout or a
    /// docker-archive.
    #[command(after_help = "Examples:
  staves inspect image.tar
  staves inspect layout/ --files")]
    Inspect(InspectArgs),
    /// Compare two images (layouts, docker-archives, `docker:NAME`, `podman:NAME`) or two
    /// lockfiles: packages, files, configuration and layers. Exit 0 when they are the same,
    /// 1 when they differ.
    #[command(after_help = "Examples:
  staves diff old.tar new.tar
  staves diff docker:web:1 docker:web:2 --json
  staves diff old/staves.lock staves.lock")]
    Diff(DiffArgs),
    /// List the locked packages the repositories have newer versions of: from which
    /// suite, whether it is a security update, and the CVEs the new version's changelog
    /// names; `-f DIR` for every image of a stack, bases first. Exit 1 when a security
    /// update is waiting (a CI gate), else 0.
    #[command(after_help = "Examples:
  staves outdated
  staves outdated -f web/staves.toml --json
  staves outdated -f examples/stack")]
    Outdated(OutdatedArgs),
    /// Move the lock by the smallest steps: the packages `outdated` lists (with
    /// `--security-only`, its security updates) take their new versions, the rest keep
    /// theirs; prints each move with the CVEs it fixes.
    #[command(after_help = "Examples:
  staves update --security-only --build -o out
  staves update -f images/ --security-only --push registry.example/team")]
    Update(UpdateArgs),
    /// Build a stack: every spec of a directory tree (or those a staves-workspace.toml
    /// lists), bases first, each image on the layers of its base.
    #[command(after_help = "Examples:
  staves stack examples/stack -o out/        # out/NAME is each image's OCI layout
  staves stack examples/stack --load         # every image into docker/podman
  staves stack . --only web --load           # web and the images it is built on
  staves stack . --push registry.example:5000/team   # each as team/NAME:TAG, shared blobs once")]
    Stack(StackArgs),
    /// Serve a signed Debian archive from a directory and take uploads from token holders.
    #[command(after_help = "Examples:
  staves serve --dir /srv/archive --listen 127.0.0.1:8080 --token-file tokens
  staves serve --dir archive --suite bookworm --component main --arch amd64 --arch arm64
  staves serve --config archive.toml          # suites, retention, TLS, JWT")]
    Serve(ServeArgs),
    /// Upload .deb files to an archive `staves serve` runs.
    #[command(after_help = "Examples:
  staves upload http://archive.example:8080 build/*.deb            # token from STAVES_TOKEN
  staves upload http://127.0.0.1:8080 app_1.0_amd64.deb --suite bookworm --token-file ci-token
  staves upload https://archive.internal build/*.deb --ca-cert internal-ca.pem
  staves upload http://127.0.0.1:8080 --built examples/recipe/staves.toml   # what its recipes make")]
    Upload(UploadArgs),
    /// Remove packages from an archive `staves serve` runs.
    #[command(after_help = "Examples:
  staves remove http://127.0.0.1:8080 hello=1.0-1      # one version
  staves remove http://127.0.0.1:8080 hello --suite testing    # every version")]
    Remove(RemoveArgs),
    /// Add .deb files to an archive directory directly, published once (no server may run on it).
    #[command(after_help = "Examples:
  staves include --dir /srv/archive build/*.deb
  staves include --config archive.toml --into-suite testing vendor/")]
    Include(IncludeArgs),
    /// Write a signing key pair: PREFIX.key (ECDSA P-256, PKCS#8 PEM, mode 0600) and
    /// PREFIX.pub.
    #[command(after_help = "Examples:
  staves keygen release && staves build --push registry.example/app:1.0 --sign release.key")]
    Keygen(KeygenArgs),
    /// Sign an image already in a registry, as cosign does (the `sha256-<digest>.sig` tag).
    #[command(after_help = "Examples:
  staves sign registry.example/app:1.0 --key release.key
  staves sign registry.example/app:1.0 --sign-with 'kms-sign --key app' --sign-key kms.pub")]
    Sign(SignArgs),
    /// Verify an image's signatures and attestations with a public key; exit 1 when they
    /// do not verify.
    #[command(after_help = "Examples:
  staves verify registry.example/app:1.0 --key release.pub")]
    Verify(VerifyArgs),
    /// The stack as jobs for a CI engine: one per image, needing its base's, each running
    /// `staves stack . --only NAME` from DIR, with a key of its inputs.
    #[command(after_help = "Examples:
  staves plan images/ --format gitlab > child-pipeline.yml
  staves plan images/ --format github > .github/workflows/images.yml
  staves plan images/ --format kubernetes --image registry.example/staves:1 | kubectl apply -f -
  staves plan images/ --format json --push registry.example/team")]
    Plan(PlanArgs),
    /// What the cache holds, and pruning it without breaking a locked build.
    #[command(
        subcommand,
        after_help = "Examples:
  staves cache du
  staves cache prune --keep-locked ~/src/images --older-than 30d
  staves cache prune --keep-locked . --dry-run"
    )]
    Cache(CacheCommand),
    /// Print a shell completion script: `staves completions bash > /etc/bash_completion.d/staves`.
    Completions(CompletionsArgs),
    /// Check this host: the cache, apt sources, bubblewrap, a container engine, and the
    /// trust, credentials and proxies every fetch uses; each missing item with its fix.
    Doctor(DoctorArgs),
}

/// `staves cache …`.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// The space each kind of entry takes: .debs, unpacked copies, indices, image layers
    /// and records, bases, source build roots and results.
    Du(CacheDuArgs),
    /// Remove what no lock under the given directories needs (with --older-than, only what
    /// has not been used for that long); waits for builds using the cache.
    Prune(CachePruneArgs),
}

#[derive(Debug, Args)]
pub struct CacheDuArgs {
    #[command(flatten)]
    pub cache: CacheArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CachePruneArgs {
    #[command(flatten)]
    pub cache: CacheArgs,
    /// Keep everything each `staves.lock` below DIR needs to build --offline (repeatable).
    #[arg(long, value_name = "DIR")]
    pub keep_locked: Vec<PathBuf>,
    /// Remove only what has not been used for this long: `30d`, `12h`, `2w`, `90m`.
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    pub older_than: Option<std::time::Duration>,
    /// Say what would be removed; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `30d`, `12h`, `2w`, `90m`, `45s` as a duration.
fn parse_age(text: &str) -> Result<std::time::Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not an age; write 30d, 12h, 2w or 90m"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(format!("`{text}`: the unit is one of s, m, h, d, w")),
    };
    n.checked_mul(seconds)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| format!("`{text}` is too long"))
}

/// `staves doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub cache: CacheArgs,
}

/// The archive an offline command or a server opens: a configuration file, or options.
#[derive(Debug, Args)]
pub struct ArchiveArgs {
    /// A configuration file (suites, retention, TLS, JWT): see the GUIDE. Excludes the
    /// options below.
    #[arg(long, conflicts_with_all = ["dir", "suites", "components", "archs", "origin"])]
    pub config: Option<PathBuf>,
    /// The archive's directory: created with its signing key on first start.
    #[arg(long, required_unless_present = "config")]
    pub dir: Option<PathBuf>,
    /// Suite served (repeatable).
    #[arg(long = "suite", default_value = "stable")]
    pub suites: Vec<String>,
    /// Component of every suite (repeatable).
    #[arg(long = "component", default_value = "main")]
    pub components: Vec<String>,
    /// Architecture served (repeatable; default: this machine's). `all` packages go to every one.
    #[arg(long = "arch")]
    pub archs: Vec<String>,
    /// `Origin` and `Label` of the releases.
    #[arg(long, default_value = "Staves")]
    pub origin: String,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub archive: ArchiveArgs,
    /// Address and port to listen on (port 0: any free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:8080", conflicts_with = "config")]
    pub listen: std::net::SocketAddr,
    /// File of upload tokens, one per line (at least 16 characters each). Without it (and
    /// without `[jwt]` in a configuration) the archive takes no uploads.
    #[arg(long, conflicts_with = "config")]
    pub token_file: Option<PathBuf>,
    /// The largest upload accepted, in MiB.
    #[arg(long, default_value_t = 512, conflicts_with = "config")]
    pub max_upload_mib: u64,
    /// Connections served at once; more wait to be accepted.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..=65536), conflicts_with = "config")]
    pub max_connections: u32,
    /// Seconds a client may take to send a request head, or the next part of a body.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600), conflicts_with = "config")]
    pub idle_timeout_seconds: u64,
}

#[derive(Debug, Args)]
pub struct IncludeArgs {
    #[command(flatten)]
    pub archive: ArchiveArgs,
    /// The .deb files, or directories of them.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The suite to add them to (default: the first served).
    #[arg(long = "into-suite")]
    pub into_suite: Option<String>,
    /// The component to add them to (default: the suite's first).
    #[arg(long = "into-component")]
    pub into_component: Option<String>,
}

/// Where and as whom a change is sent.
#[derive(Debug, Args)]
pub struct RemoteArgs {
    /// The archive's URL (`http(s)://HOST:PORT`).
    pub url: String,
    /// The suite.
    #[arg(long, default_value = "stable")]
    pub suite: String,
    /// The component.
    #[arg(long, default_value = "main")]
    pub component: String,
    /// The token (a static token or a JWT). Also read from STAVES_TOKEN, then GitLab's
    /// CI_JOB_JWT_V2 and CI_JOB_JWT.
    #[arg(long, env = "STAVES_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// A file holding the token.
    #[arg(long, conflicts_with = "token")]
    pub token_file: Option<PathBuf>,
    /// Trust the certificate authorities of this PEM file (an archive with a private CA).
    #[arg(long, value_name = "PEM")]
    pub ca_cert: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct UploadArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// The .deb files: added together, or none of them.
    #[arg(required_unless_present = "built")]
    pub files: Vec<PathBuf>,
    /// Upload every package this spec builds from source or by a recipe (split packages
    /// included), building what the cache lacks.
    #[arg(long, value_name = "SPEC")]
    pub built: Option<PathBuf>,
    /// With `--built`: the cache's tier shared with other machines, asked for each build
    /// before it is made (see `staves build --cache-registry`).
    #[arg(long, value_name = "HOST[:PORT]/NAME", env = "STAVES_CACHE_REGISTRY", value_parser = parse_reference, requires = "built")]
    pub cache_registry: Option<staves_registry::Reference>,
    /// Speak plain HTTP to this `HOST:PORT` of `--cache-registry` (repeatable).
    #[arg(long, value_name = "HOST:PORT")]
    pub insecure_registry: Vec<String>,
    /// Directory of per-registry CA certificates (`DIR/HOST:PORT/ca.crt`).
    #[arg(long, value_name = "DIR", default_value = staves_registry::session::DOCKER_CERTS_DIR)]
    pub certs_dir: PathBuf,
    #[command(flatten)]
    pub cache: CacheArgs,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Packages to remove: `NAME` (every version) or `NAME=VERSION`.
    #[arg(required = true, value_name = "NAME[=VERSION]")]
    pub packages: Vec<String>,
    /// Only this architecture's builds.
    #[arg(long)]
    pub arch: Option<String>,
}

#[derive(Debug, Args)]
pub struct StackArgs {
    /// A directory of specs (each `staves.toml` below it is an image), or a spec file.
    #[arg(default_value = ".", value_name = "DIR")]
    pub root: PathBuf,
    /// Where each image's OCI layout goes (`DIR/NAME`); a scratch directory when absent.
    #[arg(long, short, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Load every image built into docker (or podman).
    #[arg(long)]
    pub load: bool,
    /// Push every image built as `PREFIX/NAME:TAG`; a blob shared by several is uploaded
    /// once and mounted for the others.
    #[arg(long, value_name = "PREFIX")]
    pub push: Option<String>,
    /// Build only this image and the images it is built on (repeatable).
    #[arg(long, value_name = "NAME")]
    pub only: Vec<String>,
    /// Build only the packages the `--only` images (all, without it) build from source or
    /// by a recipe, not the images: a plan's job for builds several images share.
    #[arg(long, conflicts_with_all = ["load", "push", "output"])]
    pub packages: bool,
    /// Only the images whose spec, lock, recipes, local `.deb`s or copied files changed
    /// since this git commit (the working tree's changes included), and those built on them.
    #[arg(long, value_name = "GIT_REF")]
    pub changed_since: Option<String>,
    /// The plan's key of this job: with a shared cache, a job another runner finished (with
    /// the same images, packages and pushes) is skipped after one request, and a finished
    /// job says so there. Never skipped with `-o` or `--load`, whose results are local.
    #[arg(long, value_name = "KEY")]
    pub job_key: Option<String>,
    /// Refuse a missing or stale lock of any image instead of re-resolving.
    #[arg(long)]
    pub locked: bool,
    /// Images built at the same time.
    #[arg(long, default_value_t = 2)]
    pub parallel: usize,
    /// Parallel downloads per image.
    #[arg(long, default_value_t = 8)]
    pub jobs: usize,
    /// Layer compression.
    #[arg(long, value_enum, default_value_t = Compression::Gzip)]
    pub compression: Compression,
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub struct ResolveArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    /// Fail unless `staves.lock` exists and matches the spec.
    #[arg(long)]
    pub locked: bool,
    /// Print JSON: one object per package with file, size, checksum and repository.
    #[arg(long)]
    pub json: bool,
    /// Resolve afresh even when a matching `staves.lock` exists.
    #[arg(long, conflicts_with = "locked")]
    pub ignore_lock: bool,
}

#[derive(Debug, Args)]
pub struct WhyArgs {
    /// The package to explain.
    pub package: String,
    #[command(flatten)]
    pub spec: SpecArgs,
}

#[derive(Debug, Args)]
pub struct ScriptsArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    /// Every command in full; by default calls of one program are counted and the first
    /// shown, cut short.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct LockArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    /// Write nothing; fail unless `staves.lock` exists and matches the spec.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Packages the image starts with.
    pub packages: Vec<String>,
    /// The spec to write.
    #[arg(long, short, default_value = "staves.toml")]
    pub file: PathBuf,
    /// Image name (default: the first package, else the directory's name).
    #[arg(long)]
    pub name: Option<String>,
    /// Replace an existing spec.
    #[arg(long)]
    pub force: bool,
    /// Also write a commented recipe for your own software in this language
    /// (`NAME.toml` beside the spec, building `src/`), and list it in the spec.
    #[arg(long, value_enum)]
    pub recipe: Option<RecipeLanguage>,
}

/// The languages `init --recipe` writes a starting point for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RecipeLanguage {
    /// pip from a hash-checked requirements file, against Debian's Python.
    Python,
    /// cargo from a Cargo.lock, with Debian's cargo and rustc.
    Rust,
    /// make, with Debian's compilers and -dev packages.
    C,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// An OCI image layout directory (`DIR` or `DIR:TAG`), a docker-archive (`.tar`), an
    /// image in an engine's store (`docker:NAME[:TAG]`, `podman:NAME[:TAG]`), or a registry
    /// image (`HOST[:PORT]/NAME[:TAG|@DIGEST]`, pulled into the cache).
    pub image: String,
    /// Also list every file with its mode, owner and size.
    #[arg(long)]
    pub files: bool,
    /// Which image of a multi-architecture index.
    #[arg(long)]
    pub arch: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub pull: PullArgs,
}

/// Where a registry image read by `inspect` or `diff` is pulled to, and how.
#[derive(Debug, Args)]
pub struct PullArgs {
    #[command(flatten)]
    pub cache: CacheArgs,
    #[command(flatten)]
    pub reach: ReachArgs,
}

#[derive(Debug, Args)]
pub struct OutdatedArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    /// Take security updates only.
    #[arg(long)]
    pub security_only: bool,
    /// Then rebuild the images whose lock or base changed (and only those), bases first.
    #[arg(long)]
    pub build: bool,
    /// Write each rebuilt image's OCI layout to `DIR/NAME` (implies --build).
    #[arg(long, short, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Load each rebuilt image into docker (or podman) (implies --build).
    #[arg(long)]
    pub load: bool,
    /// Push each rebuilt image as `PREFIX/NAME:TAG` (implies --build).
    #[arg(long, value_name = "PREFIX")]
    pub push: Option<String>,
    /// Images built at the same time.
    #[arg(long, default_value_t = 2)]
    pub parallel: usize,
    /// Parallel downloads per image.
    #[arg(long, default_value_t = 8)]
    pub jobs: usize,
    /// Layer compression.
    #[arg(long, value_enum, default_value_t = Compression::Gzip)]
    pub compression: Compression,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The image (or lockfile) before.
    pub before: String,
    /// The image (or lockfile) after.
    pub after: String,
    /// Which image of a multi-architecture index.
    #[arg(long)]
    pub arch: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub pull: PullArgs,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    /// Assemble afresh, even when the image cache holds an image built from the same inputs.
    #[arg(long)]
    pub fresh: bool,
    /// Fail unless `staves.lock` exists and matches the spec.
    #[arg(long)]
    pub locked: bool,
    /// Also build the debug variant `NAME:TAG-debug`: the image with busybox (or the spec's
    /// `debug-packages`) in one layer on top, every other layer shared (as `debug = true`).
    #[arg(long)]
    pub debug: bool,
    /// Where to write the image: a path ending in `.tar` is a docker-archive, anything else
    /// an OCI image layout directory.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Load the image into the local Docker (or podman when Docker is absent).
    #[arg(long)]
    pub load: bool,
    /// Name the image as `docker build -t` does: `NAME` (tag `latest`), `NAME:TAG`, or a full
    /// reference such as
    /// `registry.example/team/app:1.0` (repeatable; default: the spec's `name` and `tag`).
    #[arg(long, short, value_name = "NAME[:TAG]")]
    pub tag: Vec<String>,
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
    /// The format of `--sbom`'s file: SPDX 2.3 JSON, or CycloneDX 1.6 JSON made from the
    /// same document.
    #[arg(long, value_enum, default_value_t = SbomFormat::Spdx, requires = "sbom")]
    pub sbom_format: SbomFormat,
    /// With `--push`: also push the SBOM as an OCI artifact whose subject is the image (found
    /// through the referrers API, or the `sha256-<digest>` tag where the registry lacks it).
    #[arg(long, requires = "push")]
    pub attach_sbom: bool,
    #[command(flatten)]
    pub signing: SigningArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// How to sign: a key file, the `STAVES_SIGNING_KEY` variable, or a command.
#[derive(Debug, Args, Clone)]
pub struct SigningArgs {
    /// With `--push`: sign the image with this private key (PKCS#8 PEM, as `staves keygen`
    /// writes) and attach signed SLSA provenance, SPDX and CycloneDX attestations;
    /// `env` reads the key from `STAVES_SIGNING_KEY`.
    #[arg(long, value_name = "KEY|env")]
    pub sign: Option<String>,
    /// Sign with this command instead: it gets each payload on stdin and prints the
    /// signature (base64); `--sign-key PUB` checks what it prints.
    #[arg(long, value_name = "CMD", conflicts_with = "sign")]
    pub sign_with: Option<String>,
    /// The public key of `--sign-with`'s signer.
    #[arg(long, value_name = "PUB", requires = "sign_with")]
    pub sign_key: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The stack's directory (each job runs from it).
    #[arg(default_value = ".", value_name = "DIR")]
    pub root: PathBuf,
    /// What to write.
    #[arg(long, value_enum, default_value_t = PlanFormat::Json)]
    pub format: PlanFormat,
    /// The container image jobs run in (GitLab, Kubernetes): one with staves in it.
    #[arg(long, default_value = "staves:latest")]
    pub image: String,
    /// The GitHub runner label.
    #[arg(long, default_value = "ubuntu-latest")]
    pub runs_on: String,
    /// Carried into every job: push each image as `PREFIX/NAME:TAG`.
    #[arg(long, value_name = "PREFIX")]
    pub push: Option<String>,
    /// Carried into every job.
    #[arg(long, value_name = "HOST:PORT")]
    pub insecure_registry: Vec<String>,
    /// Carried into every job.
    #[arg(long, value_name = "DIR")]
    pub certs_dir: Option<PathBuf>,
    /// Carried into every job: the cache's tier shared by every runner.
    #[arg(long, value_name = "HOST[:PORT]/NAME")]
    pub cache_registry: Option<String>,
    /// Only the images whose spec, lock, recipes, local `.deb`s or copied files changed
    /// since this git commit (the working tree's changes included), and those built on them.
    #[arg(long, value_name = "GIT_REF")]
    pub changed_since: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    Json,
    Gitlab,
    Github,
    Kubernetes,
}

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Writes PREFIX.key (mode 0600) and PREFIX.pub.
    #[arg(default_value = "staves")]
    pub prefix: PathBuf,
    /// Ed25519 instead of ECDSA P-256.
    #[arg(long)]
    pub ed25519: bool,
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// The pushed image: `HOST[:PORT]/REPOSITORY[:TAG|@DIGEST]`.
    #[arg(value_name = "REF")]
    pub reference: String,
    /// The private key (`env`: from `STAVES_SIGNING_KEY`).
    #[arg(long, value_name = "KEY|env", required_unless_present = "sign_with")]
    pub key: Option<String>,
    /// Sign with this command instead (payload on stdin, base64 signature on stdout).
    #[arg(long, value_name = "CMD", conflicts_with = "key")]
    pub sign_with: Option<String>,
    /// The public key of `--sign-with`'s signer.
    #[arg(long, value_name = "PUB", requires = "sign_with")]
    pub sign_key: Option<PathBuf>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub reach: ReachArgs,
    #[command(flatten)]
    pub cache: CacheArgs,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The image: `HOST[:PORT]/REPOSITORY[:TAG|@DIGEST]`.
    #[arg(value_name = "REF")]
    pub reference: String,
    /// The public key (SPKI PEM, as `staves keygen` writes `PREFIX.pub`).
    #[arg(long, value_name = "PUB")]
    pub key: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Also rebuild the image from the spec (`-f`) and its lock — which must be the ones
    /// the signed provenance names, by digest — and check that the rebuilt digest is the
    /// signed one; else print the first file that differs.
    #[arg(long)]
    pub rebuild: bool,
    /// Rebuild in an empty cache of its own, so that nothing this machine kept — packages,
    /// indices, bases — takes part: everything comes from the archive again, through its
    /// signed chain.
    #[arg(long, requires = "rebuild")]
    pub fresh_cache: bool,
    #[command(flatten)]
    pub spec: SpecArgs,
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
    #[command(flatten)]
    pub reach: ReachArgs,
    #[command(flatten)]
    pub cache: CacheArgs,
}

/// How to push.
#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// Write the pushed digest (`sha256:…`) to this file.
    #[arg(long, value_name = "FILE")]
    pub digest_file: Option<PathBuf>,
    /// Upload blobs larger than this many MiB in chunks of this size.
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    pub chunk_size: u64,
    /// Where signatures and attestations go: Sigstore bundles as referrers where the
    /// registry has the referrers API and cosign's `.sig`/`.att` tags elsewhere (`auto`),
    /// or as asked.
    #[arg(long, value_enum, default_value_t = SignatureFormat::Auto)]
    pub signature_format: SignatureFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SbomFormat {
    Spdx,
    Cyclonedx,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SignatureFormat {
    Auto,
    Tags,
    Bundle,
    Both,
}

impl From<SignatureFormat> for staves_pipeline::signing::SignatureFormat {
    fn from(format: SignatureFormat) -> Self {
        match format {
            SignatureFormat::Auto => Self::Auto,
            SignatureFormat::Tags => Self::Tags,
            SignatureFormat::Bundle => Self::Bundles,
            SignatureFormat::Both => Self::Both,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Compression {
    Gzip,
    Zstd,
}
