//! Decompressing the next packages while the current one is written.
//!
//! Decompression (xz, mostly) is the largest cost of a build. Worker threads decode the data
//! archives of the packages ahead into bounded channels of chunks, so the writer streams
//! package after package in order while other cores decode; memory stays bounded by the
//! channel sizes.
//!
//! The first time a package is decoded, its data archive is also kept as a zstd stream (with
//! zstd's content checksum) in the cache entry the caller names; later builds read that copy,
//! which decodes about ten times faster than xz. It is derived only from the verified `.deb`
//! and written to a temporary file renamed into place when complete.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::Scope;

use staves_deb::deb::DebFile;

const CHUNK: usize = 256 * 1024;
/// Chunks buffered per package: at most 4 MiB waits in memory for each package ahead.
const DEPTH: usize = 16;

/// Chunks of one package's decoded data archive, or the error that ended it.
type Chunks = Receiver<io::Result<Vec<u8>>>;

/// Hands out the decoded data archives of `debs`, in order, decoding `ahead` of them at once.
pub struct Prefetch<'scope> {
    pending: VecDeque<Chunks>,
    next: usize,
    spawn: Box<dyn FnMut(usize) -> Option<Chunks> + 'scope>,
}

impl<'scope> Prefetch<'scope> {
    /// Starts decoding the first `ahead` packages.
    pub fn new<'env>(
        scope: &'scope Scope<'scope, 'env>,
        debs: &'env [(&'env DebFile, Option<&'env Path>)],
        ahead: usize,
    ) -> Self {
        let spawn = move |i: usize| {
            let (deb, unpacked) = *debs.get(i)?;
            let (tx, rx) = sync_channel(DEPTH);
            scope.spawn(move || decode(deb, unpacked, &tx));
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

fn decode(deb: &DebFile, unpacked: Option<&Path>, tx: &SyncSender<io::Result<Vec<u8>>>) {
    if let Some(copy) = unpacked.filter(|p| p.is_file())
        && let Ok(file) = std::fs::File::open(copy)
        && let Ok(reader) = zstd::stream::read::Decoder::new(file)
    {
        send_chunks(reader, tx, None);
        return;
    }
    let reader = match deb.data() {
        Ok(r) => r,
        Err(e) => {
            let _ = tx.send(Err(io::Error::other(e.to_string())));
            return;
        }
    };
    // Keep a zstd copy for the next build, when a place for it was given.
    let keeper = unpacked.and_then(|path| {
        let dir = path.parent()?;
        std::fs::create_dir_all(dir).ok()?;
        let tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(dir)
            .ok()?;
        let file = tmp.reopen().ok()?;
        let mut encoder = zstd::stream::write::Encoder::new(io::BufWriter::new(file), 1).ok()?;
        encoder.include_checksum(true).ok()?;
        Some((tmp, encoder, path))
    });
    send_chunks(reader, tx, keeper);
}

type Keeper<'a> = (
    tempfile::NamedTempFile,
    zstd::stream::write::Encoder<'static, io::BufWriter<std::fs::File>>,
    &'a Path,
);

/// Streams `reader` to `tx` in chunks, copying them into `keeper` when given; the copy is
/// kept only when the whole stream was read without error.
fn send_chunks(
    mut reader: impl Read,
    tx: &SyncSender<io::Result<Vec<u8>>>,
    mut keeper: Option<Keeper<'_>>,
) {
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
                    return;
                }
            }
        }
        chunk.truncate(filled);
        let done = filled < CHUNK;
        if let Some((_, encoder, _)) = keeper.as_mut()
            && io::Write::write_all(encoder, &chunk).is_err()
        {
            keeper = None;
        }
        if !chunk.is_empty() && tx.send(Ok(chunk)).is_err() {
            return; // the writer gave up on this package
        }
        if done {
            if let Some((tmp, encoder, path)) = keeper
                && let Ok(mut writer) = encoder.finish()
                && io::Write::flush(&mut writer).is_ok()
            {
                let _ = tmp.persist(path);
            }
            return;
        }
    }
}

/// Whether the kept zstd copy at `path` decodes whole, its content checksum included. A
/// build that fails after reading such copies asks this to find and drop damaged ones.
pub fn unpacked_copy_is_intact(path: &Path) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return true; // nothing kept, nothing damaged
    };
    zstd::stream::read::Decoder::new(file)
        .and_then(|mut decoder| io::copy(&mut decoder, &mut io::sink()))
        .is_ok()
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
