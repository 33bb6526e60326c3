//! The system a layer goes on: what a base image already holds, read back from its files,
//! so the new layer is what installing every package together would have left — paths
//! already taken, the dpkg database, login shells, certificates and alternatives merged,
//! never a second copy of anything the base has.

use std::collections::{BTreeMap, HashMap};

use crate::layer::Kind;
use crate::scripts::Alternative;

const STATUS: &str = "var/lib/dpkg/status";
const INFO: &str = "var/lib/dpkg/info/";
const ALTERNATIVES: &str = "var/lib/dpkg/alternatives/";
const SHELLS: &str = "etc/shells";

/// What a base image holds, as far as assembly on it is concerned.
#[derive(Debug, Clone, Default)]
pub struct Base {
    /// Its dpkg status file, verbatim: its paragraphs come first in the new status file.
    pub status: String,
    /// Every path of its file system (relative, merged `/usr`) and what it is.
    pub paths: Vec<(String, Kind)>,
    /// Path → the base package that lists it (from `info/*.list`), for conflicts.
    pub owners: HashMap<String, String>,
    /// Its login shells, in order.
    pub shells: Vec<String>,
    /// Its certificates (`usr/share/ca-certificates/…`), for a merged CA bundle.
    pub certificates: BTreeMap<String, Vec<u8>>,
    /// Every alternative candidate its dpkg registered.
    pub alternatives: Vec<Alternative>,
    /// Each package's copyright file, by package name, for a whole-image SBOM.
    pub copyrights: HashMap<String, String>,
}

impl Base {
    /// Whether assembly needs the content of the base's file at `path` (relative).
    pub fn wants(path: &str) -> bool {
        path == STATUS
            || path == SHELLS
            || (path.starts_with(INFO) && path.ends_with(".list"))
            || path.starts_with(ALTERNATIVES)
            || crate::paths::is_certificate(path)
            || (path.starts_with("usr/share/doc/") && path.ends_with("/copyright"))
    }

    /// Reads a base from its paths and the contents of the files [`Base::wants`].
    pub fn from_tree(paths: Vec<(String, Kind)>, contents: &BTreeMap<String, Vec<u8>>) -> Base {
        let text = |bytes: &Vec<u8>| String::from_utf8_lossy(bytes).into_owned();
        let mut base = Base {
            paths,
            ..Base::default()
        };
        for (path, bytes) in contents {
            if path == STATUS {
                base.status = text(bytes);
            } else if path == SHELLS {
                base.shells = text(bytes)
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_owned)
                    .collect();
            } else if let Some(name) = path
                .strip_prefix(INFO)
                .and_then(|n| n.strip_suffix(".list"))
            {
                // `name:arch` for Multi-Arch: same packages.
                let package = name.split(':').next().unwrap_or(name);
                for listed in text(bytes).lines() {
                    let listed = crate::paths::merge_usr(listed.trim_start_matches('/'));
                    if !listed.is_empty() && listed != "." {
                        base.owners.insert(listed, package.to_owned());
                    }
                }
            } else if let Some(name) = path.strip_prefix(ALTERNATIVES) {
                base.alternatives
                    .extend(parse_alternatives(name, &text(bytes)));
            } else if crate::paths::is_certificate(path) {
                base.certificates.insert(path.clone(), bytes.clone());
            } else if let Some(package) = path
                .strip_prefix("usr/share/doc/")
                .and_then(|p| p.strip_suffix("/copyright"))
            {
                base.copyrights.insert(package.to_owned(), text(bytes));
            }
        }
        base
    }

    /// Each package the base's status lists as installed, in its order, as an SBOM sees it.
    pub fn facts(&self) -> Vec<crate::dpkg::PackageFacts> {
        staves_deb::deb822::paragraphs(&self.status)
            .filter(|p| p.get("Status").is_some_and(|s| s.ends_with(" installed")))
            .filter_map(|p| {
                let name = p.get("Package")?.to_owned();
                Some(crate::dpkg::PackageFacts {
                    version: p.get("Version").unwrap_or_default().to_owned(),
                    arch: p.get("Architecture").unwrap_or_default().to_owned(),
                    control: p.text().to_owned(),
                    copyright: self.copyrights.get(&name).cloned(),
                    name,
                })
            })
            .collect()
    }
}

/// The candidates of one alternatives admin file (`update-alternatives`' format: mode, the
/// generic link, slave name/link pairs, a blank line, then each candidate's path, priority
/// and slave targets, and a final blank line). Anything malformed yields what was read.
pub(crate) fn parse_alternatives(name: &str, text: &str) -> Vec<Alternative> {
    let mut lines = text.lines();
    let (Some(_mode), Some(link)) = (lines.next(), lines.next()) else {
        return Vec::new();
    };
    let mut slaves: Vec<(String, String)> = Vec::new();
    loop {
        match lines.next() {
            None => return Vec::new(),
            Some("") => break,
            Some(slave_name) => {
                let Some(slave_link) = lines.next() else {
                    return Vec::new();
                };
                slaves.push((slave_name.to_owned(), slave_link.to_owned()));
            }
        }
    }
    let mut candidates = Vec::new();
    while let Some(path) = lines.next() {
        if path.is_empty() {
            break;
        }
        let Some(priority) = lines.next().and_then(|p| p.trim().parse::<i64>().ok()) else {
            break;
        };
        let mut alt = Alternative {
            link: link.to_owned(),
            name: name.to_owned(),
            path: path.to_owned(),
            priority,
            slaves: Vec::new(),
        };
        for (slave_name, slave_link) in &slaves {
            let target = lines.next().unwrap_or_default();
            if !target.is_empty() {
                alt.slaves
                    .push((slave_link.clone(), slave_name.clone(), target.to_owned()));
            }
        }
        candidates.push(alt);
    }
    candidates
}

#[cfg(test)]
mod tests {
    use super::parse_alternatives;

    #[test]
    fn reads_every_candidate_of_an_admin_file() {
        let text = "auto\n/usr/bin/awk\nawk.1.gz\n/usr/share/man/man1/awk.1.gz\n\n\
                    /usr/bin/mawk\n5\n/usr/share/man/man1/mawk.1.gz\n\
                    /usr/bin/gawk\n10\n\n\n";
        let alts = parse_alternatives("awk", text);
        assert_eq!(alts.len(), 2);
        assert_eq!(alts[0].path, "/usr/bin/mawk");
        assert_eq!(alts[0].priority, 5);
        assert_eq!(
            alts[0].slaves,
            vec![(
                "/usr/share/man/man1/awk.1.gz".to_owned(),
                "awk.1.gz".to_owned(),
                "/usr/share/man/man1/mawk.1.gz".to_owned()
            )]
        );
        assert_eq!(alts[1].path, "/usr/bin/gawk");
        assert!(alts[1].slaves.is_empty());
        assert!(parse_alternatives("x", "auto\n").is_empty());
    }
}
