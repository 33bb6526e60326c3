//! Crates a `Cargo.lock` pins, fetched by the checksum it gives: every package from a
//! registry carries `checksum`, the SHA-256 of its `.crate` file, so the registry's index is
//! not needed to know what to trust — only its `config.json`, for where files are
//! downloaded (`dl`). Each file is checked against the lock's checksum and kept in the cache
//! under it (`crates/`), with its name (`NAME-VERSION.crate`) beside it; once every crate is
//! there, nothing is asked of the registry, so `--offline` works from a warm cache.
//!
//! The build gets them as cargo's vendored-sources directory (see [`vendor_config`]), so
//! `cargo build --offline --locked` works unchanged with no network.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use staves_net::Client;
use staves_repo::Cache;
use staves_repo::debs::{DebFetch, UNKNOWN_SIZE, fetch_verified};
use staves_types::Diagnostic;
use toml::Spanned;

use crate::{Fetched, LangError};

/// Where the cache keeps fetched crates.
const KIND: &str = "crates";
/// The largest lock file read.
const MAX_LOCK: u64 = 16 << 20;
/// The largest registry `config.json` read.
const MAX_CONFIG: u64 = 64 << 10;

/// One crate a lock pins to a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crate {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The SHA-256 of its `.crate` file.
    pub checksum: String,
    /// The registry it comes from, as the lock names it (`registry+URL`, `sparse+URL`).
    pub source: String,
    /// Where its `[[package]]` table is in the lock.
    pub span: Range<usize>,
}

impl Crate {
    /// The file name cargo's vendoring gives it (and the directory it unpacks to, without
    /// `.crate`).
    pub fn filename(&self) -> String {
        format!("{}-{}.crate", self.name, self.version)
    }
}

/// A `Cargo.lock`, read and checked.
#[derive(Debug, Clone)]
pub struct CargoLock {
    /// The file.
    pub path: PathBuf,
    /// Its text.
    pub text: String,
    /// Every crate it pins to a registry, in the lock's order.
    pub crates: Vec<Crate>,
    /// The registry sources they come from, as the lock names them: crates-io (the one
    /// `registry+` source a lock may have: cargo writes crates-io's canonical id, whatever
    /// mirror it was fetched from) and sparse registries (`sparse+URL`). The build's cargo
    /// replaces each with the vendored directory.
    pub sources: Vec<String>,
}

#[derive(Deserialize)]
struct LockFile {
    #[serde(default)]
    version: Option<u32>,
    #[serde(default)]
    package: Vec<Spanned<Package>>,
    #[serde(default)]
    metadata: Option<toml::Table>,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    version: String,
    #[serde(default)]
    source: Option<Spanned<String>>,
    #[serde(default)]
    checksum: Option<String>,
}

impl CargoLock {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<CargoLock, LangError> {
        CargoLock::parse(path, crate::read_text(path, MAX_LOCK)?)
    }

    /// Checks `text`, the content of `path`.
    pub fn parse(path: &Path, text: String) -> Result<CargoLock, LangError> {
        let error = |span: Range<usize>, message: String, help: &str| {
            LangError::Requirement(Box::new(Diagnostic::new(
                path,
                &text,
                span,
                message,
                Some(help.to_owned()),
            )))
        };
        let lock: LockFile = toml::from_str(&text).map_err(|e| {
            error(
                e.span().unwrap_or(0..0),
                format!("not a Cargo.lock: {}", e.message()),
                "give the file cargo wrote (`cargo generate-lockfile`)",
            )
        })?;
        if lock.version.is_none() && lock.metadata.is_some_and(|m| !m.is_empty()) {
            return Err(error(
                0..0,
                "a version 1 lock file: its checksums are not beside its packages".into(),
                "write it again with a newer cargo (`cargo update --workspace`)",
            ));
        }
        let mut crates = Vec::new();
        let mut sources: Vec<String> = Vec::new();
        for package in &lock.package {
            let span = package.span();
            let package = package.get_ref();
            let Some(source) = &package.source else {
                // A member of the workspace: built from the recipe's source.
                continue;
            };
            let url = source.get_ref();
            if !(url.starts_with("registry+") || url.starts_with("sparse+")) {
                return Err(error(
                    source.span(),
                    format!(
                        "{} {} comes from `{url}`: only registry crates are fetched by checksum",
                        package.name, package.version
                    ),
                    "publish it to a registry, or put its source in the recipe's source tree as a path dependency",
                ));
            }
            let Some(checksum) = package.checksum.as_deref() else {
                return Err(error(
                    span,
                    format!("{} {} has no `checksum`", package.name, package.version),
                    "every registry crate needs one; write the lock again with cargo",
                ));
            };
            if checksum.len() != 64 || !checksum.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(error(
                    span,
                    format!("the checksum of {} is not a SHA-256", package.name),
                    "write the lock again with cargo",
                ));
            }
            let plain = |s: &str, extra: &str| {
                !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c) || extra.contains(c))
            };
            if !plain(&package.name, "") || !plain(&package.version, ".+") {
                return Err(error(
                    span,
                    format!(
                        "`{} {}` is not a crate name and version",
                        package.name, package.version
                    ),
                    "write the lock again with cargo",
                ));
            }
            if !sources.contains(url) {
                let git_protocol = |s: &String| s.starts_with("registry+");
                if git_protocol(url) && sources.iter().any(git_protocol) {
                    return Err(error(
                        source.span(),
                        format!("a second registry by the git protocol: `{url}`"),
                        "serve other registries by the sparse protocol (`sparse+https://…`); the one git-protocol source is crates-io",
                    ));
                }
                sources.push(url.clone());
            }
            crates.push(Crate {
                name: package.name.clone(),
                version: package.version.clone(),
                checksum: checksum.to_ascii_lowercase(),
                source: url.clone(),
                span,
            });
        }
        Ok(CargoLock {
            path: path.to_owned(),
            text,
            crates,
            sources,
        })
    }
}

/// Every crate of `lock` in the cache, fetched from the registry whose sparse index is
/// `index` (`sparse+https://…/`, or the same without `sparse+`) where missing. The index is
/// asked only for its `config.json`; each file is believed only by the lock's checksum.
pub fn fetch(
    client: &Client,
    cache: &Cache,
    lock: &CargoLock,
    index: Option<&str>,
    jobs: usize,
) -> Result<Vec<Fetched>, LangError> {
    let mut fetched = Vec::new();
    let mut missing = Vec::new();
    for krate in &lock.crates {
        match cached(cache, krate) {
            Some(file) => fetched.push(file),
            None => missing.push(krate),
        }
    }
    // Each crate from its registry's download template: a sparse registry's is at the
    // URL the lock names; crates-io's at the index the recipe or the host's cargo names.
    let mut templates: std::collections::HashMap<String, String> = Default::default();
    let mut fetches = Vec::new();
    for krate in &missing {
        let index = match krate.source.strip_prefix("sparse+") {
            Some(_) => krate.source.clone(),
            None => match index {
                Some(index) => index.to_owned(),
                None => {
                    return Err(LangError::Requirement(Box::new(Diagnostic::new(
                        &lock.path,
                        &lock.text,
                        krate.span.clone(),
                        format!(
                            "{} {} is not in the cache and no registry is named for crates-io",
                            krate.name, krate.version
                        ),
                        Some(
                            "name its sparse index in the recipe (`cargo-index = \"sparse+https://…/\"`) or replace crates-io with it in the host's cargo config"
                                .into(),
                        ),
                    ))));
                }
            },
        };
        let dl = match templates.get(&index) {
            Some(dl) => dl.clone(),
            None => {
                let dl = download_template(client, &index)?;
                templates.insert(index, dl.clone());
                dl
            }
        };
        fetches.push(DebFetch {
            package: format!("{} {}", krate.name, krate.version),
            url: download_url(&dl, krate),
            size: UNKNOWN_SIZE,
            sha256: krate.checksum.clone(),
            elsewhere: None,
        });
    }
    let paths = fetch_verified(client, cache, (KIND, ""), &fetches, jobs).map_err(|e| {
        // At the crate's place in the lock, when the error names its file.
        let message = e.to_string();
        match fetches.iter().position(|f| message.contains(&f.url)) {
            Some(i) => LangError::Requirement(Box::new(Diagnostic::new(
                &lock.path,
                &lock.text,
                missing[i].span.clone(),
                match message.contains(&fetches[i].package) {
                    true => message,
                    false => format!("{}: {message}", fetches[i].package),
                },
                Some(
                    "the registry does not serve the file the lock pins: check the registry, or write the lock again with cargo"
                        .into(),
                ),
            ))),
            None => LangError::Repo(e),
        }
    })?;
    for (krate, path) in missing.into_iter().zip(paths) {
        let name = path.with_extension("name");
        staves_fs::write_atomic(&name, krate.filename().as_bytes()).map_err(|source| {
            LangError::Io {
                path: name.clone(),
                source,
            }
        })?;
        fetched.push(Fetched {
            filename: krate.filename(),
            sha256: krate.checksum.clone(),
            path,
        });
    }
    fetched.sort_by(|a, b| a.filename.cmp(&b.filename));
    fetched.dedup_by(|a, b| a.filename == b.filename);
    Ok(fetched)
}

/// The registry the host's cargo uses in place of crates-io (`[source.crates-io]
/// replace-with` in `$CARGO_HOME/config.toml`, `~/.cargo` by default), when it names one
/// by a sparse or HTTP index.
pub fn host_registry() -> Option<String> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    let text = ["config.toml", "config"]
        .iter()
        .find_map(|name| staves_fs::read_regular(&home.join(name), 1 << 20).ok())?;
    let config: toml::Table = toml::from_str(&String::from_utf8_lossy(&text)).ok()?;
    let sources = config.get("source")?.as_table()?;
    let name = sources.get("crates-io")?.get("replace-with")?.as_str()?;
    let registry = sources.get(name)?.get("registry")?.as_str()?;
    registry.starts_with("sparse+").then(|| registry.to_owned())
}

/// `krate`'s file, when the cache holds it under its checksum with its name beside it.
fn cached(cache: &Cache, krate: &Crate) -> Option<Fetched> {
    let path = cache.entry(KIND, &krate.checksum, "");
    let name = std::fs::read_to_string(path.with_extension("name")).ok()?;
    (name == krate.filename() && path.is_file()).then(|| Fetched {
        filename: name,
        sha256: krate.checksum.clone(),
        path,
    })
}

/// The registry's download template (`dl` of its `config.json`).
fn download_template(client: &Client, index: &str) -> Result<String, LangError> {
    let root = index.strip_prefix("sparse+").unwrap_or(index);
    let url = format!("{}/config.json", root.trim_end_matches('/'));
    let failed = |message: String| LangError::Index {
        url: url.clone(),
        message,
    };
    let bytes = client
        .get_bytes(&url, MAX_CONFIG)
        .map_err(|e| failed(e.to_string()))?;
    #[derive(Deserialize)]
    struct Config {
        dl: String,
    }
    let config: Config = serde_json::from_slice(&bytes)
        .map_err(|e| failed(format!("not a registry's config.json: {e}")))?;
    if !(config.dl.starts_with("https://") || config.dl.starts_with("http://")) {
        return Err(failed(format!("`dl` is not an http(s) URL: {}", config.dl)));
    }
    Ok(config.dl)
}

/// Where `krate` is downloaded from, by the registry's template: its markers replaced, or
/// `/{crate}/{version}/download` appended when it has none (as cargo does).
fn download_url(dl: &str, krate: &Crate) -> String {
    let markers = [
        "{crate}",
        "{version}",
        "{prefix}",
        "{lowerprefix}",
        "{sha256-checksum}",
    ];
    if !markers.iter().any(|m| dl.contains(m)) {
        return format!(
            "{}/{}/{}/download",
            dl.trim_end_matches('/'),
            krate.name,
            krate.version
        );
    }
    let prefix = prefix(&krate.name);
    dl.replace("{crate}", &krate.name)
        .replace("{version}", &krate.version)
        .replace("{prefix}", &prefix)
        .replace("{lowerprefix}", &prefix.to_ascii_lowercase())
        .replace("{sha256-checksum}", &krate.checksum)
}

/// The index directory of a crate name, as registries lay them out: `1`, `2`, `3/a`,
/// `ab/cd`.
fn prefix(name: &str) -> String {
    match name.len() {
        1 => "1".into(),
        2 => "2".into(),
        3 => format!("3/{}", &name[..1]),
        _ => format!("{}/{}", &name[..2], &name[2..4]),
    }
}

/// cargo's configuration for a build that has the crates of `lock` unpacked in `vendor`:
/// each registry source the lock names replaced by that directory (crates-io by its name:
/// cargo allows no second name for it), and no network.
pub fn vendor_config(lock: &CargoLock, vendor: &str) -> String {
    let mut config = String::from(
        "# Written by Staves: the crates Cargo.lock pins, fetched by checksum before the build.\n",
    );
    if lock.sources.iter().any(|s| s.starts_with("registry+")) {
        config.push_str("[source.crates-io]\nreplace-with = \"staves-vendored\"\n\n");
    }
    let sparse = lock.sources.iter().filter(|s| s.starts_with("sparse+"));
    for (i, source) in sparse.enumerate() {
        config.push_str(&format!(
            "[source.staves-locked-{i}]\nregistry = {}\nreplace-with = \"staves-vendored\"\n\n",
            toml_string(source)
        ));
    }
    config.push_str(&format!(
        "[source.staves-vendored]\ndirectory = {}\n\n[net]\noffline = true\n",
        toml_string(vendor)
    ));
    config
}

/// `value` as a TOML basic string.
fn toml_string(value: &str) -> String {
    toml::Value::String(value.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"# This file is automatically @generated by Cargo.
version = 3

[[package]]
name = "demo"
version = "0.1.0"
dependencies = ["itoa"]

[[package]]
name = "itoa"
version = "1.0.11"
source = "registry+https://registry.test/index"
checksum = "49f1f14873335454500d59611f1cf4a4b0f786f9ac11f4312a78e4cf2566695b"

[[package]]
name = "ryu"
version = "1.0.18"
source = "sparse+https://private.test/index/"
checksum = "f3cb5ba0dc43242ce17de99c180e96db90b235b8a9fdc9543c96d2209116bd9f"
"#;

    fn parse(text: &str) -> Result<CargoLock, LangError> {
        CargoLock::parse(Path::new("Cargo.lock"), text.to_owned())
    }

    #[test]
    fn registry_crates_are_read_with_their_checksums_members_are_not() {
        let lock = parse(LOCK).expect("lock");
        assert_eq!(lock.crates.len(), 2);
        assert_eq!(lock.crates[0].filename(), "itoa-1.0.11.crate");
        assert_eq!(lock.sources.len(), 2);
        let config = vendor_config(&lock, "/build/vendor");
        let parsed: toml::Table = toml::from_str(&config).expect("config is TOML");
        assert_eq!(
            parsed["source"]["crates-io"]["replace-with"].as_str(),
            Some("staves-vendored")
        );
        assert_eq!(
            parsed["source"]["staves-locked-0"]["registry"].as_str(),
            Some("sparse+https://private.test/index/")
        );
        assert_eq!(
            parsed["source"]["staves-vendored"]["directory"].as_str(),
            Some("/build/vendor")
        );
    }

    #[test]
    fn what_cannot_be_checked_is_refused_at_its_line() {
        let unhashed = LOCK.replace(
            "checksum = \"49f1f14873335454500d59611f1cf4a4b0f786f9ac11f4312a78e4cf2566695b\"\n",
            "",
        );
        let e = parse(&unhashed).expect_err("no checksum");
        assert!(e.to_string().contains("no `checksum`"), "{e}");
        let LangError::Requirement(d) = e else {
            panic!("not at a place")
        };
        assert_eq!(d.line_column().0, 9, "the [[package]] of itoa");
        let git = LOCK.replace(
            "registry+https://registry.test/index",
            "git+https://example.test/itoa#abc",
        );
        let e = parse(&git).expect_err("git");
        assert!(e.to_string().contains("only registry crates"), "{e}");
        let second = LOCK.replace("sparse+https://private.test", "registry+https://other.test");
        let e = parse(&second).expect_err("two git registries");
        assert!(e.to_string().contains("second registry"), "{e}");
        let hostile = LOCK.replace("1.0.11", "1.0.11/../../x");
        assert!(parse(&hostile).is_err());
    }

    #[test]
    fn download_urls_follow_the_registry_template() {
        let krate = Crate {
            name: "Serde".into(),
            version: "1.0.0".into(),
            checksum: "ab".repeat(32),
            source: String::new(),
            span: 0..0,
        };
        assert_eq!(
            download_url("http://127.0.0.1:9/dl", &krate),
            "http://127.0.0.1:9/dl/Serde/1.0.0/download"
        );
        assert_eq!(
            download_url(
                "http://127.0.0.1:9/{lowerprefix}/{crate}-{version}.crate?{sha256-checksum}",
                &krate
            ),
            format!(
                "http://127.0.0.1:9/se/rd/Serde-1.0.0.crate?{}",
                "ab".repeat(32)
            )
        );
        assert_eq!(prefix("a"), "1");
        assert_eq!(prefix("ab"), "2");
        assert_eq!(prefix("abc"), "3/a");
    }
}
