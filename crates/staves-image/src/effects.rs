//! What happens after the packages are in the layer: the effects of their scripts
//! (links, copies, alternatives) and the spec's own paths.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;

use crate::ImageError;
use crate::accounts::Accounts;
use crate::layer::{Kind, Layer, Meta, Slot};
use crate::options::{ExtraPath, Options};
use crate::paths::{image_path, merge_usr, normalize, symlink_stays_inside};
use crate::scripts::Alternative;

/// What scripts copy: `(source, destination)` pairs, and the sources' content where it
/// was kept (for a copy in another layer than its source).
#[derive(Clone, Copy)]
pub(crate) struct Copies<'a> {
    pub(crate) pairs: &'a [(String, String)],
    pub(crate) contents: &'a BTreeMap<String, Vec<u8>>,
    /// Owners and modes scripts gave the copies.
    pub(crate) overrides: &'a crate::plan::Overrides,
}

/// Whether scripts gave `path` an owner or mode other than a new file's (root, 0644).
pub(crate) fn owned_otherwise(overrides: &crate::plan::Overrides, path: &str, mtime: u64) -> bool {
    let plain = Meta::root(0o644, mtime);
    let meta = overrides.apply(path, plain);
    (meta.uid, meta.gid, meta.mode) != (plain.uid, plain.gid, plain.mode)
}

/// `ln -s` and `cp` of postinst scripts, where the link or copy does not exist yet and what
/// it refers to is in the image (a copy becomes a hard link: same bytes, stored once; in
/// another layer than its source, a copy).
pub(crate) fn apply_links_and_copies<W: Write>(
    layer: &mut Layer<W>,
    links: &[(String, String)],
    copies: Copies<'_>,
    mtime: u64,
) -> Result<(), ImageError> {
    let merged = |p: &str| image_path(p);
    for (link, target) in links {
        let Some(path) = merged(link) else { continue };
        let parent_present = path
            .rsplit_once('/')
            .is_none_or(|(parent, _)| layer.get(parent).is_some());
        if layer.get(&path).is_none() && parent_present && symlink_stays_inside(&path, target) {
            // A later `chown -R` takes the link too (freeradius's enabled modules); a
            // link's own mode is always 0777.
            let mut meta = copies.overrides.apply(&path, Meta::root(0o777, mtime));
            meta.mode = 0o777;
            layer.symlink(&path, target, meta, None)?;
        }
    }
    let Copies {
        pairs,
        contents,
        overrides,
    } = copies;
    for (source, dest) in pairs {
        let (Some(mut source), Some(dest)) = (merged(source), merged(dest)) else {
            continue;
        };
        // `cp` copies what a link names (a package's symlink into /usr/share/javascript,
        // which no `md5sums` lists, so the walk could not follow it).
        for _ in 0..8 {
            let Some(Kind::Symlink(target)) = layer.get(&source).map(|s| &s.kind) else {
                break;
            };
            match crate::paths::link_destination(&source, target) {
                Some(resolved) => source = resolved,
                None => break,
            }
        }
        // base-passwd's postinst copies its masters to /etc/passwd and /etc/group: the
        // accounts Staves writes there start from the same masters.
        if crate::paths::GENERATED.contains(&dest.as_str()) {
            continue;
        }
        if layer.get(&source).map(|s| &s.kind) == Some(&Kind::File) && layer.get(&dest).is_none() {
            let meta = overrides.apply(&dest, Meta::root(0o644, mtime));
            let own = owned_otherwise(overrides, &dest, mtime);
            if let Some(bytes) = contents.get(&source).filter(|_| own) {
                // chrony's keys given to _chrony 0640: a file of its own, not a hard link
                // sharing its source's owner and mode.
                layer.parents(&dest, mtime)?;
                layer.file(&dest, meta, bytes.len() as u64, bytes.as_slice(), None)?;
            } else if layer.holds(&source) {
                layer.parents(&dest, mtime)?;
                layer.hardlink(&dest, &source, meta, None)?;
            } else if let Some(bytes) = contents.get(&source) {
                // A hard link cannot reach into another layer: the copy is a copy.
                layer.parents(&dest, mtime)?;
                layer.file(&dest, meta, bytes.len() as u64, bytes.as_slice(), None)?;
            }
        }
    }
    Ok(())
}

/// Files scripts write (`echo … > FILE`, `touch`, a `ucf` template after `sed`), where no
/// package or earlier step put something at the path; root-owned 0644 unless a script
/// changed owner or mode.
pub(crate) fn write_files<W: Write>(
    layer: &mut Layer<W>,
    writes: &BTreeMap<String, String>,
    overrides: &crate::plan::Overrides,
    mtime: u64,
) -> Result<(), ImageError> {
    for (path, text) in writes {
        if layer.get(path).is_some() || crate::paths::GENERATED.contains(&path.as_str()) {
            continue;
        }
        layer.parents(path, mtime)?;
        let meta = overrides.apply(path, Meta::root(0o644, mtime));
        layer.file(path, meta, text.len() as u64, text.as_bytes(), None)?;
    }
    Ok(())
}

/// Links each alternative name to its highest-priority target present in the image.
/// On a base, its candidates compete too; a name whose choice the new packages do not
/// change is left as the base has it.
pub(crate) fn apply_alternatives<W: Write>(
    layer: &mut Layer<W>,
    new: &[Alternative],
    base: Option<&crate::Base>,
    mtime: u64,
) -> Result<usize, ImageError> {
    let below = base.map(|b| b.alternatives.as_slice()).unwrap_or_default();
    let all: Vec<&Alternative> = below.iter().chain(new).collect();
    let mut best: BTreeMap<&str, &Alternative> = BTreeMap::new();
    for &alt in &all {
        let present = image_path(&alt.path).is_some_and(|p| layer.has_non_dir(&p));
        if present
            && best
                .get(alt.name.as_str())
                .is_none_or(|b| alt.priority > b.priority)
        {
            best.insert(&alt.name, alt);
        }
    }
    let mut count = 0;
    for (name, alt) in best {
        let Some(link) = image_path(&alt.link) else {
            continue;
        };
        let admin = format!("etc/alternatives/{name}");
        let chosen_below = match layer.get(&admin) {
            Some(Slot {
                kind: Kind::Symlink(target),
                below: true,
                ..
            }) => Some(target.as_str()),
            _ => None,
        };
        if chosen_below == Some(alt.path.as_str()) && !new.iter().any(|a| a.name == name) {
            continue; // the base's choice, and nothing new competes
        }
        let generic = layer.get(&link).cloned();
        let ours = format!("/etc/alternatives/{name}");
        let linked_by_base = generic
            .as_ref()
            .is_some_and(|s| s.below && s.kind == Kind::Symlink(ours.clone()));
        if generic.is_some() && !linked_by_base {
            continue; // a package ships the generic name itself
        }
        layer.parents(&admin, mtime)?;
        layer.symlink(&admin, &alt.path, Meta::root(0o777, mtime), None)?;
        if !linked_by_base {
            layer.parents(&link, mtime)?;
            layer.symlink(&link, &ours, Meta::root(0o777, mtime), None)?;
        }
        let mut slaves_text = String::new();
        let mut targets_text = String::new();
        for (slave_link, slave_name, slave_path) in &alt.slaves {
            let (Some(sl), Some(sp)) = (image_path(slave_link), image_path(slave_path)) else {
                continue;
            };
            slaves_text.push_str(&format!("{slave_name}\n{slave_link}\n"));
            let slave_below = layer.get(&sl).is_some_and(|s| s.below);
            if layer.has_non_dir(&sp) && (layer.get(&sl).is_none() || slave_below) {
                let slave_admin = format!("etc/alternatives/{slave_name}");
                layer.symlink(&slave_admin, slave_path, Meta::root(0o777, mtime), None)?;
                if !slave_below {
                    layer.parents(&sl, mtime)?;
                    layer.symlink(
                        &sl,
                        &format!("/{slave_admin}"),
                        Meta::root(0o777, mtime),
                        None,
                    )?;
                }
                targets_text.push_str(&format!("{slave_path}\n"));
            } else {
                targets_text.push('\n');
            }
        }
        // Every candidate present is recorded, as update-alternatives keeps them all.
        let mut others = String::new();
        for other in all.iter().filter(|a| a.name == name && a.path != alt.path) {
            if !image_path(&other.path).is_some_and(|p| layer.has_non_dir(&p)) {
                continue;
            }
            others.push_str(&format!("{}\n{}\n", other.path, other.priority));
            for (_, slave_name, _) in &alt.slaves {
                let target = other
                    .slaves
                    .iter()
                    .find(|(_, n, p)| {
                        n == slave_name && image_path(p).is_some_and(|p| layer.has_non_dir(&p))
                    })
                    .map_or("", |(_, _, p)| p.as_str());
                others.push_str(&format!("{target}\n"));
            }
        }
        let state = format!(
            "auto\n{}\n{slaves_text}\n{}\n{}\n{targets_text}{others}\n",
            alt.link, alt.path, alt.priority
        );
        layer.text(
            &format!("var/lib/dpkg/alternatives/{name}"),
            0o644,
            mtime,
            &state,
        )?;
        count += 1;
    }
    Ok(count)
}

/// Owner and mode for a path of the spec, owned by `owner` (root when absent or unknown).
fn owner_meta(accounts: &Accounts, owner: Option<&str>, mode: u32, mtime: u64) -> Meta {
    let user = owner.and_then(|o| accounts.user(o));
    Meta {
        mode,
        uid: user.map_or(0, |u| u64::from(u.uid)),
        gid: user.map_or(0, |u| u64::from(u.gid)),
        mtime,
    }
}

/// The directories whose owner and mode the spec decides, by layer path: its `paths`
/// directories as declared, and each volume no path declares, 0755 and owned by the
/// image's user so a service that is not root can write it. A package's directory of the
/// same path is written that way the first time.
pub(crate) fn declared_dirs(
    options: &Options,
    accounts: &Accounts,
    mtime: u64,
) -> HashMap<String, Meta> {
    let mut dirs = HashMap::new();
    let mut named = HashSet::new();
    for item in &options.extra_paths {
        let raw = match item {
            ExtraPath::Dir { path, .. }
            | ExtraPath::File { path, .. }
            | ExtraPath::Symlink { path, .. } => path,
        };
        let Some(path) = image_path(raw) else {
            continue;
        };
        if let ExtraPath::Dir { mode, owner, .. } = item {
            let meta = owner_meta(accounts, owner.as_deref(), *mode, mtime);
            dirs.insert(path.clone(), meta);
        }
        named.insert(path);
    }
    let (uid, gid) = options
        .user
        .as_deref()
        .map_or((0, 0), |user| accounts.ids_of(user));
    for volume in &options.volumes {
        if let Some(path) = image_path(volume).filter(|p| !named.contains(p)) {
            let meta = Meta {
                mode: 0o755,
                uid: u64::from(uid),
                gid: u64::from(gid),
                mtime,
            };
            dirs.insert(path, meta);
        }
    }
    dirs
}

pub(crate) fn add_extra_paths<W: Write>(
    layer: &mut Layer<W>,
    extra: &[ExtraPath],
    accounts: &Accounts,
    mtime: u64,
) -> Result<(), ImageError> {
    let mut seen: HashMap<String, ()> = HashMap::new();
    for item in extra {
        let raw = match item {
            ExtraPath::Dir { path, .. }
            | ExtraPath::File { path, .. }
            | ExtraPath::Symlink { path, .. } => path,
        };
        let path = normalize(std::path::Path::new(raw.trim_start_matches('/'))).map_err(|r| {
            ImageError::Hostile {
                package: "spec".into(),
                entry: raw.clone(),
                reason: r.to_string(),
            }
        })?;
        let path = merge_usr(&path);
        if seen.insert(path.clone(), ()).is_some() || layer.has_non_dir(&path) {
            return Err(ImageError::Conflict {
                path,
                first: "a package or the spec".into(),
                second: "the spec's `paths`".into(),
            });
        }
        layer.parents(&path, mtime)?;
        match item {
            // A directory a package shipped took the declared owner and mode already.
            ExtraPath::Dir { .. } => layer.declared_dir(&path)?,
            ExtraPath::File {
                mode,
                owner,
                content,
                ..
            } => layer.file(
                &path,
                owner_meta(accounts, owner.as_deref(), *mode, mtime),
                content.len() as u64,
                content.as_slice(),
                None,
            )?,
            ExtraPath::Symlink { target, .. } => {
                layer.symlink(&path, target, Meta::root(0o777, mtime), None)?
            }
        }
    }
    Ok(())
}
