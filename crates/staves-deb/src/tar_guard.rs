//! A watch on a tar stream before the tar reader sees it: a package's data archive, an image
//! layer, a docker-archive.
//!
//! A package comes from a signed repository and a layer from a layout or a registry, which
//! does not make either benign. Two things the
//! tar reader would do on our behalf are unbounded: it reads GNU long names and PAX headers
//! whole into memory (a 2 GiB "name" is 2 GiB of RAM), and it happily decodes a small
//! compressed archive into terabytes. This reader follows the tar framing as bytes pass —
//! each 512-byte header, the size it declares, the data it skips — refuses metadata entries
//! above [`MAX_META_ENTRY`], and refuses a stream longer than the limit it was given.

use std::io::{self, Read};

/// The largest long name, long link target or PAX header accepted.
pub const MAX_META_ENTRY: u64 = 1 << 20;

/// A reader that enforces the limits; see the module documentation.
pub struct TarGuard<R> {
    inner: R,
    limit: u64,
    read: u64,
    /// Stream offset of the next header.
    next_header: u64,
    header: [u8; 512],
    filled: usize,
}

impl<R: Read> TarGuard<R> {
    /// Watches `inner`, allowing at most `limit` bytes.
    pub fn new(inner: R, limit: u64) -> Self {
        TarGuard {
            inner,
            limit,
            read: 0,
            next_header: 0,
            header: [0; 512],
            filled: 0,
        }
    }

    /// The reader watched.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Follows the bytes `buf` (which start at stream offset `start`) through the framing.
    fn follow(&mut self, buf: &[u8], start: u64) -> io::Result<()> {
        let mut at = start;
        let end = start + buf.len() as u64;
        while at < end {
            if at < self.next_header {
                at = self.next_header.min(end);
                continue;
            }
            let offset = (at - start) as usize;
            let take = (512 - self.filled).min(buf.len() - offset);
            self.header[self.filled..self.filled + take]
                .copy_from_slice(&buf[offset..offset + take]);
            self.filled += take;
            at += take as u64;
            if self.filled == 512 {
                self.filled = 0;
                let size = declared_size(&self.header)?;
                if matches!(self.header[156], b'L' | b'K' | b'x' | b'g') && size > MAX_META_ENTRY {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "a tar metadata entry (long name or PAX header) of {size} bytes; at most {MAX_META_ENTRY} are accepted"
                        ),
                    ));
                }
                self.next_header = at.saturating_add(size.div_ceil(512).saturating_mul(512));
            }
        }
        Ok(())
    }
}

/// Walks the headers of the tar file `file` by seeking past each entry's data, refusing
/// metadata entries above [`MAX_META_ENTRY`] before a tar reader that lists the file with
/// seeks (and reads long names whole) sees them. Leaves `file` at its start.
pub fn check_headers<F: Read + io::Seek>(file: &mut F) -> io::Result<()> {
    let mut header = [0u8; 512];
    let mut at = 0u64;
    loop {
        file.seek(io::SeekFrom::Start(at))?;
        match file.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
        if header.iter().all(|&b| b == 0) {
            break;
        }
        let size = declared_size(&header)?;
        if matches!(header[156], b'L' | b'K' | b'x' | b'g') && size > MAX_META_ENTRY {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "a tar metadata entry (long name or PAX header) of {size} bytes; at most {MAX_META_ENTRY} are accepted"
                ),
            ));
        }
        at = at
            .saturating_add(512)
            .saturating_add(size.div_ceil(512).saturating_mul(512));
    }
    file.seek(io::SeekFrom::Start(0))?;
    Ok(())
}

/// The size field of a tar header: octal, or base-256 when its top bit is set.
fn declared_size(header: &[u8; 512]) -> io::Result<u64> {
    let field = &header[124..136];
    if field[0] & 0x80 != 0 {
        let mut value: u64 = 0;
        for (i, &b) in field.iter().enumerate() {
            let b = if i == 0 { b & 0x7f } else { b };
            value = value
                .checked_mul(256)
                .and_then(|v| v.checked_add(u64::from(b)))
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "tar size overflows"))?;
        }
        return Ok(value);
    }
    let text: String = field
        .iter()
        .take_while(|&&b| b != 0)
        .map(|&b| b as char)
        .collect();
    let text = text.trim();
    if text.is_empty() {
        return Ok(0); // an all-zero end-of-archive block
    }
    u64::from_str_radix(text, 8)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "tar header with a bad size"))
}

impl<R: Read> Read for TarGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let start = self.read;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the tar stream unpacks to more than {} bytes, far beyond what it declares (a decompression bomb?)",
                    self.limit
                ),
            ));
        }
        self.follow(&buf[..n], start)?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: u8, size: u64) -> Vec<u8> {
        let mut header = tar::Header::new_gnu();
        header.set_size(size);
        header.set_entry_type(tar::EntryType::new(kind));
        header.set_cksum();
        let mut out = header.as_bytes().to_vec();
        out.resize(out.len() + size.div_ceil(512) as usize * 512, b'a');
        out
    }

    fn drain(bytes: &[u8], limit: u64) -> io::Result<u64> {
        // Small reads, so that headers straddle them.
        let mut guard = TarGuard::new(bytes, limit);
        let mut buf = [0u8; 100];
        let mut total = 0;
        loop {
            match guard.read(&mut buf)? {
                0 => return Ok(total),
                n => total += n as u64,
            }
        }
    }

    #[test]
    fn passes_ordinary_archives() {
        let mut tar = entry(b'0', 5000);
        tar.extend(entry(b'L', 300));
        tar.extend(entry(b'0', 10));
        tar.extend([0u8; 1024]);
        assert_eq!(drain(&tar, 1 << 20).expect("passes"), tar.len() as u64);
    }

    #[test]
    fn refuses_huge_metadata_entries() {
        // Only the header is needed: the declared size is refused before its data arrives.
        let mut tar = entry(b'0', 10);
        let mut header = tar::Header::new_gnu();
        header.set_size(2 << 30);
        header.set_entry_type(tar::EntryType::GNULongName);
        header.set_cksum();
        tar.extend_from_slice(header.as_bytes());
        let error = drain(&tar, u64::MAX).expect_err("refused");
        assert!(error.to_string().contains("long name"), "{error}");
    }

    #[test]
    fn refuses_streams_beyond_the_limit() {
        let tar = entry(b'0', 100_000);
        let error = drain(&tar, 50_000).expect_err("refused");
        assert!(error.to_string().contains("decompression bomb"), "{error}");
    }

    #[test]
    fn reads_base_256_sizes() {
        let mut header = [0u8; 512];
        header[124] = 0x80;
        header[135] = 1;
        header[134] = 2;
        assert_eq!(declared_size(&header).expect("size"), 513);
    }
}
