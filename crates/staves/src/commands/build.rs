//! `staves build`: the arguments turned into the pipeline's options; then loading, the SBOM
//! file and pushing, which the command line owns.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use staves_pipeline::{BuildOptions, Output};
use staves_registry::ImageName;

use crate::cli::BuildArgs;
use crate::report::{CliError, status};

pub fn run(args: &BuildArgs) -> Result<(), CliError> {
    let started = Instant::now();
    if args.output.is_none() && !args.load && args.push.is_none() {
        return Err(CliError::Usage(
            "say where the image goes: `--output image.tar`, `--output DIR`, `--load` or `--push REF`"
                .into(),
        ));
    }
    // A bad destination fails before minutes of work, not after.
    let push_to = args
        .push
        .as_deref()
        .map(staves_registry::Reference::parse)
        .transpose()?;
    let signer = super::sign::build_signer(&args.signing)?;
    let layout_out = args
        .output
        .as_ref()
        .filter(|out| out.extension().is_none_or(|e| e != "tar"));
    if signer.is_some() && push_to.is_none() && layout_out.is_none() {
        return Err(CliError::Usage(
            "--sign signs what is pushed or written as a layout: add `--push REF` or `-o DIR`"
                .into(),
        ));
    }
    let workspace = super::open_workspace(
        &args.spec,
        args.locked,
        args.jobs,
        compression(args.compression),
    )?;
    let names = image_names(&workspace.spec, &args.tag)?;
    let output = match &args.output {
        Some(out) if out.extension().is_some_and(|e| e == "tar") => Output::Archive(out.clone()),
        Some(out) => Output::Layout(out.clone()),
        None => Output::Scratch { archive: args.load },
    };
    let options = BuildOptions {
        names: names.clone(),
        output,
        context: args
            .spec
            .context
            .clone()
            .unwrap_or_else(|| workspace.spec.base_dir().to_owned()),
        jobs: args.jobs,
        compression: compression(args.compression),
        locked: args.locked,
        sbom: args.sbom.is_some() || args.attach_sbom || signer.is_some(),
        fresh: args.fresh,
        source_date_epoch: super::source_date_epoch()?,
    };
    let built = staves_pipeline::build(&workspace, &options)?;
    let references: Vec<String> = names.iter().map(ToString::to_string).collect();
    if args.load {
        load_built(&built, &references)?;
    }
    if let (Some(path), Some(json)) = (&args.sbom, &built.sbom) {
        match args.sbom_format {
            crate::cli::SbomFormat::Spdx => super::write_atomic(path, json)?,
            crate::cli::SbomFormat::Cyclonedx => {
                let spdx: serde_json::Value = serde_json::from_slice(json)
                    .map_err(|e| CliError::Internal(format!("the SBOM: {e}")))?;
                let bom =
                    staves_sbom::cyclonedx::from_spdx(&staves_sbom::Document::from_value(spdx));
                let mut bytes = serde_json::to_vec_pretty(&bom)
                    .map_err(|e| CliError::Internal(format!("the SBOM: {e}")))?;
                bytes.push(b'\n');
                super::write_atomic(path, &bytes)?;
            }
        }
    }
    // What a signed image is attested with, made once for the layout and the registry.
    let attestations = match &signer {
        Some(_) => super::sign::attestations(
            &args.spec,
            &workspace,
            &built,
            &names,
            started,
            compression_name(args.compression),
        )?,
        None => Vec::new(),
    };
    if let (Some(signer), Some(_)) = (&signer, layout_out) {
        let written = staves_pipeline::signing::sign_layout(
            &built.layout,
            &built.entry,
            &names[0].repository,
            signer.as_ref(),
            &attestations,
        )?;
        status(
            "Signed",
            &format!(
                "{} in the layout: {written} signature(s) and attestation(s) as artifacts referring to it",
                built.entry.digest
            ),
        );
    }
    let target = match (&args.output, args.load) {
        (Some(out), _) => out.display().to_string(),
        (None, true) => "the local image store".into(),
        (None, false) => "a scratch layout".into(),
    };
    status(
        "Finished",
        &format!(
            "{} ({}) into {target} in {:.2}s",
            references[0],
            built.entry.digest,
            started.elapsed().as_secs_f64()
        ),
    );
    if let Some(reference) = &push_to {
        super::push::push_entry(
            (&args.spec.source.cache, &args.spec.source.reach),
            &built.layout,
            &built.entry,
            reference,
            &args.registry,
        )?;
        if let Some(json) = &built.sbom
            && args.attach_sbom
        {
            super::push::attach_sbom(
                (&args.spec.source.cache, &args.spec.source.reach),
                &built.layout,
                &built.entry,
                reference,
                &args.registry,
                json,
            )?;
        }
        if let Some(signer) = &signer {
            let signed = staves_pipeline::signing::sign(
                &built.layout,
                &built.entry,
                reference,
                &super::push::options(
                    (&args.spec.source.cache, &args.spec.source.reach),
                    &args.registry,
                ),
                signer.as_ref(),
                &attestations,
                args.registry.signature_format.into(),
            )?;
            status(
                "Signed",
                &format!(
                    "{reference}@{}: {} manifest(s), {} attestation(s), {} bundle(s) ({})",
                    built.entry.digest,
                    signed.signed.len(),
                    signed.attestations,
                    signed.bundles,
                    attestations
                        .iter()
                        .map(|a| a.predicate_type.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }
    if args.debug || workspace.spec.debug {
        let debug = staves_pipeline::build_debug(&workspace, &built, &options)?;
        let names: Vec<String> = references.iter().map(|r| format!("{r}-debug")).collect();
        if args.load {
            load_built(&debug, &names)?;
        }
        status(
            "Finished",
            &format!("{} ({}), the debug variant", names[0], debug.entry.digest),
        );
        if let Some(reference) = &push_to {
            let mut reference = reference.clone();
            reference.tag = Some(format!(
                "{}-debug",
                reference.tag.as_deref().unwrap_or("latest")
            ));
            super::push::push_entry(
                (&args.spec.source.cache, &args.spec.source.reach),
                &debug.layout,
                &debug.entry,
                &reference,
                &args.registry,
            )?;
        }
    }
    Ok(())
}

/// Loads the docker-archive a build wrote for `--load`, named `references`.
fn load_built(built: &staves_pipeline::Build, references: &[String]) -> Result<(), CliError> {
    let archive = built
        .archive
        .as_deref()
        .ok_or_else(|| CliError::Internal("no docker-archive to load".into()))?;
    load(archive, references)
}

fn compression_name(compression: crate::cli::Compression) -> &'static str {
    match compression {
        crate::cli::Compression::Gzip => "gzip",
        crate::cli::Compression::Zstd => "zstd",
    }
}

/// The names the image gets: `--tag`s as `docker build -t` reads them, else the spec's
/// `name` and `tag`.
pub(crate) fn image_names(
    spec: &staves_spec::Spec,
    tags: &[String],
) -> Result<Vec<ImageName>, CliError> {
    if tags.is_empty() {
        let tag = spec.tag.as_deref().unwrap_or("latest");
        return Ok(vec![ImageName::parse(&format!(
            "{}:{tag}",
            spec.name.get_ref()
        ))?]);
    }
    let mut names = Vec::new();
    for tag in tags {
        let name = ImageName::parse(tag)?;
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}

/// `docker load`, or `podman load` where Docker is not running.
pub(crate) fn load(archive: &Path, names: &[String]) -> Result<(), CliError> {
    let docker_up = Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success());
    let tool = if docker_up { "docker" } else { "podman" };
    let out = Command::new(tool)
        .args(["load", "-i"])
        .arg(archive)
        .output()
        .map_err(|e| CliError::Usage(format!("cannot run `{tool} load`: {e}")))?;
    if !out.status.success() {
        return Err(CliError::Usage(format!(
            "`{tool} load` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    tracing::debug!(
        "{tool} load: {}",
        String::from_utf8_lossy(&out.stdout).trim()
    );
    status("Loaded", &format!("{} into {tool}", names.join(", ")));
    Ok(())
}

/// The layer compression the command line names.
pub(crate) fn compression(c: crate::cli::Compression) -> staves_oci::LayerCompression {
    match c {
        crate::cli::Compression::Gzip => staves_oci::LayerCompression::Gzip,
        crate::cli::Compression::Zstd => staves_oci::LayerCompression::Zstd,
    }
}
