//! From a workspace and its lock to images: every `.deb` fetched and verified, each
//! architecture's layer assembled from them, an OCI layout (and a docker-archive where one
//! is asked for) written beside its destination and renamed into place whole.

mod cached;
mod layered;
mod options;
mod sbom;

use std::collections::BTreeMap;
use std::path::PathBuf;

use staves_image::{ImageError, PackageInput, Summary};
use staves_oci::{BlobRef, LayerBlob, LayerCompression, Layout, Platform};
use staves_registry::ImageName;
use staves_repo::Client;
use staves_repo::debs::{DebFetch, fetch_debs};
use staves_resolve::{LockedPackage, LockedTarget, Lockfile};

use crate::error::PipelineError;
use crate::workspace::Workspace;

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
    /// Also render an SBOM of every image built (the images are then assembled afresh: the
    /// SBOM is made of what assembly reads).
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
            .ok_or_else(|| PipelineError::Internal("no image was built".into()))?;
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
        .ok_or_else(|| PipelineError::Internal(format!("no image built for {arch}")))?;
    let mut manifest = image.manifest.clone();
    manifest.annotations = entry.annotations.clone();
    manifest.platform = None;
    staves_oci::write_docker_archive(layout, &manifest, references, image.summary.mtime, path)?;
    Ok(())
}

/// Builds the workspace's selected architectures as `options` say.
pub fn build(workspace: &Workspace, options: &BuildOptions) -> Result<Build, PipelineError> {
    let names = &options.names;
    let first = names
        .first()
        .ok_or_else(|| PipelineError::Invalid("an image needs a name".into()))?;
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
                return Err(PipelineError::Invalid(format!(
                    "a docker-archive holds one image and this host ({host}) is not among {}; pick one with `--arch`, or write an OCI layout with `--output DIR`",
                    many.join(", ")
                )));
            }
            Some(host.to_owned())
        }
    };

    let mut layout = Layout::create(&layout_dir)?;
    let mut built = Vec::new();
    let mut targets = Vec::new();
    for arch in &workspace.selected {
        let target = lock.target(arch).ok_or_else(|| {
            PipelineError::Internal(format!("the lock has no package set for {arch}"))
        })?;
        targets.push((target, locate(&lock, target, workspace.cache.root())?));
    }
    // An image built before from the same inputs is taken from the cache as it is: nothing
    // downloaded, decoded or compressed. (With an SBOM asked for, everything is rebuilt:
    // the SBOM needs what assembly reads from every package.)
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
        let hit = (!options.sbom && !options.fresh)
            .then(|| cached::lookup(&workspace.cache, &key))
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
                    ..Summary::default()
                },
                packages: located,
                listed,
            });
            continue;
        }
        let debs = located
            .iter()
            .map(|l| {
                fetched.get(&l.package.sha256).cloned().ok_or_else(|| {
                    PipelineError::Internal(format!("{} was not downloaded", l.package.name))
                })
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
        };
        // Keeping it is an optimisation: a cache that cannot take it costs the next build.
        if let Err(e) = cached::store(&workspace.cache, &key, &record, &layout) {
            workspace
                .reporter()
                .status("Skipped", &format!("keeping the image in the cache: {e}"));
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
    for b in &built {
        report_scripts(b);
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

/// Assembles and writes one architecture's image into `layout` from its downloaded `.deb`s.
/// What one architecture's image is made from.
struct Inputs<'a> {
    target: &'a LockedTarget,
    /// The packages it installs.
    located: Vec<Located>,
    /// What its SBOM lists: the base's packages, then `located`.
    listed: Vec<Located>,
    /// Each of `located`'s `.deb`, downloaded.
    debs: Vec<PathBuf>,
}

fn build_arch(
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
    })
}

/// The history comment of each layer of a split image: the source packages it holds, or
/// for the last, what is generated.
fn layer_comments(layers: &[staves_image::LayerContents]) -> Vec<String> {
    layers
        .iter()
        .map(|l| {
            if l.packages.is_empty() {
                "dpkg database, accounts and generated files".to_owned()
            } else {
                format!(
                    "{} Debian packages from {}",
                    l.packages.len(),
                    l.sources.join(", ")
                )
            }
        })
        .collect()
}

/// The target's packages with the URL of each `.deb`.
fn locate(
    lock: &Lockfile,
    target: &LockedTarget,
    cache_root: &std::path::Path,
) -> Result<Vec<Located>, PipelineError> {
    let uris: BTreeMap<&str, &str> = lock
        .repositories
        .iter()
        .map(|r| (r.name.as_str(), r.uri.as_str()))
        .collect();
    target
        .packages
        .iter()
        .map(|p| {
            let uri = uris.get(p.repository.as_str()).ok_or_else(|| {
                PipelineError::Internal(format!("lock names unknown repository {}", p.repository))
            })?;
            Ok(Located {
                package: p.clone(),
                url: crate::from_source::url(cache_root, uri, &p.filename),
            })
        })
        .collect()
}

/// Every `.deb` of `located`, from the cache or the network, verified.
fn download(
    workspace: &Workspace,
    located: &[Located],
    jobs: usize,
) -> Result<Vec<PathBuf>, PipelineError> {
    let fetches: Vec<DebFetch> = located
        .iter()
        .map(|l| DebFetch {
            package: format!(
                "{} {} ({})",
                l.package.name, l.package.version, l.package.arch
            ),
            url: l.url.clone(),
            size: l.package.size,
            sha256: l.package.sha256.clone(),
        })
        .collect();
    let progress = workspace.reporter().downloads("Fetching");
    let client = Client::new(progress);
    let paths = fetch_debs(
        &client,
        &workspace.cache,
        &fetches,
        jobs,
        workspace.offline(),
    );
    drop(client);
    Ok(paths?)
}

/// What maintainer scripts did that the image does not reproduce, once per package, in
/// the verbose log (`staves build -v`); `staves scripts` lists it on demand.
fn report_scripts(b: &BuiltImage) {
    for report in &b.summary.scripts {
        for command in &report.unmodelled {
            tracing::info!("{}'s postinst: not modelled: {command}", report.package);
        }
        for command in &report.run_time {
            tracing::info!(
                "{}'s postinst: left to the first start: {command}",
                report.package
            );
        }
        for note in &report.notes {
            tracing::info!("{}'s postinst: {note}", report.package);
        }
    }
}

/// Warns of each library a `[[paths]]` program needs that the image lacks, naming the
/// packages that ship it (from the archive's Contents index, fetched only now).
fn report_missing_libraries(
    workspace: &Workspace,
    b: &BuiltImage,
    several: bool,
) -> Result<(), PipelineError> {
    let missing = &b.summary.missing_libraries;
    if missing.is_empty() {
        return Ok(());
    }
    let names: std::collections::BTreeSet<String> = missing
        .iter()
        .map(|m| {
            m.library
                .rsplit('/')
                .next()
                .unwrap_or(&m.library)
                .to_owned()
        })
        .collect();
    let repositories = workspace.sync(&b.arch)?;
    let client = Client::new(workspace.reporter().downloads("Contents"));
    let owners = staves_repo::contents::library_owners(
        &client,
        &workspace.cache,
        &repositories,
        &b.arch,
        &names,
        workspace.offline(),
    );
    drop(client);
    // Naming the package is a courtesy: without the Contents index the warning stands.
    let owners = owners.unwrap_or_else(|e| {
        workspace.reporter().status(
            "Skipped",
            &format!("naming the packages of missing libraries: {e}"),
        );
        Default::default()
    });
    let on = if several {
        format!(" for {}", b.arch)
    } else {
        String::new()
    };
    for m in missing {
        let name = m.library.rsplit('/').next().unwrap_or(&m.library);
        let fix = match owners.get(name) {
            Some(packages) if !packages.is_empty() => format!(
                "add {} to `packages`",
                packages
                    .iter()
                    .map(|p| format!("\"{p}\""))
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
            _ => "no repository's Contents index names a package shipping it".into(),
        };
        workspace.reporter().warning(&format!(
            "{} needs {}, which the image{on} lacks: {fix}",
            m.file, m.library
        ));
    }
    Ok(())
}

/// Well-known paths and the Debian package that provides each.
const PROVIDERS: &[(&str, &str)] = &[
    ("/bin/sh", "dash"),
    ("/usr/bin/sh", "dash"),
    ("/bin/bash", "bash"),
    ("/usr/bin/bash", "bash"),
];

/// "the image has no /bin/sh, yet …: add `dash`".
fn unmet_message(unmet: &staves_image::Unmet, arch: &str, several: bool) -> String {
    let examples: Vec<String> = unmet
        .examples
        .iter()
        .map(|n| format!("{} ({}) {}", n.path, n.package, n.why))
        .collect();
    let more = unmet.count - unmet.examples.len();
    let more = if more > 0 {
        format!(" and {more} more file(s)")
    } else {
        String::new()
    };
    let fix = match PROVIDERS.iter().find(|(path, _)| *path == unmet.requires) {
        Some((_, package)) => format!(
            "add \"{package}\" to `packages` (or `exclude = [\"{package}\"]` to go without)"
        ),
        None => format!(
            "add the package that ships {} to `packages`",
            unmet.requires
        ),
    };
    let on = if several {
        format!(" for {arch}")
    } else {
        String::new()
    };
    format!(
        "the image{on} has no {}, yet {}{more}: {fix}",
        unmet.requires,
        examples.join("; ")
    )
}
