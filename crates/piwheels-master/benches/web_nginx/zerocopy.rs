//! The zero-copy experiment (issue 17, item 5): would sending wheels with `sendfile` be
//! faster than the embedded server's path (hyper writing pieces read with `pread`)? hyper
//! owns its sockets, so `sendfile` would need a response path of its own; this measures the
//! most it could gain before building one. A bare HTTP/1.1 server on the same kind of
//! runtime answers every request with one file, keep-alive or `Connection: close`, its
//! body either copied (`pread` into a buffer, then `write`: what hyper's path does without
//! hyper) or sent with `sendfile(2)` from the file to the socket.

use std::fs::File;
use std::net::SocketAddr;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::{TcpListener, TcpStream};

/// How the bare server sends the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Send {
    /// `pread` into a 256 KiB buffer, then `write`.
    Copy,
    /// `sendfile(2)` from the file to the socket.
    Sendfile,
}

/// Starts a bare server sending `path` on `rt`; its address.
pub fn start(rt: &tokio::runtime::Runtime, path: &Path, send: Send) -> SocketAddr {
    let file = Arc::new(File::open(path).unwrap());
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let file = file.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, &file, send).await;
                });
            }
        });
        addr
    })
}

/// Answers requests on one connection until the client closes or asks to.
async fn serve(mut stream: TcpStream, file: &File, send: Send) -> std::io::Result<()> {
    let len = file.metadata()?.len();
    let mut req = Vec::with_capacity(1024);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let end = loop {
            if let Some(p) = req.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            let n = stream.read(&mut buf[..4096]).await?;
            if n == 0 {
                return Ok(());
            }
            req.extend_from_slice(&buf[..n]);
        };
        let close = String::from_utf8_lossy(&req[..end])
            .to_ascii_lowercase()
            .contains("connection: close");
        req.drain(..end);
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\
             Content-Length: {len}\r\n{}\r\n",
            if close { "Connection: close\r\n" } else { "" }
        );
        stream.write_all(head.as_bytes()).await?;
        let mut pos = 0u64;
        while pos < len {
            match send {
                Send::Copy => {
                    let n = file.read_at(&mut buf, pos)?;
                    if n == 0 {
                        return Ok(());
                    }
                    stream.write_all(&buf[..n]).await?;
                    pos += n as u64;
                }
                Send::Sendfile => {
                    stream.writable().await?;
                    let mut offset = pos;
                    let sent = stream.try_io(Interest::WRITABLE, || {
                        rustix::fs::sendfile(&stream, file, Some(&mut offset), (len - pos) as usize)
                            .map_err(std::io::Error::from)
                    });
                    match sent {
                        Ok(0) => return Ok(()),
                        Ok(n) => pos += n as u64,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        if close {
            stream.shutdown().await?;
            return Ok(());
        }
    }
}
