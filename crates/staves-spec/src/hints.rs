//! TOML and serde errors said in the spec's own words: which key, what type it wants, and
//! the likely fix. The parser's messages (`invalid type: string "bash", expected a
//! sequence`) name Rust's types; a user wrote a spec, not Rust.

use std::ops::Range;

use crate::KNOWN_KEYS;

/// A parse error's message and help, rewritten where the spec's words say it better.
pub(crate) fn explain(
    source: &str,
    span: &Range<usize>,
    message: &str,
) -> (String, Option<String>) {
    let message = message.trim();
    let key = key_at(source, span.start);
    let table = table_at(source, span.start);
    if message.contains("leading zero")
        || (key.as_deref() == Some("mode") && message.contains("invalid type"))
    {
        return (
            "a mode is an octal string".into(),
            Some("quote it: mode = \"0755\"".into()),
        );
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let (found, expected) = rest
            .split_once(", expected ")
            .unwrap_or((rest, "another type"));
        let expected = in_words(expected);
        let found = found.split([' ', '`']).next().unwrap_or(found);
        let subject = match &key {
            Some(key) => format!("`{key}`"),
            None => "this value".into(),
        };
        return (
            format!("{subject} must be {expected}, not {}", article(found)),
            None,
        );
    }
    if message.starts_with("unknown field")
        && let Some(table) = &table
    {
        let field = message.split('`').nth(1).unwrap_or_default();
        // `[servics.web]` is the table `servics` holding `web`: a misspelt `[services.web]`.
        let outer = table.split('.').next().unwrap_or(table);
        if let Some(known) = similar_key(outer) {
            return (
                format!("`[{outer}]` is not a key of the spec"),
                Some(format!(
                    "did you mean `[{known}]`? (a table named after a package takes that package's `version`, `recommends` and `use`)"
                )),
            );
        }
        return (
            format!("unknown key `{field}` in the options of package `{table}`"),
            Some("a package's table takes `version`, `recommends` and `use`".into()),
        );
    }
    let help = if message.contains("unknown field") {
        Some("check the spelling; see the spec reference in GUIDE.md".into())
    } else {
        None
    };
    (message.to_owned(), help)
}

/// The top-level key `name` most likely misspells, tables included (`comand` → `command`).
pub(crate) fn similar_any_key(name: &str) -> Option<&'static str> {
    KNOWN_KEYS
        .iter()
        .map(|k| (strsim::jaro_winkler(name, k), *k))
        .filter(|(score, _)| *score > 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

/// The known key `name` most likely misspells, if any.
pub(crate) fn similar_key(name: &str) -> Option<&'static str> {
    // A table can only be a misspelt key that is itself a table (`[lables]`): `[bash]` is
    // a package's options, never `base = "…"`.
    const TABLES: &[&str] = &[
        "services",
        "tasks",
        "env",
        "repositories",
        "environment",
        "labels",
        "annotations",
        "accounts",
        "paths",
    ];
    KNOWN_KEYS
        .iter()
        .filter(|k| TABLES.contains(k))
        .map(|k| (strsim::jaro_winkler(name, k), *k))
        .filter(|(score, _)| *score > 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

/// serde's type names in words, with an example.
fn in_words(expected: &str) -> String {
    match expected.trim() {
        "a sequence" => "a list, like [\"a\", \"b\"]".into(),
        "a boolean" => "true or false".into(),
        "a string" => "a quoted string".into(),
        "a map" => "a table".into(),
        e if e.starts_with('i') || e.starts_with('u') => "a whole number".into(),
        other => other.to_owned(),
    }
}

fn article(found: &str) -> String {
    match found {
        "sequence" => "a list".into(),
        "map" => "a table".into(),
        "integer" => "a number".into(),
        "boolean" => "true or false".into(),
        "string" => "a string".into(),
        other => other.to_owned(),
    }
}

/// The key assigned on the line of `offset` (`mode` of `mode = 0755`).
fn key_at(source: &str, offset: usize) -> Option<String> {
    let offset = offset.min(source.len());
    let start = source[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = &source[start..];
    let line = line.split('\n').next().unwrap_or_default();
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches(['"', '\'']);
    (!key.is_empty() && !key.starts_with('['))
        .then(|| key.rsplit('.').next().unwrap_or(key).to_owned())
}

/// The `[table]` header above `offset` (not `[[array]]` headers).
fn table_at(source: &str, offset: usize) -> Option<String> {
    let before = &source[..offset.min(source.len())];
    for line in before.lines().rev() {
        let line = line.trim();
        if line.starts_with("[[") {
            return None;
        }
        if let Some(inner) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
            return Some(inner.trim().trim_matches(['"', '\'']).to_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(source: &str, needle: &str, message: &str) -> (String, Option<String>) {
        let start = source.find(needle).expect("needle");
        explain(source, &(start..start + needle.len()), message)
    }

    #[test]
    fn types_are_named_in_words_with_the_key() {
        let (m, _) = at(
            "packages = \"bash\"\n",
            "\"bash\"",
            "invalid type: string \"bash\", expected a sequence",
        );
        assert_eq!(
            m,
            "`packages` must be a list, like [\"a\", \"b\"], not a string"
        );
        let (m, _) = at(
            "recommends = 1\n",
            "1",
            "invalid type: integer `1`, expected a boolean",
        );
        assert_eq!(m, "`recommends` must be true or false, not a number");
    }

    #[test]
    fn an_unquoted_mode_is_told_to_quote_it() {
        let (m, help) = at(
            "[[paths]]\nmode = 0755\n",
            "0755",
            "unexpected leading zero",
        );
        assert_eq!(m, "a mode is an octal string");
        assert_eq!(help.as_deref(), Some("quote it: mode = \"0755\""));
    }

    #[test]
    fn misspelled_tables_get_a_suggestion_and_package_tables_their_keys() {
        let (m, help) = at(
            "[lables]\na = \"b\"\n",
            "a =",
            "unknown field `a`, expected one of `version`",
        );
        assert_eq!(m, "`[lables]` is not a key of the spec");
        assert!(help.is_some_and(|h| h.contains("`[labels]`")));
        let (m, _) = at(
            "[nginx]\nversoin = \"1\"\n",
            "versoin",
            "unknown field `versoin`, expected one of `version`",
        );
        assert_eq!(m, "unknown key `versoin` in the options of package `nginx`");
        let (m, help) = at(
            "[servics.web]\ncommand = [\"x\"]\n",
            "command",
            "unknown field `web`, expected one of `version`",
        );
        assert_eq!(m, "`[servics]` is not a key of the spec");
        assert!(help.is_some_and(|h| h.contains("`[services]`")));
        assert_eq!(similar_any_key("comand"), Some("command"));
        assert_eq!(similar_any_key("enviroment"), Some("environment"));
        assert_eq!(similar_any_key("nginx"), None);
    }
}
