//! Host files a spec names: `[[paths]] source`, the spec itself.
//!
//! A spec may come from someone else (a repository you cloned), so the files it copies into
//! an image must come from where the person building expects: the build context, which is
//! the spec's directory unless they name another (`--context DIR`). A source is accepted
//! only when, every symlink followed, it lies inside that context and is a regular file of
//! bounded size — not `/etc/shadow` through `../`, not `/dev/zero`, not a FIFO that would
//! hang the build.

use std::path::Path;

/// The largest file copied from the host into an image by `[[paths]] source`.
pub const MAX_SOURCE: u64 = 512 << 20;

/// Checks a source file against the context; the error is `(message, help)`.
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
    if !meta.is_file() {
        return Err((
            format!("`{shown}` is not a regular file"),
            "only regular files are copied; devices, FIFOs and sockets are refused".to_owned(),
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
