//! Time per request on a reused (kept-alive) connection, as pip and uv make them: one
//! connection, then request after request on it, each waiting for its whole answer.
//!
//! Two servers over the same output directory, measured in the same run:
//!
//! - **without TCP_NODELAY**: `axum::serve` over a plain listener with the embedded web
//!   server's router (what [`WebServer`] did before issue 14, item 10);
//! - **WebServer**: the real task, which sets `TCP_NODELAY` on every accepted connection.
//!
//! Without `TCP_NODELAY`, an answer written in two pieces (the head, then the file) leaves
//! its second piece in the kernel (Nagle) until the client acknowledges the first, which a
//! client on a reused connection delays by up to 40 ms (delayed ACK): every request after
//! the first on a connection took about 40 ms.
//!
//! ```text
//! cargo bench -p piwheels-master --bench web_keepalive [-- --requests N --runs N --hold S]
//! ```
//!
//! The client sets `TCP_NODELAY` on its own socket (as curl and pip's urllib3 do), so the
//! figures are the server's. `--hold S` keeps both servers up for S seconds after the run
//! and prints their addresses (for measuring with curl by hand).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use piwheels_db::Database;
use piwheels_master::MasterConfig;
use piwheels_master::hub::{Hub, Task};
use piwheels_master::web_server::WebServer;

/// The paths asked for, in turn: a package's simple page, a wheel's metadata, the search
/// index (what pip and the search page ask for).
const PATHS: &[&str] = &[
    "/simple/tiny-pkg/",
    "/simple/tiny-pkg/tiny_pkg-1.0-py3-none-any.whl.metadata",
    "/packages.json",
];

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

/// An output directory with the files of [`PATHS`].
fn output(out: &std::path::Path) {
    let simple = out.join("simple/tiny-pkg");
    std::fs::create_dir_all(&simple).unwrap();
    let mut page = String::from("<!DOCTYPE html>\n<html><body>\n");
    for v in 0..30 {
        page.push_str(&format!(
            "<a href=\"tiny_pkg-1.{v}-py3-none-any.whl#sha256={:064x}\">tiny_pkg-1.{v}-py3-none-any.whl</a><br>\n",
            v
        ));
    }
    page.push_str("</body></html>\n");
    std::fs::write(simple.join("index.html"), page).unwrap();
    std::fs::write(
        simple.join("tiny_pkg-1.0-py3-none-any.whl.metadata"),
        "Metadata-Version: 2.1\nName: tiny-pkg\nVersion: 1.0\n\n",
    )
    .unwrap();
    let rows: Vec<String> = (0..200)
        .map(|i| format!("[\"pkg-{i:03}\",{},{}]", i * 3, i * 40))
        .collect();
    std::fs::write(out.join("packages.json"), format!("[{}]", rows.join(","))).unwrap();
}

/// Reads one HTTP/1.1 answer (head and `Content-Length` body); its status.
fn read_answer(r: &mut BufReader<TcpStream>) -> u16 {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status: u16 = line
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
    status
}

/// `requests` requests on one kept-alive connection; the time each took.
fn run(addr: SocketAddr, requests: usize) -> Vec<Duration> {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    (0..requests)
        .map(|i| {
            let path = PATHS[i % PATHS.len()];
            let request = format!(
                "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: web_keepalive\r\n\
                 Accept: */*\r\nConnection: keep-alive\r\n\r\n"
            );
            let t = Instant::now();
            writer.write_all(request.as_bytes()).unwrap();
            let status = read_answer(&mut reader);
            let took = t.elapsed();
            assert_eq!(status, 200, "{path}");
            took
        })
        .collect()
}

/// Median, 90th percentile and mean, in milliseconds.
fn summary(times: &mut [Duration]) -> (f64, f64, f64) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mean = times.iter().map(|d| ms(*d)).sum::<f64>() / times.len() as f64;
    (
        ms(times[times.len() / 2]),
        ms(times[times.len() * 9 / 10]),
        mean,
    )
}

fn main() {
    let requests = arg("--requests", 100).max(2);
    let runs = arg("--runs", 3).max(1);
    let hold = arg("--hold", 0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("www");
    output(&out);
    let (hub, baseline, fixed) = rt.block_on(async {
        let dsn = format!("sqlite:{}", dir.path().join("piwheels.db").display());
        let db = Database::create(&dsn).await.unwrap();
        let mut config = MasterConfig::new(&dsn, &out);
        config.web_listen = Some("127.0.0.1:0".parse().unwrap());
        let (hub, _inboxes) = Hub::new(db, config);

        // The baseline: the same router, served as before the fix.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let baseline = listener.local_addr().unwrap();
        let app = WebServer::router(&out).unwrap();
        let quit = hub.quit.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(quit.cancelled_owned())
                .await
        });

        let mut server = WebServer::bind(hub.clone()).unwrap();
        let fixed = server.local_addr();
        tokio::spawn(async move { server.run().await });
        (hub, baseline, fixed)
    });

    println!(
        "{requests} requests on one kept-alive connection, {runs} runs per server, \
         alternating; the first request of each connection counted apart"
    );
    let mut first = [Vec::new(), Vec::new()];
    let mut reused = [Vec::new(), Vec::new()];
    for _ in 0..runs {
        for (k, addr) in [baseline, fixed].into_iter().enumerate() {
            let times = run(addr, requests);
            first[k].push(times[0]);
            reused[k].extend_from_slice(&times[1..]);
        }
    }
    let names = ["without TCP_NODELAY (before)", "WebServer (TCP_NODELAY)"];
    println!(
        "{:<30} {:>11} {:>11} {:>11} {:>11}",
        "server", "first, ms", "median, ms", "p90, ms", "mean, ms"
    );
    let mut medians = [0.0; 2];
    for k in 0..2 {
        let (f, _, _) = summary(&mut first[k]);
        let (median, p90, mean) = summary(&mut reused[k]);
        medians[k] = median;
        println!(
            "{:<30} {f:>11.3} {median:>11.3} {p90:>11.3} {mean:>11.3}",
            names[k]
        );
    }
    println!(
        "reused connection, median per request: {:.3} ms before, {:.3} ms after: {:.0}x faster",
        medians[0],
        medians[1],
        medians[0] / medians[1]
    );
    if hold > 0 {
        println!(
            "serving {}: before http://{baseline}/  after http://{fixed}/",
            out.display()
        );
        std::thread::sleep(Duration::from_secs(hold as u64));
    }
    hub.quit.cancel();
    rt.shutdown_timeout(Duration::from_secs(5));
}
