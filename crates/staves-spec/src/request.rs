//! Package requests in apt's syntax: `bash`, `bash=5.2.15-2+b2`, `nginx (>= 1.22)`, `foo:arm64`,
//! `curl/bookworm-backports`.

use std::ops::Range;

use staves_deb::relation::{is_valid_package_name, parse_relation};
use staves_deb::{Version, VersionOp};

/// One entry of `packages`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageRequest {
    /// Package name.
    pub name: String,
    /// Architecture qualifier (`foo:arm64`).
    pub arch: Option<String>,
    /// Version pin or constraint.
    pub constraint: Option<(VersionOp, Version)>,
    /// The release to take it from (`name/release`: a suite or codename).
    pub release: Option<String>,
    /// Where the entry is written in the spec.
    pub span: Range<usize>,
}

impl PackageRequest {
    pub(crate) fn with_span(mut self, span: Range<usize>) -> Self {
        self.span = span;
        self
    }
}

impl std::fmt::Display for PackageRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)?;
        if let Some(a) = &self.arch {
            write!(f, ":{a}")?;
        }
        if let Some(release) = &self.release {
            write!(f, "/{release}")?;
        }
        if let Some((op, v)) = &self.constraint {
            write!(f, " ({op} {v})")?;
        }
        Ok(())
    }
}

/// Parses one request; the error says what is wrong in words.
pub fn parse_request(text: &str) -> Result<PackageRequest, String> {
    let text = text.trim();
    // `name/release`, as `apt-get install curl/bookworm-backports`.
    let (text, release) = match text.rsplit_once('/') {
        Some((name, release)) if !release.contains(['(', ')', ' ']) => {
            if !is_release_name(release) {
                return Err(format!(
                    "`{release}` is not a release name (a suite or codename: letters, digits, `-`, `.`, `+`, `~`, `_`)"
                ));
            }
            if name.contains('=') || name.contains('(') {
                return Err("a request names a version or a release, not both".into());
            }
            (name.trim(), Some(release.to_owned()))
        }
        _ => (text, None),
    };
    let (relation_text, pin) = match text.split_once('=') {
        // `name=version` (apt's pin syntax), unless the `=` is inside `( = v)`.
        Some((name, version)) if !name.contains('(') => (name.trim(), Some(version.trim())),
        _ => (text, None),
    };
    let relation = parse_relation(relation_text).map_err(|e| e.to_string())?;
    if !is_valid_package_name(&relation.name) {
        return Err(format!(
            "`{}` is not a valid package name (lower-case letters, digits, `+`, `-`, `.`)",
            relation.name
        ));
    }
    if !relation.arch_restrictions.is_empty() {
        return Err("architecture lists `[...]` are not allowed here; use `name:arch`".into());
    }
    if let Some(arch) = &relation.arch_qualifier
        && !staves_deb::arch::is_valid(arch)
    {
        return Err(format!("`{arch}` is not a Debian architecture name"));
    }
    let constraint = match pin {
        Some(v) => Some((
            VersionOp::Eq,
            Version::parse(v).map_err(|e| format!("bad version `{v}`: {e}"))?,
        )),
        None => relation.constraint,
    };
    Ok(PackageRequest {
        name: relation.name,
        arch: relation.arch_qualifier,
        constraint,
        release,
        span: 0..0,
    })
}

/// Whether `text` may name a release (a suite or codename).
pub fn is_release_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 100
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.+~_".contains(&b))
}

/// Parses a per-package `version` value: `"1.2-3"` (exact) or `">= 1.2"`.
pub fn parse_version_pin(text: &str) -> Result<(VersionOp, Version), String> {
    let text = text.trim();
    let request = if text.starts_with(['<', '>', '=']) {
        parse_request(&format!("x0 ({text})"))?
    } else {
        parse_request(&format!("x0={text}"))?
    };
    request
        .constraint
        .ok_or_else(|| format!("`{text}` is not a version"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_apt_syntax() {
        let r = parse_request("bash=5.2.15-2+b2").expect("pin");
        assert_eq!(
            r.constraint.as_ref().map(|c| (c.0, c.1.as_str())),
            Some((VersionOp::Eq, "5.2.15-2+b2"))
        );
        let r = parse_request("nginx (>= 1.22)").expect("range");
        assert_eq!(r.constraint.as_ref().map(|c| c.0), Some(VersionOp::Ge));
        let r = parse_request("libc6:arm64").expect("arch");
        assert_eq!(r.arch.as_deref(), Some("arm64"));
        assert_eq!(r.to_string(), "libc6:arm64");
        let r = parse_request("curl/bookworm-backports").expect("release");
        assert_eq!(
            (r.name.as_str(), r.release.as_deref()),
            ("curl", Some("bookworm-backports"))
        );
        assert_eq!(r.to_string(), "curl/bookworm-backports");
        assert!(parse_request("curl=1.0/stable").is_err());
        assert!(parse_request("curl/").is_err());
        assert!(parse_request("curl/a b").is_err());
    }

    #[test]
    fn rejects_bad_requests() {
        assert!(
            parse_request("bash=1.0_bad")
                .unwrap_err()
                .contains("bad version")
        );
        assert!(
            parse_request("Bash")
                .unwrap_err()
                .contains("not a valid package name")
        );
        assert!(parse_request("nginx (>= )").is_err());
        assert!(parse_version_pin(">= 1.2").is_ok());
        assert!(parse_version_pin("x y").is_err());
    }
}
