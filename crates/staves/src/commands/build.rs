//! `staves build`: from the spec (and its lock) to an image.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use staves_image::{AccountRequest, Accounts, ExtraPath, Features, Options, PackageInput};
use staves_oci::{ImageConfig, Layout, Platform};
use staves_repo::Client;
use staves_repo::debs::{DebFetch, fetch_debs};
use staves_resolve::Lockfile;
use staves_spec::Spec;

use crate::cli::{BuildArgs, GlobalArgs};
use crate::progress;
use crate::report::{CliError, status};
use crate::workspace::Workspace;

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

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
        None => workspace.resolve()?,
    };
    let spec = &workspace.spec;
    let debs = download(&workspace, &lock, args.jobs)?;

    let packages: Vec<PackageInput> = lock
        .packages
        .iter()
        .zip(debs)
        .map(|(p, deb)| PackageInput {
            name: p.name.clone(),
            version: p.version.clone(),
            arch: p.arch.clone(),
            deb,
            // Decoded once, kept as zstd: warm builds skip xz.
            unpacked: Some(workspace.cache.entry("unpacked", &p.sha256, ".tar.zst")),
        })
        .collect();
    let options = options(spec)?;

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
    let layout = Layout::create(&layout_dir)?;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut summary = None;
    let compression = match args.compression {
        crate::cli::Compression::Gzip => staves_oci::LayerCompression::Gzip,
        crate::cli::Compression::Zstd => staves_oci::LayerCompression::Zstd,
    };
    let layer = layout.put_layer(compression, threads, |out| {
        staves_image::assemble(&packages, &options, out).map(|(_, s)| summary = Some(s))
    })??;
    let summary = summary.unwrap_or_default();
    let mtime = summary.mtime;

    let platform = Platform::from_debian(&lock.arch);
    let mut annotations = spec.annotations.clone();
    annotations.insert(
        "org.opencontainers.image.created".into(),
        staves_oci::image::rfc3339(mtime),
    );
    let mut manifest = layout.put_image(
        &platform,
        &image_config(spec),
        std::slice::from_ref(&layer),
        mtime,
        &format!("{} Debian packages", packages.len()),
        annotations,
    )?;
    manifest
        .annotations
        .insert("org.opencontainers.image.ref.name".into(), tag.clone());
    manifest
        .annotations
        .insert("io.containerd.image.name".into(), reference.clone());
    layout.put_index(std::slice::from_ref(&manifest))?;

    if let Some(archive) = &archive {
        staves_oci::write_docker_archive(
            &layout,
            &manifest,
            std::slice::from_ref(&reference),
            mtime,
            archive,
        )?;
    }
    if args.load {
        load(archive.as_deref().unwrap_or(Path::new("")))?;
    }
    let target = match (&args.output, args.load) {
        (Some(out), _) => out.display().to_string(),
        (None, true) => "the local image store".into(),
        (None, false) => "a scratch layout".into(),
    };
    status(
        "Built",
        &format!(
            "{reference} ({}) into {target}: {} packages, {:.1} MB uncompressed, {:.1} MB compressed, {} files left out by `use`, in {:.2}s",
            manifest.digest,
            packages.len(),
            layer.uncompressed_size as f64 / 1e6,
            layer.blob.size as f64 / 1e6,
            summary.filtered,
            started.elapsed().as_secs_f64()
        ),
    );
    if let Some(reference) = &push_to {
        super::push::push_entry(global, &layout, &manifest, reference, &args.registry)?;
    }
    Ok(())
}

/// Every .deb of the lock, from the cache or the network, verified.
fn download(workspace: &Workspace, lock: &Lockfile, jobs: usize) -> Result<Vec<PathBuf>, CliError> {
    let uris: BTreeMap<&str, &str> = lock
        .repositories
        .iter()
        .map(|r| (r.name.as_str(), r.uri.as_str()))
        .collect();
    let fetches = lock
        .packages
        .iter()
        .map(|p| {
            let uri = uris.get(p.repository.as_str()).ok_or_else(|| {
                CliError::Internal(format!("lock names unknown repository {}", p.repository))
            })?;
            Ok(DebFetch {
                url: format!("{uri}/{}", p.filename),
                size: p.size,
                sha256: p.sha256.clone(),
            })
        })
        .collect::<Result<Vec<_>, CliError>>()?;
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
