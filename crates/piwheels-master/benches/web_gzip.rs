//! Where pages should be compressed (issue 17, item 5): per request, once when the page is
//! written (a `.gz` sibling served as it is), or once per version of a page in the web
//! server's memory (what [`WebServer::router`] does). The three over the same pages, in the
//! same run, with the same client.
//!
//! - **per request**: [`WebServer::router_with_cache`] with no cache: each request
//!   compresses its page (flate2, default level), as a compression layer does.
//! - **.gz sibling**: the page's `.gz` written beforehand, asked for by its own name: the
//!   server only opens and sends a small file (what serving a sibling costs; the cost of
//!   writing the siblings is printed apart, per page).
//! - **cached**: [`WebServer::router`]: the first request compresses, the rest reuse it
//!   while the page's inode, size and modification time stay the same.
//!
//! ```text
//! cargo bench -p piwheels-master --bench web_gzip [-- --requests N --clients N]
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use piwheels_master::web_server::WebServer;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

/// The pages: a project page (~40 KB), a simple page (~6 KB), a search index (~1 MB).
fn pages() -> Vec<(&'static str, Vec<u8>)> {
    let mut project = String::from("<!DOCTYPE html><html><head><title>six</title></head><body>");
    for v in 0..120 {
        project.push_str(&format!(
            "<tr><td><a href=\"/simple/six/six-1.{v}.0-py2.py3-none-any.whl\">1.{v}.0</a></td>\
             <td><time datetime=\"2024-01-{:02}T10:00:00Z\">2024-01-{:02}</time></td>\
             <td class=\"ok\">cp39 cp311 cp313</td><td>{} downloads</td></tr>\n",
            v % 28 + 1,
            v % 28 + 1,
            v * 37
        ));
    }
    project.push_str("</body></html>\n");
    let mut simple = String::from("<!DOCTYPE html><html><body>\n");
    for v in 0..30 {
        simple.push_str(&format!(
            "<a href=\"six-1.{v}.0-py2.py3-none-any.whl#sha256={:064x}\" \
             data-requires-python=\"&gt;=3.7\">six-1.{v}.0-py2.py3-none-any.whl</a><br>\n",
            v as u64 * 0x9e37_79b9_7f4a_7c15
        ));
    }
    simple.push_str("</body></html>\n");
    let rows: Vec<String> = (0..25_000)
        .map(|i| format!("[\"package-{i:05}\",{},{}]", i % 977, i * 13 % 10_007))
        .collect();
    vec![
        ("project.html", project.into_bytes()),
        ("simple.html", simple.into_bytes()),
        (
            "packages.json",
            format!("[{}]", rows.join(",")).into_bytes(),
        ),
    ]
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Reads one answer; its status and body length.
fn read_answer(r: &mut BufReader<TcpStream>) -> (u16, usize) {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {line:?}"));
    let mut length = 0usize;
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
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
    r.read_exact(&mut body).unwrap();
    (status, length)
}

/// `clients` kept-alive connections, each asking `requests` times for `path`; requests
/// per second over all, and the body length.
fn measure(addr: SocketAddr, path: &str, requests: usize, clients: usize) -> (f64, usize) {
    let start = Instant::now();
    let lengths: Vec<usize> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|_| {
                s.spawn(move || {
                    let stream = TcpStream::connect(addr).unwrap();
                    stream.set_nodelay(true).unwrap();
                    stream
                        .set_read_timeout(Some(Duration::from_secs(30)))
                        .unwrap();
                    let mut w = stream.try_clone().unwrap();
                    let mut r = BufReader::new(stream);
                    let mut len = 0;
                    for _ in 0..requests {
                        let req = format!(
                            "GET {path} HTTP/1.1\r\nHost: bench\r\nAccept-Encoding: gzip\r\n\r\n"
                        );
                        w.write_all(req.as_bytes()).unwrap();
                        let (status, l) = read_answer(&mut r);
                        assert_eq!(status, 200, "{path}");
                        len = l;
                    }
                    len
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let secs = start.elapsed().as_secs_f64();
    ((requests * clients) as f64 / secs, lengths[0])
}

fn main() {
    let requests = arg("--requests", 2000).max(1);
    let clients_many = arg("--clients", 8).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("www");
    std::fs::create_dir_all(&out).unwrap();
    let pages = pages();
    println!("writing the .gz siblings (the write-time cost of compressing once on disk):");
    for (name, data) in &pages {
        std::fs::write(out.join(name), data).unwrap();
        let t = Instant::now();
        let rounds = 20;
        let mut gz = Vec::new();
        for _ in 0..rounds {
            gz = gzip(data);
        }
        let per = t.elapsed() / rounds;
        std::fs::write(out.join(format!("{name}.gz")), &gz).unwrap();
        println!(
            "  {name:<14} {:>8} B -> {:>7} B gzip, {:>9.1} µs to compress",
            data.len(),
            gz.len(),
            per.as_secs_f64() * 1e6
        );
    }
    let (per_request, cached) = rt.block_on(async {
        let mut addrs = Vec::new();
        for cache in [0, 64 << 20] {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addrs.push(listener.local_addr().unwrap());
            let app = WebServer::router_with_cache(&out, cache, None).unwrap();
            tokio::spawn(async move { axum::serve(listener, app).await });
        }
        (addrs[0], addrs[1])
    });
    println!(
        "\n{requests} requests per connection, Accept-Encoding: gzip; requests/s (higher is better)"
    );
    println!(
        "{:<14} {:>8} {:>14} {:>14} {:>14} {:>9}",
        "page", "clients", "per request", ".gz sibling", "cached", "cached/per"
    );
    for (name, _) in &pages {
        for clients in [1, clients_many] {
            let n = if name.ends_with(".json") {
                requests / 10
            } else {
                requests
            }
            .max(1);
            let (a, _) = measure(per_request, &format!("/{name}"), n, clients);
            let (b, _) = measure(cached, &format!("/{name}.gz"), n, clients);
            let (c, _) = measure(cached, &format!("/{name}"), n, clients);
            println!(
                "{name:<14} {clients:>8} {a:>14.0} {b:>14.0} {c:>14.0} {:>9.2}",
                c / a
            );
        }
    }
}
