//! Publishing what a build wrote: an image (or index) of an OCI layout pushed to a
//! registry, and an SBOM attached to it as an artifact.

use std::path::PathBuf;

use staves_oci::{BlobRef, Layout};
use staves_registry::{PushOptions, PushReport, Reference, Session, SessionOptions};

use crate::error::PipelineError;
use crate::reporter::Reporter;

/// How to reach registries.
#[derive(Debug, Clone, Default)]
pub struct PublishOptions {
    /// `HOST:PORT`s spoken to over plain HTTP.
    pub insecure: Vec<String>,
    /// Per-registry certificates (`DIR/HOST:PORT/*.crt`).
    pub certs_dir: PathBuf,
    /// Blobs above this many bytes go up in chunks of this size.
    pub chunk_size: u64,
    /// The cache directory, where pushed blobs are remembered for cross-repository mounts.
    pub cache: PathBuf,
}

/// A session with `reference`'s registry and the push options.
fn connect(
    reference: &Reference,
    options: &PublishOptions,
) -> Result<(Session, PushOptions), PipelineError> {
    let session = Session::open(
        reference,
        &SessionOptions {
            insecure: options.insecure.clone(),
            certs_dir: options.certs_dir.clone(),
            credentials: None,
        },
    )?;
    let push = PushOptions {
        chunk_size: options.chunk_size.max(1 << 20),
        memo: Some(options.cache.join("registry-blobs.json")),
        ..PushOptions::default()
    };
    Ok((session, push))
}

/// Pushes the `entry` of `layout` (an image or an index) to `reference`: missing blobs
/// only, manifests last.
pub fn push(
    layout: &Layout,
    entry: &BlobRef,
    reference: &Reference,
    options: &PublishOptions,
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
    options: &PublishOptions,
    sbom: &[u8],
) -> Result<String, PipelineError> {
    let (session, push) = connect(reference, options)?;
    Ok(staves_registry::attach::attach(
        &session,
        layout,
        subject,
        "application/spdx+json",
        "sbom.spdx.json",
        sbom,
        &push,
    )?)
}
