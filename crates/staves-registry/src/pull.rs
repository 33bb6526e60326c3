//! Pulling an image pinned by digest into an OCI layout: the manifest (or index and the
//! manifests of the platforms asked for), the config and the layers, each checked against
//! its digest and size before it is stored, so what lands in the layout is byte for byte
//! what was pinned.
//!
//! Blobs already in the layout are not fetched again when they still hash to their digest
//! (a damaged one is fetched anew), so a complete pull needs no network at all: the session
//! is opened only when something is missing.

use std::cell::OnceCell;
use std::io::{Read, Write};

use sha2::{Digest as _, Sha256};
use staves_oci::image::media;
use staves_oci::{BlobRef, Digest, Layout, Platform};

use crate::RegistryError;
use crate::retry::retrying;
use crate::session::{Body, Session, header};

/// Largest manifest or index accepted.
const MAX_MANIFEST: u64 = 4 << 20;

/// What a manifest request accepts.
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// What a pull did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullReport {
    /// The pinned manifest or index, as the layout's `index.json` entry.
    pub entry: Option<BlobRef>,
    /// Blobs downloaded.
    pub fetched: usize,
    /// Bytes downloaded.
    pub fetched_bytes: u64,
    /// Blobs the layout already held.
    pub present: usize,
}

/// Pulls `digest` of the session's repository into `layout`, with the images of an index
/// for `platforms` only, and names it `name` in `index.json`. `connect` opens the session
/// the first time something is missing (and may refuse, for an offline build).
pub fn pull(
    connect: &dyn Fn() -> Result<Session, RegistryError>,
    digest: &str,
    name: &str,
    platforms: &[Platform],
    layout: &Layout,
) -> Result<PullReport, RegistryError> {
    // The digest names a file of the layout and a URL: refused unless it is one.
    let digest = &Digest::parse(digest).map_err(|e| RegistryError::Layout {
        path: layout.root().to_owned(),
        message: e.to_string(),
    })?;
    let puller = Puller {
        connect,
        session: OnceCell::new(),
        layout,
        report: std::cell::RefCell::new(PullReport::default()),
    };
    let (media_type, top) = puller.manifest(digest)?;
    if is_index(&media_type) {
        let children: Vec<BlobRef> = puller.parse(&top, "manifests", digest)?;
        for platform in platforms {
            let child = children
                .iter()
                .find(|c| {
                    c.platform.as_ref().is_some_and(|p| {
                        p.architecture == platform.architecture && p.variant == platform.variant
                    })
                })
                .ok_or_else(|| RegistryError::Layout {
                    path: layout.root().to_owned(),
                    message: format!(
                        "{name}@{digest} has no image for {}; it has: {}",
                        platform.architecture,
                        children
                            .iter()
                            .filter_map(|c| c.platform.as_ref().map(|p| p.architecture.as_str()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                })?;
            let (_, manifest) = puller.manifest(&child.digest)?;
            puller.image(&manifest, &child.digest)?;
        }
    } else {
        puller.image(&top, digest)?;
    }
    let mut entry = BlobRef {
        media_type,
        digest: digest.clone(),
        size: top.len() as u64,
        platform: None,
        annotations: Default::default(),
        artifact_type: None,
    };
    entry
        .annotations
        .insert("org.opencontainers.image.ref.name".into(), name.to_owned());
    layout
        .put_index(std::slice::from_ref(&entry))
        .map_err(layout_error(layout))?;
    let mut report = puller.report.into_inner();
    report.entry = Some(entry);
    Ok(report)
}

/// The digest of what `tag` names in the session's repository now: the manifest (or index)
/// fetched and hashed here, so the digest is what the bytes are, whatever the registry
/// says in its headers. Pull it with [`pull`], which fetches and checks it again.
pub fn resolve_tag(session: &Session, tag: &str) -> Result<String, RegistryError> {
    Ok(sha256(&get_manifest(session, tag)?).to_string())
}

/// The manifest (or index, as `accept` asks) under `tag`, if the repository has one: its
/// digest (hashed here) and its JSON.
pub(crate) fn tagged(
    session: &Session,
    tag: &str,
    accept: &str,
) -> Result<Option<(String, serde_json::Value)>, RegistryError> {
    let url = session.repo_url(&format!("manifests/{tag}"));
    let response = session.send("GET", &url, &[("Accept", accept)], &Body::Empty)?;
    if response.status() == 404 {
        return Ok(None);
    }
    let response = session.expect(response, "GET", &url, &[200])?;
    let bytes = bounded_body(session, &url, response)?;
    let value = serde_json::from_slice(&bytes).map_err(|e| RegistryError::Protocol {
        registry: session.reference().registry.clone(),
        message: format!("{tag} is not a manifest: {e}"),
    })?;
    Ok(Some((sha256(&bytes).to_string(), value)))
}

/// The manifest (or index) `reference` (a tag or a digest) names, at most
/// [`MAX_MANIFEST`] bytes, retried on transient faults.
fn get_manifest(session: &Session, reference: &str) -> Result<Vec<u8>, RegistryError> {
    let url = session.repo_url(&format!("manifests/{reference}"));
    let bytes = retrying(5, session.progress(), || {
        let response = session.send("GET", &url, &[("Accept", ACCEPT)], &Body::Empty)?;
        let response = session.expect(response, "GET", &url, &[200])?;
        bounded_body(session, &url, response)
    })?;
    Ok(bytes)
}

/// The body of a manifest or index response, refused beyond [`MAX_MANIFEST`] bytes.
pub(crate) fn bounded_body(
    session: &Session,
    url: &str,
    response: ureq::http::Response<ureq::Body>,
) -> Result<Vec<u8>, RegistryError> {
    let mut bytes = Vec::new();
    response
        .into_body()
        .into_reader()
        .take(MAX_MANIFEST + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| session.network("GET", url, e.to_string()))?;
    if bytes.len() as u64 > MAX_MANIFEST {
        return Err(RegistryError::Protocol {
            registry: session.reference().registry.clone(),
            message: format!("{url} answered more than {MAX_MANIFEST} bytes"),
        });
    }
    Ok(bytes)
}

fn is_index(media_type: &str) -> bool {
    media_type == media::INDEX || media_type == media::DOCKER_LIST
}

struct Puller<'a> {
    connect: &'a dyn Fn() -> Result<Session, RegistryError>,
    session: OnceCell<Session>,
    layout: &'a Layout,
    report: std::cell::RefCell<PullReport>,
}

impl Puller<'_> {
    fn session(&self) -> Result<&Session, RegistryError> {
        if let Some(session) = self.session.get() {
            return Ok(session);
        }
        let session = (self.connect)()?;
        Ok(self.session.get_or_init(|| session))
    }

    /// The manifest or index stored under `digest`: its media type and bytes.
    fn manifest(&self, digest: &Digest) -> Result<(String, Vec<u8>), RegistryError> {
        let path = self.layout.blob_path(digest);
        let bytes = match staves_fs::read_regular(&path, MAX_MANIFEST) {
            Ok(bytes) if Digest::of(&bytes) == *digest => {
                self.report.borrow_mut().present += 1;
                bytes
            }
            _ => {
                let bytes = get_manifest(self.session()?, digest.as_ref())?;
                let actual = sha256(&bytes);
                if actual != *digest {
                    return Err(self.protocol(format!(
                        "asked for manifest {digest}, got content whose digest is {actual}"
                    )));
                }
                self.store(&bytes, digest)?;
                let mut report = self.report.borrow_mut();
                report.fetched += 1;
                report.fetched_bytes += bytes.len() as u64;
                bytes
            }
        };
        let media_type = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v["mediaType"].as_str().map(str::to_owned))
            .unwrap_or_else(|| media::MANIFEST.to_owned());
        Ok((media_type, bytes))
    }

    /// The config and layers of the image manifest `bytes`.
    fn image(&self, bytes: &[u8], digest: &Digest) -> Result<(), RegistryError> {
        let config: BlobRef = self.parse(bytes, "config", digest)?;
        let layers: Vec<BlobRef> = self.parse(bytes, "layers", digest)?;
        for blob in std::iter::once(&config).chain(&layers) {
            self.blob(blob)?;
        }
        Ok(())
    }

    /// Fetches one blob unless the layout holds it at its size.
    fn blob(&self, blob: &BlobRef) -> Result<(), RegistryError> {
        let path = self.layout.blob_path(&blob.digest);
        // Re-hashed on every use: a damaged blob is fetched again, never built on. Only a
        // regular file of the right size is read (not a link to a device).
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file() && m.len() == blob.size)
            && file_sha256(&path).is_ok_and(|d| d == blob.digest)
        {
            self.report.borrow_mut().present += 1;
            return Ok(());
        }
        let session = self.session()?;
        let progress = session.progress();
        progress.sending(blob.size);
        retrying(5, progress, || self.download(session, blob))?;
        let mut report = self.report.borrow_mut();
        report.fetched += 1;
        report.fetched_bytes += blob.size;
        Ok(())
    }

    /// One attempt at streaming a blob into a temporary file of the layout, renamed into
    /// place once its size and digest are right. Registries may redirect blob reads to
    /// storage elsewhere; credentials are never sent there.
    fn download(&self, session: &Session, blob: &BlobRef) -> Result<(), RegistryError> {
        let mut url = session.repo_url(&format!("blobs/{}", blob.digest));
        let mut redirects = 0;
        let response = loop {
            let response = session.send("GET", &url, &[], &Body::Empty)?;
            if matches!(response.status().as_u16(), 301 | 302 | 303 | 307 | 308) && redirects < 5 {
                let location = header(&response, "location").ok_or_else(|| {
                    self.protocol(format!("a redirect from {url} without Location"))
                })?;
                url = session.url(&location);
                redirects += 1;
                continue;
            }
            break session.expect(response, "GET", &url, &[200])?;
        };
        let dir = self.layout.root().join("blobs/sha256");
        let io = |e: std::io::Error| RegistryError::Layout {
            path: dir.clone(),
            message: e.to_string(),
        };
        let mut tmp = staves_fs::temp_file_in(&dir).map_err(io)?;
        let mut body = response.into_body().into_reader().take(blob.size + 1);
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0u64;
        loop {
            let n = body
                .read(&mut buf)
                .map_err(|e| session.network("GET", &url, e.to_string()))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            tmp.write_all(&buf[..n]).map_err(io)?;
            total += n as u64;
            session.progress().sent(n as u64);
        }
        let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
        if total != blob.size || actual != blob.digest {
            return Err(self.protocol(format!(
                "blob {} arrived as {total} bytes with digest {actual}; the manifest says {} bytes",
                blob.digest, blob.size
            )));
        }
        staves_fs::persist(tmp, &self.layout.blob_path(&blob.digest)).map_err(io)?;
        Ok(())
    }

    fn store(&self, bytes: &[u8], digest: &Digest) -> Result<(), RegistryError> {
        let stored = self
            .layout
            .put_blob(media::MANIFEST, bytes)
            .map_err(layout_error(self.layout))?;
        debug_assert_eq!(stored.digest, *digest);
        Ok(())
    }

    /// The field `key` of the manifest or index `bytes`.
    fn parse<T: serde::de::DeserializeOwned>(
        &self,
        bytes: &[u8],
        key: &str,
        digest: &Digest,
    ) -> Result<T, RegistryError> {
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| self.protocol(format!("{digest} is not a manifest: {e}")))?;
        serde_json::from_value(value[key].clone())
            .map_err(|e| self.protocol(format!("manifest {digest}: `{key}`: {e}")))
    }

    fn protocol(&self, message: String) -> RegistryError {
        RegistryError::Protocol {
            registry: self
                .session
                .get()
                .map(|s| s.reference().registry.clone())
                .unwrap_or_default(),
            message,
        }
    }
}

fn file_sha256(path: &std::path::Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn layout_error(layout: &Layout) -> impl Fn(staves_oci::OciError) -> RegistryError + '_ {
    move |e| RegistryError::Layout {
        path: layout.root().to_owned(),
        message: e.to_string(),
    }
}
