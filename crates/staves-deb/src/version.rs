//! Debian package versions: `[epoch:]upstream[-revision]`, ordered exactly as dpkg orders them.
//!
//! The comparison is dpkg's `verrevcmp`: alternating runs of non-digits (compared character by
//! character, letters before other symbols, `~` before everything including the end) and digits
//! (compared numerically). It is tested against `dpkg --compare-versions` itself.

use std::cmp::Ordering;
use std::fmt;

/// A parsed Debian version. Equality and ordering follow dpkg, so `1.0` equals `0:1.0-0`'s
/// ordering position but the original spelling is kept for display.
#[derive(Clone)]
pub struct Version {
    text: Box<str>,
    epoch: u32,
    /// Byte range of the upstream part within `text`.
    upstream: (u32, u32),
    /// Byte offset where the revision starts (after the last `-`), or `text.len()` when absent.
    revision_start: u32,
}

/// Why a string is not a Debian version. Mirrors the hard errors of dpkg's `parseversion`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// The version string is empty.
    #[error("version string is empty")]
    Empty,
    /// The version contains whitespace.
    #[error("version string has embedded spaces")]
    EmbeddedSpace,
    /// The epoch is not a non-negative number that fits in 32 bits.
    #[error("epoch `{0}` in version is not a number")]
    BadEpoch(String),
    /// Nothing follows the epoch's colon.
    #[error("nothing after colon in version number")]
    NothingAfterColon,
    /// A `-` ends the version, leaving an empty revision.
    #[error("revision number is empty")]
    EmptyRevision,
    /// A character that dpkg never allows in versions.
    #[error("invalid character `{0}` in version number")]
    InvalidChar(char),
}

impl Version {
    /// Parses a version the way dpkg does, rejecting what dpkg rejects.
    pub fn parse(text: &str) -> Result<Self, VersionError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(VersionError::Empty);
        }
        if text.contains(char::is_whitespace) {
            return Err(VersionError::EmbeddedSpace);
        }
        let (epoch, upstream_start) = match text.find(':') {
            Some(colon) => {
                let digits = &text[..colon];
                let epoch = if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    None
                } else {
                    digits.parse::<u32>().ok()
                };
                match epoch {
                    Some(e) => (e, colon + 1),
                    None => return Err(VersionError::BadEpoch(digits.to_owned())),
                }
            }
            None => (0, 0),
        };
        let rest = &text[upstream_start..];
        if rest.is_empty() {
            return Err(VersionError::NothingAfterColon);
        }
        let (upstream_end, revision_start) = match rest.rfind('-') {
            Some(hyphen) if hyphen + 1 == rest.len() => return Err(VersionError::EmptyRevision),
            Some(hyphen) => (upstream_start + hyphen, upstream_start + hyphen + 1),
            None => (text.len(), text.len()),
        };
        if upstream_end == upstream_start {
            return Err(VersionError::NothingAfterColon);
        }
        if let Some(bad) = rest
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || ".-+~:".contains(*c)))
        {
            return Err(VersionError::InvalidChar(bad));
        }
        let len = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Ok(Version {
            text: text.into(),
            epoch,
            upstream: (len(upstream_start), len(upstream_end)),
            revision_start: len(revision_start),
        })
    }

    /// The version as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The epoch, 0 when absent.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The upstream part, between epoch and revision.
    pub fn upstream(&self) -> &str {
        &self.text[self.upstream.0 as usize..self.upstream.1 as usize]
    }

    /// The Debian revision, empty when absent.
    pub fn revision(&self) -> &str {
        &self.text[self.revision_start as usize..]
    }
}

/// Compares two version strings as dpkg does, without allocating. Unparseable input is
/// compared as if it were a plain upstream version (dpkg's lenient reading of the index).
pub fn compare_str(a: &str, b: &str) -> Ordering {
    match (Version::parse(a), Version::parse(b)) {
        (Ok(a), Ok(b)) => a.cmp(&b),
        _ => verrevcmp(a.as_bytes(), b.as_bytes()),
    }
}

/// dpkg's character weight: digits 0 (never reached), letters themselves, `~` below
/// everything, the end of string 0, every other symbol above all letters.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`, on byte strings.
fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0usize, 0usize);
    let at = |s: &[u8], k: usize| s.get(k).copied();
    let is_digit = |c: Option<u8>| c.is_some_and(|c| c.is_ascii_digit());
    while i < a.len() || j < b.len() {
        while (i < a.len() && !is_digit(at(a, i))) || (j < b.len() && !is_digit(at(b, j))) {
            let ac = order(at(a, i));
            let bc = order(at(b, j));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while at(a, i) == Some(b'0') {
            i += 1;
        }
        while at(b, j) == Some(b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while is_digit(at(a, i)) && is_digit(at(b, j)) {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if is_digit(at(a, i)) {
            return Ordering::Greater;
        }
        if is_digit(at(b, j)) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| verrevcmp(self.upstream().as_bytes(), other.upstream().as_bytes()))
            .then_with(|| verrevcmp(self.revision().as_bytes(), other.revision().as_bytes()))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Version({:?})", &*self.text)
    }
}

impl std::str::FromStr for Version {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Version::parse(s)
    }
}

impl serde::Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> serde::Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Version::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn splits_epoch_upstream_revision() {
        let x = v("1:2.30-1+b2");
        assert_eq!((x.epoch(), x.upstream(), x.revision()), (1, "2.30", "1+b2"));
        let y = v("2.0-rc1-3");
        assert_eq!((y.upstream(), y.revision()), ("2.0-rc1", "3"));
        let z = v("5.2.15");
        assert_eq!((z.upstream(), z.revision()), ("5.2.15", ""));
    }

    #[test]
    fn orders_like_dpkg() {
        let ordered = [
            "1.0~rc1", "1.0", "1.0-0", "1.0-1", "1.0a", "1.0+b1", "1.0.1", "1:0.1",
        ];
        for pair in ordered.windows(2) {
            assert!(v(pair[0]) <= v(pair[1]), "{} <= {}", pair[0], pair[1]);
        }
        assert!(v("1.0~~") < v("1.0~"));
        assert!(v("1.0~") < v("1.0"));
        assert_eq!(v("1.0"), v("1.0-0"));
        assert_eq!(v("0:1.0"), v("1.0"));
        assert_eq!(v("1.16.2+ds-1"), v("1.16.2+ds0-1"));
        assert!(v("1.0-1") < v("1.0-1.1"));
        assert!(v("1.0a") < v("1.0+"));
    }

    #[test]
    fn rejects_what_dpkg_rejects() {
        assert_eq!(Version::parse(""), Err(VersionError::Empty));
        assert_eq!(Version::parse("1 0"), Err(VersionError::EmbeddedSpace));
        assert!(matches!(
            Version::parse("a:1"),
            Err(VersionError::BadEpoch(_))
        ));
        assert_eq!(Version::parse("1:"), Err(VersionError::NothingAfterColon));
        assert_eq!(Version::parse("1.0-"), Err(VersionError::EmptyRevision));
        assert_eq!(Version::parse("1.0_1"), Err(VersionError::InvalidChar('_')));
    }
}
