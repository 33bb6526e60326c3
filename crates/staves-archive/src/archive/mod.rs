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
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use staves_deb::deb::DebFile;
use staves_openpgp::SigningKey;

use crate::control::Checked;
use crate::error::ArchiveError;

mod db;
mod pool;
mod publish;

use db::{db_path, read_db, retain_newest, write_db};
use pool::{digests, pool_dir};

/// Required claims: name → accepted values (the claim's string form must be one of them).
pub type Claims = BTreeMap<String, Vec<String>>;

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
    pub claims: Claims,
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

    /// Every package of a suite's component, sorted.
    pub fn packages(&self, suite: &str, component: &str) -> Vec<Entry> {
        self.lock()
            .get(&(suite.to_owned(), component.to_owned()))
            .map(|p| p.values().cloned().collect())
            .unwrap_or_default()
    }
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
