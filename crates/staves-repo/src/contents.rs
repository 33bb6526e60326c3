//! The archive's `Contents-<arch>` indices: which package ships a file. Fetched only when a
//! question needs them, verified against the signed release like every index, and searched
//! while they are decompressed — Debian main's is 148 MB of text, never held in memory.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};

use crate::Client;
use crate::cache::Cache;
use crate::debs::{DebFetch, fetch_verified};
use crate::error::RepoError;
use crate::repository::SyncedRepository;

/// The most text a Contents index may decompress to, per compressed byte.
const MAX_RATIO: u64 = 64;

/// Whether `path` lies directly in a directory the dynamic loader searches by default:
/// `lib`, `lib/<triplet>`, `lib64`, `local/lib`, with or without `usr/` (Contents lists
/// `lib/…` for packages not yet moved to `/usr`). A `libz.so.1` deeper down is some
/// program's private copy, not what the loader finds.
fn in_library_dir(path: &str) -> bool {
    let path = path.strip_prefix("usr/").unwrap_or(path);
    let Some((dir, _)) = path.rsplit_once('/') else {
        return false;
    };
    match dir.split_once('/') {
        None => matches!(dir, "lib" | "lib64"),
        Some(("lib", triplet)) => triplet.contains("-linux-") && !triplet.contains('/'),
        Some(("local", "lib")) => true,
        _ => false,
    }
}

/// For each file name of `names` (`libcurl.so.4`), the packages of `repositories` that ship
/// a file of that name in a library directory, for `arch`. Repositories whose release lists
/// no Contents index answer nothing; an offline client reads only cached indices.
pub fn library_owners(
    client: &Client,
    cache: &Cache,
    repositories: &[SyncedRepository],
    arch: &str,
    names: &BTreeSet<String>,
) -> Result<BTreeMap<String, BTreeSet<String>>, RepoError> {
    let mut fetches = Vec::new();
    for synced in repositories {
        for component in &synced.config.components {
            let path = format!("{component}/Contents-{arch}.gz");
            if let Some(entry) = synced.release.files.get(&path) {
                fetches.push(DebFetch {
                    elsewhere: None,
                    package: format!("{} {path}", synced.config.name),
                    url: format!(
                        "{}/dists/{}/{path}",
                        synced.config.uri.trim_end_matches('/'),
                        synced.config.suite
                    ),
                    size: entry.size,
                    sha256: entry.sha256.clone(),
                });
            }
        }
    }
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    if names.is_empty() || fetches.is_empty() {
        return Ok(found);
    }
    let paths = match fetch_verified(client, cache, ("contents", ".gz"), &fetches, 4) {
        Err(RepoError::Offline { .. } | RepoError::OfflineMissing { .. }) => return Ok(found),
        other => other?,
    };
    for (path, fetch) in paths.iter().zip(&fetches) {
        let file = std::fs::File::open(path).map_err(RepoError::io("reading", path))?;
        let limit = fetch.size.saturating_mul(MAX_RATIO).max(64 << 20);
        let text = flate2::read::MultiGzDecoder::new(BufReader::new(file)).take(limit);
        search(BufReader::with_capacity(1 << 16, text), names, &mut found)
            .map_err(RepoError::io("reading", path))?;
    }
    Ok(found)
}

/// Reads `PATH   SECTION/PACKAGE[,SECTION/PACKAGE…]` lines, noting the packages of every
/// library whose file name is asked for.
fn search(
    mut text: impl BufRead,
    names: &BTreeSet<String>,
    found: &mut BTreeMap<String, BTreeSet<String>>,
) -> std::io::Result<()> {
    let mut line = Vec::new();
    loop {
        line.clear();
        if text.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let Ok(line) = std::str::from_utf8(&line) else {
            continue;
        };
        let line = line.trim_end();
        let Some((path, packages)) = line.rsplit_once([' ', '\t']) else {
            continue;
        };
        let path = path.trim_end();
        let name = path.rsplit('/').next().unwrap_or(path);
        if !names.contains(name) || !in_library_dir(path) {
            continue;
        }
        let owners = found.entry(name.to_owned()).or_default();
        for qualified in packages.split(',') {
            let package = qualified.rsplit('/').next().unwrap_or(qualified);
            owners.insert(package.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_packages_shipping_a_library() {
        let text = "\
usr/bin/curl                                            web/curl
usr/lib/x86_64-linux-gnu/libcurl.so.4                   libs/libcurl4,libs/libcurl4-dbg
usr/share/doc/libcurl.so.4                              doc/confusing
usr/lib/x86_64-linux-gnu/private/libz.so.1              libs/vendored
lib/x86_64-linux-gnu/libz.so.1 libs/zlib1g
usr/lib/x86_64-linux-gnu/libcurl-gnutls.so.4            libs/libcurl3-gnutls
";
        let names: BTreeSet<String> = ["libcurl.so.4", "libz.so.1", "libnone.so"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let mut found = BTreeMap::new();
        search(text.as_bytes(), &names, &mut found).expect("search");
        let owners = |n: &str| found[n].iter().cloned().collect::<Vec<_>>();
        assert_eq!(owners("libcurl.so.4"), ["libcurl4", "libcurl4-dbg"]);
        assert_eq!(owners("libz.so.1"), ["zlib1g"]);
        assert!(!found.contains_key("libnone.so"));
    }
}
