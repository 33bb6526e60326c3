//! The spec's `[env]` on Debian's build variables.
//!
//! The compiler flags `dpkg-buildflags` knows are never set directly: a value that starts
//! with `${CFLAGS}` becomes `DEB_CFLAGS_APPEND`, one that ends with it `DEB_CFLAGS_PREPEND`,
//! and one that does not mention it `DEB_CFLAGS_SET`, so Debian's own defaults (hardening,
//! `-ffile-prefix-map`, …) stay in place as `dpkg-buildflags` computes them. Any other
//! variable is set as written, `${NAME}` replaced by its value so far (`DEB_BUILD_OPTIONS`
//! starts as `parallel=N`, N the cores of this machine; the rest start empty).

use std::collections::BTreeMap;

use staves_spec::env::{Piece, references};

use crate::error::SourceError;

/// The flag variables `dpkg-buildflags` computes.
pub const FLAGS: &[&str] = &[
    "CFLAGS",
    "CPPFLAGS",
    "CXXFLAGS",
    "OBJCFLAGS",
    "OBJCXXFLAGS",
    "GCJFLAGS",
    "DFLAGS",
    "FFLAGS",
    "FCFLAGS",
    "LDFLAGS",
];

/// The environment of one build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildEnvironment {
    /// Variables set in the sandbox besides its fixed ones, by name.
    pub vars: BTreeMap<String, String>,
    /// Build profiles in effect (`DEB_BUILD_PROFILES`): they decide the build dependencies.
    pub profiles: Vec<String>,
}

impl BuildEnvironment {
    /// Applies `assignments` (in order) over the defaults for a machine of `jobs` cores.
    pub fn new(assignments: &[(&str, &str)], jobs: usize) -> Result<Self, SourceError> {
        let mut vars = BTreeMap::new();
        vars.insert(
            "DEB_BUILD_OPTIONS".to_owned(),
            format!("parallel={}", jobs.max(1)),
        );
        for &(name, value) in assignments {
            let error = |message: String| SourceError::Env {
                name: name.to_owned(),
                message,
            };
            let pieces = references(value).map_err(error)?;
            let expand = |pieces: &[Piece<'_>], vars: &BTreeMap<String, String>| {
                pieces
                    .iter()
                    .map(|p| match p {
                        Piece::Text(t) => (*t).to_owned(),
                        Piece::Reference(r) => vars.get(*r).cloned().unwrap_or_default(),
                    })
                    .collect::<String>()
            };
            if !FLAGS.contains(&name) {
                let value = expand(&pieces, &vars);
                vars.insert(name.to_owned(), value);
                continue;
            }
            let own = Piece::Reference(name);
            let mentions = pieces.iter().filter(|p| **p == own).count();
            let (operation, rest) = match (mentions, pieces.first(), pieces.last()) {
                (0, _, _) => ("SET", &pieces[..]),
                (1, Some(first), _) if *first == own => ("APPEND", &pieces[1..]),
                (1, _, Some(last)) if *last == own => ("PREPEND", &pieces[..pieces.len() - 1]),
                _ => {
                    return Err(error(format!(
                        "write `${{{name}}} …` to add after Debian's flags, `… ${{{name}}}` to add before them, or a value without `${{{name}}}` to replace them"
                    )));
                }
            };
            let text = expand(rest, &vars).trim().to_owned();
            let key = format!("DEB_{name}_{operation}");
            if operation == "SET" {
                vars.retain(|k, _| !k.starts_with(&format!("DEB_{name}_")));
                vars.insert(key, text);
            } else if !text.is_empty() {
                let joined = match (operation, vars.get(&key)) {
                    (_, None) => text,
                    ("APPEND", Some(old)) => format!("{old} {text}"),
                    (_, Some(old)) => format!("{text} {old}"),
                };
                vars.insert(key, joined);
            }
        }
        let profiles: Vec<String> = vars
            .get("DEB_BUILD_PROFILES")
            .map(|p| p.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        // Debian asks for the `nocheck` profile to come with the `nocheck` option, so that
        // tests whose dependencies were left out are not run.
        if profiles.iter().any(|p| p == "nocheck") {
            let options = vars.entry("DEB_BUILD_OPTIONS".to_owned()).or_default();
            if !options.split_whitespace().any(|o| o == "nocheck") {
                options.push_str(" nocheck");
            }
        }
        Ok(BuildEnvironment { vars, profiles })
    }

    /// `NAME=value` lines, for the cache key and the build output.
    pub fn lines(&self) -> Vec<String> {
        self.vars.iter().map(|(k, v)| format!("{k}={v}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_become_debian_operations() {
        let env = BuildEnvironment::new(
            &[
                ("CFLAGS", "${CFLAGS} -O3"),
                ("LDFLAGS", "-Wl,-z,now ${LDFLAGS}"),
                ("CXXFLAGS", "-O1"),
                ("DEB_BUILD_OPTIONS", "${DEB_BUILD_OPTIONS} noopt"),
                ("DEB_BUILD_PROFILES", "nodoc nocheck"),
            ],
            2,
        )
        .expect("valid");
        assert_eq!(env.vars["DEB_CFLAGS_APPEND"], "-O3");
        assert_eq!(env.vars["DEB_LDFLAGS_PREPEND"], "-Wl,-z,now");
        assert_eq!(env.vars["DEB_CXXFLAGS_SET"], "-O1");
        assert_eq!(env.vars["DEB_BUILD_OPTIONS"], "parallel=2 noopt nocheck");
        assert_eq!(env.profiles, ["nodoc", "nocheck"]);
        assert!(!env.vars.contains_key("CFLAGS"));
    }

    #[test]
    fn a_flag_in_the_middle_is_refused() {
        let error =
            BuildEnvironment::new(&[("CFLAGS", "-O3 ${CFLAGS} -g")], 1).expect_err("ambiguous");
        assert!(error.to_string().contains("to add after Debian's flags"));
    }

    #[test]
    fn named_environments_extend_earlier_values() {
        let env = BuildEnvironment::new(
            &[
                ("CFLAGS", "${CFLAGS} -O3"),
                ("CFLAGS", "${CFLAGS} -march=x86-64-v2"),
            ],
            4,
        )
        .expect("valid");
        assert_eq!(env.vars["DEB_CFLAGS_APPEND"], "-O3 -march=x86-64-v2");
    }
}
