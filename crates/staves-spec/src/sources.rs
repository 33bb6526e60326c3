//! Host files a spec names: `[[paths]] source` (a file or a directory tree), the spec itself.
//!
//! A spec may come from someone else (a repository you cloned), so the files it copies into
//! an image must come from where the person building expects: the build context, which is
//! the spec's directory unless they name another (`--context DIR`). A source is accepted
//! only when, every symlink followed, it lies inside that context and is a regular file of
//! bounded size — not `/etc/shadow` through `../`, not `/dev/zero`, not a FIFO that would
//! hang the build.

use std::path::{Path, PathBuf};

/// The largest file copied from the host into an image by `[[paths]] source`.
pub const MAX_SOURCE: u64 = 512 << 20;

/// The most entries a source directory may hold.
pub const MAX_TREE_ENTRIES: usize = 100_000;

/// One entry below a source directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeEntry {
    /// A directory.
    Dir(PathBuf),
    /// A regular file, and whether any execute bit is set.
    File(PathBuf, bool),
    /// A symlink, copied as a link with the same target (never followed).
    Symlink(PathBuf, String),
}

/// Every entry below directory `dir` (relative paths, parents before children, sorted so the
/// image does not depend on the file system's order). Regular files may hold at most
/// [`MAX_SOURCE`] bytes together; devices, FIFOs and sockets are refused. Symlinks are not
/// followed: they become links in the image, so nothing outside the tree is read.
pub fn walk_tree(dir: &Path) -> Result<Vec<TreeEntry>, (String, String)> {
    let mut out = Vec::new();
    let mut total = 0u64;
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let here = dir.join(&relative);
        let unreadable = |e: std::io::Error| {
            (
                format!("`{}` cannot be read: {e}", here.display()),
                String::new(),
            )
        };
        let mut names: Vec<_> = std::fs::read_dir(&here)
            .map_err(unreadable)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(unreadable)?;
        names.sort();
        let mut subdirs = Vec::new();
        for name in names {
            let path = relative.join(&name);
            let full = dir.join(&path);
            let meta = full.symlink_metadata().map_err(|e| {
                (
                    format!("`{}` cannot be read: {e}", full.display()),
                    String::new(),
                )
            })?;
            if out.len() >= MAX_TREE_ENTRIES {
                return Err((
                    format!(
                        "`{}` holds more than {MAX_TREE_ENTRIES} entries",
                        dir.display()
                    ),
                    "put large trees into a package instead".to_owned(),
                ));
            }
            let kind = meta.file_type();
            if kind.is_symlink() {
                let target = std::fs::read_link(&full).map_err(|e| {
                    (
                        format!("`{}` cannot be read: {e}", full.display()),
                        String::new(),
                    )
                })?;
                let target = target.to_str().ok_or_else(|| {
                    (
                        format!(
                            "the link `{}` points at a name that is not UTF-8",
                            full.display()
                        ),
                        String::new(),
                    )
                })?;
                out.push(TreeEntry::Symlink(path, target.to_owned()));
            } else if kind.is_dir() {
                out.push(TreeEntry::Dir(path.clone()));
                subdirs.push(path);
            } else if kind.is_file() {
                total += meta.len();
                if total > MAX_SOURCE {
                    return Err((
                        format!("`{}` holds more than {MAX_SOURCE} bytes", dir.display()),
                        "put large trees into a package instead".to_owned(),
                    ));
                }
                use std::os::unix::fs::PermissionsExt;
                out.push(TreeEntry::File(
                    path,
                    meta.permissions().mode() & 0o111 != 0,
                ));
            } else {
                return Err((
                    format!(
                        "`{}` is not a regular file, directory or link",
                        full.display()
                    ),
                    "devices, FIFOs and sockets are refused".to_owned(),
                ));
            }
        }
        // Subdirectories in name order: popped from the back, so pushed reversed.
        pending.extend(subdirs.into_iter().rev());
    }
    Ok(out)
}

/// Checks a source (a file or a directory tree) against the context; the error is
/// `(message, help)`.
pub fn check(file: &Path, context: &Path) -> Result<(), (String, String)> {
    let shown = file.display();
    let real = file.canonicalize().map_err(|e| {
        (
            format!("`{shown}` cannot be read: {e}"),
            "`source` is relative to the spec's directory".to_owned(),
        )
    })?;
    let context_real = context.canonicalize().map_err(|e| {
        (
            format!(
                "the build context `{}` cannot be read: {e}",
                context.display()
            ),
            "pass an existing directory to `--context`".to_owned(),
        )
    })?;
    if !real.starts_with(&context_real) {
        return Err((
            format!(
                "`{shown}` is `{}`, outside the build context `{}`",
                real.display(),
                context_real.display()
            ),
            "sources must lie in the spec's directory; to allow more, pass `--context DIR` naming a directory that holds them".to_owned(),
        ));
    }
    let meta = real
        .metadata()
        .map_err(|e| (format!("`{shown}` cannot be read: {e}"), String::new()))?;
    if meta.is_dir() {
        return walk_tree(&real).map(|_| ());
    }
    if !meta.is_file() {
        return Err((
            format!("`{shown}` is not a regular file or a directory"),
            "only files and directory trees are copied; devices, FIFOs and sockets are refused"
                .to_owned(),
        ));
    }
    if meta.len() > MAX_SOURCE {
        return Err((
            format!("`{shown}` is {} bytes, more than {MAX_SOURCE}", meta.len()),
            "put large files into a package instead".to_owned(),
        ));
    }
    Ok(())
}
