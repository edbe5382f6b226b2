//! The accept loop of [`WebServer`](super::WebServer): each connection served by hyper's
//! HTTP/1.1 server straight into the handler.
//!
//! `axum::serve` did the same through hyper-util's protocol-sniffing builder (which reads
//! the first 24 bytes of each connection on their own, to tell HTTP/2's preface from a
//! request, though this server speaks only HTTP/1.1) and the router's boxed services; the
//! `web_nginx` bench measured what that cost. Shutdown is the same: on `quit` the listener
//! stops accepting, each connection finishes the answer it is sending and closes, and the
//! loop returns once every connection has.
//!
//! A client has [`HEADER_TIMEOUT`] to send each request's head, and a kept-alive connection
//! that sends nothing for that long is closed: a client that opens connections and trickles
//! bytes (or none) cannot hold the server's descriptors for ever.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::{Site, configure_connection, handle};

/// How long a client has to send a request's whole head (nginx's `client_header_timeout`
/// is 60 s, its `keepalive_timeout` 75 s).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves connections from `listener` until `quit`, then waits for the open ones to end.
pub(super) async fn serve(listener: TcpListener, site: Arc<Site>, quit: CancellationToken) {
    // Each connection holds a receiver; `closed` resolves once all are gone.
    let (open_tx, open_rx) = tokio::sync::watch::channel(());
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = quit.cancelled() => break,
        };
        let (mut stream, remote) = match accepted {
            Ok(a) => a,
            Err(e) => {
                accept_failed(e).await;
                continue;
            }
        };
        configure_connection(&mut stream);
        let site = site.clone();
        let quit = quit.clone();
        let open = open_rx.clone();
        tokio::spawn(async move {
            connection(stream, remote, site, quit).await;
            drop(open);
        });
    }
    drop(open_rx);
    open_tx.closed().await;
}

/// Serves one connection; on `quit`, ends it once the answer in flight is sent.
async fn connection(
    stream: tokio::net::TcpStream,
    remote: SocketAddr,
    site: Arc<Site>,
    quit: CancellationToken,
) {
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let site = site.clone();
        async move {
            let mut req = req.map(Body::new);
            req.extensions_mut().insert(ConnectInfo(remote));
            Ok::<_, Infallible>(handle(State(site), req).await)
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = quit.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::trace!(%remote, error = %e, "an HTTP connection ended with an error");
    }
}

/// After a failed `accept`: nothing for a connection the client gave up on; otherwise
/// (out of file descriptors, most likely) the error is logged and the loop waits a second
/// for connections to close, rather than spin.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "the web server cannot accept a connection");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
