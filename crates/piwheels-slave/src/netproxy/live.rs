//! The proxy against real sockets, in a real network namespace (as root only).

use super::*;
use std::io::{Read, Write};
use std::os::fd::AsFd;

/// Sends `request` to the proxy from inside its namespace; the answer.
fn ask(proxy: &BuildProxy, request: &str) -> String {
    ask_until_closed(proxy, request).0
}

/// Sends `request` to the proxy from inside its namespace: what came back, and
/// whether the proxy closed the connection (rather than the read giving up after a
/// minute).
fn ask_until_closed(proxy: &BuildProxy, request: &str) -> (String, bool) {
    let fd = proxy.netns().as_fd().try_clone_to_owned().unwrap();
    let addr = proxy.addr();
    let request = request.to_owned();
    std::thread::spawn(move || {
        butter::namespace::setns(&fd, butter::namespace::Namespaces::NET).unwrap();
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut answer = Vec::new();
        let closed = s.read_to_end(&mut answer).is_ok();
        (String::from_utf8_lossy(&answer).into_owned(), closed)
    })
    .join()
    .unwrap()
}

fn skip_unless_root(test: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        return false;
    }
    println!("SKIPPED {test}: a network namespace needs root");
    true
}

#[test]
fn an_index_host_that_does_not_listen_gets_502_and_a_log_line() {
    if skip_unless_root("an_index_host_that_does_not_listen_gets_502_and_a_log_line") {
        return;
    }
    // A port of this host that nothing listens on: bound (so no other test takes it)
    // but never listening, so connections to it are refused.
    let bound = tokio::net::TcpSocket::new_v4().unwrap();
    bound.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = bound.local_addr().unwrap().port();
    let allowed = parse_allowed(&format!("127.0.0.1:{port}")).unwrap();
    let proxy = BuildProxy::start(vec![allowed]).unwrap();
    let a = ask(
        &proxy,
        &format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n"),
    );
    assert!(a.starts_with("HTTP/1.1 502 Bad Gateway\r\n"), "{a}");
    let a = ask(
        &proxy,
        &format!("GET http://127.0.0.1:{port}/simple/ HTTP/1.1\r\nHost: x\r\n\r\n"),
    );
    assert!(a.starts_with("HTTP/1.1 502 Bad Gateway\r\n"), "{a}");
    let lines = proxy.stop();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let connect = format!(
        "The build proxy could not reach 127.0.0.1:{port} for CONNECT 127.0.0.1:{port} (unreachable: "
    );
    assert!(lines[0].starts_with(&connect), "{lines:?}");
    let get = format!(
        "The build proxy could not reach 127.0.0.1:{port} for GET http://127.0.0.1:{port}/simple/ (unreachable: "
    );
    assert!(lines[1].starts_with(&get), "{lines:?}");
}

#[test]
fn a_forwarded_connection_idle_too_long_is_closed_and_logged() {
    if skip_unless_root("a_forwarded_connection_idle_too_long_is_closed_and_logged") {
        return;
    }
    // An index host that accepts and then says nothing, keeping the connection open.
    let index = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = index.local_addr().unwrap().port();
    let holder = std::thread::spawn(move || {
        let (conn, _) = index.accept().unwrap();
        // Held until the proxy closes it (end of file) or a minute passes.
        conn.set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut sink = Vec::new();
        (&conn).read_to_end(&mut sink).is_ok()
    });
    let timeouts = ProxyTimeouts {
        idle: Duration::from_millis(300),
        ..ProxyTimeouts::default()
    };
    let allowed = parse_allowed(&format!("127.0.0.1:{port}")).unwrap();
    let proxy = BuildProxy::start_with(vec![allowed], timeouts).unwrap();
    let (a, closed) = ask_until_closed(
        &proxy,
        &format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n"),
    );
    assert!(a.starts_with("HTTP/1.1 200 "), "{a}");
    assert!(closed, "the proxy never closed the idle connection");
    assert!(
        holder.join().unwrap(),
        "the proxy never closed its side to the index"
    );
    let lines = proxy.stop();
    assert_eq!(
        lines,
        [format!(
            "The build proxy closed CONNECT 127.0.0.1:{port}: nothing moved either way for 300ms."
        )]
    );
}

#[test]
fn a_request_head_that_never_ends_is_refused_after_the_head_timeout() {
    if skip_unless_root("a_request_head_that_never_ends_is_refused_after_the_head_timeout") {
        return;
    }
    let timeouts = ProxyTimeouts {
        head: Duration::from_millis(300),
        ..ProxyTimeouts::default()
    };
    let proxy = BuildProxy::start_with(vec![], timeouts).unwrap();
    let (a, closed) = ask_until_closed(&proxy, "GET http://127.0.0.1:9/ HTTP/1.1\r\nX: ");
    assert!(closed, "the proxy never gave up on the head");
    assert!(a.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{a}");
    assert!(a.contains("its head took too long"), "{a}");
}

#[test]
fn refuses_what_is_not_an_index_host() {
    if skip_unless_root("refuses_what_is_not_an_index_host") {
        return;
    }
    let proxy = BuildProxy::start(vec![parse_allowed("127.0.0.1:9").unwrap()]).unwrap();
    let a = ask(&proxy, "CONNECT 127.0.0.1:10 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(a.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{a}");
    let a = ask(
        &proxy,
        "GET http://127.0.0.1:10/ HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert!(a.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{a}");
    // A head without end, one byte past the limit (all of it read, so the answer is
    // not lost to a reset): refused, not read on and on.
    let mut endless = "GET http://127.0.0.1:9/ HTTP/1.1\r\nX: ".to_owned();
    endless.push_str(&"x".repeat(MAX_HEAD + 1 - endless.len()));
    let a = ask(&proxy, &endless);
    assert!(a.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{a}");
    assert!(a.contains("its head is too large"), "{a}");
    let a = ask(&proxy, "PUT http://127.0.0.1:9/ HTTP/1.1\r\n\r\n");
    assert!(a.contains("only GET, HEAD and CONNECT"), "{a}");
    let lines = proxy.stop();
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert!(
        lines[0].starts_with("The build proxy refused CONNECT 127.0.0.1:10 (403"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("The build proxy refused GET http://127.0.0.1:10/ (403"),
        "{lines:?}"
    );
}
