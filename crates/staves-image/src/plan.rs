//! What the maintainer scripts of the whole package set will do, decided before any package
//! is streamed: streaming needs to know which directories become links, which owners and
//! modes scripts give shipped paths, and which accounts own what scripts create. Files a
//! script derives from shipped content (a `ucf` template, `sed` of a default) are known
//! only once that content streamed by: the scripts are walked again then, with it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use staves_maintscript::Invocation;

use crate::ImageError;
use crate::accounts::Accounts;
use crate::host::{Host, Known};
use crate::layer::Meta;
use crate::paths::image_path;
use crate::scripts::{Alternative, Directory, ModeChange, Override};

/// A shipped directory that a script replaces by a symbolic link (`/var/run` → `/run`).
#[derive(Debug, Clone)]
pub(crate) struct Migration {
    /// The directory, as a layer path (`var/run`).
    pub dir: String,
    /// Where its content goes, as a layer path (`run`).
    pub replacement: String,
    /// The link target as the script writes it (`/run`).
    pub target: String,
}

/// What one package's script left unfollowed: listed by `staves build --verbose`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScriptReport {
    /// The package.
    pub package: String,
    /// Commands not modelled, as called.
    pub unmodelled: Vec<String>,
    /// Commands that make run-time state, left to the first start.
    pub run_time: Vec<String>,
    /// Lines where a value or condition was not known at build time.
    pub notes: Vec<String>,
}

/// Owners and modes scripts set, resolved to ids.
#[derive(Debug, Default)]
pub(crate) struct Overrides {
    exact: HashMap<String, Vec<Resolved>>,
    recursive: Vec<(String, Resolved)>,
}

#[derive(Debug, Clone)]
struct Resolved {
    uid: Option<u64>,
    gid: Option<u64>,
    mode: Option<ModeChange>,
}

impl Overrides {
    fn add(&mut self, path: String, change: &Override, accounts: &Accounts) {
        let resolved = Resolved {
            uid: change
                .owner
                .as_deref()
                .and_then(|o| {
                    o.parse::<u32>()
                        .ok()
                        .or_else(|| accounts.user(o).map(|u| u.uid))
                })
                .map(u64::from),
            gid: change
                .group
                .as_deref()
                .and_then(|g| {
                    g.parse::<u32>()
                        .ok()
                        .or_else(|| accounts.group(g).map(|g| g.gid))
                })
                .map(u64::from),
            mode: change.mode.clone(),
        };
        if change.recursive {
            self.recursive.push((path.clone(), resolved.clone()));
        }
        self.exact.entry(path).or_default().push(resolved);
    }

    /// `meta` of the entry at `path` after the scripts changed it.
    pub(crate) fn apply(&self, path: &str, mut meta: Meta) -> Meta {
        let mut changes: Vec<&Resolved> = self
            .recursive
            .iter()
            .filter(|(dir, _)| {
                path.strip_prefix(dir.as_str())
                    .is_some_and(|r| r.starts_with('/'))
            })
            .map(|(_, r)| r)
            .collect();
        changes.extend(self.exact.get(path).into_iter().flatten());
        for r in changes {
            meta.uid = r.uid.unwrap_or(meta.uid);
            meta.gid = r.gid.unwrap_or(meta.gid);
            if let Some(mode) = &r.mode {
                meta.mode = mode.apply(meta.mode);
            }
        }
        meta
    }
}

/// Every script's effects, merged in install order.
pub(crate) struct ScriptPlan {
    pub alternatives: Vec<Alternative>,
    pub shells: Vec<String>,
    /// Directories scripts create, with their metadata, as layer paths.
    pub script_dirs: BTreeMap<String, Meta>,
    pub migrations: Vec<Migration>,
    /// `(link, target)`, links below a migrated directory already moved.
    pub links: Vec<(String, String)>,
    /// `(source, destination)`, likewise.
    pub copies: Vec<(String, String)>,
    /// Files scripts write, by layer path, with their text.
    pub writes: BTreeMap<String, String>,
    /// Owners and modes scripts set.
    pub overrides: Overrides,
    /// pam-auth-update ran.
    pub pam_auth_update: bool,
    /// passwd's `shadowconfig on` ran: the accounts have shadow files.
    pub shadowed: bool,
    /// Shipped symlinks scripts removed (some made again as `links`).
    pub removed_links: BTreeSet<String>,
    /// Shipped files whose content a script needs: read ahead.
    pub wanted: BTreeSet<String>,
    /// Directories a package's script looked for that no `md5sums` shows.
    pub probed: BTreeSet<(String, String)>,
    /// The base accounts plus those scripts create.
    pub accounts: Accounts,
    /// What each script left unfollowed.
    pub reports: Vec<ScriptReport>,
}

/// What the walk knows of the image before anything is written.
pub(crate) struct Facts {
    /// Shipped paths (from `md5sums` and `conffiles`) and the base's, as layer paths.
    pub files: HashMap<String, Known>,
    /// Installed packages.
    pub installed: BTreeMap<String, String>,
    /// Each package's files (`dpkg -L`), from its `md5sums`.
    pub lists: HashMap<String, Vec<String>>,
    /// debconf questions and their defaults, from the packages' `templates`.
    pub debconf: HashMap<String, String>,
    /// The image's architecture.
    pub arch: String,
}

/// A package's scripts that are walked.
pub(crate) struct Scripts<'a> {
    pub package: &'a str,
    /// `preinst install`, before the package's files are in (accounts, often).
    pub preinst: Option<&'a str>,
    /// `postinst configure`.
    pub postinst: Option<&'a str>,
    /// `config configure`, the debconf script: what it sets, `postinst` reads.
    pub config: Option<&'a str>,
}

/// Walks every package's `config`, `preinst` and `postinst`, in configure order (as
/// `dpkg-preconfigure` runs `config` before the package is unpacked).
pub(crate) fn plan(
    scripts: &[Scripts<'_>],
    base: &Accounts,
    facts: &Facts,
    contents: &BTreeMap<String, Vec<u8>>,
    mtime: u64,
) -> Result<ScriptPlan, ImageError> {
    let mut host = Host::new(
        facts.files.clone(),
        base.clone(),
        &facts.installed,
        &facts.lists,
        &facts.debconf,
        contents,
        &facts.arch,
    );
    let mut plan = ScriptPlan {
        alternatives: Vec::new(),
        shells: Vec::new(),
        script_dirs: BTreeMap::new(),
        migrations: Vec::new(),
        links: Vec::new(),
        copies: Vec::new(),
        writes: BTreeMap::new(),
        overrides: Overrides::default(),
        pam_auth_update: false,
        shadowed: false,
        removed_links: BTreeSet::new(),
        wanted: BTreeSet::new(),
        probed: BTreeSet::new(),
        accounts: base.clone(),
        reports: Vec::new(),
    };
    let mut directories: Vec<Directory> = Vec::new();
    let mut overrides: Vec<(String, Override)> = Vec::new();
    let walks = scripts.iter().flat_map(|s| {
        let config = s.config.map(|text| {
            let mut invocation = Invocation::first_configure(s.package, &facts.arch);
            invocation.script = "config".into();
            (s.package, text, invocation)
        });
        let preinst = s.preinst.map(|text| {
            let mut invocation = Invocation::first_configure(s.package, &facts.arch);
            invocation.script = "preinst".into();
            invocation.args = vec!["install".into()];
            (s.package, text, invocation)
        });
        let postinst = s.postinst.map(|text| {
            (
                s.package,
                text,
                Invocation::first_configure(s.package, &facts.arch),
            )
        });
        config.into_iter().chain(preinst).chain(postinst)
    });
    for (package, script, invocation) in walks {
        host.package = package.to_owned();
        host.cwd = "/".into();
        let report = staves_maintscript::run(script, &invocation, &mut host);
        let mut effects = std::mem::take(&mut host.effects);
        let mut notes: Vec<String> = not_image_paths(&mut effects);
        plan.alternatives.extend(effects.alternatives);
        plan.shells.extend(effects.shells);
        plan.links.extend(effects.links);
        plan.removed_links.extend(effects.removed_links);
        plan.copies.extend(effects.copies);
        plan.pam_auth_update |= effects.pam_auth_update;
        plan.shadowed |= effects.shadowed;
        overrides.extend(effects.overrides);
        directories.extend(effects.directories);
        for (old, new) in effects.migrations {
            if let Some(dir) = image_path(&old)
                && let Some(replacement) = image_path(&new)
            {
                plan.migrations.push(Migration {
                    dir,
                    replacement,
                    target: new,
                });
            }
        }
        for n in &report.notes {
            let note = format!("line {}: {}: {}", n.line, n.kind, n.text);
            if !notes.contains(&note) {
                notes.push(note);
            }
        }
        // What the script did up to a failure stands; a real install would stop there too.
        // A failure reached past a condition only the run could decide (libc6's kernel
        // version check) is the walk's guess, not what an install does: not claimed.
        let guessed = report
            .notes
            .iter()
            .any(|n| n.kind == staves_maintscript::NoteKind::Undecided);
        if let Some(staves_maintscript::Status::Failure(code)) = report.status
            && !guessed
        {
            notes.push(format!(
                "its {} exits with status {code} on a first install",
                invocation.script
            ));
        }
        if !effects.unmodelled.is_empty() || !effects.run_time.is_empty() || !notes.is_empty() {
            if let Some(report) = plan.reports.iter_mut().find(|r| r.package == package) {
                report.unmodelled.extend(effects.unmodelled);
                report.run_time.extend(effects.run_time);
                report.notes.extend(notes);
                continue;
            }
            plan.reports.push(ScriptReport {
                package: package.to_owned(),
                unmodelled: effects.unmodelled,
                run_time: effects.run_time,
                notes,
            });
        }
    }
    plan.accounts = host.accounts;
    plan.wanted = host.wanted.into_inner();
    plan.probed = host.probed.into_inner();
    for (path, change) in &overrides {
        plan.overrides.add(path.clone(), change, &plan.accounts);
    }
    plan.writes = host
        .texts
        .into_iter()
        .filter(|(path, _)| !path.starts_with("tmp/"))
        .collect();
    for dir in directories {
        let meta = dir_meta(&dir, &plan.accounts, mtime);
        if let Some(path) = image_path(&dir.path) {
            let meta = plan.overrides.apply(&path, meta);
            plan.script_dirs.insert(path, meta);
        }
    }
    // What scripts place below a directory that becomes a link goes below its target.
    let migrations = &plan.migrations;
    plan.script_dirs = std::mem::take(&mut plan.script_dirs)
        .into_iter()
        .filter(|(path, _)| !migrations.iter().any(|m| m.dir == *path))
        .map(|(path, meta)| (relocate(&path, migrations), meta))
        .collect();
    let relocate_absolute = |p: &str| match image_path(p) {
        Some(path) => format!("/{}", relocate(&path, migrations)),
        None => p.to_owned(),
    };
    for (link, _) in &mut plan.links {
        *link = relocate_absolute(link);
    }
    for (_, dest) in &mut plan.copies {
        *dest = relocate_absolute(dest);
    }
    Ok(plan)
}

/// Drops the effects whose path is no path in the image (empty, `/` itself, or leaving it
/// through `..`: a variable the walk could not know, a script's own guard), each as a
/// "not followed" note instead of an entry the layer would refuse.
fn not_image_paths(effects: &mut crate::scripts::Effects) -> Vec<String> {
    let mut notes = Vec::new();
    let mut keep = |what: &str, path: &str| {
        let inside = image_path(path).is_some();
        // `/` itself is always there: nothing to say.
        let root = path.starts_with('/') && path.trim_matches('/').is_empty();
        if !inside && !root {
            notes.push(format!(
                "not followed: {what} `{path}`, which is no path inside the image"
            ));
        }
        inside
    };
    effects
        .directories
        .retain(|d| keep("a directory at", &d.path));
    effects.links.retain(|(link, _)| keep("a link at", link));
    effects.copies.retain(|(_, dest)| keep("a copy to", dest));
    notes
}

/// `path` (a layer path) moved below the target of a migrated directory it lies in.
pub(crate) fn relocate(path: &str, migrations: &[Migration]) -> String {
    for m in migrations {
        if let Some(rest) = path.strip_prefix(m.dir.as_str())
            && rest.starts_with('/')
        {
            return format!("{}{rest}", m.replacement);
        }
    }
    path.to_owned()
}

fn dir_meta(dir: &Directory, accounts: &Accounts, mtime: u64) -> Meta {
    let uid = dir
        .owner
        .as_deref()
        .and_then(|o| accounts.user(o))
        .map_or(0, |u| u.uid);
    let gid = dir
        .group
        .as_deref()
        .and_then(|g| accounts.group(g))
        .map_or(0, |g| g.gid);
    Meta {
        mode: dir.mode,
        uid: u64::from(uid),
        gid: u64::from(gid),
        mtime,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A package whose `config` sets a question from what it finds, and whose `postinst`
    /// writes the answer, as exim4-config and tzdata do.
    #[test]
    fn what_a_config_script_sets_is_what_postinst_reads() {
        let config = r#"#!/bin/sh -e
. /usr/share/debconf/confmodule
db_get pkg/mailname
if [ -z "$RET" ]; then
    db_set pkg/mailname "mail.example.org"
fi
db_input medium pkg/mailname || true
db_go
"#;
        let postinst = r#"#!/bin/sh -e
. /usr/share/debconf/confmodule
if [ "$1" = configure ]; then
    db_get pkg/mailname
    echo "$RET" > /etc/mailname
    db_get pkg/mode
    echo "$RET" > /etc/pkg.mode
fi
"#;
        let facts = Facts {
            files: HashMap::from([("etc".to_owned(), Known::Dir)]),
            installed: BTreeMap::from([("pkg".to_owned(), "1.0".to_owned())]),
            lists: HashMap::new(),
            debconf: HashMap::from([
                ("pkg/mailname".to_owned(), String::new()),
                ("pkg/mode".to_owned(), "local".to_owned()),
            ]),
            arch: "amd64".into(),
        };
        let walked = |config: Option<&str>| {
            let scripts = [Scripts {
                package: "pkg",
                preinst: None,
                postinst: Some(postinst),
                config,
            }];
            plan(
                &scripts,
                &Accounts::debian_base(),
                &facts,
                &BTreeMap::new(),
                0,
            )
            .expect("walks")
        };
        let with = walked(Some(config));
        assert_eq!(
            with.writes.get("etc/mailname").map(String::as_str),
            Some("mail.example.org\n")
        );
        assert_eq!(
            with.writes.get("etc/pkg.mode").map(String::as_str),
            Some("local\n")
        );
        // Without the config script, the template's empty default.
        let without = walked(None);
        assert_eq!(
            without.writes.get("etc/mailname").map(String::as_str),
            Some("\n")
        );
    }
}
