//! `staves push`: an OCI layout to a registry; also the last step of `build --push`.

use std::path::Path;
use std::time::Instant;

use staves_oci::Layout;
use staves_registry::{PushOptions, Reference, Session, SessionOptions, push};

use crate::cli::{CacheArgs, PushCommandArgs, RegistryArgs};
use crate::report::{CliError, status};

pub fn run(args: &PushCommandArgs) -> Result<(), CliError> {
    // `DIR:NAME` selects an entry, unless DIR:NAME is itself a directory.
    let (dir, name) = match args.layout.rsplit_once(':') {
        Some((dir, name)) if !Path::new(&args.layout).exists() => (dir, Some(name)),
        _ => (args.layout.as_str(), None),
    };
    let reference = Reference::parse(&args.reference)?;
    let layout = Layout::open(Path::new(dir))?;
    let entry = push::select(&layout, name.or(reference.tag.as_deref()))?;
    push_entry(&args.cache, &layout, &entry, &reference, &args.registry)
}

/// A session with `reference`'s registry and the push options, from the command line.
fn connect(
    cache: &CacheArgs,
    reference: &Reference,
    args: &RegistryArgs,
) -> Result<(Session, PushOptions), CliError> {
    let session = Session::open(
        reference,
        &SessionOptions {
            insecure: args.insecure_registry.clone(),
            certs_dir: args.certs_dir.clone(),
            credentials: None,
        },
    )?;
    let cache_root = cache.root();
    let options = PushOptions {
        chunk_size: args.chunk_size.max(1) << 20,
        memo: Some(cache_root.join("registry-blobs.json")),
        ..PushOptions::default()
    };
    Ok((session, options))
}

/// Attaches `sbom` to the image `subject` already pushed to `reference`, as an SPDX artifact.
pub fn attach_sbom(
    cache: &CacheArgs,
    layout: &Layout,
    subject: &staves_oci::BlobRef,
    reference: &Reference,
    args: &RegistryArgs,
    sbom: &[u8],
) -> Result<(), CliError> {
    let (session, options) = connect(cache, reference, args)?;
    let digest = staves_registry::attach::attach(
        &session,
        layout,
        subject,
        "application/spdx+json",
        "sbom.spdx.json",
        sbom,
        &options,
    )?;
    status(
        "Attached",
        &format!("the SBOM to {reference}@{} as {digest}", subject.digest),
    );
    Ok(())
}

/// Pushes one `index.json` entry of `layout` and reports the digest.
pub fn push_entry(
    cache: &CacheArgs,
    layout: &Layout,
    entry: &staves_oci::BlobRef,
    reference: &Reference,
    args: &RegistryArgs,
) -> Result<(), CliError> {
    let started = Instant::now();
    let (mut session, options) = connect(cache, reference, args)?;
    let progress = crate::progress::labelled("Pushing");
    session.set_progress(progress.clone());
    let report = staves_registry::push_layout(layout, entry, &session, &options);
    progress.clear();
    let report = report?;
    if let Some(path) = &args.digest_file {
        super::write_atomic(path, format!("{}\n", report.digest).as_bytes())?;
    }
    status(
        "Pushed",
        &format!(
            "{reference}@{}: {} blob(s) uploaded ({:.1} MB), {} already there, {} mounted, {} manifest(s), in {:.2}s",
            report.digest,
            report.uploaded,
            report.uploaded_bytes as f64 / 1e6,
            report.present,
            report.mounted,
            report.manifests,
            started.elapsed().as_secs_f64()
        ),
    );
    // The digest alone on stdout, for scripts.
    println!("{}", report.digest);
    Ok(())
}
