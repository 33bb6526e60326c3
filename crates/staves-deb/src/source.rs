//! Source packages: the files a `Sources` paragraph (or a `.dsc`) names, and its build
//! relationships reduced for one architecture and set of build profiles, as
//! `dpkg-checkbuilddeps` and `apt-get build-dep` read them.

use crate::deb822::Paragraph;
use crate::relation::{self, Dependency, Relation, RelationError};

/// One file of a source package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// File name, without directory.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
}

/// A `Checksums-Sha256` field that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`Checksums-Sha256` line `{line}`: {reason}")]
pub struct ChecksumsError {
    /// The line as written.
    pub line: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// The files of `Checksums-Sha256`: `sha256 size name` lines. A name that is not a plain
/// file name (a `/`, a leading `.`) is refused: it is joined to a directory later.
pub fn checksums_sha256(para: &Paragraph<'_>) -> Result<Vec<SourceFile>, ChecksumsError> {
    let field = para.get("Checksums-Sha256").unwrap_or_default();
    let mut files = Vec::new();
    for line in field.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let bad = |reason| ChecksumsError {
            line: line.to_owned(),
            reason,
        };
        let mut words = line.split_whitespace();
        let (Some(sha256), Some(size), Some(name), None) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            return Err(bad("not three words"));
        };
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("not a SHA-256"));
        }
        let size = size.parse().map_err(|_| bad("the size is not a number"))?;
        if name.contains('/') || name.starts_with('.') || name.contains(char::is_control) {
            return Err(bad("not a plain file name"));
        }
        files.push(SourceFile {
            name: name.to_owned(),
            size,
            sha256: sha256.to_ascii_lowercase(),
        });
    }
    Ok(files)
}

/// The source package and version a binary package comes from, read from its `Source`
/// field: `glibc (2.36-9)` names both (a binNMU), `glibc` only the name (the version is the
/// binary's), and no field at all means the binary's own name and version.
pub fn source_of<'a>(
    binary: &'a str,
    version: &'a str,
    source_field: Option<&'a str>,
) -> (&'a str, &'a str) {
    let field = source_field.map(str::trim).filter(|s| !s.is_empty());
    let Some(field) = field else {
        return (binary, version);
    };
    match field.split_once('(') {
        Some((name, v)) => (name.trim(), v.trim_end().trim_end_matches(')').trim()),
        None => (field.split_whitespace().next().unwrap_or(binary), version),
    }
}

/// What building a source package needs on one architecture with some build profiles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildRelations {
    /// `Build-Depends`, `-Arch` and `-Indep`, each group's alternatives reduced to those
    /// that apply; groups left empty are dropped.
    pub depends: Vec<Dependency>,
    /// `Build-Conflicts`, `-Arch` and `-Indep`, reduced the same way.
    pub conflicts: Vec<Relation>,
}

/// Reads and reduces the build relationships of `para` for a native build on `arch` with
/// `profiles` active. `:native` qualifiers become plain names (the build is native).
pub fn build_relations(
    para: &Paragraph<'_>,
    arch: &str,
    profiles: &[String],
) -> Result<BuildRelations, RelationError> {
    let reduce = |field: &str| -> Result<Vec<Dependency>, RelationError> {
        let groups = relation::parse_field(para.get(field).unwrap_or_default())?;
        Ok(groups
            .into_iter()
            .filter_map(|group| {
                let alternatives: Vec<Relation> = group
                    .alternatives
                    .into_iter()
                    .filter(|r| r.applies_on(arch) && r.applies_with(profiles))
                    .map(|mut r| {
                        if r.arch_qualifier.as_deref() == Some("native") {
                            r.arch_qualifier = None;
                        }
                        r.arch_restrictions.clear();
                        r.profiles.clear();
                        r
                    })
                    .collect();
                (!alternatives.is_empty()).then_some(Dependency { alternatives })
            })
            .collect())
    };
    let mut out = BuildRelations::default();
    for field in ["Build-Depends", "Build-Depends-Arch", "Build-Depends-Indep"] {
        out.depends.extend(reduce(field)?);
    }
    for field in [
        "Build-Conflicts",
        "Build-Conflicts-Arch",
        "Build-Conflicts-Indep",
    ] {
        out.conflicts
            .extend(reduce(field)?.into_iter().flat_map(|d| d.alternatives));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deb822::paragraphs;

    const HELLO: &str = "Package: hello\nBinary: hello\nVersion: 2.10-3\n\
Build-Depends: debhelper-compat (= 13), help2man <!nodoc>, libc6-dev [linux-any] | libc-dev, \
texinfo [hurd-any], perl:native\nBuild-Depends-Indep: po4a <!nocheck>\n\
Build-Conflicts: autoconf2.13 [amd64]\nChecksums-Sha256:\n \
31e066137a962676e89f69d1b65382de95a7ef7d914b8cb956f41ea72e0f516b 725946 hello_2.10.orig.tar.gz\n \
a4b1f2b4f0b4b2cf1c0bd6a1c9f1c2d2f4c5a6b7c8d9e0f1a2b3c4d5e6f7a8b9 12688 hello_2.10-3.debian.tar.xz\n";

    #[test]
    fn reduces_as_dpkg_checkbuilddeps() {
        let para = paragraphs(HELLO).next().expect("paragraph");
        let plain = build_relations(&para, "amd64", &[]).expect("parses");
        let names: Vec<String> = plain.depends.iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            [
                "debhelper-compat (= 13)",
                "help2man",
                "libc6-dev | libc-dev",
                "perl",
                "po4a"
            ]
        );
        assert_eq!(plain.conflicts.len(), 1);
        let lean =
            build_relations(&para, "amd64", &["nodoc".into(), "nocheck".into()]).expect("parses");
        assert_eq!(lean.depends.len(), 3);
        assert!(
            build_relations(&para, "arm64", &[])
                .expect("parses")
                .conflicts
                .is_empty()
        );
    }

    #[test]
    fn names_the_source_of_a_binary() {
        assert_eq!(
            source_of("libc6", "2.36-9+b1", Some("glibc (2.36-9)")),
            ("glibc", "2.36-9")
        );
        assert_eq!(
            source_of("libc6", "2.36-9", Some("glibc")),
            ("glibc", "2.36-9")
        );
        assert_eq!(source_of("bash", "5.2", None).0, "bash");
        assert_eq!(source_of("bash", "5.2", Some(" ")), ("bash", "5.2"));
    }

    #[test]
    fn reads_checksums_and_refuses_paths() {
        let para = paragraphs(HELLO).next().expect("paragraph");
        let files = checksums_sha256(&para).expect("reads");
        assert_eq!(files.len(), 2);
        assert_eq!(
            (files[0].name.as_str(), files[0].size),
            ("hello_2.10.orig.tar.gz", 725946)
        );
        let bad = HELLO.replace("hello_2.10-3.debian", "../hello_2.10-3.debian");
        let para = paragraphs(&bad).next().expect("paragraph");
        assert!(checksums_sha256(&para).is_err());
    }
}
