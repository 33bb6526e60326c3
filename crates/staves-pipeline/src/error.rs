//! Every way the pipeline fails.

use std::ops::Range;
use std::path::PathBuf;

use staves_repo::RepoError;
use staves_resolve::ResolveError;
use staves_spec::SpecError;

/// A resolution error with the spec text it points into.
#[derive(Debug)]
pub struct LocatedResolveError {
    /// What went wrong.
    pub error: ResolveError,
    /// The architecture resolved for, named when the spec targets several.
    pub arch: Option<String>,
    /// Where in the spec: the request, or the pin that rules a package out.
    pub span: Option<Range<usize>>,
    /// The spec's text.
    pub source_text: String,
    /// The spec's path.
    pub path: PathBuf,
}

/// Why the pipeline failed.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The spec is unreadable or invalid (with its position).
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A repository or the cache failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// The host's apt sources could not be read.
    #[error(transparent)]
    Sources(#[from] staves_deb::sources::SourcesError),
    /// Resolution failed, pointed at the spec.
    #[error("{}{}", .0.error, .0.arch.as_ref().map(|a| format!(" (for {a})")).unwrap_or_default())]
    Resolve(Box<LocatedResolveError>),
    /// The lockfile could not be read or written.
    #[error(transparent)]
    Lock(#[from] ResolveError),
    /// `locked` was asked for and the lock is missing or stale.
    #[error("{}", if *missing { format!("{} does not exist", path.display()) } else { format!("{} does not match the spec", path.display()) })]
    StaleLock {
        /// The lockfile.
        path: PathBuf,
        /// It does not exist at all.
        missing: bool,
    },
    /// Neither the spec nor the host names a repository.
    #[error("the spec names no repository and the host has no apt sources")]
    NoRepositories,
    /// File system trouble.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Assembly refused a package or failed.
    #[error(transparent)]
    Image(#[from] staves_image::ImageError),
    /// Writing the image layout or archive failed.
    #[error(transparent)]
    Oci(#[from] staves_oci::OciError),
    /// A registry refused, or could not be reached.
    #[error(transparent)]
    Registry(#[from] staves_registry::RegistryError),
    /// Building a package from source failed.
    #[error(transparent)]
    Source(#[from] staves_source::SourceError),
    /// The spec names a base, and the workspace was opened without it: the image would
    /// silently lack its base.
    #[error(
        "{} is built on a base (`base = …`), but its workspace was opened without it; open it with `staves_stack::open_workspace`, which builds or reads the base first", spec.display()
    )]
    BaseNotOpened {
        /// The spec.
        spec: PathBuf,
    },
    /// `--arch` names an architecture the spec does not build for.
    #[error("`--arch {arch}`: the spec builds for {}; pick one of them", archs.join(", "))]
    ArchNotInSpec {
        /// What was asked for.
        arch: String,
        /// What the spec's `archs` lists.
        archs: Vec<String>,
    },
    /// `--arch` names an architecture Staves cannot build for.
    #[error("`--arch {arch}`: {message}; {help}")]
    Arch {
        /// What was asked for.
        arch: String,
        /// What is wrong with it.
        message: String,
        /// What to do.
        help: String,
    },
    /// A docker-archive holds one image, and none of the spec's is the host's.
    #[error(
        "a docker-archive holds one image and this host ({host}) is not among {}; pick one with `--arch`, or write an OCI layout with `--output DIR`", archs.join(", ")
    )]
    ArchiveNeedsOneArch {
        /// The host's architecture.
        host: String,
        /// The spec's.
        archs: Vec<String>,
    },
    /// A build was given no name for its image.
    #[error("an image needs a name")]
    NoImageName,
    /// An image name (or tag) that is not one.
    #[error("{0}")]
    ImageName(String),
    /// A base given as a docker-archive.
    #[error(
        "{name}: a base must be an OCI image layout, a spec, a registry image pinned by digest or an image in an engine's store (`docker:NAME`); give a docker-archive as `docker load -i FILE` and then `docker:NAME`"
    )]
    BaseNotALayout {
        /// The base.
        name: String,
    },
    /// A base from an engine's store built for another architecture.
    #[error(
        "{name} in the engine's store is an image for {found}; this spec builds for {wanted}: pull or load the {wanted} image, or build with `--arch`"
    )]
    BaseArch {
        /// The base.
        name: String,
        /// Its architecture (OCI's name).
        found: String,
        /// The architecture asked for (OCI's name).
        wanted: String,
    },
    /// A key, signature or attestation could not be made or read.
    #[error(transparent)]
    Attest(#[from] staves_attest::AttestError),
    /// An image whose signatures or attestations do not verify.
    #[error("{reference}: {why}")]
    NotVerified {
        /// The image.
        reference: String,
        /// What failed.
        why: String,
    },
    /// The debug variant's tools could not be added.
    #[error("the debug variant: {0}")]
    DebugTools(String),
    /// A base without a dpkg database.
    #[error(
        "{name} has no dpkg database (/var/lib/dpkg/status), so nothing says what it holds; a base must be a Debian system (built by Staves, or any image with dpkg)"
    )]
    BaseWithoutDatabase {
        /// The base.
        name: String,
    },
    /// A base whose accounts cannot be read.
    #[error("{name}: {error}")]
    BaseAccounts {
        /// The base.
        name: String,
        /// What is wrong with its passwd or group.
        error: staves_image::accounts::AccountError,
    },
    /// A base whose config and manifest disagree on its layers.
    #[error("{name}: its config lists {config} layers and its manifest {manifest}")]
    BaseLayerCount {
        /// The base.
        name: String,
        /// Layers the config's `diff_ids` list.
        config: usize,
        /// Layers the manifest lists.
        manifest: usize,
    },
    /// A base layer that does not unpack to what its config says.
    #[error(
        "{name}: layer {index} unpacks to {read}, but its config says {said}; the base is damaged"
    )]
    BaseDiffId {
        /// The base.
        name: String,
        /// The layer.
        index: usize,
        /// What it unpacked to.
        read: String,
        /// What the config says.
        said: String,
    },
    /// A spec account the base already has.
    #[error(
        "accounts: `{account}` is already an account of the base image {base}; it is inherited, leave it out of this spec"
    )]
    AccountInBase {
        /// The account.
        account: String,
        /// The base.
        base: String,
    },
    /// A spec account that cannot be added.
    #[error("accounts: {0}")]
    Accounts(#[from] staves_image::accounts::AccountError),
    /// A `use` flag assembly does not know (the spec's check lets none through).
    #[error("{}{error}", package.as_ref().map(|p| format!("package `{p}`: ")).unwrap_or_default())]
    UseFlag {
        /// The package whose table holds it, if any.
        package: Option<String>,
        /// The flag.
        error: staves_image::features::UnknownFeature,
    },
    /// A `[[paths]]` source that cannot be read.
    #[error("{}: {error}", file.display())]
    PathSource {
        /// The file.
        file: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// A `[[paths]]` source directory that cannot be copied.
    #[error("{message}; {help}")]
    PathTree {
        /// What is wrong.
        message: String,
        /// What to do.
        help: String,
    },
    /// A local `.deb` (or a package built again) that differs from what the lock recorded.
    #[error("{}", if *local {
        format!("{name} {version} from the spec's `debs` differs from the lock's (the file changed since it was locked); `staves lock` records the new file")
    } else {
        format!("{name} {version} was built again (the cache had lost it) and its bytes differ from the lock's: the build is not reproducible; `staves lock` records the new build")
    })]
    LockedDebChanged {
        /// The package.
        name: String,
        /// Its version.
        version: String,
        /// Whether it is one of the spec's `debs` (else built).
        local: bool,
    },
    /// A bug: the lock has no package set for an architecture being built.
    #[error("internal error: the lock has no package set for {0}")]
    NoLockTarget(String),
    /// A bug: a locked package's file was not downloaded.
    #[error("internal error: {0} was not downloaded")]
    NotDownloaded(String),
    /// A bug: the lock names a repository the workspace lacks.
    #[error("internal error: the lock names unknown repository {0}")]
    UnknownLockedRepository(String),
    /// A bug: nothing was built, or not for this architecture.
    #[error("internal error: no image was built{}", .0.as_ref().map(|a| format!(" for {a}")).unwrap_or_default())]
    NotBuilt(Option<String>),
    /// A bug: assembling the same packages twice gave different bytes.
    #[error("internal error: assembling the same packages twice gave different bytes (layer {0})")]
    Nondeterministic(String),
    /// A bug: a layer was written without a place to go.
    #[error("internal error: a layer without a sink")]
    LayerWithoutSink,
    /// A bug: no architecture was resolved.
    #[error("internal error: no architecture to resolve")]
    NoArchitecture,
    /// A bug: a thread syncing a repository panicked.
    #[error("internal error: repository sync panicked")]
    SyncPanicked,
    /// A bug: a built package is not in the cache, or has a version that does not parse.
    #[error("internal error: built package {0}")]
    BuiltPackage(String),
}

impl PipelineError {
    /// Whether the user asked for something impossible (exit code 2), as opposed to the
    /// world failing the build (1) or a bug (70).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            PipelineError::ArchNotInSpec { .. }
                | PipelineError::Arch { .. }
                | PipelineError::ArchiveNeedsOneArch { .. }
                | PipelineError::NoImageName
                | PipelineError::ImageName(_)
                | PipelineError::BaseNotALayout { .. }
                | PipelineError::BaseArch { .. }
                | PipelineError::BaseWithoutDatabase { .. }
                | PipelineError::BaseAccounts { .. }
                | PipelineError::BaseLayerCount { .. }
                | PipelineError::BaseDiffId { .. }
                | PipelineError::AccountInBase { .. }
                | PipelineError::Accounts(_)
                | PipelineError::UseFlag { .. }
                | PipelineError::PathSource { .. }
                | PipelineError::PathTree { .. }
                | PipelineError::LockedDebChanged { .. }
                | PipelineError::BaseNotOpened { .. }
        )
    }

    /// Whether this is a bug in Staves (exit code 70).
    pub fn is_bug(&self) -> bool {
        matches!(
            self,
            PipelineError::NoLockTarget(_)
                | PipelineError::NotDownloaded(_)
                | PipelineError::UnknownLockedRepository(_)
                | PipelineError::NotBuilt(_)
                | PipelineError::Nondeterministic(_)
                | PipelineError::LayerWithoutSink
                | PipelineError::NoArchitecture
                | PipelineError::SyncPanicked
                | PipelineError::BuiltPackage(_)
        )
    }
}
