//! The metrics server: `GET /metrics` answers the master's [`Metrics`] in the Prometheus
//! text format (version 0.0.4); any other path is a `404`, any other method on it a `405`
//! (`HEAD` is answered as `GET`, without the body).
//!
//! It runs only when `metrics-listen` is set, on its own listener, as its own task, so
//! nothing the web server does (or suffers) touches it. Its peers are hostile until
//! checked, and none of them can stop it or hold it up for long:
//!
//! - a request's head must arrive whole within [`HEADER_TIMEOUT`] and fit in
//!   [`MAX_REQUEST_HEAD`] bytes (hyper answers `431` past that and closes);
//! - one request a connection (no keep-alive), and a connection lasts at most
//!   [`CONNECTION_DEADLINE`], so a client that reads the answer slowly is dropped too;
//! - at most [`MAX_CONNECTIONS`] at once: past that, new connections wait in the kernel's
//!   backlog until one ends (by the deadlines above at the latest).
//!
//! A scrape encodes what the metrics hold at that moment: atomics and, for the labelled
//! families, a read lock held while they are written out; no task waits for it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::Semaphore;

use super::Metrics;
use crate::error::{Error, Result};
use crate::hub::{Hub, Task};

/// How long a client has to send a request's whole head.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest a connection lasts, answer included.
pub const CONNECTION_DEADLINE: Duration = Duration::from_secs(30);

/// The most bytes of a request's head read (hyper's smallest buffer).
pub const MAX_REQUEST_HEAD: usize = 8192;

/// The most connections served at once.
pub const MAX_CONNECTIONS: usize = 16;

/// The metrics server task (see the module docs).
pub struct MetricsServer {
    hub: Hub,
    listener: std::net::TcpListener,
    addr: SocketAddr,
}

impl std::fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl MetricsServer {
    /// Binds `hub.config.metrics_listen` (port 0 picks a free port; see
    /// [`local_addr`](Self::local_addr)). An error if it is `None` (no metrics) or cannot
    /// be bound.
    pub fn bind(hub: Hub) -> Result<MetricsServer> {
        let addr = hub.config.metrics_listen.ok_or_else(|| {
            Error::Other("the metrics server is turned off (no metrics-listen address)".into())
        })?;
        let cannot = |e: std::io::Error| {
            Error::Other(format!("cannot listen for metrics scrapes on {addr}: {e}"))
        };
        let listener = std::net::TcpListener::bind(addr).map_err(cannot)?;
        listener.set_nonblocking(true).map_err(cannot)?;
        let addr = listener.local_addr().map_err(cannot)?;
        tracing::info!(%addr, "metrics server listening");
        Ok(MetricsServer {
            hub,
            listener,
            addr,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The HTTP service over `metrics` (for embedding in another server).
    pub fn router(metrics: Arc<Metrics>) -> Router {
        Router::new()
            .route("/metrics", get(scrape))
            .with_state(metrics)
    }
}

async fn scrape(State(metrics): State<Arc<Metrics>>) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        )],
        metrics.encode(),
    )
        .into_response()
}

impl Task for MetricsServer {
    const NAME: &'static str = "metrics_server";

    async fn run(&mut self) -> Result<()> {
        let std_listener = self
            .listener
            .try_clone()
            .map_err(|e| Error::Other(format!("the metrics listener: {e}")))?;
        let listener = tokio::net::TcpListener::from_std(std_listener)
            .map_err(|e| Error::Other(format!("the metrics listener: {e}")))?;
        let service = TowerToHyperService::new(MetricsServer::router(self.hub.metrics.clone()));
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let quit = self.hub.quit.clone();
        loop {
            let slot = tokio::select! {
                () = quit.cancelled() => return Ok(()),
                slot = slots.clone().acquire_owned() => slot
                    .map_err(|e| Error::Other(format!("the metrics server's slots: {e}")))?,
            };
            let (stream, peer) = tokio::select! {
                () = quit.cancelled() => return Ok(()),
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: the next accept may work.
                        tracing::warn!(error = %e, "cannot accept a metrics connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let service = service.clone();
            let quit = quit.clone();
            tokio::spawn(async move {
                let _slot = slot;
                let mut http = hyper::server::conn::http1::Builder::new();
                http.timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .keep_alive(false)
                    .max_buf_size(MAX_REQUEST_HEAD);
                let conn = http.serve_connection(TokioIo::new(stream), service);
                tokio::select! {
                    () = quit.cancelled() => {}
                    served = tokio::time::timeout(CONNECTION_DEADLINE, conn) => match served {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "metrics connection failed"),
                        Err(_) => tracing::debug!(%peer, "metrics connection too slow; dropped"),
                    },
                }
            });
        }
    }
}
