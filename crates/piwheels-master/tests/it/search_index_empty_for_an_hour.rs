//! Issue 14, item 11: the search index `packages.json` (which the search page
//! `packages.html` lists and counts, through `packages.js`) was written only by
//! BigBrother's hourly `SEARCH`: on a new farm it listed no package for the first hour
//! while packages were added and wheels published.
//!
//! The real tasks (TheSecretary, TheScribe, BigBrother with its production timing, the web
//! server) over a real database: the index is there from the start, and follows packages
//! added in a burst and removed, within a deadline, without waiting an hour.

use crate::web_common;

use std::path::Path;
use std::time::Duration;

use piwheels_db::DownloadRecord;
use piwheels_master::big_brother::BigBrother;
use piwheels_master::hub::{WebRequest, supervise};
use piwheels_master::the_scribe::TheScribe;
use piwheels_master::the_secretary::TheSecretary;
use piwheels_master::web_server::WebServer;
use serde_json::Value;
use web_common::*;

/// The coalescing window (`rewrite-delay`).
const WINDOW: Duration = Duration::from_millis(300);

/// `packages.json` as (package, recent, all) rows; empty if it is not there yet.
fn index(out: &Path) -> Vec<(String, i64, i64)> {
    let Ok(text) = std::fs::read_to_string(out.join("packages.json")) else {
        return Vec::new();
    };
    let rows: Value = serde_json::from_str(&text).expect("packages.json is JSON");
    rows.as_array()
        .expect("packages.json is an array")
        .iter()
        .map(|r| {
            (
                r[0].as_str().unwrap().to_owned(),
                r[1].as_i64().unwrap(),
                r[2].as_i64().unwrap(),
            )
        })
        .collect()
}

fn download(filename: &str) -> DownloadRecord {
    DownloadRecord {
        name: filename.into(),
        host: "192.0.2.7".parse().unwrap(),
        timestamp: chrono::Utc::now(),
        arch: None,
        distro_name: None,
        distro_version: None,
        os_name: None,
        os_version: None,
        py_name: None,
        py_version: None,
        installer_name: Some("pip".into()),
        installer_version: None,
        setuptools_version: None,
    }
}

/// GET over HTTP; the body.
async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let url = format!("http://{addr}{path}");
    tokio::task::spawn_blocking(move || {
        ureq::get(&url)
            .timeout(Duration::from_secs(10))
            .call()
            .unwrap_or_else(|e| panic!("{url}: {e}"))
            .into_string()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_index_follows_the_packages_from_the_start() {
    let Farm {
        hub,
        inboxes,
        out,
        dir: _dir,
        ..
    } = farm(|c| c.rewrite_delay = WINDOW).await;
    let db = &hub.db;

    // Before the start: one package with a wheel downloaded twice.
    db.add_new_package("early-pkg", "", "Here before the start")
        .await
        .unwrap();
    db.add_new_package_version("early-pkg", "1.0", Some(day(1)), "")
        .await
        .unwrap();
    let wheel = make_wheel("early_pkg", "1.0", None);
    log_build(
        db,
        "early-pkg",
        "1.0",
        "cp311/linux_armv7l",
        vec![new_file(&wheel, None, &[])],
    )
    .await;
    place(&out, "early-pkg", &wheel, true);
    for _ in 0..2 {
        db.log_download(&download(&wheel.filename)).await.unwrap();
    }

    let (scribe_tx, scribe_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = vec![
        supervise(
            TheScribe::new(hub.clone(), scribe_rx).unwrap(),
            hub.quit.clone(),
        ),
        supervise(
            TheSecretary::new(hub.clone(), inboxes.web, scribe_tx),
            hub.quit.clone(),
        ),
        // Production timing: the search index hourly.
        supervise(
            BigBrother::new(hub.clone(), inboxes.stats),
            hub.quit.clone(),
        ),
    ];
    let web = WebServer::bind(hub.clone()).unwrap();
    let addr = web.local_addr();
    tasks.push(supervise(web, hub.quit.clone()));

    // At start: the database's packages, with their downloads.
    eventually("packages.json at start", || {
        index(&out) == vec![("early-pkg".to_string(), 2, 2)]
    })
    .await;

    // CloudGazer's burst: many new packages, each told to the web queue as it is added;
    // a wheel published for one of them.
    for i in 0..150 {
        let pkg = format!("burst-{i:03}");
        db.add_new_package(&pkg, "", "").await.unwrap();
        db.add_new_package_version(&pkg, "1.0", Some(day(2)), "")
            .await
            .unwrap();
        hub.web(WebRequest::Both(pkg));
    }
    let w = make_wheel("burst_007", "1.0", None);
    log_build(
        db,
        "burst-007",
        "1.0",
        "cp311/linux_armv7l",
        vec![new_file(&w, None, &[])],
    )
    .await;
    place(&out, "burst-007", &w, true);
    hub.web(WebRequest::Published("burst-007".into()));
    eventually("the burst of new packages in packages.json", || {
        let rows = index(&out);
        rows.len() == 151
            && rows.contains(&("early-pkg".to_string(), 2, 2))
            && rows.contains(&("burst-149".to_string(), 0, 0))
    })
    .await;

    // A package removed.
    db.delete_package("burst-000").await.unwrap();
    hub.web(WebRequest::DeletePackage("burst-000".into()));
    eventually("the removed package gone from packages.json", || {
        let rows = index(&out);
        rows.len() == 150 && !rows.iter().any(|r| r.0 == "burst-000")
    })
    .await;

    // What the search page loads (it counts and lists the rows of /packages.json).
    let page = get(addr, "/packages.html").await;
    assert!(page.contains("/packages.js"), "packages.html: {page}");
    let served: Value = serde_json::from_str(&get(addr, "/packages.json").await).unwrap();
    assert_eq!(served.as_array().unwrap().len(), 150);
    // The original's three columns, then the summary (issue 16, item 3).
    assert_eq!(
        served[0],
        serde_json::json!(["early-pkg", 2, 2, "Here before the start"])
    );

    hub.quit.cancel();
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("a task did not stop")
            .unwrap();
    }
}
