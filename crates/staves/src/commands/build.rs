//! `staves build`: from the spec (and its lock) to an image.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use std::sync::Arc;

use staves_image::{
    AccountRequest, Accounts, ExtraPath, Features, GeneratedFile, Options, PackageFacts,
    PackageInput, Summary,
};
use staves_oci::{BlobRef, ImageConfig, LayerBlob, Layout, Platform};
use staves_repo::Client;
use staves_repo::debs::{DebFetch, fetch_debs};
use staves_resolve::{LockedPackage, LockedTarget, Lockfile};
use staves_sbom::{Document, Subject};
use staves_spec::Spec;

use crate::cli::{BuildArgs, GlobalArgs};
use crate::progress;
use crate::report::{CliError, status};
use crate::workspace::Workspace;

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where the SBOM sits inside every image.
pub const SBOM_PATH: &str = "/var/lib/staves/sbom.spdx.json";

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

pub fn run(global: &GlobalArgs, args: &BuildArgs) -> Result<(), CliError> {
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
    let workspace = Workspace::load(global)?;
    let lock = match workspace.matching_lock(global.locked)? {
        Some(lock) => lock,
        None => workspace.resolve(&workspace.selected)?,
    };
    let spec = &workspace.spec;
    let tag = args
        .tag
        .clone()
        .or_else(|| spec.tag.clone())
        .unwrap_or_else(|| "latest".into());
    let reference = format!("{}:{tag}", spec.name.get_ref());

    let scratch = tempfile::tempdir().map_err(CliError::Io)?;
    let (layout_dir, archive) = match &args.output {
        Some(out) if out.extension().is_some_and(|e| e == "tar") => {
            (scratch.path().join("layout"), Some(out.clone()))
        }
        Some(out) => (out.clone(), None),
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

    let layout = Layout::create(&layout_dir)?;
    let mut built = Vec::new();
    for arch in &workspace.selected {
        let target = lock
            .target(arch)
            .ok_or_else(|| CliError::Internal(format!("the lock has no package set for {arch}")))?;
        built.push(build_arch(
            &workspace, &lock, target, &layout, &reference, args,
        )?);
    }

    let created = built.iter().map(|b| b.summary.mtime).max().unwrap_or(0);
    let mut entry = if let [one] = built.as_slice() {
        one.manifest.clone()
    } else {
        let manifests: Vec<BlobRef> = built.iter().map(|b| b.manifest.clone()).collect();
        layout.put_image_index(&manifests)?
    };
    entry
        .annotations
        .insert("org.opencontainers.image.ref.name".into(), tag.clone());
    entry
        .annotations
        .insert("io.containerd.image.name".into(), reference.clone());
    layout.put_index(std::slice::from_ref(&entry))?;

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
            std::slice::from_ref(&reference),
            host.summary.mtime,
            archive,
        )?;
    }
    if args.load {
        load(archive.as_deref().unwrap_or(Path::new("")))?;
    }
    if let Some(path) = &args.sbom {
        let document = sbom_document(&reference, Some(&entry.digest), &built, created);
        write_atomic(path, &document.to_json())?;
    }
    let target = match (&args.output, args.load) {
        (Some(out), _) => out.display().to_string(),
        (None, true) => "the local image store".into(),
        (None, false) => "a scratch layout".into(),
    };
    for b in &built {
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
        super::push::push_entry(global, &layout, &entry, reference, &args.registry)?;
    }
    Ok(())
}

/// Downloads, assembles and writes one architecture's image into `layout`.
fn build_arch(
    workspace: &Workspace,
    lock: &Lockfile,
    target: &LockedTarget,
    layout: &Layout,
    reference: &str,
    args: &BuildArgs,
) -> Result<Built, CliError> {
    let spec = &workspace.spec;
    let located = locate(lock, target)?;
    let debs = download(workspace, &located, args.jobs)?;
    let packages: Vec<PackageInput> = located
        .iter()
        .zip(debs)
        .map(|(l, deb)| PackageInput {
            name: l.package.name.clone(),
            version: l.package.version.clone(),
            arch: l.package.arch.clone(),
            deb,
            // Decoded once, kept as zstd: warm builds skip xz.
            unpacked: Some(
                workspace
                    .cache
                    .entry("unpacked", &l.package.sha256, ".tar.zst"),
            ),
        })
        .collect();
    let mut options = options(spec)?;
    let (name, arch, in_image) = (reference.to_owned(), target.arch.clone(), located.clone());
    options.generated.push(GeneratedFile {
        path: SBOM_PATH.into(),
        render: Arc::new(move |facts, mtime| {
            // Inside the image its own digest cannot be known: the image is the subject.
            let image = sbom_image(&arch, None, facts, &in_image);
            Document::new(
                &Subject {
                    name: &name,
                    digest: None,
                    created: &staves_oci::image::rfc3339(mtime),
                },
                &[image],
            )
            .to_json()
        }),
    });

    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let compression = match args.compression {
        crate::cli::Compression::Gzip => staves_oci::LayerCompression::Gzip,
        crate::cli::Compression::Zstd => staves_oci::LayerCompression::Zstd,
    };
    let mut summary = None;
    let layer = layout.put_layer(compression, threads, |out| {
        staves_image::assemble(&packages, &options, out).map(|(_, s)| summary = Some(s))
    })??;
    let summary = summary.unwrap_or_default();

    let mut annotations = spec.annotations.clone();
    annotations.insert(
        "org.opencontainers.image.created".into(),
        staves_oci::image::rfc3339(summary.mtime),
    );
    let manifest = layout.put_image(
        &Platform::from_debian(&target.arch),
        &image_config(spec),
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
        packages: located,
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

/// The SBOM view of one image's packages.
fn sbom_image<'a>(
    arch: &'a str,
    digest: Option<&'a str>,
    facts: &'a [PackageFacts],
    located: &'a [Located],
) -> staves_sbom::Image<'a> {
    let by_name: BTreeMap<(&str, &str), &Located> = located
        .iter()
        .map(|l| ((l.package.name.as_str(), l.package.arch.as_str()), l))
        .collect();
    staves_sbom::Image {
        arch,
        digest,
        packages: facts
            .iter()
            .filter_map(|f| {
                let l = by_name.get(&(f.name.as_str(), f.arch.as_str()))?;
                Some(staves_sbom::Package {
                    name: &f.name,
                    version: &f.version,
                    arch: &f.arch,
                    control: &f.control,
                    copyright: f.copyright.as_deref(),
                    sha256: &l.package.sha256,
                    download_location: Some(l.url.clone()),
                })
            })
            .collect(),
    }
}

/// The SBOM of everything built: the image (or index) by digest, then its packages.
fn sbom_document(reference: &str, digest: Option<&str>, built: &[Built], created: u64) -> Document {
    let images: Vec<staves_sbom::Image<'_>> = built
        .iter()
        .map(|b| {
            sbom_image(
                &b.arch,
                Some(&b.manifest.digest),
                &b.summary.packages,
                &b.packages,
            )
        })
        .collect();
    Document::new(
        &Subject {
            name: reference,
            digest,
            created: &staves_oci::image::rfc3339(created),
        },
        &images,
    )
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    tmp.persist(path).map_err(|e| CliError::Io(e.error))?;
    Ok(())
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
            url: l.url.clone(),
            size: l.package.size,
            sha256: l.package.sha256.clone(),
        })
        .collect();
    let progress = progress::for_terminal();
    let client = Client::new(progress.clone());
    let paths = fetch_debs(&client, &workspace.cache, &fetches, jobs);
    progress.clear();
    Ok(paths?)
}

/// Assembly options from the spec.
fn options(spec: &Spec) -> Result<Options, CliError> {
    let flags = |list: &[toml::Spanned<String>]| {
        list.iter().map(|f| f.get_ref().clone()).collect::<Vec<_>>()
    };
    let mut features =
        Features::new(&flags(&spec.use_flags)).map_err(|e| CliError::Usage(e.to_string()))?;
    for (name, opts) in &spec.package_options {
        if !opts.get_ref().use_flags.is_empty() {
            features
                .set_package(name, &flags(&opts.get_ref().use_flags))
                .map_err(|e| CliError::Usage(format!("package `{name}`: {e}")))?;
        }
    }
    let mut accounts = Accounts::debian_base();
    for a in &spec.accounts {
        accounts
            .add(&AccountRequest {
                name: a.name.get_ref().clone(),
                uid: a.uid,
                group: a.group.clone(),
                gid: a.gid,
                home: a.home.clone(),
                shell: a.shell.clone(),
                groups: a.groups.clone(),
            })
            .map_err(|e| CliError::Usage(format!("accounts: {e}")))?;
    }
    let mut extra_paths = Vec::new();
    for p in &spec.paths {
        let mode = p
            .mode
            .as_ref()
            .and_then(|m| u32::from_str_radix(m.get_ref(), 8).ok());
        let kind = p
            .kind
            .as_ref()
            .map(|k| k.get_ref().as_str())
            .unwrap_or(if p.target.is_some() {
                "symlink"
            } else if p.content.is_some() || p.source.is_some() {
                "file"
            } else {
                "dir"
            });
        let path = p.path.get_ref().clone();
        extra_paths.push(match kind {
            "symlink" => ExtraPath::Symlink {
                path,
                target: p.target.clone().unwrap_or_default(),
            },
            "file" => {
                let content = match (&p.content, &p.source) {
                    (Some(text), _) => text.clone().into_bytes(),
                    (None, Some(source)) => {
                        let file = spec.base_dir().join(source.get_ref());
                        std::fs::read(&file)
                            .map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?
                    }
                    (None, None) => Vec::new(),
                };
                ExtraPath::File {
                    path,
                    mode: mode.unwrap_or(0o644),
                    owner: p.owner.clone(),
                    content,
                }
            }
            _ => ExtraPath::Dir {
                path,
                mode: mode.unwrap_or(0o755),
                owner: p.owner.clone(),
            },
        });
    }
    Ok(Options {
        features,
        accounts,
        mtime: source_date_epoch()?,
        extra_paths,
        generated: Vec::new(),
    })
}

/// `SOURCE_DATE_EPOCH` when set; otherwise assembly takes the newest package's build time.
fn source_date_epoch() -> Result<Option<u64>, CliError> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) => value.trim().parse().map(Some).map_err(|_| {
            CliError::Usage(format!(
                "SOURCE_DATE_EPOCH=`{value}` is not a number of seconds"
            ))
        }),
        Err(_) => Ok(None),
    }
}

fn image_config(spec: &Spec) -> ImageConfig {
    let mut env: Vec<String> = Vec::new();
    if !spec.environment.contains_key("PATH") {
        env.push(DEFAULT_PATH.into());
    }
    env.extend(spec.environment.iter().map(|(k, v)| format!("{k}={v}")));
    ImageConfig {
        user: spec.user.as_ref().map(|u| u.get_ref().clone()),
        exposed_ports: spec
            .ports
            .iter()
            .map(|p| {
                let p = p.get_ref();
                (
                    if p.contains('/') {
                        p.clone()
                    } else {
                        format!("{p}/tcp")
                    },
                    Default::default(),
                )
            })
            .collect(),
        env,
        entrypoint: spec.command.clone(),
        cmd: spec.cmd.clone(),
        volumes: spec
            .volumes
            .iter()
            .map(|v| (v.clone(), Default::default()))
            .collect(),
        working_dir: spec.workdir.clone(),
        labels: spec.labels.clone(),
        stop_signal: spec.stop_signal.clone(),
    }
}

/// `docker load`, or `podman load` where Docker is not running.
fn load(archive: &Path) -> Result<(), CliError> {
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
    status("Loaded", String::from_utf8_lossy(&out.stdout).trim());
    Ok(())
}
