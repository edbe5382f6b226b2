//! Issue 14, item 10: every request after the first on a kept-alive connection waited about
//! 40 ms, because the web server left Nagle's algorithm on: an answer's body waited in the
//! kernel for the client's delayed acknowledgement of its head.
//!
//! The mechanism is checked, not the time: the socket the real web server accepted (found
//! among this process's descriptors by its two addresses) has `TCP_NODELAY`, and it goes on
//! answering request after request. `benches/web_keepalive.rs` measures the time.

use crate::web_common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::BorrowedFd;
use std::time::Duration;

use piwheels_master::hub::Task;
use piwheels_master::web_server::{WebServer, configure_connection};
use web_common::*;

const WAIT: Duration = Duration::from_secs(10);

/// Writes a request on a kept-alive connection and reads its answer; the status and body.
fn ask(reader: &mut BufReader<TcpStream>, path: &str) -> (u16, Vec<u8>) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: keep-alive\r\n\r\n");
    reader.get_mut().write_all(request.as_bytes()).unwrap();
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer to {path}: {line:?}"));
    let mut length = 0;
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    (status, body)
}

/// `TCP_NODELAY` of the TCP socket of this process whose local address is `local` and whose
/// peer is `peer`; `None` if there is no such socket.
fn nodelay_of(local: SocketAddr, peer: SocketAddr) -> Option<bool> {
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        if !std::fs::read_link(entry.path())
            .is_ok_and(|t| t.to_string_lossy().starts_with("socket:"))
        {
            continue;
        }
        // SAFETY: only queried, never closed; if another thread closes (or reuses) the
        // number meanwhile, the calls fail or see another socket's addresses.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let addrs = (
            rustix::net::getsockname(fd)
                .ok()
                .and_then(|a| a.try_into().ok()),
            rustix::net::getpeername(fd)
                .ok()
                .flatten()
                .and_then(|a| a.try_into().ok()),
        );
        if addrs == (Some(local), Some(peer)) {
            return rustix::net::sockopt::tcp_nodelay(fd).ok();
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_connections_have_tcp_nodelay() {
    let f = farm(|_| {}).await;
    let page = f.out.join("simple/tiny-pkg");
    std::fs::create_dir_all(&page).unwrap();
    std::fs::write(page.join("index.html"), "<!DOCTYPE html>\n<a>tiny</a>\n").unwrap();
    std::fs::write(f.out.join("packages.json"), "[[\"tiny-pkg\",1,2]]").unwrap();
    let mut server = WebServer::bind(f.hub.clone()).unwrap();
    let addr = server.local_addr();
    let task = tokio::spawn(async move { server.run().await });

    let checked = tokio::task::spawn_blocking(move || {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let client = stream.local_addr().unwrap();
        let mut reader = BufReader::new(stream);
        // The first answer: the server has accepted and set up the connection.
        let (status, body) = ask(&mut reader, "/simple/tiny-pkg/");
        assert_eq!(status, 200);
        assert!(String::from_utf8_lossy(&body).contains("tiny"));
        let nodelay = nodelay_of(addr, client);
        // More requests on the same connection are answered.
        for path in ["/packages.json", "/simple/tiny-pkg/", "/packages.json"] {
            let (status, body) = ask(&mut reader, path);
            assert_eq!(status, 200, "{path} on the reused connection");
            assert!(!body.is_empty(), "{path}: empty body");
        }
        nodelay
    });
    let nodelay = tokio::time::timeout(WAIT, checked)
        .await
        .expect("the requests on one connection were not answered in time")
        .unwrap();
    assert_eq!(
        nodelay,
        Some(true),
        "the server's accepted socket ({addr}; None: not found) lacks TCP_NODELAY"
    );
    f.hub.quit.cancel();
    tokio::time::timeout(WAIT, task)
        .await
        .expect("the web server did not stop")
        .unwrap()
        .unwrap();
}

/// The set-up function itself, on a connection accepted by a plain listener.
#[tokio::test]
async fn configure_connection_turns_nagle_off() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut accepted, _) = tokio::time::timeout(WAIT, listener.accept())
        .await
        .expect("no connection accepted")
        .unwrap();
    assert!(!accepted.nodelay().unwrap(), "TCP_NODELAY on by default");
    configure_connection(&mut accepted);
    assert!(accepted.nodelay().unwrap());
    drop(client);
}
