//! The `Release` file: a suite's metadata and the signed checksums of every index in it.

use std::collections::BTreeMap;

use staves_deb::deb822;

use crate::error::RepoError;

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
    /// Every file of the `SHA256:` list, by path relative to the release.
    pub files: BTreeMap<String, FileEntry>,
}

impl Release {
    /// Parses release text; `what` names it in errors.
    pub fn parse(text: &str, what: &str) -> Result<Self, RepoError> {
        let malformed = |message: String| RepoError::Malformed {
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

/// Parses the RFC 2822 dates of release files (`Sat, 21 Nov 2026 00:53:02 UTC`, also `+0000`).
pub fn parse_rfc2822(text: &str) -> Result<i64, String> {
    let bad = || format!("`{text}` is not an RFC 2822 date");
    let body = text.split_once(',').map_or(text, |(_, rest)| rest).trim();
    let parts: Vec<&str> = body.split_whitespace().collect();
    let [day, month, year, time, zone] = parts[..] else {
        return Err(bad());
    };
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let month = MONTHS
        .iter()
        .position(|m| month.eq_ignore_ascii_case(m))
        .ok_or_else(bad)? as i64
        + 1;
    let day: i64 = day.parse().map_err(|_| bad())?;
    let year: i64 = year.parse().map_err(|_| bad())?;
    let hms: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    let [h, m, s] = hms[..] else {
        return Err(bad());
    };
    let offset = match zone {
        "UTC" | "GMT" | "Z" => 0,
        z if z.len() == 5 && (z.starts_with('+') || z.starts_with('-')) => {
            let hours: i64 = z[1..3].parse().map_err(|_| bad())?;
            let mins: i64 = z[3..5].parse().map_err(|_| bad())?;
            let sign = if z.starts_with('-') { -1 } else { 1 };
            sign * (hours * 3600 + mins * 60)
        }
        _ => return Err(bad()),
    };
    if !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return Err(bad());
    }
    Ok(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s - offset)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dates() {
        assert_eq!(parse_rfc2822("Thu, 01 Jan 1970 00:00:00 UTC"), Ok(0));
        assert_eq!(
            parse_rfc2822("Sat, 21 Nov 2026 00:53:02 UTC"),
            Ok(1_795_222_382)
        );
        assert_eq!(
            parse_rfc2822("Sat, 21 Nov 2026 01:53:02 +0100"),
            Ok(1_795_222_382)
        );
        assert!(parse_rfc2822("yesterday").is_err());
    }

    #[test]
    fn parses_release() {
        let text = "Origin: Test\nSuite: stable\nCodename: test\nDate: Sat, 21 Nov 2026 00:53:02 UTC\nAcquire-By-Hash: yes\nArchitectures: amd64 arm64\nComponents: main\nSHA256:\n 515e692f2c4121c6fcec444ef100cc18f79a991910615f3a88c8b7becfc94d2f 50060337 main/binary-amd64/Packages\n 9e0b5aabb2465b3d2e7a7fe27f9913846277833f7a2826e7767acccff5b588c5  8790396 main/binary-amd64/Packages.xz\n";
        let r = Release::parse(text, "test").expect("parses");
        assert!(r.acquire_by_hash);
        assert_eq!(r.files.len(), 2);
        assert_eq!(r.files["main/binary-amd64/Packages.xz"].size, 8_790_396);
        assert_eq!(r.valid_until, None);
        let unsigned_sums = Release::parse("Suite: x\n", "t");
        assert!(unsigned_sums.is_err());
    }
}
