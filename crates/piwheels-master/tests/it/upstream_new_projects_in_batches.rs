//! The pages of projects the database does not have (a first sync) are applied in batches
//! of one transaction each: the counts of the report, the pages rewritten and the build
//! queue are those of one page at a time, across more than one batch; and a package added
//! to the database while its page was on its way keeps what it had and is brought in line
//! with its page. Against a real index served over HTTP on 127.0.0.1 and a real SQLite
//! database.

use crate::core_support::eventually;
use crate::index_support;

use piwheels_master::cloud_gazer::CloudGazer;
use piwheels_master::hub::{Hub, WebRequest};

use index_support::{Index, json_list, json_page};

const TIME: Option<&str> = Some("2024-05-01T12:00:00Z");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_sync_of_more_than_a_batch_counts_and_tells_as_one_page_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::start(&dir.path().join("index"));
    // More than one batch (500 pages): each with a buildable 1.0 and a binary-only 2.0;
    // every hundredth also with a yanked 3.0, a version that is not PEP 440 and one the
    // version rule refuses.
    let count: usize = 1_234;
    let names: Vec<String> = (0..count).map(|i| format!("Proj_{i}")).collect();
    let list: Vec<(&str, i64)> = names.iter().map(|n| (n.as_str(), 1)).collect();
    index.write("simple", "index.json", &json_list(&list));
    for (i, n) in names.iter().enumerate() {
        let mut files = vec![
            (format!("{n}-1.0.tar.gz"), false),
            (format!("{n}-2.0-py3-none-any.whl"), false),
        ];
        if i % 100 == 0 {
            files.push((format!("{n}-3.0.tar.gz"), true));
            files.push((format!("{n}-2004d.tar.gz"), false));
            files.push((format!("{n}-2.0 x.tar.gz"), false));
        }
        let files: Vec<(&str, bool, Option<&str>)> =
            files.iter().map(|(f, y)| (f.as_str(), *y, TIME)).collect();
        let canon = piwheels_db::canonicalize_name(n);
        index.write(
            &format!("simple/{canon}"),
            "index.json",
            &json_page(n, &files),
        );
    }
    let (_dsn, db, mut config) = crate::core_support::sqlite_master(dir.path()).await;
    config.upstream = Some(index.url.clone());
    config.upstream_concurrency = 8;
    let (hub, mut inboxes) = Hub::new(db.clone(), config);
    let mut gazer = CloudGazer::new(hub.clone());
    let report = gazer.poll().await.unwrap();
    let special = count.div_ceil(100);
    assert_eq!(report.pages, count, "{report:?}");
    assert_eq!(report.new_packages, count, "{report:?}");
    assert_eq!(report.new_versions, 2 * count + 2 * special, "{report:?}");
    assert_eq!(report.yanked, special, "{report:?}");
    assert_eq!(report.not_pep440, special, "{report:?}");
    assert_eq!(report.refused_versions, special, "{report:?}");
    assert_eq!(report.errors, 0, "{report:?}");
    // Each new package's pages are rewritten, once.
    let mut both = std::collections::BTreeSet::new();
    while let Ok(r) = inboxes.web.try_recv() {
        if let WebRequest::Both(p) = r {
            assert!(both.insert(p.clone()), "{p} told twice");
        }
    }
    assert_eq!(both.len(), count);
    // Every 1.0 (and 3.0, 2004d) waits to be built, no 2.0; the names are as upstream spells them.
    let queue = db.build_queue(10_000).await.unwrap();
    let queued: usize = queue.values().map(Vec::len).sum();
    assert_eq!(queued, count + 2 * special);
    assert_eq!(
        db.display_name("proj-1233").await.unwrap().as_deref(),
        Some("Proj_1233")
    );
    assert_eq!(
        db.version_skip("proj-7", "2.0").await.unwrap().as_deref(),
        Some("binary only")
    );
    // Stored state for each, so the next poll reads nothing.
    assert_eq!(db.upstream_projects().await.unwrap().len(), count);
    assert!(gazer.poll().await.unwrap().unchanged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_added_while_its_page_was_on_its_way_is_brought_in_line() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::start(&dir.path().join("index"));
    index.write("simple", "index.json", &json_list(&[("a", 1), ("b", 1)]));
    for n in ["a", "b"] {
        let files = [
            (format!("{n}-1.0.tar.gz"), false),
            (format!("{n}-1.1.tar.gz"), true),
        ];
        let files: Vec<(&str, bool, Option<&str>)> =
            files.iter().map(|(f, y)| (f.as_str(), *y, TIME)).collect();
        index.write(&format!("simple/{n}"), "index.json", &json_page(n, &files));
    }
    // One page at a time, and the first held: the poll has read what the database holds,
    // and waits for `a`.
    index.write("simple/a", "hold", "");
    let (_dsn, db, mut config) = crate::core_support::sqlite_master(dir.path()).await;
    config.upstream = Some(index.url.clone());
    config.upstream_concurrency = 1;
    let (hub, _inboxes) = Hub::new(db.clone(), config);
    let mut gazer = CloudGazer::new(hub.clone());
    let poll = tokio::spawn(async move { gazer.poll().await });
    eventually("the page of a to be asked for", || {
        let index = &index;
        async move { index.paths_since(0).iter().any(|p| p == "/simple/a/") }
    })
    .await;
    // Meanwhile `b` is added by hand, with 1.1 (not yanked) and a 0.9 upstream has not.
    db.add_new_package("b", "", "").await.unwrap();
    db.add_new_package_version("b", "0.9", None, "")
        .await
        .unwrap();
    db.add_new_package_version("b", "1.1", None, "")
        .await
        .unwrap();
    index.remove_file("simple/a", "hold");
    let report = tokio::time::timeout(std::time::Duration::from_secs(60), poll)
        .await
        .expect("the poll to end once a's page is dropped")
        .unwrap()
        .unwrap();
    // a's request was dropped unanswered (an error, read again next time); b was there.
    assert_eq!(report.errors, 1, "{report:?}");
    assert_eq!(report.pages, 1, "{report:?}");
    assert_eq!(report.new_packages, 0, "{report:?}");
    assert_eq!(report.new_versions, 1, "{report:?}");
    assert_eq!(report.yanked, 1, "{report:?}");
    // 0.9 is not on b's page: struck, removed only if still missing at the next read.
    assert_eq!(
        (report.absent_versions, report.removed_versions),
        (1, 0),
        "{report:?}"
    );
    let data = db.project_data("b").await.unwrap().unwrap();
    let mut versions: Vec<(&str, &str, bool)> = data
        .releases
        .iter()
        .map(|(v, r)| (v.as_str(), r.skip.as_str(), r.yanked))
        .collect();
    versions.sort_unstable();
    assert_eq!(
        versions,
        [("0.9", "", false), ("1.0", "", false), ("1.1", "", true)]
    );
    assert_eq!(db.display_name("b").await.unwrap().as_deref(), Some("b"));
    // A restarted master (strikes live in memory) reads b's page again in full, as its
    // stored state says: 0.9 is struck again, and goes at the next read.
    let mut gazer = CloudGazer::new(hub);
    let report = gazer.poll().await.unwrap();
    assert_eq!(
        (report.absent_versions, report.removed_versions),
        (1, 0),
        "{report:?}"
    );
    let report = gazer.poll().await.unwrap();
    assert_eq!(report.removed_versions, 1, "{report:?}");
    assert_eq!(
        db.version_skip("b", "0.9").await.unwrap().as_deref(),
        Some("deleted")
    );
}
