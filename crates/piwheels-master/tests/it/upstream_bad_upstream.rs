//! Issue 16, item 4: deletions only on evidence. A whole master (every task, its web
//! server) follows a real index over HTTP on 127.0.0.1 that goes bad in one way per test:
//! a truncated list, an error page served with status 200, half the list, 5xx answers,
//! bodies that are neither JSON nor HTML, pages gone while the list still names them.
//! Through several polls of the bad upstream nothing is removed (no package, no version, no
//! page), and the master keeps serving; once the upstream is good again, it follows it.

use crate::core_support::{Env, eventually, within};
use crate::index_support::{Index, json_list, json_page};

use std::collections::BTreeMap;
use std::time::Duration;

use piwheels_db::Database;
use piwheels_master::master::Master;

/// The projects upstream (Env's database knows foo and bar already).
const PROJECTS: [&str; 6] = ["foo", "bar", "alpha", "beta", "gamma", "delta"];

/// A good upstream: every project with a 1.0 sdist, and `extra` with a 2.0 too.
fn good(index: &Index, extra: Option<&str>) {
    let dirs = PROJECTS.iter().map(|p| format!("simple/{p}"));
    for d in std::iter::once("simple".to_owned()).chain(dirs) {
        for f in ["raw", "status", "hold"] {
            index.remove_file(&d, f);
        }
    }
    let list: Vec<(&str, i64)> = PROJECTS
        .iter()
        .map(|p| (*p, if Some(*p) == extra { 2 } else { 1 }))
        .collect();
    index.write("simple", "index.json", &json_list(&list));
    for p in PROJECTS {
        let mut files = vec![format!("{p}-1.0.tar.gz")];
        if Some(p) == extra {
            files.push(format!("{p}-2.0.tar.gz"));
        }
        let files: Vec<(&str, bool, Option<&str>)> =
            files.iter().map(|f| (f.as_str(), false, None)).collect();
        index.write(&format!("simple/{p}"), "index.json", &json_page(p, &files));
    }
}

/// A raw HTTP answer with this status, content type and body.
fn raw(status: &str, ctype: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// Every package with its versions and their skips, and whether it is marked deleted.
async fn contents(db: &Database) -> BTreeMap<String, (bool, Vec<(String, String)>)> {
    let mut out = BTreeMap::new();
    for p in db.all_packages().await.unwrap() {
        let deleted = db.package_marked_deleted(&p).await.unwrap();
        let data = db.project_data(&p).await.unwrap().unwrap();
        let versions = data
            .releases
            .iter()
            .map(|(v, r)| (v.clone(), r.skip.clone()))
            .collect();
        out.insert(p, (deleted, versions));
    }
    out
}

/// A GET of `path` from the master's web server: the status.
async fn get(addr: std::net::SocketAddr, path: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    within(Duration::from_secs(10), &format!("GET {path}"), async {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.unwrap();
        let text = String::from_utf8_lossy(&buf);
        text.split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    })
    .await
}

/// Runs a master against a good upstream until it has every project, makes the upstream
/// go bad with `spoil`, lets it poll the bad upstream at least four times, and checks
/// that nothing was removed and the master still serves; then the upstream is good again
/// (with a new version of beta) and the master follows it.
async fn survives(spoil: impl FnOnce(&Index)) {
    survives_polls(4, spoil).await;
}

/// [`survives`], with `polls` polls of the bad upstream.
async fn survives_polls(polls: usize, spoil: impl FnOnce(&Index)) {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::start(dir.path());
    good(&index, None);
    let mut env = Env::new().await;
    env.config.upstream = Some(index.url.clone());
    env.config.follow = None;
    env.config.upstream_poll = Duration::from_millis(100);
    env.config.upstream_timeout = Duration::from_secs(1);
    let master = Master::start(env.config.clone()).await.unwrap();
    let web = master.web_addr().expect("the web server runs");
    let db = master.hub().db.clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let main = tokio::spawn(master.run_until(async {
        let _ = stop_rx.await;
    }));
    eventually("every project in the database and on the web", || {
        let db = db.clone();
        async move {
            db.all_packages().await.unwrap().len() == PROJECTS.len()
                && get(web, "/simple/gamma/").await == 200
        }
    })
    .await;
    let before = contents(&db).await;

    spoil(&index);
    let start = index.hits("/simple");
    // Polls of a failing upstream come further apart (the backoff), and a list that never
    // answers takes its whole allowance (ten times the timeout) each time.
    within(
        Duration::from_secs(90),
        "polls of the bad upstream",
        async {
            while index.hits("/simple") < start + polls {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        },
    )
    .await;
    assert_eq!(contents(&db).await, before, "nothing removed");
    for p in PROJECTS {
        assert_eq!(get(web, &format!("/simple/{p}/")).await, 200, "{p}'s page");
    }
    assert_eq!(get(web, "/simple/").await, 200);

    // Good again: followed at once (the backoff of a failing upstream is short here).
    good(&index, Some("beta"));
    eventually("beta 2.0 from the good upstream", || {
        let db = db.clone();
        async move { db.version_exists("beta", "2.0").await.unwrap() }
    })
    .await;
    for p in PROJECTS {
        assert!(!db.package_marked_deleted(p).await.unwrap(), "{p}");
    }
    let _ = stop_tx.send(());
    within(Duration::from_secs(20), "the master to stop", main)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_json_list_removes_nothing() {
    survives(|index| {
        let list = json_list(&[("foo", 5), ("bar", 5), ("alpha", 5)]);
        let cut = &list.as_bytes()[..list.len() / 2];
        index.write_bytes(
            "simple",
            "raw",
            &raw("200 OK", "application/vnd.pypi.simple.v1+json", cut),
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_html_list_removes_nothing() {
    survives(|index| {
        // Cut after the second project: a list that parses, and lacks four projects.
        let html =
            "<html><body><a href=\"/simple/foo/\">foo</a>\n<a href=\"/simple/bar/\">bar</a>\n<a hr";
        index.write_bytes(
            "simple",
            "raw",
            &raw("200 OK", "text/html", html.as_bytes()),
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_page_with_status_200_removes_nothing() {
    survives(|index| {
        let html = "<html><head><title>Service Unavailable</title></head><body>\
                    <h1>Service Unavailable</h1><p>Try again later.</p>\
                    <a href=\"/\">Home</a> <a href=\"/status\">Status</a></body></html>";
        index.write_bytes(
            "simple",
            "raw",
            &raw("200 OK", "text/html", html.as_bytes()),
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_200_answer_removes_nothing() {
    survives(|index| {
        index.write_bytes("simple", "raw", &raw("200 OK", "text/html", b""));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_of_half_the_projects_removes_nothing() {
    survives(|index| {
        let half: Vec<(&str, i64)> = PROJECTS[..3].iter().map(|p| (*p, 1)).collect();
        index.write("simple", "index.json", &json_list(&half));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_of_half_the_projects_and_failing_pages_removes_nothing() {
    survives(|index| {
        let half: Vec<(&str, i64)> = PROJECTS[..3].iter().map(|p| (*p, 1)).collect();
        index.write("simple", "index.json", &json_list(&half));
        for p in &PROJECTS[3..] {
            index.write(&format!("simple/{p}"), "status", "503");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_answering_5xx_removes_nothing() {
    survives(|index| index.write("simple", "status", "502")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_that_is_not_json_or_html_removes_nothing() {
    survives(|index| {
        let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
        index.write_bytes(
            "simple",
            "raw",
            &raw("200 OK", "application/vnd.pypi.simple.v1+json", &garbage),
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_of_nothing_but_text_removes_nothing() {
    survives(|index| {
        index.write_bytes(
            "simple",
            "raw",
            &raw(
                "200 OK",
                "text/plain",
                b"upstream maintenance until 18:00\n",
            ),
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_gone_while_the_list_names_them_remove_nothing() {
    survives(|index| {
        // The list moves every serial (so every page is read), and every page is 404.
        let list: Vec<(&str, i64)> = PROJECTS.iter().map(|p| (*p, 9)).collect();
        index.write("simple", "index.json", &json_list(&list));
        for p in PROJECTS {
            index.remove(&format!("simple/{p}"));
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_that_are_not_json_or_html_remove_nothing() {
    survives(|index| {
        let list: Vec<(&str, i64)> = PROJECTS.iter().map(|p| (*p, 9)).collect();
        index.write("simple", "index.json", &json_list(&list));
        for p in PROJECTS {
            index.write_bytes(
                &format!("simple/{p}"),
                "raw",
                &raw(
                    "200 OK",
                    "application/vnd.pypi.simple.v1+json",
                    b"\xff\xfe{\"files\": [}",
                ),
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_failing_every_page_ends_the_poll_and_the_next_waits_longer() {
    use piwheels_master::cloud_gazer::{CloudGazer, backoff};
    let dir = tempfile::tempdir().unwrap();
    let index = Index::start(dir.path());
    let names: Vec<String> = (0..300).map(|i| format!("p{i}")).collect();
    let list: Vec<(&str, i64)> = names.iter().map(|n| (n.as_str(), 1)).collect();
    index.write("simple", "index.json", &json_list(&list));
    for n in &names {
        index.write(&format!("simple/{n}"), "status", "503");
    }
    let (_dsn, db, mut config) = crate::core_support::sqlite_master(dir.path()).await;
    config.upstream = Some(index.url.clone());
    config.upstream_concurrency = 4;
    let (hub, _inboxes) = piwheels_master::hub::Hub::new(db, config);
    let mut gazer = CloudGazer::new(hub);
    let report = gazer.poll().await.unwrap();
    assert!(report.failing, "{report:?}");
    // It stopped after 20 failures in a row (and the few requests already in flight).
    let pages = index.requests.load(std::sync::atomic::Ordering::SeqCst) - 1;
    assert!((20..=24).contains(&pages), "{pages} page requests");
    assert_eq!(report.errors, 20, "{report:?}");
    // One page answers: the poll is not failing, and goes through every page.
    index.remove_file("simple/p150", "status");
    index.write(
        "simple/p150",
        "index.json",
        &json_page("p150", &[("p150-1.0.tar.gz", false, None)]),
    );
    for n in names.iter().take(100) {
        index.remove_file(&format!("simple/{n}"), "status");
        index.write(&format!("simple/{n}"), "index.json", &json_page(n, &[]));
    }
    let report = gazer.poll().await.unwrap();
    assert!(!report.failing, "{report:?}");
    assert_eq!((report.pages, report.errors), (101, 199), "{report:?}");

    // The wait between polls doubles while the upstream fails, within bounds.
    let poll = Duration::from_secs(10);
    assert_eq!(backoff(poll, 0), poll);
    assert_eq!(backoff(poll, 1), Duration::from_secs(20));
    assert_eq!(backoff(poll, 3), Duration::from_secs(80));
    assert_eq!(backoff(poll, 6), Duration::from_secs(640));
    assert_eq!(backoff(poll, 1000), Duration::from_secs(640));
    assert_eq!(
        backoff(Duration::from_secs(60), 9),
        Duration::from_secs(30 * 60)
    );
    assert_eq!(
        backoff(Duration::from_secs(3600), 9),
        Duration::from_secs(3600)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_that_never_answer_remove_nothing() {
    survives(|index| {
        let list: Vec<(&str, i64)> = PROJECTS.iter().map(|p| (*p, 9)).collect();
        index.write("simple", "index.json", &json_list(&list));
        for p in PROJECTS {
            index.write(&format!("simple/{p}"), "hold", "");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_that_never_answers_removes_nothing() {
    // Each poll waits out the list's allowance (10 s here), so two polls are enough.
    survives_polls(2, |index| index.write("simple", "hold", "")).await;
}
