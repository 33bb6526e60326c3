//! What a lock is behind on: each locked package the repositories now have a newer version
//! of, the suite that version comes from (a `-security` suite marks a security update), the
//! urgency Debian gave it, and the CVE identifiers its changelog names between the locked
//! version and the new one — read from the new `.deb`'s `changelog.Debian.gz`, which is
//! fetched into the cache, where a build needs it anyway. No tracker or other service.

use std::io::Read;

use staves_deb::version::Version;
use staves_resolve::{LockedTarget, Lockfile};

use crate::{PipelineError, Workspace};

/// One package with a newer version than its lock's.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Update {
    /// The target architecture.
    pub target: String,
    /// The package.
    pub package: String,
    /// The locked version.
    pub locked: String,
    /// The newest version the repositories have.
    pub candidate: String,
    /// The suite the candidate comes from.
    pub suite: String,
    /// Whether it comes from a security suite.
    pub security: bool,
    /// The highest urgency among the changelog entries between the two versions.
    pub urgency: Option<String>,
    /// CVE identifiers those entries name, in the order first named.
    pub cves: Vec<String>,
}

/// The largest changelog read.
const MAX_CHANGELOG: u64 = 16 << 20;

/// Every locked package with a newer candidate, for every target of the lock beside the
/// spec (read as it is, even when the spec moved on: adding a security suite is how one
/// learns what it brings).
pub fn outdated(workspace: &Workspace) -> Result<Vec<Update>, PipelineError> {
    updates_of(workspace, &read_lock(workspace)?)
}

/// The lock beside the spec, whether or not it still matches it.
fn read_lock(workspace: &Workspace) -> Result<Lockfile, PipelineError> {
    let path = workspace.lock_path();
    Lockfile::read(&path)?.ok_or(PipelineError::StaleLock {
        path: path.clone(),
        missing: true,
    })
}

/// The updates of `locked`, against a fresh resolution.
fn updates_of(workspace: &Workspace, locked: &Lockfile) -> Result<Vec<Update>, PipelineError> {
    let newest = workspace.resolve(&workspace.archs)?;
    let mut updates = Vec::new();
    for target in &newest.targets {
        let Some(old) = locked.target(&target.arch) else {
            continue;
        };
        // Each package with a newer version than its locked one, and that locked version.
        let mut candidates: Vec<staves_resolve::LockedPackage> = Vec::new();
        let mut locked_versions: Vec<String> = Vec::new();
        for package in &target.packages {
            let Some(before) = old
                .packages
                .iter()
                .find(|p| p.name == package.name && p.arch == package.arch)
            else {
                continue;
            };
            let newer = match (
                Version::parse(&package.version),
                Version::parse(&before.version),
            ) {
                (Ok(new), Ok(old)) => new > old,
                _ => false,
            };
            if newer {
                candidates.push(package.clone());
                locked_versions.push(before.version.clone());
            }
        }
        if candidates.is_empty() {
            continue;
        }
        let only = Lockfile {
            targets: vec![LockedTarget {
                arch: target.arch.clone(),
                packages: candidates.clone(),
            }],
            ..newest.clone()
        };
        let located = crate::build::fetch::locate(&only, &only.targets[0], workspace)?;
        let debs = crate::build::fetch::download(workspace, &located, 4)?;
        for ((package, deb), before) in candidates.iter().zip(debs).zip(locked_versions) {
            let suite = newest
                .repositories
                .iter()
                .find(|r| r.name == package.repository)
                .map(|r| r.suite.clone())
                .unwrap_or_default();
            let changelog = changelog_of(workspace, &deb, package);
            let (urgency, cves) = between(&changelog, &before);
            updates.push(Update {
                target: target.arch.clone(),
                package: package.name.clone(),
                locked: before,
                candidate: package.version.clone(),
                security: suite.ends_with("-security") || suite.ends_with("/updates"),
                suite,
                urgency,
                cves,
            });
        }
    }
    Ok(updates)
}

/// The candidate's changelog, read from its `.deb` once and then kept in the cache under
/// the `.deb`'s SHA-256 (which the download checked): decompressing a whole data archive
/// for a few kilobytes of text is what a report over a stack would otherwise spend its
/// time on. What is kept only feeds the report (its CVEs), never an image.
fn changelog_of(
    workspace: &Workspace,
    deb: &std::path::Path,
    package: &staves_resolve::LockedPackage,
) -> String {
    let kept = workspace.cache.entry("changelogs", &package.sha256, ".txt");
    if let Ok(bytes) = staves_fs::read_regular(&kept, MAX_CHANGELOG) {
        return String::from_utf8_lossy(&bytes).into_owned();
    }
    let text = read_changelog(deb, &package.name).unwrap_or_default();
    // Keeping it is an optimisation: a cache that cannot take it costs the next run.
    let _ = workspace.cache.write_atomic(&kept, |file| {
        std::io::Write::write_all(file, text.as_bytes())
            .map_err(staves_repo::RepoError::io("writing", &kept))
    });
    text
}

/// The package's `changelog.Debian.gz` (or the first one it ships, when its documentation
/// directory is another package's), decompressed.
fn read_changelog(deb: &std::path::Path, package: &str) -> Option<String> {
    let file = staves_deb::deb::DebFile::open(deb).ok()?;
    let guarded = staves_deb::tar_guard::TarGuard::new(file.data().ok()?, file.unpack_limit());
    let mut archive = tar::Archive::new(guarded);
    let own = format!("usr/share/doc/{package}/changelog.Debian.gz");
    let mut first: Option<String> = None;
    for entry in archive.entries().ok()? {
        let mut entry = entry.ok()?;
        let path = entry.path().ok()?.to_string_lossy().into_owned();
        let path = path.trim_start_matches("./");
        if !(path.starts_with("usr/share/doc/") && path.ends_with("/changelog.Debian.gz")) {
            continue;
        }
        let mut text = String::new();
        flate2::read::GzDecoder::new((&mut entry).take(MAX_CHANGELOG))
            .take(MAX_CHANGELOG)
            .read_to_string(&mut text)
            .ok()?;
        if path == own {
            return Some(text);
        }
        first.get_or_insert(text);
    }
    first
}

/// The highest urgency and the CVEs of the changelog entries newer than `locked`.
fn between(changelog: &str, locked: &str) -> (Option<String>, Vec<String>) {
    let locked = Version::parse(locked).ok();
    let rank = |u: &str| match u {
        "low" => 0,
        "medium" => 1,
        "high" => 2,
        "emergency" | "critical" => 3,
        _ => 0,
    };
    let mut urgency: Option<String> = None;
    let mut cves: Vec<String> = Vec::new();
    let mut inside = false;
    for line in changelog.lines() {
        if !line.starts_with([' ', '\t']) && !line.is_empty() {
            // `package (version) suite; urgency=high`: an entry's first line.
            let version = line
                .split_once('(')
                .and_then(|(_, rest)| rest.split_once(')'))
                .and_then(|(v, _)| Version::parse(v).ok());
            if version.is_none() {
                continue;
            }
            inside = match (&version, &locked) {
                (Some(v), Some(l)) => v > l,
                _ => false,
            };
            if !inside {
                break;
            }
            if let Some(u) = line.split("urgency=").nth(1) {
                let u = u
                    .split([',', ' '])
                    .next()
                    .unwrap_or(u)
                    .trim()
                    .to_lowercase();
                if urgency.as_deref().is_none_or(|old| rank(&u) > rank(old)) {
                    urgency = Some(u);
                }
            }
            continue;
        }
        if inside {
            for cve in cve_ids(line) {
                if !cves.contains(&cve) {
                    cves.push(cve);
                }
            }
        }
    }
    (urgency, cves)
}

/// `CVE-YYYY-NNNN…` identifiers in a line.
fn cve_ids(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("CVE-") {
        let tail = &rest[at + 4..];
        let year: String = tail.chars().take_while(char::is_ascii_digit).collect();
        let after_year = &tail[year.len()..];
        let number: String = after_year
            .strip_prefix('-')
            .map(|n| n.chars().take_while(char::is_ascii_digit).collect())
            .unwrap_or_default();
        if year.len() == 4 && number.len() >= 4 {
            found.push(format!("CVE-{year}-{number}"));
        }
        rest = tail;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHANGELOG: &str = "\
openssl (3.0.17-1~deb12u2) bookworm-security; urgency=medium

  * Fix CVE-2025-9230 and CVE-2025-9232 (out-of-bounds read).
  * Also CVE-2025-9230 again, and CVE-12-1 which is none.

 -- Maintainer <m@example.org>  Tue, 30 Sep 2025 00:00:00 +0000

openssl (3.0.17-1~deb12u1) bookworm; urgency=high

  * New upstream release, fixes CVE-2025-4575.

 -- Maintainer <m@example.org>  Mon, 01 Jul 2025 00:00:00 +0000

openssl (3.0.16-1~deb12u1) bookworm; urgency=medium

  * CVE-2024-13176.
";

    #[test]
    fn entries_newer_than_the_lock_give_their_cves_and_highest_urgency() {
        let (urgency, cves) = between(CHANGELOG, "3.0.16-1~deb12u1");
        assert_eq!(urgency.as_deref(), Some("high"));
        assert_eq!(cves, ["CVE-2025-9230", "CVE-2025-9232", "CVE-2025-4575"]);
        let (urgency, cves) = between(CHANGELOG, "3.0.17-1~deb12u1");
        assert_eq!(urgency.as_deref(), Some("medium"));
        assert_eq!(cves, ["CVE-2025-9230", "CVE-2025-9232"]);
        assert_eq!(between(CHANGELOG, "3.0.17-1~deb12u2"), (None, vec![]));
    }
}

/// What [`update`] did: the lock written, and the updates it took.
#[derive(Debug)]
pub struct Updated {
    /// The lock before.
    pub before: Lockfile,
    /// The lock written.
    pub after: Lockfile,
    /// The updates taken, with their CVEs.
    pub taken: Vec<Update>,
}

/// Moves the lock by the smallest steps: the packages with updates (with `security_only`,
/// security updates alone) take their newest versions, everything else keeps its locked
/// one unless a new dependency requires otherwise. The lock is rewritten.
pub fn update(workspace: &Workspace, security_only: bool) -> Result<Updated, PipelineError> {
    let before = read_lock(workspace)?;
    let taken: Vec<Update> = updates_of(workspace, &before)?
        .into_iter()
        .filter(|u| u.security || !security_only)
        .collect();
    // The previous lock without the packages to move: the resolver keeps every other
    // locked version it still can.
    let mut keep = before.clone();
    for target in &mut keep.targets {
        target.packages.retain(|p| {
            !taken
                .iter()
                .any(|u| u.target == target.arch && u.package == p.name)
        });
    }
    let after = workspace.resolve_from(&workspace.archs, Some(&keep))?;
    after.write(&workspace.lock_path())?;
    Ok(Updated {
        before,
        after,
        taken,
    })
}
