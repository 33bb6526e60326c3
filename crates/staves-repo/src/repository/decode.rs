//! An index decoded as it is verified: the compressed bytes hashed against the signed
//! checksum while they are decompressed into the cache, bounded against bombs, and refused
//! whole when the checksum or the size is wrong.

use std::io::{Read, Write};
use std::path::Path;

use staves_net::network;

use crate::RepoError;
use crate::index::{TextDigest, TextHasher};
use crate::release::FileEntry;

/// Without a signed uncompressed size, an index may expand to this multiple of its
/// compressed size (Debian's xz indices expand about six times)…
pub(super) const MAX_INDEX_RATIO: u64 = 50;

/// …or to this, whichever is larger.
pub(super) const MIN_INDEX_LIMIT: u64 = 64 << 20;

/// Reads a cache file of at most `limit` bytes.
pub(super) fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, RepoError> {
    staves_fs::read_regular(path, limit).map_err(RepoError::io("reading", path))
}

/// Streams `body` through a hasher and the right decompressor into `out`, then checks the
/// hash and size of what arrived against the signed entry. Returns the decoded text's digest;
/// more than `limit` decoded bytes are refused.
pub(super) fn decode_verified(
    body: &mut dyn Read,
    out: &mut std::fs::File,
    path: &str,
    entry: &FileEntry,
    url: &str,
    target: &Path,
    limit: u64,
) -> Result<TextDigest, RepoError> {
    // One byte more than signed is enough to know the size is wrong.
    let mut bounded = body.take(entry.size.saturating_add(1));
    let mut hashing = staves_net::Hashing::new(&mut bounded);
    let mut writer = GuardedWriter {
        inner: std::io::BufWriter::with_capacity(1 << 16, out),
        hasher: TextHasher::default(),
        written: 0,
        limit,
        fault: None,
    };
    let copied = if path.ends_with(".xz") {
        std::io::copy(
            &mut liblzma::read::XzDecoder::new_multi_decoder(&mut hashing),
            &mut writer,
        )
    } else if path.ends_with(".gz") {
        std::io::copy(
            &mut flate2::read::MultiGzDecoder::new(&mut hashing),
            &mut writer,
        )
    } else {
        std::io::copy(&mut hashing, &mut writer)
    };
    if let Some(e) = hashing.take_error() {
        return Err(network(url)(e).into());
    }
    // A full disk is the disk's fault, not the data's: say so, and do not retry.
    match writer.fault.take() {
        Some(WriteFault::TooLarge) => {
            return Err(RepoError::TooLarge {
                what: format!("{url} (decompressed)"),
                limit,
            });
        }
        Some(WriteFault::Io(e)) => return Err(RepoError::io("writing", target)(e)),
        None => {}
    }
    if let Err(e) = copied {
        // Neither the network nor the disk (both checked above): the stream is corrupt.
        return Err(RepoError::Checksum {
            what: url.to_owned(),
            expected: entry.sha256.clone(),
            actual: format!("undecodable data ({e})"),
        });
    }
    // Trailing bytes after the compressed stream still count towards size and hash.
    std::io::copy(&mut hashing, &mut std::io::sink()).map_err(network(url))?;
    std::io::Write::flush(&mut writer.inner).map_err(RepoError::io("writing", target))?;
    let (actual, received) = hashing.finish();
    if received != entry.size {
        return Err(RepoError::Size {
            what: url.to_owned(),
            expected: entry.size,
            actual: received,
        });
    }
    if actual != entry.sha256 {
        return Err(RepoError::Checksum {
            what: url.to_owned(),
            expected: entry.sha256.clone(),
            actual,
        });
    }
    Ok(writer.hasher.finish())
}

enum WriteFault {
    TooLarge,
    Io(std::io::Error),
}

/// Writes decoded text to the cache, hashing it, refusing more than `limit` bytes, and
/// remembering why a write failed so that it is not mistaken for corrupt data.
struct GuardedWriter<W: Write> {
    inner: W,
    hasher: TextHasher,
    written: u64,
    limit: u64,
    fault: Option<WriteFault>,
}

impl<W: Write> Write for GuardedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.written + buf.len() as u64 > self.limit {
            self.fault = Some(WriteFault::TooLarge);
            return Err(std::io::Error::other("decoded index too large"));
        }
        match self.inner.write(buf) {
            Ok(n) => {
                self.hasher.update(&buf[..n]);
                self.written += n as u64;
                Ok(n)
            }
            Err(e) => {
                let kind = e.kind();
                self.fault = Some(WriteFault::Io(e));
                Err(std::io::Error::new(kind, "cache write failed"))
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
