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
}

/// `var/lib/dpkg/status`: every package's paragraph, marked installed.
pub fn status(packages: &[Installed]) -> String {
    let mut out = String::new();
    for p in packages {
        let mut inserted = false;
        for line in p.control.trim_end().lines() {
            out.push_str(line);
            out.push('\n');
            if !inserted && line.starts_with("Package:") {
                out.push_str("Status: install ok installed\n");
                inserted = true;
            }
        }
        out.push('\n');
    }
    out
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
