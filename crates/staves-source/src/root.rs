//! Build roots: the essential set, `build-essential` and a source package's build
//! dependencies, resolved as `apt-get build-dep` resolves them and assembled by Staves'
//! own assembler into a directory that the sandbox mounts read-only. A root is kept in the
//! cache under a digest of its exact package set, so builds needing the same packages
//! share one.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use staves_deb::source::BuildRelations;
use staves_repo::debs::{DebFetch, fetch_debs};
use staves_repo::{Cache, Client, SyncedRepository};
use staves_resolve::{PackageRef, Request, Task, Universe, resolve};

use crate::error::SourceError;

/// The name of the package standing for a source package's build dependencies while they
/// are resolved (apt calls its own `builddeps:NAME`).
const BUILD_DEPS: &str = "staves-build-deps";

/// Directories the sandbox mounts over: they must exist in a read-only root.
const MOUNT_POINTS: &[&str] = &["build", "dev", "proc", "tmp", "run", "var/tmp", "sys"];

/// The packages of a build root, resolved.
#[derive(Debug, Clone)]
pub struct RootPackages {
    /// Every package, sorted by name.
    pub packages: Vec<PackageRef>,
    /// The digest of the set: names, versions, architectures and `.deb` checksums.
    pub key: String,
}

/// Resolves the build root for `relations` on `arch`: every `Essential: yes` package,
/// `build-essential`, and the build dependencies, without Recommends, conflicts kept out.
pub fn resolve_packages(
    synced: &mut Vec<SyncedRepository>,
    arch: &str,
    relations: &BuildRelations,
    label: &str,
) -> Result<RootPackages, SourceError> {
    let mut requests: Vec<String> = Vec::new();
    for repository in synced.iter() {
        for (_, index_arch, index) in &repository.indices {
            if index_arch != arch && index_arch != "all" {
                continue;
            }
            for para in index.paragraphs() {
                if para
                    .get("Essential")
                    .is_some_and(|e| e.eq_ignore_ascii_case("yes"))
                {
                    let name = para.get("Package").unwrap_or_default().to_owned();
                    if !requests.contains(&name) {
                        requests.push(name);
                    }
                }
            }
        }
    }
    requests.sort();
    requests.push("build-essential".into());
    requests.push(BUILD_DEPS.into());
    let join = |items: Vec<String>| items.join(", ");
    let paragraph = format!(
        "Package: {BUILD_DEPS}\nVersion: 1\nArchitecture: {arch}\nDepends: {}\nConflicts: {}\n",
        join(relations.depends.iter().map(ToString::to_string).collect()),
        join(
            relations
                .conflicts
                .iter()
                .map(ToString::to_string)
                .collect()
        ),
    );
    synced.push(SyncedRepository::in_memory(
        &format!("build dependencies of {label}"),
        "",
        arch,
        paragraph,
    ));
    let task = Task {
        requests: requests
            .into_iter()
            .map(|name| Request {
                name,
                arch: None,
                constraint: None,
            })
            .collect(),
        recommends: false,
        merged_usr: true,
        ..Task::default()
    };
    let resolved = resolve(&Universe::new(synced, arch), &task);
    synced.pop();
    let resolution = resolved.map_err(|error| SourceError::BuildDepends {
        source_package: label.to_owned(),
        error: Box::new(error),
    })?;
    let packages: Vec<PackageRef> = resolution
        .packages
        .into_iter()
        .filter(|p| p.name != BUILD_DEPS)
        .collect();
    let mut hasher = Sha256::new();
    hasher.update(format!("staves build root {}\n", env!("CARGO_PKG_VERSION")));
    for p in &packages {
        hasher.update(format!(
            "{} {} {} {}\n",
            p.name, p.version, p.arch, p.sha256
        ));
    }
    Ok(RootPackages {
        packages,
        key: hex::encode(hasher.finalize()),
    })
}

/// A build root on disk.
#[derive(Debug, Clone)]
pub struct BuildRoot {
    /// Its directory.
    pub dir: PathBuf,
    /// Whether it was in the cache already.
    pub reused: bool,
}

/// The build root of `root`: from the cache, or downloaded, assembled and unpacked into a
/// temporary directory that is renamed into place whole.
pub fn assemble(
    cache: &Cache,
    client: &Client,
    synced: &[SyncedRepository],
    root: &RootPackages,
    jobs: usize,
    label: &str,
) -> Result<BuildRoot, SourceError> {
    let roots = cache.root().join("roots");
    let dir = roots.join(&root.key);
    if dir.is_dir() {
        return Ok(BuildRoot { dir, reused: true });
    }
    std::fs::create_dir_all(&roots).map_err(SourceError::io("creating", &roots))?;
    staves_fs::sweep(&roots).map_err(SourceError::io("sweeping", &roots))?;
    let fetches: Vec<DebFetch> = root
        .packages
        .iter()
        .map(|p| DebFetch {
            elsewhere: None,
            package: format!("{} {} ({})", p.name, p.version, p.arch),
            url: format!("{}/{}", synced[p.repository].config.uri, p.filename),
            size: p.size,
            sha256: p.sha256.clone(),
        })
        .collect();
    let debs = fetch_debs(client, cache, &fetches, jobs)?;
    let inputs: Vec<staves_image::PackageInput> = root
        .packages
        .iter()
        .zip(debs)
        .map(|(p, deb)| staves_image::PackageInput {
            own: false,
            name: p.name.clone(),
            version: p.version.to_string(),
            arch: p.arch.clone(),
            deb,
            sha256: p.sha256.clone(),
            unpacked: Some(cache.entry("unpacked", &p.sha256, ".tar.zst")),
        })
        .collect();
    let staged = staves_fs::temp_dir_in(&roots)
        .map_err(SourceError::io("creating a directory in", &roots))?;
    unpack_assembled(cache, &inputs, staged.path(), label)?;
    for point in MOUNT_POINTS {
        let path = staged.path().join(point);
        std::fs::create_dir_all(&path).map_err(SourceError::io("creating", &path))?;
    }
    let kept = staged.keep();
    std::fs::rename(&kept, &dir).map_err(SourceError::io("renaming a build root to", &dir))?;
    Ok(BuildRoot { dir, reused: false })
}

/// Streams the assembled layer straight into a directory: nothing is staged as a tar file.
fn unpack_assembled(
    cache: &Cache,
    inputs: &[staves_image::PackageInput],
    dir: &Path,
    label: &str,
) -> Result<(), SourceError> {
    let options = staves_image::Options {
        features: staves_image::Features::new(&[]).map_err(|e| SourceError::Malformed {
            what: "build root".into(),
            message: e.to_string(),
        })?,
        accounts: staves_image::Accounts::debian_base(),
        mtime: None,
        extra_paths: Vec::new(),
        generated: Vec::new(),
        build_info: true,
        programs: Vec::new(),
        temp_dir: Some(cache.tmp_dir()),
        volumes: Vec::new(),
        user: None,
        base: None,
    };
    let (reader, writer) = std::io::pipe().map_err(SourceError::io("opening a pipe for", dir))?;
    std::thread::scope(|s| {
        let assembler = s.spawn(move || {
            staves_image::assemble(inputs, &options, writer).map(|(writer, _)| drop(writer))
        });
        let mut archive = tar::Archive::new(reader);
        archive.set_preserve_permissions(true);
        archive.set_preserve_mtime(true);
        archive.set_unpack_xattrs(false);
        let unpacked = archive.unpack(dir);
        // Closing the pipe's end makes a still-writing assembler stop with an error.
        drop(archive);
        let assembled = assembler.join().unwrap_or_else(|_| {
            Err(staves_image::ImageError::Write(std::io::Error::other(
                "the assembler panicked",
            )))
        });
        first_cause(assembled, unpacked, label, dir)
    })
}

/// The error that explains a failed build root. When the unpacking side fails (a full disk),
/// the assembler only sees its pipe close: its broken pipe is the consequence, not the cause.
fn first_cause(
    assembled: Result<(), staves_image::ImageError>,
    unpacked: std::io::Result<()>,
    label: &str,
    dir: &Path,
) -> Result<(), SourceError> {
    let unpacking = SourceError::io("unpacking a build root into", dir);
    match (assembled, unpacked) {
        (Err(staves_image::ImageError::Write(e)), Err(cause))
            if e.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            Err(unpacking(cause))
        }
        (Err(error), _) => Err(SourceError::Root {
            source_package: label.to_owned(),
            error: Box::new(error),
        }),
        (Ok(()), unpacked) => unpacked.map_err(unpacking),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error, ErrorKind};

    fn broken_pipe() -> staves_image::ImageError {
        staves_image::ImageError::Write(Error::from(ErrorKind::BrokenPipe))
    }

    #[test]
    fn a_full_disk_is_reported_not_the_broken_pipe_it_causes() {
        let full = Error::from_raw_os_error(28);
        let error = first_cause(Err(broken_pipe()), Err(full), "app 1-1", Path::new("/r"))
            .expect_err("failed");
        let text = error.to_string();
        assert!(text.contains("unpacking a build root into /r"), "{text}");
        assert!(text.contains("No space left on device"), "{text}");
    }

    #[test]
    fn the_assemblers_own_failure_comes_before_the_cut_archive_it_leaves() {
        let cause = staves_image::ImageError::Write(Error::other("bad package"));
        let cut = Error::from(ErrorKind::UnexpectedEof);
        let error =
            first_cause(Err(cause), Err(cut), "app 1-1", Path::new("/r")).expect_err("failed");
        let text = error.to_string();
        assert!(text.contains("build root of app 1-1"), "{text}");
        assert!(text.contains("bad package"), "{text}");
        // A broken pipe with nothing behind it is still the assembler's to report.
        let alone = first_cause(Err(broken_pipe()), Ok(()), "app 1-1", Path::new("/r"));
        assert!(matches!(alone, Err(SourceError::Root { .. })), "{alone:?}");
        assert!(first_cause(Ok(()), Ok(()), "app 1-1", Path::new("/r")).is_ok());
    }
}
