//! What a recipe installed under `$DESTDIR`, made into `.deb`s: the paths split between the
//! packages by the recipe's patterns, each package's `Depends` derived from its ELF files
//! ([`crate::shlibdeps`]) plus what the recipe adds, and the files written reproducibly
//! ([`staves_deb::write`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use staves_deb::write::{Entry, EntryKind, NewDeb, installed_size, write_deb};
use staves_spec::recipe::{Recipe, matches};

use crate::error::SourceError;
use crate::shlibdeps::{ElfNeeds, Libraries, read_elf};
use crate::tree::walk;

/// One package of a recipe and what it takes.
struct Part<'a> {
    name: &'a str,
    architecture: &'a str,
    description: Option<&'a str>,
    depends: Vec<&'a str>,
    patterns: Vec<&'a str>,
    entries: Vec<Entry>,
}

/// Splits the installed tree between the recipe's packages: a path goes to the first split
/// package with a matching pattern, else to the main package; each package gets the
/// directories above its paths, and empty directories stay with the main package.
fn split<'a>(recipe: &'a Recipe, arch: &'a str, installed: Vec<Entry>) -> Vec<Part<'a>> {
    let main_arch = recipe.architecture.as_ref().map_or("any", |a| a.get_ref());
    let resolve = |a: &'a str| if a == "all" { "all" } else { arch };
    let mut parts = vec![Part {
        name: recipe.name.get_ref(),
        architecture: resolve(main_arch),
        description: recipe.description.as_deref(),
        depends: recipe
            .depends
            .iter()
            .map(|d| d.get_ref().as_str())
            .collect(),
        patterns: Vec::new(),
        entries: Vec::new(),
    }];
    for (name, package) in &recipe.packages {
        let package = package.get_ref();
        parts.push(Part {
            name,
            architecture: resolve(
                package
                    .architecture
                    .as_ref()
                    .map_or(main_arch, |a| a.get_ref()),
            ),
            description: package
                .description
                .as_deref()
                .or(recipe.description.as_deref()),
            depends: package
                .depends
                .iter()
                .map(|d| d.get_ref().as_str())
                .collect(),
            patterns: package.files.iter().map(|f| f.get_ref().as_str()).collect(),
            entries: Vec::new(),
        });
    }
    let owner = |path: &str| {
        parts
            .iter()
            .skip(1)
            .position(|p| p.patterns.iter().any(|pattern| matches(pattern, path)))
            .map_or(0, |i| i + 1)
    };
    let owners: Vec<usize> = installed.iter().map(|e| owner(&e.path)).collect();
    let mut wanted_dirs: Vec<BTreeSet<String>> = vec![BTreeSet::new(); parts.len()];
    for (entry, &part) in installed.iter().zip(&owners) {
        if entry.kind == EntryKind::Dir {
            continue;
        }
        let mut parent = entry.path.as_str();
        while let Some((up, _)) = parent.rsplit_once('/') {
            wanted_dirs[part].insert(up.to_owned());
            parent = up;
        }
    }
    // Directories with nothing but directories below: they stay with their owner.
    let filled: BTreeSet<&String> = wanted_dirs.iter().flatten().collect();
    let bare: Vec<bool> = installed
        .iter()
        .map(|d| d.kind == EntryKind::Dir && !filled.contains(&d.path))
        .collect();
    for ((entry, part), bare) in installed.into_iter().zip(owners).zip(bare) {
        if entry.kind == EntryKind::Dir {
            for (i, dirs) in wanted_dirs.iter().enumerate() {
                if dirs.contains(&entry.path) {
                    parts[i].entries.push(entry.clone());
                }
            }
            if bare {
                parts[part].entries.push(entry);
            }
        } else {
            parts[part].entries.push(entry);
        }
    }
    parts
}

/// Writes the recipe's packages from what it installed under `installed`, into `out`;
/// `root` is the build root whose dpkg database says who ships each library; `dbgsym`, when
/// the build stripped its ELF files, holds their debug symbols (with `dbgsym.list` beside
/// it), which become a `-dbgsym` package for each package with any.
pub fn make_debs(
    recipe: &Recipe,
    arch: &str,
    installed: &Path,
    root: &Path,
    out: &Path,
    dbgsym: &Path,
) -> Result<Vec<PathBuf>, SourceError> {
    let parts = split(recipe, arch, walk(installed, &|_| false)?);
    let version = recipe.version.get_ref();
    // Libraries the recipe ships itself, by file name: a dependency on them is exact.
    let mut shipped: HashMap<String, String> = HashMap::new();
    for part in &parts {
        for entry in &part.entries {
            let name = entry.path.rsplit('/').next().unwrap_or_default();
            if name.contains(".so") && entry.kind != EntryKind::Dir {
                shipped.insert(name.to_owned(), part.name.to_owned());
            }
        }
    }
    let libraries = Libraries::open(root)?;
    let mtime = recipe.source_date_epoch.unwrap_or(0);
    std::fs::create_dir_all(out).map_err(SourceError::io("creating", out))?;
    let mut made = Vec::new();
    for part in &parts {
        if part.name != recipe.name.get_ref() && part.entries.is_empty() {
            return Err(SourceError::Malformed {
                what: format!("split package {} of {}", part.name, recipe.path.display()),
                message: format!(
                    "its patterns ({}) match nothing the recipe installed",
                    part.patterns.join(", ")
                ),
            });
        }
        let mut needs: Vec<ElfNeeds> = Vec::new();
        for entry in &part.entries {
            if let EntryKind::File { source, .. } = &entry.kind
                && let Some(need) = read_elf(source)?
            {
                needs.push(need);
            }
        }
        let mut depends = libraries.depends(&needs, &shipped, part.name, version)?;
        depends.extend(part.depends.iter().map(|d| (*d).to_owned()));
        let main = part.name == recipe.name.get_ref();
        let postinst = crate::accounts::postinst(recipe, part.name).filter(|_| main);
        if postinst.is_some() && !recipe.users.is_empty() {
            depends.push("adduser".into());
        }
        let control = control(recipe, part, &depends, installed_size(&part.entries));
        let scripts: Vec<(&str, &str)> =
            postinst.iter().map(|p| ("postinst", p.as_str())).collect();
        made.push(write(
            out,
            &control,
            part.name,
            version,
            part.architecture,
            &part.entries,
            mtime,
            &scripts,
        )?);
        let symbols = debug_symbols(dbgsym, &part.entries)?;
        if !symbols.ids.is_empty() {
            let name = format!("{}-dbgsym", part.name);
            let control = dbgsym_control(recipe, part, &symbols);
            made.push(write(
                out,
                &control,
                &name,
                version,
                part.architecture,
                &symbols.entries,
                mtime,
                &[],
            )?);
        }
    }
    Ok(made)
}

/// Writes one `.deb` into `out`, named as dpkg names it.
#[allow(clippy::too_many_arguments)]
fn write(
    out: &Path,
    control: &str,
    name: &str,
    version: &str,
    architecture: &str,
    entries: &[Entry],
    mtime: u64,
    scripts: &[(&str, &str)],
) -> Result<PathBuf, SourceError> {
    let file_version = version.split_once(':').map_or(version, |(_, v)| v);
    let path = out.join(format!("{name}_{file_version}_{architecture}.deb"));
    let deb = NewDeb {
        control,
        entries,
        mtime,
        scripts,
    };
    let file = std::fs::File::create(&path).map_err(SourceError::io("creating", &path))?;
    write_deb(std::io::BufWriter::new(file), &deb).map_err(SourceError::io("writing", &path))?;
    Ok(path)
}

/// The debug symbols of a package's stripped files.
#[derive(Debug, Default)]
struct DebugSymbols {
    /// Their build ids, sorted.
    ids: Vec<String>,
    /// The `.debug` files and the directories above them.
    entries: Vec<Entry>,
}

/// The debug files `dbgsym` holds for the files among `entries`, as `dbgsym.list` (build id
/// and installed path, one a line) pairs them.
fn debug_symbols(dbgsym: &Path, entries: &[Entry]) -> Result<DebugSymbols, SourceError> {
    let list = dbgsym.with_file_name("dbgsym.list");
    let Ok(text) = std::fs::read_to_string(&list) else {
        return Ok(DebugSymbols::default());
    };
    let own: BTreeSet<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    let mut ids: Vec<String> = text
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(id, path)| own.contains(path) && id.len() > 2)
        .map(|(id, _)| id.to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Ok(DebugSymbols::default());
    }
    let files: BTreeSet<String> = ids
        .iter()
        .map(|id| format!("usr/lib/debug/.build-id/{}/{}.debug", &id[..2], &id[2..]))
        .collect();
    let mut dirs = BTreeSet::new();
    for file in &files {
        let mut parent = file.as_str();
        while let Some((up, _)) = parent.rsplit_once('/') {
            dirs.insert(up.to_owned());
            parent = up;
        }
    }
    let entries = walk(dbgsym, &|_| false)?
        .into_iter()
        .filter(|e| files.contains(&e.path) || (e.kind == EntryKind::Dir && dirs.contains(&e.path)))
        .collect();
    Ok(DebugSymbols { ids, entries })
}

/// The control paragraph of a package's `-dbgsym`, as debhelper writes it.
fn dbgsym_control(recipe: &Recipe, part: &Part<'_>, symbols: &DebugSymbols) -> String {
    let version = recipe.version.get_ref();
    format!(
        "Package: {name}-dbgsym\nSource: {source}\nVersion: {version}\nAuto-Built-Package: debug-symbols\nArchitecture: {arch}\nMaintainer: {maintainer}\nInstalled-Size: {size}\nDepends: {name} (= {version})\nSection: debug\nPriority: optional\nDescription: debug symbols for {name}\nBuild-Ids: {ids}\n",
        name = part.name,
        source = recipe.name.get_ref(),
        arch = part.architecture,
        maintainer = recipe
            .maintainer
            .as_deref()
            .unwrap_or("Staves recipe <root@localhost>"),
        size = installed_size(&symbols.entries),
        ids = symbols.ids.join(" "),
    )
}

/// The control paragraph, fields in the order `dpkg-gencontrol` writes them.
fn control(recipe: &Recipe, part: &Part<'_>, depends: &[String], size: u64) -> String {
    let mut fields: BTreeMap<usize, String> = BTreeMap::new();
    let mut add = |order: usize, name: &str, value: &str| {
        if !value.is_empty() {
            fields.insert(order, format!("{name}: {value}"));
        }
    };
    add(0, "Package", part.name);
    if part.name != recipe.name.get_ref() {
        add(1, "Source", recipe.name.get_ref());
    }
    add(2, "Version", recipe.version.get_ref());
    add(3, "Architecture", part.architecture);
    add(
        4,
        "Maintainer",
        recipe
            .maintainer
            .as_deref()
            .unwrap_or("Staves recipe <root@localhost>"),
    );
    add(5, "Installed-Size", &size.to_string());
    add(6, "Depends", &depends.join(", "));
    add(7, "Section", recipe.section.as_deref().unwrap_or("misc"));
    add(8, "Priority", "optional");
    add(
        9,
        "Homepage",
        recipe.homepage.as_deref().unwrap_or_default(),
    );
    add(
        10,
        "Description",
        &Recipe::description_field(part.description, part.name),
    );
    let mut text = fields.into_values().collect::<Vec<_>>().join("\n");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_packages_take_their_files_and_the_directories_above() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = dir.path().join("src");
        std::fs::create_dir(&src).expect("mkdir");
        let text = "name = \"app\"\nversion = \"1.0-1\"\nsource = \"src\"\ninstall = \"true\"\n\
                    [packages.app-doc]\nfiles = [\"usr/share/doc/**\"]\narchitecture = \"all\"\n";
        let recipe = Recipe::parse(text, &dir.path().join("app.toml")).expect("recipe");
        let root = dir.path().join("root");
        for d in ["usr/bin", "usr/share/doc/app", "var/lib/app"] {
            std::fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        std::fs::write(root.join("usr/bin/app"), "#!/bin/sh\n").expect("write");
        std::fs::write(root.join("usr/share/doc/app/README"), "hi\n").expect("write");
        let parts = split(&recipe, "amd64", walk(&root, &|_| false).expect("walk"));
        let paths =
            |i: usize| -> Vec<&str> { parts[i].entries.iter().map(|e| e.path.as_str()).collect() };
        assert_eq!(
            paths(0),
            [
                "usr",
                "usr/bin",
                "usr/bin/app",
                "var",
                "var/lib",
                "var/lib/app"
            ]
        );
        assert_eq!(
            paths(1),
            [
                "usr",
                "usr/share",
                "usr/share/doc",
                "usr/share/doc/app",
                "usr/share/doc/app/README"
            ]
        );
        assert_eq!(parts[0].architecture, "amd64");
        assert_eq!(parts[1].architecture, "all");
        let control = control(&recipe, &parts[1], &[], 3);
        assert!(control.starts_with("Package: app-doc\nSource: app\nVersion: 1.0-1\n"));
    }
}
