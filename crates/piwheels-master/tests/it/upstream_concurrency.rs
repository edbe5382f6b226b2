//! `upstream_concurrency` bounds the requests CloudGazer has in flight at the upstream:
//! with every project page held unanswered, exactly that many page requests arrive, and no
//! more, until the pages are answered. Against a real index served over HTTP on 127.0.0.1
//! and a real SQLite database.

use crate::index_support;

use std::time::Duration;

use piwheels_master::cloud_gazer::CloudGazer;
use piwheels_master::hub::Hub;

use index_support::{Index, json_list, json_page};

/// The page requests the index has received so far.
fn pages(index: &Index) -> usize {
    index
        .paths_since(0)
        .iter()
        .filter(|p| *p != "/simple/")
        .count()
}

/// The page requests in flight at once with `concurrency` configured, once `expected`
/// of them arrived.
async fn in_flight_with(concurrency: usize, expected: usize) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::start(&dir.path().join("index"));
    let names: Vec<String> = (0..10).map(|i| format!("p{i}")).collect();
    let list: Vec<(&str, i64)> = names.iter().map(|n| (n.as_str(), 1)).collect();
    index.write("simple", "index.json", &json_list(&list));
    for n in &names {
        let sdist = format!("{n}-1.0.tar.gz");
        let files = [(sdist.as_str(), false, Some("2024-05-01T12:00:00Z"))];
        index.write(&format!("simple/{n}"), "index.json", &json_page(n, &files));
        index.write(&format!("simple/{n}"), "hold", "");
    }
    let (_dsn, db, mut config) = crate::core_support::sqlite_master(dir.path()).await;
    config.upstream = Some(index.url.clone());
    config.upstream_concurrency = concurrency;
    let (hub, _inboxes) = Hub::new(db.clone(), config);
    let mut gazer = CloudGazer::new(hub.clone());
    let poll = tokio::spawn(async move { gazer.poll().await });

    // Wait for the expected number of requests (every one in flight is held), then give
    // any more the time to arrive.
    for _ in 0..400 {
        if pages(&index) >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        pages(&index) >= expected,
        "timed out waiting for {expected} page requests"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let in_flight = pages(&index);

    // Released (the index drops the held connections unanswered), the poll ends: the
    // held pages count as errors, every other page is read.
    for n in &names {
        index.remove_file(&format!("simple/{n}"), "hold");
    }
    let report = tokio::time::timeout(Duration::from_secs(60), poll)
        .await
        .expect("the poll to end once the pages are answered")
        .unwrap()
        .unwrap();
    assert_eq!(report.errors, in_flight, "{report:?}");
    assert_eq!(report.new_packages, names.len() - in_flight, "{report:?}");
    drop(hub);
    in_flight
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_at_a_time_when_told_so() {
    assert_eq!(in_flight_with(1, 1).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_many_requests_at_once_as_configured() {
    assert_eq!(in_flight_with(3, 3).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absurd_number_is_clamped() {
    // 0 would stall the poll for ever; it means one.
    assert_eq!(in_flight_with(0, 1).await, 1);
}
