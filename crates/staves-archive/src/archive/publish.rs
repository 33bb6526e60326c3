//! A suite published: a new generation of its indices (from the cached compressed blocks),
//! signed, written beside the old one and switched to with one rename; older generations and
//! the by-hash files no kept release names are removed.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::{Archive, Packages, Suite};
use crate::error::ArchiveError;
use crate::release::{Release, http_date};

use super::pool::files_under;

/// How many earlier generations of a suite's indices are kept beside the current one.
pub(super) const KEEP_GENERATIONS: usize = 8;

impl Archive {
    /// Writes a new generation of `suite`'s indices and release, signed, and switches the
    /// suite to it.
    pub(super) fn publish(
        &self,
        suite: &Suite,
        state: &BTreeMap<(String, String), Packages>,
    ) -> Result<(), ArchiveError> {
        let dists = self.config.dir.join("dists");
        let staged =
            staves_fs::temp_dir_in(&dists).map_err(ArchiveError::io("creating in", &dists))?;
        let mut release = Release::new(
            &self.config.origin,
            &suite.name,
            &suite.components,
            &suite.architectures,
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
}

/// Flushes every file of a staged tree to disk before it is switched to.
pub(super) fn sync_tree(dir: &Path) -> Result<(), ArchiveError> {
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
pub(super) fn generations(dists: &Path, suite: &str) -> Vec<u64> {
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

pub(super) fn next_generation(dists: &Path, suite: &str) -> Result<u64, ArchiveError> {
    Ok(generations(dists, suite).into_iter().max().unwrap_or(0) + 1)
}

/// Removes generations older than the last few: a client that read an older release
/// reaches its indices by hash, which stay.
pub(super) fn remove_old_generations(dists: &Path, suite: &str, current: u64) {
    for generation in generations(dists, suite) {
        if generation + (KEEP_GENERATIONS as u64) < current {
            let _ = std::fs::remove_dir_all(dists.join(format!(".{suite}.{generation}")));
        }
    }
}

/// Removes the by-hash files no kept generation's `Release` names: a client that read one of
/// those releases still finds its indices, and the directory does not grow without end.
pub(super) fn prune_by_hash(dists: &Path, suite: &str, by_hash_root: &Path) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::{Added, ArchiveConfig};
    use staves_openpgp::SigningKey;
    use std::path::PathBuf;

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
            scripts: &[],
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
