//! A recipe's build caches (`cache = ["target"]`): directories of the Staves cache kept
//! between its builds and bound read-write into the sandbox, so that cargo, pip or ccache
//! rebuild only what changed.
//!
//! Tools that decide by modification time (cargo, make) need sources dated after what they
//! built from them; but sources are copied with one fixed date, so that builds record the
//! same times. So the cache remembers each source file's hash from the last successful
//! build: a file unchanged since is dated as always, a changed one is dated now — newer than
//! anything in the cache. A build with an empty cache dates every file the same as always.
//!
//! Not every tool knows what its cached outputs were built with: pip's wheel cache reuses a
//! wheel whatever `-dev` libraries and flags the build has now. So the caches belong to one
//! setting — the build root's package set, the architecture and the build environment —
//! and are emptied when it changes: a new libjpeg from a security update, a changed
//! `build-depends` or `CFLAGS` start them over.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::SystemTime;

use staves_repo::Cache;
use staves_spec::recipe::Recipe;

use crate::error::SourceError;

/// Where the source files' hashes of the last successful build are kept.
const REMEMBERED: &str = "sources.list";
/// Where the setting the caches were built with is kept.
const SETTING: &str = "setting";

/// The build caches of one recipe for one architecture.
#[derive(Debug)]
pub(crate) struct BuildCaches {
    /// The recipe's directory in the Staves cache.
    base: PathBuf,
    /// Each cache: its host directory and where it is in the sandbox.
    pub mounts: Vec<(PathBuf, String)>,
    /// The hash of each source file at the last successful build (`None`: never built, or
    /// not known, with something in the caches).
    remembered: Option<BTreeMap<String, String>>,
}

impl BuildCaches {
    /// The caches of `recipe` (none when it keeps none) for builds with `setting` (a
    /// digest of the build root, architecture and environment), created when missing and
    /// emptied when they were built with another.
    pub fn open(
        cache: &Cache,
        recipe: &Recipe,
        arch: &str,
        setting: &str,
    ) -> Result<BuildCaches, SourceError> {
        let base = cache
            .root()
            .join("build-caches")
            .join(format!("{}_{arch}", recipe.name.get_ref()));
        let dirs = recipe.cache_dirs();
        let same = std::fs::read_to_string(base.join(SETTING)).is_ok_and(|s| s == setting);
        if !same && !dirs.is_empty() && base.exists() {
            std::fs::remove_dir_all(&base).map_err(SourceError::io("emptying", &base))?;
        }
        let mut mounts = Vec::new();
        let mut empty = true;
        for inside in dirs {
            let host = base.join(inside.trim_start_matches("/build/").replace('/', "%"));
            std::fs::create_dir_all(&host).map_err(SourceError::io("creating", &host))?;
            empty &= std::fs::read_dir(&host).is_ok_and(|mut d| d.next().is_none());
            mounts.push((host, inside));
        }
        if !mounts.is_empty() && !same {
            let path = base.join(SETTING);
            staves_fs::write_atomic(&path, setting.as_bytes())
                .map_err(SourceError::io("writing", &path))?;
        }
        let remembered = match std::fs::read_to_string(base.join(REMEMBERED)) {
            Ok(text) => Some(
                text.lines()
                    .filter_map(|l| l.split_once(' '))
                    .map(|(hash, path)| (path.to_owned(), hash.to_owned()))
                    .collect(),
            ),
            // Nothing kept yet: every file is as old as always.
            Err(_) if empty => Some(BTreeMap::new()),
            Err(_) => None,
        };
        Ok(BuildCaches {
            base,
            mounts,
            remembered,
        })
    }

    /// The date a source file with this content gets: `always` unless the caches hold
    /// outputs of other content.
    pub fn date(&self, path: &str, hash: &str, always: SystemTime) -> SystemTime {
        match &self.remembered {
            _ if self.mounts.is_empty() => always,
            Some(known) if known.is_empty() || known.get(path).is_some_and(|h| h == hash) => always,
            _ => SystemTime::now(),
        }
    }

    /// Remembers the source files of a successful build.
    pub fn remember(&self, hashes: &BTreeMap<String, String>) -> Result<(), SourceError> {
        if self.mounts.is_empty() {
            return Ok(());
        }
        let text: String = hashes
            .iter()
            .map(|(path, hash)| format!("{hash} {path}\n"))
            .collect();
        let path = self.base.join(REMEMBERED);
        staves_fs::write_atomic(&path, text.as_bytes()).map_err(SourceError::io("writing", &path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe(dir: &std::path::Path) -> Recipe {
        Recipe::parse(
            "name = \"ab\"\nversion = \"1-1\"\nsource = \".\"\ninstall = \"true\"\ncache = [\"target\"]\n",
            &dir.join("r.toml"),
        )
        .expect("recipe")
    }

    #[test]
    fn changed_sources_are_dated_now_and_another_setting_starts_over() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = Cache::open(dir.path().join("cache")).expect("cache");
        let recipe = recipe(dir.path());
        let always = std::time::UNIX_EPOCH;
        let caches = BuildCaches::open(&cache, &recipe, "amd64", "one").expect("open");
        assert_eq!(
            caches.date("a.rs", "h1", always),
            always,
            "empty: as always"
        );
        let (host, inside) = caches.mounts[0].clone();
        assert_eq!(inside, "/build/src/target");
        std::fs::write(host.join("output"), "built").expect("output");
        caches
            .remember(&[("a.rs".to_owned(), "h1".to_owned())].into())
            .expect("remember");

        let caches = BuildCaches::open(&cache, &recipe, "amd64", "one").expect("open");
        assert_eq!(caches.date("a.rs", "h1", always), always, "unchanged");
        assert!(caches.date("a.rs", "h2", always) > always, "changed: now");
        assert!(caches.date("b.rs", "h1", always) > always, "new: now");
        assert!(host.join("output").exists(), "kept");

        let caches = BuildCaches::open(&cache, &recipe, "amd64", "two").expect("open");
        assert!(!host.join("output").exists(), "another setting: emptied");
        assert_eq!(caches.date("a.rs", "h2", always), always);
    }
}
