//! `staves push`: an OCI layout to a registry; also the last step of `build --push`.

use std::path::Path;
use std::time::Instant;

use staves_oci::Layout;
use staves_pipeline::publish::{self, RegistryOptions};
use staves_registry::Reference;

use crate::cli::{CacheArgs, PushCommandArgs, ReachArgs, RegistryArgs};
use crate::report::{CliError, status};

pub fn run(args: &PushCommandArgs) -> Result<(), CliError> {
    // `DIR:NAME` selects an entry, unless DIR:NAME is itself a directory.
    let (dir, name) = match args.layout.rsplit_once(':') {
        Some((dir, name)) if !Path::new(&args.layout).exists() => (dir, Some(name)),
        _ => (args.layout.as_str(), None),
    };
    let reference = Reference::parse(&args.reference)?;
    let layout = Layout::open(Path::new(dir))?;
    let entry = staves_registry::push::select(&layout, name.or(reference.tag.as_deref()))?;
    push_entry(
        (&args.cache, &args.reach),
        &layout,
        &entry,
        &reference,
        &args.registry,
    )?;
    // Signatures and attestations written into the layout go with the image.
    let carried = staves_pipeline::signing::carry(
        &layout,
        &entry,
        &reference,
        &options((&args.cache, &args.reach), &args.registry),
        args.registry.signature_format.into(),
    )?;
    if carried > 0 {
        status(
            "Carried",
            &format!("{carried} signature(s) and attestation(s) from the layout to {reference}"),
        );
    }
    Ok(())
}

/// The pipeline's registry options from the command line.
pub(crate) fn options((cache, reach): Where<'_>, args: &RegistryArgs) -> RegistryOptions {
    reach.options(cache, args.chunk_size.max(1) << 20)
}

/// The cache, and how registries are reached.
pub type Where<'a> = (&'a CacheArgs, &'a ReachArgs);

/// Attaches `sbom` to the image `subject` already pushed to `reference`, as an SPDX artifact.
pub fn attach_sbom(
    cache: Where<'_>,
    layout: &Layout,
    subject: &staves_oci::BlobRef,
    reference: &Reference,
    args: &RegistryArgs,
    sbom: &[u8],
) -> Result<(), CliError> {
    let digest = publish::attach_sbom(layout, subject, reference, &options(cache, args), sbom)?;
    status(
        "Attached",
        &format!("the SBOM to {reference}@{} as {digest}", subject.digest),
    );
    Ok(())
}

/// Pushes one `index.json` entry of `layout` and reports the digest.
pub fn push_entry(
    cache: Where<'_>,
    layout: &Layout,
    entry: &staves_oci::BlobRef,
    reference: &Reference,
    args: &RegistryArgs,
) -> Result<(), CliError> {
    let started = Instant::now();
    let reporter = crate::report::reporter();
    let report = publish::push(
        layout,
        entry,
        reference,
        &options(cache, args),
        reporter.as_ref(),
    )?;
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
