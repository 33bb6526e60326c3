//! Gzip on every core, pigz style: the stream is cut into blocks compressed independently as
//! raw deflate ending on a byte boundary (sync flush), then joined behind one gzip header with
//! the CRC-32 of the whole. The output depends only on the input and the level, never on
//! the number of threads or their timing, so builds stay reproducible.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::mpsc::{Receiver, sync_channel};

use flate2::{Compress, Compression, FlushCompress, Status};

const BLOCK: usize = 1 << 20;

/// A `Write` that gzips what it receives into `out`, using `threads` workers.
pub struct ParallelGzip<W: Write> {
    out: W,
    level: Compression,
    buffer: Vec<u8>,
    pending: VecDeque<Receiver<io::Result<Vec<u8>>>>,
    max_pending: usize,
    crc: crc32fast::Hasher,
    length: u64,
    header_written: bool,
}

impl<W: Write> ParallelGzip<W> {
    /// A compressor at `level` (0–9) with `threads` workers (at least one).
    pub fn new(out: W, level: u32, threads: usize) -> Self {
        ParallelGzip {
            out,
            level: Compression::new(level.min(9)),
            buffer: Vec::with_capacity(BLOCK),
            pending: VecDeque::new(),
            max_pending: threads.max(1) * 2,
            crc: crc32fast::Hasher::new(),
            length: 0,
            header_written: false,
        }
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

    fn dispatch(&mut self, last: bool) -> io::Result<()> {
        while self.pending.len() >= self.max_pending {
            self.drain_one()?;
        }
        let block = std::mem::replace(&mut self.buffer, Vec::with_capacity(BLOCK));
        let level = self.level;
        let (tx, rx) = sync_channel(1);
        std::thread::spawn(move || {
            let _ = tx.send(compress_block(&block, level, last));
        });
        self.pending.push_back(rx);
        Ok(())
    }

    fn drain_one(&mut self) -> io::Result<()> {
        if let Some(rx) = self.pending.pop_front() {
            let block = rx
                .recv()
                .map_err(|_| io::Error::other("compression worker died"))??;
            self.write_header()?;
            self.out.write_all(&block)?;
        }
        Ok(())
    }

    /// Compresses what is left, writes the trailer and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.dispatch(true)?;
        while !self.pending.is_empty() {
            self.drain_one()?;
        }
        self.write_header()?;
        let crc = self.crc.clone().finalize();
        self.out.write_all(&crc.to_le_bytes())?;
        self.out.write_all(&(self.length as u32).to_le_bytes())?;
        self.out.flush()?;
        Ok(self.out)
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
        let room = BLOCK - self.buffer.len();
        let n = room.min(data.len());
        self.buffer.extend_from_slice(&data[..n]);
        self.crc.update(&data[..n]);
        self.length += n as u64;
        if self.buffer.len() == BLOCK {
            self.dispatch(false)?;
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
        for len in [0, 10, BLOCK - 1, BLOCK, 3 * BLOCK + 17] {
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
}
