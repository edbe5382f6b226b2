//! CloudGazer's upstream state (each project's serial and ETag, the list's ETag) lives in
//! the database: a master restarted with nothing new upstream reads the project list and
//! no project page, and one stopped in the middle of a poll reads again only the pages it
//! had not applied, ending where a clean sync ends. Against a real index served over HTTP
//! on 127.0.0.1 and a real SQLite database, reopened for each restart.

use crate::core_support::eventually;
use crate::index_support;

use std::collections::BTreeMap;

use piwheels_db::{Database, UpstreamProject};
use piwheels_master::MasterConfig;
use piwheels_master::cloud_gazer::{CloudGazer, PollReport};
use piwheels_master::hub::{Hub, Inboxes};

use index_support::{Index, json_list, json_page};

/// A master's database and configuration, which outlive its CloudGazers.
struct Farm {
    dsn: String,
    config: MasterConfig,
    _dir: tempfile::TempDir,
}

impl Farm {
    async fn new(upstream: &str) -> Farm {
        let dir = tempfile::tempdir().unwrap();
        let (dsn, _db, mut config) = crate::core_support::sqlite_master(dir.path()).await;
        config.upstream = Some(upstream.to_owned());
        Farm {
            dsn,
            config,
            _dir: dir,
        }
    }

    /// A master (re)started: the database opened again, a new CloudGazer.
    async fn start(&self) -> (CloudGazer, Hub, Inboxes) {
        let db = Database::open(&self.dsn).await.unwrap();
        let (hub, inboxes) = Hub::new(db, self.config.clone());
        (CloudGazer::new(hub.clone()), hub, inboxes)
    }
}

/// `count` projects `p0`, `p1`, ... at serial 1, each with an sdist and a wheel of 1.0.
fn upstream(index: &Index, count: usize) -> Vec<String> {
    let names: Vec<String> = (0..count).map(|i| format!("p{i}")).collect();
    let list: Vec<(&str, i64)> = names.iter().map(|n| (n.as_str(), 1)).collect();
    index.write("simple", "index.json", &json_list(&list));
    for n in &names {
        write_page(index, n, &["1.0"]);
    }
    names
}

fn write_page(index: &Index, name: &str, versions: &[&str]) {
    let files: Vec<String> = versions
        .iter()
        .flat_map(|v| {
            [
                format!("{name}-{v}.tar.gz"),
                format!("{name}-{v}-py3-none-any.whl"),
            ]
        })
        .collect();
    let files: Vec<(&str, bool, Option<&str>)> = files
        .iter()
        .map(|f| (f.as_str(), false, Some("2024-05-01T12:00:00Z")))
        .collect();
    index.write(
        &format!("simple/{name}"),
        "index.json",
        &json_page(name, &files),
    );
}

/// Everything a sync leaves in the database: each package's versions with their skips and
/// yanked states, and the stored upstream state.
async fn end_state(
    db: &Database,
) -> (
    BTreeMap<String, Vec<(String, String, bool)>>,
    Vec<UpstreamProject>,
) {
    let mut packages = BTreeMap::new();
    for p in db.all_packages().await.unwrap() {
        let data = db.project_data(&p).await.unwrap().unwrap();
        let versions = data
            .releases
            .iter()
            .map(|(v, r)| (v.clone(), r.skip.clone(), r.yanked))
            .collect();
        packages.insert(p, versions);
    }
    let mut state = db.upstream_projects().await.unwrap();
    state.sort_by(|a, b| a.package.cmp(&b.package));
    (packages, state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_nothing_new_reads_the_list_and_no_page() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::start(dir.path());
    let names = upstream(&index, 5);
    let farm = Farm::new(&index.url).await;
    let (mut gazer, _hub, _inboxes) = farm.start().await;
    let report = gazer.poll().await.unwrap();
    assert_eq!((report.pages, report.new_packages), (5, 5), "{report:?}");
    drop(gazer);

    // Restarted, nothing new: the list (not modified) and no page.
    let (mut gazer, _hub, _inboxes) = farm.start().await;
    let before = index.paths.lock().unwrap().len();
    let report = gazer.poll().await.unwrap();
    assert_eq!(
        report,
        PollReport {
            unchanged: true,
            ..PollReport::default()
        }
    );
    assert_eq!(index.paths_since(before), ["/simple/"]);
    drop(gazer);

    // Restarted after one project changed: the list and that one page.
    index.write(
        "simple",
        "index.json",
        &json_list(
            &names
                .iter()
                .map(|n| (n.as_str(), if n == "p2" { 2 } else { 1 }))
                .collect::<Vec<_>>(),
        ),
    );
    write_page(&index, "p2", &["1.0", "1.1"]);
    let (mut gazer, _hub, _inboxes) = farm.start().await;
    let before = index.paths.lock().unwrap().len();
    let report = gazer.poll().await.unwrap();
    assert_eq!((report.pages, report.new_versions), (1, 1), "{report:?}");
    assert_eq!(index.paths_since(before), ["/simple/", "/simple/p2/"]);
    drop(gazer);

    // And once more with nothing new: the list's new ETag was kept too.
    let (mut gazer, _hub, _inboxes) = farm.start().await;
    let before = index.paths.lock().unwrap().len();
    assert!(gazer.poll().await.unwrap().unchanged);
    assert_eq!(index.paths_since(before), ["/simple/"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_stopped_half_way_reads_again_only_the_pages_it_had_not_applied() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::start(dir.path());
    let names = upstream(&index, 12);
    // The upstream keeps one page unanswered until the poll is stopped.
    index.write("simple/p5", "hold", "");
    let farm = Farm::new(&index.url).await;
    let (mut gazer, hub, _inboxes) = farm.start().await;
    let poll = tokio::spawn(async move { gazer.poll().await });
    let db = hub.db.clone();
    eventually("the state of the 11 pages answered to be stored", || {
        let db = db.clone();
        async move { db.upstream_projects().await.unwrap().len() == 11 }
    })
    .await;
    // Killed in the middle of the poll: its future dropped where it waits for the page.
    poll.abort();
    assert!(poll.await.unwrap_err().is_cancelled());
    drop(hub);
    assert!(!db.package_exists("p5").await.unwrap());
    assert_eq!(db.all_packages().await.unwrap().len(), 11);
    index.remove_file("simple/p5", "hold");

    // Restarted: the list, and only the page it had not applied.
    let (mut gazer, hub, _inboxes) = farm.start().await;
    let before = index.paths.lock().unwrap().len();
    let report = gazer.poll().await.unwrap();
    assert_eq!((report.pages, report.new_packages), (1, 1), "{report:?}");
    assert_eq!(index.paths_since(before), ["/simple/", "/simple/p5/"]);
    // Done: the next poll finds nothing to do.
    let before = index.paths.lock().unwrap().len();
    assert!(gazer.poll().await.unwrap().unchanged);
    assert_eq!(index.paths_since(before), ["/simple/"]);

    // The same end as a clean sync of the same upstream.
    let clean = Farm::new(&index.url).await;
    let (mut fresh, clean_hub, _clean_inboxes) = clean.start().await;
    let report = fresh.poll().await.unwrap();
    assert_eq!(report.pages, names.len(), "{report:?}");
    let (resumed, clean) = (end_state(&hub.db).await, end_state(&clean_hub.db).await);
    assert_eq!(resumed.0.len(), names.len());
    assert_eq!(resumed.1.len(), names.len());
    assert_eq!(resumed, clean);
}
