//! `[env]`: the environment of source builds. Plain keys apply to every package built from
//! source; a table `[env.NAME]` is a named environment that packages opt into with
//! `env = ["NAME"]`, applied after the plain keys, in the order listed.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Deserialize;
use serde::de;
use toml::Spanned;

/// Variables in the order they are applied, each with where it is written.
pub type Variables = BTreeMap<String, Spanned<String>>;

/// The `[env]` table.
#[derive(Debug, Clone, Default)]
pub struct BuildEnv {
    /// Plain keys: every source build gets them.
    pub default: Variables,
    /// `[env.NAME]` tables.
    pub named: BTreeMap<String, Spanned<Variables>>,
}

/// A problem with `[env]`, with the span to point at.
pub(crate) struct EnvProblem {
    pub span: Range<usize>,
    pub message: String,
    pub help: Option<String>,
}

impl BuildEnv {
    /// Checks names and `${VAR}` references of every variable.
    pub(crate) fn check(&self) -> Result<(), EnvProblem> {
        let all = self
            .default
            .iter()
            .chain(self.named.values().flat_map(|t| t.get_ref().iter()));
        for (name, value) in all {
            if !is_variable_name(name) {
                return Err(EnvProblem {
                    span: value.span(),
                    message: format!("`{}` is not a variable name", name.escape_debug()),
                    help: Some(
                        "a name is letters, digits and `_`, not starting with a digit".into(),
                    ),
                });
            }
            if let Err(message) = references(value.get_ref()) {
                return Err(EnvProblem {
                    span: value.span(),
                    message: format!("`{name}`: {message}"),
                    help: Some("write `${CFLAGS} -O3` to extend the default value".into()),
                });
            }
        }
        Ok(())
    }
}

/// Whether `name` is a shell variable name.
pub fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A piece of a value: literal text or a `${VAR}` reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Text taken as written.
    Text(&'a str),
    /// `${NAME}`.
    Reference(&'a str),
}

/// Splits a value into text and `${VAR}` references; `$$` is a literal `$`.
pub fn references(value: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut pieces = Vec::new();
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        if at > 0 {
            pieces.push(Piece::Text(&rest[..at]));
        }
        let after = &rest[at + 1..];
        if let Some(more) = after.strip_prefix('$') {
            pieces.push(Piece::Text("$"));
            rest = more;
        } else if let Some(inner) = after.strip_prefix('{') {
            let close = inner
                .find('}')
                .ok_or_else(|| "`${` without its closing `}`".to_owned())?;
            let name = &inner[..close];
            if !is_variable_name(name) {
                return Err(format!("`${{{name}}}` does not name a variable"));
            }
            pieces.push(Piece::Reference(name));
            rest = &inner[close + 1..];
        } else {
            return Err("a `$` that starts no `${VAR}`; write `$$` for the character".into());
        }
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    Ok(pieces)
}

/// A value of `[env]`: a variable, or a named environment's table. (Not an untagged enum:
/// that buffers the value and loses the spans of the table's variables.)
enum Entry {
    Value(String),
    Table(Variables),
}

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = Entry;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string, or a table of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Entry, E> {
                Ok(Entry::Value(v.to_owned()))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Entry, A::Error> {
                Variables::deserialize(de::value::MapAccessDeserializer::new(map)).map(Entry::Table)
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for BuildEnv {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut env = BuildEnv::default();
        for (key, value) in BTreeMap::<String, Spanned<Entry>>::deserialize(d)? {
            let span = value.span();
            match value.into_inner() {
                Entry::Value(text) => {
                    env.default.insert(key, Spanned::new(span, text));
                }
                Entry::Table(table) => {
                    env.named.insert(key, Spanned::new(span, table));
                }
            }
        }
        Ok(env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_plain_keys_and_named_tables_with_their_spans() {
        let text = "name = \"t\"\npackages = [\"hello\"]\n[env]\nCFLAGS = \"${CFLAGS} -O3\"\n[env.lean]\nDEB_BUILD_PROFILES = \"nocheck\"\n['hello']\nsource = true\nenv = [\"lean\"]\n";
        let spec = crate::Spec::parse(text, std::path::Path::new("staves.toml")).expect("valid");
        let cflags = &spec.env.default["CFLAGS"];
        assert_eq!(&text[cflags.span()], "\"${CFLAGS} -O3\"");
        assert_eq!(
            spec.env_for("hello"),
            [
                ("CFLAGS", "${CFLAGS} -O3"),
                ("DEB_BUILD_PROFILES", "nocheck")
            ]
        );
        assert_eq!(spec.source_builds(), ["hello"]);
    }

    #[test]
    fn splits_references() {
        assert_eq!(
            references("${CFLAGS} -O3 $$x").expect("valid"),
            [
                Piece::Reference("CFLAGS"),
                Piece::Text(" -O3 "),
                Piece::Text("$"),
                Piece::Text("x")
            ]
        );
        assert!(references("${CFLAGS").is_err());
        assert!(references("$CFLAGS").is_err());
        assert!(references("${1X}").is_err());
    }
}
