//! The HTTP side: the archive's files as a static tree (`/dists`, `/pool`, `/key.asc`,
//! `/key.gpg`), and changes for holders of a credential:
//!
//! * `PUT /upload/SUITE/COMPONENT/FILE.deb` or `POST /upload/SUITE/COMPONENT` with the
//!   `.deb` as the body, or several as `multipart/form-data` (added all or none, published
//!   once);
//! * `DELETE /packages/SUITE/COMPONENT/NAME[?version=V&arch=A]`.
//!
//! Uploads are streamed to files and refused with 413 as soon as they pass the limit, so an
//! over-large body never fills the disk; they are checked and published on a blocking
//! thread, the archive serialising the changes. Every answer to a change is JSON.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post, put};
use http_body_util::BodyExt;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tower_http::services::{ServeDir, ServeFile};

use crate::archive::{Added, Archive, Change, Entry, Suite};
use crate::auth::{Auth, Denied};
use crate::config::TlsFiles;
use crate::connections::Limits;
use crate::error::ArchiveError;

/// How the server runs, beside the archive and its credentials.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address and port (port 0: any free one).
    pub listen: SocketAddr,
    /// The largest upload, in bytes (all files of one request together).
    pub max_upload: u64,
    /// Certificate and key for HTTPS; plain HTTP without.
    pub tls: Option<TlsFiles>,
    /// Connections at once, and how long a quiet one is kept.
    pub limits: Limits,
}

/// What the server shares between requests.
struct Shared {
    archive: Archive,
    auth: Auth,
    max_upload: u64,
    /// Where changes are told.
    log: Arc<dyn crate::log::ServerLog>,
    /// How long a body may pause between parts.
    idle_timeout: std::time::Duration,
}

/// A JSON answer `{"error": message}` with `status`.
fn refusal(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

fn error_response(error: &ArchiveError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    refusal(status, error.to_string())
}

fn described(entry: &Entry) -> serde_json::Value {
    json!({
        "package": entry.name,
        "version": entry.version,
        "architecture": entry.arch,
        "sha256": entry.sha256,
    })
}

/// The router of an archive.
fn router(shared: Arc<Shared>) -> Router {
    let dir = shared.archive.config().dir.clone();
    // Bodies are streamed to disk under the archive's own limit (413); the framework's
    // default of 2 MiB would refuse every multipart upload above it.
    let body_limit =
        usize::try_from(shared.max_upload.saturating_add(1 << 20)).unwrap_or(usize::MAX);
    let tree = Router::new()
        .nest_service("/dists", ServeDir::new(dir.join("dists")))
        .nest_service("/pool", ServeDir::new(dir.join("pool")))
        .route_service("/key.asc", ServeFile::new(dir.join("key.asc")))
        .route_service("/key.gpg", ServeFile::new(dir.join("key.gpg")))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(Tree::new(&dir)),
            inside_tree,
        ));
    Router::new()
        .route("/upload/{suite}/{component}", post(upload_post))
        .route("/upload/{suite}/{component}/{file}", put(upload_put))
        .route("/packages/{suite}/{component}/{name}", delete(remove))
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .with_state(shared)
        .merge(tree)
}

/// The archive's directory, resolved, for [`inside_tree`].
struct Tree {
    root: PathBuf,
}

impl Tree {
    fn new(dir: &std::path::Path) -> Tree {
        Tree {
            root: std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned()),
        }
    }
}

/// Serves only what lies inside the archive's directory: the indices reach each other through
/// symbolic links of their own, but a link planted in the tree that leads out of it (to
/// `/etc`, to the secret key under `.staves`) is answered with 404.
async fn inside_tree(
    State(tree): State<Arc<Tree>>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path().trim_start_matches('/').to_owned();
    let root = tree.root.clone();
    let allowed = tokio::task::spawn_blocking(move || {
        if path
            .split('/')
            .any(|part| part == ".." || part.starts_with(".staves"))
        {
            return false;
        }
        let decoded = percent_decoded(&path);
        match std::fs::canonicalize(root.join(decoded)) {
            Ok(real) => real.starts_with(&root) && !real.starts_with(root.join(".staves")),
            // Missing: ServeDir answers 404 itself.
            Err(_) => true,
        }
    })
    .await
    .unwrap_or(false);
    if allowed {
        next.run(request).await
    } else {
        refusal(StatusCode::NOT_FOUND, "not found")
    }
}

/// `%XX` escapes of a URL path decoded, as the file server decodes them.
fn percent_decoded(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Checks the request's credential for a change to `suite`, on a blocking thread (a JWT may
/// make the key set be read again). An unknown suite is checked without claims of its own,
/// so only a caller with a valid credential learns that it is not served.
async fn authorize(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    suite: &str,
) -> Result<String, Response> {
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let worker = Arc::clone(shared);
    let name = suite.to_owned();
    let checked = tokio::task::spawn_blocking(move || {
        let suite = worker
            .archive
            .find_suite(&name)
            .cloned()
            .unwrap_or_else(|| Suite::new(&name, &[], &[]));
        worker.auth.check(header.as_deref(), &suite)
    })
    .await;
    match checked {
        Ok(Ok(who)) => Ok(who),
        Ok(Err(Denied::Missing)) => Err(refusal(
            StatusCode::UNAUTHORIZED,
            "a change needs `Authorization: Bearer TOKEN`",
        )),
        Ok(Err(Denied::Invalid(why))) => Err(refusal(StatusCode::UNAUTHORIZED, why)),
        Ok(Err(Denied::Forbidden(why))) => Err(refusal(StatusCode::FORBIDDEN, why)),
        Err(_) => Err(refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "checking the credential failed",
        )),
    }
}

async fn upload_post(
    State(shared): State<Arc<Shared>>,
    UrlPath((suite, component)): UrlPath<(String, String)>,
    request: Request,
) -> Response {
    let who = match authorize(&shared, request.headers(), &suite).await {
        Ok(who) => who,
        Err(response) => return response,
    };
    if let Some(response) = declared_too_large(&shared, request.headers()) {
        return response;
    }
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let files = if multipart {
        match Multipart::from_request(request, &()).await {
            Ok(parts) => receive_parts(&shared, parts).await,
            Err(rejection) => Err(refusal(StatusCode::BAD_REQUEST, rejection.body_text())),
        }
    } else {
        let mut received = 0;
        receive(&shared, request.into_body(), &mut received)
            .await
            .map(|f| vec![(f, "the request's body".to_owned())])
    };
    match files {
        Ok(files) => publish(shared, suite, component, files, who).await,
        Err(response) => response,
    }
}

async fn upload_put(
    State(shared): State<Arc<Shared>>,
    UrlPath((suite, component, file)): UrlPath<(String, String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let who = match authorize(&shared, &headers, &suite).await {
        Ok(who) => who,
        Err(response) => return response,
    };
    if let Some(response) = declared_too_large(&shared, &headers) {
        return response;
    }
    let mut received = 0;
    match receive(&shared, body, &mut received).await {
        Ok(path) => {
            let name = crate::jwt::printable(&file, 200);
            publish(shared, suite, component, vec![(path, name)], who).await
        }
        Err(response) => response,
    }
}

/// Adds received files to the archive and answers with what changed.
async fn publish(
    shared: Arc<Shared>,
    suite: String,
    component: String,
    files: Vec<(PathBuf, String)>,
    who: String,
) -> Response {
    if files.is_empty() {
        return refusal(StatusCode::BAD_REQUEST, "the upload holds no file");
    }
    let worker = Arc::clone(&shared);
    let (s, c, f) = (suite.clone(), component.clone(), files);
    // The archive moves each file into its pool or removes it.
    let added =
        tokio::task::spawn_blocking(move || worker.archive.add_many_named(&s, &c, &f)).await;
    match added {
        Ok(Ok(changes)) => {
            let mut packages = Vec::new();
            let mut removed = Vec::new();
            for Change {
                added,
                removed: gone,
            } in &changes
            {
                let (entry, status) = match added {
                    Added::New(entry) => (entry, "added"),
                    Added::Unchanged(entry) => (entry, "unchanged"),
                };
                if status == "added" {
                    shared.log.change(
                        "Added",
                        &format!(
                            "{} {} ({}) to {suite}/{component} for {who}",
                            entry.name, entry.version, entry.arch
                        ),
                    );
                }
                let mut answer = described(entry);
                answer["status"] = json!(status);
                packages.push(answer);
                for entry in gone {
                    shared.log.change(
                        "Retired",
                        &format!(
                            "{} {} ({}) from {suite}/{component}",
                            entry.name, entry.version, entry.arch
                        ),
                    );
                    removed.push(described(entry));
                }
            }
            let body = json!({ "packages": packages, "removed": removed });
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        Ok(Err(error)) => error_response(&error),
        Err(_) => refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the upload's check failed",
        ),
    }
}

/// What a removal names beside the package: an unknown key (`Version=` for `version=`) is
/// refused rather than ignored, which would remove every version.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Selection {
    version: Option<String>,
    arch: Option<String>,
}

async fn remove(
    State(shared): State<Arc<Shared>>,
    UrlPath((suite, component, name)): UrlPath<(String, String, String)>,
    selection: Result<Query<Selection>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let Query(selection) = match selection {
        Ok(selection) => selection,
        Err(rejection) => {
            return refusal(
                StatusCode::BAD_REQUEST,
                format!(
                    "{}; a removal takes `version=` and `arch=` only",
                    rejection.body_text()
                ),
            );
        }
    };
    let who = match authorize(&shared, &headers, &suite).await {
        Ok(who) => who,
        Err(response) => return response,
    };
    let worker = Arc::clone(&shared);
    let (s, c) = (suite.clone(), component.clone());
    let removed = tokio::task::spawn_blocking(move || {
        worker.archive.remove(
            &s,
            &c,
            &name,
            selection.version.as_deref(),
            selection.arch.as_deref(),
        )
    })
    .await;
    match removed {
        Ok(Ok(removed)) => {
            for entry in &removed {
                shared.log.change(
                    "Removed",
                    &format!(
                        "{} {} ({}) from {suite}/{component} for {who}",
                        entry.name, entry.version, entry.arch
                    ),
                );
            }
            let body = json!({ "removed": removed.iter().map(described).collect::<Vec<_>>() });
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        Ok(Err(error)) => error_response(&error),
        Err(_) => refusal(StatusCode::INTERNAL_SERVER_ERROR, "the removal failed"),
    }
}

fn too_large(limit: u64) -> Response {
    refusal(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("an upload may be at most {limit} bytes"),
    )
}

/// 413 before reading anything when the declared length passes the limit.
fn declared_too_large(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|n| *n > shared.max_upload)
        .map(|_| too_large(shared.max_upload))
}

/// Streams each part of a multipart body into a file, the limit counting all of them.
async fn receive_parts(
    shared: &Shared,
    mut parts: Multipart,
) -> Result<Vec<(PathBuf, String)>, Response> {
    let mut files = Vec::new();
    let mut received = 0u64;
    loop {
        let part = match parts.next_field().await {
            Ok(Some(part)) => part,
            Ok(None) => return Ok(files),
            Err(e) => {
                discard(&files).await;
                return Err(refusal(
                    StatusCode::BAD_REQUEST,
                    format!("reading the upload: {e}"),
                ));
            }
        };
        let name = part.file_name().or(part.name()).map_or_else(
            || format!("part {}", files.len() + 1),
            |n| crate::jwt::printable(n, 200),
        );
        match write_stream(shared, Chunks::Part(Box::new(part)), &mut received).await {
            Ok(file) => files.push((file, name)),
            Err(response) => {
                discard(&files).await;
                return Err(response);
            }
        }
    }
}

async fn discard(files: &[(PathBuf, String)]) {
    for (file, _) in files {
        let _ = tokio::fs::remove_file(file).await;
    }
}

/// A source of body chunks, from a plain body or from one part of a multipart body.
enum Chunks<'a> {
    Body(Body),
    Part(Box<axum::extract::multipart::Field<'a>>),
}

impl Chunks<'_> {
    async fn next(&mut self) -> Option<Result<Bytes, String>> {
        match self {
            Chunks::Body(body) => loop {
                match body.frame().await? {
                    Ok(frame) => {
                        if let Ok(data) = frame.into_data() {
                            return Some(Ok(data));
                        }
                    }
                    Err(e) => return Some(Err(e.to_string())),
                }
            },
            Chunks::Part(part) => part.chunk().await.map_err(|e| e.to_string()).transpose(),
        }
    }
}

async fn receive(shared: &Shared, body: Body, received: &mut u64) -> Result<PathBuf, Response> {
    write_stream(shared, Chunks::Body(body), received).await
}

/// Streams chunks into a new file of the incoming directory, stopping at the limit.
async fn write_stream(
    shared: &Shared,
    mut chunks: Chunks<'_>,
    received: &mut u64,
) -> Result<PathBuf, Response> {
    let incoming = shared.archive.incoming();
    let internal = |e: std::io::Error| {
        refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("receiving the upload: {e}"),
        )
    };
    let temp = staves_fs::temp_file_in(&incoming).map_err(internal)?;
    let (file, path) = temp.keep().map_err(|e| internal(e.error))?;
    let mut out = tokio::fs::File::from_std(file);
    let result: Result<(), Response> = async {
        loop {
            let next = tokio::time::timeout(shared.idle_timeout, chunks.next()).await;
            let Ok(next) = next else {
                return Err(refusal(
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "the upload paused for more than {} s",
                        shared.idle_timeout.as_secs()
                    ),
                ));
            };
            let Some(chunk) = next else { break };
            let data = chunk.map_err(|e| {
                refusal(StatusCode::BAD_REQUEST, format!("reading the upload: {e}"))
            })?;
            *received += data.len() as u64;
            if *received > shared.max_upload {
                return Err(too_large(shared.max_upload));
            }
            out.write_all(&data).await.map_err(internal)?;
        }
        out.flush().await.map_err(internal)
    }
    .await;
    match result {
        Ok(()) => Ok(path),
        Err(response) => {
            let _ = tokio::fs::remove_file(&path).await;
            Err(response)
        }
    }
}

/// Serves `archive` until SIGINT or SIGTERM; `ready` is told the URL first (the port is the
/// system's choice when the options name port 0).
pub fn serve(
    archive: Archive,
    auth: Auth,
    options: &ServeOptions,
    ready: impl FnOnce(&str, &Archive),
    log: Arc<dyn crate::log::ServerLog>,
) -> Result<(), ArchiveError> {
    let tls = options
        .tls
        .as_ref()
        .map(crate::tls::server_config)
        .transpose()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(ArchiveError::io(
            "starting the server",
            &PathBuf::from("tokio"),
        ))?;
    let listen = options.listen;
    let where_ = PathBuf::from(listen.to_string());
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(ArchiveError::io("listening on", &where_))?;
        let bound = listener
            .local_addr()
            .map_err(ArchiveError::io("listening on", &where_))?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        ready(&format!("{scheme}://{bound}"), &archive);
        let shared = Arc::new(Shared {
            archive,
            auth,
            max_upload: options.max_upload,
            log,
            idle_timeout: options.limits.idle_timeout,
        });
        let app = router(shared);
        let limits = options.limits;
        let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
        match tls {
            Some(config) => {
                let listener = crate::tls::TlsListener::new(listener, config, Arc::clone(&permits))
                    .map_err(ArchiveError::io("listening on", &where_))?;
                crate::connections::serve(listener, app, limits, permits, shutdown()).await;
            }
            None => {
                let incoming = crate::connections::Plain::new(listener, Arc::clone(&permits));
                crate::connections::serve(incoming, app, limits, permits, shutdown()).await;
            }
        }
        Ok(())
    })
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown() {
    let interrupt = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = interrupt => {}
                _ = terminate.recv() => {}
            }
        }
        Err(_) => {
            let _ = interrupt.await;
        }
    }
}
