//! Download figures read from the access log: each package's downloads in the last 30
//! days and ever (alone, and with its page data in chunks), the most downloaded packages,
//! and the farm-wide counts; downloads of files the database does not know count for no
//! package and break nothing.

use crate::common;

use chrono::{DateTime, TimeDelta, Utc};
use common::{TestDb, build, day, target, wheel};
use piwheels_db::{AccessRecord, DownloadRecord, Downloads, MAX_TOP_PROJECTS};

fn download(filename: &str, at: DateTime<Utc>) -> AccessRecord {
    AccessRecord::Download(DownloadRecord {
        name: filename.into(),
        host: "192.0.2.9".parse().unwrap(),
        timestamp: at,
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
    })
}

/// `n` downloads of `filename` at `at`.
fn downloads(n: usize, filename: &str, at: DateTime<Utc>) -> Vec<AccessRecord> {
    (0..n).map(|_| download(filename, at)).collect()
}

async fn package_with_wheels(t: &TestDb, package: &str, versions: &[&str]) {
    let db = &t.db;
    db.add_new_package(package, "", "").await.unwrap();
    for (i, v) in versions.iter().enumerate() {
        db.add_new_package_version(package, v, Some(day(i as i64)), "")
            .await
            .unwrap();
        let name = format!("{package}-{v}-cp311-cp311-linux_armv7l.whl");
        db.log_build(&build(
            package,
            v,
            "cp311/linux_armv7l",
            Some(vec![wheel(&name, &[])]),
        ))
        .await
        .unwrap();
    }
}

fn d(recent: i64, all: i64) -> Downloads {
    Downloads { recent, all }
}

async fn figures_per_package_top_projects_and_totals(t: TestDb) {
    let db = &t.db;
    db.set_build_targets(&[target("cp311/linux_armv7l")])
        .await
        .unwrap();
    package_with_wheels(&t, "foo", &["1.0", "2.0"]).await;
    package_with_wheels(&t, "bar", &["1.0"]).await;
    package_with_wheels(&t, "baz", &["1.0"]).await;
    package_with_wheels(&t, "gone", &["1.0"]).await;
    package_with_wheels(&t, "tie", &["1.0"]).await;
    let now = Utc::now();
    let (minutes_ago, days_ago, long_ago) = (
        now - TimeDelta::minutes(10),
        now - TimeDelta::days(3),
        now - TimeDelta::days(45),
    );
    let whl = |p: &str, v: &str| format!("{p}-{v}-cp311-cp311-linux_armv7l.whl");
    let mut log = Vec::new();
    log.extend(downloads(2, &whl("foo", "1.0"), minutes_ago));
    log.extend(downloads(1, &whl("foo", "1.0"), days_ago));
    log.extend(downloads(2, &whl("foo", "1.0"), long_ago));
    log.extend(downloads(4, &whl("foo", "2.0"), days_ago));
    log.extend(downloads(1, &whl("bar", "1.0"), days_ago));
    log.extend(downloads(10, &whl("bar", "1.0"), long_ago));
    log.extend(downloads(1, &whl("tie", "1.0"), days_ago));
    log.extend(downloads(6, &whl("gone", "1.0"), days_ago));
    log.extend(downloads(5, "unknown-1.0-py3-none-any.whl", minutes_ago));
    db.log_access(&log).await.unwrap();
    // A package deleted after its downloads were logged: its rows stay in the log.
    assert!(db.delete_package("gone").await.unwrap());

    let asked: Vec<String> = ["foo", "bar", "baz", "gone", "nope"]
        .map(String::from)
        .into();
    assert_eq!(
        db.package_downloads(&asked).await.unwrap(),
        vec![d(7, 9), d(1, 11), d(0, 0), d(0, 0), d(0, 0)]
    );
    // More packages than one statement counts.
    let many: Vec<String> = (0..1200)
        .map(|i| format!("p{i}"))
        .chain(["foo".to_string()])
        .collect();
    let counted = db.package_downloads(&many).await.unwrap();
    assert_eq!(counted.len(), 1201);
    assert_eq!(counted[1200], d(7, 9));
    assert!(counted[..1200].iter().all(|c| *c == Downloads::default()));

    // The pages' data carries the same figures, alone or in a chunk.
    assert_eq!(
        db.project_data("foo").await.unwrap().unwrap().downloads,
        d(7, 9)
    );
    let chunk = db.projects_pages_data(&asked).await.unwrap();
    let figures: Vec<Option<Downloads>> = chunk
        .iter()
        .map(|c| c.as_ref().map(|(data, _)| data.downloads))
        .collect();
    assert_eq!(
        figures,
        vec![Some(d(7, 9)), Some(d(1, 11)), Some(d(0, 0)), None, None]
    );

    // Most downloaded in 30 days first, ties by name; none for packages without any.
    assert_eq!(
        db.top_projects(10).await.unwrap(),
        vec![
            ("foo".to_string(), 7),
            ("bar".to_string(), 1),
            ("tie".to_string(), 1)
        ]
    );
    assert_eq!(
        db.top_projects(1).await.unwrap(),
        vec![("foo".to_string(), 7)]
    );
    assert!(db.top_projects(0).await.unwrap().is_empty());
    assert!(db.top_projects(MAX_TOP_PROJECTS + 1).await.is_err());

    // The search index agrees.
    let index = db.search_index().await.unwrap();
    assert_eq!(index["foo"], d(7, 9));
    assert_eq!(index["bar"], d(1, 11));
    assert_eq!(index["baz"], d(0, 0));
    assert!(!index.contains_key("gone"));

    // Farm-wide counts take every row, known file or not.
    let stats = db.statistics().await.unwrap();
    assert_eq!(stats.downloads_last_hour, 2 + 5);
    assert_eq!(stats.downloads_last_month, 2 + 1 + 4 + 1 + 1 + 6 + 5);
    assert_eq!(db.downloads_all().await.unwrap(), 32);
}

both_backends!(figures_per_package_top_projects_and_totals);
