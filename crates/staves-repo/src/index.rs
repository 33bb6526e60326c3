//! A `Packages` index kept on disk, with a persistent lookup table beside it.
//!
//! Parsing Debian's main index takes a few hundred milliseconds; a resolution needs a few
//! hundred of its sixty thousand paragraphs. So the verified text is memory-mapped and a
//! lookup table — sorted `(name hash, offset, length)` records for package names and for
//! provided names — is built once per index (it is named after the index's SHA-256) and read
//! on every later run. Lookups check the name in the paragraph itself, so hash collisions
//! cost a comparison, never a wrong answer.

use std::path::Path;

use memmap2::Mmap;
use staves_deb::deb822::{self, Paragraph};

use crate::cache::Cache;
use crate::error::RepoError;

const MAGIC: &[u8; 8] = b"STVIDX01";
const RECORD: usize = 16;

/// One table entry: a name's hash and where its paragraph sits in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    hash: u64,
    offset: u32,
    len: u32,
}

/// The text of a `Packages` file plus its lookup tables.
#[derive(Debug)]
pub struct PackageIndex {
    text: Text,
    packages: Vec<Entry>,
    provides: Vec<Entry>,
}

#[derive(Debug)]
enum Text {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

impl Text {
    fn bytes(&self) -> &[u8] {
        match self {
            Text::Mapped(m) => m,
            Text::Owned(v) => v,
        }
    }
}

impl PackageIndex {
    /// Opens the verified index at `path` (named by `sha256`), building its table on first use.
    pub fn open(cache: &Cache, path: &Path, sha256: &str) -> Result<Self, RepoError> {
        let text = map(path)?;
        let table_path = cache.entry("indices", sha256, ".idx");
        if let Ok(table) = std::fs::read(&table_path)
            && let Some((packages, provides)) = decode_table(&table)
        {
            return Ok(PackageIndex {
                text,
                packages,
                provides,
            });
        }
        let (packages, provides) = build_table(text.bytes());
        let encoded = encode_table(&packages, &provides);
        cache.write_atomic(&table_path, |f| {
            std::io::Write::write_all(f, &encoded).map_err(RepoError::io("writing", &table_path))
        })?;
        Ok(PackageIndex {
            text,
            packages,
            provides,
        })
    }

    /// An index held in memory (tests, small local repositories).
    pub fn from_text(text: String) -> Self {
        let (packages, provides) = build_table(text.as_bytes());
        PackageIndex {
            text: Text::Owned(text.into_bytes()),
            packages,
            provides,
        }
    }

    /// Number of paragraphs.
    pub fn len(&self) -> usize {
        self.packages.len()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.packages.is_empty()
    }

    /// Paragraphs whose `Package` is `name`.
    pub fn by_name<'a>(&'a self, name: &'a str) -> impl Iterator<Item = Paragraph<'a>> + 'a {
        self.lookup(&self.packages, name)
            .filter(move |p| p.get("Package") == Some(name))
    }

    /// Paragraphs that may provide `name` (the caller reads their `Provides` field).
    pub fn providers<'a>(&'a self, name: &'a str) -> impl Iterator<Item = Paragraph<'a>> + 'a {
        self.lookup(&self.provides, name)
    }

    /// Every paragraph, in file order.
    pub fn paragraphs(&self) -> impl Iterator<Item = Paragraph<'_>> {
        let text = std::str::from_utf8(self.text.bytes()).unwrap_or_default();
        deb822::paragraphs(text)
    }

    /// Every package name (for suggestions), unsorted and possibly repeated.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.packages
            .iter()
            .filter_map(|e| self.paragraph(e).and_then(|p| p.get("Package")))
    }

    fn lookup<'a>(
        &'a self,
        table: &'a [Entry],
        name: &str,
    ) -> impl Iterator<Item = Paragraph<'a>> + 'a {
        let hash = fnv1a(name.as_bytes());
        let start = table.partition_point(|e| e.hash < hash);
        table[start..]
            .iter()
            .take_while(move |e| e.hash == hash)
            .filter_map(|e| self.paragraph(e))
    }

    fn paragraph(&self, e: &Entry) -> Option<Paragraph<'_>> {
        let start = e.offset as usize;
        let bytes = self.text.bytes().get(start..start + e.len as usize)?;
        std::str::from_utf8(bytes)
            .ok()
            .map(|t| Paragraph::new(t, start))
    }
}

#[allow(unsafe_code)]
fn map(path: &Path) -> Result<Text, RepoError> {
    let file = std::fs::File::open(path).map_err(RepoError::io("opening", path))?;
    let len = file
        .metadata()
        .map_err(RepoError::io("reading", path))?
        .len();
    if len == 0 {
        return Ok(Text::Owned(Vec::new()));
    }
    // SAFETY: cache entries are never modified in place: they are written to a temporary file
    // and renamed, so the mapped file's contents cannot change under us.
    let map = unsafe { Mmap::map(&file) }.map_err(RepoError::io("mapping", path))?;
    Ok(Text::Mapped(map))
}

/// FNV-1a: stable across runs and platforms, which a persisted table needs.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn build_table(bytes: &[u8]) -> (Vec<Entry>, Vec<Entry>) {
    let text = std::str::from_utf8(bytes).unwrap_or_default();
    let mut packages = Vec::with_capacity(text.len() / 800);
    let mut provides = Vec::new();
    for para in deb822::paragraphs(text) {
        let (Ok(offset), Ok(len)) = (
            u32::try_from(para.offset()),
            u32::try_from(para.text().len()),
        ) else {
            break; // beyond 4 GiB: not a Packages file Debian publishes
        };
        let entry = |name: &str, table: &mut Vec<Entry>| {
            table.push(Entry {
                hash: fnv1a(name.as_bytes()),
                offset,
                len,
            })
        };
        for (field, value) in para.fields() {
            if field.eq_ignore_ascii_case("Package") {
                entry(value, &mut packages);
            } else if field.eq_ignore_ascii_case("Provides") {
                for item in value.split(',') {
                    let name = item.trim().split([' ', '(', ':']).next().unwrap_or("");
                    if !name.is_empty() {
                        entry(name, &mut provides);
                    }
                }
            }
        }
    }
    packages.sort_unstable();
    provides.sort_unstable();
    provides.dedup();
    (packages, provides)
}

fn encode_table(packages: &[Entry], provides: &[Entry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + (packages.len() + provides.len()) * RECORD);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(packages.len() as u32).to_le_bytes());
    out.extend_from_slice(&(provides.len() as u32).to_le_bytes());
    for e in packages.iter().chain(provides) {
        out.extend_from_slice(&e.hash.to_le_bytes());
        out.extend_from_slice(&e.offset.to_le_bytes());
        out.extend_from_slice(&e.len.to_le_bytes());
    }
    out
}

fn decode_table(bytes: &[u8]) -> Option<(Vec<Entry>, Vec<Entry>)> {
    let header = bytes.get(..16)?;
    if &header[..8] != MAGIC {
        return None;
    }
    let count = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().unwrap_or_default());
    let (np, nv) = (count(8) as usize, count(12) as usize);
    let body = &bytes[16..];
    if body.len() != (np + nv) * RECORD {
        return None;
    }
    let mut records = body.chunks_exact(RECORD).map(|r| Entry {
        hash: u64::from_le_bytes(r[..8].try_into().unwrap_or_default()),
        offset: u32::from_le_bytes(r[8..12].try_into().unwrap_or_default()),
        len: u32::from_le_bytes(r[12..16].try_into().unwrap_or_default()),
    });
    let packages: Vec<Entry> = records.by_ref().take(np).collect();
    let provides: Vec<Entry> = records.collect();
    Some((packages, provides))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "Package: mawk\nVersion: 1.3.4\nProvides: awk\n\nPackage: gawk\nVersion: 1:5.2.1-2\nProvides: awk, gawk-alias (= 1)\n\nPackage: mawk\nVersion: 1.3.5\n";

    #[test]
    fn finds_packages_and_providers() {
        let idx = PackageIndex::from_text(TEXT.to_owned());
        assert_eq!(idx.len(), 3);
        let versions: Vec<_> = idx
            .by_name("mawk")
            .filter_map(|p| p.get("Version"))
            .collect();
        assert_eq!(versions, ["1.3.4", "1.3.5"]);
        let awk: Vec<_> = idx
            .providers("awk")
            .filter_map(|p| p.get("Package"))
            .collect();
        assert_eq!(awk, ["mawk", "gawk"]);
        assert_eq!(idx.providers("gawk-alias").count(), 1);
        assert_eq!(idx.by_name("awk").count(), 0);
    }

    #[test]
    fn table_round_trips_through_the_cache() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = Cache::open(dir.path()).expect("cache");
        let path = dir.path().join("Packages");
        std::fs::write(&path, TEXT).expect("write");
        let built = PackageIndex::open(&cache, &path, "ab12").expect("build");
        let reread = PackageIndex::open(&cache, &path, "ab12").expect("reread");
        assert_eq!(built.packages, reread.packages);
        assert_eq!(built.provides, reread.provides);
        assert!(cache.entry("indices", "ab12", ".idx").is_file());
        assert_eq!(decode_table(b"garbage"), None);
    }
}
