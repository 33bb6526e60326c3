//! Requirements fetched from a PEP 691 simple index: for each, the index's JSON page
//! (`INDEX/NAME/`, asked for as `application/vnd.pypi.simple.v1+json`) lists its files with their
//! SHA-256; those whose hash the requirements file lists are downloaded — through the one
//! network layer, checked against that hash — and kept in the cache under it (`pypi/`),
//! each with its file name beside it. Once every requirement has a file in the cache the
//! index is not asked again, so `--offline` works from a warm cache.

use serde::Deserialize;
use staves_net::Client;
use staves_repo::Cache;
use staves_repo::debs::{DebFetch, UNKNOWN_SIZE, fetch_verified};

use crate::requirements::{Requirement, Requirements};
use crate::{Fetched, LangError};

/// The JSON form of a project page, as PEP 691 negotiates it.
const JSON: &str = "application/vnd.pypi.simple.v1+json";
/// The largest project page read.
const MAX_PAGE: u64 = 32 << 20;
/// Where the cache keeps fetched files.
const KIND: &str = "pypi";

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    files: Vec<File>,
}

#[derive(Deserialize)]
struct File {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    yanked: serde_json::Value,
}

impl File {
    fn is_yanked(&self) -> bool {
        !matches!(
            self.yanked,
            serde_json::Value::Null | serde_json::Value::Bool(false)
        )
    }
}

/// Every file the requirements allow (by hash) that the index has, in the cache; the index
/// is `index` (its simple root, `…/simple`). A requirement none of whose hashes the index
/// has, or only in a yanked file, is an error at its line; so is a manylinux wheel that
/// bundles copies of system libraries, unless `allow_bundled`.
pub fn fetch(
    client: &Client,
    cache: &Cache,
    requirements: &Requirements,
    index: Option<&str>,
    allow_bundled: bool,
    jobs: usize,
) -> Result<Vec<Fetched>, LangError> {
    let mut fetched = Vec::new();
    let mut wanted: Vec<(DebFetch, String)> = Vec::new();
    let mut of: Vec<(String, &Requirement)> = Vec::new();
    for requirement in &requirements.requirements {
        let cached = cached(cache, requirement);
        if !cached.is_empty() {
            of.extend(cached.iter().map(|f| (f.sha256.clone(), requirement)));
            fetched.extend(cached);
            continue;
        }
        let Some(index) = index else {
            return Err(requirements.error_at(
                requirement,
                format!(
                    "{} is not in the cache and no index is named",
                    requirement.name
                ),
                "name the index in the recipe (`pip-index = URL`) or in PIP_INDEX_URL",
            ));
        };
        for file in files_of(client, requirements, requirement, index)? {
            let sha256 = file.hashes.get("sha256").cloned().unwrap_or_default();
            of.push((sha256.clone(), requirement));
            let url = absolute(index, &requirement.name, &file.url);
            wanted.push((
                DebFetch {
                    package: format!("{} ({})", file.filename, requirements.path.display()),
                    url,
                    size: UNKNOWN_SIZE,
                    sha256,
                    elsewhere: None,
                },
                file.filename,
            ));
        }
    }
    let fetches: Vec<DebFetch> = wanted.iter().map(|(f, _)| f.clone()).collect();
    let paths = fetch_verified(client, cache, (KIND, ""), &fetches, jobs)?;
    for ((fetch, filename), path) in wanted.into_iter().zip(paths) {
        // The name beside the file, once the file is whole: a name without its file is
        // never left.
        let name = path.with_extension("name");
        staves_fs::write_atomic(&name, filename.as_bytes()).map_err(|source| LangError::Io {
            path: name.clone(),
            source,
        })?;
        fetched.push(Fetched {
            filename,
            sha256: fetch.sha256,
            path,
        });
    }
    fetched.sort_by(|a, b| a.filename.cmp(&b.filename));
    fetched.dedup_by(|a, b| a.sha256 == b.sha256);
    if !allow_bundled {
        for file in fetched
            .iter()
            .filter(|f| crate::wheel::is_linux_binary(&f.filename))
        {
            let bundled = crate::wheel::bundled_libraries(&file.path)?;
            let Some((_, requirement)) = of.iter().find(|(sha, _)| *sha == file.sha256) else {
                continue;
            };
            if let Some(first) = bundled.first() {
                return Err(requirements.error_at(
                    requirement,
                    format!(
                        "{} bundles its own copies of {} system librar{} ({first}{}): Debian's security updates would never reach them",
                        file.filename,
                        bundled.len(),
                        if bundled.len() == 1 { "y" } else { "ies" },
                        if bundled.len() > 1 { ", …" } else { "" },
                    ),
                    "list only the sdist's hash (built against Debian's -dev packages), or set `allow-bundled-libraries = true` in [fetch]",
                ));
            }
        }
    }
    Ok(fetched)
}

/// The files of `requirement` the cache holds, by the hashes it lists.
fn cached(cache: &Cache, requirement: &Requirement) -> Vec<Fetched> {
    requirement
        .hashes
        .iter()
        .filter_map(|sha256| {
            let path = cache.entry(KIND, sha256, "");
            let filename = std::fs::read_to_string(path.with_extension("name")).ok()?;
            // A name that is not one file name is not believed.
            let safe = !filename.is_empty() && !filename.contains(['/', '\0']) && filename != "..";
            (safe && path.is_file()).then(|| Fetched {
                filename,
                sha256: sha256.clone(),
                path,
            })
        })
        .collect()
}

/// The files of the index's page for `requirement` whose SHA-256 it lists; an error at
/// its line when there are none, or only yanked ones.
fn files_of(
    client: &Client,
    requirements: &Requirements,
    requirement: &Requirement,
    index: &str,
) -> Result<Vec<File>, LangError> {
    let url = format!("{}/{}/", index.trim_end_matches('/'), requirement.name);
    let bytes = match client.get_accepting(&url, JSON, MAX_PAGE) {
        Ok(bytes) => bytes,
        Err(e) if e.is_not_found() => {
            return Err(requirements.error_at(
                requirement,
                format!("the index has no project {}", requirement.name),
                "check the name, or the index the recipe names",
            ));
        }
        Err(e) => {
            return Err(LangError::Index {
                url,
                message: e.to_string(),
            });
        }
    };
    let page: Page = serde_json::from_slice(&bytes).map_err(|e| LangError::Index {
        url: url.clone(),
        message: format!("not a PEP 691 JSON page: {e}"),
    })?;
    let listed: Vec<File> = page
        .files
        .into_iter()
        .filter(|f| {
            f.hashes
                .get("sha256")
                .is_some_and(|h| requirement.hashes.contains(&h.to_ascii_lowercase()))
        })
        .collect();
    if listed.is_empty() {
        return Err(requirements.error_at(
            requirement,
            format!(
                "the index has no file of {}=={} with a hash listed here",
                requirement.name, requirement.version
            ),
            "the hashes may be of another version or another index: generate them again",
        ));
    }
    let (yanked, current): (Vec<File>, Vec<File>) = listed.into_iter().partition(File::is_yanked);
    if current.is_empty() {
        return Err(requirements.error_at(
            requirement,
            format!(
                "{}=={} is yanked on the index ({})",
                requirement.name,
                requirement.version,
                yanked
                    .iter()
                    .map(|f| f.filename.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "pin a version that is not yanked",
        ));
    }
    Ok(current)
}

/// A file's URL as the page gives it, made absolute against the page's own (dot segments
/// resolved, the fragment dropped).
fn absolute(index: &str, name: &str, url: &str) -> String {
    let url = url.split('#').next().unwrap_or_default();
    if url.contains("://") {
        return url.to_owned();
    }
    let page = format!("{}/{name}/", index.trim_end_matches('/'));
    let scheme_end = page.find("://").map_or(0, |i| i + 3);
    let host_end = page[scheme_end..]
        .find('/')
        .map_or(page.len(), |i| scheme_end + i);
    let (origin, page_path) = page.split_at(host_end);
    let joined = match url.starts_with('/') {
        true => url.to_owned(),
        false => format!("{}{url}", &page_path[..=page_path.rfind('/').unwrap_or(0)]),
    };
    let mut segments: Vec<&str> = Vec::new();
    for segment in joined.split('/').skip(1) {
        match segment {
            "." => {}
            ".." => {
                segments.pop();
            }
            _ => segments.push(segment),
        }
    }
    format!("{origin}/{}", segments.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_are_made_absolute_against_the_page() {
        assert_eq!(
            absolute(
                "http://127.0.0.1:8/simple/",
                "six",
                "../../files/six.whl#sha256=ab"
            ),
            "http://127.0.0.1:8/files/six.whl"
        );
        assert_eq!(
            absolute("http://127.0.0.1:8/simple", "six", "six.whl"),
            "http://127.0.0.1:8/simple/six/six.whl"
        );
        assert_eq!(
            absolute("http://127.0.0.1:8/simple", "six", "/files/six.whl"),
            "http://127.0.0.1:8/files/six.whl"
        );
        assert_eq!(
            absolute("http://127.0.0.1:8/simple", "six", "http://h/f.whl"),
            "http://h/f.whl"
        );
    }
}
