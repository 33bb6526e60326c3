//! One architecture's image assembled: the packages streamed into layers (or the layers
//! reused), the config and manifest written into the layout.

use std::path::PathBuf;

use staves_image::{ImageError, PackageInput, Summary};
use staves_oci::{LayerBlob, LayerCompression, Layout, Platform};
use staves_resolve::LockedTarget;

use super::{BuiltImage, Located, layered, options, sbom};
use crate::{PipelineError, Workspace};

/// Assembles and writes one architecture's image into `layout` from its downloaded `.deb`s.
/// What one architecture's image is made from.
pub(super) struct Inputs<'a> {
    pub(super) target: &'a LockedTarget,
    /// The packages it installs.
    pub(super) located: Vec<Located>,
    /// What its SBOM lists: the base's packages, then `located`.
    pub(super) listed: Vec<Located>,
    /// Each of `located`'s `.deb`, downloaded.
    pub(super) debs: Vec<PathBuf>,
}

pub(super) fn build_arch(
    workspace: &Workspace,
    inputs: Inputs<'_>,
    mut options: staves_image::Options,
    layout: &Layout,
    compression: LayerCompression,
) -> Result<BuiltImage, PipelineError> {
    let Inputs {
        target,
        located,
        listed,
        debs,
    } = inputs;
    let spec = &workspace.spec;
    let packages: Vec<PackageInput> = located
        .iter()
        .zip(debs)
        .map(|(l, deb)| PackageInput {
            name: l.package.name.clone(),
            version: l.package.version.clone(),
            arch: l.package.arch.clone(),
            deb,
            sha256: l.package.sha256.clone(),
            own: [crate::from_source::BUILT, crate::from_source::LOCAL]
                .contains(&l.package.repository.as_str()),
            // Decoded once, kept as zstd: warm builds skip xz.
            unpacked: Some(
                workspace
                    .cache
                    .entry("unpacked", &l.package.sha256, ".tar.zst"),
            ),
        })
        .collect();
    let base = workspace.base(&target.arch)?.map(|b| b.as_ref());
    options.temp_dir = Some(workspace.cache.tmp_dir());
    // The SBOM lists the base's packages too: it describes the whole image.
    options
        .generated
        .push(sbom::in_image(spec.name.get_ref(), &target.arch, &listed));
    if let Some(base) = base {
        base.link_layers_into(layout)?;
    }

    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let write_layers =
        || -> Result<Result<(Vec<LayerBlob>, Summary), ImageError>, PipelineError> {
            if spec.layers > 1 {
                let written = layered::write_layers(
                    &workspace.cache,
                    &packages,
                    &options,
                    spec.layers,
                    layout,
                    compression,
                    threads,
                )?;
                return Ok(written.map(|w| {
                    if w.compressed < w.layers.len() {
                        workspace.reporter().status(
                            "Reused",
                            &format!(
                                "{} of {} layers for {} from the cache",
                                w.layers.len() - w.compressed,
                                w.layers.len(),
                                target.arch
                            ),
                        );
                    }
                    (w.layers, w.summary)
                }));
            }
            let mut summary = None;
            let layer = layout.put_layer(compression, threads, |out| {
                staves_image::assemble(&packages, &options, out).map(|(_, s)| summary = Some(s))
            })?;
            Ok(layer.map(|layer| (vec![layer], summary.unwrap_or_default())))
        };
    let (layers, summary) = match write_layers()? {
        Ok(done) => done,
        Err(error) => {
            // The kept decoded copies come from verified .debs but live in a cache that can
            // be damaged; drop the damaged ones and build once more from the .debs.
            let damaged: Vec<&PathBuf> = packages
                .iter()
                .filter_map(|p| Some((p.unpacked.as_ref()?, &p.sha256)))
                .filter(|(copy, sha)| !staves_image::unpacked_copy_is_intact(copy, sha))
                .map(|(copy, _)| copy)
                .collect();
            if damaged.is_empty() {
                return Err(error.into());
            }
            for copy in &damaged {
                std::fs::remove_file(copy)?;
            }
            workspace.reporter().status(
                "Rebuilding",
                &format!(
                    "{} cached decoded package(s) were damaged and were removed",
                    damaged.len()
                ),
            );
            write_layers()??
        }
    };
    super::users::check(spec, &summary)?;
    super::programs::check(spec, &summary)?;

    let mut annotations = spec.annotations.clone();
    annotations.insert(
        "org.opencontainers.image.created".into(),
        staves_oci::image::rfc3339(summary.mtime),
    );
    let config = options::image_config(spec, base.map(|b| &b.config));
    let comments = if summary.layers.is_empty() {
        vec![match base {
            Some(b) => format!("{} Debian packages on {}", packages.len(), b.name),
            None => format!("{} Debian packages", packages.len()),
        }]
    } else {
        layer_comments(&summary.layers)
    };
    let manifest = layout.put_image(&staves_oci::NewImage {
        platform: &Platform::from_debian(&target.arch),
        config: &config,
        below: base.map(|b| b.below.clone()).unwrap_or_default(),
        layers: &layers,
        created: summary.mtime,
        comments,
        annotations,
    })?;
    Ok(BuiltImage {
        arch: target.arch.clone(),
        manifest,
        layers,
        summary,
        packages: located,
        listed,
        reused: false,
    })
}

/// The history comment of each layer of a split image: the source packages it holds, and
/// what else.
pub(super) fn layer_comments(layers: &[staves_image::LayerContents]) -> Vec<String> {
    use staves_image::LayerRole;
    layers
        .iter()
        .map(|l| {
            let packages = (!l.packages.is_empty()).then(|| {
                format!(
                    "{} Debian packages from {}",
                    l.packages.len(),
                    l.sources.join(", ")
                )
            });
            let other = match l.holds {
                LayerRole::Packages => None,
                LayerRole::Generated => Some("dpkg database, accounts and generated files"),
                LayerRole::Own => Some("the spec's own paths, services and packages"),
            };
            packages
                .into_iter()
                .chain(other.map(str::to_owned))
                .collect::<Vec<_>>()
                .join("; ")
        })
        .collect()
}
