//! Issue 14, item 4: MrChase stored `../x` as `-/x` and took `a/b`, `x y`, a tab, `..` and
//! non-ASCII names, which then sat in the database for ever since the page writer refuses
//! them; versions with `/` or `..` were handed to slaves. Now MrChase answers `ERROR`
//! saying what is wrong for every request that names one (ADDPKG, ADDVER, REMPKG, REMVER,
//! REBUILD, IMPORT, aliases), CloudGazer skips them upstream (one warning per poll, only
//! when they change) and goes on, a version that is not PEP 440 is taken only if the
//! upstream has it, and a slave is never handed a version with `/`.
//!
//! Real `ipc://` and TCP sockets, a real SQLite database, and an index served over HTTP
//! on 127.0.0.1 by the test.

use crate::core_support;
use crate::index_support;

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use piwheels_master::cloud_gazer::CloudGazer;
use piwheels_master::file_juggler::FileJuggler;
use piwheels_master::hub::{BuildQueue, Hub, Inboxes, supervise};
use piwheels_master::mr_chase::MrChase;
use piwheels_master::slave_driver::{SlaveDriver, Timing};
use piwheels_master::the_architect::TheArchitect;
use piwheels_protocol::import::{
    ImportProtocol, ImportReply, ImportRequest, RebuildTarget, RemovePackage, RemoveVersion,
};
use piwheels_protocol::slave::{
    BuiltReport, Job, SlaveHello, SlaveProtocol, SlaveReply, SlaveRequest, SlaveStats,
};
use piwheels_protocol::states::BuildState;
use piwheels_protocol::transport::asynchronous::Req;
use piwheels_protocol::transport::{SocketOptions, zmq};
use serde_json::json;
use tracing::instrument::WithSubscriber;

use core_support::{addpkg, addver};
use index_support::Index;

const WAIT: Duration = Duration::from_secs(20);

/// The names the issue lists, and other ways to break the rule.
const BAD_NAMES: &[&str] = &[
    "../x", "-/x", "a/b", "x y", "x\ty", "\tx", "x ", "..", "café", "a\\b", "-x", "x\u{1}", "",
];

/// Versions with path separators, `..`, whitespace and control characters.
const BAD_VERSIONS: &[&str] = &[
    "1.0/../x", "1/2", "..", ".", "1..2", "1 0", "1.0\t", " 1.0", "1\n", "1\u{1}", "1\\2", "1é",
];

// ---------------------------------------------------------------------------------------
// MrChase.

struct Chase {
    hub: Hub,
    _inboxes: Inboxes,
    req: Req<ImportProtocol>,
    _dir: tempfile::TempDir,
}

async fn chase(upstream: &str) -> Chase {
    let dir = tempfile::tempdir().unwrap();
    let (_dsn, db, mut config) = crate::core_support::sqlite_master(dir.path()).await;
    let endpoint = format!("ipc://{}", dir.path().join("import").display());
    config.import_queue = endpoint.clone();
    config.upstream = Some(upstream.to_owned());
    let (hub, inboxes) = Hub::new(db, config);
    supervise(MrChase::bind(hub.clone()).unwrap(), hub.quit.clone());
    let ctx = zmq::Context::new();
    let req = Req::connect(&ctx, &endpoint, &SocketOptions::new()).unwrap();
    Chase {
        hub,
        _inboxes: inboxes,
        req,
        _dir: dir,
    }
}

impl Chase {
    async fn ask(&mut self, request: ImportRequest) -> ImportReply {
        tokio::time::timeout(WAIT, self.req.request(&request))
            .await
            .unwrap_or_else(|_| panic!("MrChase answers {request:?}"))
            .unwrap()
    }

    /// The `ERROR` text of the answer, which must be one.
    async fn refused(&mut self, request: ImportRequest) -> String {
        match self.ask(request.clone()).await {
            ImportReply::Error(why) => why,
            other => panic!("{request:?}: expected ERROR, got {other:?}"),
        }
    }
}

fn remver(package: &str, version: &str) -> RemoveVersion {
    RemoveVersion {
        package: package.into(),
        version: version.into(),
        builds: false,
        skip: String::new(),
        yank: false,
    }
}

fn import(package: &str, version: &str) -> BuildState {
    BuildState {
        slave_id: 0,
        package: package.into(),
        version: version.into(),
        abi_tag: "cp311".into(),
        status: true,
        duration: TimeDelta::seconds(1),
        output: String::new(),
        files: vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mr_chase_refuses_hostile_names_and_versions_saying_why() {
    let mut c = chase("http://127.0.0.1:9/simple/").await;
    for bad in BAD_NAMES {
        let why = c.refused(ImportRequest::AddPackage(addpkg(bad))).await;
        assert!(why.contains("package name"), "ADDPKG {bad:?}: {why}");
        let why = c
            .refused(ImportRequest::AddVersion(addver(bad, "1.0")))
            .await;
        assert!(why.contains("package name"), "ADDVER {bad:?}: {why}");
        let why = c
            .refused(ImportRequest::RemovePackage(RemovePackage {
                package: (*bad).into(),
                builds: false,
                skip: String::new(),
            }))
            .await;
        assert!(why.contains("package name"), "REMPKG {bad:?}: {why}");
        let why = c
            .refused(ImportRequest::RemoveVersion(remver(bad, "1.0")))
            .await;
        assert!(why.contains("package name"), "REMVER {bad:?}: {why}");
        for target in [
            RebuildTarget::Project(Some((*bad).into())),
            RebuildTarget::Both(Some((*bad).into())),
        ] {
            let why = c.refused(ImportRequest::Rebuild(target)).await;
            assert!(why.contains("package name"), "REBUILD {bad:?}: {why}");
        }
        let why = c.refused(ImportRequest::Import(import(bad, "1.0"))).await;
        assert!(why.contains("package name"), "IMPORT {bad:?}: {why}");
    }
    // What is wrong, in words.
    for (bad, says) in [
        ("../x", "contains the path separator '/'"),
        ("a/b", "contains the path separator '/'"),
        ("x y", "contains the whitespace ' '"),
        ("x\ty", "contains the whitespace '\\t'"),
        ("..", "starts with '.'"),
        ("café", "contains the non-ASCII character 'é'"),
    ] {
        let why = c.refused(ImportRequest::AddPackage(addpkg(bad))).await;
        assert!(why.contains(says), "{bad:?}: {why}");
    }

    // Odd but legal names.
    for (name, key) in [
        ("zope.interface", "zope-interface"),
        ("Foo_Bar", "foo-bar"),
        ("a", "a"),
        ("1", "1"),
    ] {
        assert_eq!(
            c.ask(ImportRequest::AddPackage(addpkg(name))).await,
            ImportReply::Done("NEWPKG".into()),
            "{name}"
        );
        assert_eq!(
            c.hub.db.display_name(key).await.unwrap().as_deref(),
            Some(name)
        );
    }
    let mut alias = addpkg("a");
    alias.aliases = vec!["a/b".into()];
    let why = c.refused(ImportRequest::AddPackage(alias)).await;
    assert!(why.contains("alias") && why.contains("'/'"), "{why}");

    for bad in BAD_VERSIONS {
        let why = c.refused(ImportRequest::AddVersion(addver("a", bad))).await;
        assert!(why.contains("version"), "ADDVER a {bad:?}: {why}");
        let why = c
            .refused(ImportRequest::RemoveVersion(remver("a", bad)))
            .await;
        assert!(why.contains("version"), "REMVER a {bad:?}: {why}");
        let why = c.refused(ImportRequest::Import(import("a", bad))).await;
        assert!(why.contains("version"), "IMPORT a {bad:?}: {why}");
    }
    let why = c
        .refused(ImportRequest::AddVersion(addver("a", "1.0/../x")))
        .await;
    assert!(why.contains("path separator '/'"), "{why}");

    // Nothing of it reached the database, and MrChase still serves.
    let db = &c.hub.db;
    assert_eq!(
        db.all_packages()
            .await
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        ["1", "a", "foo-bar", "zope-interface"]
    );
    assert!(db.all_package_versions().await.unwrap().is_empty());
    assert_eq!(
        c.ask(ImportRequest::AddVersion(addver("Zope.Interface", "5.0")))
            .await,
        ImportReply::Done("NEWVER".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_that_is_not_pep440_needs_the_upstream_to_list_it() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::start(dir.path());
    index.write(
        "simple/foo-bar",
        "index.json",
        &index_support::json_page(
            "Foo.Bar",
            &[
                ("foo.bar-2004d.tar.gz", false, None),
                ("foo_bar-1.0-py3-none-any.whl", false, None),
            ],
        ),
    );
    let mut c = chase(&index.url).await;
    assert_eq!(
        c.ask(ImportRequest::AddPackage(addpkg("Foo_Bar"))).await,
        ImportReply::Done("NEWPKG".into())
    );
    // Listed upstream: taken.
    assert_eq!(
        c.ask(ImportRequest::AddVersion(addver("foo_bar", "2004d")))
            .await,
        ImportReply::Done("NEWVER".into())
    );
    // Not listed: refused, saying why.
    let why = c
        .refused(ImportRequest::AddVersion(addver("foo-bar", "2005x")))
        .await;
    assert!(
        why.contains("\"2005x\"")
            && why.contains("not a PEP 440 version")
            && why.contains("does not list it"),
        "{why}"
    );
    // A PEP 440 version needs no upstream; an existing one is updated without asking.
    assert_eq!(
        c.ask(ImportRequest::AddVersion(addver("foo-bar", "1.1")))
            .await,
        ImportReply::Done("NEWVER".into())
    );
    let mut unskip = addver("foo-bar", "2004d");
    unskip.unskip = true;
    index.remove("simple/foo-bar");
    assert_eq!(
        c.ask(ImportRequest::AddVersion(unskip)).await,
        ImportReply::Done("UPDVER".into())
    );
    let versions: BTreeSet<(String, String)> = c.hub.db.all_package_versions().await.unwrap();
    assert_eq!(
        versions,
        BTreeSet::from([
            ("foo-bar".to_owned(), "1.1".to_owned()),
            ("foo-bar".to_owned(), "2004d".to_owned())
        ])
    );

    // An index that cannot be asked: refused, saying so.
    let mut dead = chase("http://127.0.0.1:9/simple/").await;
    dead.ask(ImportRequest::AddPackage(addpkg("foo-bar"))).await;
    let why = dead
        .refused(ImportRequest::AddVersion(addver("foo-bar", "2004d")))
        .await;
    assert!(why.contains("could not be asked"), "{why}");
}

// ---------------------------------------------------------------------------------------
// CloudGazer.

/// What a subscriber wrote, for the warnings a poll gives.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// The lines written since the last call that contain `what`.
    fn take(&self, what: &str) -> Vec<String> {
        let text = String::from_utf8(std::mem::take(&mut *self.0.lock().unwrap())).unwrap();
        text.lines()
            .filter(|l| l.contains(what))
            .map(str::to_owned)
            .collect()
    }
}

/// A project list of these names (JSON-escaped, whatever they hold).
fn list(projects: &[(&str, i64)]) -> String {
    json!({
        "meta": {"api-version": "1.1", "_last-serial": projects.iter().map(|p| p.1).max()},
        "projects": projects.iter().map(|(n, s)| json!({"name": n, "_last-serial": s})).collect::<Vec<_>>(),
    })
    .to_string()
}

/// A project page of these files.
fn page(name: &str, files: &[&str]) -> String {
    json!({
        "meta": {"api-version": "1.1"},
        "name": name,
        "files": files.iter().map(|f| json!({"filename": f, "url": format!("../../files/{f}"), "hashes": {}})).collect::<Vec<_>>(),
    })
    .to_string()
}

/// The bad names an upstream list can give: a list's names are read without the
/// whitespace around them, and an empty one is no name at all.
fn upstream_bad_names() -> impl Iterator<Item = &'static str> {
    BAD_NAMES
        .iter()
        .copied()
        .filter(|n| piwheels_db::names::validate_name(n.trim()).is_err() && !n.trim().is_empty())
}

/// The upstream list: two good projects and every bad name of the issue.
fn hostile_list(serial: i64, extra: &[&str]) -> String {
    let mut projects: Vec<(&str, i64)> = vec![("hostile", serial), ("Zope.Interface", 1)];
    projects.extend(upstream_bad_names().map(|n| (n, 1)));
    projects.extend(extra.iter().map(|n| (*n, 1)));
    list(&projects)
}

/// hostile's files: two good versions (one not PEP 440) and five bad ones.
const HOSTILE_FILES: &[&str] = &[
    "hostile-1.0.tar.gz",
    "hostile-2004d.tar.gz",
    "hostile-1.0/../x.tar.gz",
    "hostile-2.0 x.tar.gz",
    "hostile-3\u{1}.tar.gz",
    "hostile-...tar.gz",
    "hostile-4\\5.tar.gz",
    "hostile-1.0/../x-py3-none-any.whl",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_gazer_skips_hostile_names_and_versions_says_so_once_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::start(dir.path());
    index.write("simple", "index.json", &hostile_list(1, &[]));
    index.write(
        "simple/hostile",
        "index.json",
        &page("hostile", HOSTILE_FILES),
    );
    index.write(
        "simple/zope-interface",
        "index.json",
        &page("Zope.Interface", &["zope.interface-5.0.tar.gz"]),
    );
    let mut env = core_support::Env::new().await;
    env.config.upstream = Some(index.url.clone());
    env.config.follow = None;
    let (hub, _inboxes) = env.hub().await;
    let db = hub.db.clone();
    // The farm's own packages are gone upstream: their removal is not what this is about.
    for p in ["foo", "bar"] {
        db.delete_package(p).await.unwrap();
    }
    let mut gazer = CloudGazer::new(hub.clone());
    let captured = Captured::default();
    let subscriber = {
        let captured = captured.clone();
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::WARN)
            .with_writer(move || captured.clone())
            .finish()
    };
    let dispatch = tracing::Dispatch::new(subscriber);

    let report = gazer
        .poll()
        .with_subscriber(dispatch.clone())
        .await
        .unwrap();
    let bad_names = upstream_bad_names().count();
    assert_eq!(report.refused_names, bad_names, "{report:?}");
    assert_eq!(report.refused_versions, 5, "{report:?}");
    assert_eq!(
        (report.new_packages, report.new_versions),
        (2, 3),
        "{report:?}"
    );
    assert_eq!(report.not_pep440, 1, "{report:?}");
    assert_eq!(report.errors, 0, "{report:?}");
    assert_eq!(
        db.all_packages()
            .await
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        ["hostile", "zope-interface"]
    );
    assert_eq!(
        db.all_package_versions().await.unwrap(),
        BTreeSet::from([
            ("hostile".to_owned(), "1.0".to_owned()),
            ("hostile".to_owned(), "2004d".to_owned()),
            ("zope-interface".to_owned(), "5.0".to_owned()),
        ])
    );
    // One line each, however many there were.
    let names = captured.take("");
    let said = |what: &str| names.iter().filter(|l| l.contains(what)).count();
    assert_eq!(said("names break the package name rule"), 1, "{names:#?}");
    assert_eq!(
        said("versions that break the version rule"),
        1,
        "{names:#?}"
    );
    assert_eq!(said("not PEP 440"), 1, "{names:#?}");
    assert_eq!(names.len(), 3, "{names:#?}");
    let line = names
        .iter()
        .find(|l| l.contains("package name rule"))
        .unwrap();
    assert!(line.contains(&format!("count={bad_names}")), "{line}");

    // The same garbage again (the list and the page changed for other reasons): counted,
    // not said again.
    index.write("simple", "index.json", &hostile_list(2, &[]));
    let mut files = HOSTILE_FILES.to_vec();
    files.push("hostile-5.0.tar.gz");
    index.write("simple/hostile", "index.json", &page("hostile", &files));
    let report = gazer
        .poll()
        .with_subscriber(dispatch.clone())
        .await
        .unwrap();
    assert_eq!(
        (
            report.refused_names,
            report.refused_versions,
            report.new_versions
        ),
        (bad_names, 5, 1),
        "{report:?}"
    );
    assert!(captured.take("").is_empty(), "nothing new to say");

    // New garbage is said.
    index.write("simple", "index.json", &hostile_list(3, &["y/z"]));
    files.push("hostile-6 0.tar.gz");
    index.write("simple/hostile", "index.json", &page("hostile", &files));
    let report = gazer.poll().with_subscriber(dispatch).await.unwrap();
    assert_eq!(
        (report.refused_names, report.refused_versions),
        (bad_names + 1, 6),
        "{report:?}"
    );
    let lines = captured.take("");
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("package name rule")
                && l.contains(&format!("count={}", bad_names + 1))),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("versions that break") && l.contains("count=6")),
        "{lines:#?}"
    );
    assert_eq!(db.all_package_versions().await.unwrap().len(), 4);
}

// ---------------------------------------------------------------------------------------
// Slaves.

fn stats() -> SlaveStats {
    SlaveStats {
        timestamp: Utc::now(),
        disk_size: 1 << 30,
        disk_free: 1 << 29,
        mem_size: 1 << 30,
        mem_free: 1 << 29,
        swap_size: 0,
        swap_free: 0,
        load_average: 0.5,
        cpu_temp: 0.0,
    }
}

async fn ask(req: &mut Req<SlaveProtocol>, msg: SlaveRequest) -> SlaveReply {
    req.send(&msg).await.unwrap();
    tokio::time::timeout(WAIT, req.recv())
        .await
        .unwrap_or_else(|_| panic!("no reply to {msg:?}"))
        .unwrap()
}

/// Upstream offers versions with `/`, `..`, whitespace and control characters, and an
/// admin tries to add one with `/`: a slave that asks for work until there is none is
/// handed only the clean ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_with_a_slash_is_never_handed_to_a_slave() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::start(dir.path());
    index.write(
        "simple",
        "index.json",
        &list(&[("foo", 1), ("bar", 1), ("hostile", 1), ("../x", 1)]),
    );
    for p in ["foo", "bar"] {
        index.write(
            &format!("simple/{p}"),
            "index.json",
            &page(p, &[&format!("{p}-1.0.tar.gz")]),
        );
    }
    index.write(
        "simple/hostile",
        "index.json",
        &page("hostile", HOSTILE_FILES),
    );
    let mut env = core_support::Env::new().await;
    env.config.upstream = Some(index.url.clone());
    env.config.follow = None;
    let (hub, inboxes) = env.hub().await;
    let juggler = FileJuggler::bind(hub.clone(), inboxes.fs).unwrap();
    let driver = SlaveDriver::bind(hub.clone(), inboxes.skip, inboxes.slave_commands)
        .unwrap()
        .with_timing(Timing {
            idle_hold: Duration::ZERO,
            check_interval: Duration::from_millis(100),
            ..Timing::default()
        });
    let slaves = driver.endpoint().to_owned();
    supervise(juggler, hub.quit.clone());
    supervise(driver, hub.quit.clone());
    supervise(
        TheArchitect::new(hub.clone(), inboxes.queue),
        hub.quit.clone(),
    );
    supervise(MrChase::bind(hub.clone()).unwrap(), hub.quit.clone());

    CloudGazer::new(hub.clone()).poll().await.unwrap();
    let ctx = zmq::Context::new();
    let mut admin = Req::<ImportProtocol>::connect(
        &ctx,
        &env.config.import_queue,
        &SocketOptions::new().linger(Some(Duration::ZERO)),
    )
    .unwrap();
    let reply = tokio::time::timeout(
        WAIT,
        admin.request(&ImportRequest::AddVersion(addver("hostile", "7.0/../y"))),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(
        matches!(&reply, ImportReply::Error(why) if why.contains("'/'")),
        "{reply:?}"
    );

    let expected: BTreeSet<(String, String)> = [
        ("bar", "1.0"),
        ("foo", "1.0"),
        ("hostile", "1.0"),
        ("hostile", "2004d"),
    ]
    .into_iter()
    .map(|(p, v)| (p.to_owned(), v.to_owned()))
    .collect();
    hub.queue_changed.notify_one();
    let mut queue = hub.queue.clone();
    tokio::time::timeout(
        WAIT,
        queue.wait_for(|q: &Arc<BuildQueue>| {
            q.values().flatten().cloned().collect::<BTreeSet<_>>() == expected
        }),
    )
    .await
    .expect("the build queue holds the clean versions")
    .unwrap();

    let mut req = Req::<SlaveProtocol>::connect(
        &ctx,
        &slaves,
        &SocketOptions::new().linger(Some(Duration::ZERO)),
    )
    .unwrap();
    let hello = SlaveHello {
        build_timeout: TimeDelta::hours(3),
        busy_timeout: TimeDelta::minutes(5),
        py_version: "311".into(),
        abi: "cp311".into(),
        platform: core_support::target().platform,
        label: "test-slave".into(),
        os_name: "Debian GNU/Linux".into(),
        os_version: "12 (bookworm)".into(),
        board_revision: "unknown".into(),
        board_serial: "unknown".into(),
    };
    assert!(matches!(
        ask(&mut req, SlaveRequest::Hello(hello)).await,
        SlaveReply::Ack(_)
    ));
    let mut handed = BTreeSet::new();
    for _ in 0..20 {
        match ask(&mut req, SlaveRequest::Idle(stats())).await {
            SlaveReply::Build(Job { package, version }) => {
                assert!(
                    piwheels_db::names::validate_version(&version).is_ok(),
                    "a slave was handed {package} {version:?}"
                );
                handed.insert((package, version));
                let done = ask(
                    &mut req,
                    SlaveRequest::Built(BuiltReport {
                        status: false,
                        duration: TimeDelta::seconds(1),
                        output: "failed on purpose".into(),
                        files: vec![],
                    }),
                )
                .await;
                assert_eq!(done, SlaveReply::Done);
            }
            SlaveReply::Sleep(_) if handed == expected => break,
            SlaveReply::Sleep(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(handed, expected);
    hub.quit.cancel();
}
