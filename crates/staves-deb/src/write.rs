//! Writing `.deb` files the way `dpkg-deb --build --root-owner-group` does, reproducibly:
//! members and tar entries dated at one given time (`SOURCE_DATE_EPOCH`), owned by root,
//! in sorted order, names written `./path`, contents xz-compressed with one fixed preset.
//! `md5sums` is computed from the files, `conffiles` written when there are any.
//!
//! File contents are streamed from disk into the data archive, which is streamed into the
//! output: its size is written into the `ar` header afterwards, which is why the output
//! must be seekable.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use md5::{Digest, Md5};

/// One entry of a package's data archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path inside the package, relative (`usr/bin/hello`).
    pub path: String,
    /// What it is.
    pub kind: EntryKind,
}

/// The kind of an [`Entry`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A directory, mode 0755.
    Dir,
    /// A regular file read from `source`: mode 0755 when `executable`, else 0644.
    File {
        /// Where its content is.
        source: PathBuf,
        /// Its size, for `Installed-Size`.
        size: u64,
        /// Whether it gets the execute bits.
        executable: bool,
    },
    /// A symbolic link.
    Symlink {
        /// Its target, as written.
        target: String,
    },
}

/// A package to write.
#[derive(Debug, Clone)]
pub struct NewDeb<'a> {
    /// The control paragraph, `Installed-Size` included (see [`installed_size`]).
    pub control: &'a str,
    /// The entries, in any order: they are written sorted by path, parents first.
    pub entries: &'a [Entry],
    /// The time every member and entry is dated (seconds since the epoch).
    pub mtime: u64,
    /// Maintainer scripts (`postinst`, …) by name, written executable into the control
    /// archive.
    pub scripts: &'a [(&'a str, &'a str)],
}

/// `Installed-Size` as `dpkg-gencontrol` counts it: KiB per file rounded up, one per other
/// entry.
pub fn installed_size(entries: &[Entry]) -> u64 {
    entries
        .iter()
        .map(|e| match &e.kind {
            EntryKind::File { size, .. } => size.div_ceil(1024),
            _ => 1,
        })
        .sum()
}

/// Whether a path is a configuration file by debhelper's rule: everything under `etc/`.
pub fn is_conffile(path: &str) -> bool {
    path.starts_with("etc/")
}

/// Writes `deb` to `out`.
pub fn write_deb<W: Write + Seek>(mut out: W, deb: &NewDeb<'_>) -> io::Result<()> {
    // One path per line in `md5sums`, `conffiles` and dpkg's `.list`: a newline in a name
    // would split it into two paths there (dpkg-deb refuses such names too).
    if let Some(bad) = deb.entries.iter().find(|e| e.path.contains(['\n', '\r'])) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "`{}` has a line break in its name, which dpkg cannot list; rename it",
                bad.path.escape_debug()
            ),
        ));
    }
    let mut entries: Vec<&Entry> = deb.entries.iter().collect();
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    for pair in entries.windows(2) {
        if pair[0].path == pair[1].path {
            return Err(io::Error::other(format!(
                "`{}` is in the package twice",
                pair[0].path
            )));
        }
    }
    let control = control_archive(deb, &entries)?;
    out.write_all(b"!<arch>\n")?;
    member(&mut out, "debian-binary", deb.mtime, b"2.0\n")?;
    member(&mut out, "control.tar.xz", deb.mtime, &control)?;
    // The data archive is streamed: a header with a placeholder size, the bytes, then the
    // header again with the real size.
    let header_at = out.stream_position()?;
    out.write_all(&ar_header("data.tar.xz", deb.mtime, 0))?;
    let start = out.stream_position()?;
    let mut xz = liblzma::write::XzEncoder::new(&mut out, 6);
    tar_entries(&mut xz, &entries, deb.mtime)?;
    xz.finish()?;
    let end = out.stream_position()?;
    out.seek(SeekFrom::Start(header_at))?;
    out.write_all(&ar_header("data.tar.xz", deb.mtime, end - start))?;
    out.seek(SeekFrom::Start(end))?;
    if (end - start) % 2 == 1 {
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// `control.tar.xz`: `control`, `md5sums` and, when any, `conffiles` and maintainer scripts.
fn control_archive(deb: &NewDeb<'_>, entries: &[&Entry]) -> io::Result<Vec<u8>> {
    let mut md5sums = String::new();
    let mut conffiles = String::new();
    for entry in entries {
        if let EntryKind::File { source, .. } = &entry.kind {
            let mut hasher = Md5::new();
            io::copy(&mut File::open(source)?, &mut hasher)?;
            md5sums.push_str(&format!(
                "{:x}  {}\n",
                hasher.finalize(),
                entry.path.trim_start_matches('/')
            ));
            if is_conffile(&entry.path) {
                conffiles.push_str(&format!("/{}\n", entry.path));
            }
        }
    }
    let mut control = deb.control.trim_end().to_owned();
    control.push('\n');
    let mut files: Vec<(&str, &[u8], u32)> = vec![("control", control.as_bytes(), 0o644)];
    if !md5sums.is_empty() {
        files.push(("md5sums", md5sums.as_bytes(), 0o644));
    }
    if !conffiles.is_empty() {
        files.push(("conffiles", conffiles.as_bytes(), 0o644));
    }
    for (name, text) in deb.scripts {
        files.push((name, text.as_bytes(), 0o755));
    }
    files.sort();
    let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 6);
    {
        let mut tar = tar::Builder::new(&mut xz);
        tar.append(
            &header("./", tar::EntryType::Directory, 0o755, 0, deb.mtime)?,
            io::empty(),
        )?;
        for (name, bytes, mode) in files {
            let h = header(
                &format!("./{name}"),
                tar::EntryType::Regular,
                mode,
                bytes.len() as u64,
                deb.mtime,
            )?;
            tar.append(&h, bytes)?;
        }
        tar.finish()?;
    }
    xz.finish()
}

/// The data archive's entries: `./`, then every entry, each parent before its children.
fn tar_entries<W: Write>(out: W, entries: &[&Entry], mtime: u64) -> io::Result<()> {
    let mut tar = tar::Builder::new(out);
    tar.append(
        &header("./", tar::EntryType::Directory, 0o755, 0, mtime)?,
        io::empty(),
    )?;
    for entry in entries {
        let name = format!("./{}", entry.path.trim_matches('/'));
        match &entry.kind {
            EntryKind::Dir => {
                long_name(&mut tar, &format!("{name}/"), mtime)?;
                let h = header(
                    &format!("{name}/"),
                    tar::EntryType::Directory,
                    0o755,
                    0,
                    mtime,
                )?;
                tar.append(&h, io::empty())?;
            }
            EntryKind::File {
                source,
                size,
                executable,
            } => {
                long_name(&mut tar, &name, mtime)?;
                let mode = if *executable { 0o755 } else { 0o644 };
                let h = header(&name, tar::EntryType::Regular, mode, *size, mtime)?;
                // Exactly `size` bytes are written: a file that changed size since it was
                // listed makes the archive fail rather than come out corrupt.
                let mut file = File::open(source)?.take(*size);
                let mut counted = Counted(&mut file, 0);
                tar.append(&h, &mut counted)?;
                if counted.1 != *size {
                    return Err(io::Error::other(format!(
                        "{} changed while it was packaged",
                        source.display()
                    )));
                }
            }
            EntryKind::Symlink { target } => {
                long_name(&mut tar, &name, mtime)?;
                if target.len() > 100 {
                    let mut data = target.as_bytes().to_vec();
                    data.push(0);
                    let kind = tar::EntryType::GNULongLink;
                    let h = header("././@LongLink", kind, 0o644, data.len() as u64, mtime)?;
                    tar.append(&h, data.as_slice())?;
                }
                let mut h = header(&name, tar::EntryType::Symlink, 0o777, 0, mtime)?;
                let kept = target.len().min(100);
                h.as_old_mut().linkname[..kept].copy_from_slice(&target.as_bytes()[..kept]);
                h.set_cksum();
                tar.append(&h, io::empty())?;
            }
        }
    }
    tar.into_inner()?.flush()
}

/// A reader that counts what it gives.
struct Counted<R>(R, u64);

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.0.read(buf)?;
        self.1 += n as u64;
        Ok(n)
    }
}

/// A GNU header named exactly `name` (the tar crate's own path setter drops the `./`
/// that dpkg writes), owned by root. Names longer than the header holds are written in a
/// preceding GNU long-name entry ([`long_name`]); the header keeps their first 100 bytes.
fn header(
    name: &str,
    kind: tar::EntryType,
    mode: u32,
    size: u64,
    mtime: u64,
) -> io::Result<tar::Header> {
    let mut h = tar::Header::new_gnu();
    let bytes = name.as_bytes();
    let kept = bytes.len().min(100);
    h.as_old_mut().name[..kept].copy_from_slice(&bytes[..kept]);
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(mtime);
    h.set_uid(0);
    h.set_gid(0);
    h.set_username("root")?;
    h.set_groupname("root")?;
    h.set_cksum();
    Ok(h)
}

/// For a name of more than 100 bytes, the GNU `././@LongLink` entry that carries it.
fn long_name<W: Write>(tar: &mut tar::Builder<W>, name: &str, mtime: u64) -> io::Result<()> {
    if name.len() <= 100 {
        return Ok(());
    }
    let mut data = name.as_bytes().to_vec();
    data.push(0);
    let h = header(
        "././@LongLink",
        tar::EntryType::GNULongName,
        0o644,
        data.len() as u64,
        mtime,
    )?;
    tar.append(&h, data.as_slice())
}

fn member<W: Write>(out: &mut W, name: &str, mtime: u64, bytes: &[u8]) -> io::Result<()> {
    out.write_all(&ar_header(name, mtime, bytes.len() as u64))?;
    out.write_all(bytes)?;
    if bytes.len() % 2 == 1 {
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// An `ar` member header: name, date, owner 0/0, mode 100644, size.
fn ar_header(name: &str, mtime: u64, size: u64) -> [u8; 60] {
    let text = format!(
        "{name:<16}{mtime:<12}{:<6}{:<6}{:<8}{size:<10}`\n",
        0, 0, 100644
    );
    let mut header = [b' '; 60];
    header.copy_from_slice(&text.as_bytes()[..60]);
    header
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deb::DebFile;

    fn sample(dir: &std::path::Path) -> Vec<Entry> {
        let file = dir.join("hello");
        std::fs::write(&file, b"#!/bin/sh\necho hello\n").expect("write");
        let conf = dir.join("conf");
        std::fs::write(&conf, b"x = 1\n").expect("write");
        let long = format!("usr/share/doc/{}/README", "a".repeat(120));
        vec![
            Entry {
                path: "usr/bin/hello".into(),
                kind: EntryKind::File {
                    source: file,
                    size: 21,
                    executable: true,
                },
            },
            Entry {
                path: "usr".into(),
                kind: EntryKind::Dir,
            },
            Entry {
                path: "usr/bin".into(),
                kind: EntryKind::Dir,
            },
            Entry {
                path: "etc/hello.conf".into(),
                kind: EntryKind::File {
                    source: conf.clone(),
                    size: 6,
                    executable: false,
                },
            },
            Entry {
                path: "usr/bin/hi".into(),
                kind: EntryKind::Symlink {
                    target: "hello".into(),
                },
            },
            Entry {
                path: "usr/bin/far".into(),
                kind: EntryKind::Symlink {
                    target: format!("../share/{}/hello", "b".repeat(110)),
                },
            },
            Entry {
                path: long,
                kind: EntryKind::File {
                    source: conf,
                    size: 6,
                    executable: false,
                },
            },
        ]
    }

    #[test]
    fn a_written_package_reads_back_with_its_files_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let entries = sample(dir.path());
        let control = format!(
            "Package: hello\nVersion: 1.0-1\nArchitecture: all\nInstalled-Size: {}\nDescription: hi\n",
            installed_size(&entries)
        );
        let path = dir.path().join("hello.deb");
        let deb = NewDeb {
            control: &control,
            entries: &entries,
            mtime: 1_700_000_000,
            scripts: &[],
        };
        write_deb(File::create(&path).expect("create"), &deb).expect("write");
        let read = DebFile::open(&path).expect("a valid .deb");
        assert!(
            read.control.control.contains("Installed-Size: 7"),
            "{}",
            read.control.control
        );
        assert_eq!(read.control.conffiles.as_deref(), Some("/etc/hello.conf\n"));
        let md5sums = read.control.md5sums.clone().expect("md5sums");
        assert!(md5sums.contains("  usr/bin/hello\n"), "{md5sums}");
        let mut archive = tar::Archive::new(read.data().expect("data"));
        let mut names = Vec::new();
        for entry in archive.entries().expect("entries") {
            let entry = entry.expect("entry");
            let header = entry.header();
            assert_eq!(header.mtime().expect("mtime"), 1_700_000_000);
            assert_eq!(header.uid().expect("uid"), 0);
            if entry.path_bytes().ends_with(b"usr/bin/hello") {
                assert_eq!(header.mode().expect("mode"), 0o755);
            }
            names.push(String::from_utf8_lossy(&entry.path_bytes()).into_owned());
        }
        assert_eq!(names[0], "./");
        assert_eq!(names[1], "./etc/hello.conf");
        assert!(names.contains(&"./usr/bin/".to_owned()));
        assert!(
            names
                .iter()
                .any(|n| n.ends_with("/README") && n.len() > 120)
        );
        let again = dir.path().join("again.deb");
        write_deb(File::create(&again).expect("create"), &deb).expect("write");
        assert_eq!(
            std::fs::read(&path).expect("read"),
            std::fs::read(&again).expect("read"),
            "the same inputs make the same bytes"
        );
    }

    #[test]
    fn a_path_given_twice_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut entries = sample(dir.path());
        entries.push(entries[0].clone());
        let deb = NewDeb {
            control: "Package: x\n",
            entries: &entries,
            mtime: 0,
            scripts: &[],
        };
        let out = std::io::Cursor::new(Vec::new());
        assert!(write_deb(out, &deb).is_err());
    }

    #[test]
    fn a_name_with_a_line_break_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut entries = sample(dir.path());
        entries[0].path = "usr/share/evil\nusr/bin/sh".into();
        let deb = NewDeb {
            control: "Package: x\n",
            entries: &entries,
            mtime: 0,
            scripts: &[],
        };
        let out = std::io::Cursor::new(Vec::new());
        let error = write_deb(out, &deb).expect_err("refused");
        assert!(error.to_string().contains("line break"), "{error}");
    }
}
