//! A `Packages` index kept on disk, with a persistent lookup table beside it.
//!
//! Parsing Debian's main index takes a few hundred milliseconds; a resolution needs a few
//! hundred of its sixty thousand paragraphs. So the verified text is memory-mapped and a
//! lookup table — sorted `(name hash, offset, length)` records for package names and for
//! provided names — is built once per index (it is named after the index's SHA-256) and read
//! on every later run. Lookups check the name in the paragraph itself, so hash collisions
//! cost a comparison, never a wrong answer.
//!
//! The table file is also the index's *record*: it names the signed checksum the text was
//! decoded from, the length and SHA-256 of the text as it was decoded, and a hash of every
//! 4 KiB block of it, and it ends with a SHA-256 of itself. Each run checks the record and
//! the text's length before using it, and every block a lookup reads is hashed and checked
//! the first time it is read: a run verifies what it reads (a resolution reads a few hundred
//! paragraphs of sixty thousand), not all 50 MB of text. A paragraph in a block that fails
//! is not returned and the index says it is damaged ([`PackageIndex::damage`]), so the
//! caller fetches it again instead of silently missing packages (and their security
//! updates).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use memmap2::Mmap;
use sha2::{Digest, Sha256};
use staves_deb::deb822::{self, Paragraph};

use crate::cache::Cache;
use crate::error::RepoError;

const MAGIC: &[u8; 8] = b"STVIDX03";
const RECORD: usize = 16;
/// Magic, source checksum, text length, text checksum, two counts.
const HEADER: usize = 8 + 32 + 8 + 32 + 4 + 4;
/// The text is checked in blocks of this many bytes…
pub const BLOCK: usize = 4096;
/// …each against this many bytes of its SHA-256.
const BLOCK_HASH: usize = 16;

/// What the decoded text of an index must be: written when it was verified and decoded,
/// checked on every later use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextDigest {
    /// Length in bytes.
    pub len: u64,
    /// SHA-256 of the whole text.
    pub sha256: [u8; 32],
    /// The first bytes of the SHA-256 of each [`BLOCK`] of it.
    pub blocks: Vec<[u8; BLOCK_HASH]>,
}

/// Hashes text as it is written: the whole, and each [`BLOCK`].
#[derive(Default)]
pub struct TextHasher {
    whole: Sha256,
    block: Sha256,
    in_block: usize,
    len: u64,
    blocks: Vec<[u8; BLOCK_HASH]>,
}

impl TextHasher {
    /// Adds bytes that follow what came before.
    pub fn update(&mut self, mut bytes: &[u8]) {
        self.whole.update(bytes);
        self.len += bytes.len() as u64;
        while !bytes.is_empty() {
            let take = (BLOCK - self.in_block).min(bytes.len());
            self.block.update(&bytes[..take]);
            self.in_block += take;
            bytes = &bytes[take..];
            if self.in_block == BLOCK {
                self.end_block();
            }
        }
    }

    fn end_block(&mut self) {
        let digest = std::mem::take(&mut self.block).finalize();
        let mut short = [0u8; BLOCK_HASH];
        short.copy_from_slice(&digest[..BLOCK_HASH]);
        self.blocks.push(short);
        self.in_block = 0;
    }

    /// The digest of everything added.
    pub fn finish(mut self) -> TextDigest {
        if self.in_block > 0 {
            self.end_block();
        }
        TextDigest {
            len: self.len,
            sha256: self.whole.finalize().into(),
            blocks: self.blocks,
        }
    }
}

/// Which blocks of a cached text were checked, and how they fared.
#[derive(Debug)]
struct Blocks {
    expected: Vec<[u8; BLOCK_HASH]>,
    /// Per block: 0 not yet checked, 1 as verified, 2 damaged.
    state: Vec<AtomicU8>,
    damaged: AtomicBool,
}

impl Blocks {
    fn new(expected: Vec<[u8; BLOCK_HASH]>) -> Blocks {
        let state = expected.iter().map(|_| AtomicU8::new(0)).collect();
        Blocks {
            expected,
            state,
            damaged: AtomicBool::new(false),
        }
    }

    /// Whether `text[range]` lies in blocks that hash as verified (each checked once).
    fn check(&self, text: &[u8], start: usize, end: usize) -> bool {
        let mut intact = true;
        for block in start / BLOCK..end.div_ceil(BLOCK) {
            let Some(state) = self.state.get(block) else {
                intact = false;
                continue;
            };
            match state.load(Ordering::Relaxed) {
                1 => continue,
                2 => intact = false,
                _ => {
                    let bytes = &text[block * BLOCK..((block + 1) * BLOCK).min(text.len())];
                    let ok = Sha256::digest(bytes)[..BLOCK_HASH] == self.expected[block];
                    state.store(if ok { 1 } else { 2 }, Ordering::Relaxed);
                    intact &= ok;
                }
            }
        }
        if !intact {
            self.damaged.store(true, Ordering::Relaxed);
        }
        intact
    }
}

/// Why a cached index is not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Damage {
    /// The text or its record is missing.
    Missing,
    /// Present but not what was verified; the reason says how.
    Damaged(String),
}

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
    /// For a cached text: its block hashes, checked as blocks are read.
    blocks: Option<Blocks>,
    /// For a cached text: the signed checksum it was decoded from (its cache key).
    source: Option<String>,
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
    /// Where the decoded text of the index published with checksum `source` is cached.
    pub fn text_path(cache: &Cache, source: &str) -> std::path::PathBuf {
        cache.entry("indices", source, "")
    }

    fn record_path(cache: &Cache, source: &str) -> std::path::PathBuf {
        cache.entry("indices", source, ".idx")
    }

    /// Builds and stores the record of a text just decoded from the verified index `source`;
    /// `digest` was computed while the text was written.
    pub fn create(cache: &Cache, source: &str, digest: TextDigest) -> Result<Self, RepoError> {
        let path = Self::text_path(cache, source);
        // `digest` was computed from the verified stream as it was written; the next run
        // checks the text against it, so it is not hashed a second time here.
        let text = map(&path)?;
        if text.bytes().len() as u64 != digest.len {
            return Err(RepoError::Damaged {
                path,
                reason: "changed right after it was written".into(),
            });
        }
        let (packages, provides) = build_table(text.bytes());
        let encoded = encode_record(source, &digest, &packages, &provides);
        let record = Self::record_path(cache, source);
        cache.write_atomic(&record, |f| {
            std::io::Write::write_all(f, &encoded).map_err(RepoError::io("writing", &record))
        })?;
        Ok(PackageIndex {
            text,
            packages,
            provides,
            blocks: Some(Blocks::new(digest.blocks)),
            source: Some(source.to_owned()),
        })
    }

    /// Opens the cached index published with checksum `source`, after checking its record
    /// and the length of its text (its blocks are checked as they are read). Damaged files
    /// are removed so that the caller fetches them anew.
    pub fn open_verified(cache: &Cache, source: &str) -> Result<Result<Self, Damage>, RepoError> {
        let path = Self::text_path(cache, source);
        let record_path = Self::record_path(cache, source);
        let record = match std::fs::read(&record_path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if path.exists() {
                    // A text without its record cannot be checked: fetch it again.
                    cache.discard(&path)?;
                    return Ok(Err(Damage::Damaged("its record is missing".into())));
                }
                return Ok(Err(Damage::Missing));
            }
            Err(e) => return Err(RepoError::io("reading", &record_path)(e)),
        };
        let damaged = |reason: &str| -> Result<Result<Self, Damage>, RepoError> {
            cache.discard(&path)?;
            cache.discard(&record_path)?;
            Ok(Err(Damage::Damaged(reason.to_owned())))
        };
        let Some((digest, packages, provides)) = decode_record(&record, source) else {
            return damaged("its record is damaged");
        };
        let text = match map(&path) {
            Ok(text) => text,
            Err(RepoError::Io { source: e, .. }) if e.kind() == std::io::ErrorKind::NotFound => {
                return damaged("its text is missing");
            }
            Err(e) => return Err(e),
        };
        if text.bytes().len() as u64 != digest.len {
            return damaged(&format!(
                "its text is {} bytes long, {} were verified",
                text.bytes().len(),
                digest.len
            ));
        }
        if digest.blocks.len() != (digest.len as usize).div_ceil(BLOCK) {
            return damaged("its record is damaged");
        }
        Ok(Ok(PackageIndex {
            text,
            packages,
            provides,
            blocks: Some(Blocks::new(digest.blocks)),
            source: Some(source.to_owned()),
        }))
    }

    /// An index held in memory (tests, small local repositories).
    pub fn from_text(text: String) -> Self {
        let (packages, provides) = build_table(text.as_bytes());
        PackageIndex {
            text: Text::Owned(text.into_bytes()),
            packages,
            provides,
            blocks: None,
            source: None,
        }
    }

    /// The signed checksum a cached text was decoded from.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// Why the text read so far is not what was verified, if a block read did not hash
    /// as it did then; the caller discards the index ([`PackageIndex::discard`]) and
    /// fetches it again.
    pub fn damage(&self) -> Option<String> {
        let blocks = self.blocks.as_ref()?;
        if !blocks.damaged.load(Ordering::Relaxed) {
            return None;
        }
        let first = blocks
            .state
            .iter()
            .position(|s| s.load(Ordering::Relaxed) == 2)
            .unwrap_or_default();
        Some(format!(
            "its text differs from what was verified (from byte {})",
            first * BLOCK
        ))
    }

    /// Removes the cached text and record of the index published with checksum `source`.
    pub fn discard(cache: &Cache, source: &str) -> Result<(), RepoError> {
        cache.discard(&Self::text_path(cache, source))?;
        cache.discard(&Self::record_path(cache, source))
    }

    /// Checks every block (for a reader of the whole text).
    fn check_all(&self) -> bool {
        let bytes = self.text.bytes();
        self.blocks
            .as_ref()
            .is_none_or(|b| b.check(bytes, 0, bytes.len()))
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

    /// Every paragraph, in file order; none when a block is damaged ([`Self::damage`]).
    pub fn paragraphs(&self) -> impl Iterator<Item = Paragraph<'_>> {
        let text = if self.check_all() {
            std::str::from_utf8(self.text.bytes()).unwrap_or_default()
        } else {
            ""
        };
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
        let end = start + e.len as usize;
        let bytes = self.text.bytes().get(start..end)?;
        if let Some(blocks) = &self.blocks
            && !blocks.check(self.text.bytes(), start, end)
        {
            return None;
        }
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

/// Length, SHA-256 and block hashes of a text.
pub fn digest_of(bytes: &[u8]) -> TextDigest {
    let mut hasher = TextHasher::default();
    hasher.update(bytes);
    hasher.finish()
}

fn encode_record(
    source: &str,
    digest: &TextDigest,
    packages: &[Entry],
    provides: &[Entry],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        HEADER + 32 + (packages.len() + provides.len()) * RECORD + digest.blocks.len() * BLOCK_HASH,
    );
    out.extend_from_slice(MAGIC);
    let mut source_raw = [0u8; 32];
    let _ = hex::decode_to_slice(source, &mut source_raw);
    out.extend_from_slice(&source_raw);
    out.extend_from_slice(&digest.len.to_le_bytes());
    out.extend_from_slice(&digest.sha256);
    out.extend_from_slice(&(packages.len() as u32).to_le_bytes());
    out.extend_from_slice(&(provides.len() as u32).to_le_bytes());
    for e in packages.iter().chain(provides) {
        out.extend_from_slice(&e.hash.to_le_bytes());
        out.extend_from_slice(&e.offset.to_le_bytes());
        out.extend_from_slice(&e.len.to_le_bytes());
    }
    for block in &digest.blocks {
        out.extend_from_slice(block);
    }
    let seal = Sha256::digest(&out);
    out.extend_from_slice(&seal);
    out
}

type Tables = (TextDigest, Vec<Entry>, Vec<Entry>);

/// Reads a record, checking its seal and that it belongs to the index `source`.
fn decode_record(bytes: &[u8], source: &str) -> Option<Tables> {
    let (sealed, seal) = bytes.split_at_checked(bytes.len().checked_sub(32)?)?;
    if Sha256::digest(sealed).as_slice() != seal {
        return None;
    }
    let header = sealed.get(..HEADER)?;
    if &header[..8] != MAGIC || hex::encode(&header[8..40]) != source {
        return None;
    }
    let u32_at = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().unwrap_or_default());
    let len = u64::from_le_bytes(header[40..48].try_into().ok()?);
    let (np, nv) = (u32_at(80) as usize, u32_at(84) as usize);
    let body = &sealed[HEADER..];
    let tables = (np + nv).checked_mul(RECORD)?;
    let block_count = usize::try_from(len).ok()?.div_ceil(BLOCK);
    if body.len() != tables.checked_add(block_count.checked_mul(BLOCK_HASH)?)? {
        return None;
    }
    let (body, block_bytes) = body.split_at(tables);
    let digest = TextDigest {
        len,
        sha256: header[48..80].try_into().ok()?,
        blocks: block_bytes
            .chunks_exact(BLOCK_HASH)
            .map(|c| c.try_into().unwrap_or_default())
            .collect(),
    };
    let mut records = body.chunks_exact(RECORD).map(|r| Entry {
        hash: u64::from_le_bytes(r[..8].try_into().unwrap_or_default()),
        offset: u32::from_le_bytes(r[8..12].try_into().unwrap_or_default()),
        len: u32::from_le_bytes(r[12..16].try_into().unwrap_or_default()),
    });
    let packages: Vec<Entry> = records.by_ref().take(np).collect();
    let provides: Vec<Entry> = records.collect();
    Some((digest, packages, provides))
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

    const SOURCE: &str = "ab12000000000000000000000000000000000000000000000000000000000000";

    fn cached(dir: &Path) -> Cache {
        let cache = Cache::open(dir).expect("cache");
        let path = PackageIndex::text_path(&cache, SOURCE);
        std::fs::create_dir_all(path.parent().expect("fan dir")).expect("fan");
        std::fs::write(&path, TEXT).expect("write");
        let digest = digest_of(TEXT.as_bytes());
        PackageIndex::create(&cache, SOURCE, digest).expect("create");
        cache
    }

    #[test]
    fn record_round_trips_through_the_cache() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = cached(dir.path());
        let reread = PackageIndex::open_verified(&cache, SOURCE)
            .expect("open")
            .expect("intact");
        let built = PackageIndex::from_text(TEXT.to_owned());
        assert_eq!(built.packages, reread.packages);
        assert_eq!(built.provides, reread.provides);
        assert_eq!(decode_record(b"garbage", SOURCE), None);
        let other = "cd34000000000000000000000000000000000000000000000000000000000000";
        assert!(matches!(
            PackageIndex::open_verified(&cache, other).expect("open"),
            Err(Damage::Missing)
        ));
    }

    #[test]
    fn damaged_text_or_record_is_refused_and_removed() {
        type Damager = fn(&Path, &Path);
        let cases: [(&str, Damager); 4] = [
            ("truncated", |text, _| std::fs::write(text, b"").expect("w")),
            ("record flipped", |_, record| {
                let mut bytes = std::fs::read(record).expect("r");
                bytes[90] ^= 1;
                std::fs::write(record, bytes).expect("w");
            }),
            ("record gone", |_, record| {
                std::fs::remove_file(record).expect("rm")
            }),
            ("text gone", |text, _| {
                std::fs::remove_file(text).expect("rm")
            }),
        ];
        for (what, damage) in cases {
            let dir = tempfile::tempdir().expect("tempdir");
            let cache = cached(dir.path());
            let text = PackageIndex::text_path(&cache, SOURCE);
            let record = PackageIndex::record_path(&cache, SOURCE);
            damage(&text, &record);
            let opened = PackageIndex::open_verified(&cache, SOURCE).expect("open");
            assert!(matches!(opened, Err(Damage::Damaged(_))), "{what}");
            assert!(!text.exists() && !record.exists(), "{what}: removed");
        }
    }

    #[test]
    fn a_flipped_block_hides_its_paragraphs_and_says_so() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = Cache::open(dir.path()).expect("cache");
        // Enough paragraphs for several blocks; one byte flipped in the last one.
        let text: String = (0..400)
            .map(|i| {
                format!(
                    "Package: p{i}\nVersion: 1.0\nDescription: {}\n\n",
                    "x".repeat(40)
                )
            })
            .collect();
        let path = PackageIndex::text_path(&cache, SOURCE);
        std::fs::create_dir_all(path.parent().expect("fan dir")).expect("fan");
        std::fs::write(&path, &text).expect("write");
        PackageIndex::create(&cache, SOURCE, digest_of(text.as_bytes())).expect("create");
        let mut bytes = std::fs::read(&path).expect("r");
        let at = text.find("Package: p399").expect("last") + 20;
        bytes[at] ^= 1;
        std::fs::write(&path, bytes).expect("w");

        let index = PackageIndex::open_verified(&cache, SOURCE)
            .expect("open")
            .expect("length and record intact");
        assert_eq!(index.by_name("p0").count(), 1, "an intact block reads");
        assert!(index.damage().is_none(), "nothing damaged was read yet");
        assert_eq!(
            index.by_name("p399").count(),
            0,
            "a damaged block is not read"
        );
        let damage = index.damage().expect("damage found");
        assert!(
            damage.contains("differs from what was verified"),
            "{damage}"
        );
        assert_eq!(index.paragraphs().count(), 0);
        PackageIndex::discard(&cache, SOURCE).expect("discard");
        assert!(matches!(
            PackageIndex::open_verified(&cache, SOURCE).expect("open"),
            Err(Damage::Missing)
        ));
    }
}
