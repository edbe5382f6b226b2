//! The changelog client ([`piwheels_master::upstream::changelog`]) against the generator's
//! XML-RPC endpoint over real HTTP: the last serial, the whole history read call after call
//! from nothing, the changes after a serial, and every way the endpoint is made to fail
//! (HTTP errors, faults, garbage, HTML, hostile XML, a body past the limit, a server that
//! trickles its answer), each a clear error after which the same client reads again.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use piwheels_master::upstream::UpstreamError;
use piwheels_master::upstream::changelog::{
    ChangelogClient, ChangelogEvent, MAX_DEPTH, XmlRpcError, in_order,
};

use crate::pypi_sim::{CHANGELOG_LIMIT, Event, FIRST_SERIAL, PypiSim, XmlRpcFailure};

const SEED: u64 = 1602;

/// The longest any call here may take before the test fails (no call should come near).
const DEADLINE: Duration = Duration::from_secs(60);

fn client(sim: &PypiSim) -> ChangelogClient {
    ChangelogClient::new(&sim.xmlrpc_url(), Duration::from_secs(30)).unwrap()
}

fn same(e: &ChangelogEvent, s: &Event) -> bool {
    e.name == s.name
        && e.version == s.version
        && e.timestamp == s.timestamp
        && e.action == s.action
        && e.serial == s.serial
}

async fn since(
    client: &ChangelogClient,
    serial: i64,
) -> Result<Vec<ChangelogEvent>, UpstreamError> {
    tokio::time::timeout(DEADLINE, client.since(serial))
        .await
        .unwrap_or_else(|_| {
            panic!("changelog_since_serial({serial}) did not answer in {DEADLINE:?}")
        })
}

async fn last_serial(client: &ChangelogClient) -> Result<i64, UpstreamError> {
    tokio::time::timeout(DEADLINE, client.last_serial())
        .await
        .unwrap_or_else(|_| panic!("changelog_last_serial() did not answer in {DEADLINE:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_history_reads_from_nothing_and_then_the_changes() {
    let sim = PypiSim::start(5_000, SEED);
    let client = client(&sim);
    let newest = last_serial(&client).await.unwrap();
    assert_eq!(newest, sim.last_serial());
    let total = (newest - FIRST_SERIAL + 1) as usize;
    assert!(
        total > CHANGELOG_LIMIT,
        "{total} events fit one call: nothing to page"
    );

    // From nothing, call after call from the last serial got, as a follower does.
    let mut serial = 0;
    let mut calls = 0;
    let mut read = 0;
    loop {
        let events = since(&client, serial).await.unwrap();
        calls += 1;
        if events.is_empty() {
            break;
        }
        assert!(events.len() <= CHANGELOG_LIMIT);
        assert!(in_order(serial, &events), "after {serial}");
        let expected = sim.changelog(serial);
        assert_eq!(events.len(), expected.len());
        assert!(events.iter().zip(&expected).all(|(e, s)| same(e, s)));
        read += events.len();
        serial = events.last().unwrap().serial;
    }
    assert_eq!((read, serial), (total, newest));
    assert_eq!(calls, total.div_ceil(CHANGELOG_LIMIT) + 1);

    // After the newest serial, only what changed: a release of two files each, a removal.
    let changed = sim.change(3);
    assert!(sim.remove(11));
    assert_eq!(last_serial(&client).await.unwrap(), newest + 3 * 3 + 1);
    let after = since(&client, newest).await.unwrap();
    assert!(in_order(newest, &after));
    assert_eq!(after.len(), 10);
    let releases: Vec<String> = after
        .iter()
        .filter(|e| e.action == "new release")
        .map(|e| piwheels_db::canonicalize_name(&e.name))
        .collect();
    assert_eq!(releases, changed);
    let last = after.last().unwrap();
    assert_eq!(
        (last.action.as_str(), last.version.as_deref()),
        ("remove project", None)
    );
    assert_eq!(sim.requests().xmlrpc, calls + 3);
}

/// How a failure must show: `check` says whether the error is the right one.
struct Case {
    what: &'static str,
    failure: XmlRpcFailure,
    rate_limit: bool,
    check: fn(&UpstreamError) -> bool,
}

fn body(content_type: &'static str, body: impl Into<Vec<u8>>) -> XmlRpcFailure {
    XmlRpcFailure::Body {
        content_type,
        body: body.into(),
    }
}

fn xml_error(e: &UpstreamError) -> Option<&XmlRpcError> {
    match e {
        UpstreamError::XmlRpc { why, .. } => Some(why),
        _ => None,
    }
}

fn cases() -> Vec<Case> {
    let laughs = "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol \"lol\">\
         <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\
         <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]>\
         <methodResponse><params><param><value><string>&lol3;</string></value></param>\
         </params></methodResponse>";
    let deep = format!(
        "<methodResponse><params><param><value>{}",
        "<array><data><value>".repeat(100_000)
    );
    let wide_row = "<methodResponse><params><param><value><array><data><value><array><data>\
         <value>a</value><value><nil/></value><value><int>1</int></value><value>create</value>\
         <value><int>5</int></value><value>six</value></data></array></value></data></array>\
         </value></param></params></methodResponse>";
    let html = "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>\
         <body><h1>502 Bad Gateway</h1></body></html>";
    vec![
        Case {
            what: "HTTP 500",
            failure: XmlRpcFailure::Status(500),
            rate_limit: false,
            check: |e| matches!(e, UpstreamError::Status { status: 500, .. }),
        },
        Case {
            what: "HTTP 503",
            failure: XmlRpcFailure::Status(503),
            rate_limit: true,
            check: |e| matches!(e, UpstreamError::Status { status: 503, .. }),
        },
        Case {
            what: "HTTP 429",
            failure: XmlRpcFailure::Status(429),
            rate_limit: true,
            check: |e| matches!(e, UpstreamError::Status { status: 429, .. }),
        },
        Case {
            what: "fault -32500",
            failure: XmlRpcFailure::Fault(-32500),
            rate_limit: true,
            check: |e| matches!(e, UpstreamError::Fault { code: -32500, .. }),
        },
        Case {
            what: "fault -32601",
            failure: XmlRpcFailure::Fault(-32601),
            rate_limit: false,
            check: |e| matches!(e, UpstreamError::Fault { code: -32601, .. }),
        },
        Case {
            what: "garbage",
            failure: body("text/xml", "\x01\x02 this is <not xml"),
            rate_limit: false,
            check: |e| {
                matches!(
                    xml_error(e),
                    Some(XmlRpcError::Malformed { .. } | XmlRpcError::Unexpected { .. })
                )
            },
        },
        Case {
            what: "an HTML error page",
            failure: body("text/html; charset=utf-8", html),
            rate_limit: false,
            check: |e| matches!(xml_error(e), Some(XmlRpcError::Html(_))),
        },
        Case {
            what: "an HTML error page called XML",
            failure: body("text/xml", html),
            rate_limit: false,
            check: |e| matches!(xml_error(e), Some(XmlRpcError::Doctype)),
        },
        Case {
            what: "an empty body",
            failure: body("text/xml", ""),
            rate_limit: false,
            check: |e| matches!(xml_error(e), Some(XmlRpcError::Empty)),
        },
        Case {
            what: "not UTF-8",
            failure: body(
                "text/xml",
                b"<methodResponse>\xff\xfe</methodResponse>".to_vec(),
            ),
            rate_limit: false,
            check: |e| matches!(xml_error(e), Some(XmlRpcError::NotUtf8)),
        },
        Case {
            what: "billion laughs",
            failure: body("text/xml", laughs),
            rate_limit: false,
            check: |e| matches!(xml_error(e), Some(XmlRpcError::Doctype)),
        },
        Case {
            what: "nested 100,000 deep",
            failure: body("text/xml", deep),
            rate_limit: false,
            check: |e| matches!(xml_error(e), Some(XmlRpcError::TooDeep(MAX_DEPTH))),
        },
        Case {
            what: "a row of six",
            failure: body("text/xml", wide_row),
            rate_limit: false,
            check: |e| {
                matches!(xml_error(e), Some(XmlRpcError::Row { row: 0, why })
                    if **why == XmlRpcError::Width(6))
            },
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failure_is_a_clear_error_and_the_client_reads_again() {
    let sim = PypiSim::start(50, SEED);
    let client = client(&sim);
    let newest = sim.last_serial();
    let mut seen = Vec::new();
    for case in cases() {
        sim.fail_xmlrpc(Some(case.failure.clone()));
        let e = since(&client, newest - 5).await.expect_err(case.what);
        assert!((case.check)(&e), "{}: {e:?}", case.what);
        assert_eq!(e.is_rate_limit(), case.rate_limit, "{}: {e}", case.what);
        let message = e.to_string();
        assert!(
            message.contains(&sim.xmlrpc_url()),
            "{}: {message}",
            case.what
        );
        assert!(message.len() < 400, "{}: {message}", case.what);
        let e = last_serial(&client).await.expect_err(case.what);
        if !matches!(case.what, "a row of six") {
            assert!((case.check)(&e), "{} (last serial): {e:?}", case.what);
        }
        seen.push(format!("{}: {message}", case.what));
        // The endpoint mended, the same client reads again.
        sim.fail_xmlrpc(None);
        let events = since(&client, newest - 5).await.unwrap();
        assert_eq!(events.len(), 5, "after {}", case.what);
        assert_eq!(last_serial(&client).await.unwrap(), newest);
    }
    println!("{}", seen.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_past_the_limit_is_refused() {
    let sim = PypiSim::start(2_000, SEED);
    let small = client(&sim).with_limit(64 << 10);
    let e = since(&small, 0).await.unwrap_err();
    assert!(
        matches!(xml_error(&e), Some(XmlRpcError::TooLarge(65_536))),
        "{e:?}"
    );
    // What fits is read by the same client.
    let newest = sim.last_serial();
    assert_eq!(since(&small, newest - 3).await.unwrap().len(), 3);
}

/// A server that answers `200` with a long body, one byte at a time, until its client
/// goes away or it is told to stop.
struct Trickle {
    url: String,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Trickle {
    fn start() -> Trickle {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/pypi", listener.local_addr().unwrap());
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                let Ok((mut s, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut buf = [0; 4096];
                let _ = s.read(&mut buf);
                let head = "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n\
                            Content-Length: 1000000\r\n\r\n<methodResponse>";
                if s.write_all(head.as_bytes()).is_err() {
                    continue;
                }
                while !stopping.load(Ordering::SeqCst) && s.write_all(b" ").is_ok() {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        });
        Trickle {
            url,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Trickle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_trickles_its_answer_is_cut_off_at_the_timeout() {
    let trickle = Trickle::start();
    let client = ChangelogClient::new(&trickle.url, Duration::from_secs(1)).unwrap();
    let e = since(&client, 0).await.unwrap_err();
    assert!(
        matches!(&e, UpstreamError::Transport { why, .. } if why.contains("reading the answer")),
        "{e:?}"
    );
}
