//! `Depends` derived from the ELF files of a package, with `dpkg-shlibdeps`' semantics: each
//! library a file needs (`DT_NEEDED`) is found in the build root's library directories, the
//! package owning it is read from the root's dpkg database, and the dependency comes from
//! that package's `symbols` file — its template with the highest minimum version among the
//! symbols the file actually uses — or, without one, from its `shlibs` file.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use goblin::elf::Elf;
use staves_deb::Version;

use crate::error::SourceError;

/// The largest ELF file read whole to find what it needs.
const MAX_ELF: u64 = 1 << 30;

/// What one ELF file needs from shared libraries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ElfNeeds {
    /// `DT_NEEDED` sonames.
    pub needed: Vec<String>,
    /// `DT_RUNPATH`/`DT_RPATH` directories.
    pub runpaths: Vec<String>,
    /// Undefined symbols by the soname their version names (`printf@GLIBC_2.2.5` under
    /// `libc.so.6`); unversioned ones under the empty name, as `name@Base`.
    pub symbols: BTreeMap<String, BTreeSet<String>>,
}

/// Reads what an ELF file needs; `None` for anything that is not a dynamically linked ELF.
pub fn elf_needs(bytes: &[u8]) -> Option<ElfNeeds> {
    if !bytes.starts_with(b"\x7fELF") {
        return None;
    }
    let elf = Elf::parse(bytes).ok()?;
    if elf.libraries.is_empty() {
        return None;
    }
    // Version index → the library file that defines it.
    let mut versions: HashMap<u16, (String, String)> = HashMap::new();
    if let Some(verneed) = &elf.verneed {
        for need in verneed.iter() {
            let file = elf.dynstrtab.get_at(need.vn_file).unwrap_or_default();
            for aux in need.iter() {
                let name = elf.dynstrtab.get_at(aux.vna_name).unwrap_or_default();
                versions.insert(aux.vna_other, (file.to_owned(), name.to_owned()));
            }
        }
    }
    let mut symbols: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (i, sym) in elf.dynsyms.iter().enumerate() {
        // Undefined, and not weak: a weak reference may stay unresolved.
        if sym.st_shndx != 0 || sym.st_bind() == goblin::elf::sym::STB_WEAK {
            continue;
        }
        let Some(name) = elf.dynstrtab.get_at(sym.st_name).filter(|n| !n.is_empty()) else {
            continue;
        };
        let version = elf
            .versym
            .as_ref()
            .and_then(|v| v.get_at(i))
            .map(|v| v.version())
            .and_then(|index| versions.get(&index));
        match version {
            Some((file, version)) => symbols
                .entry(file.clone())
                .or_default()
                .insert(format!("{name}@{version}")),
            None => symbols
                .entry(String::new())
                .or_default()
                .insert(format!("{name}@Base")),
        };
    }
    Some(ElfNeeds {
        needed: elf.libraries.iter().map(|l| (*l).to_owned()).collect(),
        runpaths: elf
            .runpaths
            .iter()
            .chain(&elf.rpaths)
            .flat_map(|p| p.split(':'))
            .map(str::to_owned)
            .collect(),
        symbols,
    })
}

/// A library section of a `symbols` file.
#[derive(Debug, Clone, Default)]
struct LibrarySymbols {
    /// The dependency template (`libc6 #MINVER#`).
    template: String,
    /// Alternative templates (`| libc6 (>> 2.36), …`), numbered from 1.
    alternatives: Vec<String>,
    /// `name@version` → (minimum version, template number).
    symbols: HashMap<String, (String, usize)>,
    /// `(symver)VERSION` patterns: every symbol of that version.
    symver: HashMap<String, (String, usize)>,
}

/// Parses a `symbols` file (deb-symbols(5)) into its libraries, by soname.
fn parse_symbols(text: &str) -> HashMap<String, LibrarySymbols> {
    let mut libraries: HashMap<String, LibrarySymbols> = HashMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix(' ') {
            let Some(library) = current.as_ref().and_then(|c| libraries.get_mut(c)) else {
                continue;
            };
            let (tags, rest) = match rest.strip_prefix('(') {
                Some(tagged) => tagged.split_once(')').unwrap_or(("", tagged)),
                None => ("", rest),
            };
            let (name, rest) = match rest.strip_prefix('"') {
                Some(quoted) => quoted.split_once('"').unwrap_or((quoted, "")),
                None => rest.split_once(' ').unwrap_or((rest, "")),
            };
            let mut words = rest.split_whitespace();
            let minver = words.next().unwrap_or_default().to_owned();
            let id = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
            let tags: Vec<&str> = tags.split('|').collect();
            if tags.contains(&"symver") {
                library.symver.insert(name.to_owned(), (minver, id));
            } else if !tags.iter().any(|t| *t == "c++" || *t == "regex") {
                library.symbols.insert(name.to_owned(), (minver, id));
            }
        } else if let Some(alternative) = line.strip_prefix('|') {
            if let Some(library) = current.as_ref().and_then(|c| libraries.get_mut(c)) {
                library.alternatives.push(alternative.trim().to_owned());
            }
        } else if line.starts_with('*') || line.starts_with('#') || line.trim().is_empty() {
            continue;
        } else if let Some((soname, template)) = line.split_once(char::is_whitespace) {
            current = Some(soname.to_owned());
            libraries.insert(
                soname.to_owned(),
                LibrarySymbols {
                    template: template.trim().to_owned(),
                    ..LibrarySymbols::default()
                },
            );
        }
    }
    libraries
}

/// `libfoo.so.1` → (`libfoo`, `1`); `libfoo-1.2.so` → (`libfoo`, `1.2`), as shlibs names them.
fn shlibs_name(soname: &str) -> Option<(&str, &str)> {
    if let Some((name, version)) = soname.split_once(".so.") {
        return Some((name, version));
    }
    let stem = soname.strip_suffix(".so")?;
    let (name, version) = stem.rsplit_once('-')?;
    Some((name, version))
}

/// The dependency an `shlibs` file gives for `soname`.
fn from_shlibs(text: &str, soname: &str) -> Option<String> {
    let (name, version) = shlibs_name(soname)?;
    text.lines().find_map(|line| {
        let line = line.trim();
        let mut words = line.split_whitespace();
        let mut first = words.next()?;
        if first.ends_with(':') {
            // A package type (`udeb:`): not for binary packages.
            if first != "deb:" {
                return None;
            }
            first = words.next()?;
        }
        let second = words.next()?;
        if first != name || second != version {
            return None;
        }
        let rest: Vec<&str> = words.collect();
        Some(rest.join(" "))
    })
}

/// The build root's shared libraries and who owns them.
#[derive(Debug)]
pub struct Libraries {
    root: PathBuf,
    /// File name → `(directory, owning package)` for files in a library directory.
    by_name: HashMap<String, Vec<(String, String)>>,
}

/// Whether `dir` (absolute, in the root) is one the dynamic linker searches.
fn is_library_dir(dir: &str) -> bool {
    let dir = dir.strip_prefix("/usr").unwrap_or(dir);
    dir == "/lib"
        || dir == "/lib64"
        || dir
            .strip_prefix("/lib/")
            .is_some_and(|d| d.contains("-linux-") && !d.contains('/'))
}

impl Libraries {
    /// Reads the owners of the root's library files from its dpkg database.
    pub fn open(root: &Path) -> Result<Libraries, SourceError> {
        let info = root.join("var/lib/dpkg/info");
        let mut by_name: HashMap<String, Vec<(String, String)>> = HashMap::new();
        let entries = std::fs::read_dir(&info).map_err(SourceError::io("reading", &info))?;
        for entry in entries {
            let path = entry.map_err(SourceError::io("reading", &info))?.path();
            let Some(file) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some(package) = file.strip_suffix(".list") else {
                continue;
            };
            let package = package.split(':').next().unwrap_or(package).to_owned();
            let text = std::fs::read_to_string(&path).map_err(SourceError::io("reading", &path))?;
            for line in text.lines() {
                let Some((dir, name)) = line.rsplit_once('/') else {
                    continue;
                };
                if name.contains(".so") && is_library_dir(dir) {
                    by_name
                        .entry(name.to_owned())
                        .or_default()
                        .push((dir.to_owned(), package.clone()));
                }
            }
        }
        Ok(Libraries {
            root: root.to_owned(),
            by_name,
        })
    }

    /// The package owning the library `soname`.
    fn owner(&self, soname: &str) -> Option<&str> {
        let owners = self.by_name.get(soname)?;
        owners
            .iter()
            .find(|(dir, _)| {
                self.root
                    .join(dir.trim_start_matches('/'))
                    .join(soname)
                    .exists()
            })
            .or(owners.first())
            .map(|(_, package)| package.as_str())
    }

    /// A file of the owner's database entry (`symbols`, `shlibs`), with or without the
    /// `:arch` qualifier dpkg gives `Multi-Arch: same` packages.
    fn info_file(&self, package: &str, kind: &str) -> Option<String> {
        let info = self.root.join("var/lib/dpkg/info");
        let plain = info.join(format!("{package}.{kind}"));
        if let Ok(text) = std::fs::read_to_string(&plain) {
            return Some(text);
        }
        let prefix = format!("{package}:");
        let suffix = format!(".{kind}");
        std::fs::read_dir(&info).ok()?.find_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            if name.starts_with(&prefix) && name.ends_with(&suffix) {
                std::fs::read_to_string(info.join(name)).ok()
            } else {
                None
            }
        })
    }

    /// The dependencies of a package whose ELF files need `needs`, sorted; libraries the
    /// package ships itself (`shipped`, by soname → the package shipping it) give an exact
    /// dependency on that package, or none when it is the same one.
    pub fn depends(
        &self,
        needs: &[ElfNeeds],
        shipped: &HashMap<String, String>,
        this: &str,
        version: &str,
    ) -> Result<Vec<String>, SourceError> {
        let mut wanted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for need in needs {
            for soname in &need.needed {
                let symbols = wanted.entry(soname.clone()).or_default();
                symbols.extend(need.symbols.get(soname).into_iter().flatten().cloned());
                // Unversioned symbols may come from any library the file needs.
                symbols.extend(need.symbols.get("").into_iter().flatten().cloned());
            }
        }
        let mut depends = Dependencies::default();
        for (soname, used) in &wanted {
            if let Some(package) = shipped.get(soname) {
                if package != this {
                    depends.add(&format!("{package} (= {version})"));
                }
                continue;
            }
            let Some(package) = self.owner(soname) else {
                return Err(SourceError::Malformed {
                    what: format!("the package {this}"),
                    message: format!(
                        "its files need {soname}, which no package of the build root has; add the package shipping it to `build-depends`"
                    ),
                });
            };
            depends.add(&self.dependency(package, soname, used));
        }
        Ok(depends.into_sorted())
    }

    /// The dependency on `package` for the symbols `used` of its library `soname`.
    fn dependency(&self, package: &str, soname: &str, used: &BTreeSet<String>) -> String {
        let library = self
            .info_file(package, "symbols")
            .and_then(|text| parse_symbols(&text).remove(soname));
        if let Some(library) = library {
            let mut minimum: Option<Version> = None;
            let mut template = library.template.clone();
            for symbol in used {
                let version = symbol.rsplit_once('@').map_or("", |(_, v)| v);
                let found = library
                    .symbols
                    .get(symbol)
                    .or_else(|| library.symver.get(version));
                let Some((minver, id)) = found else { continue };
                if *id > 0
                    && let Some(alternative) = library.alternatives.get(id - 1)
                {
                    template = alternative.clone();
                }
                if let Ok(v) = Version::parse(minver)
                    && minimum.as_ref().is_none_or(|m| v > *m)
                {
                    minimum = Some(v);
                }
            }
            let minver = minimum.map_or(String::new(), |v| format!(" (>= {v})"));
            return template
                .replace(" #MINVER#", &minver)
                .replace("#MINVER#", "");
        }
        self.info_file(package, "shlibs")
            .and_then(|text| from_shlibs(&text, soname))
            .unwrap_or_else(|| package.to_owned())
    }
}

/// Dependencies merged as `dpkg-shlibdeps` merges them: one per package, the highest
/// `>=` version kept; anything more complex kept as written, once.
#[derive(Debug, Default)]
struct Dependencies {
    simple: BTreeMap<String, Option<Version>>,
    other: BTreeSet<String>,
}

impl Dependencies {
    fn add(&mut self, dependency: &str) {
        for part in dependency
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let (name, rest) = part.split_once(' ').unwrap_or((part, ""));
            let rest = rest.trim();
            if rest.is_empty() {
                self.simple.entry(name.to_owned()).or_insert(None);
                continue;
            }
            let version = rest
                .strip_prefix("(>=")
                .and_then(|r| r.strip_suffix(')'))
                .and_then(|v| Version::parse(v.trim()).ok());
            match version {
                Some(v) => {
                    let slot = self.simple.entry(name.to_owned()).or_insert(None);
                    if slot.as_ref().is_none_or(|old| v > *old) {
                        *slot = Some(v);
                    }
                }
                None => {
                    self.other.insert(part.to_owned());
                }
            }
        }
    }

    fn into_sorted(self) -> Vec<String> {
        let mut all: Vec<String> = self
            .simple
            .into_iter()
            .map(|(name, v)| match v {
                Some(v) => format!("{name} (>= {v})"),
                None => name,
            })
            .chain(self.other)
            .collect();
        all.sort();
        all
    }
}

/// Reads a file for [`elf_needs`] when it is small enough and starts like an ELF file.
pub fn read_elf(path: &Path) -> Result<Option<ElfNeeds>, SourceError> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(SourceError::io("reading", path))?;
    let mut magic = [0u8; 4];
    if file.read_exact(&mut magic).is_err() || &magic != b"\x7fELF" {
        return Ok(None);
    }
    let size = file
        .metadata()
        .map_err(SourceError::io("reading", path))?
        .len();
    if size > MAX_ELF {
        return Ok(None);
    }
    let bytes = std::fs::read(path).map_err(SourceError::io("reading", path))?;
    Ok(elf_needs(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIBC: &str = concat!(
        "libc.so.6 libc6 #MINVER#\n",
        "| libc6 (>> 2.36), libc6 (<< 2.37)\n",
        " GLIBC_2.2.5@GLIBC_2.2.5 2.2.5\n",
        " printf@GLIBC_2.2.5 2.2.5\n",
        " __libc_start_main@GLIBC_2.34 2.34\n",
        " _dl_private@GLIBC_PRIVATE 2.36 1\n",
        " (symver)GLIBC_2.38 2.38\n",
    );

    #[test]
    fn the_highest_minimum_version_of_the_used_symbols_wins() {
        let library = parse_symbols(LIBC)
            .remove("libc.so.6")
            .expect("libc section");
        assert_eq!(library.template, "libc6 #MINVER#");
        assert_eq!(library.alternatives.len(), 1);
        assert_eq!(library.symbols["printf@GLIBC_2.2.5"], ("2.2.5".into(), 0));
        assert_eq!(library.symver["GLIBC_2.38"], ("2.38".into(), 0));
        assert_eq!(
            library.symbols["_dl_private@GLIBC_PRIVATE"],
            ("2.36".into(), 1)
        );
    }

    #[test]
    fn dependencies_merge_by_package_keeping_the_highest_version() {
        let mut d = Dependencies::default();
        d.add("libc6 (>= 2.34)");
        d.add("libc6 (>= 2.2.5), libcurl4 (>= 7.16.2)");
        d.add("libfoo");
        d.add("libc6 (>> 2.36), libc6 (<< 2.37)");
        assert_eq!(
            d.into_sorted(),
            [
                "libc6 (<< 2.37)",
                "libc6 (>= 2.34)",
                "libc6 (>> 2.36)",
                "libcurl4 (>= 7.16.2)",
                "libfoo"
            ]
        );
    }

    #[test]
    fn shlibs_lines_are_found_by_name_and_soversion() {
        let text =
            "libcurl 4 libcurl4 (>= 7.16.2)\nudeb: libcurl 4 libcurl4-udeb\nlibfoo-1.2 0 libfoo0\n";
        assert_eq!(
            from_shlibs(text, "libcurl.so.4").as_deref(),
            Some("libcurl4 (>= 7.16.2)")
        );
        assert_eq!(shlibs_name("libfoo-1.2.so"), Some(("libfoo", "1.2")));
        assert_eq!(from_shlibs(text, "libbar.so.1"), None);
    }

    #[test]
    fn the_test_binary_needs_versioned_libc_symbols() {
        let exe = std::env::current_exe().expect("current exe");
        let needs = read_elf(&exe)
            .expect("readable")
            .expect("a dynamic ELF file");
        assert!(needs.needed.iter().any(|n| n == "libc.so.6"), "{needs:?}");
        let libc = &needs.symbols["libc.so.6"];
        assert!(libc.iter().any(|s| s.contains("@GLIBC_2.")), "{libc:?}");
        let host = Libraries::open(Path::new("/")).expect("the host's dpkg database");
        let depends = host
            .depends(&[needs], &HashMap::new(), "test", "1")
            .expect("dependencies");
        assert!(
            depends.iter().any(|d| d.starts_with("libc6 (>= 2.")),
            "{depends:?}"
        );
    }

    #[test]
    fn library_directories_are_the_linkers() {
        assert!(is_library_dir("/usr/lib/x86_64-linux-gnu"));
        assert!(is_library_dir("/lib"));
        assert!(!is_library_dir("/usr/lib/x86_64-linux-gnu/perl5"));
        assert!(!is_library_dir("/usr/share/lib"));
    }
}
