//! The walk of the maintainer scripts until what they read is known: each walk may ask for
//! files the packages ship, which are read ahead from the packages and the scripts walked
//! again (at most [`MAX_WALKS`] times), in dpkg's configure order.

use std::collections::{BTreeMap, HashMap, HashSet};

use staves_deb::deb822;

use crate::ImageError;
use crate::dpkg::{self};
use crate::layer::Kind;
use crate::paths::{merge_usr, normalize};
use crate::stream::{MAX_COPIED, Opened, read_small};

/// How many times the scripts are walked, at most, for the files they read.
pub(crate) const MAX_WALKS: usize = 4;

/// One pass over the data archive of each package that ships one of `paths` (layer paths)
/// or whose script looked for a directory (`list`): the files' bytes into `contents`, and
/// the package's directories and symlinks into the known paths. Read from the kept zstd
/// copy where there is one. Files above [`MAX_COPIED`] are left unknown.
pub(crate) fn scan_ahead(
    opened: &[Opened],
    list: &[String],
    paths: &[String],
    facts: &mut crate::plan::Facts,
    contents: &mut BTreeMap<String, Vec<u8>>,
) -> Result<(), ImageError> {
    use crate::host::Known;
    let wanted: HashSet<&str> = paths.iter().map(String::as_str).collect();
    for p in opened {
        let listing = list.contains(&p.input.name);
        let ships = facts.lists.get(&p.input.name).is_some_and(|files| {
            files
                .iter()
                .any(|f| crate::paths::image_path(f).is_some_and(|f| wanted.contains(f.as_str())))
        });
        if !listing && !ships {
            continue;
        }
        let read_err = |source| ImageError::Read {
            package: p.input.name.clone(),
            source,
        };
        let kept = p
            .input
            .unpacked
            .as_deref()
            .and_then(|path| crate::prefetch::kept_reader(path, &p.input.sha256));
        let data: Box<dyn std::io::Read> = match kept {
            Some(reader) => Box::new(reader),
            None => p.deb.data().map_err(|source| ImageError::Deb {
                package: p.input.name.clone(),
                source,
            })?,
        };
        let mut archive = tar::Archive::new(data);
        for entry in archive.entries().map_err(read_err)? {
            let mut entry = entry.map_err(read_err)?;
            let kind = entry.header().entry_type();
            let Ok(raw) = std::str::from_utf8(&entry.path_bytes()).map(str::to_owned) else {
                continue;
            };
            let Ok(norm) = normalize(std::path::Path::new(&raw)) else {
                continue;
            };
            let path = merge_usr(&norm);
            if path.is_empty() {
                continue;
            }
            if kind.is_file() && entry.size() <= MAX_COPIED && wanted.contains(path.as_str()) {
                let size = entry.size();
                let bytes = read_small(&mut entry, size, MAX_COPIED).map_err(read_err)?;
                contents.insert(path, bytes);
            } else if listing && kind.is_dir() {
                facts.files.entry(path).or_insert(Known::Dir);
            } else if listing && kind.is_file() {
                facts.files.entry(path).or_insert(Known::File);
            } else if listing
                && kind.is_symlink()
                && let Ok(Some(target)) = entry.link_name()
            {
                let target = target.to_string_lossy().into_owned();
                facts.files.insert(path, Known::Symlink(target));
            }
        }
    }
    Ok(())
}

/// What the walk of the scripts knows before streaming: the paths packages ship (their
/// `md5sums` and `conffiles`, and the directories those lie in), the base's paths, and
/// which packages are installed.
pub(crate) fn script_facts(opened: &[Opened], base: Option<&crate::Base>) -> crate::plan::Facts {
    use crate::host::Known;
    let mut files: HashMap<String, Known> = HashMap::new();
    let mut add = |path: &str, known: Known| {
        let Some(path) = crate::paths::image_path(path) else {
            return;
        };
        crate::host::add_parents(&mut files, &path);
        files.insert(path, known);
    };
    if let Some(base) = base {
        for (path, kind) in &base.paths {
            let known = match kind {
                Kind::Dir => Known::Dir,
                Kind::Symlink(target) => Known::Symlink(target.clone()),
                _ => Known::File,
            };
            add(path, known);
        }
    }
    let mut installed = std::collections::BTreeMap::new();
    let mut lists: HashMap<String, Vec<String>> = HashMap::new();
    let mut debconf: HashMap<String, String> = HashMap::new();
    for p in opened {
        // Unattended, debconf answers each question with its default, unless a `config`
        // script (walked before `postinst`) sets it.
        for para in deb822::paragraphs(p.deb.control.templates.as_deref().unwrap_or_default()) {
            let Some(question) = para.get("Template") else {
                continue;
            };
            match para.get("Default") {
                Some(default) => {
                    debconf.insert(question.trim().to_owned(), default.trim().to_owned());
                }
                // A select has no valid empty answer: `db_get` is left to fail, and the
                // script's own fallback stands. Anything else reads as empty, as debconf
                // answers a question nobody set.
                None if para.get("Type").is_some_and(|t| t.trim() == "select") => {}
                None => {
                    debconf.insert(question.trim().to_owned(), String::new());
                }
            }
        }
        installed.insert(p.input.name.clone(), p.input.version.clone());
        let list = lists.entry(p.input.name.clone()).or_default();
        for line in p.deb.control.md5sums.as_deref().unwrap_or_default().lines() {
            if let Some((_, path)) = line.split_once("  ") {
                add(path, Known::File);
                list.push(format!("/{}", path.trim_start_matches('/')));
            }
        }
        for path in p
            .deb
            .control
            .conffiles
            .as_deref()
            .map(dpkg::conffile_paths)
            .unwrap_or_default()
        {
            add(&path, Known::File);
            // dh_md5sums leaves conffiles out of `md5sums`; dpkg -L lists them.
            lists
                .entry(p.input.name.clone())
                .or_default()
                .push(path.clone());
        }
    }
    let arch = opened
        .iter()
        .map(|p| p.input.arch.as_str())
        .find(|a| *a != "all")
        .unwrap_or("all")
        .to_owned();
    crate::plan::Facts {
        files,
        installed,
        lists,
        debconf,
        arch,
    }
}
