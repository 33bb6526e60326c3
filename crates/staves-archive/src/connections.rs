//! Connections, bounded: at most so many open at once (the rest wait in the kernel's accept
//! queue, never using a descriptor), each closed when its client sends no complete request
//! head within the idle timeout (a slow or idle client, or a keep-alive connection nobody
//! uses), and every one let finish its request on shutdown.
//!
//! axum's own `serve` has neither a connection limit nor a header timeout, so connections are
//! driven here with hyper's HTTP/1 server, the router as their service.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

/// How many connections, and how long a quiet one is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once, TLS handshakes included.
    pub max_connections: usize,
    /// How long a client may take to send a request head, and to send the next part of a
    /// body; an idle keep-alive connection is closed after it.
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 512,
            idle_timeout: Duration::from_secs(30),
        }
    }
}

/// A source of accepted connections, each holding a permit of the connection limit.
pub trait Accept {
    /// The connection's stream.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// The next connection; waits for a permit before accepting.
    fn accept(&mut self) -> impl Future<Output = (Self::Io, OwnedSemaphorePermit)> + Send;
}

/// Plain TCP.
pub struct Plain {
    listener: tokio::net::TcpListener,
    permits: Arc<Semaphore>,
}

impl Plain {
    /// Accepts from `listener` within `permits`.
    pub fn new(listener: tokio::net::TcpListener, permits: Arc<Semaphore>) -> Plain {
        Plain { listener, permits }
    }
}

impl Accept for Plain {
    type Io = tokio::net::TcpStream;

    async fn accept(&mut self) -> (Self::Io, OwnedSemaphorePermit) {
        loop {
            let Ok(permit) = Arc::clone(&self.permits).acquire_owned().await else {
                // The semaphore is never closed; should it be, accept nothing more.
                return std::future::pending().await;
            };
            match self.listener.accept().await {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    return (stream, permit);
                }
                // Out of descriptors, or a connection reset before accept: wait a moment
                // rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}

/// Serves `app` on the connections `incoming` yields until `shutdown` resolves, then lets
/// the open connections finish their requests (for at most the idle timeout).
pub async fn serve<A: Accept>(
    mut incoming: A,
    app: Router,
    limits: Limits,
    permits: Arc<Semaphore>,
    shutdown: impl Future<Output = ()>,
) {
    let (stop, stopping) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (io, permit) = tokio::select! {
            accepted = incoming.accept() => accepted,
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let mut stopping = stopping.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.idle_timeout)
                .keep_alive(true);
            let connection = builder.serve_connection(TokioIo::new(io), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => return,
                _ = stopping.changed() => {}
            }
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(limits.idle_timeout, connection).await;
        });
    }
    let _ = stop.send(true);
    // Every connection gives its permit back when it ends.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(
        limits.idle_timeout + Duration::from_secs(1),
        permits.acquire_many(all),
    )
    .await;
}
