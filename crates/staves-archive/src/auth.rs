//! Who may upload: a bearer token from the `Authorization` header, checked against the
//! static tokens the archive is given (one per line of a file). Tokens are compared in
//! constant time; none is ever logged.

use std::path::Path;

use crate::error::ArchiveError;

/// The tokens that may upload.
#[derive(Clone, Default)]
pub struct Tokens {
    tokens: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokens({} configured)", self.tokens.len())
    }
}

/// Why a request may not upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No bearer token.
    Missing,
    /// A token that is not one of the archive's.
    Invalid,
}

impl Tokens {
    /// Reads a token file: one token per line; blank lines and `#` comments are skipped.
    pub fn from_file(path: &Path) -> Result<Tokens, ArchiveError> {
        let bytes = staves_fs::read_regular(path, 1 << 20)
            .map_err(ArchiveError::io("reading the token file", path))?;
        let text = String::from_utf8_lossy(&bytes);
        let tokens: Vec<Vec<u8>> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| l.as_bytes().to_vec())
            .collect();
        if tokens.is_empty() {
            return Err(ArchiveError::Config(format!(
                "{} holds no token: write one per line",
                path.display()
            )));
        }
        if let Some(short) = tokens.iter().find(|t| t.len() < 16) {
            return Err(ArchiveError::Config(format!(
                "{}: a token of {} characters is too easy to guess; use at least 16 (`openssl rand -hex 32` makes one)",
                path.display(),
                short.len()
            )));
        }
        Ok(Tokens { tokens })
    }

    /// Checks an `Authorization` header's value.
    pub fn check(&self, header: Option<&str>) -> Result<(), Denied> {
        let token = header
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(Denied::Missing)?;
        let mut found = false;
        for known in &self.tokens {
            found |= constant_time_eq(known, token.as_bytes());
        }
        if found { Ok(()) } else { Err(Denied::Invalid) }
    }
}

/// Equality whose time depends on the lengths only, not on where the bytes differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_listed_bearer_token_passes() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("tokens");
        std::fs::write(&file, "# ci\n0123456789abcdef0123\n\n").expect("write");
        let tokens = Tokens::from_file(&file).expect("tokens");
        assert_eq!(tokens.check(Some("Bearer 0123456789abcdef0123")), Ok(()));
        assert_eq!(
            tokens.check(Some("Bearer 0123456789abcdef0124")),
            Err(Denied::Invalid)
        );
        assert_eq!(tokens.check(Some("Basic abc")), Err(Denied::Missing));
        assert_eq!(tokens.check(None), Err(Denied::Missing));
        std::fs::write(&file, "short\n").expect("write");
        assert!(Tokens::from_file(&file).is_err());
    }
}
