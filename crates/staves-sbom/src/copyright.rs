//! Licences from Debian's machine-readable copyright files (DEP-5), as SPDX expressions.
//!
//! Debian's short names mostly differ from SPDX's (`GPL-2+`, `Expat`); the known ones are
//! translated, every other name becomes a `LicenseRef-` that the document defines with the
//! text the copyright file gives for it.

use std::collections::BTreeMap;

use staves_deb::deb822;

/// What a copyright file declares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Declared {
    /// The SPDX expression over every `Files` paragraph, `None` when the file is not
    /// machine-readable or names no licence.
    pub expression: Option<String>,
    /// `LicenseRef-…` id → (Debian name, licence text) for names SPDX does not know.
    pub references: BTreeMap<String, (String, String)>,
}

/// Debian short name → SPDX id, for names whose meaning is unambiguous.
const SPDX_NAMES: &[(&str, &str)] = &[
    ("AGPL-3", "AGPL-3.0-only"),
    ("AGPL-3+", "AGPL-3.0-or-later"),
    ("Apache-2.0", "Apache-2.0"),
    ("Apache-2", "Apache-2.0"),
    ("Artistic-2.0", "Artistic-2.0"),
    ("BSD-2-clause", "BSD-2-Clause"),
    ("BSD-3-clause", "BSD-3-Clause"),
    ("BSD-4-clause", "BSD-4-Clause"),
    ("BSL-1.0", "BSL-1.0"),
    ("CC0-1.0", "CC0-1.0"),
    ("CC-BY-3.0", "CC-BY-3.0"),
    ("CC-BY-4.0", "CC-BY-4.0"),
    ("CC-BY-SA-3.0", "CC-BY-SA-3.0"),
    ("CC-BY-SA-4.0", "CC-BY-SA-4.0"),
    ("curl", "curl"),
    ("Expat", "MIT"),
    ("MIT", "MIT"),
    ("FTL", "FTL"),
    ("GFDL-1.2", "GFDL-1.2-only"),
    ("GFDL-1.2+", "GFDL-1.2-or-later"),
    ("GFDL-1.3", "GFDL-1.3-only"),
    ("GFDL-1.3+", "GFDL-1.3-or-later"),
    ("GPL-1", "GPL-1.0-only"),
    ("GPL-1+", "GPL-1.0-or-later"),
    ("GPL-2", "GPL-2.0-only"),
    ("GPL-2+", "GPL-2.0-or-later"),
    ("GPL-3", "GPL-3.0-only"),
    ("GPL-3+", "GPL-3.0-or-later"),
    ("ISC", "ISC"),
    ("LGPL-2", "LGPL-2.0-only"),
    ("LGPL-2+", "LGPL-2.0-or-later"),
    ("LGPL-2.1", "LGPL-2.1-only"),
    ("LGPL-2.1+", "LGPL-2.1-or-later"),
    ("LGPL-3", "LGPL-3.0-only"),
    ("LGPL-3+", "LGPL-3.0-or-later"),
    ("MPL-1.1", "MPL-1.1"),
    ("MPL-2.0", "MPL-2.0"),
    ("OpenSSL", "OpenSSL"),
    ("PSF-2", "PSF-2.0"),
    ("Python-2.0", "Python-2.0"),
    ("Unicode-DFS-2016", "Unicode-DFS-2016"),
    ("WTFPL", "WTFPL"),
    ("X11", "X11"),
    ("Zlib", "Zlib"),
    ("zlib", "Zlib"),
    ("Zope-2.1", "ZPL-2.1"),
];

/// Reads `text`, the copyright file of `package`.
pub fn declared(package: &str, text: &str) -> Declared {
    let mut paragraphs = deb822::paragraphs(text);
    let machine_readable = paragraphs
        .next()
        .and_then(|p| p.get("Format"))
        .is_some_and(|f| f.contains("copyright-format"));
    if !machine_readable {
        return Declared::default();
    }
    // Standalone `License:` paragraphs carry the texts of the names used above them.
    let mut texts: BTreeMap<String, String> = BTreeMap::new();
    let mut synopses: Vec<String> = Vec::new();
    for p in deb822::paragraphs(text) {
        let Some(license) = p.get("License") else {
            continue;
        };
        let (synopsis, body) = license.split_once('\n').unwrap_or((license, ""));
        let synopsis = synopsis.trim().to_owned();
        if p.get("Files").is_some() {
            if !synopsis.is_empty() && !synopses.contains(&synopsis) {
                synopses.push(synopsis.clone());
            }
        } else if !body.trim().is_empty() {
            texts.insert(synopsis.clone(), unfold(body));
        }
        // A header paragraph's License applies to the whole package too.
        if p.get("Format").is_some() && !synopsis.is_empty() && !synopses.contains(&synopsis) {
            synopses.push(synopsis);
        }
    }
    let mut references = BTreeMap::new();
    let parts: Vec<String> = synopses
        .iter()
        .map(|s| {
            let expression = expression(s, &mut |name| {
                let id = format!("LicenseRef-{}", idstring(name));
                let text = texts.get(name).cloned().unwrap_or_else(|| {
                    format!("The license named `{name}` in /usr/share/doc/{package}/copyright.")
                });
                references.insert(id.clone(), (name.to_owned(), text));
                id
            });
            if synopses.len() > 1 {
                wrap(expression)
            } else {
                expression
            }
        })
        .collect();
    Declared {
        expression: (!parts.is_empty()).then(|| parts.join(" AND ")),
        references,
    }
}

/// One synopsis (`GPL-2+ or Artistic`, `BSD-3-clause and Expat`, `A, B`) as SPDX.
fn expression(synopsis: &str, reference: &mut dyn FnMut(&str) -> String) -> String {
    // DEP-5: `or` binds tighter than `and`; a comma joins with lower precedence than both.
    let groups: Vec<String> = synopsis
        .split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(|group| {
            let ands: Vec<String> = split_word(group, "and")
                .into_iter()
                .map(|and| {
                    let ors: Vec<String> = split_word(&and, "or")
                        .into_iter()
                        .map(|name| license_id(&name, reference))
                        .collect();
                    if ors.len() > 1 {
                        format!("({})", ors.join(" OR "))
                    } else {
                        ors.concat()
                    }
                })
                .collect();
            ands.join(" AND ")
        })
        .collect();
    if groups.len() > 1 {
        groups
            .into_iter()
            .map(wrap)
            .collect::<Vec<_>>()
            .join(" AND ")
    } else {
        groups.concat()
    }
}

/// Parenthesises a compound expression unless it already is one parenthesised whole.
fn wrap(e: String) -> String {
    if !e.contains(' ') {
        return e;
    }
    let mut depth = 0;
    for (i, c) in e.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        if depth == 0 && i + 1 < e.len() {
            return format!("({e})");
        }
    }
    e
}

fn split_word(text: &str, word: &str) -> Vec<String> {
    let mut parts = vec![Vec::new()];
    for token in text.split_whitespace() {
        if token.eq_ignore_ascii_case(word) {
            parts.push(Vec::new());
        } else if let Some(last) = parts.last_mut() {
            last.push(token);
        }
    }
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .map(|p| p.join(" "))
        .collect()
}

fn license_id(name: &str, reference: &mut dyn FnMut(&str) -> String) -> String {
    let name = name.trim();
    match SPDX_NAMES.iter().find(|(debian, _)| *debian == name) {
        Some((_, spdx)) => (*spdx).to_owned(),
        // `GPL-2+ with OpenSSL exception` and unknown names: a reference keeps the meaning
        // exact instead of guessing an SPDX exception id.
        None => reference(name),
    }
}

/// SPDX's idstring alphabet: letters, digits, `.` and `-`.
fn idstring(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    out.trim_matches('-').to_owned()
}

/// A folded deb822 value: leading space removed, ` .` lines are blank lines.
fn unfold(body: &str) -> String {
    body.lines()
        .map(|l| {
            let l = l.strip_prefix(' ').unwrap_or(l);
            if l.trim() == "." { "" } else { l }
        })
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP5: &str = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: demo

Files: *
Copyright: 2020 Someone
License: GPL-2+ or Artistic

Files: lib/*
Copyright: 2021 Other
License: BSD-3-clause

Files: extra/*
Copyright: 2022 Third
License: GPL-2+ with OpenSSL exception

License: GPL-2+ with OpenSSL exception
 This program is free software.
 .
 As a special exception, linking with OpenSSL is allowed.
";

    #[test]
    fn translates_debian_names_and_keeps_unknown_ones_as_references() {
        let d = declared("demo", DEP5);
        assert_eq!(
            d.expression.as_deref(),
            Some(
                "(GPL-2.0-or-later OR LicenseRef-Artistic) AND BSD-3-Clause AND LicenseRef-GPL-2-with-OpenSSL-exception"
            )
        );
        let (name, text) = &d.references["LicenseRef-GPL-2-with-OpenSSL-exception"];
        assert_eq!(name, "GPL-2+ with OpenSSL exception");
        assert!(text.starts_with("This program is free software.\n\nAs a special"));
        assert!(
            d.references["LicenseRef-Artistic"]
                .1
                .contains("/usr/share/doc/demo/copyright")
        );
    }

    #[test]
    fn free_form_copyright_files_declare_nothing() {
        let d = declared(
            "old",
            "This package was debianized by someone.\nLicense: GPL\n",
        );
        assert_eq!(d, Declared::default());
    }
}
