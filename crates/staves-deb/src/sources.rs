//! apt's source lists: deb822 `*.sources` files and one-line `sources.list` entries.
//!
//! Staves uses the host's sources when a spec names no repository, so that
//! `packages = ["bash"]` works on any Debian machine exactly as apt would see it.

use std::path::{Path, PathBuf};

use crate::deb822;

/// Where a source's signing keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedBy {
    /// No `Signed-By`: apt's global trusted keyrings.
    Default,
    /// Keyring files named by path.
    Files(Vec<PathBuf>),
    /// An armored public key block written inline in the `.sources` file.
    Inline(String),
}

/// One `deb` source: a URI, one suite, its components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceEntry {
    /// Archive root, without a trailing slash.
    pub uri: String,
    /// Suite (or codename) under `dists/`.
    pub suite: String,
    /// Components such as `main`.
    pub components: Vec<String>,
    /// Keys that must have signed the release.
    pub signed_by: SignedBy,
    /// `Trusted: yes` / `[trusted=yes]`: skip signature checks.
    pub trusted: bool,
    /// `Architectures:` / `[arch=…]` restriction; empty means all configured architectures.
    pub architectures: Vec<String>,
    /// The file and 1-based line the entry was read from.
    pub origin: (PathBuf, usize),
}

/// Why a sources file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourcesError {
    /// The file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An entry lacks a required field or is malformed.
    #[error("{path}:{line}: {message}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// Reads every enabled `deb` entry under an apt configuration root (normally `/`):
/// `etc/apt/sources.list` and `etc/apt/sources.list.d/*.{list,sources}`, in apt's order.
pub fn read_host_sources(root: &Path) -> Result<Vec<SourceEntry>, SourcesError> {
    let mut entries = Vec::new();
    let main = root.join("etc/apt/sources.list");
    if main.is_file() {
        entries.extend(parse_one_line_file(&main, &read(&main)?)?);
    }
    let dir = root.join("etc/apt/sources.list.d");
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(source) => return Err(SourcesError::Io { path: dir, source }),
    };
    files.sort();
    for path in files {
        match path.extension().and_then(|e| e.to_str()) {
            Some("list") => entries.extend(parse_one_line_file(&path, &read(&path)?)?),
            Some("sources") => entries.extend(parse_deb822_file(&path, &read(&path)?)?),
            _ => {}
        }
    }
    Ok(entries)
}

fn read(path: &Path) -> Result<String, SourcesError> {
    std::fs::read_to_string(path).map_err(|source| SourcesError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Parses a deb822 `.sources` file.
pub fn parse_deb822_file(path: &Path, text: &str) -> Result<Vec<SourceEntry>, SourcesError> {
    let mut out = Vec::new();
    for para in deb822::paragraphs(text) {
        let line = para.line_in(text);
        let malformed = |message: String| SourcesError::Malformed {
            path: path.to_owned(),
            line,
            message,
        };
        let words = |field: &str| -> Vec<String> {
            para.get(field)
                .map(|v| v.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default()
        };
        if para
            .get("Enabled")
            .is_some_and(|v| v.eq_ignore_ascii_case("no"))
        {
            continue;
        }
        if !words("Types").iter().any(|t| t == "deb") {
            continue;
        }
        let uris = words("URIs");
        let suites = words("Suites");
        if uris.is_empty() || suites.is_empty() {
            return Err(malformed("a source needs URIs and Suites".into()));
        }
        let components = words("Components");
        let signed_by = match para.get("Signed-By") {
            None => SignedBy::Default,
            Some(v) if v.contains("BEGIN PGP PUBLIC KEY BLOCK") => SignedBy::Inline(unfold(v)),
            Some(v) => SignedBy::Files(v.split_whitespace().map(PathBuf::from).collect()),
        };
        let trusted = para.get("Trusted").is_some_and(is_yes);
        for uri in &uris {
            for suite in &suites {
                if suite.ends_with('/') && !components.is_empty() {
                    return Err(malformed(format!(
                        "suite `{suite}` is a flat path but components are given"
                    )));
                }
                out.push(SourceEntry {
                    uri: uri.trim_end_matches('/').to_owned(),
                    suite: suite.clone(),
                    components: components.clone(),
                    signed_by: signed_by.clone(),
                    trusted,
                    architectures: words("Architectures"),
                    origin: (path.to_owned(), line),
                });
            }
        }
    }
    Ok(out)
}

/// Turns a folded multi-line deb822 value back into text (`.` lines are empty lines).
fn unfold(value: &str) -> String {
    value
        .lines()
        .map(|l| {
            let l = l.trim();
            if l == "." { "" } else { l }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_yes(v: &str) -> bool {
    matches!(v.trim().to_ascii_lowercase().as_str(), "yes" | "true")
}

/// Parses a one-line `sources.list` file: `deb [opts] uri suite component…`.
pub fn parse_one_line_file(path: &Path, text: &str) -> Result<Vec<SourceEntry>, SourcesError> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let malformed = |message: &str| SourcesError::Malformed {
            path: path.to_owned(),
            line: n + 1,
            message: message.to_owned(),
        };
        let (kind, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        if kind == "deb-src" {
            continue;
        }
        if kind != "deb" {
            return Err(malformed(
                "expected `deb` or `deb-src` at the start of the line",
            ));
        }
        let mut rest = rest.trim_start();
        let mut options = Vec::new();
        if let Some(inner) = rest.strip_prefix('[') {
            let close = inner
                .find(']')
                .ok_or_else(|| malformed("unterminated `[` options"))?;
            options = inner[..close]
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            rest = inner[close + 1..].trim_start();
        }
        let mut words = rest.split_whitespace();
        let (Some(uri), Some(suite)) = (words.next(), words.next()) else {
            return Err(malformed("a `deb` line needs a URI and a suite"));
        };
        let mut entry = SourceEntry {
            uri: uri.trim_end_matches('/').to_owned(),
            suite: suite.to_owned(),
            components: words.map(str::to_owned).collect(),
            signed_by: SignedBy::Default,
            trusted: false,
            architectures: Vec::new(),
            origin: (path.to_owned(), n + 1),
        };
        for opt in options {
            let Some((key, value)) = opt.split_once('=') else {
                continue;
            };
            match key {
                "signed-by" => {
                    entry.signed_by = SignedBy::Files(value.split(',').map(PathBuf::from).collect())
                }
                "trusted" => entry.trusted = is_yes(value),
                "arch" => entry.architectures = value.split(',').map(str::to_owned).collect(),
                _ => {}
            }
        }
        out.push(entry);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_deb822_sources() {
        let text = "Types: deb deb-src\nURIs: http://mirror.invalid/debian/\nSuites: stable stable-updates\nComponents: main contrib\nSigned-By: /usr/share/keyrings/k.gpg\n\nTypes: deb\nEnabled: no\nURIs: http://x.invalid\nSuites: s\nComponents: main\n";
        let e = parse_deb822_file(Path::new("a.sources"), text).expect("parses");
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].uri, "http://mirror.invalid/debian");
        assert_eq!(e[1].suite, "stable-updates");
        assert_eq!(e[0].components, ["main", "contrib"]);
        assert_eq!(
            e[0].signed_by,
            SignedBy::Files(vec![PathBuf::from("/usr/share/keyrings/k.gpg")])
        );
    }

    #[test]
    fn reads_one_line_sources() {
        let text = "# comment\ndeb [arch=amd64 signed-by=/k.gpg trusted=yes] http://m.invalid/debian bookworm main\ndeb-src http://m.invalid/debian bookworm main\n";
        let e = parse_one_line_file(Path::new("sources.list"), text).expect("parses");
        assert_eq!(e.len(), 1);
        assert!(e[0].trusted);
        assert_eq!(e[0].architectures, ["amd64"]);
        assert_eq!(e[0].origin.1, 2);
        let bad = parse_one_line_file(Path::new("s"), "deb http://only-uri\n");
        assert!(matches!(bad, Err(SourcesError::Malformed { line: 1, .. })));
    }

    #[test]
    fn inline_keys_are_unfolded() {
        let text = "Types: deb\nURIs: http://x.invalid\nSuites: s\nComponents: main\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n abc\n -----END PGP PUBLIC KEY BLOCK-----\n";
        let e = parse_deb822_file(Path::new("a.sources"), text).expect("parses");
        let SignedBy::Inline(key) = &e[0].signed_by else {
            panic!("inline key expected");
        };
        assert!(key.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nabc"));
    }
}
