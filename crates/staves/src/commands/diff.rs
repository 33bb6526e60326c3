//! `staves diff BEFORE AFTER`: what differs between two images — packages (from their dpkg
//! databases), files (kind, mode, owner, size, link target, content digest) grouped by the
//! package that ships them, the run configuration, and which layers are shared — or
//! between two lockfiles. Exit 0 when nothing differs, 1 when something does, as diff(1).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

use serde::Serialize;
use staves_oci::Tree;

use super::inspect::{FileState, MAX_STATUS, STATUS, open_image, packages};
use crate::cli::DiffArgs;
use crate::report::CliError;

/// Where dpkg lists each package's files.
const LISTS: &str = "/var/lib/dpkg/info/";

#[derive(Serialize, Default)]
struct Report {
    packages: Vec<Moved>,
    files: Vec<FileChange>,
    config: Vec<ConfigChange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    layers: Option<Layers>,
}

/// A package (or lock entry) added, removed or at another version.
#[derive(Serialize)]
struct Moved {
    name: String,
    before: Option<String>,
    after: Option<String>,
}

#[derive(Serialize)]
struct FileChange {
    path: String,
    /// The package shipping it (after, else before), or none.
    package: Option<String>,
    before: Option<FileState>,
    after: Option<FileState>,
}

#[derive(Serialize)]
struct ConfigChange {
    key: String,
    before: serde_json::Value,
    after: serde_json::Value,
}

#[derive(Serialize)]
struct Layers {
    /// Layers of the image after that the image before has too (by diff ID).
    shared: usize,
    /// Layers of the image after that are new.
    new: usize,
}

impl Report {
    fn identical(&self) -> bool {
        self.packages.is_empty()
            && self.files.is_empty()
            && self.config.is_empty()
            && self.layers.as_ref().is_none_or(|l| l.new == 0)
    }
}

pub fn run(args: &DiffArgs) -> Result<(), CliError> {
    let lockfiles = [&args.before, &args.after]
        .iter()
        .all(|p| p.ends_with(".lock") && Path::new(p).is_file());
    let report = if lockfiles {
        lock_diff(&args.before, &args.after)?
    } else {
        image_diff(args)?
    };
    #[derive(Serialize)]
    struct Json<'a> {
        identical: bool,
        #[serde(flatten)]
        report: &'a Report,
    }
    let json = Json {
        identical: report.identical(),
        report: &report,
    };
    super::resolve::print_report(args.json, &json, |out| print_text(out, &report))?;
    match report.identical() {
        true => Ok(()),
        false => Err(CliError::Reported),
    }
}

fn lock_diff(before: &str, after: &str) -> Result<Report, CliError> {
    let read = |path: &str| {
        staves_resolve::Lockfile::read(Path::new(path))?
            .ok_or_else(|| CliError::Usage(format!("{path}: no lockfile there")))
    };
    let (before, after) = (read(before)?, read(after)?);
    let several = before.targets.len() > 1 || after.targets.len() > 1;
    let packages = staves_resolve::changes(&before, &after)
        .into_iter()
        .map(|c| Moved {
            name: match several {
                true => format!("{} ({})", c.package, c.target),
                false => c.package,
            },
            before: c.before,
            after: c.after,
        })
        .collect();
    Ok(Report {
        packages,
        ..Report::default()
    })
}

fn image_diff(args: &DiffArgs) -> Result<Report, CliError> {
    let keep = |path: &str| path == STATUS || (path.starts_with(LISTS) && path.ends_with(".list"));
    let read = |text: &str| -> Result<(Tree, serde_json::Value), CliError> {
        let (image, _saved) = open_image(text, args.arch.as_deref(), &args.pull)?;
        let tree = image.tree_hashed(keep, MAX_STATUS)?;
        Ok((tree, image.config.clone()))
    };
    // Each image is decompressed and hashed on a core of its own.
    let (before, after) = std::thread::scope(|scope| {
        let before = scope.spawn(|| read(&args.before));
        let after = read(&args.after);
        let before = before
            .join()
            .unwrap_or_else(|_| Err(CliError::Internal("reading an image panicked".into())));
        (before, after)
    });
    let (before, before_config) = before?;
    let (after, after_config) = after?;

    let versions = |tree: &Tree| -> BTreeMap<String, String> {
        let status = tree
            .contents
            .get(STATUS)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        packages(&status)
            .into_iter()
            .map(|p| (p.name, p.version))
            .collect()
    };
    let (old, new) = (versions(&before), versions(&after));
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let moved = names
        .into_iter()
        .filter(|n| old.get(*n) != new.get(*n))
        .map(|n| Moved {
            name: n.clone(),
            before: old.get(n).cloned(),
            after: new.get(n).cloned(),
        })
        .collect();

    // The package that ships a path now, else the one that shipped it before.
    let mut owner_of = owners(&before);
    owner_of.extend(owners(&after));
    let paths: BTreeSet<&String> = before.files.keys().chain(after.files.keys()).collect();
    let files = paths
        .into_iter()
        // dpkg's own records change with the packages; they are said above.
        .filter(|p| !p.starts_with("/var/lib/dpkg/"))
        .filter_map(|path| {
            let was = before.files.get(path).map(FileState::from);
            let is = after.files.get(path).map(FileState::from);
            (was != is).then(|| FileChange {
                path: path.clone(),
                package: owner_of.get(path.as_str()).cloned(),
                before: was,
                after: is,
            })
        })
        .collect();

    let object = |config: &serde_json::Value| config["config"].as_object().cloned();
    let (old_config, new_config) = (
        object(&before_config).unwrap_or_default(),
        object(&after_config).unwrap_or_default(),
    );
    let keys: BTreeSet<&String> = old_config.keys().chain(new_config.keys()).collect();
    let config = keys
        .into_iter()
        .filter(|k| old_config.get(*k) != new_config.get(*k))
        .map(|k| ConfigChange {
            key: k.clone(),
            before: old_config.get(k).cloned().unwrap_or_default(),
            after: new_config.get(k).cloned().unwrap_or_default(),
        })
        .collect();

    // The configs' diff_ids say what each layer unpacks to (the configs are checked
    // against their digests): a layer of the second is reused when the first has it.
    let diff_ids = |config: &serde_json::Value| -> Vec<String> {
        config["rootfs"]["diff_ids"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d.as_str().map(str::to_owned))
            .collect()
    };
    let (old_layers, new_layers) = (diff_ids(&before_config), diff_ids(&after_config));
    let shared = new_layers.iter().filter(|d| old_layers.contains(d)).count();
    Ok(Report {
        packages: moved,
        files,
        config,
        layers: Some(Layers {
            shared,
            new: new_layers.len() - shared,
        }),
    })
}

/// Path → the package whose dpkg list names it.
fn owners(tree: &Tree) -> BTreeMap<String, String> {
    let mut owners = BTreeMap::new();
    for (list, bytes) in &tree.contents {
        let Some(name) = list
            .strip_prefix(LISTS)
            .and_then(|n| n.strip_suffix(".list"))
        else {
            continue;
        };
        let package = name.split(':').next().unwrap_or(name);
        for path in String::from_utf8_lossy(bytes).lines() {
            owners
                .entry(path.to_owned())
                .or_insert_with(|| package.to_owned());
        }
    }
    owners
}

fn print_text(out: &mut dyn Write, r: &Report) -> std::io::Result<()> {
    if r.identical() {
        return writeln!(out, "identical");
    }
    let count = |added: usize, removed: usize, total: usize| {
        format!(
            "{} changed, {added} added, {removed} removed",
            total - added - removed
        )
    };
    if !r.packages.is_empty() {
        let added = r.packages.iter().filter(|p| p.before.is_none()).count();
        let removed = r.packages.iter().filter(|p| p.after.is_none()).count();
        writeln!(out, "Packages: {}", count(added, removed, r.packages.len()))?;
        for p in &r.packages {
            match (&p.before, &p.after) {
                (Some(b), Some(a)) => writeln!(out, "  ~ {} {b} -> {a}", p.name)?,
                (None, Some(a)) => writeln!(out, "  + {} {a}", p.name)?,
                (Some(b), None) => writeln!(out, "  - {} {b}", p.name)?,
                (None, None) => {}
            }
        }
    }
    if !r.files.is_empty() {
        let added = r.files.iter().filter(|f| f.before.is_none()).count();
        let removed = r.files.iter().filter(|f| f.after.is_none()).count();
        writeln!(out, "Files: {}", count(added, removed, r.files.len()))?;
        let mut by_package: BTreeMap<&str, Vec<&FileChange>> = BTreeMap::new();
        for f in &r.files {
            by_package
                .entry(f.package.as_deref().unwrap_or("(no package)"))
                .or_default()
                .push(f);
        }
        for (package, files) in by_package {
            writeln!(out, "  {package}:")?;
            for f in files {
                let (mark, what) = match (&f.before, &f.after) {
                    (Some(b), Some(a)) => ("~", what_changed(b, a)),
                    (None, Some(_)) => ("+", String::new()),
                    _ => ("-", String::new()),
                };
                writeln!(out, "    {mark} {}{what}", f.path)?;
            }
        }
    }
    for c in &r.config {
        writeln!(out, "Config {}: {} -> {}", c.key, c.before, c.after)?;
    }
    if let Some(l) = &r.layers {
        writeln!(out, "Layers: {} shared, {} new", l.shared, l.new)?;
    }
    Ok(())
}

/// `(size 10 -> 12, content)`: which of a file's properties changed.
fn what_changed(b: &FileState, a: &FileState) -> String {
    let mut parts = Vec::new();
    if b.kind != a.kind {
        parts.push(format!("kind {} -> {}", b.kind, a.kind));
    }
    if b.mode != a.mode {
        parts.push(format!("mode {} -> {}", b.mode, a.mode));
    }
    if b.owner != a.owner {
        parts.push(format!("owner {} -> {}", b.owner, a.owner));
    }
    if b.size != a.size {
        parts.push(format!("size {} -> {}", b.size, a.size));
    }
    if b.link != a.link {
        parts.push("link target".to_owned());
    }
    if b.sha256 != a.sha256 && b.size == a.size {
        parts.push("content".to_owned());
    }
    format!(" ({})", parts.join(", "))
}
