//! `.deb` files: an `ar` archive holding `debian-binary`, `control.tar.*` and `data.tar.*`.
//!
//! [`DebFile`] reads the member table and the control archive up front (it is small) and
//! hands out the data archive as a decompressing stream, so package contents go straight
//! from the `.deb` into an image layer without being unpacked anywhere.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Why a `.deb` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DebError {
    /// Reading the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The .deb.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The file is not a valid Debian binary package.
    #[error("{path}: {message}")]
    Malformed {
        /// The .deb.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// How a member is compressed, from its name's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// `.tar`
    None,
    /// `.tar.gz`
    Gzip,
    /// `.tar.xz`
    Xz,
    /// `.tar.zst`
    Zstd,
    /// `.tar.bz2`
    Bzip2,
}

impl Compression {
    fn from_member(name: &str, prefix: &str) -> Option<Compression> {
        match name.strip_prefix(prefix)? {
            ".tar" => Some(Compression::None),
            ".tar.gz" => Some(Compression::Gzip),
            ".tar.xz" => Some(Compression::Xz),
            ".tar.zst" => Some(Compression::Zstd),
            ".tar.bz2" => Some(Compression::Bzip2),
            _ => None,
        }
    }

    /// Wraps `inner` in the matching decompressor.
    pub fn decoder<'a, R: Read + 'a>(self, inner: R) -> io::Result<Box<dyn Read + 'a>> {
        Ok(match self {
            Compression::None => Box::new(inner),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(inner)),
            Compression::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(inner)),
            Compression::Zstd => {
                Box::new(ruzstd::decoding::StreamingDecoder::new(inner).map_err(io::Error::other)?)
            }
            Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(inner)),
        })
    }
}

/// Files of the control archive that image assembly uses.
#[derive(Debug, Clone, Default)]
pub struct ControlFiles {
    /// `control`: the package's paragraph.
    pub control: String,
    /// `md5sums`, when shipped.
    pub md5sums: Option<String>,
    /// `conffiles`, when shipped.
    pub conffiles: Option<String>,
    /// `postinst`, when shipped (read for the effects images need, never run).
    pub postinst: Option<String>,
    /// `preinst`, when shipped (read like `postinst`: its effects, never run).
    pub preinst: Option<String>,
    /// `config`, when shipped: the debconf script that asks (and may set) the questions
    /// `postinst` reads; read like `postinst`, never run.
    pub config: Option<String>,
    /// `templates`, when shipped: the debconf questions and their defaults.
    pub templates: Option<String>,
    /// `shlibs`, `symbols` and `triggers`, when shipped: what `dpkg-shlibdeps` and
    /// `dpkg-gensymbols` read from the database of a build root.
    pub build_info: Vec<(String, String)>,
    /// Newest modification time in the control archive: when the package was built.
    pub mtime: u64,
}

/// An opened `.deb`.
#[derive(Debug)]
pub struct DebFile {
    path: PathBuf,
    /// Parsed control archive.
    pub control: ControlFiles,
    data_offset: u64,
    data_size: u64,
    data_compression: Compression,
}

impl DebFile {
    /// Reads the member table and the control archive of the `.deb` at `path`.
    pub fn open(path: &Path) -> Result<Self, DebError> {
        let io_err = |source| DebError::Io {
            path: path.to_owned(),
            source,
        };
        let malformed = |message: String| DebError::Malformed {
            path: path.to_owned(),
            message,
        };
        let mut file = BufReader::new(File::open(path).map_err(io_err)?);
        let mut magic = [0u8; 8];
        file.read_exact(&mut magic).map_err(io_err)?;
        if &magic != b"!<arch>\n" {
            return Err(malformed("not an ar archive".into()));
        }
        let mut offset = 8u64;
        let mut control = None;
        let mut data = None;
        let mut saw_binary = false;
        loop {
            let mut header = [0u8; 60];
            match file.read_exact(&mut header) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(io_err(e)),
            }
            if &header[58..60] != b"`\n" {
                return Err(malformed(format!("bad ar member header at byte {offset}")));
            }
            let name = String::from_utf8_lossy(&header[..16])
                .trim_end()
                .trim_end_matches('/')
                .to_owned();
            let size: u64 = String::from_utf8_lossy(&header[48..58])
                .trim()
                .parse()
                .map_err(|_| malformed(format!("bad size of member {name}")))?;
            let start = offset + 60;
            if name == "debian-binary" {
                // "2.0\n": a few bytes. A large member is refused before it is read.
                if size > MAX_DEBIAN_BINARY {
                    return Err(malformed(format!(
                        "debian-binary is {size} bytes; a format version has at most {MAX_DEBIAN_BINARY}"
                    )));
                }
                let mut version = String::new();
                (&mut file)
                    .take(size)
                    .read_to_string(&mut version)
                    .map_err(io_err)?;
                if !version.starts_with("2.") {
                    return Err(malformed(format!(
                        "unsupported format version {}",
                        version.trim()
                    )));
                }
                saw_binary = true;
            } else if let Some(c) = Compression::from_member(&name, "control") {
                let limited = (&mut file).take(size);
                control = Some(
                    read_control(c.decoder(limited).map_err(io_err)?)
                        .map_err(|e| malformed(format!("control archive: {e}")))?,
                );
                // The decoder may stop before the member's end; seek to it below.
            } else if let Some(c) = Compression::from_member(&name, "data") {
                data = Some((start, size, c));
            }
            offset = start + size + (size % 2);
            file.seek(SeekFrom::Start(offset)).map_err(io_err)?;
        }
        if !saw_binary {
            return Err(malformed("no debian-binary member".into()));
        }
        let control = control.ok_or_else(|| malformed("no control archive".into()))?;
        let (data_offset, data_size, data_compression) =
            data.ok_or_else(|| malformed("no data archive".into()))?;
        Ok(DebFile {
            path: path.to_owned(),
            control,
            data_offset,
            data_size,
            data_compression,
        })
    }

    /// Size of the (compressed) data archive member in bytes.
    pub fn data_size(&self) -> u64 {
        self.data_size
    }

    /// Compression of the data archive.
    pub fn data_compression(&self) -> Compression {
        self.data_compression
    }

    /// The most bytes of tar stream the data archive may unpack to. Debian's
    /// `Installed-Size` (in KiB) bounds a package's file content; tar headers and padding
    /// add up to a few KiB per file, so twice that plus 64 MiB leaves room. Whatever the
    /// package declares, it may not expand more than a thousand times (xz on real files
    /// stays below fifty).
    pub fn unpack_limit(&self) -> u64 {
        const SLACK: u64 = 64 << 20;
        let by_ratio = self.data_size.saturating_mul(1000).saturating_add(SLACK);
        let declared = crate::deb822::paragraphs(&self.control.control)
            .next()
            .and_then(|p| p.get("Installed-Size").map(str::to_owned))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|kib| kib.saturating_mul(2048).saturating_add(SLACK));
        declared.map_or(by_ratio, |d| d.min(by_ratio))
    }

    /// The data archive as an uncompressed tar stream.
    pub fn data(&self) -> Result<Box<dyn Read>, DebError> {
        let io_err = |source| DebError::Io {
            path: self.path.clone(),
            source,
        };
        let mut file = File::open(&self.path).map_err(io_err)?;
        file.seek(SeekFrom::Start(self.data_offset))
            .map_err(io_err)?;
        let limited = BufReader::with_capacity(1 << 16, file).take(self.data_size);
        self.data_compression.decoder(limited).map_err(io_err)
    }
}

/// The largest `debian-binary` member read (it holds `2.0\n`).
pub const MAX_DEBIAN_BINARY: u64 = 64;
/// The most bytes a control archive may unpack to.
pub const MAX_CONTROL_ARCHIVE: u64 = 256 << 20;
/// The largest `control`, `conffiles` or `postinst` read (Debian's largest are a few
/// hundred KB).
pub const MAX_CONTROL_FILE: u64 = 4 << 20;
/// The largest `md5sums` read (a package of 100,000 files has about 10 MB).
pub const MAX_MD5SUMS: u64 = 64 << 20;

/// Reads the interesting files out of a control tar, each within its bound.
fn read_control(reader: Box<dyn Read + '_>) -> io::Result<ControlFiles> {
    let mut files = ControlFiles::default();
    let mut archive = tar::Archive::new(crate::deb::Bounded {
        inner: reader,
        left: MAX_CONTROL_ARCHIVE,
    });
    for entry in archive.entries()? {
        let mut entry = entry?;
        files.mtime = files.mtime.max(entry.header().mtime().unwrap_or(0));
        let path = entry
            .path()?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_owned();
        let slot = match path.as_str() {
            "control" => None,
            "md5sums" => Some(&mut files.md5sums),
            "conffiles" => Some(&mut files.conffiles),
            "postinst" => Some(&mut files.postinst),
            "templates" => Some(&mut files.templates),
            "preinst" => Some(&mut files.preinst),
            "config" => Some(&mut files.config),
            "shlibs" | "symbols" | "triggers" => None,
            _ => continue,
        };
        let limit = if path == "md5sums" {
            MAX_MD5SUMS
        } else {
            MAX_CONTROL_FILE
        };
        // What only build roots read is left out when it is too large, rather than making
        // the package unusable for images.
        if entry.size() > limit && matches!(path.as_str(), "shlibs" | "symbols" | "triggers") {
            continue;
        }
        if entry.size() > limit {
            return Err(io::Error::other(format!(
                "`{path}` is {} bytes; at most {limit} are read",
                entry.size()
            )));
        }
        let mut bytes = Vec::new();
        (&mut entry).take(limit).read_to_end(&mut bytes)?;
        // Scripts are read for what they do, and some carry Latin-1 in a comment or a
        // message (exim4-config's `config`): those bytes are not what is walked.
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) if path != "control" => String::from_utf8_lossy(e.as_bytes()).into_owned(),
            Err(_) => return Err(io::Error::other("the control file is not UTF-8")),
        };
        match slot {
            None if path == "control" => files.control = text,
            None => files.build_info.push((path, text)),
            Some(slot) => *slot = Some(text),
        }
    }
    if files.control.trim().is_empty() {
        return Err(io::Error::other("no control file"));
    }
    Ok(files)
}

/// Ends a stream with an error after `left` bytes.
struct Bounded<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self.left.checked_sub(n as u64).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unpacks to more than {MAX_CONTROL_ARCHIVE} bytes"),
            )
        })?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_debian_binary_is_refused_before_it_is_read() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("big.deb");
        // The header declares 400 MB; the file holds none of it: only the header is read.
        let mut bytes = b"!<arch>\n".to_vec();
        bytes.extend(
            format!(
                "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
                "debian-binary", 0, 0, 0, "100644", 400_000_000
            )
            .as_bytes(),
        );
        bytes.extend(b"2.0\n");
        std::fs::write(&path, bytes).expect("write");
        let error = DebFile::open(&path).expect_err("refused").to_string();
        assert!(
            error.contains("debian-binary is 400000000 bytes"),
            "{error}"
        );
    }
}
