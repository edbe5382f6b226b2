//! Issue 16, item 2: the changelog mode (`--pypi-xmlrpc`). Against the PyPI-sized
//! generator over HTTP on 127.0.0.1 (simple index, XML-RPC changelog) and a real SQLite
//! database: a new farm is brought in line by the diff from the changelog's serial; then
//! each poll asks the changelog and reads only the pages it names, with no project list;
//! a restart with nothing new asks the changelog once; a changelog that cannot be read
//! falls back to the diff (or, rate limited, waits); a removal needs two looks; and the
//! serial never goes backwards, whatever the changelog says.

use std::time::Duration;

use piwheels_db::Database;
use piwheels_master::MasterConfig;
use piwheels_master::cloud_gazer::CloudGazer;
use piwheels_master::hub::{Hub, Inboxes};

use crate::pypi_sim::{PypiSim, Requests, XmlRpcFailure};

const PROJECTS: usize = 2_000;

struct Farm {
    sim: PypiSim,
    db: Database,
    config: MasterConfig,
    _dir: tempfile::TempDir,
}

impl Farm {
    async fn new(seed: u64) -> Farm {
        let sim = PypiSim::start(PROJECTS, seed);
        let dir = tempfile::tempdir().unwrap();
        let (_dsn, db, mut config) = crate::core_support::sqlite_master(dir.path()).await;
        config.upstream = Some(sim.simple_url());
        config.upstream_xmlrpc = Some(sim.xmlrpc_url());
        config.upstream_poll = Duration::from_secs(3600);
        config.upstream_timeout = Duration::from_secs(10);
        Farm {
            sim,
            db,
            config,
            _dir: dir,
        }
    }

    /// A master's CloudGazer (a new one is a restart); the inboxes stay alive with it.
    fn gazer(&self) -> (CloudGazer, Inboxes) {
        let (hub, inboxes) = Hub::new(self.db.clone(), self.config.clone());
        (CloudGazer::new(hub), inboxes)
    }

    /// The requests since `before`.
    fn since(&self, before: Requests) -> Requests {
        self.sim.requests() - before
    }

    async fn in_line(&self) {
        let stored = self.db.all_package_versions().await.unwrap();
        assert_eq!(
            stored,
            self.sim.versions(),
            "the database has what upstream has"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_farm_syncs_by_the_diff_then_follows_the_changelog() {
    let f = Farm::new(21).await;
    let start = f.sim.last_serial();
    let (mut gazer, _inboxes) = f.gazer();
    let first = gazer.poll().await.unwrap();
    assert_eq!(
        (first.errors, first.new_packages),
        (0, PROJECTS),
        "{first:?}"
    );
    let seen = f.since(Requests::default());
    assert_eq!(
        (seen.xmlrpc, seen.list, seen.page),
        (1, 1, PROJECTS),
        "{seen:?}"
    );
    f.in_line().await;
    assert_eq!(
        f.db.upstream_serial().await.unwrap(),
        start,
        "the changelog's serial"
    );

    // Changes: the changelog names them, only their pages are read, no list.
    let changed = f.sim.change(25);
    let before = f.sim.requests();
    let report = gazer.poll().await.unwrap();
    let seen = f.since(before);
    assert_eq!(seen.list, 0, "{seen:?}");
    assert_eq!(seen.page, changed.len(), "{seen:?}");
    assert!(seen.xmlrpc <= 2, "{seen:?}");
    assert_eq!(report.new_versions, changed.len(), "{report:?}");
    assert!(report.events > 0, "{report:?}");
    f.in_line().await;
    assert_eq!(f.db.upstream_serial().await.unwrap(), f.sim.last_serial());

    // Nothing new: one changelog call, nothing else.
    let before = f.sim.requests();
    let report = gazer.poll().await.unwrap();
    assert!(report.unchanged, "{report:?}");
    let seen = f.since(before);
    assert_eq!((seen.xmlrpc, seen.list, seen.page), (1, 0, 0), "{seen:?}");

    // A restart with nothing new: the same.
    drop(gazer);
    let (mut gazer, _inboxes2) = f.gazer();
    let before = f.sim.requests();
    let report = gazer.poll().await.unwrap();
    assert!(report.unchanged, "{report:?}");
    let seen = f.since(before);
    assert_eq!((seen.xmlrpc, seen.list, seen.page), (1, 0, 0), "{seen:?}");

    // A restart after changes: the changelog, and those pages.
    drop(gazer);
    let changed = f.sim.change(10);
    let (mut gazer, _inboxes3) = f.gazer();
    let before = f.sim.requests();
    gazer.poll().await.unwrap();
    let seen = f.since(before);
    assert_eq!((seen.list, seen.page), (0, changed.len()), "{seen:?}");
    f.in_line().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changelog_that_cannot_be_read_falls_back_to_the_diff() {
    let f = Farm::new(22).await;
    let (mut gazer, _inboxes) = f.gazer();
    gazer.poll().await.unwrap();
    let serial = f.db.upstream_serial().await.unwrap();
    for failure in [
        XmlRpcFailure::Status(500),
        XmlRpcFailure::Fault(-32601),
        XmlRpcFailure::Body {
            content_type: "text/html",
            body: b"<html><body>Service Unavailable</body></html>".to_vec(),
        },
    ] {
        f.sim.fail_xmlrpc(Some(failure.clone()));
        let changed = f.sim.change(5);
        let before = f.sim.requests();
        let report = gazer.poll().await.unwrap();
        let seen = f.since(before);
        assert_eq!(seen.list, 1, "{failure:?}: the diff instead ({seen:?})");
        assert_eq!(seen.page, changed.len(), "{failure:?}: {seen:?}");
        assert_eq!(
            report.new_versions,
            changed.len(),
            "{failure:?}: {report:?}"
        );
        assert!(report.errors >= 1, "{report:?}");
        f.in_line().await;
        assert_eq!(
            f.db.upstream_serial().await.unwrap(),
            serial,
            "not moved by the diff"
        );
    }
    // Rate limited: no diff on top of it; the poll says the upstream is failing.
    f.sim.fail_xmlrpc(Some(XmlRpcFailure::Fault(-32500)));
    let before = f.sim.requests();
    let report = gazer.poll().await.unwrap();
    assert!(report.failing, "{report:?}");
    let seen = f.since(before);
    assert_eq!((seen.xmlrpc, seen.list, seen.page), (1, 0, 0), "{seen:?}");
    // Back: the changelog from the stored serial; the pages the diff read are not read again.
    f.sim.fail_xmlrpc(None);
    let before = f.sim.requests();
    gazer.poll().await.unwrap();
    let seen = f.since(before);
    assert_eq!((seen.list, seen.page), (0, 0), "{seen:?}");
    assert_eq!(f.db.upstream_serial().await.unwrap(), f.sim.last_serial());
    f.in_line().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_removed_in_the_changelog_goes_after_a_second_look() {
    let f = Farm::new(23).await;
    let (mut gazer, _inboxes) = f.gazer();
    gazer.poll().await.unwrap();
    let victim = f.sim.project(7).unwrap().canonical;
    assert!(f.sim.remove(7));
    let report = gazer.poll().await.unwrap();
    assert_eq!(
        (report.absent_packages, report.removed_packages),
        (1, 0),
        "{report:?}"
    );
    assert!(!f.db.package_marked_deleted(&victim).await.unwrap());
    // Held back before the removal: a restart would read it again.
    assert!(f.db.upstream_serial().await.unwrap() < f.sim.last_serial());
    let report = gazer.poll().await.unwrap();
    assert_eq!(report.removed_packages, 1, "{report:?}");
    assert!(f.db.package_marked_deleted(&victim).await.unwrap());
    assert_eq!(f.db.upstream_serial().await.unwrap(), f.sim.last_serial());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_serial_never_goes_backwards_whatever_the_changelog_says() {
    let f = Farm::new(24).await;
    let (mut gazer, _inboxes) = f.gazer();
    gazer.poll().await.unwrap();
    let serial = f.db.upstream_serial().await.unwrap();
    let victim = f.sim.project(3).unwrap();
    // Events from before the serial, and one a billion serials past it.
    let row = |name: &str, serial: i64| {
        format!(
            "<value><array><data><value><string>{name}</string></value><value><nil/></value>\
             <value><int>1700000000</int></value><value><string>create</string></value>\
             <value><int>{serial}</int></value></data></array></value>"
        )
    };
    let body = format!(
        "<?xml version='1.0'?><methodResponse><params><param><value><array><data>{}{}{}\
         </data></array></value></param></params></methodResponse>",
        row(&victim.name, serial - 5),
        row(&victim.name, 1),
        row(&victim.name, serial + 1_000_000_000),
    );
    f.sim.fail_xmlrpc(Some(XmlRpcFailure::Body {
        content_type: "text/xml",
        body: body.into_bytes(),
    }));
    let before = f.sim.requests();
    let report = gazer.poll().await.unwrap();
    assert_eq!(report.refused_events, 3, "{report:?}");
    assert_eq!(f.since(before).page, 0);
    assert_eq!(f.db.upstream_serial().await.unwrap(), serial);
    assert!(f.db.set_upstream_serial(serial - 1).await.is_err());
    f.sim.fail_xmlrpc(None);
}
