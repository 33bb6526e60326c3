//! Each suite's package lists on disk (`DIR/.staves/db/SUITE/COMPONENT`, Packages format): read
//! back as untrusted — a `Filename` that leaves the pool is refused — and written whole.

use std::path::{Path, PathBuf};

use staves_deb::deb822;

use super::{Entry, Packages};
use crate::error::ArchiveError;

/// Keeps the newest `keep` versions of `name` for `arch` in `packages`; returns the rest.
pub(super) fn retain_newest(
    packages: &mut Packages,
    name: &str,
    arch: &str,
    keep: usize,
) -> Vec<Entry> {
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

pub(super) fn db_path(dir: &Path, suite: &str, component: &str) -> PathBuf {
    dir.join(".staves/db").join(suite).join(component)
}

pub(super) fn read_db(path: &Path) -> Result<Packages, ArchiveError> {
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

pub(super) fn write_db(path: &Path, packages: &Packages) -> Result<(), ArchiveError> {
    let mut text = String::new();
    for entry in packages.values() {
        text.push_str(entry.paragraph.trim_end());
        text.push_str("\n\n");
    }
    let parent = staves_fs::parent_of(path);
    std::fs::create_dir_all(parent).map_err(ArchiveError::io("creating", parent))?;
    staves_fs::write_atomic(path, text.as_bytes()).map_err(ArchiveError::io("writing", path))
}
