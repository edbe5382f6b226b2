//! Clients that open connections and then send a request's head slowly, half of one, or
//! nothing at all: the web server closes each once its head timeout (30 s) has passed,
//! and answers everyone else meanwhile.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::web_http::{get, site};

/// Longer than the server's head timeout, with room for a loaded machine.
const CLOSED_WITHIN: Duration = Duration::from_secs(90);

/// Reads until the server closes the connection (whatever it says first); panics after
/// [`CLOSED_WITHIN`] with `what`.
async fn closed_by_server(mut s: TcpStream, what: &str) -> Vec<u8> {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let left = CLOSED_WITHIN.saturating_sub(start.elapsed());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return got,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the server kept {what} open for {CLOSED_WITHIN:?}"),
        }
    }
}

#[tokio::test]
async fn connections_that_never_finish_a_head_are_closed() {
    let s = site().await;
    let a = s.addr;

    // Nothing at all; half a head; a head trickled a byte a second; and a kept-alive
    // connection that stays idle after its first answer.
    let silent = TcpStream::connect(a).await.unwrap();
    let mut half = TcpStream::connect(a).await.unwrap();
    half.write_all(b"GET /project/foo-bar/ HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let trickle = TcpStream::connect(a).await.unwrap();
    let trickler = tokio::spawn(async move {
        let mut t = trickle;
        let head = b"GET /project/foo-bar/ HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        for b in head {
            if t.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        closed_by_server(t, "a head trickled a byte a second").await
    });
    let mut idle = TcpStream::connect(a).await.unwrap();
    idle.write_all(b"GET /project/foo-bar/ HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();

    // The others are served meanwhile.
    let r = get(a, "/project/foo-bar/", &[]).await;
    assert_eq!(r.status, 200);

    let (silent, half, idle) = tokio::join!(
        closed_by_server(silent, "a connection that sent nothing"),
        closed_by_server(half, "a connection that sent half a head"),
        closed_by_server(idle, "a kept-alive connection left idle"),
    );
    let trickled = trickler.await.unwrap();
    // The idle one had its answer first; none of the others got a page.
    assert!(
        idle.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&idle)
    );
    for (what, got) in [("silent", silent), ("half", half), ("trickled", trickled)] {
        assert!(
            !String::from_utf8_lossy(&got).contains("200 OK"),
            "{what}: {}",
            String::from_utf8_lossy(&got)
        );
    }
    // And the server still serves.
    let r = get(a, "/project/foo-bar/", &[]).await;
    assert_eq!(r.status, 200);
}
