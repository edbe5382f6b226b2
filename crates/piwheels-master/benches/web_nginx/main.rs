//! The embedded web server against nginx (issue 17, "Benchmark"), serving the same output
//! directory in the same run, measured alternately with the same load generator (raw
//! HTTP/1.1 over TCP on tokio, [`load`]): keep-alive and a new connection per request, at
//! concurrency 1 and 50, for a project page, a simple page, a 1 MiB wheel and a 404.
//! Requests/s, p99 and max latency for each, and the ratio ours/nginx. The target: at
//! least 0.80 on every row, and no request slower than 10 ms at concurrency 1.
//!
//! ```text
//! cargo bench -p piwheels-master --bench web_nginx [-- --secs S --rounds N --gzip --only TEXT]
//! ```
//!
//! - `--secs S` (default 1): measuring time per server and row, split over `--rounds`
//!   (default 2) alternating turns, each after a short warm-up.
//! - `--gzip`: clients send `Accept-Encoding: gzip` (nginx then compresses each page per
//!   request at its default level; the embedded server once per version of a page).
//! - `--only TEXT`: only the rows whose name contains TEXT.
//! - `--no-zero-copy`: without the zero-copy experiment ([`zerocopy`]): after the table,
//!   the wheel rows again for ours, a bare server copying the file (`pread`, `write`), the
//!   same bare server with `sendfile`, and nginx, alternating.
//!
//! nginx is Debian's package (`scripts/bench-deps` installs it); without it the bench says it
//! is skipped, and why. nginx runs with two workers, sendfile and keep-alive; the embedded
//! server on a tokio runtime of two threads; the load generator on another two. Neither
//! server keeps an access log.

mod load;
mod nginx;
mod zerocopy;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use load::{Mode, Sample};
use piwheels_db::Database;
use piwheels_master::MasterConfig;
use piwheels_master::hub::{Hub, Task};
use piwheels_master::web_server::WebServer;

fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .ok()
                .unwrap_or_else(|| panic!("{name}: a bad value"))
        })
        .unwrap_or(default)
}

fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

/// The project's name in the output directory.
const PROJECT: &str = "six";
/// The wheel's name.
const WHEEL: &str = "six-1.16.0-py2.py3-none-any.whl";

/// What is measured: a name, a path and the status it answers.
const ROWS: &[(&str, &str, u16)] = &[
    ("project page", "/project/six/", 200),
    ("simple page", "/simple/six/", 200),
    (
        "1 MiB wheel",
        "/simple/six/six-1.16.0-py2.py3-none-any.whl",
        200,
    ),
    ("404", "/simple/no-such-package/", 404),
];

/// An output directory: a project page (~40 KB), a simple page (~6 KB), a 1 MiB wheel and
/// the 404 page.
fn output(out: &Path) {
    let project = out.join("project").join(PROJECT);
    let simple = out.join("simple").join(PROJECT);
    std::fs::create_dir_all(&project).unwrap();
    std::fs::create_dir_all(&simple).unwrap();
    let mut page =
        String::from("<!DOCTYPE html><html><head><title>six</title></head><body><table>\n");
    for v in 0..120 {
        page.push_str(&format!(
            "<tr><td><a href=\"/simple/six/six-1.{v}.0-py2.py3-none-any.whl\">1.{v}.0</a></td>\
             <td><time datetime=\"2024-01-{:02}T10:00:00Z\">2024-01-{:02}</time></td>\
             <td class=\"ok\">cp39 cp311 cp313</td><td>{} downloads</td></tr>\n",
            v % 28 + 1,
            v % 28 + 1,
            v * 37
        ));
    }
    page.push_str("</table></body></html>\n");
    std::fs::write(project.join("index.html"), page).unwrap();
    let mut index = String::from("<!DOCTYPE html><html><body>\n");
    for v in 0..30 {
        index.push_str(&format!(
            "<a href=\"six-1.{v}.0-py2.py3-none-any.whl#sha256={:064x}\" \
             data-requires-python=\"&gt;=3.7\">six-1.{v}.0-py2.py3-none-any.whl</a><br>\n",
            v as u64 * 0x9e37_79b9_7f4a_7c15
        ));
    }
    index.push_str("</body></html>\n");
    std::fs::write(simple.join("index.html"), index).unwrap();
    // Incompressible bytes, as a wheel's are.
    let mut wheel = Vec::with_capacity(1 << 20);
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    while wheel.len() < 1 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        wheel.extend_from_slice(&x.to_le_bytes());
    }
    std::fs::write(simple.join(WHEEL), wheel).unwrap();
    std::fs::write(
        out.join("404.html"),
        "<!DOCTYPE html><html><head><title>Not found</title></head><body>\
         <h1>404 - Not found</h1><p>The page you asked for is not here.</p></body></html>\n",
    )
    .unwrap();
}

/// Starts the real [`WebServer`] task over `out` on `rt`; its address.
fn start_ours(rt: &tokio::runtime::Runtime, dir: &Path, out: &Path) -> (Hub, SocketAddr) {
    rt.block_on(async {
        let dsn = format!("sqlite:{}", dir.join("piwheels.db").display());
        let db = Database::create(&dsn).await.unwrap();
        let mut config = MasterConfig::new(&dsn, out);
        config.web_listen = Some("127.0.0.1:0".parse().unwrap());
        let (hub, _inboxes) = Hub::new(db, config);
        let mut server = WebServer::bind(hub.clone()).unwrap();
        let addr = server.local_addr();
        tokio::spawn(async move { server.run().await });
        (hub, addr)
    })
}

/// One row: what is asked for, and how.
struct Row {
    path: &'static str,
    expect: u16,
    mode: Mode,
    concurrency: usize,
    gzip: bool,
}

/// Runs `row` against `addr` for `secs`.
fn measure(rt: &tokio::runtime::Runtime, addr: SocketAddr, row: &Row, secs: f64) -> Sample {
    let req = load::request(row.path, row.mode, row.gzip);
    rt.block_on(load::run(
        addr,
        req,
        row.mode,
        row.expect,
        row.concurrency,
        secs,
    ))
    .unwrap_or_else(|e| panic!("{addr}{}: {e}", row.path))
}

/// The zero-copy experiment (see [`zerocopy`]): the wheel rows for ours, the bare server
/// copying, the bare server with `sendfile`, and nginx.
fn zero_copy(
    server_rt: &tokio::runtime::Runtime,
    client_rt: &tokio::runtime::Runtime,
    wheel: &Path,
    [ours, nginx]: [SocketAddr; 2],
    secs: f64,
    rounds: usize,
) {
    let copy = zerocopy::start(server_rt, wheel, zerocopy::Send::Copy);
    let sendfile = zerocopy::start(server_rt, wheel, zerocopy::Send::Sendfile);
    let servers = [ours, copy, sendfile, nginx];
    let warm = (secs / rounds as f64 / 5.0).min(0.2);
    println!(
        "\nzero-copy experiment, 1 MiB wheel, requests/s (p99 ms): ours (hyper, pread), \
         a bare server copying (pread + write), the same with sendfile, nginx"
    );
    println!(
        "{:<10} {:>4} | {:>16} {:>16} {:>16} {:>16} | {:>13}",
        "mode", "conc", "ours", "bare copy", "bare sendfile", "nginx", "sendfile/copy"
    );
    for mode in [Mode::KeepAlive, Mode::NewConnection] {
        for concurrency in [1, 50] {
            let row = Row {
                path: ROWS[2].1,
                expect: 200,
                mode,
                concurrency,
                gzip: false,
            };
            let mut samples: Vec<Sample> = servers.iter().map(|_| Sample::default()).collect();
            for _ in 0..rounds {
                for (k, addr) in servers.iter().enumerate() {
                    measure(client_rt, *addr, &row, warm);
                    samples[k].extend(measure(client_rt, *addr, &row, secs / rounds as f64));
                }
            }
            let cells: Vec<String> = samples
                .iter_mut()
                .map(|s| format!("{:.0} ({:.2})", s.rate(), s.quantile_ms(0.99)))
                .collect();
            println!(
                "{:<10} {concurrency:>4} | {:>16} {:>16} {:>16} {:>16} | {:>13.2}",
                mode.name(),
                cells[0],
                cells[1],
                cells[2],
                cells[3],
                samples[2].rate() / samples[1].rate()
            );
        }
    }
}

fn main() {
    let secs: f64 = arg("--secs", 1.0);
    let rounds: usize = arg("--rounds", 2).max(1);
    let only: String = arg("--only", String::new());
    let gzip = flag("--gzip");

    let Some(binary) = nginx::find() else {
        println!(
            "web_nginx: SKIPPED: nginx is not installed (Debian's package `nginx`; \
             scripts/bench-deps installs it as root)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("www");
    output(&out);
    let ndir = dir.path().join("nginx");
    std::fs::create_dir_all(&ndir).unwrap();
    let nginx = match nginx::Nginx::start(&binary, &ndir, &out, gzip) {
        Ok(n) => n,
        Err(e) => {
            println!("web_nginx: SKIPPED: nginx did not start: {e}");
            return;
        }
    };
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("ours")
        .enable_all()
        .build()
        .unwrap();
    let (hub, ours) = start_ours(&server_rt, dir.path(), &out);
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("load")
        .enable_all()
        .build()
        .unwrap();

    println!(
        "ours http://{ours}/ vs nginx http://{}/ ({}), {secs} s per server and row in \
         {rounds} alternating turns{}",
        nginx.addr,
        binary.display(),
        if gzip { ", Accept-Encoding: gzip" } else { "" }
    );
    println!(
        "{:<13} {:<10} {:>4} {:>7} | {:>9} {:>9} {:>6} | {:>8} {:>8} | {:>8} {:>8}",
        "row",
        "mode",
        "conc",
        "bytes",
        "ours r/s",
        "nginx r/s",
        "ratio",
        "ours p99",
        "ngx p99",
        "ours max",
        "ngx max"
    );
    let mut misses = Vec::new();
    let warm = (secs / rounds as f64 / 5.0).min(0.2);
    for &(name, path, expect) in ROWS {
        for mode in [Mode::KeepAlive, Mode::NewConnection] {
            for concurrency in [1, 50] {
                let label = format!("{name} {} c{concurrency}", mode.name());
                if !label.contains(&only) {
                    continue;
                }
                let row = Row {
                    path,
                    expect,
                    mode,
                    concurrency,
                    gzip,
                };
                let mut samples = [Sample::default(), Sample::default()];
                for _ in 0..rounds {
                    for (k, addr) in [ours, nginx.addr].into_iter().enumerate() {
                        measure(&client_rt, addr, &row, warm);
                        samples[k].extend(measure(&client_rt, addr, &row, secs / rounds as f64));
                    }
                }
                let [a, b] = &mut samples;
                for (who, s) in [("ours", &*a), ("nginx", &*b)] {
                    assert_eq!(
                        s.wrong_status, 0,
                        "{who} {path}: {} answers were not {expect}",
                        s.wrong_status
                    );
                }
                let ratio = a.rate() / b.rate();
                let (pa, pb) = (a.quantile_ms(0.99), b.quantile_ms(0.99));
                let (ma, mb) = (a.quantile_ms(1.0), b.quantile_ms(1.0));
                println!(
                    "{name:<13} {:<10} {concurrency:>4} {:>7} | {:>9.0} {:>9.0} {ratio:>6.2} | \
                     {pa:>8.3} {pb:>8.3} | {ma:>8.3} {mb:>8.3}",
                    mode.name(),
                    a.body_len,
                    a.rate(),
                    b.rate(),
                );
                if a.body_len != b.body_len {
                    println!(
                        "  (body lengths differ: ours {} nginx {})",
                        a.body_len, b.body_len
                    );
                }
                if ratio < 0.8 {
                    misses.push(format!("{label}: {ratio:.2} of nginx's requests/s"));
                }
                if concurrency == 1 && ma > 10.0 {
                    misses.push(format!("{label}: slowest request {ma:.1} ms"));
                }
            }
        }
    }
    println!(
        "(latencies in ms; ratio = ours/nginx requests/s; target >= 0.80, max <= 10 ms at c1)"
    );
    if !flag("--no-zero-copy") && "1 MiB wheel".contains(&only) {
        let wheel = out.join("simple").join(PROJECT).join(WHEEL);
        zero_copy(
            &server_rt,
            &client_rt,
            &wheel,
            [ours, nginx.addr],
            secs,
            rounds,
        );
    }
    if misses.is_empty() {
        println!("target met on every row");
    } else {
        println!("target missed:");
        for m in misses {
            println!("  {m}");
        }
    }
    hub.quit.cancel();
    drop(nginx);
    server_rt.shutdown_timeout(Duration::from_secs(5));
}
