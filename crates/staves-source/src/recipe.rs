//! Building a recipe: the build root of `build-essential` and the recipe's `build-depends`
//! (the same roots source packages get), a copy of the source directory, the recipe's
//! `build` and `install` steps run in the sandbox with Debian's build flags exported, and
//! what `install` put under `$DESTDIR` made into `.deb`s ([`crate::package`]). The result is
//! cached under a key of the recipe's text, the source tree's digest, the build root's
//! packages and the environment.

use std::path::{Path, PathBuf};
use std::time::Instant;

use sha2::{Digest, Sha256};
use staves_deb::source::BuildRelations;
use staves_deb::write::{Entry, EntryKind};
use staves_repo::SyncedRepository;
use staves_spec::recipe::Recipe;

use crate::build::{Builder, read_flags};
use crate::build_cache::BuildCaches;
use crate::env::BuildEnvironment;
use crate::error::SourceError;
use crate::sandbox::{STEP_MARKER, Sandbox};
use crate::store::{self, Built};
use crate::tree::walk;
use crate::{package, root};

/// Changes whenever what a recipe build does changes, so older results are not reused.
const RECIPE_FORMAT: &str = "staves recipe build 2";

/// Directories of a source tree that are not the source: version control.
const SKIPPED: &[&str] = &[".git", ".hg", ".svn"];

/// A source directory, listed (without version control) and digested.
#[derive(Debug, Default)]
struct SourceTree {
    entries: Vec<Entry>,
    digest: String,
    /// Each file's SHA-256, by path.
    hashes: std::collections::BTreeMap<String, String>,
}

impl SourceTree {
    /// Lists `dir` and hashes every name, kind, mode and content, in sorted order; the
    /// directories in `kept` (build caches, relative to `dir`) are not source.
    fn read(dir: &Path, kept: &[PathBuf]) -> Result<SourceTree, SourceError> {
        let skip = |path: &Path| {
            kept.iter().any(|k| k == path)
                || path
                    .file_name()
                    .is_some_and(|n| SKIPPED.iter().any(|s| n == *s))
        };
        let entries = walk(dir, &skip)?;
        let mut hasher = Sha256::new();
        let mut hashes = std::collections::BTreeMap::new();
        for entry in &entries {
            hasher.update(entry.path.as_bytes());
            match &entry.kind {
                EntryKind::Dir => hasher.update(b"\0dir\0"),
                EntryKind::Symlink { target } => {
                    hasher.update(b"\0link\0");
                    hasher.update(target.as_bytes());
                }
                EntryKind::File {
                    source, executable, ..
                } => {
                    hasher.update(if *executable {
                        b"\0exec\0"
                    } else {
                        b"\0file\0"
                    });
                    let mut file =
                        std::fs::File::open(source).map_err(SourceError::io("reading", source))?;
                    let mut content = Sha256::new();
                    let size = std::io::copy(&mut file, &mut content)
                        .map_err(SourceError::io("reading", source))?;
                    let content = content.finalize();
                    hasher.update(content);
                    hasher.update(size.to_le_bytes());
                    hashes.insert(entry.path.clone(), hex::encode(content));
                }
            }
        }
        Ok(SourceTree {
            entries,
            digest: hex::encode(hasher.finalize()),
            hashes,
        })
    }

    /// Copies the tree into `to`, which the build may change at will, every file dated
    /// `epoch` — tools that record modification times see the same ones every build —
    /// unless the build caches hold outputs of another content ([`BuildCaches::date`]).
    fn copy(&self, to: &Path, epoch: u64, caches: &BuildCaches) -> Result<(), SourceError> {
        let always = std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch);
        std::fs::create_dir_all(to).map_err(SourceError::io("creating", to))?;
        for entry in &self.entries {
            let target = to.join(&entry.path);
            match &entry.kind {
                EntryKind::Dir => std::fs::create_dir_all(&target)
                    .map_err(SourceError::io("creating", &target))?,
                EntryKind::Symlink { target: link } => std::os::unix::fs::symlink(link, &target)
                    .map_err(SourceError::io("creating", &target))?,
                EntryKind::File { source, .. } => {
                    let hash = self.hashes.get(&entry.path).map_or("", String::as_str);
                    let date = caches.date(&entry.path, hash, always);
                    std::fs::copy(source, &target)
                        .and_then(|_| std::fs::File::options().write(true).open(&target))
                        .and_then(|f| f.set_modified(date))
                        .map_err(SourceError::io("copying to", &target))?;
                }
            }
        }
        Ok(())
    }
}

/// The digest of a recipe's source, as its build key uses it: the directory's tree, or
/// the tarball's checksum.
pub fn source_digest(recipe: &Recipe) -> Result<String, SourceError> {
    match (recipe.source_dir(), &recipe.url, &recipe.sha256) {
        (Some(dir), _, _) => Ok(SourceTree::read(&dir, &kept_in_source(recipe))?.digest),
        (None, Some(url), Some(sha256)) => Ok(format!("{} {}", url.get_ref(), sha256.get_ref())),
        _ => Err(SourceError::Malformed {
            what: recipe.path.display().to_string(),
            message: "the recipe has no source".into(),
        }),
    }
}

/// The build caches a recipe keeps inside its source directory, relative to it.
fn kept_in_source(recipe: &Recipe) -> Vec<PathBuf> {
    recipe
        .cache
        .iter()
        .filter(|dir| !dir.get_ref().starts_with("~/"))
        .map(|dir| PathBuf::from(dir.get_ref().trim_end_matches('/')))
        .collect()
}

impl Builder<'_> {
    /// Builds (or finds in the cache) the packages of `recipe`, with the `[env]` variables
    /// `env`.
    pub fn build_recipe(
        &self,
        synced: &mut Vec<SyncedRepository>,
        recipe: &Recipe,
        env: &[(&str, &str)],
    ) -> Result<Built, SourceError> {
        let env = BuildEnvironment::new(env, self.jobs)?;
        let label = format!("{} {}", recipe.name.get_ref(), recipe.version.get_ref());
        let mut relations = BuildRelations::default();
        for group in &recipe.build_depends {
            let dependency =
                staves_deb::relation::parse_dependency(group.get_ref()).map_err(|e| {
                    SourceError::Malformed {
                        what: format!("build-depends of {}", recipe.path.display()),
                        message: e.to_string(),
                    }
                })?;
            relations.depends.push(dependency);
        }
        let root_packages = root::resolve_packages(synced, self.arch, &relations, &label)?;
        let tree = match recipe.source_dir() {
            Some(dir) => Some(SourceTree::read(&dir, &kept_in_source(recipe))?),
            None => None,
        };
        let digest = match &tree {
            Some(tree) => tree.digest.clone(),
            None => source_digest(recipe)?,
        };
        let epoch = recipe.source_date_epoch.unwrap_or(0);
        let fetched = self.fetch_languages(recipe)?;
        let mut built_from = format!("tree {digest}\nepoch {epoch}");
        // Every fetched file by hash: another lock is another build.
        for file in &fetched.pip {
            built_from.push_str(&format!("\npip {} {}", file.sha256, file.filename));
        }
        for file in fetched.crates.iter().flat_map(|(_, files)| files) {
            built_from.push_str(&format!("\ncrate {} {}", file.sha256, file.filename));
        }
        let key = self.key(
            RECIPE_FORMAT,
            &built_from,
            &root_packages,
            &env,
            recipe.text.as_bytes(),
        );
        let _lock = self.cache.lock(&format!("built-{key}"))?;
        if let Some(built) = self.lookup(&key, &label) {
            return Ok(built);
        }
        let started = Instant::now();
        // The source first: a URL that cannot be fetched fails before a root is assembled.
        let tarball = match &tree {
            Some(_) => None,
            None => Some(self.fetch_tarball(recipe, &label)?),
        };
        let root = self.root(synced, &root_packages, &label)?;
        let what = format!("{label} from its recipe");
        self.report_building(&what, &root_packages, &root, started.elapsed(), &env);
        let scratch = self.cache.scratch_dir()?;
        let work = scratch.path().join("build");
        let mut inputs = Vec::new();
        let mut script = String::new();
        // The recipe's build caches, kept between its builds (one build at a time).
        let _caches_lock = self
            .cache
            .lock(&format!("build-cache-{}", recipe.name.get_ref()))?;
        let setting = self.key("build cache", "", &root_packages, &env, &[]);
        let caches = BuildCaches::open(self.cache, recipe, self.arch, &setting)?;
        if let Some(tree) = &tree {
            tree.copy(&work.join("src"), epoch, &caches)?;
        }
        if !fetched.pip.is_empty() {
            // The fetched files under their own names, read-only at /build/pip.
            inputs.push((
                offer(scratch.path(), "pip", &fetched.pip)?,
                "pip".to_owned(),
            ));
        }
        if let Some((lock, files)) = &fetched.crates {
            // The crates read-only at /build/crates, unpacked into /build/vendor by the
            // script, which cargo's configuration in /build/cargo names for every registry.
            inputs.push((offer(scratch.path(), "crates", files)?, "crates".to_owned()));
            let home = work.join("cargo");
            std::fs::create_dir_all(&home).map_err(SourceError::io("creating", &home))?;
            let config = staves_lang::cargo::vendor_config(lock, "/build/vendor");
            let list: String = files
                .iter()
                .map(|f| format!("{} {}\n", f.filename, f.sha256))
                .collect();
            for (name, text) in [("config.toml", config), ("crates.list", list)] {
                let path = home.join(name);
                std::fs::write(&path, text).map_err(SourceError::io("writing", &path))?;
            }
            script.push_str(&VENDOR.replace("{STEP}", STEP_MARKER));
        }
        if let Some(tarball) = tarball {
            inputs.push((tarball, "source.tar".to_owned()));
            script.push_str(&UNPACK.replace("{STEP}", STEP_MARKER));
        }
        script.push_str(&SCRIPT.replace("{STEP}", STEP_MARKER));
        let steps = work.join("steps");
        std::fs::create_dir_all(&steps).map_err(SourceError::io("creating", &steps))?;
        let build = recipe.build.as_deref().unwrap_or_default();
        let check = recipe.check.as_deref().unwrap_or_default();
        let mut steps_text = vec![
            ("build", build),
            ("check", check),
            ("install", recipe.install.get_ref().as_str()),
        ];
        if recipe.strip.unwrap_or(true) {
            steps_text.push(("strip", STRIP));
        }
        for (name, text) in steps_text {
            let path = steps.join(name);
            std::fs::write(&path, text).map_err(SourceError::io("writing", &path))?;
        }
        let mut vars: Vec<(String, String)> = env
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        vars.push(("SOURCE_DATE_EPOCH".into(), epoch.to_string()));
        vars.push(("DESTDIR".into(), "/build/root".into()));
        if !fetched.pip.is_empty() {
            vars.push(("PIP_NO_INDEX".into(), "1".into()));
            vars.push(("PIP_FIND_LINKS".into(), "/build/pip".into()));
        }
        if fetched.crates.is_some() {
            vars.push(("CARGO_HOME".into(), "/build/cargo".into()));
        }
        let sandbox = Sandbox {
            root: &root.dir,
            work: &work,
            inputs,
            caches: caches.mounts.clone(),
            env: vars,
            limits: self.limits,
        };
        let log = scratch.path().join("build.log");
        let name = recipe.name.get_ref();
        let outcome = sandbox.run(&script, &log, self.reporter, name)?;
        if outcome.code != 0 {
            return Err(self.failed(label, name, recipe.version.get_ref(), outcome, &log));
        }
        if let Some(tree) = &tree {
            caches.remember(&tree.hashes)?;
        }
        let made = package::make_debs(
            recipe,
            self.arch,
            &work.join("root"),
            &root.dir,
            &work.join("out"),
            &work.join("dbgsym"),
        )?;
        let flags = read_flags(&work.join("flags"));
        let built = store::store(self.cache, &key, &label, &made, &flags, &log)?;
        self.offer(&key, &label, &built);
        self.report_built(&label, &built, started, |d| {
            format!("{} [{}]", d.name, depends_of(&d.control))
        });
        Ok(built)
    }
}

/// What `[fetch]` got for a build.
#[derive(Debug, Default)]
struct Fetches {
    /// Python distributions, for `/build/pip`.
    pip: Vec<staves_lang::Fetched>,
    /// The lock and its crates, for `/build/vendor`.
    crates: Option<(staves_lang::cargo::CargoLock, Vec<staves_lang::Fetched>)>,
}

/// A directory `name` in `scratch` holding `files` under their own names.
fn offer(
    scratch: &Path,
    name: &str,
    files: &[staves_lang::Fetched],
) -> Result<PathBuf, SourceError> {
    let dir = scratch.join(name);
    std::fs::create_dir_all(&dir).map_err(SourceError::io("creating", &dir))?;
    for file in files {
        let to = dir.join(&file.filename);
        staves_fs::link_or_copy(&file.path, &to).map_err(SourceError::io("linking", &to))?;
    }
    Ok(dir)
}

impl Builder<'_> {
    /// The language packages `[fetch]` names, in the cache (fetched now when missing).
    fn fetch_languages(&self, recipe: &Recipe) -> Result<Fetches, SourceError> {
        let mut fetches = Fetches::default();
        let index = match &recipe.fetch.pip_index {
            Some(url) => Some(url.get_ref().clone()),
            None => std::env::var("PIP_INDEX_URL").ok(),
        };
        for file in [recipe.pip_requirements(), recipe.pip_build_requirements()]
            .into_iter()
            .flatten()
        {
            let requirements = staves_lang::requirements::Requirements::load(&file)?;
            fetches.pip.extend(staves_lang::pypi::fetch(
                self.client,
                self.cache,
                &requirements,
                index.as_deref(),
                recipe.fetch.allow_bundled_libraries,
                self.jobs,
            )?);
        }
        fetches.pip.sort_by(|a, b| a.filename.cmp(&b.filename));
        fetches.pip.dedup_by(|a, b| a.filename == b.filename);
        if let Some(file) = recipe.cargo_lock() {
            let lock = staves_lang::cargo::CargoLock::load(&file)?;
            let index = match &recipe.fetch.cargo_index {
                Some(url) => Some(url.get_ref().clone()),
                None => staves_lang::cargo::host_registry(),
            };
            let files = staves_lang::cargo::fetch(
                self.client,
                self.cache,
                &lock,
                index.as_deref(),
                self.jobs,
            )?;
            fetches.crates = Some((lock, files));
        }
        Ok(fetches)
    }

    /// Downloads a recipe's tarball into the cache, believed only by its SHA-256.
    fn fetch_tarball(&self, recipe: &Recipe, label: &str) -> Result<PathBuf, SourceError> {
        let (Some(url), Some(sha256)) = (&recipe.url, &recipe.sha256) else {
            return Err(SourceError::Malformed {
                what: recipe.path.display().to_string(),
                message: "the recipe has no source".into(),
            });
        };
        let fetch = staves_repo::debs::DebFetch {
            elsewhere: None,
            package: format!("the source of {label}"),
            url: url.get_ref().clone(),
            size: staves_repo::debs::UNKNOWN_SIZE,
            sha256: sha256.get_ref().clone(),
        };
        let mut paths = staves_repo::debs::fetch_verified(
            self.client,
            self.cache,
            ("sources", ""),
            std::slice::from_ref(&fetch),
            1,
        )?;
        paths.pop().ok_or_else(|| SourceError::Malformed {
            what: url.get_ref().clone(),
            message: "nothing was fetched".into(),
        })
    }
}

/// A tarball source, unpacked inside the sandbox (the archive is as hostile as any input):
/// the build starts in its single top directory when it has one.
const UNPACK: &str = "\
echo '{STEP}unpack'
mkdir -p /build/src
tar -xf /build/source.tar -C /build/src --no-same-owner --no-same-permissions
set -- /build/src/*
if [ $# = 1 ] && [ -d \"$1\" ]; then mv \"$1\" /build/unpacked && rmdir /build/src && mv /build/unpacked /build/src; fi
";

/// Crates unpacked where cargo's configuration names them, each with the checksum cargo
/// checks against the lock (`files` empty: the `.crate` was checked whole before the build).
const VENDOR: &str = "\
echo '{STEP}vendor'
mkdir -p /build/vendor
while read -r file sum; do
  tar -xzf \"/build/crates/$file\" -C /build/vendor --no-same-owner --no-same-permissions
  printf '{\"files\":{},\"package\":\"%s\"}' \"$sum\" > \"/build/vendor/${file%.crate}/.cargo-checksum.json\"
done < /build/cargo/crates.list
";

/// The script a recipe runs in: Debian's build flags exported (the spec's `[env]` changes
/// them as it does for source packages), then `build` and `install` in the source copy.
const SCRIPT: &str = "\
echo '{STEP}dpkg-buildflags'
eval \"$(dpkg-buildflags --export=sh)\"
for flag in CFLAGS CPPFLAGS CXXFLAGS LDFLAGS; do echo \"$flag=$(dpkg-buildflags --get $flag)\"; done > /build/flags
cat /build/flags
mkdir -p \"$DESTDIR\"
cd /build/src
echo '{STEP}build'
sh -e /build/steps/build
case \" ${DEB_BUILD_OPTIONS:-} ${DEB_BUILD_PROFILES:-} \" in
  *\" nocheck \"*) echo 'check skipped (nocheck)' ;;
  *) echo '{STEP}check'; sh -e /build/steps/check ;;
esac
echo '{STEP}install'
sh -e /build/steps/install
if [ -e /build/steps/strip ]; then echo '{STEP}strip'; sh -e /build/steps/strip; fi
";

/// ELF files stripped as `dh_strip` does (`.comment` and `.note` removed, shared objects of
/// unneeded symbols, the rest of all), each one's debug symbols first kept by build id under
/// `/build/dbgsym/usr/lib/debug/.build-id/` and linked with `--add-gnu-debuglink`;
/// `/build/dbgsym.list` says which installed file each build id is of.
const STRIP: &str = "\
mkdir -p /build/dbgsym
: > /build/dbgsym.list
find \"$DESTDIR\" -type f ! -path \"$DESTDIR/usr/lib/debug/*\" | LC_ALL=C sort | while IFS= read -r f; do
  [ \"$(head -c 4 \"$f\" | od -An -tx1 | tr -d ' \\n')\" = 7f454c46 ] || continue
  case \"$f\" in *.o|*.a|*.ko) continue ;; esac
  id=$(readelf -n \"$f\" 2>/dev/null | sed -n 's/^ *Build ID: *\\([0-9a-f]*\\).*/\\1/p' | head -n 1)
  if [ -n \"$id\" ]; then
    debug=usr/lib/debug/.build-id/$(printf %s \"$id\" | cut -c1-2)/$(printf %s \"$id\" | cut -c3-).debug
    mkdir -p \"/build/dbgsym/${debug%/*}\"
    objcopy --only-keep-debug --compress-debug-sections \"$f\" \"/build/dbgsym/$debug\"
    chmod 0644 \"/build/dbgsym/$debug\"
    echo \"$id ${f#\"$DESTDIR\"/}\" >> /build/dbgsym.list
  fi
  case \"${f##*/}\" in
    *.so|*.so.*) strip --remove-section=.comment --remove-section=.note --strip-unneeded \"$f\" ;;
    *) strip --remove-section=.comment --remove-section=.note \"$f\" ;;
  esac
  if [ -n \"$id\" ]; then objcopy --add-gnu-debuglink=\"/build/dbgsym/$debug\" \"$f\"; fi
done
";

/// The `Depends` field of a control paragraph, for the status line.
fn depends_of(control: &str) -> String {
    staves_deb::deb822::paragraphs(control)
        .next()
        .and_then(|p| p.get("Depends").map(|d| d.trim().to_owned()))
        .unwrap_or_else(|| "no dependencies".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_digest_follows_content_and_modes_not_version_control() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join(".git")).expect("mkdir");
        std::fs::write(dir.path().join("main.c"), "int main(){}\n").expect("write");
        let first = SourceTree::read(dir.path(), &[]).expect("read").digest;
        std::fs::write(dir.path().join(".git/HEAD"), "x").expect("write");
        assert_eq!(
            SourceTree::read(dir.path(), &[]).expect("read").digest,
            first
        );
        let file = dir.path().join("main.c");
        std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        let exec = SourceTree::read(dir.path(), &[]).expect("read").digest;
        assert_ne!(exec, first);
        std::fs::write(&file, "int main(){return 1;}\n").expect("write");
        assert_ne!(
            SourceTree::read(dir.path(), &[]).expect("read").digest,
            exec
        );
        let copy = dir.path().join("copy");
        let tree = SourceTree::read(dir.path(), &[]).expect("read");
        let dir2 = tempfile::tempdir().expect("tempdir");
        let cache = staves_repo::Cache::open(dir2.path()).expect("cache");
        let recipe = Recipe::parse(
            "name = \"ab\"\nversion = \"1-1\"\nsource = \".\"\ninstall = \"true\"\n",
            &dir.path().join("r.toml"),
        )
        .expect("recipe");
        let caches = BuildCaches::open(&cache, &recipe, "amd64", "setting").expect("caches");
        tree.copy(&copy, 86400, &caches).expect("copy");
        assert!(copy.join("main.c").is_file() && !copy.join(".git").exists());
        let modified = std::fs::metadata(copy.join("main.c"))
            .and_then(|m| m.modified())
            .expect("mtime");
        assert_eq!(
            modified,
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(86400)
        );
    }
}
