//! The upstream serial, pending rewrites, statistics, the search index and access logs.

use crate::common;

use std::net::IpAddr;

use chrono::{TimeDelta, Utc};
use common::{TestDb, build, day, target, wheel};
use piwheels_db::{DownloadRecord, Error, PageKind, PageRecord, PendingRewrite, RewriteCommand};

async fn the_serial_never_goes_backwards(t: TestDb) {
    let db = &t.db;
    assert_eq!(db.upstream_serial().await.unwrap(), 0);
    db.set_upstream_serial(5_000_000_000).await.unwrap();
    db.set_upstream_serial(5_000_000_000).await.unwrap();
    match db.set_upstream_serial(4_999_999_999).await {
        Err(Error::SerialBackwards { current, new }) => {
            assert_eq!((current, new), (5_000_000_000, 4_999_999_999))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(db.upstream_serial().await.unwrap(), 5_000_000_000);
}

async fn pending_rewrites_survive(t: TestDb) {
    let db = &t.db;
    assert!(db.load_rewrites_pending().await.unwrap().is_empty());
    let now = Utc::now();
    let at = |s: i64| {
        chrono::DateTime::from_timestamp_micros((now + TimeDelta::seconds(s)).timestamp_micros())
            .unwrap()
    };
    let rewrites = vec![
        PendingRewrite {
            package: "foo".into(),
            added_at: at(2),
            command: RewriteCommand::Both,
        },
        PendingRewrite {
            package: "bar".into(),
            added_at: at(1),
            command: RewriteCommand::Project,
        },
        PendingRewrite {
            package: "foo".into(),
            added_at: at(3),
            command: RewriteCommand::Project,
        },
    ];
    db.save_rewrites_pending(&rewrites).await.unwrap();
    // Oldest first; one per package, merged: the earlier time, and BOTH if either is.
    assert_eq!(
        db.load_rewrites_pending().await.unwrap(),
        [rewrites[1].clone(), rewrites[0].clone()]
    );
    // Saving again merges: nothing recorded is dropped (the journal is not replaced).
    db.save_rewrites_pending(&rewrites[2..]).await.unwrap();
    assert_eq!(
        db.load_rewrites_pending().await.unwrap(),
        [rewrites[1].clone(), rewrites[0].clone()]
    );
    let bad = PendingRewrite {
        package: "Not Canonical".into(),
        added_at: now,
        command: RewriteCommand::Both,
    };
    assert!(matches!(
        db.save_rewrites_pending(&[bad]).await,
        Err(Error::Invalid { .. })
    ));
    assert_eq!(db.load_rewrites_pending().await.unwrap().len(), 2);
}

fn download(name: &str, host: &str, ago: TimeDelta) -> DownloadRecord {
    DownloadRecord {
        name: name.into(),
        host: host.parse().unwrap(),
        timestamp: Utc::now() - ago,
        arch: Some("armv7l".into()),
        distro_name: Some("Raspbian GNU/Linux".into()),
        distro_version: Some("12".into()),
        os_name: Some("Linux".into()),
        os_version: Some("6.1".into()),
        py_name: Some("CPython".into()),
        py_version: Some("3.11.2".into()),
        installer_name: Some("pip".into()),
        installer_version: Some("23.0".into()),
        setuptools_version: None,
    }
}

async fn statistics_and_search_index(t: TestDb) {
    let db = &t.db;
    db.set_build_targets(&[target("cp311/linux_armv7l"), target("cp313/linux_armv7l")])
        .await
        .unwrap();
    db.add_new_package("foo", "", "").await.unwrap();
    db.add_new_package("bar", "", "").await.unwrap();
    db.add_new_package_version("foo", "1.0", Some(Utc::now() - TimeDelta::minutes(5)), "")
        .await
        .unwrap();
    db.add_new_package_version("bar", "1.0", Some(day(1)), "")
        .await
        .unwrap();
    let whl = wheel("foo-1.0-cp311-cp311-linux_armv7l.whl", &[]);
    let mut b = build("foo", "1.0", "cp311/linux_armv7l", Some(vec![whl.clone()]));
    b.duration = TimeDelta::minutes(2);
    db.log_build(&b).await.unwrap();
    let mut broken_clock = build("bar", "1.0", "cp311/linux_armv7l", None);
    broken_clock.duration = TimeDelta::days(20_000);
    db.log_build(&broken_clock).await.unwrap();
    for ago in [
        TimeDelta::minutes(1),
        TimeDelta::days(2),
        TimeDelta::days(40),
    ] {
        db.log_download(&download(&whl.filename, "192.0.2.1", ago))
            .await
            .unwrap();
    }
    db.log_download(&download(
        "foo-1.0-cp311-cp311-linux_armv6l.whl",
        "2001:db8::1",
        TimeDelta::minutes(2),
    ))
    .await
    .unwrap();
    db.log_download(&download(
        "unknown-file.whl",
        "192.0.2.1",
        TimeDelta::minutes(2),
    ))
    .await
    .unwrap();

    let s = db.statistics().await.unwrap();
    assert_eq!(
        s.builds_time,
        TimeDelta::minutes(2),
        "a build of 20,000 days is left out"
    );
    assert_eq!(s.files_count, 2);
    assert_eq!(s.packages_built, 1);
    assert_eq!(s.builds_size, whl.filesize as i64);
    assert_eq!(s.new_last_hour, 1);
    assert_eq!(s.downloads_last_month, 4);
    assert_eq!(s.downloads_last_hour, 3);
    assert_eq!(s.builds_last_hour[&target("cp311/linux_armv7l")], 2);
    assert_eq!(s.builds_last_hour[&target("cp313/linux_armv7l")], 0);
    assert_eq!(db.builds_last_hour().await.unwrap(), s.builds_last_hour);
    assert_eq!(db.downloads_all().await.unwrap(), 5);

    let index = db.search_index().await.unwrap();
    assert_eq!(index.len(), 2);
    assert_eq!((index["foo"].recent, index["foo"].all), (3, 4));
    assert_eq!((index["bar"].recent, index["bar"].all), (0, 0));
}

async fn access_logs_are_sanitised(t: TestDb) {
    let db = &t.db;
    let mut r = download("foo-1.0-py3-none-any.whl", "192.0.2.7", TimeDelta::zero());
    r.os_name = Some("Linux\0\x1b[31m\x7f".into());
    r.installer_name = Some("x".repeat(50));
    db.log_download(&r).await.unwrap();
    let row = &t
        .raw("SELECT os_name, installer_name, accessed_by, filename FROM downloads")
        .await[0];
    assert_eq!(row[0].as_deref(), Some("Linux\u{fffd}\u{fffd}[31m\u{fffd}"));
    assert_eq!(row[1].as_ref().unwrap().chars().count(), 20);
    assert_eq!(row[2].as_deref(), Some("192.0.2.7"));
    let mut s = download("foo", "10.0.0.1", TimeDelta::zero());
    s.arch = None;
    db.log_search(&s).await.unwrap();
    assert_eq!(
        t.raw("SELECT package, arch FROM searches").await,
        [[Some("foo".to_string()), None]]
    );

    let host: IpAddr = "::1".parse().unwrap();
    let page = |name: &str, ua: &str| PageRecord {
        name: name.into(),
        host,
        timestamp: Utc::now(),
        user_agent: ua.into(),
    };
    db.log_page(PageKind::Project, &page("foo", "Mozilla/5.0"))
        .await
        .unwrap();
    db.log_page(PageKind::Project, &page("foo", "Googlebot/2.1"))
        .await
        .unwrap();
    db.log_page(PageKind::Json, &page("foo", "curl\r\n\x01"))
        .await
        .unwrap();
    db.log_page(PageKind::Page, &page("home", &"u".repeat(5000)))
        .await
        .unwrap();
    let bots = t
        .raw("SELECT user_agent, bot FROM project_page_hits ORDER BY user_agent")
        .await;
    assert_eq!(bots[0][0].as_deref(), Some("Googlebot/2.1"));
    assert!(matches!(bots[0][1].as_deref(), Some("1" | "t")));
    assert!(matches!(bots[1][1].as_deref(), Some("0" | "f")));
    assert_eq!(
        t.raw("SELECT user_agent FROM project_json_downloads").await,
        [[Some("curl\r\n\u{fffd}".to_string())]]
    );
    let ua = &t
        .raw("SELECT user_agent, accessed_by FROM web_page_hits")
        .await[0];
    assert_eq!(ua[0].as_ref().unwrap().chars().count(), 2000);
    assert_eq!(ua[1].as_deref(), Some("::1"));
}

both_backends!(
    the_serial_never_goes_backwards,
    pending_rewrites_survive,
    statistics_and_search_index,
    access_logs_are_sanitised
);
