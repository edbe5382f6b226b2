//! Lumberjack, the log queue's task: the original `piw-logger`'s records (pushed by a
//! Python peer built as the protocol crate's peers are) reach the database, malformed ones
//! are dropped and counted, the peer exits normally, downloads are reported to
//! BigBrother, a failing database loses nothing below the cap; and the embedded web
//! server's own hits, through the whole master, reach the database too.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use piwheels_master::hub::{StatsMessage, WebRequest, supervise};
use piwheels_master::lumberjack::{Counters, Lumberjack, Timing};
use piwheels_master::master::Master;
use piwheels_protocol::logger::{DownloadState, LogMessage, LoggerProtocol};
use piwheels_protocol::transport::asynchronous::Push;
use piwheels_protocol::transport::{SocketOptions, zmq};
use test_support::process::Peer;

use crate::core_support::{Env, eventually, python, skip, within};
use crate::web_common::{log_build, make_wheel, new_file, place};

const WAIT: Duration = Duration::from_secs(20);

fn quick() -> Timing {
    Timing {
        batch: 1000,
        flush: Duration::from_millis(50),
        report: Duration::from_millis(300),
        max_pending: 100_000,
    }
}

/// The rows of a query on the farm's SQLite database, each cell as text.
fn rows(db: &Path, sql: &str) -> Vec<Vec<Option<String>>> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut st = conn.prepare(sql).unwrap();
    let n = st.column_count();
    st.query_map([], |r| {
        Ok((0..n)
            .map(|i| match r.get_ref(i).unwrap() {
                rusqlite::types::ValueRef::Null => None,
                rusqlite::types::ValueRef::Integer(v) => Some(v.to_string()),
                rusqlite::types::ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into()),
                other => Some(format!("{other:?}")),
            })
            .collect())
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

fn count(db: &Path, table: &str) -> usize {
    rows(db, &format!("SELECT COUNT(*) FROM {table}"))[0][0]
        .as_deref()
        .unwrap()
        .parse()
        .unwrap()
}

/// What the original `piw-logger` does (piwheels.md §3.5): a PUSH socket with a
/// high-water mark of 10, each record checked against its schema and sent as
/// `[verb, data]`, then `close()` and `term()` with ZeroMQ's default linger, which waits
/// until everything was delivered. Hostile frames are sent on the same socket too.
const PY_LOGGER: &str = r#"
import sys, datetime as dt
sys.path.insert(0, sys.argv[1])
import zmq
from voluptuous import Any, ExactSequence
from piwheels_wire import dump_msg, NoData

ts = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
opt = Any(str, None)
DOWNLOAD = ExactSequence([str, str, dt.datetime] + [opt] * 10)
HIT = ExactSequence([str, str, dt.datetime, str])
LOGGER = {"LOGDOWNLOAD": DOWNLOAD, "LOGSEARCH": DOWNLOAD,
          "LOGPROJECT": HIT, "LOGJSON": HIT, "LOGPAGE": HIT}
pip = ["aarch64", "Debian GNU/Linux", "12", "Linux", "6.1.0", "CPython", "3.11.2",
       "pip", "23.0.1", "66.1.1"]

ctx = zmq.Context()
q = ctx.socket(zmq.PUSH)
q.hwm = 10
q.connect(sys.argv[2])
good = [
    ("LOGDOWNLOAD", ["foo-1.0-py3-none-any.whl", "192.0.2.1", ts] + pip),
    ("LOGDOWNLOAD", ["foo-1.0-py3-none-any.whl", "2001:db8::1", ts] + [None] * 10),
    ("LOGDOWNLOAD", ["bar-1.0-py3-none-any.whl", "192.0.2.2", ts] + pip),
    ("LOGSEARCH", ["foo", "192.0.2.1", ts] + pip),
    ("LOGPROJECT", ["foo", "192.0.2.3", ts, "mozilla"]),
    ("LOGJSON", ["foo", "192.0.2.3", ts, "curl"]),
    ("LOGPAGE", ["home", "192.0.2.4", ts, "googlebot"]),
]
for verb, data in good[:4]:
    q.send(dump_msg(LOGGER, verb, data))
# Hostile: not CBOR, an unknown verb, the wrong shape, not an IP, a NUL, a 10 MB field.
import cbor2
q.send(b"\xff\x00 not cbor")
q.send(cbor2.dumps(["LOGFOO", ["x"]]))
q.send(cbor2.dumps(["LOGPAGE", ["home"]]))
q.send(cbor2.dumps(["LOGPAGE", ["home", "example.org", ts, "x"]]))
q.send(cbor2.dumps(["LOGDOWNLOAD", ["a\0.whl", "::1", ts] + [None] * 10]))
q.send(cbor2.dumps(["LOGPROJECT", ["foo", "::1", ts, "u" * (10 << 20)]]))
for verb, data in good[4:]:
    q.send(dump_msg(LOGGER, verb, data))
q.close()
ctx.term()
print("ok", flush=True)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_original_loggers_records_reach_the_database_and_it_exits() {
    let Some(python) = python() else {
        return skip(
            "the_original_loggers_records_reach_the_database_and_it_exits",
            "no Python with pyzmq, cbor2 and voluptuous (set PIWHEELS_TEST_PYTHON or make scripts/py-env work)",
        );
    };
    let env = Env::new().await;
    let (hub, mut inboxes) = env.hub().await;
    let peer_dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../piwheels-protocol/tests/peer"
    );
    // The logger starts first, as it may in production: its records wait in ZeroMQ
    // until the master binds the queue.
    let mut peer = Peer::spawn(
        Command::new(python)
            .args(["-c", PY_LOGGER, peer_dir, &env.config.log_queue])
            .stdout(Stdio::piped()),
        "the Python logger",
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let lumberjack = Lumberjack::bind(hub.clone()).unwrap().with_timing(quick());
    let counters = lumberjack.counters();
    let task = supervise(lumberjack, hub.quit.clone());

    // It exits normally: its context's term() returns once all was delivered.
    let status = tokio::task::spawn_blocking(move || {
        let line = peer.line(WAIT, "the logger's ok");
        (line, peer.wait(WAIT))
    })
    .await
    .unwrap();
    assert_eq!(status.0, "ok");
    assert!(status.1.success(), "{:?}", status.1);

    eventually("7 records written and 6 dropped", || {
        let c = counters.clone();
        async move { Counters::get(&c.written) == 7 && Counters::get(&c.malformed) == 6 }
    })
    .await;
    assert_eq!(Counters::get(&counters.received), 13);
    let db = env.dir.path().join("piwheels.db");
    let downloads = rows(
        &db,
        "SELECT filename, accessed_by, accessed_at, arch, distro_name, py_version, installer_name, \
         setuptools_version FROM downloads ORDER BY filename, accessed_by",
    );
    assert_eq!(downloads.len(), 3, "{downloads:?}");
    assert_eq!(downloads[0][0].as_deref(), Some("bar-1.0-py3-none-any.whl"));
    assert_eq!(downloads[1][1].as_deref(), Some("192.0.2.1"));
    assert_eq!(downloads[1][3].as_deref(), Some("aarch64"));
    assert_eq!(downloads[1][4].as_deref(), Some("Debian GNU/Linux"));
    assert_eq!(downloads[1][7].as_deref(), Some("66.1.1"));
    assert_eq!(downloads[2][1].as_deref(), Some("2001:db8::1"));
    assert_eq!(downloads[2][3], None);
    assert_eq!(
        rows(&db, "SELECT package, installer_version FROM searches"),
        [[Some("foo".to_string()), Some("23.0.1".to_string())]]
    );
    assert_eq!(
        rows(&db, "SELECT package, user_agent FROM project_page_hits"),
        [[Some("foo".to_string()), Some("mozilla".to_string())]]
    );
    assert_eq!(count(&db, "project_json_downloads"), 1);
    assert_eq!(
        rows(&db, "SELECT page, bot FROM web_page_hits"),
        [[Some("home".to_string()), Some("1".to_string())]]
    );
    assert_eq!(hub.db.downloads_all().await.unwrap(), 3);

    // BigBrother hears of the three downloads within a report interval.
    let mut reported = 0;
    while reported < 3 {
        match within(WAIT, "a download report", inboxes.stats.recv()).await {
            Some(StatsMessage::Downloads(n)) => reported += n,
            Some(_) => {}
            None => panic!("the stats channel closed"),
        }
    }
    assert_eq!(reported, 3);
    hub.quit.cancel();
    within(WAIT, "Lumberjack to stop", task).await.unwrap();
}

fn download(n: usize) -> LogMessage {
    LogMessage::Download(DownloadState {
        filename: format!("foo-{n}.0-py3-none-any.whl"),
        host: "192.0.2.9".into(),
        timestamp: Utc::now(),
        arch: None,
        distro_name: None,
        distro_version: None,
        os_name: None,
        os_version: None,
        py_name: None,
        py_version: None,
        installer_name: None,
        installer_version: None,
        setuptools_version: None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_database_keeps_the_newest_records_until_it_is_back() {
    let env = Env::new().await;
    let (hub, _inboxes) = env.hub().await;
    let db = env.dir.path().join("piwheels.db");
    let timing = Timing {
        max_pending: 5,
        ..quick()
    };
    let lumberjack = Lumberjack::bind(hub.clone()).unwrap().with_timing(timing);
    let counters: Arc<Counters> = lumberjack.counters();
    let task = supervise(lumberjack, hub.quit.clone());
    // The database refuses downloads: their table is gone.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("ALTER TABLE downloads RENAME TO downloads_away")
        .unwrap();
    let ctx = zmq::Context::new();
    let mut push =
        Push::<LoggerProtocol>::connect(&ctx, &env.config.log_queue, &SocketOptions::new())
            .unwrap();
    for n in 1..=8 {
        within(WAIT, "a push", push.send(&download(n)))
            .await
            .unwrap();
    }
    eventually("three of eight records dropped past the cap", || {
        let c = counters.clone();
        async move { Counters::get(&c.overflowed) == 3 }
    })
    .await;
    assert_eq!(Counters::get(&counters.written), 0);
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("ALTER TABLE downloads_away RENAME TO downloads")
        .unwrap();
    // Written at the next attempt (the back-off is short here).
    eventually("the five kept records written", || {
        let c = counters.clone();
        async move { Counters::get(&c.written) == 5 }
    })
    .await;
    let names: Vec<String> = rows(&db, "SELECT filename FROM downloads ORDER BY filename")
        .into_iter()
        .map(|r| r[0].clone().unwrap())
        .collect();
    let want: Vec<String> = (4..=8)
        .map(|n| format!("foo-{n}.0-py3-none-any.whl"))
        .collect();
    assert_eq!(names, want);
    hub.quit.cancel();
    within(WAIT, "Lumberjack to stop", task).await.unwrap();
}

async fn get(url: String, user_agent: &'static str, head: bool) -> u16 {
    tokio::task::spawn_blocking(move || {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(10))
            .redirects(0)
            .build();
        let req = if head {
            agent.head(&url)
        } else {
            agent.get(&url)
        };
        match req.set("User-Agent", user_agent).call() {
            Ok(r) => {
                let status = r.status();
                let _ = r.into_string();
                status
            }
            Err(ureq::Error::Status(code, _)) => code,
            Err(e) => panic!("{url}: {e}"),
        }
    })
    .await
    .unwrap()
}

const PIP_UA: &str = r#"pip/24.0 {"cpu":"armv7l","distro":{"name":"Raspbian GNU/Linux","version":"12"},"implementation":{"name":"CPython","version":"3.11.2"},"installer":{"name":"pip","version":"24.0"},"python":"3.11.2","system":{"name":"Linux","release":"6.6.20"}}"#;
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux aarch64; rv:128.0) Gecko/20100101 Firefox/128.0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_servers_own_hits_reach_the_database() {
    let env = Env::new().await;
    let wheel = make_wheel("foo", "1.0", None);
    {
        let db = piwheels_db::Database::open(&env.config.dsn).await.unwrap();
        log_build(
            &db,
            "foo",
            "1.0",
            "cp311/linux_x86_64",
            vec![new_file(&wheel, None, &[])],
        )
        .await;
    }
    place(&env.config.output_path, "foo", &wheel, true);
    let master = Master::start(env.config.clone()).await.unwrap();
    assert!(master.task_names().contains(&"lumberjack"));
    let addr = master.web_addr().unwrap();
    let hub = master.hub().clone();
    let run = tokio::spawn(master.run_until(std::future::pending()));
    let url = |path: &str| format!("http://{addr}{path}");
    let whl = format!("/simple/foo/{}", wheel.filename);
    // The pages exist once TheScribe has written them; the project's JSON is written last.
    let project_json = env.config.output_path.join("project/foo/json/index.json");
    eventually("the project page and its JSON", || async {
        project_json.exists() && get(url("/project/foo/"), FIREFOX, false).await == 200
    })
    .await;
    assert_eq!(get(url(&whl), PIP_UA, false).await, 200);
    assert_eq!(get(url(&whl), PIP_UA, false).await, 200);
    // Not logged: a HEAD, a 404, the metadata file, a redirect, a browser's simple page.
    assert_eq!(get(url(&whl), PIP_UA, true).await, 200);
    assert_eq!(
        get(url("/simple/foo/nope-1.0-py3-none-any.whl"), PIP_UA, false).await,
        404
    );
    assert_eq!(
        get(url(&format!("{whl}.metadata")), PIP_UA, false).await,
        200
    );
    assert_eq!(get(url("/simple/Foo/"), PIP_UA, false).await, 301);
    assert_eq!(get(url("/simple/foo/"), FIREFOX, false).await, 200);
    // Logged: the search, the project's JSON, the home page.
    assert_eq!(get(url("/simple/foo/"), PIP_UA, false).await, 200);
    assert_eq!(
        get(url("/project/foo/json/"), "curl/8.5.0", false).await,
        200
    );
    eventually("the homepage", || async {
        get(url("/"), FIREFOX, false).await == 200
    })
    .await;

    let db = env.dir.path().join("piwheels.db");
    // Flushed within Lumberjack's second.
    eventually("the hits in the database", || {
        let db = db.clone();
        async move {
            count(&db, "downloads") >= 2
                && count(&db, "searches") >= 1
                && count(&db, "project_json_downloads") >= 1
                && count(&db, "web_page_hits") >= 1
                && count(&db, "project_page_hits") >= 1
        }
    })
    .await;
    // The next rewrite of the search index, which the project pages read their download
    // figures from, counts them.
    hub.web(WebRequest::Search);
    let index = env.config.output_path.join("packages.json");
    eventually("foo's downloads in packages.json", || {
        let index = index.clone();
        async move {
            let rows: Vec<serde_json::Value> = std::fs::read(&index)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
            rows.iter().any(|r| r[0] == "foo" && r[1] == 2 && r[2] == 2)
        }
    })
    .await;
    hub.quit.cancel();
    within(Duration::from_secs(30), "the master to stop", run)
        .await
        .unwrap()
        .unwrap();
    let downloads = rows(
        &db,
        "SELECT filename, accessed_by, arch, distro_name, py_version, installer_name FROM downloads",
    );
    assert_eq!(
        downloads.len(),
        2,
        "a HEAD, a 404 and the metadata are not downloads: {downloads:?}"
    );
    assert_eq!(
        downloads[0],
        [
            Some(wheel.filename.clone()),
            Some("127.0.0.1".into()),
            Some("armv7l".into()),
            Some("Raspbian GNU/Linux".into()),
            Some("3.11.2".into()),
            Some("pip".into()),
        ]
    );
    assert_eq!(
        rows(&db, "SELECT package, installer_name FROM searches"),
        [[Some("foo".to_string()), Some("pip".to_string())]]
    );
    assert_eq!(
        rows(
            &db,
            "SELECT package, user_agent FROM project_json_downloads"
        ),
        [[Some("foo".to_string()), Some("curl".to_string())]]
    );
    let pages = rows(&db, "SELECT DISTINCT page, user_agent FROM web_page_hits");
    assert_eq!(
        pages,
        [[Some("home".to_string()), Some("mozilla".to_string())]]
    );
    let projects = rows(
        &db,
        "SELECT DISTINCT package, user_agent FROM project_page_hits",
    );
    assert_eq!(
        projects,
        [[Some("foo".to_string()), Some("mozilla".to_string())]]
    );
    assert_eq!(hub.db.downloads_all().await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_waiting_in_the_queue_at_shutdown_are_written() {
    let env = Env::new().await;
    let (hub, _inboxes) = env.hub().await;
    let db = env.dir.path().join("piwheels.db");
    let lumberjack = Lumberjack::bind(hub.clone()).unwrap().with_timing(quick());
    let counters: Arc<Counters> = lumberjack.counters();
    // Records reach the bound socket before the task reads it, and the master is told to
    // stop before it does: they are in the socket's queue when the task starts.
    let ctx = zmq::Context::new();
    let mut push =
        Push::<LoggerProtocol>::connect(&ctx, &env.config.log_queue, &SocketOptions::new())
            .unwrap();
    for n in 1..=6 {
        within(WAIT, "a push", push.send(&download(n)))
            .await
            .unwrap();
    }
    // Give ZeroMQ's I/O thread time to move them into the PULL socket's queue.
    eventually("the records queued at the PULL socket", || {
        let events = lumberjack_queue_ready(&lumberjack);
        async move { events }
    })
    .await;
    hub.quit.cancel();
    let task = supervise(lumberjack, hub.quit.clone());
    within(WAIT, "Lumberjack to stop", task).await.unwrap();
    assert_eq!(Counters::get(&counters.written), 6);
    assert_eq!(count(&db, "downloads"), 6);
}

/// Whether the log queue has a message ready to read.
fn lumberjack_queue_ready(lumberjack: &Lumberjack) -> bool {
    lumberjack
        .socket()
        .get_events()
        .is_ok_and(|e| e.contains(zmq::POLLIN))
}
