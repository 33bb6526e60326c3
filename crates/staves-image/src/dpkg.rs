//! The dpkg database: `status`, and `info/<package>.{list,md5sums,conffiles}`, as dpkg
//! would have left them, so `dpkg -l`, `dpkg -L` and image scanners see every package.

use std::collections::HashSet;

/// What one package contributed to the image.
#[derive(Debug, Default)]
pub struct Installed {
    /// Name as dpkg files it: `name`, or `name:arch` for `Multi-Arch: same`.
    pub info_name: String,
    /// The control paragraph.
    pub control: String,
    /// Paths as the package ships them (`/bin/bash`), for `.list`.
    pub listed: Vec<String>,
    /// Files kept in the image, relative as in `md5sums` (`bin/bash`).
    pub kept: HashSet<String>,
    /// `md5sums` as shipped.
    pub md5sums: Option<String>,
    /// `conffiles` as shipped.
    pub conffiles: Option<String>,
    /// `(path, md5)` of each conffile the image holds, in the order `conffiles` lists them.
    pub conffile_sums: Vec<(String, String)>,
    /// `(member, text)` of `shlibs`, `symbols` and `triggers`.
    pub build_info: Vec<(String, String)>,
}

/// The paths a `conffiles` member lists (lines may carry flags before the path).
pub fn conffile_paths(conffiles: &str) -> Vec<String> {
    conffiles
        .lines()
        .filter_map(|line| line.split_whitespace().last())
        .filter(|path| path.starts_with('/'))
        .map(str::to_owned)
        .collect()
}

/// `var/lib/dpkg/status`: every package's paragraph, marked installed, with its conffiles
/// and their checksums (before `Description`, where dpkg puts them) so dpkg can tell later
/// whether an administrator changed one.
pub fn status(packages: &[Installed]) -> String {
    let mut out = String::new();
    for p in packages {
        let mut status_written = false;
        let mut conffiles_written = p.conffile_sums.is_empty();
        for line in p.control.trim_end().lines() {
            if !conffiles_written && line.starts_with("Description:") {
                push_conffiles(&mut out, &p.conffile_sums);
                conffiles_written = true;
            }
            out.push_str(line);
            out.push('\n');
            if !status_written && line.starts_with("Package:") {
                out.push_str("Status: install ok installed\n");
                status_written = true;
            }
        }
        if !conffiles_written {
            push_conffiles(&mut out, &p.conffile_sums);
        }
        out.push('\n');
    }
    out
}

fn push_conffiles(out: &mut String, sums: &[(String, String)]) {
    out.push_str("Conffiles:\n");
    for (path, md5) in sums {
        out.push_str(&format!(" {path} {md5}\n"));
    }
}

/// `info/<name>.list`.
pub fn list(p: &Installed) -> String {
    let mut out = String::new();
    for path in &p.listed {
        out.push_str(path);
        out.push('\n');
    }
    out
}

/// `info/<name>.md5sums`, limited to the files the image holds.
pub fn md5sums(p: &Installed) -> Option<String> {
    let text = p.md5sums.as_ref()?;
    let kept: String = text
        .lines()
        .filter(|line| {
            line.split_once("  ")
                .is_some_and(|(_, path)| p.kept.contains(path.trim_start_matches("./")))
        })
        .map(|line| format!("{line}\n"))
        .collect();
    (!kept.is_empty()).then_some(kept)
}

/// What an SBOM needs to know about an installed package.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageFacts {
    /// Package name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Architecture.
    pub arch: String,
    /// The control paragraph.
    pub control: String,
    /// `/usr/share/doc/<name>/copyright`, when the package ships it as a file.
    pub copyright: Option<String>,
}
