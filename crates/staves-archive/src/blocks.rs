//! `Packages.gz` and `Packages.xz` assembled from blocks compressed on their own and kept
//! between publications, so that adding one package to an index of ten thousand recompresses
//! one block, not the whole index.
//!
//! Both files stay in the plainest form of their format, as parallel compressors write them:
//! the gzip file is one member whose deflate stream is the blocks' streams, each ended by a
//! sync flush and referring to nothing before it, then an empty final block, with the CRC-32
//! combined from the blocks'; the xz file is one stream of one xz block per block (LZMA2,
//! CRC-32 check) and an index listing them. Block boundaries depend on package names only
//! (a block ends before a name whose hash has its low bits clear), so an upload changes the
//! block its package falls in and leaves the others' bytes as they were.

use std::collections::HashMap;
use std::io::Write;

use sha2::{Digest, Sha256};

/// A block ends, on average, every this many package names.
const BLOCK_NAMES: u64 = 128;
/// LZMA2 with preset 6, as `xz -6`, but a dictionary no larger than the block (a power of
/// two from 4 KiB to xz's 8 MiB): a larger one finds nothing more and costs the encoder
/// ten times its size in memory and time to set up.
const XZ_PRESET: u32 = 6;
const XZ_MIN_DICT_LOG: u32 = 12;
const XZ_MAX_DICT_LOG: u32 = 23;
/// Stream flags: check type CRC-32.
const XZ_FLAGS: [u8; 2] = [0x00, 0x01];

/// One block, compressed both ways.
#[derive(Clone)]
struct Compressed {
    /// Raw deflate, ended by a sync flush, not final.
    deflate: Vec<u8>,
    /// CRC-32 of the block's text, for combining.
    crc: crc32fast::Hasher,
    /// The xz block: header, LZMA2 data, padding, CRC-32.
    xz: Vec<u8>,
    /// Its size without the block padding, as the xz index records it.
    xz_unpadded: u64,
    /// The text's length.
    len: u64,
}

/// The compressed blocks of every index, by index and by the SHA-256 of a block's text.
#[derive(Default)]
pub struct BlockCache {
    indices: HashMap<String, HashMap<[u8; 32], Compressed>>,
}

/// Whether a block ends before the package named `name`.
pub fn starts_block(name: &str) -> bool {
    // FNV-1a: stable across runs and versions, unlike the standard library's hasher.
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    hash % BLOCK_NAMES == 0
}

impl BlockCache {
    /// `Packages.gz` and `Packages.xz` of the index `key` whose text is `blocks` joined.
    /// Blocks not compressed for this index before are compressed now, in parallel; the
    /// index keeps exactly the blocks it uses.
    pub fn compress(
        &mut self,
        key: &str,
        blocks: &[String],
    ) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
        let old = self.indices.remove(key).unwrap_or_default();
        let digests: Vec<[u8; 32]> = blocks
            .iter()
            .map(|b| Sha256::digest(b.as_bytes()).into())
            .collect();
        let missing: Vec<usize> = (0..blocks.len())
            .filter(|&i| !old.contains_key(&digests[i]))
            .collect();
        let made = compress_all(&missing, blocks)?;
        let mut kept: HashMap<[u8; 32], Compressed> = HashMap::with_capacity(blocks.len());
        for (i, compressed) in missing.into_iter().zip(made) {
            kept.insert(digests[i], compressed);
        }
        for digest in &digests {
            if let Some(c) = old.get(digest) {
                kept.entry(*digest).or_insert_with(|| c.clone());
            }
        }
        let ordered: Vec<&Compressed> = digests.iter().filter_map(|d| kept.get(d)).collect();
        let gz = gzip(&ordered);
        let xz = xz(&ordered);
        self.indices.insert(key.to_owned(), kept);
        Ok((gz, xz))
    }
}

/// Compresses the blocks `which` of `blocks`, spread over the machine's cores.
fn compress_all(which: &[usize], blocks: &[String]) -> std::io::Result<Vec<Compressed>> {
    if which.len() <= 1 {
        return which.iter().map(|&i| compress_block(&blocks[i])).collect();
    }
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(which.len());
    let per = which.len().div_ceil(workers);
    std::thread::scope(|scope| {
        let handles: Vec<_> = which
            .chunks(per)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|&i| compress_block(&blocks[i]))
                        .collect::<std::io::Result<Vec<_>>>()
                })
            })
            .collect();
        let mut all = Vec::with_capacity(which.len());
        for handle in handles {
            let part = handle
                .join()
                .map_err(|_| std::io::Error::other("a compressing thread panicked"))??;
            all.extend(part);
        }
        Ok(all)
    })
}

fn compress_block(text: &str) -> std::io::Result<Compressed> {
    let bytes = text.as_bytes();
    let mut deflate = flate2::Compress::new(flate2::Compression::new(9), false);
    let mut out = Vec::with_capacity(bytes.len() / 3 + 64);
    loop {
        let consumed = deflate.total_in() as usize;
        if out.capacity() - out.len() < 64 {
            out.reserve(bytes.len() / 4 + 64);
        }
        deflate
            .compress_vec(&bytes[consumed..], &mut out, flate2::FlushCompress::Sync)
            .map_err(std::io::Error::other)?;
        // Done when everything is in and the flush left room to spare.
        if deflate.total_in() as usize == bytes.len() && out.len() < out.capacity() {
            break;
        }
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(bytes);
    let (xz, xz_unpadded) = xz_block(bytes)?;
    Ok(Compressed {
        deflate: out,
        crc,
        xz,
        xz_unpadded,
        len: bytes.len() as u64,
    })
}

/// One gzip member of the blocks' deflate streams.
fn gzip(blocks: &[&Compressed]) -> Vec<u8> {
    let size: usize = blocks.iter().map(|b| b.deflate.len()).sum();
    let mut out = Vec::with_capacity(size + 20);
    // No name, no time (reproducible), "maximum compression", Unix.
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3]);
    let mut crc = crc32fast::Hasher::new();
    let mut len = 0u64;
    for block in blocks {
        out.extend_from_slice(&block.deflate);
        crc.combine(&block.crc);
        len += block.len;
    }
    // An empty final block with fixed codes.
    out.extend_from_slice(&[0x03, 0x00]);
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out
}

/// An xz block of `bytes`: header, LZMA2 data, padding to four bytes, CRC-32 check.
fn xz_block(bytes: &[u8]) -> std::io::Result<(Vec<u8>, u64)> {
    let log = (bytes.len().max(1).next_power_of_two().trailing_zeros())
        .clamp(XZ_MIN_DICT_LOG, XZ_MAX_DICT_LOG);
    let mut options = liblzma::stream::LzmaOptions::new_preset(XZ_PRESET)?;
    options.dict_size(1 << log);
    // The LZMA2 property of a dictionary of 2^log bytes.
    let property = ((log - XZ_MIN_DICT_LOG) * 2) as u8;
    let mut filters = liblzma::stream::Filters::new();
    filters.lzma2(&options);
    let stream = liblzma::stream::Stream::new_raw_encoder(&filters)?;
    let mut encoder = liblzma::write::XzEncoder::new_stream(Vec::new(), stream);
    encoder.write_all(bytes)?;
    let data = encoder.finish()?;
    // Size byte, flags (one filter, no sizes), LZMA2 with its dictionary, padding.
    let mut block = vec![0x02, 0x00, 0x21, 0x01, property, 0, 0, 0];
    let crc = crc32fast::hash(&block);
    block.extend_from_slice(&crc.to_le_bytes());
    let header = block.len();
    block.extend_from_slice(&data);
    while block.len() % 4 != 0 {
        block.push(0);
    }
    block.extend_from_slice(&crc32fast::hash(bytes).to_le_bytes());
    let unpadded = (header + data.len() + 4) as u64;
    Ok((block, unpadded))
}

/// An xz variable-length integer.
fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// One xz stream of the blocks.
fn xz(blocks: &[&Compressed]) -> Vec<u8> {
    let size: usize = blocks.iter().map(|b| b.xz.len()).sum();
    let mut out = Vec::with_capacity(size + 64 + blocks.len() * 8);
    out.extend_from_slice(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]);
    out.extend_from_slice(&XZ_FLAGS);
    out.extend_from_slice(&crc32fast::hash(&XZ_FLAGS).to_le_bytes());
    for block in blocks {
        out.extend_from_slice(&block.xz);
    }
    let mut index = vec![0x00];
    varint(&mut index, blocks.len() as u64);
    for block in blocks {
        varint(&mut index, block.xz_unpadded);
        varint(&mut index, block.len);
    }
    while index.len() % 4 != 0 {
        index.push(0);
    }
    let crc = crc32fast::hash(&index);
    index.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&index);
    let mut footer = ((index.len() / 4 - 1) as u32).to_le_bytes().to_vec();
    footer.extend_from_slice(&XZ_FLAGS);
    out.extend_from_slice(&crc32fast::hash(&footer).to_le_bytes());
    out.extend_from_slice(&footer);
    out.extend_from_slice(b"YZ");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn blocks() -> Vec<String> {
        let mut blocks = vec![String::new()];
        for i in 0..3000 {
            let name = format!("pkg{i}");
            if starts_block(&name) && !blocks.last().is_some_and(String::is_empty) {
                blocks.push(String::new());
            }
            let block = blocks.last_mut().expect("a block");
            block.push_str(&format!(
                "Package: {name}\nVersion: 1.{i}\nDescription: package {i}\n\n"
            ));
        }
        blocks
    }

    fn gunzip(bytes: &[u8]) -> String {
        let mut text = String::new();
        // The single-member decoder: the file is one member.
        flate2::read::GzDecoder::new(bytes)
            .read_to_string(&mut text)
            .expect("gunzip");
        text
    }

    fn unxz(bytes: &[u8]) -> String {
        let mut text = String::new();
        liblzma::read::XzDecoder::new(bytes)
            .read_to_string(&mut text)
            .expect("unxz");
        text
    }

    #[test]
    fn blocks_make_one_gzip_member_and_one_xz_stream_that_decode_to_the_text() {
        let blocks = blocks();
        assert!(blocks.len() > 5, "{} blocks", blocks.len());
        let text = blocks.concat();
        let mut cache = BlockCache::default();
        let (gz, xz) = cache
            .compress("main/binary-amd64", &blocks)
            .expect("compress");
        assert_eq!(gunzip(&gz), text);
        assert_eq!(unxz(&xz), text);

        // The command-line tools agree, checks included.
        let dir = tempfile::tempdir().expect("tmp");
        for (name, bytes, tool) in [("P.gz", &gz, "gzip"), ("P.xz", &xz, "xz")] {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).expect("write");
            let out = std::process::Command::new(tool)
                .arg("-t")
                .arg(&path)
                .output()
                .expect(tool);
            assert!(out.status.success(), "{tool}: {:?}", out);
        }

        // One package more: one block changes, and the result is what compressing from
        // nothing makes.
        let mut changed = blocks.clone();
        changed[3].push_str("Package: pkg-new\nVersion: 1\n\n");
        let again = cache
            .compress("main/binary-amd64", &changed)
            .expect("compress");
        let fresh = BlockCache::default()
            .compress("main/binary-amd64", &changed)
            .expect("compress");
        assert_eq!(again, fresh);
        assert_eq!(gunzip(&again.0), changed.concat());
        assert_eq!(unxz(&again.1), changed.concat());
    }

    #[test]
    fn an_empty_index_is_valid() {
        let (gz, xz) = BlockCache::default()
            .compress("main/binary-amd64", &[])
            .expect("compress");
        assert_eq!(gunzip(&gz), "");
        assert_eq!(unxz(&xz), "");
    }
}
