//! The `Release` file of a suite, read and written in one place: its metadata (suite,
//! codename, date, `Valid-Until`, `NotAutomatic`…) and the size and checksums of every index
//! in it. The client parses what it verified; the archive writes what it publishes, with
//! `Acquire-By-Hash: yes` so that apt fetches indices by their SHA-256.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::deb822;

/// A release file that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {message}")]
pub struct ReleaseError {
    /// The file.
    pub what: String,
    /// What is wrong.
    pub message: String,
}

/// An index file listed in a release: its size and SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Size in bytes.
    pub size: u64,
    /// Lower-case hex SHA-256.
    pub sha256: String,
}

/// A parsed (and, by the time anyone holds one, verified) release.
#[derive(Debug, Clone, Default)]
pub struct Release {
    /// `Suite:` (e.g. `stable`), empty when absent.
    pub suite: String,
    /// `Codename:` (e.g. `bookworm`), empty when absent.
    pub codename: String,
    /// `Date:` as Unix seconds.
    pub date: Option<i64>,
    /// `Date:` as written.
    pub date_text: String,
    /// `Valid-Until:` as Unix seconds.
    pub valid_until: Option<i64>,
    /// `Valid-Until:` as written.
    pub valid_until_text: String,
    /// `Acquire-By-Hash: yes`.
    pub acquire_by_hash: bool,
    /// `Architectures:`.
    pub architectures: Vec<String>,
    /// `Components:`.
    pub components: Vec<String>,
    /// `No-Support-for-Architecture-all: Packages`: `all` packages are in each arch's index.
    pub all_in_arch_indices: bool,
    /// `NotAutomatic: yes`: nothing is taken from it unless asked (priority 1).
    pub not_automatic: bool,
    /// `ButAutomaticUpgrades: yes`: with `NotAutomatic`, what is installed from it is
    /// upgraded from it (priority 100; backports).
    pub but_automatic_upgrades: bool,
    /// Every file of the `SHA256:` list, by path relative to the release.
    pub files: BTreeMap<String, FileEntry>,
}

impl Release {
    /// Parses release text; `what` names it in errors.
    pub fn parse(text: &str, what: &str) -> Result<Self, ReleaseError> {
        let malformed = |message: String| ReleaseError {
            what: what.to_owned(),
            message,
        };
        let para = deb822::paragraphs(text)
            .next()
            .ok_or_else(|| malformed("empty release file".into()))?;
        let words = |f: &str| -> Vec<String> {
            para.get(f)
                .map(|v| v.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let yes = |f: &str| {
            para.get(f)
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("yes"))
        };
        let date_text = para.get("Date").unwrap_or_default().to_owned();
        let valid_until_text = para.get("Valid-Until").unwrap_or_default().to_owned();
        let date = parse_date_opt(&date_text).map_err(|e| malformed(format!("Date: {e}")))?;
        let valid_until = parse_date_opt(&valid_until_text)
            .map_err(|e| malformed(format!("Valid-Until: {e}")))?;
        let mut files = BTreeMap::new();
        let sums = para.get("SHA256").ok_or_else(|| {
            malformed("no SHA256 checksum list; refusing an unverifiable release".into())
        })?;
        for line in sums.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let mut parts = line.split_whitespace();
            let (Some(hash), Some(size), Some(path), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(malformed(format!("bad SHA256 line `{line}`")));
            };
            let size = size
                .parse()
                .map_err(|_| malformed(format!("bad size in SHA256 line `{line}`")))?;
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(malformed(format!("bad SHA-256 in line `{line}`")));
            }
            files.insert(
                path.to_owned(),
                FileEntry {
                    size,
                    sha256: hash.to_ascii_lowercase(),
                },
            );
        }
        Ok(Release {
            suite: para.get("Suite").unwrap_or_default().to_owned(),
            codename: para.get("Codename").unwrap_or_default().to_owned(),
            date,
            date_text,
            valid_until,
            valid_until_text,
            acquire_by_hash: para
                .get("Acquire-By-Hash")
                .is_some_and(|v| v.eq_ignore_ascii_case("yes")),
            architectures: words("Architectures"),
            components: words("Components"),
            all_in_arch_indices: para
                .get("No-Support-for-Architecture-all")
                .is_some_and(|v| v.trim() == "Packages"),
            not_automatic: yes("NotAutomatic"),
            but_automatic_upgrades: yes("ButAutomaticUpgrades"),
            files,
        })
    }
}

fn parse_date_opt(text: &str) -> Result<Option<i64>, String> {
    if text.is_empty() {
        Ok(None)
    } else {
        parse_rfc2822(text).map(Some)
    }
}

pub use crate::date::parse_rfc2822;

/// A `Release` being written.
#[derive(Debug, Clone)]
pub struct ReleaseWriter {
    header: String,
    files: Vec<(String, u64, String, String)>,
}

impl ReleaseWriter {
    /// The release of `suite`, dated `date` (RFC 2822, as [`http_date`] writes it).
    /// A release of suite `name` (also its codename) with `components` for `architectures`.
    pub fn new(
        origin: &str,
        name: &str,
        components: &[String],
        architectures: &[String],
        date: &str,
    ) -> ReleaseWriter {
        let header = format!(
            "Origin: {origin}\nLabel: {origin}\nSuite: {name}\nCodename: {name}\nDate: {date}\nArchitectures: {}\nComponents: {}\nAcquire-By-Hash: yes\n",
            architectures.join(" "),
            components.join(" "),
        );
        ReleaseWriter {
            header,
            files: Vec::new(),
        }
    }

    /// Lists an index: its path below the suite's directory and its bytes.
    pub fn add(&mut self, path: &str, bytes: &[u8]) {
        let md5 = hex::encode(<md5::Md5 as Digest>::digest(bytes));
        let sha256 = hex::encode(Sha256::digest(bytes));
        self.files
            .push((path.to_owned(), bytes.len() as u64, md5, sha256));
    }

    /// The file's text.
    pub fn text(&self) -> String {
        let mut text = self.header.clone();
        let width = self
            .files
            .iter()
            .map(|f| f.1.to_string().len())
            .max()
            .unwrap_or(1);
        text.push_str("MD5Sum:\n");
        for (path, size, md5, _) in &self.files {
            text.push_str(&format!(" {md5} {size:>width$} {path}\n"));
        }
        text.push_str("SHA256:\n");
        for (path, size, _, sha256) in &self.files {
            text.push_str(&format!(" {sha256} {size:>width$} {path}\n"));
        }
        text
    }
}

/// `Tue, 24 Nov 2026 22:33:38 UTC`, the date format of `Release` files.
pub fn http_date(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    crate::date::format_rfc2822(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_release() {
        let text = "Origin: Test\nSuite: stable\nCodename: test\nDate: Sat, 21 Nov 2026 00:53:02 UTC\nAcquire-By-Hash: yes\nArchitectures: amd64 arm64\nComponents: main\nSHA256:\n 515e692f2c4121c6fcec444ef100cc18f79a991910615f3a88c8b7becfc94d2f 50060337 main/binary-amd64/Packages\n 9e0b5aabb2465b3d2e7a7fe27f9913846277833f7a2826e7767acccff5b588c5  8790396 main/binary-amd64/Packages.xz\n";
        let r = Release::parse(text, "test").expect("parses");
        assert!(r.acquire_by_hash);
        assert!(!r.not_automatic && !r.but_automatic_upgrades);
        assert_eq!(r.files.len(), 2);
        let backports = text.replace(
            "Suite: stable\n",
            "Suite: stable\nNotAutomatic: yes\nButAutomaticUpgrades: yes\n",
        );
        let b = Release::parse(&backports, "test").expect("parses");
        assert!(b.not_automatic && b.but_automatic_upgrades);
        assert_eq!(r.files["main/binary-amd64/Packages.xz"].size, 8_790_396);
        assert_eq!(r.valid_until, None);
        let unsigned_sums = Release::parse("Suite: x\n", "t");
        assert!(unsigned_sums.is_err());
    }

    #[test]
    fn the_release_lists_every_index_with_both_checksums() {
        let (main, amd64) = (["main".to_owned()], ["amd64".to_owned()]);
        let date = "Thu, 01 Jan 1970 00:00:00 UTC";
        let mut release = ReleaseWriter::new("Staves", "stable", &main, &amd64, date);
        release.add("main/binary-amd64/Packages", b"");
        let text = release.text();
        assert!(text.contains("Acquire-By-Hash: yes\n"), "{text}");
        assert!(text.contains(
            " e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 main/binary-amd64/Packages\n"
        ));
        assert!(text.contains(" d41d8cd98f00b204e9800998ecf8427e 0 main/binary-amd64/Packages\n"));
    }
}
