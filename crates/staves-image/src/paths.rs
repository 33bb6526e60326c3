//! Paths inside the image: normalised, checked, and mapped onto Debian 12's merged `/usr`.

use std::path::{Component, Path};

/// Top-level directories that are symlinks into `usr/` on a merged-`/usr` system.
pub const MERGED_DIRS: &[&str] = &["bin", "sbin", "lib", "lib32", "lib64", "libx32"];

/// Why an archive path is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `/etc/passwd` rather than `./etc/passwd`.
    Absolute,
    /// A `..` component.
    ParentDir,
    /// Not valid UTF-8.
    NotUtf8,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::Absolute => "absolute path",
            Refusal::ParentDir => "path climbs out with `..`",
            Refusal::NotUtf8 => "path is not UTF-8",
        })
    }
}

/// Normalises an archive member path to `a/b/c` (no leading `./`, no trailing `/`), refusing
/// absolute paths and `..`. The root itself becomes the empty string.
pub fn normalize(path: &Path) -> Result<String, Refusal> {
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::Normal(p) => parts.push(p.to_str().ok_or(Refusal::NotUtf8)?),
            Component::ParentDir => return Err(Refusal::ParentDir),
            Component::RootDir | Component::Prefix(_) => return Err(Refusal::Absolute),
        }
    }
    Ok(parts.join("/"))
}

/// Maps `bin/x` to `usr/bin/x` (and likewise for the other merged directories).
pub fn merge_usr(path: &str) -> String {
    let first = path.split('/').next().unwrap_or("");
    if MERGED_DIRS.contains(&first) {
        format!("usr/{path}")
    } else {
        path.to_owned()
    }
}

/// Whether a symlink at `link` (normalised) pointing to `target` stays inside the root. An
/// absolute target always does: it is resolved against the image's own root.
pub fn symlink_stays_inside(link: &str, target: &str) -> bool {
    if target.starts_with('/') {
        return true;
    }
    let mut depth: i64 = link.matches('/').count() as i64; // components of the parent dir
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => depth += 1,
        }
    }
    true
}

/// An absolute path from a script or the spec, as a layer path (normalised, merged `/usr`).
pub(crate) fn image_path(absolute: &str) -> Option<String> {
    normalize(std::path::Path::new(absolute.trim_start_matches('/')))
        .ok()
        .filter(|p| !p.is_empty())
        .map(|p| merge_usr(&p))
}

/// The CA bundle that OpenSSL, GnuTLS and curl read on Debian.
pub(crate) const CA_BUNDLE: &str = "etc/ssl/certs/ca-certificates.crt";

/// Certificates update-ca-certificates collects: packaged ones and local ones.
pub(crate) fn is_certificate(path: &str) -> bool {
    (path.starts_with("usr/share/ca-certificates/")
        || path.starts_with("usr/local/share/ca-certificates/"))
        && path.ends_with(".crt")
}

/// Files the assembly writes itself; a package shipping one is overridden.
pub(crate) const GENERATED: &[&str] = &[
    "etc/passwd",
    "etc/group",
    "etc/shadow",
    "etc/gshadow",
    "etc/shells",
    "var/lib/dpkg/status",
    "var/lib/dpkg/available",
    "var/lib/dpkg/info/format",
];

/// Where the link at layer path `link` leads, given its `target` as written (absolute, or
/// relative to the link's directory), as a layer path; `None` when it leaves the image.
pub(crate) fn link_destination(link: &str, target: &str) -> Option<String> {
    // `..` is resolved here, where `normalize` (for archive paths) refuses it.
    let joined = if target.starts_with('/') {
        target.to_owned()
    } else {
        let dir = link.rsplit_once('/').map_or("", |(d, _)| d);
        format!("/{dir}/{target}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            name => parts.push(name),
        }
    }
    Some(merge_usr(&parts.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_destinations_resolve_dot_dot_and_stay_inside() {
        assert_eq!(
            link_destination(
                "usr/share/javascript/bootstrap4/css/bootstrap.min.css",
                "../../../nodejs/bootstrap/dist/css/bootstrap.min.css"
            )
            .as_deref(),
            Some("usr/share/nodejs/bootstrap/dist/css/bootstrap.min.css")
        );
        assert_eq!(
            link_destination("etc/x", "/bin/sh").as_deref(),
            Some("usr/bin/sh")
        );
        assert_eq!(link_destination("etc/x", "../../../outside"), None);
    }

    #[test]
    fn normalises_and_refuses() {
        assert_eq!(normalize(Path::new("./usr/bin/")), Ok("usr/bin".into()));
        assert_eq!(normalize(Path::new("./")), Ok(String::new()));
        assert_eq!(normalize(Path::new("/etc/passwd")), Err(Refusal::Absolute));
        assert_eq!(
            normalize(Path::new("./usr/../../etc")),
            Err(Refusal::ParentDir)
        );
    }

    #[test]
    fn merges_usr() {
        assert_eq!(merge_usr("bin/bash"), "usr/bin/bash");
        assert_eq!(
            merge_usr("lib64/ld-linux-x86-64.so.2"),
            "usr/lib64/ld-linux-x86-64.so.2"
        );
        assert_eq!(merge_usr("binaries/x"), "binaries/x");
        assert_eq!(merge_usr("usr/bin/x"), "usr/bin/x");
    }

    #[test]
    fn symlinks_must_stay_inside() {
        assert!(symlink_stays_inside("usr/bin/awk", "/etc/alternatives/awk"));
        assert!(symlink_stays_inside(
            "usr/lib/x/libfoo.so",
            "../../lib/libfoo.so.1"
        ));
        assert!(!symlink_stays_inside("usr/bin/x", "../../../etc/shadow"));
        assert!(!symlink_stays_inside("x", "../y"));
    }
}
