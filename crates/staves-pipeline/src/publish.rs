//! Registries: what a build wrote pushed (an image or index of an OCI layout, an SBOM
//! attached to it as an artifact), and base images pulled by digest into the cache.

use std::path::PathBuf;

use staves_oci::{BlobRef, Layout};
use staves_registry::{PushOptions, PushReport, Reference, Session, SessionOptions};

use crate::error::PipelineError;
use crate::reporter::Reporter;

/// How to reach registries.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// `HOST:PORT`s spoken to over plain HTTP.
    pub insecure: Vec<String>,
    /// Per-registry certificates (`DIR/HOST:PORT/*.crt`).
    pub certs_dir: PathBuf,
    /// Blobs above this many bytes go up in chunks of this size.
    pub chunk_size: u64,
    /// The cache directory, where pushed blobs are remembered for cross-repository mounts.
    pub cache: PathBuf,
    /// PEM files of authorities trusted besides the system's store (`--ca-cert`).
    pub ca_certificates: Vec<PathBuf>,
}

/// A session with `reference`'s registry and the push options.
pub(crate) fn connect(
    reference: &Reference,
    options: &RegistryOptions,
) -> Result<(Session, PushOptions), PipelineError> {
    let session = Session::open(reference, &session_options(options))?;
    let push = PushOptions {
        chunk_size: options.chunk_size.max(1 << 20),
        memo: Some(options.cache.join("registry-blobs.json")),
        ..PushOptions::default()
    };
    Ok((session, push))
}

/// The repository `reference` of a registry as the cache's shared tier: built images,
/// source builds and recipes kept there as artifacts under their input keys, reached with
/// the same trust and credentials as a push.
pub fn shared_cache(
    reference: &Reference,
    options: &RegistryOptions,
) -> std::sync::Arc<dyn staves_types::SharedCache> {
    std::sync::Arc::new(staves_registry::keyed::RegistryCache {
        reference: reference.clone(),
        session: session_options(options),
        push: PushOptions {
            chunk_size: options.chunk_size.max(1 << 20),
            ..PushOptions::default()
        },
        staging: options.cache.join("tmp"),
    })
}

/// Pushes the `entry` of `layout` (an image or an index) to `reference`: missing blobs
/// only, manifests last.
pub fn push(
    layout: &Layout,
    entry: &BlobRef,
    reference: &Reference,
    options: &RegistryOptions,
    reporter: &dyn Reporter,
) -> Result<PushReport, PipelineError> {
    let (mut session, push) = connect(reference, options)?;
    session.set_progress(reporter.uploads("Pushing"));
    Ok(staves_registry::push_layout(
        layout, entry, &session, &push,
    )?)
}

/// Attaches `sbom` (SPDX JSON) to `subject`, already pushed to `reference`; returns the
/// artifact's digest.
pub fn attach_sbom(
    layout: &Layout,
    subject: &BlobRef,
    reference: &Reference,
    options: &RegistryOptions,
    sbom: &[u8],
) -> Result<String, PipelineError> {
    let (session, push) = connect(reference, options)?;
    Ok(staves_registry::attach::attach(
        &session,
        layout,
        subject,
        "application/spdx+json",
        &std::collections::BTreeMap::from([(
            "org.opencontainers.image.title".to_owned(),
            "sbom.spdx.json".to_owned(),
        )]),
        sbom,
        &push,
    )?)
}

/// Pulls the image `reference` names — by its digest, or the digest its tag names now —
/// into the cache as [`pull_base`] does, for reading (`staves inspect`, `staves diff`).
/// Returns the layout and the digest.
pub fn pull_image(
    reference: &Reference,
    archs: &[String],
    options: &RegistryOptions,
    reporter: &dyn Reporter,
) -> Result<(PathBuf, String), PipelineError> {
    let name = format!("{}/{}", reference.registry, reference.repository);
    let digest = match &reference.digest {
        Some(digest) => digest.clone(),
        None => digest_of(
            reference,
            &Session::open_to_pull(reference, &session_options(options))?,
        )?,
    };
    let dir = pull_base(&name, &digest, archs, false, options, reporter)?;
    Ok((dir, digest))
}

/// The digest `reference` names: its own, or what its tag (`latest` when none) names now.
pub(crate) fn digest_of(reference: &Reference, session: &Session) -> Result<String, PipelineError> {
    Ok(match (&reference.digest, &reference.tag) {
        (Some(digest), _) => digest.clone(),
        (None, tag) => {
            staves_registry::pull::resolve_tag(session, tag.as_deref().unwrap_or("latest"))?
        }
    })
}

/// Pulls `name@digest` (the images of an index for `archs` only) into the cache, where
/// it stays under its digest: the layout's path is returned. What the cache already holds
/// is not fetched again, so a base pulled once needs no network; `offline` refuses to
/// fetch anything missing.
pub fn pull_base(
    name: &str,
    digest: &str,
    archs: &[String],
    offline: bool,
    options: &RegistryOptions,
    reporter: &dyn Reporter,
) -> Result<PathBuf, PipelineError> {
    let reference = Reference::parse(&format!("{name}@{digest}"))?;
    let dir = options.cache.join("bases").join(digest.replace(':', "-"));
    let layout = Layout::create(&dir)?;
    let platforms: Vec<_> = archs
        .iter()
        .map(|a| staves_oci::Platform::from_debian(a))
        .collect();
    let connect = || {
        if offline {
            return Err(staves_registry::RegistryError::Protocol {
                registry: reference.registry.clone(),
                message: format!(
                    "{name}@{digest} is not in the cache and the build is offline; build once without --offline to pull it"
                ),
            });
        }
        let mut session = Session::open_to_pull(&reference, &session_options(options))?;
        session.set_progress(reporter.uploads("Pulling"));
        Ok(session)
    };
    let report = staves_registry::pull::pull(&connect, digest, name, &platforms, &layout)?;
    if report.fetched > 0 {
        reporter.status(
            "Pulled",
            &format!(
                "{name}@{digest}: {} blob(s), {:.1} MB",
                report.fetched,
                report.fetched_bytes as f64 / 1e6
            ),
        );
    }
    Ok(dir)
}

pub(crate) fn session_options(options: &RegistryOptions) -> SessionOptions {
    SessionOptions {
        insecure: options.insecure.clone(),
        certs_dir: options.certs_dir.clone(),
        credentials: None,
        ca_certificates: options.ca_certificates.clone(),
    }
}
