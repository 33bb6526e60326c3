//! `staves inspect IMAGE`: what an image holds — its run configuration, the Debian packages
//! its dpkg database lists, and (with `--files`) every file — read from an OCI layout or a
//! docker-archive without loading it anywhere.

use std::io::Write;
use std::path::Path;

use serde::Serialize;
use staves_oci::ImageReader;

use crate::cli::InspectArgs;
use crate::report::CliError;

/// The dpkg status file, read whole: bounded, as everything from an image.
pub(crate) const MAX_STATUS: u64 = 64 << 20;
pub(crate) const STATUS: &str = "/var/lib/dpkg/status";

#[derive(Serialize)]
struct Report {
    digest: Option<String>,
    names: Vec<String>,
    architecture: String,
    created: String,
    config: serde_json::Value,
    packages: Vec<PackageLine>,
    file_count: usize,
    total_size: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    files: Vec<FileLine>,
}

#[derive(Serialize)]
pub(crate) struct PackageLine {
    pub(crate) name: String,
    pub(crate) version: String,
    architecture: String,
    installed_size_kib: u64,
}

#[derive(Serialize)]
struct FileLine {
    path: String,
    #[serde(flatten)]
    state: FileState,
}

/// A file as reports show it: kind, octal mode, `uid:gid`, size, link target, and its
/// content digest when the tree was read hashed.
#[derive(Serialize, PartialEq, Eq, Clone)]
pub(crate) struct FileState {
    pub(crate) kind: char,
    pub(crate) mode: String,
    pub(crate) owner: String,
    pub(crate) size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) link: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) sha256: Option<String>,
}

impl From<&staves_oci::FileEntry> for FileState {
    fn from(f: &staves_oci::FileEntry) -> Self {
        FileState {
            kind: f.kind,
            mode: format!("{:04o}", f.mode),
            owner: format!("{}:{}", f.uid, f.gid),
            size: f.size,
            link: f.link.clone(),
            sha256: f.sha256.clone(),
        }
    }
}

pub fn run(args: &InspectArgs) -> Result<(), CliError> {
    let (image, _saved) = open_image(&args.image, args.arch.as_deref(), &args.pull)?;
    let tree = image.tree(&[STATUS], MAX_STATUS)?;
    let status = tree
        .contents
        .get(STATUS)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    let files: Vec<FileLine> = tree
        .files
        .iter()
        .map(|(path, f)| FileLine {
            path: path.clone(),
            state: f.into(),
        })
        .collect();
    let config = &image.config;
    let report = Report {
        digest: image.manifest_digest.as_ref().map(ToString::to_string),
        names: image.names.clone(),
        architecture: config["architecture"].as_str().unwrap_or("?").to_owned(),
        created: config["created"].as_str().unwrap_or("").to_owned(),
        config: config["config"].clone(),
        packages: packages(&status),
        file_count: files.len(),
        total_size: files.iter().map(|f| f.state.size).sum(),
        files: if args.files { files } else { Vec::new() },
    };
    super::resolve::print_report(args.json, &report, |out| print_text(out, &report))
}

/// An image named on the command line: a layout (`DIR` or `DIR:TAG`), a docker-archive, an
/// image in an engine's store (saved to a temporary archive that lives as long as the
/// returned directory), or a registry image (pulled into the cache, every blob checked).
pub(crate) fn open_image(
    text: &str,
    arch: Option<&str>,
    pull: &crate::cli::PullArgs,
) -> Result<(ImageReader, Option<tempfile::TempDir>), CliError> {
    if let Some(reference) = registry_reference(text) {
        let archs = vec![arch.unwrap_or(staves_deb::arch::host()).to_owned()];
        let (layout, _digest) = staves_pipeline::publish::pull_image(
            &reference,
            &archs,
            &pull.reach.options(&pull.cache, 64),
            crate::report::reporter().as_ref(),
        )?;
        return Ok((ImageReader::open(&layout, None, arch)?, None));
    }
    match staves_oci::engine::Engine::parse(text).filter(|_| !Path::new(text).exists()) {
        Some((engine, name)) => {
            let dir = tempfile::tempdir()?;
            let archive = dir.path().join("image.tar");
            engine.save(name, &archive)?;
            Ok((ImageReader::open(&archive, None, arch)?, Some(dir)))
        }
        None => {
            let (path, select) = split_selection(text);
            Ok((ImageReader::open(Path::new(path), select, arch)?, None))
        }
    }
}

/// `HOST[:PORT]/NAME[:TAG|@DIGEST]` when `text` is no path and its first part names a
/// registry host (a dot, a port, or `localhost`), as docker tells a registry from a path.
fn registry_reference(text: &str) -> Option<staves_registry::Reference> {
    if Path::new(text).exists() || text.starts_with(['.', '/']) {
        return None;
    }
    let (host, rest) = text.split_once('/')?;
    let names_a_host = host.contains(['.', ':']) || host == "localhost";
    if !names_a_host || rest.is_empty() || Path::new(host).exists() {
        return None;
    }
    staves_registry::Reference::parse(text).ok()
}

/// `DIR:TAG` picks an entry of a layout; a path that exists as given is taken whole.
pub(crate) fn split_selection(text: &str) -> (&str, Option<&str>) {
    if Path::new(text).exists() {
        return (text, None);
    }
    match text.rsplit_once(':') {
        Some((path, tag)) if Path::new(path).is_dir() => (path, Some(tag)),
        _ => (text, None),
    }
}

pub(crate) fn packages(status: &str) -> Vec<PackageLine> {
    let mut list: Vec<PackageLine> = staves_deb::deb822::paragraphs(status)
        .filter(|p| p.get("Status").is_some_and(|s| s.ends_with(" installed")))
        .map(|p| PackageLine {
            name: p.get("Package").unwrap_or_default().to_owned(),
            version: p.get("Version").unwrap_or_default().to_owned(),
            architecture: p.get("Architecture").unwrap_or_default().to_owned(),
            installed_size_kib: p
                .get("Installed-Size")
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0),
        })
        .collect();
    list.sort_by(|a, b| a.name.cmp(&b.name));
    list
}

fn print_text(out: &mut dyn Write, r: &Report) -> std::io::Result<()> {
    if let Some(digest) = &r.digest {
        writeln!(out, "Image:       {digest}")?;
    }
    if !r.names.is_empty() {
        writeln!(out, "Names:       {}", r.names.join(", "))?;
    }
    writeln!(out, "Platform:    linux/{}", r.architecture)?;
    writeln!(out, "Created:     {}", r.created)?;
    let c = &r.config;
    let show = |out: &mut dyn Write, label: &str, value: &serde_json::Value| {
        if value.is_null() || value.as_array().is_some_and(Vec::is_empty) {
            return Ok(());
        }
        let text = match value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Object(map) => map.keys().cloned().collect::<Vec<_>>().join(", "),
            other => other.to_string(),
        };
        writeln!(out, "{label:<13}{text}")
    };
    show(out, "Entrypoint:", &c["Entrypoint"])?;
    show(out, "Cmd:", &c["Cmd"])?;
    show(out, "User:", &c["User"])?;
    show(out, "WorkingDir:", &c["WorkingDir"])?;
    show(out, "Ports:", &c["ExposedPorts"])?;
    show(out, "Volumes:", &c["Volumes"])?;
    show(out, "StopSignal:", &c["StopSignal"])?;
    for env in c["Env"].as_array().into_iter().flatten() {
        writeln!(out, "Env:         {}", env.as_str().unwrap_or_default())?;
    }
    if let Some(labels) = c["Labels"].as_object() {
        for (k, v) in labels {
            writeln!(out, "Label:       {k}={}", v.as_str().unwrap_or_default())?;
        }
    }
    writeln!(
        out,
        "Files:       {} ({:.1} MB)",
        r.file_count,
        r.total_size as f64 / 1e6
    )?;
    let installed: u64 = r.packages.iter().map(|p| p.installed_size_kib).sum();
    writeln!(
        out,
        "Packages:    {} ({:.1} MiB installed as Debian counts it)",
        r.packages.len(),
        installed as f64 / 1024.0
    )?;
    for p in &r.packages {
        writeln!(
            out,
            "  {:<32} {:<28} {:<6} {:>8} KiB",
            p.name, p.version, p.architecture, p.installed_size_kib
        )?;
    }
    if !r.files.is_empty() {
        writeln!(out)?;
    }
    for f in &r.files {
        let link = f
            .state
            .link
            .as_deref()
            .map(|l| format!(" -> {l}"))
            .unwrap_or_default();
        writeln!(
            out,
            "{}{} {:>11} {:>10} {}{link}",
            f.state.kind, f.state.mode, f.state.owner, f.state.size, f.path
        )?;
    }
    Ok(())
}
