//! What files need at run time that no package declares.
//!
//! Debian packages may rely on Essential packages without saying so, and an image holds only
//! what was declared. So while each file streams into the layer, its first bytes and its
//! content are looked at — no second read, no buffering:
//!
//! * an executable starting with `#!/bin/sh` or `#!/bin/bash` needs that shell;
//! * an ELF program (in a `bin`, `sbin` or `libexec` directory) whose string tables name
//!   `system` or `popen`, or that holds the string `/bin/sh`, runs `/bin/sh` (PostgreSQL's
//!   `initdb` does, through `popen`). The C library, which implements them, does not count.
//!
//! Only the shells count: they are Essential, so no package declares them, while every
//! other interpreter a package's scripts use must be declared (Debian Policy 10.4), and
//! when it is not the script is an optional extra. Scripts the container never runs
//! (init scripts, cron jobs, motd, network hooks) are not looked at, nor — by the caller —
//! the files of `Priority: required` packages, which are the base system's own plumbing.
//!
//! Once the image is complete, each requirement that no path of the image meets is an
//! [`Unmet`] in the build's summary, with the files that need it.

use std::collections::BTreeMap;
use std::io::Read;

use memchr::memmem;

/// Bytes kept from a file's start: enough for any `#!` line worth reading.
const HEAD: usize = 256;

/// Patterns in ELF files that mean "runs /bin/sh", and how to say so. The string table
/// entries are NUL-delimited on both sides; `/bin/sh` is a C string.
const SHELL_PATTERNS: &[(&[u8], &str)] = &[
    (b"\0system\0", "calls system()"),
    (b"\0popen\0", "calls popen()"),
    (b"/bin/sh\0", "runs /bin/sh"),
];

/// Interpreters that count (see the module's documentation).
const SHELLS: &[&str] = &["/bin/sh", "/bin/bash", "/usr/bin/sh", "/usr/bin/bash"];

/// Where scripts live that a container does not run.
const NOT_RUN: &[&str] = &[
    "/etc/init.d/",
    "/etc/cron.",
    "/etc/update-motd.d/",
    "/etc/network/",
    "/etc/logrotate.d/",
    "/etc/X11/",
    "/usr/share/doc/",
    "/usr/lib/tmpfiles.d/",
    "/usr/share/bug/",
];

/// Programs whose whole job Staves does while it builds the image, which a container has no
/// reason to run again.
const DONE_BY_STAVES: &[&str] = &["/usr/sbin/update-ca-certificates"];

/// Packages that implement `system()`/`popen()` rather than use them.
const SHELL_IMPLEMENTERS: &[&str] = &["libc6", "libc6-dev", "libc-bin", "musl"];

/// Packages Staves adds for services and runs only through scripts it writes, which never
/// reach their shell: `s6-log` runs `/bin/sh` only for a processor directive, and Staves
/// gives it a prefix alone.
const RUN_BY_STAVES: &[&str] = &["s6", "execline"];

/// A file's need for another path of the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// Absolute path needed (`/bin/sh`, `/usr/bin/perl`).
    pub requires: String,
    /// The package the needing file belongs to (`staves` for `[[paths]]`).
    pub package: String,
    /// The needing file, absolute.
    pub path: String,
    /// How it needs it: `calls popen()`, `#!/usr/bin/perl script`.
    pub why: String,
}

/// A requirement no path of the image meets, and what needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmet {
    /// The missing path.
    pub requires: String,
    /// Up to [`MAX_EXAMPLES`] files that need it.
    pub examples: Vec<Need>,
    /// How many files need it in all.
    pub count: usize,
}

/// Files named per unmet requirement; the rest are counted.
pub const MAX_EXAMPLES: usize = 3;

/// Looks at bytes as they pass through to the layer.
pub struct Sniffer<R> {
    inner: R,
    /// Whether the content is searched for shell patterns at all: only where a program
    /// that counts can be (most bytes of an image are libraries and data).
    scan: bool,
    head: Vec<u8>,
    /// The last bytes of the previous read, for patterns split across reads.
    carry: Vec<u8>,
    found: [bool; SHELL_PATTERNS.len()],
}

impl<R: Read> Sniffer<R> {
    /// Passes `inner` through, looking at the head (for `#!`) and, with `scan`, at every
    /// byte (for ELF programs that run a shell); see [`worth_scanning`].
    pub fn new(inner: R, scan: bool) -> Self {
        Sniffer {
            inner,
            scan,
            head: Vec::new(),
            carry: Vec::new(),
            found: [false; SHELL_PATTERNS.len()],
        }
    }

    /// What the file needs, judged from what passed through. `executable` is whether any
    /// execute bit is set; `package` the owner, whose name decides whether ELF patterns
    /// count.
    pub fn needs(&self, package: &str, path: &str, executable: bool) -> Vec<Need> {
        let need = |requires: &str, why: String| Need {
            requires: requires.to_owned(),
            package: package.to_owned(),
            path: path.to_owned(),
            why,
        };
        if NOT_RUN.iter().any(|dir| path.starts_with(dir))
            || RUN_BY_STAVES.contains(&package)
            || DONE_BY_STAVES.contains(&path)
        {
            return Vec::new();
        }
        if self.head.starts_with(b"\x7fELF") {
            if !worth_scanning(package, path, executable) {
                return Vec::new();
            }
            return SHELL_PATTERNS
                .iter()
                .zip(self.found)
                .find(|(_, found)| *found)
                .map(|((_, why), _)| vec![need("/bin/sh", (*why).to_owned())])
                .unwrap_or_default();
        }
        if !executable {
            return Vec::new();
        }
        let Some(line) = self.head.strip_prefix(b"#!") else {
            return Vec::new();
        };
        let line = line.split(|&b| b == b'\n').next().unwrap_or_default();
        // A #! line cut off by HEAD is not one a kernel would run either.
        let Ok(line) = std::str::from_utf8(line) else {
            return Vec::new();
        };
        let mut words = line.split_whitespace();
        let Some(mut interpreter) = words.next() else {
            return Vec::new();
        };
        let mut why = format!("is a #!{interpreter} script");
        if interpreter.ends_with("/env")
            && let Some(program) = words.find(|w| !w.starts_with('-'))
        {
            why = format!("is a #!{interpreter} {program} script");
            interpreter = match program {
                "sh" => "/bin/sh",
                "bash" => "/bin/bash",
                _ => return Vec::new(),
            };
        }
        if SHELLS.contains(&interpreter) {
            vec![need(interpreter, why)]
        } else {
            Vec::new()
        }
    }
}

impl<R: Read> Read for Sniffer<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let data = &buf[..n];
        if self.head.len() < HEAD {
            let take = (HEAD - self.head.len()).min(n);
            self.head.extend_from_slice(&data[..take]);
        }
        if !self.scan || self.found.iter().all(|f| *f) || n == 0 {
            return Ok(n);
        }
        // Patterns are at most 8 bytes: one split between reads lies in the last 7 bytes
        // seen before and the first 7 of this read.
        let mut seam = std::mem::take(&mut self.carry);
        let before = seam.len();
        seam.extend_from_slice(&data[..n.min(8)]);
        for (i, (pattern, _)) in SHELL_PATTERNS.iter().enumerate() {
            if !self.found[i]
                && (memmem::find(data, pattern).is_some() || memmem::find(&seam, pattern).is_some())
            {
                self.found[i] = true;
            }
        }
        seam.truncate(before);
        seam.extend_from_slice(&data[n.saturating_sub(8)..]);
        let drop = seam.len().saturating_sub(8);
        seam.drain(..drop);
        self.carry = seam;
        Ok(n)
    }
}

/// Whether a file's content can matter beyond its head: an executable in a program
/// directory of a package that does not implement the shell functions itself.
pub fn worth_scanning(package: &str, path: &str, executable: bool) -> bool {
    executable
        && !SHELL_IMPLEMENTERS.contains(&package)
        && !RUN_BY_STAVES.contains(&package)
        && !DONE_BY_STAVES.contains(&path)
        && !NOT_RUN.iter().any(|dir| path.starts_with(dir))
        && ["/bin/", "/sbin/", "/libexec/"]
            .iter()
            .any(|dir| path.contains(dir))
}

/// Groups the needs no path of the image meets; `exists` answers for an absolute path.
pub fn unmet(needs: Vec<Need>, exists: impl Fn(&str) -> bool) -> Vec<Unmet> {
    let mut by_requirement: BTreeMap<String, Unmet> = BTreeMap::new();
    for need in needs {
        if exists(&need.requires) {
            continue;
        }
        let entry = by_requirement
            .entry(need.requires.clone())
            .or_insert_with(|| Unmet {
                requires: need.requires.clone(),
                examples: Vec::new(),
                count: 0,
            });
        entry.count += 1;
        if entry.examples.len() < MAX_EXAMPLES {
            entry.examples.push(need);
        }
    }
    by_requirement.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sniff(bytes: &[u8], chunk: usize) -> Sniffer<&[u8]> {
        let mut s = Sniffer::new(bytes, true);
        let mut buf = vec![0; chunk];
        while s.read(&mut buf).expect("read") > 0 {}
        s
    }

    #[test]
    fn elf_files_that_run_a_shell_are_found_across_read_boundaries() {
        let mut elf = b"\x7fELF".to_vec();
        elf.extend(vec![7u8; 5000]);
        elf.extend(b"\0free\0popen\0malloc\0");
        for chunk in [1, 3, 7, 64, 8192] {
            let needs = sniff(&elf, chunk).needs("postgresql-15", "/usr/lib/pg/bin/initdb", true);
            assert_eq!(needs.len(), 1, "chunk {chunk}");
            assert_eq!(
                (needs[0].requires.as_str(), needs[0].why.as_str()),
                ("/bin/sh", "calls popen()")
            );
        }
        assert!(
            sniff(&elf, 64)
                .needs("libc6", "/usr/bin/x", true)
                .is_empty()
        );
        assert!(
            sniff(&elf, 64)
                .needs("p", "/usr/lib/libp.so.1", true)
                .is_empty()
        );
        let plain = b"\x7fELF\0popenx\0 /bin/shell".to_vec();
        assert!(sniff(&plain, 4).needs("p", "/x", true).is_empty());
    }

    #[test]
    fn shell_scripts_need_their_shell_and_other_interpreters_are_declared() {
        let s = sniff(b"#!/bin/sh -e\nexec true\n", 5);
        let needs = s.needs("p", "/usr/bin/tool", true);
        assert_eq!(needs[0].requires, "/bin/sh");
        assert!(s.needs("p", "/usr/share/p/example", false).is_empty());
        assert!(s.needs("p", "/etc/init.d/p", true).is_empty());
        let needs = sniff(b"#!/usr/bin/env bash\n", 64).needs("p", "/x", true);
        assert_eq!(needs[0].requires, "/bin/bash");
        for other in [
            &b"#!/usr/bin/perl -w\n"[..],
            b"#!/usr/bin/env python3\n",
            b"#!relative\n",
        ] {
            assert!(sniff(other, 64).needs("p", "/usr/bin/x", true).is_empty());
        }
    }

    #[test]
    fn unmet_groups_by_requirement_and_skips_what_exists() {
        let need = |r: &str, p: &str| Need {
            requires: r.into(),
            package: "p".into(),
            path: p.into(),
            why: "w".into(),
        };
        let needs = (0..5)
            .map(|i| need("/bin/sh", &format!("/f{i}")))
            .chain([need("/usr/bin/env", "/g")])
            .collect();
        let unmet = unmet(needs, |p| p == "/usr/bin/env");
        assert_eq!(unmet.len(), 1);
        assert_eq!((unmet[0].count, unmet[0].examples.len()), (5, MAX_EXAMPLES));
    }
}
