//! Feature toggles on package content, in the spirit of Gentoo's USE flags.
//!
//! A flag names a class of files. `-flag` drops the class, `flag` keeps it; per-package
//! settings override the global ones. Copyright files always stay: they carry the licences.

use std::collections::BTreeMap;

/// The content classes, and the paths (after merging `/usr`) that make them up.
const CLASSES: &[(&str, &[&str])] = &[
    (
        "doc",
        &[
            "usr/share/doc/",
            "usr/share/doc-base/",
            "usr/share/gtk-doc/",
        ],
    ),
    ("man", &["usr/share/man/"]),
    ("info", &["usr/share/info/"]),
    ("nls", &["usr/share/locale/"]),
    ("gconv", &["usr/lib/*/gconv/"]),
    ("lintian", &["usr/share/lintian/"]),
    ("bash-completion", &["usr/share/bash-completion/"]),
    // Statically linked copies of programs a package also ships dynamically linked.
    ("static", &["usr/bin/tini-static"]),
];

/// Classes dropped unless asked for.
const OFF_BY_DEFAULT: &[&str] = &["doc", "man", "info", "nls", "static"];

/// Which content classes an image keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Features {
    global: BTreeMap<String, bool>,
    per_package: BTreeMap<String, BTreeMap<String, bool>>,
}

/// A flag that is not a known content class.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown feature `{0}`; known: {known}", known = known_flags().join(", "))]
pub struct UnknownFeature(pub String);

/// Every known flag.
pub fn known_flags() -> Vec<&'static str> {
    CLASSES.iter().map(|(name, _)| *name).collect()
}

fn parse(flags: &[String]) -> Result<BTreeMap<String, bool>, UnknownFeature> {
    let mut out = BTreeMap::new();
    for flag in flags {
        let (name, on) = match flag.strip_prefix('-') {
            Some(n) => (n, false),
            None => (flag.strip_prefix('+').unwrap_or(flag), true),
        };
        if !CLASSES.iter().any(|(c, _)| *c == name) {
            return Err(UnknownFeature(flag.clone()));
        }
        out.insert(name.to_owned(), on);
    }
    Ok(out)
}

impl Default for Features {
    fn default() -> Self {
        Features {
            global: OFF_BY_DEFAULT
                .iter()
                .map(|f| ((*f).to_owned(), false))
                .collect(),
            per_package: BTreeMap::new(),
        }
    }
}

impl Features {
    /// Defaults (`-doc -man -info -nls -static`) overridden by the global flags.
    pub fn new(global: &[String]) -> Result<Self, UnknownFeature> {
        let mut features = Features::default();
        features.global.extend(parse(global)?);
        Ok(features)
    }

    /// Adds one package's own flags.
    pub fn set_package(&mut self, package: &str, flags: &[String]) -> Result<(), UnknownFeature> {
        self.per_package.insert(package.to_owned(), parse(flags)?);
        Ok(())
    }

    /// Whether file `path` (normalised, merged) of `package` is kept. Directories always
    /// are, as with dpkg's `path-exclude`: they cost a header and keep ownership intact.
    pub fn keeps(&self, package: &str, path: &str) -> bool {
        if path.starts_with("usr/share/doc/") && path.ends_with("/copyright") {
            return true;
        }
        for (class, prefixes) in CLASSES {
            if prefixes.iter().any(|p| matches_prefix(path, p)) {
                let on = self
                    .per_package
                    .get(package)
                    .and_then(|m| m.get(*class))
                    .or_else(|| self.global.get(*class))
                    .copied()
                    .unwrap_or(true);
                return on;
            }
        }
        true
    }
}

/// `prefix` may hold one `*` standing for a single path component.
fn matches_prefix(path: &str, prefix: &str) -> bool {
    // The trailing slash lets a class's own directory match its prefix.
    let path = format!("{path}/");
    match prefix.split_once('*') {
        None => path.starts_with(prefix),
        Some((head, tail)) => path
            .strip_prefix(head)
            .and_then(|rest| rest.split_once('/'))
            .is_some_and(|(_, rest)| format!("/{rest}").starts_with(tail)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_drop_docs_but_keep_copyright() {
        let f = Features::default();
        assert!(!f.keeps("bash", "usr/share/doc/bash/README"));
        assert!(f.keeps("bash", "usr/share/doc/bash/copyright"));
        assert!(!f.keeps("bash", "usr/share/man/man1/bash.1.gz"));
        assert!(!f.keeps("bash", "usr/share/locale/de/LC_MESSAGES/bash.mo"));
        assert!(f.keeps("bash", "usr/bin/bash"));
        assert!(f.keeps("libc6", "usr/lib/x86_64-linux-gnu/gconv/UTF-16.so"));
    }

    #[test]
    fn flags_override_defaults_and_per_package() {
        let mut f = Features::new(&["-gconv".into(), "man".into()]).expect("flags");
        assert!(!f.keeps("libc6", "usr/lib/x86_64-linux-gnu/gconv/UTF-16.so"));
        assert!(!f.keeps("libc6", "usr/lib/x86_64-linux-gnu/gconv/gconv-modules"));
        assert!(f.keeps("bash", "usr/share/man/man1/bash.1.gz"));
        f.set_package("bash", &["-man".into()]).expect("flags");
        assert!(!f.keeps("bash", "usr/share/man/man1/bash.1.gz"));
        assert!(f.keeps("dash", "usr/share/man/man1/dash.1.gz"));
        assert!(Features::new(&["-docs".into()]).is_err());
    }
}
