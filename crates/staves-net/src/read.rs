//! Readers that watch the bytes going by: counted (into a progress bar), or hashed with
//! SHA-256 while they stream, so nothing is read twice to be checked.

use std::io::Read;

use sha2::{Digest, Sha256};

/// Tells `count` of every byte read through it: a progress bar's downloads, or a request
/// body's bytes sent.
pub struct Counted<R, F> {
    inner: R,
    count: F,
}

impl<R: Read, F: FnMut(u64)> Counted<R, F> {
    /// Reads `inner`, calling `count` with each read's length.
    pub fn new(inner: R, count: F) -> Self {
        Counted { inner, count }
    }
}

impl<R: Read, F: FnMut(u64)> Read for Counted<R, F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        (self.count)(n as u64);
        Ok(n)
    }
}

/// Hashes (SHA-256) and counts what is read through it. A read error of the source is kept
/// ([`Hashing::take_error`]): a decoder reading through it turns errors into its own, and
/// the caller must still be able to tell a broken connection from corrupt data.
pub struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
    error: Option<std::io::Error>,
}

impl<R: Read> Hashing<R> {
    /// Reads `inner`, hashing from here on.
    pub fn new(inner: R) -> Self {
        Self::resuming(inner, Sha256::new(), 0)
    }

    /// Reads `inner` as the continuation of `bytes` bytes already fed to `hasher` (a
    /// download resumed with a range request).
    pub fn resuming(inner: R, hasher: Sha256, bytes: u64) -> Self {
        Hashing {
            inner,
            hasher,
            bytes,
            error: None,
        }
    }

    /// The read error of the source, if one happened.
    pub fn take_error(&mut self) -> Option<std::io::Error> {
        self.error.take()
    }

    /// Bytes read so far (with those already hashed when resumed).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The hasher as it stands, to resume from after a broken transfer.
    pub fn hasher(&self) -> &Sha256 {
        &self.hasher
    }

    /// The lower-case hex SHA-256 and size of everything read.
    pub fn finish(self) -> (String, u64) {
        (hex::encode(self.hasher.finalize()), self.bytes)
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.hasher.update(&buf[..n]);
                self.bytes += n as u64;
                Ok(n)
            }
            Err(e) => {
                let kind = e.kind();
                self.error = Some(e);
                Err(std::io::Error::new(kind, "the source failed"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_what_it_reads() {
        let mut reader = Hashing::new(&b"hello"[..]);
        std::io::copy(&mut reader, &mut std::io::sink()).unwrap();
        let (digest, bytes) = reader.finish();
        assert_eq!(bytes, 5);
        assert_eq!(
            digest,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
    }
}
