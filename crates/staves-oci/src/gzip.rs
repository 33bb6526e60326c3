//! Gzip on every core, pigz style: the stream is cut into blocks compressed independently as
//! raw deflate ending on a byte boundary (sync flush), then joined behind one gzip header with
//! the CRC-32 of the whole, and closed by an empty final block. The output depends only on
//! the input and the level, never on the number of threads or their timing, so builds stay
//! reproducible.
//!
//! Blocks are cut where the content says (a gear hash over the last bytes, after a minimum
//! size; FastCDC's idea), not every N bytes, so the same packages in a layer give the same
//! blocks even when another package is added before them. A [`DeflateCache`] keeps each
//! block's deflate bytes under a hash of the block, the level and the compressor itself:
//! an image assembled again (the image cache emptied, or another image sharing packages)
//! compresses only what is new. A cached block is used only after it inflates back to the
//! very bytes it stands for.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, OnceLock};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use sha2::{Digest, Sha256};

/// No cut before this many bytes…
const MIN_BLOCK: usize = 512 << 10;
/// …a cut where the gear hash has these bits clear (one in 2^19: about 512 KiB on)…
const CUT_MASK: u64 = ((1 << 19) - 1) << 45;
/// …and always at this many.
const MAX_BLOCK: usize = 4 << 20;

/// Where compressed blocks are kept between runs, by key.
pub trait DeflateCache: Send + Sync {
    /// The deflate bytes stored under `key`, if any.
    fn get(&self, key: &str) -> Option<Vec<u8>>;
    /// Stores `deflated` under `key` (best effort: a failure only costs a later compression).
    fn put(&self, key: &str, deflated: &[u8]);
}

/// A [`DeflateCache`] in a directory: one file per block, written to a temporary file and
/// renamed.
#[derive(Debug, Clone)]
pub struct DirDeflateCache {
    dir: std::path::PathBuf,
}

impl DirDeflateCache {
    /// The blocks under `dir` (created when needed).
    pub fn new(dir: impl Into<std::path::PathBuf>) -> Self {
        DirDeflateCache { dir: dir.into() }
    }

    fn path(&self, key: &str) -> std::path::PathBuf {
        self.dir.join(&key[..2.min(key.len())]).join(key)
    }
}

impl DeflateCache for DirDeflateCache {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        staves_fs::read_regular(&self.path(key), (MAX_BLOCK as u64) * 2).ok()
    }

    fn put(&self, key: &str, deflated: &[u8]) {
        let path = self.path(key);
        if let Some(parent) = path.parent()
            && std::fs::create_dir_all(parent).is_ok()
        {
            let _ = staves_fs::write_atomic(&path, deflated);
        }
    }
}

/// The gear table: 256 fixed pseudo-random words (splitmix64 from a fixed seed).
const GEAR: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut state: u64 = 0x5741_5645_535f_4744; // "STAVES_GD"-ish, any constant will do
    let mut i = 0;
    while i < 256 {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        table[i] = z ^ (z >> 31);
        i += 1;
    }
    table
};

/// A `Write` that gzips what it receives into `out`, using `threads` workers.
pub struct ParallelGzip<W: Write> {
    out: W,
    level: Compression,
    buffer: Vec<u8>,
    gear: u64,
    pending: VecDeque<Receiver<io::Result<Compressed>>>,
    /// Block buffers back from the workers, to fill again (fresh ones cost page faults).
    spare: Vec<Vec<u8>>,
    max_pending: usize,
    crc: crc32fast::Hasher,
    length: u64,
    header_written: bool,
    cache: Option<Arc<dyn DeflateCache>>,
}

impl<W: Write> ParallelGzip<W> {
    /// A compressor at `level` (0–9) with `threads` workers (at least one).
    pub fn new(out: W, level: u32, threads: usize) -> Self {
        ParallelGzip {
            out,
            level: Compression::new(level.min(9)),
            buffer: Vec::with_capacity(MIN_BLOCK * 2),
            gear: 0,
            pending: VecDeque::new(),
            spare: Vec::new(),
            max_pending: threads.max(1) * 2,
            crc: crc32fast::Hasher::new(),
            length: 0,
            header_written: false,
            cache: None,
        }
    }

    /// Takes blocks compressed before from `cache`, and keeps new ones there.
    pub fn with_cache(mut self, cache: Arc<dyn DeflateCache>) -> Self {
        self.cache = Some(cache);
        self
    }

    fn write_header(&mut self) -> io::Result<()> {
        if !self.header_written {
            // ID1 ID2, deflate, no flags, MTIME 0 (reproducible), XFL 0, OS 255 (unknown).
            self.out
                .write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255])?;
            self.header_written = true;
        }
        Ok(())
    }

    fn dispatch(&mut self) -> io::Result<()> {
        while self.pending.len() >= self.max_pending {
            self.drain_one()?;
        }
        let next = self
            .spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(MIN_BLOCK * 2));
        let block = std::mem::replace(&mut self.buffer, next);
        self.gear = 0;
        let level = self.level;
        let cache = self.cache.clone();
        let (tx, rx) = sync_channel(1);
        std::thread::spawn(move || {
            let deflated = deflate_cached(&block, level, cache.as_deref());
            let _ = tx.send(deflated.map(|deflated| Compressed { deflated, block }));
        });
        self.pending.push_back(rx);
        Ok(())
    }

    fn drain_one(&mut self) -> io::Result<()> {
        if let Some(rx) = self.pending.pop_front() {
            let Compressed {
                deflated,
                mut block,
            } = rx
                .recv()
                .map_err(|_| io::Error::other("compression worker died"))??;
            self.write_header()?;
            self.out.write_all(&deflated)?;
            block.clear();
            self.spare.push(block);
        }
        Ok(())
    }

    /// Compresses what is left, writes the final block and the trailer, and returns the
    /// inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        if !self.buffer.is_empty() {
            self.dispatch()?;
        }
        while !self.pending.is_empty() {
            self.drain_one()?;
        }
        self.write_header()?;
        self.out
            .write_all(&compress_block(&[], self.level, true)?)?;
        let crc = self.crc.clone().finalize();
        self.out.write_all(&crc.to_le_bytes())?;
        self.out.write_all(&(self.length as u32).to_le_bytes())?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// A block compressed by a worker, and its buffer to fill again.
struct Compressed {
    deflated: Vec<u8>,
    block: Vec<u8>,
}

/// What identifies the compressor's output for a level: a hash of what it makes of a fixed
/// sample. Another zlib (or version) that deflates differently gets other cache keys, so a
/// cached block always matches what this build would have made itself.
fn compressor_identity(level: Compression) -> &'static [u8; 32] {
    static IDENTITIES: [OnceLock<[u8; 32]>; 10] = [const { OnceLock::new() }; 10];
    let slot = &IDENTITIES[(level.level() as usize).min(9)];
    slot.get_or_init(|| {
        let sample: Vec<u8> = (0..64 * 1024u32)
            .map(|i| (GEAR[(i % 256) as usize] >> (i % 7)) as u8 % 64 + b' ')
            .collect();
        let deflated = compress_block(&sample, level, false).unwrap_or_default();
        Sha256::digest(deflated).into()
    })
}

/// A block's deflate bytes: from `cache` when it holds them and they inflate back to
/// `block`, else compressed now (and stored).
fn deflate_cached(
    block: &[u8],
    level: Compression,
    cache: Option<&dyn DeflateCache>,
) -> io::Result<Vec<u8>> {
    let Some(cache) = cache else {
        return compress_block(block, level, false);
    };
    // The key need not resist forgery: a cached block is used only when it inflates back to
    // `block`. Two CRC-32s (with different starting values) and the length find it.
    let crc_with = |init: u32| {
        let mut crc = crc32fast::Hasher::new_with_initial(init);
        crc.update(block);
        crc.finalize()
    };
    let key = format!(
        "{}-{}-{}-{:08x}{:08x}",
        hex::encode(&compressor_identity(level)[..8]),
        level.level(),
        block.len(),
        crc_with(0),
        crc_with(0x5354_4156)
    );
    if let Some(deflated) = cache.get(&key)
        && inflates_to(&deflated, block)
    {
        return Ok(deflated);
    }
    let deflated = compress_block(block, level, false)?;
    cache.put(&key, &deflated);
    Ok(deflated)
}

/// Whether raw deflate `deflated` (ending in a sync flush) inflates to exactly `block`,
/// compared piece by piece through one small buffer.
fn inflates_to(deflated: &[u8], block: &[u8]) -> bool {
    let mut inflater = Decompress::new(false);
    let mut piece = [0u8; 64 * 1024];
    let mut matched = 0usize;
    loop {
        let (in_before, out_before) = (inflater.total_in(), inflater.total_out());
        let input = &deflated[in_before as usize..];
        if inflater
            .decompress(input, &mut piece, FlushDecompress::Sync)
            .is_err()
        {
            return false;
        }
        let produced = (inflater.total_out() - out_before) as usize;
        if matched + produced > block.len()
            || piece[..produced] != block[matched..matched + produced]
        {
            return false;
        }
        matched += produced;
        let consumed_all = inflater.total_in() as usize == deflated.len();
        if consumed_all && produced < piece.len() {
            return matched == block.len();
        }
        if produced == 0 && inflater.total_in() == in_before {
            return false; // no progress: truncated or damaged
        }
    }
}

fn compress_block(block: &[u8], level: Compression, last: bool) -> io::Result<Vec<u8>> {
    // The last block finishes the stream; the others end with a sync flush, which puts the
    // end of the block on a byte boundary without marking the stream final.
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut compressor = Compress::new(level, false);
    let mut out = Vec::with_capacity(block.len() / 2 + 1024);
    loop {
        let consumed = compressor.total_in() as usize;
        let status = compressor
            .compress_vec(&block[consumed..], &mut out, flush)
            .map_err(io::Error::other)?;
        let all_in = compressor.total_in() as usize == block.len();
        let done = if last {
            status == Status::StreamEnd
        } else {
            all_in && out.len() < out.capacity()
        };
        if done {
            return Ok(out);
        }
        out.reserve(out.capacity().max(64 * 1024));
    }
}

impl<W: Write> Write for ParallelGzip<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        // Bytes up to the minimum size go in whole; after it, byte by byte through the gear
        // hash until it says cut (or the maximum is reached).
        let mut n = 0;
        if self.buffer.len() < MIN_BLOCK {
            n = (MIN_BLOCK - self.buffer.len()).min(data.len());
            // The gear hash forgets a byte after 64 shifts: seed it from the last 64.
            let seed_from = n.saturating_sub(64);
            for &b in &data[seed_from..n] {
                self.gear = (self.gear << 1).wrapping_add(GEAR[b as usize]);
            }
        }
        let mut cut = false;
        while n < data.len() {
            let b = data[n];
            n += 1;
            self.gear = (self.gear << 1).wrapping_add(GEAR[b as usize]);
            if self.gear & CUT_MASK == 0 || self.buffer.len() + n >= MAX_BLOCK {
                cut = true;
                break;
            }
        }
        self.buffer.extend_from_slice(&data[..n]);
        self.crc.update(&data[..n]);
        self.length += n as u64;
        if cut || self.buffer.len() >= MAX_BLOCK {
            self.dispatch()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sample(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| ((i * 7919) % 251) as u8 ^ (i / 4096) as u8)
            .collect()
    }

    #[test]
    fn round_trips_and_is_deterministic() {
        for len in [
            0,
            10,
            MIN_BLOCK - 1,
            MIN_BLOCK,
            MAX_BLOCK + 5,
            3 * MAX_BLOCK + 17,
        ] {
            let data = sample(len);
            let mut outputs = Vec::new();
            for threads in [1, 4] {
                let mut gz = ParallelGzip::new(Vec::new(), 6, threads);
                gz.write_all(&data).expect("write");
                outputs.push(gz.finish().expect("finish"));
            }
            assert_eq!(
                outputs[0], outputs[1],
                "thread count changed the bytes for {len}"
            );
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(outputs[0].as_slice())
                .read_to_end(&mut back)
                .expect("valid gzip");
            assert_eq!(back, data);
            let gunzip = std::process::Command::new("gzip")
                .arg("-t")
                .stdin(std::process::Stdio::piped())
                .spawn();
            if let Ok(mut child) = gunzip {
                child
                    .stdin
                    .take()
                    .expect("stdin")
                    .write_all(&outputs[0])
                    .expect("pipe");
                assert!(
                    child.wait().expect("gzip").success(),
                    "gzip -t rejects the stream"
                );
            }
        }
    }

    /// A cache in memory, counting what it was asked.
    #[derive(Default)]
    struct Memory {
        blocks: std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>,
        hits: std::sync::atomic::AtomicUsize,
    }

    impl DeflateCache for Memory {
        fn get(&self, key: &str) -> Option<Vec<u8>> {
            let found = self.blocks.lock().expect("lock").get(key).cloned();
            if found.is_some() {
                self.hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            found
        }
        fn put(&self, key: &str, deflated: &[u8]) {
            self.blocks
                .lock()
                .expect("lock")
                .insert(key.to_owned(), deflated.to_vec());
        }
    }

    fn gzip(data: &[u8], cache: Option<Arc<Memory>>) -> Vec<u8> {
        let mut gz = ParallelGzip::new(Vec::new(), 3, 2);
        if let Some(cache) = cache {
            gz = gz.with_cache(cache);
        }
        gz.write_all(data).expect("write");
        gz.finish().expect("finish")
    }

    /// Text-like bytes that do not repeat: words picked by a pseudo-random sequence.
    fn words(len: usize) -> Vec<u8> {
        const WORDS: [&str; 8] = [
            "usr ", "lib ", "share/", "doc ", "nginx ", "x86_64 ", "so.1 ", "\n",
        ];
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            out.extend_from_slice(WORDS[(state % 8) as usize].as_bytes());
            out.push((state >> 56) as u8);
        }
        out.truncate(len);
        out
    }

    #[test]
    fn cached_blocks_give_the_same_bytes_and_survive_an_insertion() {
        let data = words(6 * MAX_BLOCK);
        let cache = Arc::new(Memory::default());
        let plain = gzip(&data, None);
        let first = gzip(&data, Some(cache.clone()));
        assert_eq!(plain, first, "the cache changes nothing");
        let stored = cache.blocks.lock().expect("lock").len();
        assert!(stored > 3, "{stored} blocks");
        let again = gzip(&data, Some(cache.clone()));
        assert_eq!(again, plain);
        assert_eq!(
            cache.hits.load(std::sync::atomic::Ordering::Relaxed),
            stored
        );

        // Bytes inserted near the start: the blocks after them are cut where they were.
        let hits_before = cache.hits.load(std::sync::atomic::Ordering::Relaxed);
        let mut shifted = words(1000);
        shifted.extend_from_slice(&data);
        let out = gzip(&shifted, Some(cache.clone()));
        let reused = cache.hits.load(std::sync::atomic::Ordering::Relaxed) - hits_before;
        assert!(
            reused >= stored - 2,
            "only {reused} of {stored} blocks reused"
        );
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(out.as_slice())
            .read_to_end(&mut back)
            .expect("valid gzip");
        assert_eq!(back, shifted);

        // A damaged cached block is not used: it does not inflate to its block.
        for value in cache.blocks.lock().expect("lock").values_mut() {
            let middle = value.len() / 2;
            value[middle] ^= 0x55;
        }
        assert_eq!(gzip(&data, Some(cache)), plain);
    }
}
