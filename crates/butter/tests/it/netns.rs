//! A private network namespace made from outside, a listener bound inside it and served
//! from the host's network, and a sandbox that joins it (as root; skipped otherwise).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use butter::netns::NetNamespace;
use butter::sandbox::Sandbox;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_sandbox_in_a_made_namespace_reaches_its_listener_and_nothing_of_the_host() {
    let test = "a_sandbox_in_a_made_namespace_reaches_its_listener_and_nothing_of_the_host";
    if !test_support::root_or_skip(test, "making a network namespace needs root") {
        return;
    }
    let ns = NetNamespace::new().unwrap();
    let inside = ns.tcp_listener("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = inside.local_addr().unwrap().port();
    // The same port on the host's loopback is another socket: a listener there is not
    // the one the sandbox reaches.
    let host = TcpListener::bind("127.0.0.1:0").unwrap();
    let host_port = host.local_addr().unwrap().port();
    // This thread (the caller's) never left the host's network.
    let here = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
    assert_eq!(here, std::fs::read_link("/proc/self/ns/net").unwrap());
    let server = std::thread::spawn(move || {
        let (mut c, _) = inside.accept().unwrap();
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut got = [0u8; 5];
        c.read_exact(&mut got).unwrap();
        c.write_all(b"pong\n").unwrap();
        got
    });
    let script = format!(
        "import socket\n\
         print(' '.join(l.split(':')[0].strip() for l in open('/proc/net/dev').readlines()[2:]))\n\
         s = socket.create_connection(('127.0.0.1', {port}), timeout=30)\n\
         s.sendall(b'ping\\n'); print(s.makefile().readline().strip())\n\
         try:\n    socket.create_connection(('127.0.0.1', {host_port}), timeout=5); print('host reached')\n\
         except OSError as e:\n    print(type(e).__name__)\n"
    );
    let out = Sandbox::new("python3")
        .args(["-c", &script])
        .system_root()
        .join_network(&ns)
        .unwrap()
        .timeout(Duration::from_secs(60))
        .run()
        .unwrap();
    assert!(out.success(), "{}", text(&out.stderr));
    assert_eq!(&server.join().unwrap(), b"ping\n");
    let o = text(&out.stdout);
    // Only loopback, the listener made from outside, and not the host's.
    let lines: Vec<&str> = o.lines().collect();
    assert_eq!(lines, ["lo", "pong", "ConnectionRefusedError"], "{o}");
    drop(host);
}
