//! Decompressing the next packages while the current one is written.
//!
//! Decompression (xz, mostly) is the largest cost of a build. Worker threads decode the data
//! archives of the packages ahead into bounded channels of chunks, so the writer streams
//! package after package in order while other cores decode; memory stays bounded by the
//! channel sizes.
//!
//! The first time a package is decoded, its data archive is also kept as a zstd stream in
//! the cache entry the caller names; later builds read that copy, which decodes about ten
//! times faster than xz. The copy ends with a record (a zstd skippable frame) naming the
//! SHA-256 of the `.deb` it came from and the length and SHA-256 of the decoded archive. A
//! copy made from another `.deb` is never used; a copy whose bytes no longer hash to its
//! record fails the build, naming the package, and the caller drops it and builds again.

use std::collections::VecDeque;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::Scope;

use sha2::{Digest, Sha256};
use staves_deb::deb::DebFile;

use crate::guard::TarGuard;

const CHUNK: usize = 256 * 1024;
/// Chunks buffered per package: at most 4 MiB waits in memory for each package ahead.
const DEPTH: usize = 16;

/// Skippable-frame magic (zstd reserves 0x184D2A50–5F) and the record it carries.
const FRAME_MAGIC: u32 = 0x184D_2A5E;
const RECORD_MAGIC: &[u8; 16] = b"STAVES-UNPACKED1";
const RECORD_LEN: usize = 16 + 32 + 32 + 8;
const TRAILER_LEN: u64 = 8 + RECORD_LEN as u64;

/// Chunks of one package's decoded data archive, or the error that ended it.
type Chunks = Receiver<io::Result<Vec<u8>>>;

/// One package to decode.
#[derive(Clone, Copy)]
pub struct Source<'a> {
    /// The opened, verified `.deb`.
    pub deb: &'a DebFile,
    /// Its SHA-256, as the signed index gives it.
    pub sha256: &'a str,
    /// Where its decoded copy is kept, if anywhere.
    pub kept: Option<&'a Path>,
    /// Where temporaries for that copy go (the same file system).
    pub temp_dir: Option<&'a Path>,
    /// The most decoded bytes accepted.
    pub limit: u64,
}

/// Hands out the decoded data archives of the sources, in order, decoding `ahead` at once.
pub struct Prefetch<'scope> {
    pending: VecDeque<Chunks>,
    next: usize,
    spawn: Box<dyn FnMut(usize) -> Option<Chunks> + 'scope>,
}

impl<'scope> Prefetch<'scope> {
    /// Starts decoding the first `ahead` packages.
    pub fn new<'env>(
        scope: &'scope Scope<'scope, 'env>,
        sources: &'env [Source<'env>],
        ahead: usize,
    ) -> Self {
        let spawn = move |i: usize| {
            let source = *sources.get(i)?;
            let (tx, rx) = sync_channel(DEPTH);
            scope.spawn(move || decode(source, &tx));
            Some(rx)
        };
        let mut prefetch = Prefetch {
            pending: VecDeque::new(),
            next: 0,
            spawn: Box::new(spawn),
        };
        for _ in 0..ahead.max(1) {
            prefetch.start_one();
        }
        prefetch
    }

    fn start_one(&mut self) {
        if let Some(rx) = (self.spawn)(self.next) {
            self.pending.push_back(rx);
            self.next += 1;
        }
    }

    /// The next package's data archive as a reader; starts decoding one more package.
    pub fn next_reader(&mut self) -> Option<ChunkReader> {
        let rx = self.pending.pop_front()?;
        self.start_one();
        Some(ChunkReader {
            rx,
            chunk: Vec::new(),
            pos: 0,
        })
    }
}

/// The record at the end of a kept copy.
struct Record {
    deb_sha256: [u8; 32],
    sha256: [u8; 32],
    len: u64,
}

impl Record {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(TRAILER_LEN as usize);
        out.extend_from_slice(&FRAME_MAGIC.to_le_bytes());
        out.extend_from_slice(&(RECORD_LEN as u32).to_le_bytes());
        out.extend_from_slice(RECORD_MAGIC);
        out.extend_from_slice(&self.deb_sha256);
        out.extend_from_slice(&self.sha256);
        out.extend_from_slice(&self.len.to_le_bytes());
        out
    }

    /// Reads the record of the copy in `file`, returning it and the length of the zstd data
    /// before it.
    fn read(file: &mut std::fs::File) -> Option<(Record, u64)> {
        let len = file.metadata().ok()?.len();
        let data_len = len.checked_sub(TRAILER_LEN)?;
        file.seek(SeekFrom::Start(data_len)).ok()?;
        let mut trailer = [0u8; TRAILER_LEN as usize];
        file.read_exact(&mut trailer).ok()?;
        file.seek(SeekFrom::Start(0)).ok()?;
        let (frame, record) = trailer.split_at(8);
        if frame[..4] != FRAME_MAGIC.to_le_bytes()
            || frame[4..] != (RECORD_LEN as u32).to_le_bytes()
            || &record[..16] != RECORD_MAGIC
        {
            return None;
        }
        Some((
            Record {
                deb_sha256: record[16..48].try_into().ok()?,
                sha256: record[48..80].try_into().ok()?,
                len: u64::from_le_bytes(record[80..88].try_into().ok()?),
            },
            data_len,
        ))
    }
}

fn raw_sha(hex_text: &str) -> [u8; 32] {
    let mut raw = [0u8; 32];
    let _ = hex::decode_to_slice(hex_text, &mut raw);
    raw
}

/// The decoded data archive of a `.deb` from its kept zstd copy, when one was made from
/// this very `.deb` (reading a few files ahead of streaming; the stream itself checks the
/// copy's hash, and fails the build on a damaged one).
pub(crate) fn kept_reader(kept: &Path, deb_sha256: &str) -> Option<impl Read> {
    let mut file = std::fs::File::open(kept).ok()?;
    let (record, data_len) = Record::read(&mut file)?;
    if record.deb_sha256 != raw_sha(deb_sha256) {
        return None;
    }
    zstd::stream::read::Decoder::new(file.take(data_len)).ok()
}

/// The kept copy of `source`, opened, when it was made from this very `.deb`.
fn kept_copy(source: &Source<'_>) -> Option<(io::Take<std::fs::File>, Record)> {
    let mut file = std::fs::File::open(source.kept?).ok()?;
    let (record, data_len) = Record::read(&mut file)?;
    (record.deb_sha256 == raw_sha(source.sha256)).then(|| (file.take(data_len), record))
}

fn decode(source: Source<'_>, tx: &SyncSender<io::Result<Vec<u8>>>) {
    if let Some((file, record)) = kept_copy(&source)
        && let Ok(reader) = zstd::stream::read::Decoder::new(file)
    {
        let mut hashing = Hashing::new(TarGuard::new(reader, source.limit));
        if !send_chunks(&mut hashing, tx, None) {
            return;
        }
        let (len, sha256) = hashing.finish();
        if len != record.len || sha256 != record.sha256 {
            let _ = tx.send(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                DamagedCopy::MESSAGE,
            )));
        }
        return;
    }
    let reader = match source.deb.data() {
        Ok(r) => r,
        Err(e) => {
            let _ = tx.send(Err(io::Error::other(e.to_string())));
            return;
        }
    };
    // Keep a zstd copy for the next build, when a place for it was given.
    let keeper = source.kept.and_then(|path| {
        let dir = path.parent()?;
        std::fs::create_dir_all(dir).ok()?;
        let tmp = staves_fs::temp_file_in(source.temp_dir.unwrap_or(dir)).ok()?;
        let file = tmp.reopen().ok()?;
        let encoder = zstd::stream::write::Encoder::new(io::BufWriter::new(file), 1).ok()?;
        Some(Keeper { tmp, encoder, path })
    });
    let mut hashing = Hashing::new(TarGuard::new(reader, source.limit));
    let mut keeper = keeper;
    if !send_chunks(&mut hashing, tx, keeper.as_mut()) {
        return;
    }
    if let Some(keeper) = keeper {
        let (len, sha256) = hashing.finish();
        let record = Record {
            deb_sha256: raw_sha(source.sha256),
            sha256,
            len,
        };
        // Failing to keep a copy costs the next build time, never correctness.
        let _ = keeper.finish(&record);
    }
}

/// The message of a kept copy that no longer matches its record.
pub struct DamagedCopy;

impl DamagedCopy {
    /// Found in the error of a build that read a damaged copy.
    pub const MESSAGE: &'static str = "the cached decoded copy of this package is damaged";
}

/// Writes the copy being kept; renamed into place only when whole.
struct Keeper<'a> {
    tmp: staves_fs::NamedTempFile,
    encoder: zstd::stream::write::Encoder<'static, io::BufWriter<std::fs::File>>,
    path: &'a Path,
}

impl Keeper<'_> {
    fn finish(self, record: &Record) -> io::Result<()> {
        let mut writer = self.encoder.finish()?;
        writer.write_all(&record.encode())?;
        writer.flush()?;
        staves_fs::persist(self.tmp, self.path).map(drop)
    }
}

/// Hashes and counts what passes through.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    len: u64,
}

impl<R: Read> Hashing<R> {
    fn new(inner: R) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    fn finish(self) -> (u64, [u8; 32]) {
        (self.len, self.hasher.finalize().into())
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

/// Streams `reader` to `tx` in chunks, copying them into `keeper` when given. Returns whether
/// the whole stream was read and handed over.
fn send_chunks(
    reader: &mut impl Read,
    tx: &SyncSender<io::Result<Vec<u8>>>,
    mut keeper: Option<&mut Keeper<'_>>,
) -> bool {
    loop {
        let mut chunk = vec![0u8; CHUNK];
        let mut filled = 0;
        while filled < CHUNK {
            match reader.read(&mut chunk[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return false;
                }
            }
        }
        chunk.truncate(filled);
        let done = filled < CHUNK;
        if let Some(k) = keeper.as_mut()
            && k.encoder.write_all(&chunk).is_err()
        {
            keeper = None;
        }
        if !chunk.is_empty() && tx.send(Ok(chunk)).is_err() {
            return false; // the writer gave up on this package
        }
        if done {
            return true;
        }
    }
}

/// Whether the kept copy at `path` is whole and made from the `.deb` with SHA-256
/// `deb_sha256`: its record matches and its bytes decode and hash to it. A build that fails
/// after reading kept copies asks this to find and drop damaged ones.
pub fn unpacked_copy_is_intact(path: &Path, deb_sha256: &str) -> bool {
    let Ok(mut file) = std::fs::File::open(path) else {
        return true; // nothing kept, nothing damaged
    };
    let Some((record, data_len)) = Record::read(&mut file) else {
        return false;
    };
    if record.deb_sha256 != raw_sha(deb_sha256) {
        return false;
    }
    let Ok(decoder) = zstd::stream::read::Decoder::new(file.take(data_len)) else {
        return false;
    };
    let mut hashing = Hashing::new(decoder);
    if io::copy(&mut hashing, &mut io::sink()).is_err() {
        return false;
    }
    hashing.finish() == (record.len, record.sha256)
}

/// Reads the chunks of one package's data archive.
pub struct ChunkReader {
    rx: Chunks,
    chunk: Vec<u8>,
    pos: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            match self.rx.recv() {
                Ok(chunk) => {
                    self.chunk = chunk?;
                    self.pos = 0;
                }
                Err(_) => return Ok(0), // the decoder finished
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
