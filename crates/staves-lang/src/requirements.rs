//! A pip requirements file in hash-checking mode: every requirement pinned `name==version`
//! with at least one `--hash=sha256:…`, as `pip install --require-hashes` demands and
//! `pip-compile --generate-hashes` writes. Lines continue with a trailing `\`; comments
//! start with `#`. Anything pip would take that could change what is installed without
//! changing a hash here — a range, a URL, an include, another index — is refused at its
//! place in the file.

use std::ops::Range;
use std::path::Path;

use staves_types::Diagnostic;

use crate::LangError;

/// One pinned requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// Its name, normalized as PEP 503 does (`Flask_Login` → `flask-login`).
    pub name: String,
    /// The pinned version.
    pub version: String,
    /// The SHA-256 of every file it may be installed from.
    pub hashes: Vec<String>,
    /// Where `name==version` is in the file.
    pub span: Range<usize>,
}

/// A requirements file read.
#[derive(Debug, Clone)]
pub struct Requirements {
    /// The file.
    pub path: std::path::PathBuf,
    /// Its text.
    pub text: String,
    /// Its requirements, in order.
    pub requirements: Vec<Requirement>,
}

impl Requirements {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Requirements, LangError> {
        Requirements::parse(path, crate::read_text(path, 4 << 20)?)
    }

    /// Checks `text`, the content of `path`.
    pub fn parse(path: &Path, text: String) -> Result<Requirements, LangError> {
        let error = |span: Range<usize>, message: String, help: &str| {
            LangError::Requirement(Box::new(Diagnostic::new(
                path,
                &text,
                span,
                message,
                Some(help.to_owned()),
            )))
        };
        let mut requirements = Vec::new();
        for line in logical_lines(&text) {
            let mut words = line.iter().filter(|(_, w)| !w.is_empty()).peekable();
            let Some((start, first)) = words.next() else {
                continue;
            };
            let span = *start..start + first.len();
            if first.starts_with('-') {
                return Err(error(
                    span,
                    format!("`{first}`: only pinned requirements with hashes are fetched"),
                    "name the index in the recipe (`pip-index = URL`) and list every requirement here, pinned, with its hashes",
                ));
            }
            let (spec, _marker) = first.split_once(';').unwrap_or((first, ""));
            let Some((name, version)) = spec.split_once("==") else {
                return Err(error(
                    span,
                    format!("`{first}` is not pinned: hash-checking mode needs `name==version`"),
                    "pin it (`pip-compile --generate-hashes` writes such a file)",
                ));
            };
            let name = name.split('[').next().unwrap_or(name);
            if name.is_empty()
                || version.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                || version.contains(['*', '<', '>', '=', '!', '~', ',', '/'])
            {
                return Err(error(
                    span,
                    format!("`{first}` is not a requirement pinned to one version"),
                    "write `name==version`",
                ));
            }
            let mut hashes = Vec::new();
            // An environment marker (`; python_version >= "3.8"`) runs to the first option;
            // it decides where pip installs, not what: every listed file is fetched.
            let mut in_marker = first.contains(';');
            for (at, word) in words {
                let span = *at..at + word.len();
                if !word.starts_with("--") && (in_marker || word.starts_with(';')) {
                    in_marker = true;
                    continue;
                }
                in_marker = false;
                let Some(hash) = word.strip_prefix("--hash=") else {
                    return Err(error(
                        span,
                        format!("`{word}`: only `--hash=sha256:…` may follow a requirement"),
                        "remove it, or move the option into the recipe",
                    ));
                };
                let Some(hex) = hash.strip_prefix("sha256:") else {
                    return Err(error(
                        span,
                        format!("`{hash}` is not a SHA-256"),
                        "use `--hash=sha256:HEX` (`pip hash FILE` prints it)",
                    ));
                };
                if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(error(
                        span,
                        format!("`{hex}` is not 64 hexadecimal digits"),
                        "use `--hash=sha256:HEX` (`pip hash FILE` prints it)",
                    ));
                }
                hashes.push(hex.to_ascii_lowercase());
            }
            if hashes.is_empty() {
                return Err(error(
                    span,
                    format!("`{first}` has no `--hash`: every requirement needs one"),
                    "add `--hash=sha256:…` for each file it may come from (`pip-compile --generate-hashes` writes them)",
                ));
            }
            requirements.push(Requirement {
                name: normalize(name),
                version: version.to_owned(),
                hashes,
                span,
            });
        }
        Ok(Requirements {
            path: path.to_owned(),
            text,
            requirements,
        })
    }

    /// An error at `requirement`'s place.
    pub fn error_at(&self, requirement: &Requirement, message: String, help: &str) -> LangError {
        LangError::Requirement(Box::new(Diagnostic::new(
            &self.path,
            &self.text,
            requirement.span.clone(),
            message,
            Some(help.to_owned()),
        )))
    }
}

/// A name as PEP 503 compares names: lower case, each run of `-`, `_` and `.` one `-`.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut separator = false;
    for c in name.chars() {
        if "-_.".contains(c) {
            separator = true;
            continue;
        }
        if separator && !out.is_empty() {
            out.push('-');
        }
        separator = false;
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The words of each logical line (joined across trailing `\`), comments removed, with
/// each word's byte offset in `text`.
fn logical_lines(text: &str) -> Vec<Vec<(usize, &str)>> {
    let mut lines = Vec::new();
    let mut current: Vec<(usize, &str)> = Vec::new();
    let mut offset = 0;
    for raw in text.split_inclusive('\n') {
        let start = offset;
        offset += raw.len();
        let line = raw.trim_end_matches(['\n', '\r']);
        // A comment starts with `#` at the start or after whitespace.
        let code = match line
            .find(" #")
            .or_else(|| line.starts_with('#').then_some(0))
        {
            Some(at) => &line[..at],
            None => line,
        };
        let (code, continued) = match code.trim_end().strip_suffix('\\') {
            Some(rest) => (rest, true),
            None => (code, false),
        };
        let mut at = 0;
        for word in code.split_whitespace() {
            let found = code[at..].find(word).map_or(at, |i| at + i);
            current.push((start + found, word));
            at = found + word.len();
        }
        if !continued {
            lines.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn parse(text: &str) -> Result<Requirements, LangError> {
        Requirements::parse(Path::new("requirements.txt"), text.to_owned())
    }

    fn refused_at(text: &str) -> (usize, usize, String) {
        match parse(text) {
            Err(LangError::Requirement(d)) => {
                let (line, column) = d.line_column();
                (line, column, d.message.clone())
            }
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn pinned_requirements_with_hashes_across_lines_are_read() {
        let text = format!(
            "# the app's\nFlask_Login==0.6.3 \\\n    --hash=sha256:{A} \\\n    --hash=sha256:{}\nsix==1.16.0 --hash=sha256:{A}  # pure\n\nzope.interface[test]==6.0 ; python_version >= \"3.8\" --hash=sha256:{A}\n",
            "B".repeat(64)
        );
        let read = parse(&text).expect("reads");
        let names: Vec<(&str, &str, usize)> = read
            .requirements
            .iter()
            .map(|r| (r.name.as_str(), r.version.as_str(), r.hashes.len()))
            .collect();
        assert_eq!(
            names,
            [
                ("flask-login", "0.6.3", 2),
                ("six", "1.16.0", 1),
                ("zope-interface", "6.0", 1)
            ]
        );
        assert_eq!(read.requirements[0].hashes[1], "b".repeat(64));
        assert_eq!(&text[read.requirements[1].span.clone()], "six==1.16.0");
    }

    #[test]
    fn what_hash_checking_mode_refuses_is_refused_at_its_place() {
        assert_eq!(
            refused_at(&format!("six==1.16.0 --hash=sha256:{A}\nflask>=2\n")).0,
            2
        );
        let (line, column, message) = refused_at("\n  six==1.16.0\n");
        assert_eq!((line, column), (2, 3));
        assert!(message.contains("no `--hash`"), "{message}");
        assert!(refused_at("-r other.txt\n").2.contains("-r"));
        assert!(
            refused_at("--index-url http://x/\n")
                .2
                .contains("--index-url")
        );
        assert!(
            refused_at("six==1.16.0 --hash=md5:00\n")
                .2
                .contains("SHA-256")
        );
        assert!(
            refused_at("six==1.16.0 --hash=sha256:00\n")
                .2
                .contains("64")
        );
        assert!(
            refused_at(&format!("six==1.* --hash=sha256:{A}\n"))
                .2
                .contains("pinned")
        );
        assert!(
            refused_at(&format!("six==1.16.0 --no-deps --hash=sha256:{A}\n"))
                .2
                .contains("--no-deps")
        );
    }

    #[test]
    fn names_compare_as_pep_503_says() {
        assert_eq!(normalize("Flask_Login"), "flask-login");
        assert_eq!(normalize("zope..interface"), "zope-interface");
        assert_eq!(normalize("A-_-b"), "a-b");
    }
}
