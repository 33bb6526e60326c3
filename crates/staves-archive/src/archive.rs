//! The archive on disk and its changes.
//!
//! ```text
//! DIR/pool/COMPONENT/h/hello/hello_1.0-1_amd64.deb   the packages, as Debian lays them out
//! DIR/dists/SUITE -> .SUITE.GEN                       the published indices, one symlink
//! DIR/dists/.SUITE.GEN/{InRelease,Release,Release.gpg,COMPONENT/binary-ARCH/Packages{,.gz,.xz}}
//! DIR/dists/.by-hash/SUITE/COMPONENT/binary-ARCH/SHA256/HASH   every index ever published
//! DIR/key.asc, DIR/key.gpg                            the public key
//! DIR/.staves/db/SUITE/COMPONENT                      the packages of each suite (Packages format)
//! DIR/.staves/signing-key.asc                         the secret key (mode 0600)
//! ```
//!
//! A change is made in an order that a crash at any point leaves a consistent archive: the
//! `.deb` is renamed into the pool, then the package list is replaced whole, then a new
//! generation of the suite's indices is written beside the old one and the suite's symlink
//! is replaced by a rename. A reader sees the old release or the new one, and indices named
//! by hash stay where they were, so a client that read the old `InRelease` still finds them.
//! On start the indices are published again from the package lists.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};
use staves_deb::deb::DebFile;
use staves_deb::deb822;
use staves_openpgp::SigningKey;

use crate::control::Checked;
use crate::error::ArchiveError;
use crate::release::{Release, http_date};

/// How many earlier generations of a suite's indices are kept beside the current one.
const KEEP_GENERATIONS: usize = 8;

/// One suite the archive serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suite {
    /// Its name (`stable`, `bookworm`).
    pub name: String,
    /// Its components (`main`).
    pub components: Vec<String>,
    /// Its architectures (`amd64`); `all` packages go to every one.
    pub architectures: Vec<String>,
    /// How many versions of a package (per architecture) are kept; all when unset.
    pub keep: Option<usize>,
    /// Claims a JWT must carry to change this suite, beyond the ones every suite requires.
    pub claims: crate::config::Claims,
}

impl Suite {
    /// A suite keeping every version, with no claims of its own.
    pub fn new(name: &str, components: &[&str], architectures: &[&str]) -> Suite {
        Suite {
            name: name.to_owned(),
            components: components.iter().map(|c| (*c).to_owned()).collect(),
            architectures: architectures.iter().map(|a| (*a).to_owned()).collect(),
            keep: None,
            claims: Default::default(),
        }
    }
}

/// What an archive is.
#[derive(Debug, Clone)]
pub struct ArchiveConfig {
    /// Where it lives.
    pub dir: PathBuf,
    /// The suites it serves.
    pub suites: Vec<Suite>,
    /// `Origin` and `Label` of its releases.
    pub origin: String,
}

/// One package of a suite's component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Package name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Architecture.
    pub arch: String,
    /// Its `Packages` paragraph, file fields included.
    pub paragraph: String,
    /// Its SHA-256.
    pub sha256: String,
    /// Its file, `pool/…` (checked to stay there when read back).
    pub filename: String,
}

/// What an upload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Added {
    /// The package is new in the suite.
    New(Entry),
    /// The same bytes were there already.
    Unchanged(Entry),
}

/// Packages of one suite's component, by (name, arch, version).
type Packages = BTreeMap<(String, String, String), Entry>;

/// An archive, open for changes.
pub struct Archive {
    config: ArchiveConfig,
    key: SigningKey,
    /// Every suite's packages, by (suite, component); changes hold this lock from the pool
    /// rename to the published release, so they are serialised and none is lost.
    state: Mutex<BTreeMap<(String, String), Packages>>,
    /// The compressed blocks of every index, so a change recompresses only what it touched.
    blocks: Mutex<crate::blocks::BlockCache>,
    /// `DIR/.staves/lock`, held while the archive is open: one process changes it at a time.
    _lock: std::fs::File,
}

/// What a change did: the package it added, and what retention removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The package uploaded.
    pub added: Added,
    /// Older versions removed by the suite's `keep`.
    pub removed: Vec<Entry>,
}

/// Size, SHA-256 and MD5 of a file, read once.
fn digests(path: &Path) -> Result<(u64, String, String), ArchiveError> {
    let mut file = std::fs::File::open(path).map_err(ArchiveError::io("reading", path))?;
    let mut sha = Sha256::new();
    let mut md5 = md5::Md5::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .map_err(ArchiveError::io("reading", path))?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        md5.update(&buf[..n]);
        size += n as u64;
    }
    Ok((
        size,
        hex::encode(sha.finalize()),
        hex::encode(md5.finalize()),
    ))
}

/// `pool/main/h/hello` (or `pool/main/libc/libcurl`) for a source package name.
fn pool_dir(component: &str, source: &str) -> String {
    let prefix = if source.starts_with("lib") && source.len() > 3 {
        &source[..4]
    } else {
        &source[..1]
    };
    format!("pool/{component}/{prefix}/{source}")
}

/// Whether `name` can be a path component safely: a package name, version or architecture.
fn is_plain(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.~_:".contains(c))
}

impl Archive {
    /// Opens (or creates) the archive at `config.dir`, signing with `key`, and publishes
    /// every suite from its package list: whatever a crash interrupted is completed.
    pub fn open(config: ArchiveConfig, key: SigningKey) -> Result<Archive, ArchiveError> {
        for suite in &config.suites {
            let names = std::iter::once(&suite.name)
                .chain(&suite.components)
                .chain(&suite.architectures);
            if let Some(bad) = names.into_iter().find(|n| !is_plain(n)) {
                return Err(ArchiveError::Config(format!(
                    "`{bad}` cannot name a suite, component or architecture"
                )));
            }
        }
        let dir = &config.dir;
        for sub in ["pool", "dists", ".staves/db", ".staves/incoming"] {
            let path = dir.join(sub);
            std::fs::create_dir_all(&path).map_err(ArchiveError::io("creating", &path))?;
        }
        let lock_path = dir.join(".staves/lock");
        let lock =
            std::fs::File::create(&lock_path).map_err(ArchiveError::io("creating", &lock_path))?;
        if lock.try_lock().is_err() {
            return Err(ArchiveError::Config(format!(
                "{} is open in another process (`staves serve` or `staves include`); upload to the server instead, or stop it first",
                dir.display()
            )));
        }
        let incoming = dir.join(".staves/incoming");
        staves_fs::sweep(&incoming).map_err(ArchiveError::io("sweeping", &incoming))?;
        staves_fs::sweep(&dir.join("dists")).map_err(ArchiveError::io("sweeping", dir))?;
        for (name, bytes) in [
            ("key.asc", key.public_armored()?.into_bytes()),
            ("key.gpg", key.public_binary()?),
        ] {
            let path = dir.join(name);
            staves_fs::write_atomic(&path, &bytes).map_err(ArchiveError::io("writing", &path))?;
            // Public: anyone may read what every client is given.
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
                .map_err(ArchiveError::io("writing", &path))?;
        }
        let mut state = BTreeMap::new();
        for suite in &config.suites {
            for component in &suite.components {
                let packages = read_db(&db_path(dir, &suite.name, component))?;
                state.insert((suite.name.clone(), component.clone()), packages);
            }
        }
        let archive = Archive {
            config,
            key,
            state: Mutex::new(state),
            blocks: Mutex::default(),
            _lock: lock,
        };
        {
            let state = archive.lock();
            for suite in &archive.config.suites {
                archive.publish(suite, &state)?;
            }
            // A process killed between moving a file into the pool and listing it left
            // a file no list names.
            archive.sweep_pool(&state);
        }
        Ok(archive)
    }

    /// The archive's configuration.
    pub fn config(&self) -> &ArchiveConfig {
        &self.config
    }

    /// The signing key's fingerprint.
    pub fn fingerprint(&self) -> String {
        self.key.fingerprint()
    }

    /// Where uploads are received before they are checked.
    pub fn incoming(&self) -> PathBuf {
        self.config.dir.join(".staves/incoming")
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), Packages>> {
        // A panic while holding the lock leaves state that was written whole (the lists
        // are replaced by rename): the data is still good.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The suite named `name`, if served.
    pub fn find_suite(&self, name: &str) -> Option<&Suite> {
        self.config.suites.iter().find(|s| s.name == name)
    }

    fn suite(&self, name: &str, component: &str) -> Result<&Suite, ArchiveError> {
        let suite = self
            .config
            .suites
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| {
                ArchiveError::NotServed(format!(
                    "no suite `{name}` here (served: {})",
                    self.config
                        .suites
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
        if !suite.components.iter().any(|c| c == component) {
            return Err(ArchiveError::NotServed(format!(
                "suite `{name}` has no component `{component}` (it has: {})",
                suite.components.join(", ")
            )));
        }
        Ok(suite)
    }

    /// Adds the `.deb` at `upload` (a file in [`Archive::incoming`]) to `suite`'s
    /// `component` and publishes the suite. The file is moved into the pool or removed.
    pub fn add(&self, suite: &str, component: &str, upload: &Path) -> Result<Change, ArchiveError> {
        let mut changes = self
            .add_many(suite, component, &[upload.to_owned()])
            .map_err(|e| match e {
                ArchiveError::InBatch { source, .. } => *source,
                other => other,
            })?;
        changes
            .pop()
            .ok_or_else(|| ArchiveError::NotADeb("nothing was uploaded".into()))
    }

    /// Adds every `.deb` of `files` to `suite`'s `component` and publishes the suite once.
    /// All or nothing: when one file is refused, none is added ([`ArchiveError::InBatch`]
    /// names it). The files are moved into the pool or removed.
    pub fn add_many(
        &self,
        suite: &str,
        component: &str,
        files: &[PathBuf],
    ) -> Result<Vec<Change>, ArchiveError> {
        let named: Vec<(PathBuf, String)> = files
            .iter()
            .map(|f| {
                let name = f.file_name().map(|n| n.to_string_lossy().into_owned());
                (f.clone(), name.unwrap_or_default())
            })
            .collect();
        self.add_many_named(suite, component, &named)
    }

    /// [`Archive::add_many`] for files received under other names: each is `(where it is,
    /// the name its sender gave it)`, and errors name the file as sent.
    pub fn add_many_named(
        &self,
        suite: &str,
        component: &str,
        files: &[(PathBuf, String)],
    ) -> Result<Vec<Change>, ArchiveError> {
        let result = self.add_many_inner(suite, component, files);
        for (file, _) in files {
            let _ = std::fs::remove_file(file);
        }
        result
    }

    fn add_many_inner(
        &self,
        suite: &str,
        component: &str,
        files: &[(PathBuf, String)],
    ) -> Result<Vec<Change>, ArchiveError> {
        let served = self.suite(suite, component)?.clone();
        let mut state = self.lock();
        let list = (suite.to_owned(), component.to_owned());
        let mut changes = Vec::with_capacity(files.len());
        let mut refused = None;
        for (file, name) in files {
            match self.stage(&served, component, file, &mut state) {
                Ok(change) => changes.push(change),
                Err(error) => {
                    refused = Some(ArchiveError::InBatch {
                        file: name.clone(),
                        source: Box::new(error),
                    });
                    break;
                }
            }
        }
        if refused.is_none() && changes.iter().any(|c| matches!(c.added, Added::New(_))) {
            // The list on disk is written before the one in memory is believed.
            let packages = state.entry(list.clone()).or_default();
            let db = db_path(&self.config.dir, suite, component);
            match write_db(&db, packages) {
                Ok(()) => {
                    self.publish(&served, &state)?;
                    let retired = changes.iter().flat_map(|c| &c.removed);
                    self.drop_pool_files(&state, retired);
                    return Ok(changes);
                }
                Err(error) => refused = Some(error),
            }
        }
        match refused {
            None => Ok(changes),
            Some(error) => {
                // Undo in reverse: what each change removed comes back, what it added goes.
                let packages = state.entry(list).or_default();
                for change in changes.iter().rev() {
                    for entry in &change.removed {
                        packages.insert(entry.key(), entry.clone());
                    }
                    if let Added::New(entry) = &change.added {
                        packages.remove(&entry.key());
                    }
                }
                let undone = changes.iter().filter_map(|c| match &c.added {
                    Added::New(entry) => Some(entry),
                    Added::Unchanged(_) => None,
                });
                self.drop_pool_files(&state, undone);
                Err(error)
            }
        }
    }

    /// Checks one upload, moves it into the pool and adds it to the list in memory,
    /// applying the suite's retention.
    fn stage(
        &self,
        served: &Suite,
        component: &str,
        upload: &Path,
        state: &mut BTreeMap<(String, String), Packages>,
    ) -> Result<Change, ArchiveError> {
        let suite = served.name.as_str();
        // The message, not the path: the file is a temporary of the archive's, and its name
        // is the server's business, not the uploader's.
        let deb = DebFile::open(upload).map_err(|e| {
            ArchiveError::NotADeb(match e {
                staves_deb::deb::DebError::Malformed { message, .. } => message,
                staves_deb::deb::DebError::Io { source, .. } => source.to_string(),
            })
        })?;
        let checked = crate::control::check(&deb.control.control)?;
        let Checked {
            name,
            version,
            arch,
            source,
            text: control,
        } = checked;
        if arch != "all" && !served.architectures.contains(&arch) {
            return Err(ArchiveError::NotServed(format!(
                "suite `{suite}` does not serve architecture `{arch}` (it serves: {}, and all)",
                served.architectures.join(", ")
            )));
        }
        let (size, sha256, md5) = digests(upload)?;
        let file_version = version.split_once(':').map_or(version.as_str(), |(_, v)| v);
        let filename = format!(
            "{}/{name}_{file_version}_{arch}.deb",
            pool_dir(component, &source)
        );
        let key = (name.clone(), arch.clone(), version.clone());
        let list = (suite.to_owned(), component.to_owned());
        if let Some(existing) = state.get(&list).and_then(|p| p.get(&key)) {
            return if existing.sha256 == sha256 {
                Ok(Change {
                    added: Added::Unchanged(existing.clone()),
                    removed: Vec::new(),
                })
            } else {
                Err(ArchiveError::Conflict {
                    name,
                    version,
                    arch,
                    existing: existing.sha256.clone(),
                })
            };
        }
        // The pool is shared by the suites: a file of the same name must be the same bytes.
        let target = self.config.dir.join(&filename);
        if target.exists() {
            let (_, there, _) = digests(&target)?;
            if there != sha256 {
                // Versions that differ only in their epoch share a pool file name.
                let holder = state
                    .values()
                    .flat_map(|p| p.values())
                    .find(|e| e.filename == filename);
                return Err(match holder {
                    Some(holder) if holder.version != version => ArchiveError::PoolClash {
                        file: filename,
                        version,
                        holder: holder.version.clone(),
                    },
                    _ => ArchiveError::Conflict {
                        name,
                        version,
                        arch,
                        existing: there,
                    },
                });
            }
        } else {
            let parent = staves_fs::parent_of(&target);
            std::fs::create_dir_all(parent).map_err(ArchiveError::io("creating", parent))?;
            std::fs::File::open(upload)
                .and_then(|f| f.sync_all())
                .map_err(ArchiveError::io("writing", upload))?;
            std::fs::rename(upload, &target).map_err(ArchiveError::io("moving into", &target))?;
            staves_fs::sync_parent(&target);
        }
        let packages = state.entry(list).or_default();
        let paragraph = format!(
            "{control}\nFilename: {filename}\nSize: {size}\nMD5sum: {md5}\nSHA256: {sha256}\n"
        );
        let entry = Entry {
            name,
            version,
            arch,
            paragraph,
            sha256,
            filename,
        };
        packages.insert(key, entry.clone());
        let removed = match served.keep {
            Some(keep) => retain_newest(packages, &entry.name, &entry.arch, keep),
            None => Vec::new(),
        };
        Ok(Change {
            added: Added::New(entry),
            removed,
        })
    }

    /// Removes `name` from `suite`'s `component`: every version, or `version` only, of
    /// every architecture or `arch` only, and publishes the suite. Returns what was removed;
    /// nothing matching is [`ArchiveError::NotServed`].
    pub fn remove(
        &self,
        suite: &str,
        component: &str,
        name: &str,
        version: Option<&str>,
        arch: Option<&str>,
    ) -> Result<Vec<Entry>, ArchiveError> {
        let served = self.suite(suite, component)?.clone();
        let mut state = self.lock();
        let list = (suite.to_owned(), component.to_owned());
        let packages = state.entry(list).or_default();
        let doomed: Vec<_> = packages
            .keys()
            .filter(|(n, a, v)| {
                n == name && arch.is_none_or(|x| x == a) && version.is_none_or(|x| x == v)
            })
            .cloned()
            .collect();
        if doomed.is_empty() {
            return Err(ArchiveError::NotServed(format!(
                "`{suite}/{component}` holds no {name}{}{}",
                version.map(|v| format!(" {v}")).unwrap_or_default(),
                arch.map(|a| format!(" ({a})")).unwrap_or_default(),
            )));
        }
        let removed: Vec<Entry> = doomed.iter().filter_map(|k| packages.remove(k)).collect();
        let db = db_path(&self.config.dir, suite, component);
        if let Err(error) = write_db(&db, packages) {
            for entry in &removed {
                packages.insert(entry.key(), entry.clone());
            }
            return Err(error);
        }
        self.publish(&served, &state)?;
        self.drop_pool_files(&state, &removed);
        Ok(removed)
    }

    /// Deletes the pool files of `dropped` that no list names any more (a pool file is
    /// shared by every suite listing the same package). A client holding an index of a kept
    /// older generation may still ask for one; it gets 404 and updates, as with Debian's own
    /// archive after a dinstall.
    fn drop_pool_files<'a>(
        &self,
        state: &BTreeMap<(String, String), Packages>,
        dropped: impl IntoIterator<Item = &'a Entry>,
    ) {
        let dropped: Vec<&str> = dropped.into_iter().map(Entry::filename).collect();
        if dropped.is_empty() {
            return;
        }
        let listed = listed_files(state);
        for file in dropped.into_iter().filter(|f| !listed.contains(f)) {
            let _ = std::fs::remove_file(self.config.dir.join(file));
        }
    }

    /// Deletes every pool file no list names.
    fn sweep_pool(&self, state: &BTreeMap<(String, String), Packages>) {
        let listed = listed_files(state);
        for path in files_under(&self.config.dir.join("pool")) {
            let relative = path
                .strip_prefix(&self.config.dir)
                .ok()
                .and_then(Path::to_str);
            if relative.is_some_and(|r| !listed.contains(r)) {
                let _ = std::fs::remove_file(&path);
            }
        }
    }

    /// Writes a new generation of `suite`'s indices and release, signed, and switches the
    /// suite to it.
    fn publish(
        &self,
        suite: &Suite,
        state: &BTreeMap<(String, String), Packages>,
    ) -> Result<(), ArchiveError> {
        let dists = self.config.dir.join("dists");
        let staged =
            staves_fs::temp_dir_in(&dists).map_err(ArchiveError::io("creating in", &dists))?;
        let mut release = Release::new(
            &self.config.origin,
            suite,
            &http_date(std::time::SystemTime::now()),
        );
        let by_hash_root = dists.join(".by-hash").join(&suite.name);
        for component in &suite.components {
            let empty = Packages::new();
            let packages = state
                .get(&(suite.name.clone(), component.clone()))
                .unwrap_or(&empty);
            for arch in &suite.architectures {
                let mut blocks: Vec<String> = vec![String::new()];
                let mut last_name = "";
                for entry in packages
                    .values()
                    .filter(|e| e.arch == *arch || e.arch == "all")
                {
                    if entry.name != last_name
                        && crate::blocks::starts_block(&entry.name)
                        && blocks.last().is_some_and(|b| !b.is_empty())
                    {
                        blocks.push(String::new());
                    }
                    last_name = &entry.name;
                    let block = blocks.last_mut().expect("there is a block");
                    block.push_str(entry.paragraph.trim_end());
                    block.push_str("\n\n");
                }
                blocks.retain(|b| !b.is_empty());
                let relative = format!("{component}/binary-{arch}");
                let dir = staged.path().join(&relative);
                std::fs::create_dir_all(&dir).map_err(ArchiveError::io("creating", &dir))?;
                let by_hash = by_hash_root.join(&relative).join("SHA256");
                std::fs::create_dir_all(&by_hash)
                    .map_err(ArchiveError::io("creating", &by_hash))?;
                let (gz, xz) = self
                    .blocks
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .compress(&format!("{}/{relative}", suite.name), &blocks)
                    .map_err(ArchiveError::io("compressing", &dir))?;
                let text = blocks.concat();
                for (name, bytes) in [
                    ("Packages", text.as_bytes()),
                    ("Packages.gz", gz.as_slice()),
                    ("Packages.xz", xz.as_slice()),
                ] {
                    // Written once, by hash; the generation's name is a second link to it.
                    let sha256 = hex::encode(Sha256::digest(bytes));
                    let kept = by_hash.join(&sha256);
                    if !kept.exists() {
                        staves_fs::write_atomic(&kept, bytes)
                            .map_err(ArchiveError::io("writing", &kept))?;
                    }
                    let path = dir.join(name);
                    std::fs::hard_link(&kept, &path).map_err(ArchiveError::io("linking", &path))?;
                    release.add(&format!("{relative}/{name}"), bytes);
                }
                // The release's by-hash names resolve to the files every generation shares.
                let link = dir.join("by-hash");
                let target = Path::new("../../../.by-hash")
                    .join(&suite.name)
                    .join(&relative);
                std::os::unix::fs::symlink(&target, &link)
                    .map_err(ArchiveError::io("linking", &link))?;
            }
        }
        let text = release.text();
        let signed = self.key.sign_cleartext(&text, "Release")?;
        let detached = self.key.sign_detached(text.as_bytes(), "Release")?;
        for (name, bytes) in [
            ("Release", text.as_bytes()),
            ("InRelease", signed.as_bytes()),
            ("Release.gpg", detached.as_slice()),
        ] {
            let path = staged.path().join(name);
            std::fs::write(&path, bytes).map_err(ArchiveError::io("writing", &path))?;
        }
        sync_tree(staged.path())?;
        let generation = next_generation(&dists, &suite.name)?;
        let generation_dir = dists.join(format!(".{}.{generation}", suite.name));
        let staged = staged.keep();
        std::fs::rename(&staged, &generation_dir)
            .map_err(ArchiveError::io("renaming into", &generation_dir))?;
        // The switch: a new symlink renamed over the old one, atomically.
        let link = dists.join(&suite.name);
        let tmp = dists.join(format!(".{}.link-{}", suite.name, std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(format!(".{}.{generation}", suite.name), &tmp)
            .map_err(ArchiveError::io("linking", &tmp))?;
        std::fs::rename(&tmp, &link).map_err(ArchiveError::io("switching", &link))?;
        staves_fs::sync_parent(&link);
        remove_old_generations(&dists, &suite.name, generation);
        prune_by_hash(&dists, &suite.name, &by_hash_root);
        Ok(())
    }

    /// Every package of a suite's component, sorted.
    pub fn packages(&self, suite: &str, component: &str) -> Vec<Entry> {
        self.lock()
            .get(&(suite.to_owned(), component.to_owned()))
            .map(|p| p.values().cloned().collect())
            .unwrap_or_default()
    }
}

/// Keeps the newest `keep` versions of `name` for `arch` in `packages`; returns the rest.
fn retain_newest(packages: &mut Packages, name: &str, arch: &str, keep: usize) -> Vec<Entry> {
    let mut versions: Vec<(staves_deb::Version, (String, String, String))> = packages
        .keys()
        .filter(|(n, a, _)| n == name && a == arch)
        .filter_map(|k| Some((staves_deb::Version::parse(&k.2).ok()?, k.clone())))
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    versions
        .into_iter()
        .skip(keep)
        .filter_map(|(_, k)| packages.remove(&k))
        .collect()
}

impl Entry {
    /// Its key in a package list.
    fn key(&self) -> (String, String, String) {
        (self.name.clone(), self.arch.clone(), self.version.clone())
    }

    /// The pool path its paragraph names.
    pub fn filename(&self) -> &str {
        &self.filename
    }
}

/// The pool files every list names.
fn listed_files(state: &BTreeMap<(String, String), Packages>) -> std::collections::HashSet<&str> {
    state
        .values()
        .flat_map(|p| p.values())
        .map(Entry::filename)
        .collect()
}

/// Every regular file below `dir`.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => pending.push(entry.path()),
                Ok(kind) if kind.is_file() => files.push(entry.path()),
                _ => {}
            }
        }
    }
    files
}

/// Flushes every file of a staged tree to disk before it is switched to.
fn sync_tree(dir: &Path) -> Result<(), ArchiveError> {
    for entry in std::fs::read_dir(dir).map_err(ArchiveError::io("reading", dir))? {
        let path = entry.map_err(ArchiveError::io("reading", dir))?.path();
        let meta = std::fs::symlink_metadata(&path).map_err(ArchiveError::io("reading", &path))?;
        if meta.is_dir() {
            sync_tree(&path)?;
        } else if meta.is_file() {
            std::fs::File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(ArchiveError::io("writing", &path))?;
        }
    }
    Ok(())
}

/// Generation numbers of `suite`'s index trees present in `dists`.
fn generations(dists: &Path, suite: &str) -> Vec<u64> {
    let prefix = format!(".{suite}.");
    std::fs::read_dir(dists)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_prefix(&prefix)?.parse().ok()
        })
        .collect()
}

fn next_generation(dists: &Path, suite: &str) -> Result<u64, ArchiveError> {
    Ok(generations(dists, suite).into_iter().max().unwrap_or(0) + 1)
}

/// Removes generations older than the last few: a client that read an older release
/// reaches its indices by hash, which stay.
fn remove_old_generations(dists: &Path, suite: &str, current: u64) {
    for generation in generations(dists, suite) {
        if generation + (KEEP_GENERATIONS as u64) < current {
            let _ = std::fs::remove_dir_all(dists.join(format!(".{suite}.{generation}")));
        }
    }
}

/// Removes the by-hash files no kept generation's `Release` names: a client that read one of
/// those releases still finds its indices, and the directory does not grow without end.
fn prune_by_hash(dists: &Path, suite: &str, by_hash_root: &Path) {
    let mut named = std::collections::HashSet::new();
    for generation in generations(dists, suite) {
        let release = dists.join(format!(".{suite}.{generation}")).join("Release");
        let Ok(text) = std::fs::read_to_string(&release) else {
            // A generation being removed or written: keep everything this time.
            return;
        };
        named.extend(
            text.lines()
                .filter_map(|l| l.strip_prefix(' '))
                .filter_map(|l| l.split_whitespace().next())
                .map(str::to_owned),
        );
    }
    for path in files_under(by_hash_root) {
        if let Some(name) = path.file_name().and_then(|n| n.to_str())
            && name.len() == 64
            && !named.contains(name)
        {
            let _ = std::fs::remove_file(&path);
        }
    }
}

fn db_path(dir: &Path, suite: &str, component: &str) -> PathBuf {
    dir.join(".staves/db").join(suite).join(component)
}

fn read_db(path: &Path) -> Result<Packages, ArchiveError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Packages::new()),
        Err(e) => return Err(ArchiveError::io("reading", path)(e)),
    };
    let mut packages = Packages::new();
    for para in deb822::paragraphs(&text) {
        let field = |f: &str| para.get(f).map(|v| v.trim().to_owned()).unwrap_or_default();
        let entry = Entry {
            name: field("Package"),
            version: field("Version"),
            arch: field("Architecture"),
            paragraph: para.text().trim_end().to_owned(),
            sha256: field("SHA256"),
            filename: field("Filename"),
        };
        // The list is the archive's own, but it holds what uploaders sent: a path that
        // leaves the pool is never believed (removal and sweeps delete these paths).
        if !crate::control::is_pool_path(&entry.filename) {
            return Err(ArchiveError::Corrupt {
                list: path.to_owned(),
                line: para.line_in(&text),
                why: format!(
                    "{} {} names the file `{}`, outside pool/",
                    entry.name, entry.version, entry.filename
                ),
            });
        }
        packages.insert(
            (
                entry.name.clone(),
                entry.arch.clone(),
                entry.version.clone(),
            ),
            entry,
        );
    }
    Ok(packages)
}

fn write_db(path: &Path, packages: &Packages) -> Result<(), ArchiveError> {
    let mut text = String::new();
    for entry in packages.values() {
        text.push_str(entry.paragraph.trim_end());
        text.push_str("\n\n");
    }
    let parent = staves_fs::parent_of(path);
    std::fs::create_dir_all(parent).map_err(ArchiveError::io("creating", parent))?;
    staves_fs::write_atomic(path, text.as_bytes()).map_err(ArchiveError::io("writing", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deb(dir: &Path, name: &str) -> PathBuf {
        let entries: Vec<staves_deb::write::Entry> = Vec::new();
        let control = format!(
            "Package: {name}\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@localhost>\nDescription: x\n"
        );
        let path = dir.join(format!("{name}.deb"));
        let file = std::fs::File::create(&path).expect("create");
        let new = staves_deb::write::NewDeb {
            control: &control,
            entries: &entries,
            mtime: 0,
        };
        staves_deb::write::write_deb(file, &new).expect("write");
        path
    }

    #[test]
    fn generations_and_by_hash_files_are_pruned_and_a_reopened_archive_keeps_its_packages() {
        let dir = tempfile::tempdir().expect("tmp");
        let config = ArchiveConfig {
            dir: dir.path().join("archive"),
            suites: vec![Suite::new("stable", &["main"], &["amd64"])],
            origin: "Test".into(),
        };
        let key = SigningKey::generate("Test <test@localhost>").expect("key");
        let archive = Archive::open(config.clone(), key.clone()).expect("open");
        for i in 0..12 {
            let file = deb(&archive.incoming(), &format!("pkg{i}"));
            assert!(matches!(
                archive.add("stable", "main", &file).expect("add").added,
                Added::New(_)
            ));
        }
        let dists = config.dir.join("dists");
        assert_eq!(generations(&dists, "stable").len(), KEEP_GENERATIONS + 1);
        let by_hash = dists.join(".by-hash/stable/main/binary-amd64/SHA256");
        let kept = std::fs::read_dir(&by_hash).expect("by-hash").count();
        assert_eq!(
            kept,
            3 * (KEEP_GENERATIONS + 1),
            "three indices per kept generation"
        );
        drop(archive);
        let reopened = Archive::open(config, key).expect("reopen");
        assert_eq!(reopened.packages("stable", "main").len(), 12);
        let packages =
            std::fs::read_to_string(dists.join("stable/main/binary-amd64/Packages")).expect("read");
        assert_eq!(packages.matches("Package: pkg").count(), 12);
    }
}
