//! Directory trees as package entries: what a recipe's source holds, and what its
//! `install` step left under `$DESTDIR`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use staves_deb::write::{Entry, EntryKind};

use crate::error::SourceError;

/// Lists `root` recursively, leaving out entries whose path relative to it `skip` picks
/// (and what is below them): every path relative to it, sorted, with its kind. Anything but files,
/// directories and symbolic links (a FIFO, a socket, a device) is refused, as are names
/// that are not UTF-8: neither belongs in a package or its source.
pub(crate) fn walk(root: &Path, skip: &dyn Fn(&Path) -> bool) -> Result<Vec<Entry>, SourceError> {
    let mut out = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let dir = root.join(&relative);
        for item in std::fs::read_dir(&dir).map_err(SourceError::io("reading", &dir))? {
            let item = item.map_err(SourceError::io("reading", &dir))?;
            let path = relative.join(item.file_name());
            if skip(&path) {
                continue;
            }
            let full = root.join(&path);
            let name = path.to_str().ok_or_else(|| SourceError::Malformed {
                what: full.display().to_string(),
                message: "the name is not UTF-8".into(),
            })?;
            let meta =
                std::fs::symlink_metadata(&full).map_err(SourceError::io("reading", &full))?;
            let kind = if meta.is_dir() {
                pending.push(path.clone());
                EntryKind::Dir
            } else if meta.is_symlink() {
                let target =
                    std::fs::read_link(&full).map_err(SourceError::io("reading", &full))?;
                EntryKind::Symlink {
                    target: target.to_string_lossy().into_owned(),
                }
            } else if meta.is_file() {
                EntryKind::File {
                    source: full.clone(),
                    size: meta.len(),
                    executable: meta.permissions().mode() & 0o111 != 0,
                }
            } else {
                return Err(SourceError::Malformed {
                    what: full.display().to_string(),
                    message: "is neither a file, a directory nor a symbolic link".into(),
                });
            };
            out.push(Entry {
                path: name.to_owned(),
                kind,
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}
