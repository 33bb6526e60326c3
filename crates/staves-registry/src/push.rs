//! Pushing an image from an OCI layout: blobs first, manifests after, the tag last.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use staves_oci::image::media;
use staves_oci::{BlobRef, Layout};

use crate::RegistryError;
use crate::auth::percent_encode;
use crate::retry::retrying;
use crate::session::{Body, Session, header};

/// How to push.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Blobs up to this size go in one `PUT`; larger ones in `PATCH` chunks of this size.
    pub chunk_size: u64,
    /// Attempts per blob and manifest when the registry or network fails transiently.
    pub attempts: u32,
    /// Blobs uploaded at once.
    pub jobs: usize,
    /// A file remembering which repository of a registry holds which blob, so that a push
    /// to another repository can mount instead of upload.
    pub memo: Option<PathBuf>,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            chunk_size: 64 << 20,
            attempts: 5,
            jobs: 4,
            memo: None,
        }
    }
}

/// What a push did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushReport {
    /// Digest of the pushed manifest or index.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// Blobs uploaded.
    pub uploaded: usize,
    /// Bytes uploaded.
    pub uploaded_bytes: u64,
    /// Blobs the registry already had.
    pub present: usize,
    /// Blobs mounted from another repository.
    pub mounted: usize,
    /// Manifests pushed (one per platform, plus the index).
    pub manifests: usize,
}

/// The `index.json` entry to push: the only one, or the one whose `ref.name` is `name`.
pub fn select(layout: &Layout, name: Option<&str>) -> Result<BlobRef, RegistryError> {
    let entries = layout.images().map_err(layout_error(layout.root()))?;
    let ref_name = |e: &BlobRef| {
        e.annotations
            .get("org.opencontainers.image.ref.name")
            .cloned()
    };
    if let Some(name) = name
        && let Some(found) = entries
            .iter()
            .find(|e| ref_name(e).as_deref() == Some(name))
    {
        return Ok(found.clone());
    }
    match entries.as_slice() {
        [only] => Ok(only.clone()),
        [] => Err(RegistryError::Layout {
            path: layout.root().join("index.json"),
            message: "lists no image".into(),
        }),
        many => Err(RegistryError::Layout {
            path: layout.root().join("index.json"),
            message: format!(
                "lists {} images; name one by its tag ({})",
                many.len(),
                many.iter()
                    .filter_map(ref_name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

/// Pushes `entry` of `layout` (an image manifest or an image index) to the session's
/// reference.
pub fn push_layout(
    layout: &Layout,
    entry: &BlobRef,
    session: &Session,
    options: &PushOptions,
) -> Result<PushReport, RegistryError> {
    let children = match entry.media_type.as_str() {
        media::INDEX => layout
            .children(entry)
            .map_err(layout_error(layout.root()))?,
        media::MANIFEST | "application/vnd.docker.distribution.manifest.v2+json" => Vec::new(),
        other => {
            return Err(RegistryError::Layout {
                path: layout.root().join("index.json"),
                message: format!("cannot push a `{other}`"),
            });
        }
    };
    let manifests: Vec<&BlobRef> = if children.is_empty() {
        vec![entry]
    } else {
        children.iter().collect()
    };
    let mut blobs: BTreeMap<String, BlobRef> = BTreeMap::new();
    for manifest in &manifests {
        let (config, layers) = layout
            .manifest_parts(manifest)
            .map_err(layout_error(layout.root()))?;
        for blob in std::iter::once(config).chain(layers) {
            blobs.insert(blob.digest.to_string(), blob);
        }
    }

    let blobs: Vec<BlobRef> = blobs.into_values().collect();
    // Nothing is sent until every blob and manifest is what its descriptor says: a layout
    // from elsewhere may hold a swapped blob, or a link to a file it should not.
    for blob in blobs.iter().chain(manifests.iter().copied()) {
        check_local(layout, blob)?;
    }
    if !children.is_empty() {
        check_local(layout, entry)?;
    }
    let memo = Memo::load(options.memo.as_deref());
    let mut report = push_blobs(session, layout, &blobs, options, &memo)?;

    // Children by digest, then the entry under the tag: a tag only ever names a complete image.
    if !children.is_empty() {
        for child in &children {
            retrying(options.attempts, session.progress(), || {
                put_manifest(session, layout, child, &child.digest)
            })?;
            report.manifests += 1;
        }
    }
    let target = session.reference().manifest_reference().to_owned();
    retrying(options.attempts, session.progress(), || {
        put_manifest(session, layout, entry, &target)
    })?;
    report.manifests += 1;
    report.digest = entry.digest.to_string();
    report.media_type = entry.media_type.clone();
    memo.record(
        &session.reference().registry,
        &session.reference().repository,
        blobs.iter().map(|b| b.digest.as_str()),
    );
    Ok(report)
}

/// Sends every blob the registry lacks, `options.jobs` at a time; the first failure (after
/// its retries) stops the rest.
pub(crate) fn push_blobs(
    session: &Session,
    layout: &Layout,
    blobs: &[BlobRef],
    options: &PushOptions,
    memo: &Memo,
) -> Result<PushReport, RegistryError> {
    let report = Mutex::new(PushReport::default());
    let next = AtomicUsize::new(0);
    let first_error: Mutex<Option<RegistryError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..options.jobs.clamp(1, blobs.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(blob) = blobs.get(i) else { break };
                    if first_error.lock().map(|e| e.is_some()).unwrap_or(true) {
                        break;
                    }
                    let outcome = retrying(options.attempts, session.progress(), || {
                        ensure_blob(session, layout, blob, options, memo)
                    });
                    match outcome {
                        Ok(outcome) => {
                            if let Ok(mut r) = report.lock() {
                                match outcome {
                                    Outcome::Present => r.present += 1,
                                    Outcome::Mounted => r.mounted += 1,
                                    Outcome::Uploaded => {
                                        r.uploaded += 1;
                                        r.uploaded_bytes += blob.size;
                                    }
                                }
                            }
                        }
                        Err(e) => {
                            if let Ok(mut first) = first_error.lock() {
                                first.get_or_insert(e);
                            }
                            break;
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().ok().flatten() {
        return Err(e);
    }
    Ok(report.into_inner().unwrap_or_default())
}

enum Outcome {
    Present,
    Mounted,
    Uploaded,
}

fn ensure_blob(
    session: &Session,
    layout: &Layout,
    blob: &BlobRef,
    options: &PushOptions,
    memo: &Memo,
) -> Result<Outcome, RegistryError> {
    let url = session.repo_url(&format!("blobs/{}", blob.digest));
    let response = session.send("HEAD", &url, &[], &Body::Empty)?;
    match response.status().as_u16() {
        200 => return Ok(Outcome::Present),
        404 => {}
        _ => {
            session.expect(response, "HEAD", &url, &[200, 404])?;
        }
    }
    let reference = session.reference();
    let mut start = session.repo_url("blobs/uploads/");
    if let Some(from) = memo.holder(&reference.registry, &blob.digest)
        && from != reference.repository
    {
        session.allow_pull_from(&from);
        start = format!(
            "{start}?mount={}&from={}",
            percent_encode(&blob.digest),
            percent_encode(&from)
        );
    }
    let response = session.send("POST", &start, &[], &Body::Empty)?;
    let response = session.expect(response, "POST", &start, &[201, 202])?;
    if response.status() == 201 {
        return Ok(Outcome::Mounted);
    }
    let mut location = location(session, &response, &start)?;
    let path = layout.blob_path(&blob.digest);
    let actual = std::fs::metadata(&path)
        .map_err(|e| RegistryError::Layout {
            path: path.clone(),
            message: e.to_string(),
        })?
        .len();
    if actual != blob.size {
        return Err(RegistryError::Layout {
            path,
            message: format!("is {actual} bytes; the manifest says {}", blob.size),
        });
    }
    let octets = [("Content-Type", "application/octet-stream")];
    session.progress().sending(blob.size);
    if blob.size > options.chunk_size {
        let mut offset = 0;
        while offset < blob.size {
            let len = options.chunk_size.min(blob.size - offset);
            let range = format!("{offset}-{}", offset + len - 1);
            let headers = [octets[0], ("Content-Range", range.as_str())];
            let body = Body::File {
                path: &path,
                offset,
                len,
            };
            let response = session.send("PATCH", &location, &headers, &body)?;
            let response = session.expect(response, "PATCH", &location, &[202])?;
            location = self::location(session, &response, &location)?;
            offset += len;
        }
        let url = with_digest(&location, &blob.digest);
        let response = session.send("PUT", &url, &[], &Body::Empty)?;
        session.expect(response, "PUT", &url, &[201])?;
    } else {
        let url = with_digest(&location, &blob.digest);
        let body = Body::File {
            path: &path,
            offset: 0,
            len: blob.size,
        };
        let response = session.send("PUT", &url, &octets, &body)?;
        session.expect(response, "PUT", &url, &[201])?;
    }
    Ok(Outcome::Uploaded)
}

fn put_manifest(
    session: &Session,
    layout: &Layout,
    manifest: &BlobRef,
    target: &str,
) -> Result<(), RegistryError> {
    let path = layout.blob_path(&manifest.digest);
    let bytes = std::fs::read(&path).map_err(|e| RegistryError::Layout {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let url = session.repo_url(&format!("manifests/{target}"));
    let headers = [("Content-Type", manifest.media_type.as_str())];
    let response = session.send("PUT", &url, &headers, &Body::Bytes(&bytes))?;
    let response = session.expect(response, "PUT", &url, &[200, 201])?;
    if let Some(digest) = header(&response, "docker-content-digest")
        && digest != manifest.digest
    {
        return Err(RegistryError::Protocol {
            registry: session.reference().registry.clone(),
            message: format!(
                "stored the manifest under {digest}, not {}",
                manifest.digest
            ),
        });
    }
    Ok(())
}

fn location(
    session: &Session,
    response: &ureq::http::Response<ureq::Body>,
    request: &str,
) -> Result<String, RegistryError> {
    header(response, "location")
        .map(|l| session.url(&l))
        .ok_or_else(|| RegistryError::Protocol {
            registry: session.reference().registry.clone(),
            message: format!("no upload location in the answer to {request}"),
        })
}

fn with_digest(location: &str, digest: &str) -> String {
    let separator = if location.contains('?') { '&' } else { '?' };
    format!("{location}{separator}digest={}", percent_encode(digest))
}

fn layout_error(root: &Path) -> impl Fn(staves_oci::OciError) -> RegistryError + '_ {
    move |e| RegistryError::Layout {
        path: root.to_owned(),
        message: e.to_string(),
    }
}

/// Which repository of a registry last received which blob: `{registry: {digest: repo}}`.
pub(crate) struct Memo {
    path: Option<PathBuf>,
    known: HashMap<String, HashMap<String, String>>,
}

impl Memo {
    /// A memo that knows nothing and records nothing.
    pub(crate) fn none() -> Memo {
        Memo {
            path: None,
            known: HashMap::new(),
        }
    }

    fn load(path: Option<&Path>) -> Memo {
        // A missing or damaged memo only costs uploads that a mount would have saved.
        let known = path
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        Memo {
            path: path.map(Path::to_owned),
            known,
        }
    }

    fn holder(&self, registry: &str, digest: &str) -> Option<String> {
        self.known.get(registry)?.get(digest).cloned()
    }

    fn record<'a>(
        mut self,
        registry: &str,
        repository: &str,
        digests: impl Iterator<Item = &'a str>,
    ) {
        let Some(path) = self.path.take() else { return };
        // Re-read: another push may have recorded blobs since this one started.
        let mut known: HashMap<String, HashMap<String, String>> = std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or(self.known);
        let entry = known.entry(registry.to_owned()).or_default();
        for digest in digests {
            entry.insert(digest.to_owned(), repository.to_owned());
        }
        let Some(dir) = path.parent() else { return };
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(dir)?;
            let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
            tmp.write_all(&serde_json::to_vec(&known).map_err(std::io::Error::other)?)?;
            tmp.persist(&path).map_err(|e| e.error)?;
            Ok(())
        };
        if let Err(e) = write() {
            tracing::debug!("cannot record pushed blobs in {}: {e}", path.display());
        }
    }
}

/// Checks that the layout's blob for `blob` is a regular file of the declared size whose
/// bytes hash to its digest, reading it once.
fn check_local(layout: &Layout, blob: &BlobRef) -> Result<(), RegistryError> {
    use sha2::Digest as _;
    let path = layout.blob_path(&blob.digest);
    let bad = |message: String| RegistryError::Layout {
        path: path.clone(),
        message,
    };
    let meta = std::fs::symlink_metadata(&path).map_err(|e| bad(e.to_string()))?;
    if !meta.is_file() {
        return Err(bad("is not a regular file".into()));
    }
    if meta.len() != blob.size {
        return Err(bad(format!(
            "is {} bytes; its descriptor says {}",
            meta.len(),
            blob.size
        )));
    }
    let mut hasher = sha2::Sha256::new();
    std::fs::File::open(&path)
        .and_then(|file| std::io::copy(&mut std::io::Read::take(file, blob.size), &mut hasher))
        .map_err(|e| bad(e.to_string()))?;
    let actual = staves_oci::Digest::from_sha256(hasher.finalize().into());
    if actual != blob.digest {
        return Err(bad(format!(
            "holds {actual}, not {}: it is damaged or was swapped",
            blob.digest
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(layout: &Layout, name: &str) -> BlobRef {
        let mut blob = layout
            .put_blob(media::MANIFEST, name.as_bytes())
            .expect("blob");
        blob.annotations
            .insert("org.opencontainers.image.ref.name".into(), name.into());
        blob
    }

    #[test]
    fn selects_the_only_entry_or_the_one_named() {
        let dir = tempfile::tempdir().expect("tmp");
        let layout = Layout::create(dir.path()).expect("layout");
        let one = entry(&layout, "one");
        layout.put_index(std::slice::from_ref(&one)).expect("index");
        assert_eq!(select(&layout, None).expect("only"), one);
        assert_eq!(select(&layout, Some("other")).expect("only"), one);

        let two = entry(&layout, "two");
        layout
            .put_index(&[one.clone(), two.clone()])
            .expect("index");
        assert_eq!(select(&layout, Some("two")).expect("named"), two);
        let error = select(&layout, None).expect_err("ambiguous").to_string();
        assert!(
            error.contains("lists 2 images") && error.contains("one, two"),
            "{error}"
        );
    }
}
