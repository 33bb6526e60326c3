//! An upload's `control` paragraph, checked before any of it reaches a signed index.
//!
//! The paragraph is copied into `Packages` as the package describes itself, so everything in
//! it is the uploader's word: a second paragraph would be a second package in the index, a
//! `Filename:` would be a path the archive later deletes, a `SHA256:` would vouch for another
//! file. The archive owns those fields; the uploader's text may hold exactly one paragraph of
//! well-formed, distinct fields, none of them the archive's, naming a package, version and
//! architecture that are safe as parts of a file name.

use crate::error::ArchiveError;

/// The largest `control` an upload may carry: it is copied into every client's index, and
/// Debian's largest (long `Provides` lists, long descriptions) stay far below this.
pub const MAX_CONTROL: usize = 256 << 10;

/// The longest `name_version_arch.deb` a pool file may have: file systems allow 255 bytes.
const MAX_FILE_NAME: usize = 240;

/// Fields the archive writes itself, from the file it received.
const ARCHIVE_FIELDS: [&str; 7] = [
    "Filename",
    "Size",
    "MD5sum",
    "SHA1",
    "SHA256",
    "SHA512",
    "Description-md5",
];

/// A control paragraph that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// `Package`.
    pub name: String,
    /// `Version`.
    pub version: String,
    /// `Architecture`.
    pub arch: String,
    /// The source package's name (`Source`, or the package's own).
    pub source: String,
    /// The paragraph, one field per line and continuation lines as sent, without a final
    /// newline.
    pub text: String,
}

fn refused(why: impl Into<String>) -> ArchiveError {
    ArchiveError::NotADeb(format!("the control file {}", why.into()))
}

pub use staves_deb::is_package_name;

/// Whether `arch` is an architecture name (`amd64`, `all`, `linux-any`'s parts).
pub fn is_architecture(arch: &str) -> bool {
    !arch.is_empty()
        && arch.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && arch
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Whether `version` is a Debian version made of the characters Policy allows (so it is safe
/// in a file name).
pub fn is_version(version: &str) -> bool {
    version
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ".+~:-".contains(c))
        && staves_deb::Version::parse(version).is_ok()
}

/// Checks `control` (the `control` file of an uploaded `.deb`).
pub fn check(control: &str) -> Result<Checked, ArchiveError> {
    if control.len() > MAX_CONTROL {
        return Err(refused(format!(
            "is {} bytes; an upload's may be at most {MAX_CONTROL}",
            control.len()
        )));
    }
    if control.contains('\r') {
        return Err(refused("holds a carriage return (\\r)"));
    }
    if control.contains('\0') {
        return Err(refused("holds a NUL byte"));
    }
    let body = control.trim_end_matches('\n');
    let mut fields: Vec<(&str, &str)> = Vec::new();
    for (n, line) in body.split('\n').enumerate() {
        let number = n + 1;
        if line.trim().is_empty() {
            return Err(refused(format!(
                "has a blank line (line {number}): a package is one paragraph"
            )));
        }
        if line.starts_with([' ', '\t']) {
            if fields.is_empty() {
                return Err(refused(format!(
                    "starts with a continuation line (line {number})"
                )));
            }
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(refused(format!("line {number} is not `Field: value`")));
        };
        let well_formed = !name.is_empty()
            && !name.starts_with(['#', '-'])
            && name.bytes().all(|b| b.is_ascii_graphic() && b != b':');
        if !well_formed {
            return Err(refused(format!("line {number} names no valid field")));
        }
        if let Some(owned) = ARCHIVE_FIELDS.iter().find(|f| f.eq_ignore_ascii_case(name)) {
            return Err(refused(format!(
                "sets `{owned}` (line {number}), which the archive writes from the file it received"
            )));
        }
        if fields
            .iter()
            .any(|(seen, _)| seen.eq_ignore_ascii_case(name))
        {
            return Err(refused(format!("sets `{name}` twice (line {number})")));
        }
        fields.push((name, value.trim()));
    }
    let field = |wanted: &str| {
        fields
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
            .map(|(_, value)| *value)
            .unwrap_or_default()
    };
    let (name, version, arch) = (field("Package"), field("Version"), field("Architecture"));
    if !is_package_name(name) {
        return Err(refused(format!(
            "names package `{name}`: a name is lowercase letters, digits, `+`, `-` and `.`"
        )));
    }
    if !is_version(version) {
        return Err(refused(format!(
            "gives version `{version}`, not a Debian version"
        )));
    }
    if !is_architecture(arch) {
        return Err(refused(format!(
            "gives architecture `{arch}`, not an architecture name"
        )));
    }
    let source = match field("Source") {
        "" => name,
        given => {
            let source = given.split_whitespace().next().unwrap_or_default();
            let rest = given[source.len()..].trim();
            let versioned = rest.is_empty()
                || rest
                    .strip_prefix('(')
                    .and_then(|r| r.strip_suffix(')'))
                    .is_some_and(|v| is_version(v.trim()));
            if !is_package_name(source) || !versioned {
                return Err(refused(format!(
                    "gives source `{given}`: a package name, optionally with `(version)`"
                )));
            }
            source
        }
    };
    let file_version = version.split_once(':').map_or(version, |(_, v)| v);
    let file_name = name.len() + file_version.len() + arch.len() + 6;
    if file_name > MAX_FILE_NAME {
        return Err(refused(format!(
            "names a package whose pool file name would be {file_name} bytes; at most {MAX_FILE_NAME}"
        )));
    }
    Ok(Checked {
        name: name.to_owned(),
        version: version.to_owned(),
        arch: arch.to_owned(),
        source: source.to_owned(),
        text: body.to_owned(),
    })
}

/// Whether `path`, read back from a package list, names a file inside the pool: `pool/`
/// followed by plain components, none of them empty, `.` or `..`, none hidden.
pub fn is_pool_path(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("pool/") else {
        return false;
    };
    !rest.is_empty()
        && rest.split('/').all(|part| {
            !part.is_empty()
                && !part.starts_with('.')
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.~_".contains(c))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "Package: good\nVersion: 1:1.0-1\nArchitecture: all\nMaintainer: M <m@localhost>\nDescription: a package\n more text\n .\n";

    #[test]
    fn takes_an_ordinary_paragraph() {
        let checked = check(GOOD).expect("good");
        assert_eq!(checked.name, "good");
        assert_eq!(checked.source, "good");
        assert!(checked.text.ends_with(" ."));
        let with_source = format!("{GOOD}Source: goods (1.0-1)\n");
        assert_eq!(check(&with_source).expect("source").source, "goods");
    }

    #[test]
    fn refuses_what_would_forge_the_index() {
        let cases = [
            (
                format!("{GOOD}\nPackage: other\nVersion: 1\n"),
                "blank line",
            ),
            (format!("{GOOD}Filename: ../../victim\n"), "`Filename`"),
            (format!("{GOOD}sha256: 00\n"), "`SHA256`"),
            (format!("{GOOD}Description-md5: 00\n"), "`Description-md5`"),
            (format!("{GOOD}Version: 2\n"), "twice"),
            (GOOD.replace("\n", "\r\n"), "carriage return"),
            (GOOD.replace("good", "a:b"), "names package"),
            (GOOD.replace("good", "Good"), "names package"),
            (GOOD.replace("1:1.0-1", "1.0/../x"), "version"),
            (GOOD.replace("all", "../all"), "architecture"),
            (format!("{GOOD}Source: ../x\n"), "source"),
            (format!(" lead\n{GOOD}"), "continuation"),
            (format!("{GOOD}# comment: x\n"), "no valid field"),
            (format!("{GOOD}no colon\n"), "not `Field: value`"),
            (format!("{GOOD}X: {}\n", "y".repeat(MAX_CONTROL)), "at most"),
            (GOOD.replace("good", &"g".repeat(250)), "pool file name"),
        ];
        for (control, expected) in cases {
            let error = check(&control).expect_err(expected).to_string();
            assert!(error.contains(expected), "{expected}: {error}");
        }
    }

    #[test]
    fn pool_paths_stay_in_the_pool() {
        assert!(is_pool_path("pool/main/h/hello/hello_1.0_all.deb"));
        for bad in [
            "../../victim",
            "pool/../.staves/signing-key.asc",
            "pool/main/./x",
            "pool//x",
            "pool/",
            "/etc/passwd",
            ".staves/db/stable/main",
            "pool/main/x\n",
        ] {
            assert!(!is_pool_path(bad), "{bad}");
        }
    }
}
