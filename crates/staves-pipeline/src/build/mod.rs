//! From a workspace and its lock to images: every `.deb` fetched and verified, each
//! architecture's layer assembled from them, an OCI layout (and a docker-archive where one
//! is asked for) written beside its destination and renamed into place whole.

mod arch;
mod cached;
mod debug;
pub(crate) mod fetch;
mod layered;
mod options;
mod programs;
mod report;
mod sbom;
mod users;

use std::collections::BTreeMap;
use std::path::PathBuf;

use staves_image::Summary;
use staves_oci::{BlobRef, LayerBlob, LayerCompression, Layout, Platform};
use staves_registry::ImageName;
use staves_resolve::LockedPackage;

use crate::error::PipelineError;

use crate::workspace::Workspace;
use arch::{Inputs, build_arch};
use fetch::{download, locate};
use report::{PROVIDERS, report_missing_libraries, report_scripts, unmet_message};

pub use debug::{BUSYBOX, build_debug};
pub use sbom::SBOM_PATH;

/// Where a build's image goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A docker-archive at this path (one image: the host's, or the only one built).
    Archive(PathBuf),
    /// An OCI image layout at this directory (every architecture, as an index).
    Layout(PathBuf),
    /// A layout in scratch space, for a push; with `archive`, also a docker-archive there
    /// (for loading into an engine).
    Scratch {
        /// Write a docker-archive too.
        archive: bool,
    },
}

/// What to build and how.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The image's names; the first one names it in messages. At least one.
    pub names: Vec<ImageName>,
    /// Where it goes.
    pub output: Output,
    /// The directory `[[paths]] source` may read from.
    pub context: PathBuf,
    /// Parallel downloads.
    pub jobs: usize,
    /// Layer compression.
    pub compression: LayerCompression,
    /// Refuse a missing or stale lock instead of re-resolving.
    pub locked: bool,
    /// Also render an SBOM of every image built (from what assembly read of each package,
    /// kept in the image cache with the image).
    pub sbom: bool,
    /// Assemble afresh even when the image cache holds an image built from the same inputs.
    pub fresh: bool,
    /// The date of every file and of the image (`SOURCE_DATE_EPOCH`); the newest package's
    /// build time when unset.
    pub source_date_epoch: Option<u64>,
}

/// A locked package with where its `.deb` came from.
#[derive(Debug, Clone)]
pub struct Located {
    /// The locked package.
    pub package: LockedPackage,
    /// Its `.deb`'s URL.
    pub url: String,
    /// Its URL in the repository's snapshot archive at the time the lock read the
    /// repository, when the spec names one, and how messages name that place.
    pub snapshot: Option<(String, String)>,
}

/// One architecture's image, once written.
#[derive(Debug)]
pub struct BuiltImage {
    /// The Debian architecture.
    pub arch: String,
    /// Its manifest in the layout.
    pub manifest: BlobRef,
    /// The layers it added (one, unless the spec asks for `layers`), bottom first.
    pub layers: Vec<LayerBlob>,
    /// What assembly found and did.
    pub summary: Summary,
    /// The packages it installed.
    pub packages: Vec<Located>,
    /// What its SBOM lists: the base's packages, then its own.
    pub listed: Vec<Located>,
    /// Taken from the image cache as it was built before (nothing assembled this run).
    pub reused: bool,
}

/// What a build produced.
pub struct Build {
    /// Each architecture's image.
    pub images: Vec<BuiltImage>,
    /// The layout's entry under the first name: the image, or the index of several.
    pub entry: BlobRef,
    /// The layout holding everything (at the output, or in scratch space).
    pub layout: Layout,
    /// The docker-archive written, if any.
    pub archive: Option<PathBuf>,
    /// The SPDX document of every image, when asked for.
    pub sbom: Option<Vec<u8>>,
    /// Scratch space that lives as long as the build's results are used.
    _scratch: staves_fs::TempDir,
}

impl Build {
    /// Writes the image of `arch` (the host's when built, else the first) as a
    /// docker-archive at `path`, named `references`.
    pub fn write_archive(
        &self,
        arch: Option<&str>,
        references: &[String],
        path: &std::path::Path,
    ) -> Result<(), PipelineError> {
        let host = staves_deb::arch::host();
        let arch = arch
            .or_else(|| self.images.iter().any(|b| b.arch == host).then_some(host))
            .or_else(|| self.images.first().map(|b| b.arch.as_str()))
            .ok_or_else(|| PipelineError::NotBuilt(None))?;
        write_archive(
            &self.layout,
            &self.images,
            &self.entry,
            arch,
            references,
            path,
        )
    }
}

/// The image of `arch` among `built` as a docker-archive, named as `entry` names it.
fn write_archive(
    layout: &Layout,
    built: &[BuiltImage],
    entry: &BlobRef,
    arch: &str,
    references: &[String],
    path: &std::path::Path,
) -> Result<(), PipelineError> {
    let image = built
        .iter()
        .find(|b| b.arch == arch)
        .ok_or_else(|| PipelineError::NotBuilt(Some(arch.to_owned())))?;
    let mut manifest = image.manifest.clone();
    manifest.annotations = entry.annotations.clone();
    manifest.platform = None;
    staves_oci::write_docker_archive(layout, &manifest, references, image.summary.mtime, path)?;
    Ok(())
}

/// Builds the workspace's selected architectures as `options` say.
pub fn build(workspace: &Workspace, options: &BuildOptions) -> Result<Build, PipelineError> {
    let names = &options.names;
    let first = names.first().ok_or_else(|| PipelineError::NoImageName)?;
    let reference = first.to_string();
    let references: Vec<String> = names.iter().map(ToString::to_string).collect();
    // Files the spec copies in are checked before anything is fetched.
    workspace.spec.check_sources(&options.context)?;
    let lock = workspace.lock_for_build(options.locked)?;
    workspace.ensure_built(&lock)?;

    // Scratch space lives in the cache: a killed build's is swept by the next run. Outputs
    // are written beside their destination under temporary names and renamed into place
    // whole; what a killed build left there is swept now.
    let scratch = workspace.cache.scratch_dir()?;
    if let Output::Archive(out) | Output::Layout(out) = &options.output {
        let dir = staves_fs::parent_of(out);
        std::fs::create_dir_all(dir)?;
        staves_fs::sweep(dir)?;
    }
    let mut staged_layout = None;
    let (layout_dir, archive) = match &options.output {
        Output::Archive(out) => (scratch.path().join("layout"), Some(out.clone())),
        Output::Layout(out) => {
            let staged = staves_fs::temp_dir_in(staves_fs::parent_of(out))?;
            let dir = staged.path().to_owned();
            staged_layout = Some((staged, out.clone()));
            (dir, None)
        }
        Output::Scratch { archive: true } => (
            scratch.path().join("layout"),
            Some(scratch.path().join("image.tar")),
        ),
        Output::Scratch { archive: false } => (scratch.path().join("layout"), None),
    };
    // A docker-archive holds one image: the host's, or the only one built.
    let archive_arch = match (&archive, workspace.selected.as_slice()) {
        (None, _) => None,
        (Some(_), [one]) => Some(one.clone()),
        (Some(_), many) => {
            let host = staves_deb::arch::host();
            if !many.iter().any(|a| a == host) {
                return Err(PipelineError::ArchiveNeedsOneArch {
                    host: host.to_owned(),
                    archs: many.iter().map(|a| a.to_string()).collect(),
                });
            }
            Some(host.to_owned())
        }
    };

    // Compressed blocks of earlier layers are kept beside the image cache: an image
    // assembled again compresses only what changed.
    let deflate = staves_oci::gzip::DirDeflateCache::new(workspace.cache.root().join("deflate"));
    let mut layout = Layout::create(&layout_dir)?.with_deflate_cache(std::sync::Arc::new(deflate));
    let mut built = Vec::new();
    let mut targets = Vec::new();
    for arch in &workspace.selected {
        let target = lock
            .target(arch)
            .ok_or_else(|| PipelineError::NoLockTarget(arch.clone()))?;
        targets.push((target, locate(&lock, target, workspace)?));
    }
    // An image built before from the same inputs is taken from the cache as it is: nothing
    // downloaded, decoded or compressed. (With an SBOM asked for, the facts assembly read
    // from every package must have been kept with it, or the image is assembled again.)
    let mut plans = Vec::new();
    for (target, located) in targets {
        let base = workspace.base(&target.arch)?.map(|b| b.as_ref());
        let assembly = options::options(&workspace.spec, base, options.source_date_epoch)?;
        let key = cached::key(
            &workspace.spec.source,
            target,
            &assembly,
            base,
            options.compression,
        );
        let hit = (!options.fresh)
            .then(|| {
                cached::lookup(&workspace.cache, &key, options.sbom).or_else(|| {
                    let shared = workspace.shared.as_deref()?;
                    let record = cached::lookup_shared(
                        &workspace.cache,
                        shared,
                        &key,
                        options.sbom,
                        workspace.reporter(),
                    )?;
                    workspace.reporter().status(
                        "Shared",
                        &format!(
                            "{reference} for {}: taken from the shared cache",
                            target.arch
                        ),
                    );
                    Some(record)
                })
            })
            .flatten();
        plans.push((target, located, assembly, key, hit));
    }
    // Every architecture's .debs in one parallel download; `all` packages they share, once.
    let mut unique: Vec<Located> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (_, located, _, _, hit) in &plans {
        if hit.is_some() {
            continue;
        }
        for l in located {
            if seen.insert(l.package.sha256.clone()) {
                unique.push(l.clone());
            }
        }
    }
    let fetched: BTreeMap<String, PathBuf> = if unique.is_empty() {
        BTreeMap::new()
    } else {
        unique
            .iter()
            .map(|l| l.package.sha256.clone())
            .zip(download(workspace, &unique, options.jobs)?)
            .collect()
    };
    for (target, located, assembly, key, hit) in plans {
        let base = workspace.base(&target.arch)?.map(|b| b.as_ref());
        let mut listed: Vec<Located> = base.map(|b| b.packages.clone()).unwrap_or_default();
        listed.extend_from_slice(&located);
        if let Some(record) = hit {
            cached::restore(&workspace.cache, &record, base, &layout)?;
            workspace.reporter().status(
                "Unchanged",
                &format!(
                    "{reference} for {}: the image built before from the same inputs",
                    target.arch
                ),
            );
            let mut manifest = record.manifest.clone();
            manifest.platform = Some(Platform::from_debian(&target.arch));
            built.push(BuiltImage {
                arch: target.arch.clone(),
                manifest,
                layers: record.layers.clone(),
                summary: Summary {
                    mtime: record.mtime,
                    filtered: record.filtered,
                    packages: record.facts.clone().unwrap_or_default(),
                    ..Summary::default()
                },
                packages: located,
                listed,
                reused: true,
            });
            continue;
        }
        let debs = located
            .iter()
            .map(|l| {
                fetched
                    .get(&l.package.sha256)
                    .cloned()
                    .ok_or_else(|| PipelineError::NotDownloaded(l.package.name.clone()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let image = build_arch(
            workspace,
            Inputs {
                target,
                located,
                listed,
                debs,
            },
            assembly,
            &layout,
            options.compression,
        )?;
        let (config, _) = layout.manifest_parts(&image.manifest)?;
        let record = cached::Record {
            manifest: image.manifest.clone(),
            config,
            layers: image.layers.clone(),
            mtime: image.summary.mtime,
            filtered: image.summary.filtered,
            facts: Some(image.summary.packages.clone()),
        };
        // Keeping it is an optimisation: a cache that cannot take it costs the next build.
        match cached::store(&workspace.cache, &key, &record, &layout) {
            Err(e) => workspace
                .reporter()
                .status("Skipped", &format!("keeping the image in the cache: {e}")),
            Ok(()) => {
                if let Some(shared) = workspace.shared.as_deref()
                    && let Err(e) = cached::keep_shared(&workspace.cache, shared, &key, &record)
                {
                    workspace
                        .reporter()
                        .warning(&format!("offering the image to the shared cache: {e}"));
                }
            }
        }
        built.push(image);
    }

    let created = built.iter().map(|b| b.summary.mtime).max().unwrap_or(0);
    let entry = if let [one] = built.as_slice() {
        one.manifest.clone()
    } else {
        let manifests: Vec<BlobRef> = built.iter().map(|b| b.manifest.clone()).collect();
        layout.put_image_index(&manifests)?
    };
    // One index entry per name, all of the same image: its bytes do not depend on its names.
    let mut entries: Vec<BlobRef> = Vec::new();
    for name in names {
        if entries
            .iter()
            .any(|e| e.annotations.get("org.opencontainers.image.ref.name") == Some(&name.tag))
        {
            continue; // the layout's names are tags; the first full name keeps it
        }
        let mut named = entry.clone();
        named
            .annotations
            .insert("org.opencontainers.image.ref.name".into(), name.tag.clone());
        named
            .annotations
            .insert("io.containerd.image.name".into(), name.to_string());
        entries.push(named);
    }
    layout.put_index(&entries)?;
    let entry = entries.swap_remove(0);
    if let Some((staged, out)) = staged_layout {
        staves_fs::replace_dir(&staged.keep(), &out)?;
        layout = Layout::open(&out)?;
    }

    if let (Some(archive), Some(arch)) = (&archive, &archive_arch) {
        write_archive(&layout, &built, &entry, arch, &references, archive)?;
    }
    let sbom = options
        .sbom
        .then(|| sbom::sbom_document(&reference, Some(&entry.digest), &built, created).to_json());
    let several = built.len() > 1;
    // An image taken from the cache was reported as `Unchanged`; only what was assembled
    // now is `Built` (with what assembly found).
    for b in built.iter().filter(|b| !b.reused) {
        report_scripts(workspace, b);
        report_missing_libraries(workspace, b, several)?;
        for unmet in &b.summary.unmet {
            // `exclude = ["dash"]` says: no shell, on purpose.
            let provider = PROVIDERS.iter().find(|(path, _)| *path == unmet.requires);
            let declined = provider.is_some_and(|(_, package)| {
                workspace
                    .spec
                    .exclude
                    .iter()
                    .any(|e| e.get_ref() == package)
            });
            if !declined {
                workspace
                    .reporter()
                    .warning(&unmet_message(unmet, &b.arch, several));
            }
        }
        workspace.reporter().status(
            "Built",
            &format!(
                "{reference} for {} ({}): {} packages, {:.1} MB uncompressed, {:.1} MB compressed, {} files left out by `use`",
                b.arch,
                b.manifest.digest,
                b.packages.len(),
                b.layers.iter().map(|l| l.uncompressed_size).sum::<u64>() as f64 / 1e6,
                b.layers.iter().map(|l| l.blob.size).sum::<u64>() as f64 / 1e6,
                b.summary.filtered,
            ),
        );
    }
    Ok(Build {
        images: built,
        entry,
        layout,
        archive,
        sbom,
        _scratch: scratch,
    })
}
