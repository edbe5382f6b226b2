//! CloudGazer against the PyPI-sized upstream generator at test size, on a real SQLite
//! database: the first sync from nothing brings every project and version in, and a poll
//! after K changes reads the list once and about K pages.
//!
//! The size is `PIWHEELS_SIM_PROJECTS` (default [`PROJECTS`]); the benchmark
//! (`cargo bench -p piwheels-master --bench upstream`) runs it at full size.

use std::time::Duration;

use piwheels_master::cloud_gazer::CloudGazer;
use piwheels_master::hub::Hub;

use crate::pypi_sim::PypiSim;

/// Projects at test size: as many as a first sync reads well within a minute today.
const PROJECTS: usize = 5_000;

/// Projects changed between the polls.
const CHANGES: usize = 100;

fn projects() -> usize {
    std::env::var("PIWHEELS_SIM_PROJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(PROJECTS)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_sync_brings_everything_and_a_poll_reads_only_the_changes() {
    let n = projects();
    let sim = PypiSim::start(n, 1616);
    let dir = tempfile::tempdir().unwrap();
    let (_dsn, db, mut config) = crate::core_support::sqlite_master(dir.path()).await;
    config.upstream = Some(sim.simple_url());
    config.upstream_poll = Duration::from_secs(3600);
    // The inboxes stay alive (a dropped pause sender reads as quitting); the web requests
    // queue up unread, which is a few per project.
    let (hub, _inboxes) = Hub::new(db.clone(), config);
    let mut gazer = CloudGazer::new(hub);

    let first = gazer.poll().await.unwrap();
    let seen = sim.requests();
    assert_eq!(first.errors, 0, "{first:?}");
    assert_eq!(first.new_packages, n, "{first:?}");
    assert_eq!((seen.list, seen.page), (1, n), "{seen:?}");
    let expected = sim.versions();
    assert_eq!(first.new_versions, expected.len());
    let stored = db.all_package_versions().await.unwrap();
    assert_eq!(stored.len(), expected.len());
    assert_eq!(
        stored, expected,
        "the database has every version upstream has"
    );
    assert_eq!(db.upstream_serial().await.unwrap(), sim.last_serial());
    // Spot checks: a binary-only version is skipped as such, a version with an sdist is not.
    let projects = sim.projects();
    let (mut binary_only, mut buildable) = (0, 0);
    for p in projects.iter().step_by(n.div_ceil(50)) {
        for v in &p.versions {
            let skip = db.version_skip(&p.canonical, &v.version).await.unwrap();
            if v.has_sdist() {
                assert_eq!(skip.as_deref(), Some(""), "{} {}", p.canonical, v.version);
                buildable += 1;
            } else {
                assert_eq!(
                    skip.as_deref(),
                    Some("binary only"),
                    "{} {}",
                    p.canonical,
                    v.version
                );
                binary_only += 1;
            }
        }
    }
    assert!(
        buildable > 0 && binary_only > 0,
        "{buildable} {binary_only}"
    );

    let changed = sim.change(CHANGES);
    let second = gazer.poll().await.unwrap();
    let delta = sim.requests() - seen;
    assert_eq!(delta.list, 1, "{delta:?}");
    assert_eq!(
        delta.page, CHANGES,
        "one page per changed project: {delta:?}"
    );
    assert_eq!(second.new_versions, CHANGES, "{second:?}");
    assert_eq!(second.new_packages, 0, "{second:?}");
    for canon in &changed {
        let p = sim.project_named(canon).unwrap();
        let newest = &p.versions.last().unwrap().version;
        assert!(
            db.version_exists(canon, newest).await.unwrap(),
            "{canon} {newest}"
        );
    }
    assert_eq!(db.all_package_versions().await.unwrap(), sim.versions());
    assert_eq!(db.upstream_serial().await.unwrap(), sim.last_serial());
}
