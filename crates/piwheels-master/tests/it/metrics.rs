//! Issue 18, item 3: the master's Prometheus metrics. A real master with
//! `metrics-listen` on a port the system picks, a slave on a real ZeroMQ socket building
//! one wheel and failing another, a `piw-import` on the import queue, a download from the
//! embedded web server, CloudGazer polling an upstream that is not there: each scrape over real HTTP is parsed strictly (every
//! sample under a `# TYPE` of its family, every family with its `# HELP`) and the figures
//! must have moved as the farm did. Then hostile clients (a huge head, a huge body, a bad
//! path, a wrong method, a slowloris and a flood of idle connections) must neither stop
//! the metrics server nor touch the master.

use crate::core_support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use core_support::farm::{Slave, built, hello, idle};
use core_support::*;
use piwheels_master::master::Master;
use piwheels_master::metrics::server::{HEADER_TIMEOUT, MAX_CONNECTIONS};
use piwheels_protocol::import::{ImportProtocol, ImportReply, ImportRequest};
use piwheels_protocol::slave::{Job, SlaveReply, SlaveRequest};
use piwheels_protocol::states::BuildState;
use piwheels_protocol::transport::asynchronous::Req;
use piwheels_protocol::transport::{SocketOptions, zmq};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(30);

/// One HTTP answer.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `request` as it is and reads the whole answer (the server closes the connection).
async fn exchange(addr: SocketAddr, request: &[u8]) -> Answer {
    let mut stream = within(WAIT, "a connection", TcpStream::connect(addr))
        .await
        .unwrap();
    stream.write_all(request).await.unwrap();
    let mut raw = Vec::new();
    within(WAIT, "the whole HTTP answer", stream.read_to_end(&mut raw))
        .await
        .unwrap();
    parse_answer(&raw)
}

fn parse_answer(raw: &[u8]) -> Answer {
    // Wheels are binary: only the head must be text (the scrapes are checked for UTF-8).
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(':').expect("a header");
            (n.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    Answer {
        status,
        headers,
        body: body.to_owned(),
    }
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").into_bytes()
}

/// A sample's name and labels, sorted: `name{a="1",b="2"}`.
type Key = String;

/// A scrape, parsed strictly: the samples, and each family's type and help.
#[derive(Debug, Default)]
struct Scrape {
    samples: BTreeMap<Key, f64>,
    types: BTreeMap<String, String>,
    helps: BTreeMap<String, String>,
}

impl Scrape {
    /// The value of `name` with `labels` (sorted by name), if exported.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples.get(&key(name, labels)).copied()
    }

    /// [`value`](Self::value), which must be exported.
    fn must(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels)
            .unwrap_or_else(|| panic!("no {} in the scrape", key(name, labels)))
    }
}

fn key(name: &str, labels: &[(&str, &str)]) -> Key {
    let mut labels: Vec<_> = labels.to_vec();
    labels.sort();
    if labels.is_empty() {
        return name.to_owned();
    }
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{name}{{{}}}", inner.join(","))
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Parses the Prometheus text format (0.0.4) as a scraper does, failing on anything that
/// is not: a sample whose family has no `# TYPE` before it, a family without `# HELP`, a
/// bad name, label or value, a sample given twice.
fn parse_scrape(text: &str) -> Scrape {
    let mut scrape = Scrape::default();
    assert!(text.ends_with('\n'), "the text ends with a newline");
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("# HELP name text");
            assert!(is_name(name), "{line}");
            assert!(!help.trim().is_empty(), "empty help: {line}");
            assert!(
                scrape.helps.insert(name.into(), help.into()).is_none(),
                "{line}"
            );
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name type");
            assert!(is_name(name), "{line}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            assert!(
                scrape.types.insert(name.into(), kind.into()).is_none(),
                "{line}"
            );
            continue;
        }
        assert!(
            !line.starts_with('#') && !line.is_empty(),
            "stray line {line:?}"
        );
        let (series, value) = line.rsplit_once(' ').expect("name value");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series, Vec::new()),
            Some((name, rest)) => {
                let inner = rest.strip_suffix('}').expect("labels end with }");
                let mut labels = Vec::new();
                for pair in inner.split(',').filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once('=').expect("label=value");
                    assert!(is_name(k), "{line}");
                    let v = v
                        .strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .unwrap_or_else(|| panic!("unquoted label value in {line:?}"));
                    assert!(!v.contains(['"', '\\', '\n']), "{line}");
                    labels.push((k, v));
                }
                (name, labels)
            }
        };
        assert!(is_name(name), "{line}");
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| scrape.types.get(*f).map(String::as_str) == Some("histogram"))
            })
            .unwrap_or(name);
        assert!(
            scrape.types.contains_key(family),
            "{line}: no # TYPE for {family} before it"
        );
        let k = key(name, &labels);
        assert!(scrape.samples.insert(k, value).is_none(), "twice: {line}");
    }
    for family in scrape.types.keys() {
        assert!(scrape.helps.contains_key(family), "no # HELP for {family}");
    }
    scrape
}

/// Scrapes `/metrics`, checking the answer is the Prometheus text format.
async fn scrape(addr: SocketAddr) -> Scrape {
    let answer = exchange(addr, &get("/metrics")).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(
        answer.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert!(!answer.body.contains('\u{FFFD}'), "the scrape is UTF-8");
    parse_scrape(&answer.body)
}

/// Scrapes until `test` holds, failing with `what` after [`WAIT`].
async fn scrape_until(addr: SocketAddr, what: &str, test: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let s = scrape(addr).await;
        if test(&s) {
            return s;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}; last scrape: {:#?}",
            s.samples
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const TARGET: [(&str, &str); 2] = [("abi", "cp311"), ("platform", "linux_x86_64")];

fn state(s: &'static str) -> [(&'static str, &'static str); 1] {
    [("state", s)]
}

/// A master on `env` with the metrics server on a port the system picks, polling an
/// upstream that is not there (every poll fails at its project list).
async fn start(env: &Env) -> (Master, SocketAddr) {
    let mut config = env.config.clone();
    config.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    config.follow = None;
    config.upstream_poll = Duration::from_millis(200);
    config.rewrite_delay = Duration::from_millis(100);
    let master = Master::start(config).await.unwrap();
    let addr = master.metrics_addr().expect("the metrics server runs");
    (master, addr)
}

fn slave(master: &Master) -> Slave {
    let ctx = zmq::Context::new();
    let options = SocketOptions::new().linger(Some(Duration::ZERO));
    Slave {
        req: Req::connect(&ctx, master.slave_endpoint(), &options).unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_figures_follow_a_real_farm() {
    let env = Env::new().await;
    let (master, addr) = start(&env).await;
    assert!(master.task_names().contains(&"metrics_server"));
    let web = master.web_addr().unwrap();
    let files = master.file_endpoint().to_owned();
    let mut s = slave(&master);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let main = tokio::spawn(master.run_until(async {
        let _ = stopped.await;
    }));

    // Before any slave: every state at 0, the queue read (foo and bar wait), every family
    // described.
    let first = scrape_until(addr, "the queue's size", |s| {
        s.value("piwheels_build_queue_jobs", &TARGET) == Some(2.0)
    })
    .await;
    for st in [
        "idle",
        "building",
        "sending",
        "sleeping",
        "stopping",
        "cooling_off",
    ] {
        assert_eq!(first.must("piwheels_slaves", &state(st)), 0.0, "{st}");
    }
    for (family, kind) in [
        ("piwheels_slaves", "gauge"),
        ("piwheels_builds_total", "counter"),
        ("piwheels_build_failures_total", "counter"),
        ("piwheels_build_queue_jobs", "gauge"),
        ("piwheels_file_transfer_bytes_total", "counter"),
        ("piwheels_downloads_total", "counter"),
        ("piwheels_page_rewrite_duration_seconds", "histogram"),
        ("piwheels_pages_rewritten_total", "counter"),
        ("piwheels_upstream_poll_duration_seconds", "histogram"),
        ("piwheels_upstream_poll_errors_total", "counter"),
        ("piwheels_upstream_failed_polls_total", "counter"),
        ("piwheels_db_query_duration_seconds", "histogram"),
    ] {
        assert_eq!(
            first.types.get(family).map(String::as_str),
            Some(kind),
            "{family}"
        );
    }
    assert_eq!(first.must("piwheels_file_transfer_bytes_total", &[]), 0.0);
    assert_eq!(first.must("piwheels_downloads_total", &[]), 0.0);
    assert_eq!(first.must("piwheels_builds_total", &TARGET), 0.0);
    assert_eq!(first.must("piwheels_build_failures_total", &TARGET), 0.0);
    // The queue was read through the database: timed, by operation.
    assert!(
        first.must(
            "piwheels_db_query_duration_seconds_count",
            &[("op", "build_queue")]
        ) >= 1.0
    );

    // A slave says HELLO: idle.
    let SlaveReply::Ack(ack) = s.ask(SlaveRequest::Hello(hello())).await else {
        panic!("no ACK");
    };
    scrape_until(addr, "one idle slave", |s| {
        s.value("piwheels_slaves", &state("idle")) == Some(1.0)
    })
    .await;

    // It builds foo: building.
    let job = |p: &str| {
        SlaveReply::Build(Job {
            package: p.into(),
            version: "1.0".into(),
        })
    };
    assert_eq!(s.ask(idle()).await, job("foo"));
    // SlaveDriver counts its slaves after it has answered, so each state is waited for.
    scrape_until(addr, "one building slave and none idle", |s| {
        s.value("piwheels_slaves", &state("building")) == Some(1.0)
            && s.value("piwheels_slaves", &state("idle")) == Some(0.0)
    })
    .await;

    // Its wheel is sent (sending meanwhile), verified, logged and published.
    let data = wheel("foo", "1.0", 5000);
    let name = "foo-1.0-py3-none-any.whl";
    assert_eq!(
        s.ask(built(true, vec![file_state(name, &data, "any")]))
            .await,
        SlaveReply::Send(name.into())
    );
    scrape_until(addr, "one sending slave", |s| {
        s.value("piwheels_slaves", &state("sending")) == Some(1.0)
    })
    .await;
    assert!(
        send_file(&files, ack.slave_id as u64, &data, None)
            .await
            .done
    );
    assert_eq!(s.ask(SlaveRequest::Sent).await, SlaveReply::Done);
    let after_foo = scrape_until(addr, "foo's build and pages, and the slave idle", |s| {
        s.value("piwheels_builds_total", &TARGET) == Some(1.0)
            && s.value("piwheels_pages_rewritten_total", &[]) >= Some(1.0)
            && s.value("piwheels_slaves", &state("idle")) == Some(1.0)
    })
    .await;
    assert_eq!(
        after_foo.must("piwheels_file_transfer_bytes_total", &[]),
        data.len() as f64,
        "every byte of the wheel, once"
    );
    assert_eq!(
        after_foo.value("piwheels_build_failures_total", &TARGET),
        Some(0.0)
    );
    assert!(after_foo.must("piwheels_page_rewrite_duration_seconds_count", &[]) >= 1.0);
    assert!(after_foo.must("piwheels_page_rewrite_duration_seconds_sum", &[]) > 0.0);
    assert_eq!(
        after_foo.must(
            "piwheels_page_rewrite_duration_seconds_bucket",
            &[("le", "+Inf")]
        ),
        after_foo.must("piwheels_page_rewrite_duration_seconds_count", &[])
    );
    assert_eq!(after_foo.must("piwheels_slaves", &state("idle")), 1.0);
    assert!(
        after_foo.must(
            "piwheels_db_query_duration_seconds_count",
            &[("op", "log_build")]
        ) >= 1.0
    );

    // bar fails: a failure, and the queue is empty.
    assert_eq!(s.ask(idle()).await, job("bar"));
    assert_eq!(s.ask(built(false, vec![])).await, SlaveReply::Done);
    let after_bar = scrape_until(addr, "bar's failure and an empty queue", |s| {
        s.value("piwheels_build_failures_total", &TARGET) == Some(1.0)
            && s.value("piwheels_build_queue_jobs", &TARGET) == Some(0.0)
    })
    .await;
    assert_eq!(after_bar.must("piwheels_builds_total", &TARGET), 2.0);

    // pip downloads the wheel from the embedded web server: one download.
    let download = exchange(
        web,
        format!(
            "GET /simple/foo/{name} HTTP/1.1\r\nHost: test\r\nUser-Agent: pip/24.0\r\n\
             Connection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(download.status, 200);
    scrape_until(addr, "the download counted", |s| {
        s.value("piwheels_downloads_total", &[]) == Some(1.0)
    })
    .await;

    // piw-import of baz's wheel (an admin tool on the import queue): a build, its bytes.
    let mut tool = Req::<ImportProtocol>::connect(
        &zmq::Context::new(),
        &env.config.import_queue,
        &SocketOptions::new().linger(Some(Duration::ZERO)),
    )
    .unwrap();
    let mut import = async |request| {
        within(WAIT, "MrChase's answer", tool.request(&request))
            .await
            .unwrap()
    };
    assert_eq!(
        import(ImportRequest::AddPackage(addpkg("baz"))).await,
        ImportReply::Done("NEWPKG".into())
    );
    assert_eq!(
        import(ImportRequest::AddVersion(addver("baz", "1.0"))).await,
        ImportReply::Done("NEWVER".into())
    );
    let baz = wheel("baz", "1.0", 700);
    let baz_name = "baz-1.0-py3-none-any.whl";
    assert_eq!(
        import(ImportRequest::Import(BuildState {
            slave_id: 0,
            package: "baz".into(),
            version: "1.0".into(),
            abi_tag: "cp311".into(),
            status: true,
            duration: chrono::TimeDelta::seconds(3),
            output: "imported".into(),
            files: vec![file_state(baz_name, &baz, "any")],
        }))
        .await,
        ImportReply::Send(baz_name.into())
    );
    assert!(send_file(&files, 0, &baz, None).await.done);
    assert_eq!(
        import(ImportRequest::Sent).await,
        ImportReply::Done("IMPORT".into())
    );
    let imported = scrape(addr).await;
    assert_eq!(imported.must("piwheels_builds_total", &TARGET), 3.0);
    assert_eq!(imported.must("piwheels_build_failures_total", &TARGET), 1.0);
    assert_eq!(
        imported.must("piwheels_file_transfer_bytes_total", &[]),
        (data.len() + baz.len()) as f64
    );

    // CloudGazer polls an upstream that is not there: polls timed, errors counted.
    let polled = scrape_until(addr, "a failed poll", |s| {
        s.value("piwheels_upstream_poll_errors_total", &[]) >= Some(1.0)
    })
    .await;
    assert!(polled.must("piwheels_upstream_poll_duration_seconds_count", &[]) >= 1.0);
    assert!(polled.must("piwheels_upstream_failed_polls_total", &[]) >= 1.0);

    // The slave says goodbye: no slave left.
    s.req.send(&SlaveRequest::Bye).await.unwrap();
    scrape_until(addr, "no slave", |s| {
        ["idle", "building", "sending", "sleeping", "stopping"]
            .iter()
            .all(|st| s.value("piwheels_slaves", &state(st)) == Some(0.0))
    })
    .await;

    drop(stop);
    within(WAIT, "the master to stop", main)
        .await
        .unwrap()
        .unwrap();
}

/// A connection that sends a request's head a line at a time, a line a second, for ever:
/// returns once the server has closed it.
async fn slowloris(addr: SocketAddr) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    loop {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
            () = tokio::time::sleep(Duration::from_millis(500)) => {
                if stream.write_all(b"X-Slow: 1\r\n").await.is_err() {
                    return;
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_clients_neither_stop_the_metrics_nor_touch_the_master() {
    let env = Env::new().await;
    let (master, addr) = start(&env).await;
    let web = master.web_addr().unwrap();
    let mut s = slave(&master);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let main = tokio::spawn(master.run_until(async {
        let _ = stopped.await;
    }));

    // A bad path, a wrong method, a bad request.
    assert_eq!(exchange(addr, &get("/")).await.status, 404);
    assert_eq!(
        exchange(addr, &get("/metrics/../etc/passwd")).await.status,
        404
    );
    assert_eq!(exchange(addr, &get("/metricsx")).await.status, 404);
    let post = exchange(
        addr,
        b"POST /metrics HTTP/1.1\r\nHost: test\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
    )
    .await;
    assert_eq!(post.status, 405);
    assert_eq!(exchange(addr, b"NONSENSE\r\n\r\n").await.status, 400);

    // A huge head: refused (431) or cut off, never served.
    let mut huge = b"GET /metrics HTTP/1.1\r\nHost: test\r\nX-Huge: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 1 << 20));
    huge.extend(b"\r\n\r\n");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(&huge).await; // the server may close while this is written
    let mut raw = Vec::new();
    let _ = within(WAIT, "the huge head's end", stream.read_to_end(&mut raw)).await;
    if !raw.is_empty() {
        assert!(
            raw.starts_with(b"HTTP/1.1 431"),
            "{}",
            String::from_utf8_lossy(&raw[..64.min(raw.len())])
        );
    }
    // A huge body on a GET: whatever the answer, the server does not wait for the body.
    let mut body =
        b"GET /metrics HTTP/1.1\r\nHost: test\r\nContent-Length: 104857600\r\n\r\n".to_vec();
    body.extend(std::iter::repeat_n(b'b', 1 << 16));
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(&body).await;
    let mut raw = Vec::new();
    let _ = within(WAIT, "the huge body's end", stream.read_to_end(&mut raw)).await;
    scrape(addr).await;

    // A slowloris, and as many idle connections as the server serves at once: the slots
    // free as their heads time out, so a scrape is still answered.
    let loris = tokio::spawn(slowloris(addr));
    let mut idle_conns = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        idle_conns.push(TcpStream::connect(addr).await.unwrap());
    }
    // Meanwhile the master is untouched: the web server answers, a slave is taken.
    assert_eq!(exchange(web, &get("/simple/")).await.status, 200);
    assert!(matches!(
        s.ask(SlaveRequest::Hello(hello())).await,
        SlaveReply::Ack(_)
    ));
    let answered = scrape_until(addr, "one idle slave despite the hostile clients", |s| {
        s.value("piwheels_slaves", &state("idle")) == Some(1.0)
    })
    .await;
    assert_eq!(answered.must("piwheels_slaves", &state("building")), 0.0);
    // The slowloris is cut off once its head took too long.
    within(WAIT + HEADER_TIMEOUT, "the slowloris cut off", loris)
        .await
        .unwrap();
    for mut c in idle_conns {
        let mut buf = [0u8; 16];
        let read = within(WAIT, "an idle connection closed", c.read(&mut buf)).await;
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
    scrape(addr).await;

    drop(stop);
    within(WAIT, "the master to stop", main)
        .await
        .unwrap()
        .unwrap();
}
