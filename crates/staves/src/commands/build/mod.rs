//! `staves build`: from the spec (and its lock) to an image.

mod options;
mod sbom;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use staves_image::{PackageInput, Summary};
use staves_oci::{BlobRef, LayerBlob, Layout, Platform};
use staves_repo::Client;
use staves_repo::debs::{DebFetch, fetch_debs};
use staves_resolve::{LockedPackage, LockedTarget, Lockfile};

use crate::cli::BuildArgs;
use crate::progress;
use crate::report::{CliError, status, warning};
use staves_pipeline::Workspace;

/// One architecture's image, once written.
struct Built {
    arch: String,
    manifest: BlobRef,
    layer: LayerBlob,
    summary: Summary,
    packages: Vec<Located>,
}

/// A locked package with where its `.deb` came from.
#[derive(Clone)]
struct Located {
    package: LockedPackage,
    url: String,
}

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
    let workspace = Workspace::load(&args.spec.options(), crate::report::reporter())?;
    let names = image_names(&workspace.spec, &args.tag)?;
    // Files the spec copies in are checked before anything is fetched.
    let context = args
        .context
        .clone()
        .unwrap_or_else(|| workspace.spec.base_dir().to_owned());
    workspace.spec.check_sources(&context)?;
    let lock = workspace.lock_for_build(args.locked)?;
    let reference = names[0].to_string();
    let references: Vec<String> = names.iter().map(ToString::to_string).collect();

    // Scratch space lives in the cache: a killed build's is swept by the next run. Outputs
    // are written beside their destination under temporary names and renamed into place
    // whole; what a killed build left there is swept now.
    let scratch = workspace.cache.scratch_dir()?;
    if let Some(out) = &args.output {
        let dir = staves_fs::parent_of(out);
        std::fs::create_dir_all(dir)?;
        staves_fs::sweep(dir)?;
    }
    let mut staged_layout = None;
    let (layout_dir, archive) = match &args.output {
        Some(out) if out.extension().is_some_and(|e| e == "tar") => {
            (scratch.path().join("layout"), Some(out.clone()))
        }
        Some(out) => {
            let staged = staves_fs::temp_dir_in(staves_fs::parent_of(out))?;
            let dir = staged.path().to_owned();
            staged_layout = Some((staged, out.clone()));
            (dir, None)
        }
        None if args.load => (
            scratch.path().join("layout"),
            Some(scratch.path().join("image.tar")),
        ),
        None => (scratch.path().join("layout"), None),
    };
    // A docker-archive holds one image: the host's, or the only one built.
    let archive_arch = match (&archive, workspace.selected.as_slice()) {
        (None, _) => None,
        (Some(_), [one]) => Some(one.clone()),
        (Some(_), many) => {
            let host = staves_deb::arch::host();
            if !many.iter().any(|a| a == host) {
                return Err(CliError::Usage(format!(
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
        let target = lock
            .target(arch)
            .ok_or_else(|| CliError::Internal(format!("the lock has no package set for {arch}")))?;
        targets.push((target, locate(&lock, target)?));
    }
    // Every architecture's .debs in one parallel download; `all` packages they share, once.
    let mut unique: Vec<Located> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (_, located) in &targets {
        for l in located {
            if seen.insert(l.package.sha256.clone()) {
                unique.push(l.clone());
            }
        }
    }
    let fetched: BTreeMap<String, PathBuf> = unique
        .iter()
        .map(|l| l.package.sha256.clone())
        .zip(download(&workspace, &unique, args.jobs)?)
        .collect();
    for (target, located) in &targets {
        let debs = located
            .iter()
            .map(|l| {
                fetched.get(&l.package.sha256).cloned().ok_or_else(|| {
                    CliError::Internal(format!("{} was not downloaded", l.package.name))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        built.push(build_arch(
            &workspace, target, located, debs, &layout, args,
        )?);
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
    for name in &names {
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
        let host = built
            .iter()
            .find(|b| &b.arch == arch)
            .ok_or_else(|| CliError::Internal(format!("no image built for {arch}")))?;
        let mut manifest = host.manifest.clone();
        manifest.annotations = entry.annotations.clone();
        manifest.platform = None;
        staves_oci::write_docker_archive(
            &layout,
            &manifest,
            &references,
            host.summary.mtime,
            archive,
        )?;
    }
    if args.load {
        load(archive.as_deref().unwrap_or(Path::new("")), &references)?;
    }
    let sbom_json = (args.sbom.is_some() || args.attach_sbom)
        .then(|| sbom::sbom_document(&reference, Some(&entry.digest), &built, created).to_json());
    if let (Some(path), Some(json)) = (&args.sbom, &sbom_json) {
        super::write_atomic(path, json)?;
    }
    let target = match (&args.output, args.load) {
        (Some(out), _) => out.display().to_string(),
        (None, true) => "the local image store".into(),
        (None, false) => "a scratch layout".into(),
    };
    for b in &built {
        report_missing_libraries(&workspace, b, built.len() > 1)?;
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
                warning(&unmet_message(unmet, &b.arch, built.len() > 1));
            }
        }
        status(
            "Built",
            &format!(
                "{reference} for {} ({}): {} packages, {:.1} MB uncompressed, {:.1} MB compressed, {} files left out by `use`",
                b.arch,
                b.manifest.digest,
                b.packages.len(),
                b.layer.uncompressed_size as f64 / 1e6,
                b.layer.blob.size as f64 / 1e6,
                b.summary.filtered,
            ),
        );
    }
    status(
        "Finished",
        &format!(
            "{reference} ({}) into {target} in {:.2}s",
            entry.digest,
            started.elapsed().as_secs_f64()
        ),
    );
    if let Some(reference) = &push_to {
        super::push::push_entry(&args.spec.cache, &layout, &entry, reference, &args.registry)?;
        if let Some(json) = &sbom_json
            && args.attach_sbom
        {
            super::push::attach_sbom(
                &args.spec.cache,
                &layout,
                &entry,
                reference,
                &args.registry,
                json,
            )?;
        }
    }
    Ok(())
}

/// Assembles and writes one architecture's image into `layout` from its downloaded `.deb`s.
fn build_arch(
    workspace: &Workspace,
    target: &LockedTarget,
    located: &[Located],
    debs: Vec<PathBuf>,
    layout: &Layout,
    args: &BuildArgs,
) -> Result<Built, CliError> {
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
    let mut options = options::options(spec)?;
    options.temp_dir = Some(workspace.cache.tmp_dir());
    options
        .generated
        .push(sbom::in_image(spec.name.get_ref(), &target.arch, located));

    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let compression = match args.compression {
        crate::cli::Compression::Gzip => staves_oci::LayerCompression::Gzip,
        crate::cli::Compression::Zstd => staves_oci::LayerCompression::Zstd,
    };
    let mut summary = None;
    let mut write_layer = || {
        layout.put_layer(compression, threads, |out| {
            staves_image::assemble(&packages, &options, out).map(|(_, s)| summary = Some(s))
        })
    };
    let layer = match write_layer()? {
        Ok(layer) => layer,
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
            status(
                "Rebuilding",
                &format!(
                    "{} cached decoded package(s) were damaged and were removed",
                    damaged.len()
                ),
            );
            write_layer()??
        }
    };
    let summary = summary.unwrap_or_default();

    let mut annotations = spec.annotations.clone();
    annotations.insert(
        "org.opencontainers.image.created".into(),
        staves_oci::image::rfc3339(summary.mtime),
    );
    let manifest = layout.put_image(
        &Platform::from_debian(&target.arch),
        &options::image_config(spec),
        std::slice::from_ref(&layer),
        summary.mtime,
        &format!("{} Debian packages", packages.len()),
        annotations,
    )?;
    Ok(Built {
        arch: target.arch.clone(),
        manifest,
        layer,
        summary,
        packages: located.to_vec(),
    })
}

/// The target's packages with the URL of each `.deb`.
fn locate(lock: &Lockfile, target: &LockedTarget) -> Result<Vec<Located>, CliError> {
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
                CliError::Internal(format!("lock names unknown repository {}", p.repository))
            })?;
            Ok(Located {
                package: p.clone(),
                url: format!("{uri}/{}", p.filename),
            })
        })
        .collect()
}

/// Every `.deb` of `located`, from the cache or the network, verified.
fn download(
    workspace: &Workspace,
    located: &[Located],
    jobs: usize,
) -> Result<Vec<PathBuf>, CliError> {
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
    let progress = progress::for_terminal();
    let client = Client::new(progress.clone());
    let paths = fetch_debs(
        &client,
        &workspace.cache,
        &fetches,
        jobs,
        workspace.offline(),
    );
    progress.clear();
    Ok(paths?)
}

/// Warns of each library a `[[paths]]` program needs that the image lacks, naming the
/// packages that ship it (from the archive's Contents index, fetched only now).
fn report_missing_libraries(
    workspace: &Workspace,
    b: &Built,
    several: bool,
) -> Result<(), CliError> {
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
    let progress = progress::labelled("Contents");
    let client = Client::new(progress.clone());
    let owners = staves_repo::contents::library_owners(
        &client,
        &workspace.cache,
        &repositories,
        &b.arch,
        &names,
        workspace.offline(),
    );
    progress.clear();
    // Naming the package is a courtesy: without the Contents index the warning stands.
    let owners = owners.unwrap_or_else(|e| {
        tracing::debug!("Contents index: {e}");
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
        warning(&format!(
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

/// The names the image gets: `--tag`s as `docker build -t` reads them, else the spec's
/// `name` and `tag`.
fn image_names(
    spec: &staves_spec::Spec,
    tags: &[String],
) -> Result<Vec<staves_registry::ImageName>, CliError> {
    if tags.is_empty() {
        let tag = spec.tag.as_deref().unwrap_or("latest");
        return Ok(vec![staves_registry::ImageName::parse(&format!(
            "{}:{tag}",
            spec.name.get_ref()
        ))?]);
    }
    let mut names = Vec::new();
    for tag in tags {
        let name = staves_registry::ImageName::parse(tag)?;
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}

/// `docker load`, or `podman load` where Docker is not running.
fn load(archive: &Path, names: &[String]) -> Result<(), CliError> {
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
