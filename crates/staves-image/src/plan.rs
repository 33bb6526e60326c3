//! What the maintainer scripts of the whole package set will do, decided before any package
//! is streamed: streaming needs to know which directories become links and which accounts
//! own the directories scripts create.

use std::collections::BTreeMap;

use crate::ImageError;
use crate::accounts::{AccountError, Accounts};
use crate::effects::image_path;
use crate::layer::Meta;
use crate::paths::{merge_usr, normalize};
use crate::scripts::{AccountChange, Alternative, Directory, postinst_effects};

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
    /// The base accounts plus those scripts create.
    pub accounts: Accounts,
}

/// Reads `(package, postinst)` of every package in install order.
pub(crate) fn plan(
    scripts: &[(&str, Option<&str>)],
    base: &Accounts,
    mtime: u64,
) -> Result<ScriptPlan, ImageError> {
    let mut plan = ScriptPlan {
        alternatives: Vec::new(),
        shells: Vec::new(),
        script_dirs: BTreeMap::new(),
        migrations: Vec::new(),
        links: Vec::new(),
        copies: Vec::new(),
        accounts: base.clone(),
    };
    for (package, script) in scripts {
        let Some(script) = script else {
            continue;
        };
        let mut effects = postinst_effects(script);
        for change in std::mem::take(&mut effects.accounts) {
            apply_account_change(&mut plan.accounts, change, &mut effects.directories).map_err(
                |e| ImageError::ScriptAccount {
                    package: (*package).to_owned(),
                    message: e.to_string(),
                },
            )?;
        }
        plan.alternatives.extend(effects.alternatives);
        plan.shells.extend(effects.shells);
        plan.links.extend(effects.links);
        plan.copies.extend(effects.copies);
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
        for dir in effects.directories {
            let meta = dir_meta(&dir, &plan.accounts, mtime);
            if let Ok(path) = normalize(std::path::Path::new(dir.path.trim_start_matches('/'))) {
                plan.script_dirs.insert(merge_usr(&path), meta);
            }
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

/// Applies one account change of a script; a created home becomes a directory effect.
fn apply_account_change(
    accounts: &mut Accounts,
    change: AccountChange,
    directories: &mut Vec<Directory>,
) -> Result<(), AccountError> {
    match change {
        AccountChange::User {
            account,
            create_home,
        } => {
            let existed = accounts.user(&account.name).is_some();
            accounts.add_system_user(&account)?;
            if create_home
                && !existed
                && let Some(user) = accounts.user(&account.name)
            {
                let group = accounts
                    .groups
                    .iter()
                    .find(|g| g.gid == user.gid)
                    .map(|g| g.name.clone());
                directories.push(Directory {
                    path: user.home.clone(),
                    mode: 0o755,
                    owner: Some(user.name.clone()),
                    group,
                });
            }
        }
        AccountChange::Group(name, gid) => {
            accounts.add_system_group(&name, gid)?;
        }
        AccountChange::Member(user, group) => accounts.add_member(&user, &group),
    }
    Ok(())
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
