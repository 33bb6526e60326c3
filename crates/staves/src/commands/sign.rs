//! `staves keygen`, `staves sign` and `staves verify`, and the signer `build --sign` uses.

use staves_attest::{CommandSigner, PublicKey, Signer, SigningKey};
use staves_registry::Reference;

use crate::cli::{KeygenArgs, SignArgs, SigningArgs, VerifyArgs};
use crate::report::{CliError, status};

/// The variable a private key (PEM) may come from.
const KEY_VARIABLE: &str = "STAVES_SIGNING_KEY";

pub fn keygen(args: &KeygenArgs) -> Result<(), CliError> {
    let key = match args.ed25519 {
        true => SigningKey::generate_ed25519(),
        false => SigningKey::generate(),
    };
    let (private, public) = key
        .write_pair(&args.prefix)
        .map_err(staves_pipeline::PipelineError::from)?;
    status(
        "Wrote",
        &format!(
            "{} (private, mode 0600: keep it secret) and {} (public: give it to verifiers)",
            private.display(),
            public.display()
        ),
    );
    Ok(())
}

/// The signer `--sign`/`--key`, `STAVES_SIGNING_KEY` or `--sign-with` name, if any.
pub(crate) fn signer(
    key: Option<&str>,
    command: Option<&str>,
    command_key: Option<&std::path::Path>,
) -> Result<Option<Box<dyn Signer>>, CliError> {
    let pipeline = staves_pipeline::PipelineError::from;
    if let Some(command) = command {
        let argv = shlex::split(command)
            .filter(|a| !a.is_empty())
            .ok_or_else(|| {
                CliError::Usage(format!("--sign-with `{command}`: not a command line"))
            })?;
        let public = command_key
            .map(PublicKey::read)
            .transpose()
            .map_err(pipeline)?;
        return Ok(Some(Box::new(CommandSigner { argv, public })));
    }
    let Some(key) = key else { return Ok(None) };
    let key = if key == "env" {
        let pem = std::env::var(KEY_VARIABLE).map_err(|_| {
            CliError::Usage(format!("`env` names {KEY_VARIABLE}, which is not set"))
        })?;
        SigningKey::from_pem(&pem).map_err(|e| CliError::Usage(format!("{KEY_VARIABLE}: {e}")))?
    } else {
        SigningKey::read(std::path::Path::new(key)).map_err(pipeline)?
    };
    Ok(Some(Box::new(key)))
}

/// The signer of `build --sign`.
pub(crate) fn build_signer(args: &SigningArgs) -> Result<Option<Box<dyn Signer>>, CliError> {
    signer(
        args.sign.as_deref(),
        args.sign_with.as_deref(),
        args.sign_key.as_deref(),
    )
}

pub fn sign(args: &SignArgs) -> Result<(), CliError> {
    let reference = Reference::parse(&args.reference)?;
    let Some(signer) = signer(
        args.key.as_deref(),
        args.sign_with.as_deref(),
        args.sign_key.as_deref(),
    )?
    else {
        return Err(CliError::Usage(
            "say how to sign: --key or --sign-with".into(),
        ));
    };
    let options = super::push::options((&args.cache, &args.reach), &args.registry);
    // What the reference names now, pulled into the cache (every blob checked): signing
    // an image means vouching for those bytes.
    let archs = vec![staves_deb::arch::host().to_owned()];
    let (dir, digest) = staves_pipeline::publish::pull_image(
        &reference,
        &archs,
        &options,
        crate::report::reporter().as_ref(),
    )?;
    let layout = staves_oci::Layout::open(&dir)?;
    let entry = layout
        .index()?
        .into_iter()
        .find(|e| e.digest.as_ref() == digest)
        .ok_or_else(|| CliError::Internal(format!("{digest} is not in the pulled layout")))?;
    let signed = staves_pipeline::signing::sign(
        &layout,
        &entry,
        &reference,
        &options,
        signer.as_ref(),
        &[],
        args.registry.signature_format.into(),
    )?;
    status(
        "Signed",
        &format!(
            "{reference}@{digest}: {} manifest(s), {} new signature(s), {} bundle(s)",
            signed.signed.len(),
            signed.new,
            signed.bundles
        ),
    );
    Ok(())
}

pub fn verify(args: &VerifyArgs) -> Result<(), CliError> {
    let key = PublicKey::read(&args.key).map_err(staves_pipeline::PipelineError::from)?;
    // A layout (`DIR` or `DIR:TAG`): what was signed into it.
    let (dir, tag) = super::inspect::split_selection(&args.reference);
    if std::path::Path::new(dir).join("oci-layout").is_file() {
        if args.rebuild {
            return Err(CliError::Usage(
                "--rebuild compares with a registry image: push the layout first".into(),
            ));
        }
        let layout = staves_oci::Layout::open(std::path::Path::new(dir))?;
        let verified = staves_pipeline::signing::verify_layout(&layout, tag, &key)?;
        return print_verified(args, &args.reference, &verified, None);
    }
    let reference = Reference::parse(&args.reference)?;
    let options = args
        .spec
        .source
        .reach
        .options(&args.spec.source.cache, 64 << 20);
    let verified = staves_pipeline::signing::verify(&reference, &key, &options)?;
    let rebuilt = match args.rebuild {
        true => Some(rebuild(args, &reference, &verified, &options)?),
        false => None,
    };
    print_verified(args, &reference.to_string(), &verified, rebuilt)
}

fn print_verified(
    args: &VerifyArgs,
    reference: &str,
    verified: &staves_pipeline::signing::Verified,
    rebuilt: Option<String>,
) -> Result<(), CliError> {
    let provenance = verified.provenance.as_ref();
    let report = serde_json::json!({
        "reference": reference,
        "digest": verified.digest,
        "signed": verified.signed,
        "signed_as": verified.identities,
        "bundles": verified.bundles,
        "attestations": verified.attestations,
        "builder": provenance.map(|p| p["runDetails"]["builder"]["id"].clone()),
        "started": provenance.map(|p| p["runDetails"]["metadata"]["startedOn"].clone()),
        "finished": provenance.map(|p| p["runDetails"]["metadata"]["finishedOn"].clone()),
        "spec": provenance.map(|p| p["buildDefinition"]["externalParameters"]["spec"].clone()),
        "dependencies": provenance.map(|p| p["buildDefinition"]["resolvedDependencies"].as_array().map_or(0, Vec::len)),
        "rebuilt": rebuilt,
    });
    super::resolve::print_report(args.json, &report, |out| {
        writeln!(out, "{reference}@{}: verified", verified.digest)?;
        writeln!(out, "  signed: {}", verified.signed.join(", "))?;
        writeln!(out, "  signed as: {}", verified.identities.join(", "))?;
        if verified.bundles > 0 {
            writeln!(out, "  Sigstore bundles verified: {}", verified.bundles)?;
        }
        for kind in &verified.attestations {
            writeln!(out, "  attestation: {kind}")?;
        }
        if let Some(p) = provenance {
            let run = &p["runDetails"];
            writeln!(
                out,
                "  built by {} (staves {}) from {} with {} inputs, {} to {}",
                run["builder"]["id"].as_str().unwrap_or("?"),
                run["builder"]["version"]["staves"].as_str().unwrap_or("?"),
                p["buildDefinition"]["externalParameters"]["spec"]["path"]
                    .as_str()
                    .unwrap_or("?"),
                p["buildDefinition"]["resolvedDependencies"]
                    .as_array()
                    .map_or(0, Vec::len),
                run["metadata"]["startedOn"].as_str().unwrap_or("?"),
                run["metadata"]["finishedOn"].as_str().unwrap_or("?"),
            )?;
        }
        if let Some(digest) = &rebuilt {
            writeln!(
                out,
                "  rebuilt from the spec and lock: {digest}, the signed digest"
            )?;
        }
        Ok(())
    })
}

/// Rebuilds the image from the spec and lock the provenance names (checked by digest),
/// with what else it records (compression, `SOURCE_DATE_EPOCH`), and compares digests:
/// verification without trusting the builder. Returns the rebuilt digest, equal to the
/// signed one; a difference is an error naming the first file that differs.
fn rebuild(
    args: &VerifyArgs,
    reference: &Reference,
    verified: &staves_pipeline::signing::Verified,
    options: &staves_pipeline::publish::RegistryOptions,
) -> Result<String, CliError> {
    let refused = |why: String| {
        CliError::Pipeline(staves_pipeline::PipelineError::NotVerified {
            reference: reference.to_string(),
            why,
        })
    };
    let provenance = verified.provenance.as_ref().ok_or_else(|| {
        refused("no provenance is attested: nothing says how it was built".into())
    })?;
    let external = &provenance["buildDefinition"]["externalParameters"];
    let sha256 = |path: &std::path::Path| {
        staves_pipeline::signing::file_sha256(path)
            .ok_or_else(|| CliError::Usage(format!("{}: cannot be read", path.display())))
    };
    let spec = &args.spec.file;
    if external["spec"]["digest"]["sha256"] != sha256(spec)?.as_str() {
        return Err(refused(format!(
            "{} is not the spec the image was built from ({} by SHA-256)",
            spec.display(),
            external["spec"]["path"].as_str().unwrap_or("?")
        )));
    }
    let lock = spec.with_file_name("staves.lock");
    if let Some(signed) = external["lock"]["digest"]["sha256"].as_str()
        && sha256(&lock)? != signed
    {
        return Err(refused(format!(
            "{} is not the lock the image was built from",
            lock.display()
        )));
    }
    let compression = match external["compression"].as_str() {
        Some("zstd") => staves_oci::LayerCompression::Zstd,
        _ => staves_oci::LayerCompression::Gzip,
    };
    // An empty cache for `--fresh-cache`, removed when the comparison is done.
    let mut spec_args = args.spec.clone();
    let fresh_cache = match args.fresh_cache {
        true => {
            let dir = tempfile::Builder::new()
                .prefix("staves-rebuild-")
                .tempdir()
                .map_err(|e| CliError::Internal(format!("a fresh cache: {e}")))?;
            spec_args.source.cache.dir = Some(dir.path().to_owned());
            Some(dir)
        }
        false => None,
    };
    let workspace = super::open_workspace(&spec_args, true, 8, compression)?;
    let names = external["names"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n.as_str())
        .map(staves_registry::ImageName::parse)
        .collect::<Result<Vec<_>, _>>()?;
    let built = staves_pipeline::build(
        &workspace,
        &staves_pipeline::BuildOptions {
            names: if names.is_empty() {
                super::build::image_names(&workspace.spec, &[])?
            } else {
                names
            },
            output: staves_pipeline::Output::Scratch { archive: false },
            context: workspace.spec.base_dir().to_owned(),
            jobs: 8,
            compression,
            locked: true,
            sbom: false,
            // Assembled here and now: an image-cache record is what this machine built
            // before, which is no evidence about what the signer built.
            fresh: true,
            source_date_epoch: external["sourceDateEpoch"].as_u64(),
        },
    )?;
    let digest = built.entry.digest.to_string();
    if let Some(cache) = &fresh_cache
        && let Ok(usage) = staves_pipeline::cache_space::usage(cache.path())
        && let Some(debs) = usage.iter().find(|u| u.kind == "debs")
    {
        status(
            "Fetched",
            &format!(
                "{} package(s), {:.1} MB, from the archive into an empty cache",
                debs.entries,
                debs.bytes as f64 / 1e6
            ),
        );
    }
    if digest == verified.digest {
        status(
            "Rebuilt",
            &format!("{digest}: the signed digest, bit for bit"),
        );
        return Ok(digest);
    }
    // Where they part: the first file that differs, of the host's image.
    let archs = vec![staves_deb::arch::host().to_owned()];
    let pinned = Reference::parse(&format!(
        "{}/{}@{}",
        reference.registry, reference.repository, verified.digest
    ))?;
    let (signed_dir, _) = staves_pipeline::publish::pull_image(
        &pinned,
        &archs,
        options,
        crate::report::reporter().as_ref(),
    )?;
    let tree = |path: &std::path::Path| -> Result<staves_oci::Tree, CliError> {
        let image = staves_oci::ImageReader::open(path, None, Some(&archs[0]))?;
        Ok(image.tree_hashed(|_| false, 0)?)
    };
    let (signed, ours) = (tree(&signed_dir)?, tree(built.layout.root())?);
    let first = signed
        .files
        .keys()
        .chain(ours.files.keys())
        .filter(|path| signed.files.get(*path) != ours.files.get(*path))
        .min()
        .cloned()
        .unwrap_or_else(|| {
            "(no file: the difference is in the configuration or the layers' packing)".into()
        });
    Err(refused(format!(
        "rebuilt from the spec and lock as {digest}, not the signed {}; the first file that differs: {first}",
        verified.digest
    )))
}

/// What `build --sign` attests of the image it built: the pipeline's attestations, with
/// the builder this host or CI job is (`STAVES_BUILDER_ID`, else `staves://HOSTNAME`).
pub(crate) fn attestations(
    spec_args: &crate::cli::SpecArgs,
    workspace: &staves_pipeline::Workspace,
    built: &staves_pipeline::Build,
    names: &[staves_registry::ImageName],
    started: std::time::Instant,
    compression: &str,
) -> Result<Vec<staves_pipeline::signing::Attestation>, CliError> {
    let builder_id = std::env::var("STAVES_BUILDER_ID").unwrap_or_else(|_| {
        let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        format!("staves://{}", host.trim())
    });
    Ok(staves_pipeline::signing::attestations(
        workspace,
        built,
        &staves_pipeline::signing::BuildFacts {
            builder_id,
            spec: spec_args.file.clone(),
            names: names.iter().map(ToString::to_string).collect(),
            started: std::time::SystemTime::now() - started.elapsed(),
            compression: compression.to_owned(),
            source_date_epoch: super::source_date_epoch()?,
        },
    )?)
}
