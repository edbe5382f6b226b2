//! The embedded web server over real HTTP, serving what TheScribe wrote: content types,
//! directory indexes, 404s, PEP 691 negotiation, redirects, escapes, gzip logs, ranges.

use crate::web_common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long a request may take before the test calls the server hung.
const HTTP_WAIT: Duration = Duration::from_secs(30);

use piwheels_master::hub::{Task, WebRequest};
use piwheels_master::the_scribe::TheScribe;
use piwheels_master::web_server::WebServer;
use web_common::*;

pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: HashMap<String, String>,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// GET with ureq (no redirects followed, no decompression).
pub(crate) async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    let url = format!("http://{addr}{path}");
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let agent = ureq::AgentBuilder::new()
            .redirects(0)
            .timeout(HTTP_WAIT)
            .build();
        let mut req = agent.get(&url);
        for (k, v) in &headers {
            req = req.set(k, v);
        }
        let resp = match req.call() {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{url}: {e}"),
        };
        let status = resp.status();
        let headers = resp
            .headers_names()
            .into_iter()
            .map(|n| {
                let v = resp.header(&n).unwrap_or("").to_owned();
                (n.to_ascii_lowercase(), v)
            })
            .collect();
        let mut body = Vec::new();
        resp.into_reader()
            .read_to_end(&mut body)
            .unwrap_or_else(|e| panic!("{url}: the body within {HTTP_WAIT:?}: {e}"));
        Reply {
            status,
            headers,
            body,
        }
    })
    .await
    .unwrap()
}

/// A request written by hand, for paths a client library would clean up first.
pub(crate) async fn raw(addr: SocketAddr, target: &str) -> (u16, String) {
    let request = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let target = target.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(HTTP_WAIT)).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out)
            .unwrap_or_else(|e| panic!("{target}: the whole answer within {HTTP_WAIT:?}: {e}"));
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (status, text)
    })
    .await
    .unwrap()
}

pub(crate) struct Site {
    pub(crate) farm: Farm,
    pub(crate) addr: SocketAddr,
    pub(crate) wheel: Wheel,
    pub(crate) server: tokio::task::JoinHandle<piwheels_master::Result<()>>,
}

pub(crate) async fn site() -> Site {
    let farm = farm(|_| {}).await;
    let db = &farm.hub.db;
    db.add_new_package("foo-bar", "", "Foo").await.unwrap();
    db.add_package_name("foo-bar", "Foo_Bar", Some(day(5)))
        .await
        .unwrap();
    db.add_new_package_version("foo-bar", "1.0", Some(day(1)), "")
        .await
        .unwrap();
    let wheel = make_wheel("foo_bar", "1.0", Some(">=3.7"));
    log_build(
        db,
        "foo-bar",
        "1.0",
        "cp311/linux_armv7l",
        vec![new_file(&wheel, Some(">=3.7"), &[])],
    )
    .await;
    place(&farm.out, "foo-bar", &wheel, true);
    let mut scribe =
        TheScribe::new(farm.hub.clone(), tokio::sync::mpsc::unbounded_channel().1).unwrap();
    scribe
        .handle(WebRequest::Both("foo-bar".into()))
        .await
        .unwrap();
    scribe
        .handle(WebRequest::Log {
            build_id: 1,
            log: "line one\nline two\n".into(),
        })
        .await
        .unwrap();
    let mut server = WebServer::bind(farm.hub.clone()).unwrap();
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0);
    let server = tokio::spawn(async move { server.run().await });
    Site {
        farm,
        addr,
        wheel,
        server,
    }
}

#[tokio::test]
async fn content_types_indexes_and_404() {
    let s = site().await;
    let a = s.addr;
    let r = get(a, "/", &[]).await;
    assert_eq!(r.status, 404, "no homepage written yet: 404 page");
    assert!(r.text().contains("Not found"));
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));

    let r = get(a, "/faq.html", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));

    let r = get(a, "/project/foo-bar/", &[]).await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("<h1>Foo_Bar</h1>"));
    let r = get(a, "/project/foo-bar", &[]).await;
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/project/foo-bar/"));
    // A name that is not canonical is redirected to the canonical one (issue 17).
    let r = get(a, "/project/Foo_Bar/", &[]).await;
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/project/foo-bar/"));

    let r = get(a, "/project/foo-bar/json/", &[]).await;
    assert_eq!(r.status, 200, "json/ answers its index.json: {}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    let r = get(a, "/project/foo-bar/json/index.json", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["package"], "foo-bar");

    let path = format!("/simple/foo-bar/{}", s.wheel.filename);
    let r = get(a, &path, &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(r.body, s.wheel.bytes);
    let r = get(a, &format!("{path}.metadata"), &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.text(), s.wheel.metadata);
    // Ranges.
    let r = get(a, &path, &[("Range", "bytes=0-3")]).await;
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &s.wheel.bytes[..4]);

    // No listings, missing files 404.
    let r = get(a, "/logs/", &[]).await;
    assert_eq!(r.status, 404);
    let r = get(a, "/nothing.html", &[]).await;
    assert_eq!(r.status, 404);
    assert!(r.text().contains("Not found"));
    s.farm.hub.quit.cancel();
    s.server.await.unwrap().unwrap();
}

#[tokio::test]
async fn simple_pages_negotiate_pep_691() {
    let s = site().await;
    let a = s.addr;
    for path in ["/simple/", "/simple/foo-bar/"] {
        let r = get(a, path, &[]).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        assert_eq!(r.header("vary"), Some("Accept, Accept-Encoding"));
        assert!(r.text().contains("<a href="));

        let r = get(
            a,
            path,
            &[("Accept", "application/vnd.pypi.simple.v1+json")],
        )
        .await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("content-type"),
            Some("application/vnd.pypi.simple.v1+json")
        );
        assert_eq!(r.header("vary"), Some("Accept, Accept-Encoding"));
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["meta"]["api-version"], "1.1");

        let r = get(
            a,
            path,
            &[(
                "Accept",
                "application/vnd.pypi.simple.v1+html;q=0.5, application/vnd.pypi.simple.v1+json;q=0.1",
            )],
        )
        .await;
        assert_eq!(
            r.header("content-type"),
            Some("application/vnd.pypi.simple.v1+html")
        );
        assert!(r.text().contains("<a href="));
        let r = get(a, path, &[("Accept", "text/html")]).await;
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    }
    let r = get(
        a,
        "/simple/foo-bar/",
        &[("Accept", "application/vnd.pypi.simple.v1+json")],
    )
    .await;
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["files"][0]["filename"], s.wheel.filename.as_str());
    // Non-canonical names go to the canonical page; unknown projects are 404.
    let r = get(a, "/simple/Foo_Bar/", &[]).await;
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/simple/foo-bar/"));
    let r = get(
        a,
        "/simple/nothing/",
        &[("Accept", "application/vnd.pypi.simple.v1+json")],
    )
    .await;
    assert_eq!(r.status, 404);
    s.farm.hub.quit.cancel();
    s.server.await.unwrap().unwrap();
}

#[tokio::test]
async fn redirects() {
    let s = site().await;
    let a = s.addr;
    for (from, to) in [
        ("/project", "/packages.html"),
        ("/project/", "/packages.html"),
        ("/p/foo-bar", "/project/foo-bar/"),
        ("/p/foo-bar/", "/project/foo-bar/"),
    ] {
        let r = get(a, from, &[]).await;
        assert_eq!(r.status, 301, "{from}");
        assert_eq!(r.header("location"), Some(to), "{from}");
    }
    s.farm.hub.quit.cancel();
    s.server.await.unwrap().unwrap();
}

#[tokio::test]
async fn nothing_outside_the_root_is_served() {
    let s = site().await;
    let a = s.addr;
    let secret = s.farm.dir.path().join("secret");
    std::fs::create_dir_all(&secret).unwrap();
    std::fs::write(secret.join("key.txt"), "TOP SECRET").unwrap();
    // The database sits beside the output directory.
    for target in [
        "/../piwheels.db",
        "/simple/../../piwheels.db",
        "/%2e%2e/piwheels.db",
        "/simple/%2e%2e/%2e%2e/piwheels.db",
        "/simple/..%2f..%2fpiwheels.db",
        "/.%2e/secret/key.txt",
        "/simple/.index.html.1-1.tmp",
    ] {
        let (status, text) = raw(a, target).await;
        assert!(status == 404 || status == 400, "{target}: {status}");
        assert!(
            !text.contains("SQLite format") && !text.contains("TOP SECRET"),
            "{target}"
        );
    }
    // A symlink pointing outside the root is not followed out.
    std::os::unix::fs::symlink(&secret, s.farm.out.join("project/evil")).unwrap();
    std::os::unix::fs::symlink(secret.join("key.txt"), s.farm.out.join("evil.txt")).unwrap();
    for path in ["/project/evil/key.txt", "/evil.txt", "/project/evil/"] {
        let r = get(a, path, &[]).await;
        assert_eq!(r.status, 404, "{path}");
        assert!(!r.text().contains("TOP SECRET"));
    }
    s.farm.hub.quit.cancel();
    s.server.await.unwrap().unwrap();
}

#[tokio::test]
async fn build_logs_are_served_gzipped_or_inflated() {
    let s = site().await;
    let a = s.addr;
    let path = "/logs/0000/0000/0001.txt.gz";
    let r = get(a, path, &[("Accept-Encoding", "gzip")]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(&r.body[..])
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, "line one\nline two\n");
    // A client that does not take gzip gets the text.
    let r = get(a, path, &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.text(), "line one\nline two\n");
    let r = get(
        a,
        "/logs/0000/0000/0002.txt.gz",
        &[("Accept-Encoding", "gzip")],
    )
    .await;
    assert_eq!(r.status, 404);
    s.farm.hub.quit.cancel();
    s.server.await.unwrap().unwrap();
}

#[tokio::test]
async fn turned_off_or_taken_addresses_fail_cleanly() {
    let f = farm(|c| c.web_listen = None).await;
    assert!(WebServer::bind(f.hub.clone()).is_err());
    let s = site().await;
    let f2 = farm(|c| c.web_listen = Some(s.addr)).await;
    let e = WebServer::bind(f2.hub.clone()).unwrap_err();
    assert!(e.to_string().contains(&s.addr.to_string()), "{e}");
    s.farm.hub.quit.cancel();
    s.server.await.unwrap().unwrap();
}

/// The three tasks wired as the master wires them: a request on the hub's web queue goes
/// through the secretary to the scribe, whose page the server then serves.
#[tokio::test]
async fn secretary_scribe_and_server_together() {
    use piwheels_master::hub::supervise;
    use piwheels_master::the_secretary::TheSecretary;
    let mut f = farm(|c| c.rewrite_delay = std::time::Duration::from_secs(30)).await;
    let db = &f.hub.db;
    db.add_new_package("late-comer", "", "Arrived late")
        .await
        .unwrap();
    db.add_new_package_version("late-comer", "0.1", Some(day(1)), "")
        .await
        .unwrap();
    let w = make_wheel("late_comer", "0.1", None);
    log_build(
        db,
        "late-comer",
        "0.1",
        "cp311/linux_armv7l",
        vec![new_file(&w, None, &[])],
    )
    .await;
    place(&f.out, "late-comer", &w, true);

    let (to_scribe, scribe_inbox) = tokio::sync::mpsc::unbounded_channel();
    let web_inbox = std::mem::replace(&mut f.inboxes.web, tokio::sync::mpsc::unbounded_channel().1);
    let scribe = TheScribe::new(f.hub.clone(), scribe_inbox).unwrap();
    let secretary = TheSecretary::new(f.hub.clone(), web_inbox, to_scribe);
    let server = WebServer::bind(f.hub.clone()).unwrap();
    let addr = server.local_addr();
    let tasks = [
        supervise(scribe, f.hub.quit.clone()),
        supervise(secretary, f.hub.quit.clone()),
        supervise(server, f.hub.quit.clone()),
    ];
    f.hub.web(WebRequest::Both("late-comer".into()));
    // The scribe writes the simple page before the project page (and the root index
    // last), so the wait is for all of them.
    let simple = f.out.join("simple/late-comer/index.html");
    let project = f.out.join("project/late-comer/index.html");
    let root = f.out.join("simple/index.html");
    eventually(
        "the simple page, the project page and the root index",
        || {
            simple.exists()
                && project.exists()
                && std::fs::read_to_string(&root).is_ok_and(|t| t.contains("late-comer/"))
        },
    )
    .await;
    let r = get(addr, "/simple/", &[]).await;
    assert!(r.text().contains("late-comer/"), "{}", r.text());
    let r = get(
        addr,
        "/simple/late-comer/",
        &[("Accept", "application/vnd.pypi.simple.v1+json")],
    )
    .await;
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["files"][0]["filename"], w.filename.as_str());
    assert!(v["files"][0]["core-metadata"]["sha256"].is_string());
    let r = get(addr, "/project/late-comer/", &[]).await;
    assert!(r.text().contains("Arrived late"), "{}", r.text());
    // A second request within the window is held, and saved at shutdown.
    f.hub.web(WebRequest::Project("late-comer".into()));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    f.hub.quit.cancel();
    for t in tasks {
        t.await.unwrap();
    }
    let saved = f.hub.db.load_rewrites_pending().await.unwrap();
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].package, "late-comer");
}
