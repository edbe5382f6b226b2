//! The upstream index client and CloudGazer, against a real index served over HTTP on
//! 127.0.0.1 by the test (PEP 691 JSON and PEP 503 HTML pages it writes, with ETags), a
//! real SQLite database, and real pip for the index pip is configured with.

use crate::core_support::eventually;
use crate::index_support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use piwheels_db::Database;
use piwheels_master::MasterConfig;
use piwheels_master::cloud_gazer::{BINARY_ONLY, CloudGazer, PollReport};
use piwheels_master::hub::{Hub, Inboxes, SkipRequest, WebRequest, supervise};
use piwheels_master::upstream::{
    Fetched, FileKind, IndexClient, Pip, classify, index_url_from_config_list, parse_project_html,
};

use index_support::{Index, json_list, json_page};

// ---------------------------------------------------------------------------------------
// The master's side.

struct Farm {
    hub: Hub,
    inboxes: Inboxes,
    _dir: tempfile::TempDir,
}

async fn farm(upstream: &str, edit: impl FnOnce(&mut MasterConfig)) -> Farm {
    let dir = tempfile::tempdir().unwrap();
    let (_dsn, db, mut config) = crate::core_support::sqlite_master(dir.path()).await;
    config.upstream = Some(upstream.to_owned());
    config.upstream_poll = Duration::from_millis(100);
    edit(&mut config);
    let (hub, inboxes) = Hub::new(db, config);
    Farm {
        hub,
        inboxes,
        _dir: dir,
    }
}

fn drain_web(inboxes: &mut Inboxes) -> Vec<WebRequest> {
    let mut out = Vec::new();
    while let Ok(r) = inboxes.web.try_recv() {
        out.push(r);
    }
    out
}

fn drain_skip(inboxes: &mut Inboxes) -> Vec<SkipRequest> {
    let mut out = Vec::new();
    while let Ok(r) = inboxes.skip.try_recv() {
        out.push(r);
    }
    out
}

async fn queued(db: &Database) -> Vec<(String, String)> {
    db.build_queue(1000)
        .await
        .unwrap()
        .into_values()
        .flatten()
        .collect()
}

// ---------------------------------------------------------------------------------------
// pip and parsing.

#[test]
fn pip_index_url_comes_from_the_environment_the_configuration_or_pip_itself() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("pip.conf");
    std::fs::write(
        &conf,
        "[global]\nindex-url = http://127.0.0.1:9/configured/simple/\n",
    )
    .unwrap();
    let env = Pip::new("python3")
        .env("PIP_CONFIG_FILE", &conf)
        .env("PIP_INDEX_URL", "http://127.0.0.1:9/env/simple/");
    assert_eq!(env.index_url().unwrap(), "http://127.0.0.1:9/env/simple/");
    let configured = Pip::new("python3")
        .env("PIP_CONFIG_FILE", &conf)
        .env_remove("PIP_INDEX_URL");
    assert_eq!(
        configured.index_url().unwrap(),
        "http://127.0.0.1:9/configured/simple/"
    );
    let bare = Pip::new("python3")
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env_remove("PIP_INDEX_URL");
    assert_eq!(bare.configured_index_url().unwrap(), None);
    let default = bare.index_url().unwrap();
    assert!(default.starts_with("https://"), "{default}");
    assert!(
        default.trim_end_matches('/').ends_with("/simple"),
        "{default}"
    );
    let missing = Pip::new("/nonexistent/python3").env_remove("PIP_INDEX_URL");
    assert!(missing.index_url().is_err());
}

#[test]
fn config_list_precedence() {
    let listing = "global.index-url='http://g/simple'\ninstall.index-url='http://i/simple'\n:env:.find-links='/opt'\n";
    assert_eq!(
        index_url_from_config_list(listing).as_deref(),
        Some("http://i/simple")
    );
    let env = format!("{listing}:env:.index-url='http://e/simple'\n");
    assert_eq!(
        index_url_from_config_list(&env).as_deref(),
        Some("http://e/simple")
    );
    assert_eq!(index_url_from_config_list(":env:.cert='/x'\n"), None);
}

#[test]
fn file_names_give_kinds_and_versions() {
    let cases = [
        ("foo-bar-1.0.tar.gz", FileKind::Sdist, Some("1.0")),
        ("Foo_Bar-2.0rc1.zip", FileKind::Sdist, Some("2.0rc1")),
        ("foo_bar-1.0-py3-none-any.whl", FileKind::Wheel, Some("1.0")),
        (
            "foo_bar-1.0-1-cp311-cp311-linux_armv7l.whl",
            FileKind::Wheel,
            Some("1.0"),
        ),
        ("foo_bar-0.9-py2.7.egg", FileKind::OtherBinary, Some("0.9")),
        ("foo-bar.txt", FileKind::OtherBinary, None),
        ("broken.whl", FileKind::Wheel, None),
    ];
    for (name, kind, version) in cases {
        assert_eq!(
            classify("foo-bar", name),
            (kind, version.map(str::to_owned)),
            "{name}"
        );
    }
}

#[test]
fn html_pages_are_read_with_their_attributes() {
    let page = parse_project_html(
        "Foo",
        r#"<!DOCTYPE html><html><body><h1>Links</h1>
        <a href="x/foo-1.0.tar.gz#sha256=00" data-requires-python="&gt;=3.8">foo-1.0.tar.gz</a><br/>
        <A HREF='x/foo-0.9-py3-none-any.whl' data-yanked>foo-0.9-py3-none-any.whl</A>
        <abbr>not a link</abbr><a href="x/foo-0.8.zip" data-yanked="broken">foo-0.8.zip</a>
        </body></html>"#,
    );
    assert_eq!(page.files.len(), 3);
    assert_eq!(page.files[0].requires_python.as_deref(), Some(">=3.8"));
    assert!(!page.files[0].yanked);
    assert!(page.files[1].yanked);
    assert_eq!(page.files[1].kind, FileKind::Wheel);
    assert!(page.files[2].yanked);
    assert_eq!(page.files[2].version.as_deref(), Some("0.8"));
}

// ---------------------------------------------------------------------------------------
// The client.

#[tokio::test]
async fn client_uses_etags_and_reports_errors_as_values() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::start(dir.path());
    index.write("simple", "index.json", &json_list(&[("Foo", 1)]));
    index.write(
        "simple/foo",
        "index.json",
        &json_page(
            "Foo",
            &[("foo-1.0.tar.gz", false, Some("2024-05-01T12:00:00Z"))],
        ),
    );
    let client = IndexClient::new(&index.url, Duration::from_secs(5)).unwrap();
    let Fetched::Changed { value, etag } = client.projects(None).await.unwrap() else {
        panic!("first fetch is never unchanged")
    };
    assert_eq!(value.projects[0].name, "Foo");
    assert_eq!(value.projects[0].last_serial, Some(1));
    assert_eq!(
        client.projects(etag.as_deref()).await.unwrap(),
        Fetched::Unchanged
    );
    assert_eq!(index.not_modified.load(Ordering::SeqCst), 1);
    let Some(Fetched::Changed { value: page, .. }) = client.project("FOO", None).await.unwrap()
    else {
        panic!("the page is there")
    };
    assert_eq!(page.name, "Foo");
    assert_eq!(
        page.files[0].upload_time,
        Some(Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap())
    );
    assert_eq!(client.project("missing", None).await.unwrap(), None);
    index.write("simple/foo", "status", "503");
    let err = client.project("foo", None).await.unwrap_err();
    assert!(err.to_string().contains("503"), "{err}");
    index.write("simple/bad", "index.json", "{not json");
    assert!(client.project("bad", None).await.is_err());
    // Nothing listens here: a transport error, quickly.
    let dead = IndexClient::new("http://127.0.0.1:9/simple/", Duration::from_secs(2)).unwrap();
    assert!(dead.projects(None).await.is_err());
    assert!(IndexClient::new("ftp://x/", Duration::from_secs(1)).is_err());
}

// ---------------------------------------------------------------------------------------
// CloudGazer.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_gazer_follows_new_projects_versions_late_sdists_yanks_and_removals() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::start(dir.path());
    index.write(
        "simple",
        "index.json",
        &json_list(&[("Foo.Bar", 1), ("BinOnly", 1)]),
    );
    index.write(
        "simple/foo-bar",
        "index.json",
        &json_page(
            "Foo.Bar",
            &[
                ("foo.bar-1.0.tar.gz", false, Some("2024-05-01T12:00:00Z")),
                (
                    "foo_bar-1.0-py3-none-any.whl",
                    false,
                    Some("2024-05-01T12:05:00Z"),
                ),
            ],
        ),
    );
    index.write(
        "simple/binonly",
        "index.json",
        &json_page("BinOnly", &[("binonly-2.0-py3-none-any.whl", false, None)]),
    );
    let mut f = farm(&index.url, |_| {}).await;
    let db = f.hub.db.clone();
    let mut gazer = CloudGazer::new(f.hub.clone()).with_delete_grace(Duration::from_millis(200));

    let before = Utc::now();
    let report = gazer.poll().await.unwrap();
    assert_eq!(
        report,
        PollReport {
            pages: 2,
            new_packages: 2,
            new_versions: 2,
            ..PollReport::default()
        }
    );
    assert_eq!(
        db.display_name("foo-bar").await.unwrap().as_deref(),
        Some("Foo.Bar")
    );
    assert_eq!(
        db.version_skip("foo-bar", "1.0").await.unwrap().as_deref(),
        Some("")
    );
    assert_eq!(
        db.version_skip("binonly", "2.0").await.unwrap().as_deref(),
        Some(BINARY_ONLY)
    );
    let data = db.project_data("foo-bar").await.unwrap().unwrap();
    assert_eq!(
        data.releases["1.0"].released,
        Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
    );
    assert_eq!(data.description, "");
    let bin = db.project_data("binonly").await.unwrap().unwrap();
    assert!(
        bin.releases["2.0"].released >= before,
        "no upload time: now"
    );
    assert_eq!(
        queued(&db).await,
        [("foo-bar".to_string(), "1.0".to_string())]
    );
    let web = drain_web(&mut f.inboxes);
    assert!(web.contains(&WebRequest::Both("foo-bar".into())), "{web:?}");
    assert!(web.contains(&WebRequest::Both("binonly".into())), "{web:?}");
    tokio::time::timeout(Duration::from_secs(1), f.hub.queue_changed.notified())
        .await
        .expect("TheArchitect is woken for a new buildable version");

    // Nothing changed: the list comes back 304 and no page is read.
    let requests = index.requests.load(Ordering::SeqCst);
    let report = gazer.poll().await.unwrap();
    assert!(report.unchanged);
    assert_eq!(index.requests.load(Ordering::SeqCst), requests + 1);
    assert_eq!(index.not_modified.load(Ordering::SeqCst), 1);

    // A late sdist for the binary-only version; every file of foo-bar 1.0 yanked.
    index.write(
        "simple",
        "index.json",
        &json_list(&[("Foo.Bar", 2), ("BinOnly", 2)]),
    );
    index.write(
        "simple/binonly",
        "index.json",
        &json_page(
            "BinOnly",
            &[
                ("binonly-2.0-py3-none-any.whl", false, None),
                ("binonly-2.0.tar.gz", false, None),
            ],
        ),
    );
    index.write(
        "simple/foo-bar",
        "index.json",
        &json_page(
            "Foo.Bar",
            &[
                ("foo.bar-1.0.tar.gz", true, Some("2024-05-01T12:00:00Z")),
                (
                    "foo_bar-1.0-py3-none-any.whl",
                    true,
                    Some("2024-05-01T12:05:00Z"),
                ),
            ],
        ),
    );
    let report = gazer.poll().await.unwrap();
    assert_eq!(
        (report.enabled, report.yanked, report.pages),
        (1, 1, 2),
        "{report:?}"
    );
    assert_eq!(
        db.version_skip("binonly", "2.0").await.unwrap().as_deref(),
        Some("")
    );
    let data = db.project_data("foo-bar").await.unwrap().unwrap();
    assert!(data.releases["1.0"].yanked);
    let mut q = queued(&db).await;
    q.sort();
    assert_eq!(
        q,
        [
            ("binonly".to_string(), "2.0".to_string()),
            ("foo-bar".to_string(), "1.0".to_string())
        ]
    );

    // Only foo-bar's serial moves: only its page is read. Unyanked, 1.1 added, and the
    // page still the same otherwise.
    index.write(
        "simple",
        "index.json",
        &json_list(&[("Foo.Bar", 3), ("BinOnly", 2)]),
    );
    index.write(
        "simple/foo-bar",
        "index.json",
        &json_page(
            "Foo.Bar",
            &[
                ("foo.bar-1.0.tar.gz", false, None),
                ("foo.bar-1.1.tar.gz", false, None),
            ],
        ),
    );
    let requests = index.requests.load(Ordering::SeqCst);
    let report = gazer.poll().await.unwrap();
    assert_eq!(
        index.requests.load(Ordering::SeqCst),
        requests + 2,
        "list + one page"
    );
    assert_eq!((report.unyanked, report.new_versions), (1, 1), "{report:?}");
    assert!(!db.project_data("foo-bar").await.unwrap().unwrap().releases["1.0"].yanked);
    drain_web(&mut f.inboxes);
    drain_skip(&mut f.inboxes);

    // foo-bar 1.0 and the whole of binonly vanish.
    index.write("simple", "index.json", &json_list(&[("Foo.Bar", 4)]));
    index.remove("simple/binonly");
    index.write(
        "simple/foo-bar",
        "index.json",
        &json_page("Foo.Bar", &[("foo.bar-1.1.tar.gz", false, None)]),
    );
    // Once is no evidence: struck, nothing removed, and both pages are read again in full
    // at the next poll.
    let report = gazer.poll().await.unwrap();
    assert_eq!(
        (
            report.removed_versions,
            report.removed_packages,
            report.absent_versions,
            report.absent_packages
        ),
        (0, 0, 1, 1),
        "{report:?}"
    );
    assert_eq!(
        db.version_skip("foo-bar", "1.0").await.unwrap().as_deref(),
        Some("")
    );
    assert!(!db.package_marked_deleted("binonly").await.unwrap());
    assert!(drain_skip(&mut f.inboxes).is_empty());
    let requests = index.requests.load(Ordering::SeqCst);
    let report = gazer.poll().await.unwrap();
    assert_eq!(
        index.requests.load(Ordering::SeqCst),
        requests + 3,
        "the list, foo-bar's page and binonly's"
    );
    assert_eq!(
        (report.removed_versions, report.removed_packages),
        (1, 1),
        "{report:?}"
    );
    // At once: skipped (out of the queue), SlaveDriver and TheScribe told; the rows are
    // still there for TheScribe to find the files.
    assert_eq!(
        db.version_skip("foo-bar", "1.0").await.unwrap().as_deref(),
        Some("deleted")
    );
    assert!(db.package_marked_deleted("binonly").await.unwrap());
    let web = drain_web(&mut f.inboxes);
    assert!(
        web.contains(&WebRequest::DeleteVersion("foo-bar".into(), "1.0".into())),
        "{web:?}"
    );
    assert!(
        web.contains(&WebRequest::DeletePackage("binonly".into())),
        "{web:?}"
    );
    let skip = drain_skip(&mut f.inboxes);
    assert!(skip.contains(&SkipRequest::Version("foo-bar".into(), "1.0".into())));
    assert!(skip.contains(&SkipRequest::Package("binonly".into())));
    assert_eq!(
        queued(&db).await,
        [("foo-bar".to_string(), "1.1".to_string())]
    );
    // Then the rows go.
    eventually("the rows to be deleted", || {
        let db = db.clone();
        async move {
            !db.version_exists("foo-bar", "1.0").await.unwrap()
                && !db.package_exists("binonly").await.unwrap()
        }
    })
    .await;
    assert!(db.version_exists("foo-bar", "1.1").await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_gazer_reads_html_indexes_follows_a_list_and_survives_bad_pages() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::start(dir.path());
    index.write(
        "simple",
        "index.html",
        r#"<html><body><a href="/simple/wanted/">Wanted</a><a href="/simple/other/">other</a>
        <a href="/simple/broken/">broken</a></body></html>"#,
    );
    index.write(
        "simple/wanted",
        "index.html",
        r#"<a href="/f/wanted-1.0.tar.gz">wanted-1.0.tar.gz</a>
           <a href="/f/wanted-0.1.tar.gz" data-yanked="">wanted-0.1.tar.gz</a>"#,
    );
    index.write(
        "simple/other",
        "index.html",
        r#"<a href="/f/other-1.0.zip">other-1.0.zip</a>"#,
    );
    index.write("simple/broken", "status", "500");
    // Descriptions from a JSON API (`<api>/<name>/json`).
    index.write(
        "pypi/Wanted/json",
        "index.json",
        r#"{"info": {"summary": "Something wanted", "name": "Wanted"}}"#,
    );
    let api = index.url.replace("/simple/", "/pypi");
    let mut f = farm(&index.url, |c| {
        c.follow = Some(vec!["Wanted".into(), "broken".into()]);
        c.upstream_json = Some(api);
    })
    .await;
    let db = f.hub.db.clone();
    let mut gazer = CloudGazer::new(f.hub.clone());
    let report = gazer.poll().await.unwrap();
    assert_eq!(
        (report.new_packages, report.new_versions, report.errors),
        (1, 2, 1),
        "{report:?}"
    );
    assert!(db.package_exists("wanted").await.unwrap());
    assert!(!db.package_exists("other").await.unwrap(), "not followed");
    assert!(db.project_data("wanted").await.unwrap().unwrap().releases["0.1"].yanked);
    assert_eq!(
        db.display_name("wanted").await.unwrap().as_deref(),
        Some("Wanted")
    );
    drain_web(&mut f.inboxes);
    // The broken page's list is read again next time (its page was not read).
    std::fs::remove_file(dir.path().join("simple/broken/status")).unwrap();
    index.write(
        "simple/broken",
        "index.html",
        r#"<a href="x">broken-3.tar.gz</a>"#,
    );
    let report = gazer.poll().await.unwrap();
    assert_eq!((report.new_packages, report.errors), (1, 0), "{report:?}");
    assert!(db.version_exists("broken", "3").await.unwrap());
    assert_eq!(
        db.package_description("broken").await.unwrap().as_deref(),
        Some(""),
        "the API does not know it"
    );
    // An index that lists nothing removes nothing.
    index.write("simple", "index.html", "<html></html>");
    let report = gazer.poll().await.unwrap();
    assert_eq!(report.removed_packages, 0);
    assert!(db.package_exists("wanted").await.unwrap());
    // An index that cannot be reached is an error counted, not a failure.
    let mut f2 = farm("http://127.0.0.1:9/simple/", |_| {}).await;
    let report = CloudGazer::new(f2.hub.clone()).poll().await.unwrap();
    assert_eq!(report.errors, 1);
    assert!(drain_web(&mut f2.inboxes).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_task_polls_pauses_and_quits() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::start(dir.path());
    index.write("simple", "index.json", &json_list(&[("one", 1)]));
    index.write(
        "simple/one",
        "index.json",
        &json_page("one", &[("one-1.0.tar.gz", false, None)]),
    );
    let f = farm(&index.url, |_| {}).await;
    let db = f.hub.db.clone();
    let handle = supervise(CloudGazer::new(f.hub.clone()), f.hub.quit.clone());
    eventually("one 1.0", || {
        let db = db.clone();
        async move { db.version_exists("one", "1.0").await.unwrap() }
    })
    .await;

    f.inboxes.paused.send(true).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    index.write(
        "simple",
        "index.json",
        &json_list(&[("one", 2), ("two", 1)]),
    );
    index.write(
        "simple/two",
        "index.json",
        &json_page("two", &[("two-2.0.tar.gz", false, None)]),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !db.package_exists("two").await.unwrap(),
        "nothing is polled while paused"
    );
    f.inboxes.paused.send(false).unwrap();
    eventually("two 2.0", || {
        let db = db.clone();
        async move { db.version_exists("two", "2.0").await.unwrap() }
    })
    .await;

    f.hub.quit.cancel();
    tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .expect("the task stops when the master quits")
        .unwrap();
}
