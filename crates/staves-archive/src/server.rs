//! The HTTP side: the archive's files as a static tree (`/dists`, `/pool`, `/key.asc`,
//! `/key.gpg`), and uploads (`PUT /upload/SUITE/COMPONENT/FILE.deb` or `POST
//! /upload/SUITE/COMPONENT`, the body being the `.deb`) for holders of a token. An upload is
//! streamed to a file and refused with 413 as soon as it passes the limit, so an over-large
//! body never fills the disk; it is checked and published on a blocking thread, the archive
//! serialising the changes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use http_body_util::BodyExt;
use tokio::io::AsyncWriteExt;
use tower_http::services::{ServeDir, ServeFile};

use crate::archive::{Added, Archive};
use crate::auth::{Denied, Tokens};
use crate::error::ArchiveError;

/// What the server shares between requests.
struct Shared {
    archive: Archive,
    tokens: Tokens,
    max_upload: u64,
}

/// An answer with a status and a one-line message.
fn answer(status: StatusCode, message: impl Into<String>) -> Response {
    let mut text = message.into();
    text.push('\n');
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

fn error_response(error: &ArchiveError) -> Response {
    let status = match error {
        ArchiveError::NotADeb(_) => StatusCode::BAD_REQUEST,
        ArchiveError::NotServed(_) => StatusCode::NOT_FOUND,
        ArchiveError::Conflict { .. } => StatusCode::CONFLICT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    answer(status, error.to_string())
}

/// The router of an archive.
fn router(shared: Arc<Shared>) -> Router {
    let dir = shared.archive.config().dir.clone();
    Router::new()
        .route("/upload/{suite}/{component}", post(upload_post))
        .route("/upload/{suite}/{component}/{file}", put(upload_put))
        .nest_service("/dists", ServeDir::new(dir.join("dists")))
        .nest_service("/pool", ServeDir::new(dir.join("pool")))
        .route_service("/key.asc", ServeFile::new(dir.join("key.asc")))
        .route_service("/key.gpg", ServeFile::new(dir.join("key.gpg")))
        .with_state(shared)
}

async fn upload_post(
    State(shared): State<Arc<Shared>>,
    UrlPath((suite, component)): UrlPath<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    upload(shared, suite, component, headers, body).await
}

async fn upload_put(
    State(shared): State<Arc<Shared>>,
    UrlPath((suite, component, _file)): UrlPath<(String, String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    upload(shared, suite, component, headers, body).await
}

async fn upload(
    shared: Arc<Shared>,
    suite: String,
    component: String,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match shared.tokens.check(authorization) {
        Ok(()) => {}
        Err(Denied::Missing) => {
            return answer(
                StatusCode::UNAUTHORIZED,
                "an upload needs `Authorization: Bearer TOKEN`",
            );
        }
        Err(Denied::Invalid) => {
            return answer(StatusCode::UNAUTHORIZED, "the token is not valid here");
        }
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > shared.max_upload) {
        return too_large(shared.max_upload);
    }
    let file = match receive(&shared, body).await {
        Ok(file) => file,
        Err(response) => return response,
    };
    let worker = Arc::clone(&shared);
    let path = file.clone();
    let added =
        tokio::task::spawn_blocking(move || worker.archive.add(&suite, &component, &path)).await;
    let _ = tokio::fs::remove_file(&file).await;
    match added {
        Ok(Ok(added)) => {
            let (entry, status) = match added {
                Added::New(entry) => (entry, "added"),
                Added::Unchanged(entry) => (entry, "unchanged"),
            };
            let body = serde_json::json!({
                "status": status,
                "package": entry.name,
                "version": entry.version,
                "architecture": entry.arch,
                "sha256": entry.sha256,
            });
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        Ok(Err(error)) => error_response(&error),
        Err(_) => answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the upload's check failed",
        ),
    }
}

fn too_large(limit: u64) -> Response {
    answer(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("an upload may be at most {limit} bytes"),
    )
}

/// Streams the body into a new file of the incoming directory, stopping at the limit.
async fn receive(shared: &Shared, mut body: Body) -> Result<PathBuf, Response> {
    let incoming = shared.archive.incoming();
    let internal = |e: std::io::Error| {
        answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("receiving the upload: {e}"),
        )
    };
    let temp = staves_fs::temp_file_in(&incoming).map_err(internal)?;
    let (file, path) = temp.keep().map_err(|e| internal(e.error))?;
    let mut out = tokio::fs::File::from_std(file);
    let mut written = 0u64;
    let result: Result<(), Response> = async {
        while let Some(frame) = body.frame().await {
            let frame = frame
                .map_err(|e| answer(StatusCode::BAD_REQUEST, format!("reading the upload: {e}")))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            written += data.len() as u64;
            if written > shared.max_upload {
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

/// Serves `archive` on `listen` until SIGINT or SIGTERM; `ready` is told the bound address
/// first (the port is the system's choice when `listen` names port 0).
pub fn serve(
    archive: Archive,
    tokens: Tokens,
    max_upload: u64,
    listen: SocketAddr,
    ready: impl FnOnce(SocketAddr, &Archive),
) -> Result<(), ArchiveError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(ArchiveError::io(
            "starting the server",
            &PathBuf::from("tokio"),
        ))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(ArchiveError::io(
                "listening on",
                &PathBuf::from(listen.to_string()),
            ))?;
        let bound = listener.local_addr().map_err(ArchiveError::io(
            "listening on",
            &PathBuf::from(listen.to_string()),
        ))?;
        ready(bound, &archive);
        let shared = Arc::new(Shared {
            archive,
            tokens,
            max_upload,
        });
        axum::serve(listener, router(shared))
            .with_graceful_shutdown(shutdown())
            .await
            .map_err(ArchiveError::io(
                "serving on",
                &PathBuf::from(bound.to_string()),
            ))
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
