//! Access-log records written in batches ([`Database::log_access`]): every kind in one
//! transaction, more rows than one statement holds, sanitised as one at a time.

use crate::common;

use chrono::{DateTime, Utc};
use common::TestDb;
use piwheels_db::{AccessRecord, DownloadRecord, PageKind, PageRecord};

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
}

fn download(name: &str, i: i64) -> DownloadRecord {
    DownloadRecord {
        name: name.into(),
        host: format!("192.0.2.{}", i % 250).parse().unwrap(),
        timestamp: at(i),
        arch: Some("aarch64".into()),
        distro_name: None,
        distro_version: None,
        os_name: Some("Linux".into()),
        os_version: None,
        py_name: Some("CPython".into()),
        py_version: Some("3.11.2".into()),
        installer_name: Some("pip".into()),
        installer_version: Some("23.0".into()),
        setuptools_version: None,
    }
}

fn page(name: &str, ua: &str) -> PageRecord {
    PageRecord {
        name: name.into(),
        host: "2001:db8::7".parse().unwrap(),
        timestamp: at(5),
        user_agent: ua.into(),
    }
}

async fn count(t: &TestDb, table: &str) -> i64 {
    t.raw(&format!("SELECT COUNT(*) FROM {table}")).await[0][0]
        .as_deref()
        .unwrap()
        .parse()
        .unwrap()
}

async fn a_batch_of_every_kind_lands_in_each_table(t: TestDb) {
    let db = &t.db;
    // More than one statement's rows (500), so a batch takes several statements.
    let mut batch: Vec<AccessRecord> = (0..1203)
        .map(|i| AccessRecord::Download(download("foo-1.0-py3-none-any.whl", i)))
        .collect();
    batch.push(AccessRecord::Search(download("foo", 1)));
    batch.push(AccessRecord::Page(
        PageKind::Project,
        page("foo", "Mozilla/5.0"),
    ));
    batch.push(AccessRecord::Page(PageKind::Json, page("foo", "curl")));
    batch.push(AccessRecord::Page(
        PageKind::Page,
        page("home", "Googlebot/2.1"),
    ));
    let mut hostile = download(&"x".repeat(10_000), 2);
    hostile.os_name = Some("Li\0nux".into());
    batch.push(AccessRecord::Search(hostile));
    db.log_access(&batch).await.unwrap();
    db.log_access(&[]).await.unwrap();

    assert_eq!(count(&t, "downloads").await, 1203);
    assert_eq!(count(&t, "searches").await, 2);
    assert_eq!(count(&t, "project_page_hits").await, 1);
    assert_eq!(count(&t, "project_json_downloads").await, 1);
    assert_eq!(count(&t, "web_page_hits").await, 1);
    let rows = t
        .raw("SELECT accessed_by, arch, installer_name FROM downloads WHERE accessed_by = '192.0.2.7'")
        .await;
    assert_eq!(rows.len(), 5, "{rows:?}");
    assert_eq!(rows[0][1].as_deref(), Some("aarch64"));
    let long = t
        .raw("SELECT package, os_name FROM searches ORDER BY package DESC")
        .await;
    assert_eq!(long[0][0].as_ref().unwrap().chars().count(), 200);
    assert_eq!(long[0][1].as_deref(), Some("Li\u{fffd}nux"));
    let bot = t.raw("SELECT bot FROM web_page_hits").await;
    assert!(matches!(bot[0][0].as_deref(), Some("1" | "t")), "{bot:?}");
    // The download figures see the batch.
    assert_eq!(db.downloads_all().await.unwrap(), 1203);
}

both_backends!(a_batch_of_every_kind_lands_in_each_table);
