//! Relationship fields: `Depends`, `Pre-Depends`, `Recommends`, `Conflicts`, `Breaks`,
//! `Provides`, `Replaces`.
//!
//! A field is a comma-separated list of [`Dependency`] groups; each group is a `|`-separated
//! list of alternative [`Relation`]s such as `libc6:any (>= 2.34) [amd64] <!nocheck>`.

use std::fmt;

use crate::version::{Version, VersionError};

/// A version operator of a relation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum VersionOp {
    /// `<<`: strictly earlier.
    #[serde(rename = "<<")]
    Lt,
    /// `<=` (or the obsolete `<`): earlier or equal.
    #[serde(rename = "<=")]
    Le,
    /// `=`: exactly equal.
    #[serde(rename = "=")]
    Eq,
    /// `>=` (or the obsolete `>`): later or equal.
    #[serde(rename = ">=")]
    Ge,
    /// `>>`: strictly later.
    #[serde(rename = ">>")]
    Gt,
}

impl VersionOp {
    /// Whether `candidate` satisfies `candidate OP wanted`.
    pub fn admits(self, candidate: &Version, wanted: &Version) -> bool {
        let ord = candidate.cmp(wanted);
        match self {
            VersionOp::Lt => ord.is_lt(),
            VersionOp::Le => ord.is_le(),
            VersionOp::Eq => ord.is_eq(),
            VersionOp::Ge => ord.is_ge(),
            VersionOp::Gt => ord.is_gt(),
        }
    }

    fn parse(s: &str) -> Option<(VersionOp, usize)> {
        // Longest operators first; `<` and `>` are dpkg's obsolete spellings of `<=` and `>=`.
        const OPS: [(&str, VersionOp); 7] = [
            ("<<", VersionOp::Lt),
            ("<=", VersionOp::Le),
            (">=", VersionOp::Ge),
            (">>", VersionOp::Gt),
            ("=", VersionOp::Eq),
            ("<", VersionOp::Le),
            (">", VersionOp::Ge),
        ];
        OPS.iter()
            .find(|(text, _)| s.starts_with(text))
            .map(|(text, op)| (*op, text.len()))
    }
}

impl fmt::Display for VersionOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VersionOp::Lt => "<<",
            VersionOp::Le => "<=",
            VersionOp::Eq => "=",
            VersionOp::Ge => ">=",
            VersionOp::Gt => ">>",
        })
    }
}

/// One alternative: a package name with optional arch qualifier, version constraint and
/// architecture restriction list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    /// Package (or virtual package) name.
    pub name: String,
    /// `:any`, `:native` or an architecture name after the package name.
    pub arch_qualifier: Option<String>,
    /// `(op version)`.
    pub constraint: Option<(VersionOp, Version)>,
    /// `[amd64 !i386]`: `(negated, arch)` pairs; empty when the relation applies everywhere.
    pub arch_restrictions: Vec<(bool, String)>,
    /// `<!nocheck> <stage1 cross>`: build profile formulas, each a list of `(negated,
    /// profile)` terms that must all hold; the relation applies when any formula does.
    /// Empty when it applies under every profile.
    pub profiles: Vec<Vec<(bool, String)>>,
}

impl Relation {
    /// Whether a package of `version` meets this relation's version constraint.
    pub fn admits_version(&self, version: &Version) -> bool {
        match &self.constraint {
            None => true,
            Some((op, wanted)) => op.admits(version, wanted),
        }
    }

    /// Whether the relation applies on `arch`, given its `[...]` restriction list, whose
    /// entries may be wildcards (`linux-any`, `any-amd64`).
    pub fn applies_on(&self, arch: &str) -> bool {
        if self.arch_restrictions.is_empty() {
            return true;
        }
        let negated = self.arch_restrictions.iter().all(|(neg, _)| *neg);
        let listed = self
            .arch_restrictions
            .iter()
            .any(|(_, a)| crate::arch::matches(arch, a));
        if negated { !listed } else { listed }
    }

    /// Whether the relation applies when building with the build `profiles` active.
    pub fn applies_with(&self, profiles: &[String]) -> bool {
        self.profiles.is_empty()
            || self.profiles.iter().any(|formula| {
                formula
                    .iter()
                    .all(|(negated, p)| profiles.contains(p) != *negated)
            })
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(q) = &self.arch_qualifier {
            write!(f, ":{q}")?;
        }
        if let Some((op, v)) = &self.constraint {
            write!(f, " ({op} {v})")?;
        }
        Ok(())
    }
}

/// A group of alternatives, satisfied when any one of them is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// The alternatives, in the order they were written (apt prefers earlier ones).
    pub alternatives: Vec<Relation>,
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, alt) in self.alternatives.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{alt}")?;
        }
        Ok(())
    }
}

/// Why a relationship field could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelationError {
    /// A package name is missing or holds characters Debian does not allow.
    #[error("invalid package name `{0}`")]
    BadName(String),
    /// `(` without a matching `)`, or a constraint without operator.
    #[error("malformed version constraint `{0}`")]
    BadConstraint(String),
    /// The version inside a constraint is not a Debian version.
    #[error("bad version in `{text}`: {source}")]
    BadVersion {
        /// The relation as written.
        text: String,
        /// What is wrong with its version.
        source: VersionError,
    },
    /// `[` without `]` or `<` without `>`.
    #[error("unterminated `{0}` in relation")]
    Unterminated(char),
}

/// Whether `name` is a valid Debian package name (lower-case alphanumerics and `+-.`).
pub fn is_valid_package_name(name: &str) -> bool {
    name.len() >= 2
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b))
}

/// Parses a whole relationship field into its comma-separated groups.
pub fn parse_field(field: &str) -> Result<Vec<Dependency>, RelationError> {
    field
        .split(',')
        .map(str::trim)
        .filter(|group| !group.is_empty())
        .map(parse_dependency)
        .collect()
}

/// Parses one `a | b (>= 1)` group.
pub fn parse_dependency(group: &str) -> Result<Dependency, RelationError> {
    let alternatives = group
        .split('|')
        .map(|alt| parse_relation(alt.trim()))
        .collect::<Result<_, _>>()?;
    Ok(Dependency { alternatives })
}

/// Parses a single relation such as `perl:any (>= 5.36) [amd64] <!nocheck>`.
pub fn parse_relation(text: &str) -> Result<Relation, RelationError> {
    let text = text.trim();
    let name_end = text
        .find(|c: char| c.is_whitespace() || "([<".contains(c))
        .unwrap_or(text.len());
    let (full_name, mut rest) = (&text[..name_end], text[name_end..].trim_start());
    let (name, arch_qualifier) = match full_name.split_once(':') {
        Some((n, q)) if !q.is_empty() => (n, Some(q.to_owned())),
        Some(_) => return Err(RelationError::BadName(full_name.to_owned())),
        None => (full_name, None),
    };
    // Index data is not always lower-case clean (and names are ASCII anyway); only reject what
    // cannot be a name at all.
    if name.is_empty() || name.contains(|c: char| c.is_whitespace() || ",|()".contains(c)) {
        return Err(RelationError::BadName(full_name.to_owned()));
    }
    let mut constraint = None;
    if let Some(inner) = rest.strip_prefix('(') {
        let close = inner
            .find(')')
            .ok_or_else(|| RelationError::BadConstraint(text.to_owned()))?;
        let body = inner[..close].trim();
        let (op, len) =
            VersionOp::parse(body).ok_or_else(|| RelationError::BadConstraint(text.to_owned()))?;
        let version =
            Version::parse(body[len..].trim()).map_err(|source| RelationError::BadVersion {
                text: text.to_owned(),
                source,
            })?;
        constraint = Some((op, version));
        rest = inner[close + 1..].trim_start();
    }
    let mut arch_restrictions = Vec::new();
    if let Some(inner) = rest.strip_prefix('[') {
        let close = inner.find(']').ok_or(RelationError::Unterminated('['))?;
        for arch in inner[..close].split_whitespace() {
            match arch.strip_prefix('!') {
                Some(a) => arch_restrictions.push((true, a.to_owned())),
                None => arch_restrictions.push((false, arch.to_owned())),
            }
        }
        rest = inner[close + 1..].trim_start();
    }
    // Build profiles (`<!nocheck>`) matter only when building from source.
    let mut profiles = Vec::new();
    while let Some(inner) = rest.strip_prefix('<') {
        let close = inner.find('>').ok_or(RelationError::Unterminated('<'))?;
        profiles.push(
            inner[..close]
                .split_whitespace()
                .map(|term| match term.strip_prefix('!') {
                    Some(p) => (true, p.to_owned()),
                    None => (false, term.to_owned()),
                })
                .collect(),
        );
        rest = inner[close + 1..].trim_start();
    }
    if !rest.is_empty() {
        return Err(RelationError::BadConstraint(text.to_owned()));
    }
    Ok(Relation {
        name: name.to_owned(),
        arch_qualifier,
        constraint,
        arch_restrictions,
        profiles,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_fields() {
        let deps = parse_field(
            "libc6 (>= 2.34), debconf (>= 0.5) | debconf-2.0,\n perl:any, libfoo [!i386] <!nocheck>",
        )
        .expect("parses");
        assert_eq!(deps.len(), 4);
        assert_eq!(deps[1].alternatives.len(), 2);
        assert_eq!(deps[1].alternatives[1].name, "debconf-2.0");
        assert_eq!(
            deps[2].alternatives[0].arch_qualifier.as_deref(),
            Some("any")
        );
        let c = deps[0].alternatives[0]
            .constraint
            .as_ref()
            .expect("constraint");
        assert_eq!((c.0, c.1.as_str()), (VersionOp::Ge, "2.34"));
        assert!(deps[3].alternatives[0].applies_on("amd64"));
        assert!(!deps[3].alternatives[0].applies_on("i386"));
        assert_eq!(deps[1].to_string(), "debconf (>= 0.5) | debconf-2.0");
        let foo = &deps[3].alternatives[0];
        assert!(foo.applies_with(&[]));
        assert!(!foo.applies_with(&["nocheck".into()]));
    }

    #[test]
    fn build_profiles_are_formulas() {
        let r = parse_relation("x [linux-any] <!nocheck !nodoc> <stage1>").expect("parses");
        assert!(r.applies_on("amd64") && !r.applies_on("hurd-i386"));
        assert!(r.applies_with(&[]));
        assert!(!r.applies_with(&["nodoc".into()]));
        assert!(r.applies_with(&["nodoc".into(), "stage1".into()]));
    }

    #[test]
    fn operators_admit_versions() {
        let r = parse_relation("x (<< 2.0)").expect("parses");
        assert!(r.admits_version(&Version::parse("1.9").expect("v")));
        assert!(!r.admits_version(&Version::parse("2.0").expect("v")));
        let old = parse_relation("x (> 1.0)").expect("obsolete > parses as >=");
        assert!(old.admits_version(&Version::parse("1.0").expect("v")));
        let no_space = parse_relation("x(>=1.0)").expect("no spaces");
        assert_eq!(no_space.name, "x");
    }

    #[test]
    fn rejects_malformed() {
        assert!(matches!(
            parse_relation("x (>= 1.0"),
            Err(RelationError::BadConstraint(_))
        ));
        assert!(matches!(
            parse_relation("x (1.0)"),
            Err(RelationError::BadConstraint(_))
        ));
        assert!(matches!(
            parse_relation("x (>= a:b)"),
            Err(RelationError::BadVersion { .. })
        ));
        assert!(matches!(
            parse_relation("x [amd64"),
            Err(RelationError::Unterminated('['))
        ));
        assert!(matches!(parse_relation(""), Err(RelationError::BadName(_))));
        assert!(is_valid_package_name("libstdc++6"));
        assert!(!is_valid_package_name("Bash"));
    }
}
