//! Built packages in the cache. Each `.deb` is kept where every verified `.deb` is (by its
//! SHA-256), and a build's manifest — its key, the packages with their checksums, the flags
//! it was built with — is written last, atomically: a manifest exists only when everything
//! it names does. A lookup hashes every `.deb` again before it is believed.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use staves_deb::deb::DebFile;
use staves_deb::deb822;
use staves_repo::Cache;
use staves_repo::debs::{DebFetch, deb_path, fetch_debs};

use crate::error::SourceError;

/// One binary package a build made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltDeb {
    /// Package name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Architecture.
    pub arch: String,
    /// Size of the `.deb`.
    pub size: u64,
    /// SHA-256 of the `.deb`.
    pub sha256: String,
    /// The `.deb` in the cache.
    pub path: PathBuf,
    /// Its control paragraph, as `Packages` would list it (without the file fields).
    pub control: String,
}

/// What one source build made.
#[derive(Debug, Clone)]
pub struct Built {
    /// `name version` of the source package.
    pub source: String,
    /// The binary packages.
    pub debs: Vec<BuiltDeb>,
    /// The effective compiler flags (`CFLAGS=…`), as `dpkg-buildflags` gave them.
    pub flags: Vec<String>,
    /// The build's log.
    pub log: PathBuf,
    /// Whether it came from the cache.
    pub reused: bool,
}

impl Built {
    /// The effective `CFLAGS=…`, or nothing when the build did not report them.
    pub fn cflags(&self) -> &str {
        self.flags
            .iter()
            .find(|f| f.starts_with("CFLAGS="))
            .map_or("", String::as_str)
    }
}

/// The directory of the build with this key.
pub fn entry(cache: &Cache, key: &str) -> PathBuf {
    cache.root().join("built").join(key)
}

/// The cached result of the build `key`, when its manifest is there and every `.deb` it
/// names is intact.
pub fn lookup(cache: &Cache, key: &str) -> Option<Built> {
    let dir = entry(cache, key);
    let text = std::fs::read_to_string(dir.join("manifest")).ok()?;
    let mut source = None;
    let mut flags = Vec::new();
    let mut fetches = Vec::new();
    for line in text.lines() {
        match line.split_once(' ') {
            Some(("source", rest)) => source = Some(rest.to_owned()),
            Some(("flag", rest)) => flags.push(rest.to_owned()),
            Some(("deb", rest)) => {
                let mut words = rest.split(' ');
                let (Some(sha256), Some(size)) = (words.next(), words.next()) else {
                    return None;
                };
                fetches.push(DebFetch {
                    elsewhere: None,
                    package: format!("a package built by {key}"),
                    url: String::new(),
                    size: size.parse().ok()?,
                    sha256: sha256.to_owned(),
                });
            }
            _ => return None,
        }
    }
    // Offline: an intact copy passes, a damaged or missing one fails and is rebuilt.
    let client = staves_repo::Client::offline();
    let paths = fetch_debs(&client, cache, &fetches, 4).ok()?;
    let debs = fetches
        .iter()
        .zip(paths)
        .map(|(f, path)| describe(&path, f.size, &f.sha256))
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    Some(Built {
        source: source?,
        debs,
        flags,
        log: dir.join("build.log"),
        reused: true,
    })
}

/// Reads what a `.deb` is from its control file.
pub fn describe(path: &Path, size: u64, sha256: &str) -> Result<BuiltDeb, SourceError> {
    let deb = DebFile::open(path).map_err(|e| SourceError::Malformed {
        what: path.display().to_string(),
        message: e.to_string(),
    })?;
    let control = deb.control.control.trim_end().to_owned();
    let para = deb822::paragraphs(&control).next();
    let field = |f: &str| {
        para.and_then(|p| p.get(f))
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    Ok(BuiltDeb {
        name: field("Package"),
        version: field("Version"),
        arch: field("Architecture"),
        size,
        sha256: sha256.to_owned(),
        path: path.to_owned(),
        control,
    })
}

/// Size and SHA-256 of a file, streamed.
fn hash_file(path: &Path) -> Result<(u64, String), SourceError> {
    let mut hasher = Sha256::new();
    let mut file = std::fs::File::open(path).map_err(SourceError::io("opening", path))?;
    let size = std::io::copy(&mut file, &mut hasher).map_err(SourceError::io("reading", path))?;
    Ok((size, hex::encode(hasher.finalize())))
}

/// Renames `from` (on the cache's file system) to `to`, flushed to disk first.
fn move_into(from: &Path, to: &Path) -> Result<(), SourceError> {
    std::fs::File::open(from)
        .and_then(|f| f.sync_all())
        .map_err(SourceError::io("writing", from))?;
    let dir = staves_fs::parent_of(to);
    std::fs::create_dir_all(dir).map_err(SourceError::io("creating", dir))?;
    std::fs::rename(from, to).map_err(SourceError::io("moving a build result to", to))?;
    staves_fs::sync_parent(to);
    Ok(())
}

/// Takes a local `.deb` into the cache (copied by its SHA-256, so that what the lock
/// names stays there when the file moves or changes) and reads what it is.
pub fn import(cache: &Cache, path: &Path) -> Result<BuiltDeb, SourceError> {
    let (size, sha256) = hash_file(path)?;
    let target = deb_path(cache, &sha256);
    if hash_file(&target).ok() != Some((size, sha256.clone())) {
        cache.write_atomic(&target, |out| {
            let mut from =
                std::fs::File::open(path).map_err(staves_repo::RepoError::io("reading", path))?;
            let mut hasher = Sha256::new();
            let mut tee = TeeWriter(out, &mut hasher);
            std::io::copy(&mut from, &mut tee)
                .map_err(staves_repo::RepoError::io("copying", path))?;
            if hex::encode(hasher.finalize()) != sha256 {
                return Err(staves_repo::RepoError::io("copying", path)(
                    std::io::Error::other("the file changed while it was copied"),
                ));
            }
            Ok(())
        })?;
    }
    describe(&target, size, &sha256)
}

/// Writes to a file and a hasher at once.
struct TeeWriter<'a>(&'a mut std::fs::File, &'a mut Sha256);

impl Write for TeeWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.0.write(buf)?;
        self.1.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Moves the `.deb`s a build made into the cache, then writes its manifest and log.
pub fn store(
    cache: &Cache,
    key: &str,
    source: &str,
    made: &[PathBuf],
    flags: &[String],
    log: &Path,
) -> Result<Built, SourceError> {
    let dir = entry(cache, key);
    std::fs::create_dir_all(&dir).map_err(SourceError::io("creating", &dir))?;
    let mut debs = Vec::new();
    let mut manifest = format!("source {source}\n");
    for flag in flags {
        manifest.push_str(&format!("flag {flag}\n"));
    }
    // The files were made in a scratch directory of the cache: they are hashed as they are
    // read and moved into place, never held in memory.
    for file in made {
        let (size, sha256) = hash_file(file)?;
        let target = deb_path(cache, &sha256);
        move_into(file, &target)?;
        debs.push(describe(&target, size, &sha256)?);
        manifest.push_str(&format!("deb {sha256} {size}\n"));
    }
    let kept_log = dir.join("build.log");
    move_into(log, &kept_log)?;
    let path = dir.join("manifest");
    cache.write_atomic(&path, |f| {
        f.write_all(manifest.as_bytes())
            .map_err(staves_repo::RepoError::io("writing", &path))
    })?;
    Ok(Built {
        source: source.to_owned(),
        debs,
        flags: flags.to_vec(),
        log: kept_log,
        reused: false,
    })
}

/// What a build entry of the shared tier is called.
const SHARED_KIND: &str = "built";

/// Asks the shared tier for the build `key` this cache lacks: its `.deb`s, log and manifest
/// (written last) are brought into this cache, and the build is looked up as a local one —
/// which hashes every `.deb` again against the manifest.
pub fn lookup_shared(
    cache: &Cache,
    shared: &dyn staves_types::SharedCache,
    key: &str,
) -> Result<Option<Built>, staves_types::SharedError> {
    let scratch = cache.scratch_dir()?;
    let Some(files) = shared.fetch(SHARED_KIND, key, scratch.path())? else {
        return Ok(None);
    };
    let dir = entry(cache, key);
    std::fs::create_dir_all(&dir)?;
    let mut manifest = None;
    for file in &files {
        match file.name.as_str() {
            "manifest" => manifest = Some(&file.path),
            "build.log" => {
                staves_fs::write_atomic(&dir.join("build.log"), &std::fs::read(&file.path)?)?
            }
            name if name.starts_with("deb-") => {
                let to = deb_path(cache, &file.sha256);
                std::fs::create_dir_all(staves_fs::parent_of(&to))?;
                staves_fs::link_or_copy(&file.path, &to)?;
            }
            _ => {}
        }
    }
    let Some(manifest) = manifest else {
        return Err(format!("the shared entry of build {key} has no manifest").into());
    };
    staves_fs::write_atomic(&dir.join("manifest"), &std::fs::read(manifest)?)?;
    match lookup(cache, key) {
        Some(built) => Ok(Some(built)),
        None => Err(format!("the shared entry of build {key} is not whole").into()),
    }
}

/// Offers the build kept under `key` to the shared tier.
pub fn keep_shared(
    cache: &Cache,
    shared: &dyn staves_types::SharedCache,
    key: &str,
    built: &Built,
) -> Result<(), staves_types::SharedError> {
    let dir = entry(cache, key);
    let mut files = Vec::new();
    for name in ["manifest", "build.log"] {
        let path = dir.join(name);
        let (_, sha256) = hash_file(&path)?;
        files.push(staves_types::KeptFile {
            name: name.to_owned(),
            path,
            sha256,
        });
    }
    for deb in &built.debs {
        files.push(staves_types::KeptFile {
            name: format!("deb-{}", deb.sha256),
            path: deb.path.clone(),
            sha256: deb.sha256.clone(),
        });
    }
    shared.keep(SHARED_KIND, key, &files)
}
