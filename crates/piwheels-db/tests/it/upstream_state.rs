//! What CloudGazer last read of the upstream index (schema 4): each project's serial and
//! ETag and the project list's ETag survive a reopen, are stored in batches, and refuse
//! what cannot be stored.

use crate::common;

use common::TestDb;
use piwheels_db::{Database, Error, MAX_ETAG, UpstreamProject};

fn project(package: &str, name: &str, serial: Option<i64>, etag: Option<&str>) -> UpstreamProject {
    UpstreamProject {
        package: package.into(),
        name: name.into(),
        serial,
        etag: etag.map(str::to_owned),
        refused: 0,
    }
}

async fn sorted(db: &Database) -> Vec<UpstreamProject> {
    let mut all = db.upstream_projects().await.unwrap();
    all.sort_by(|a, b| a.package.cmp(&b.package));
    all
}

async fn projects_are_stored_replaced_and_forgotten(t: TestDb) {
    let db = &t.db;
    assert!(db.upstream_projects().await.unwrap().is_empty());
    let mut first = project("foo-bar", "Foo.Bar", Some(5_000_000_000), Some("\"abc\""));
    first.refused = u64::MAX - 7; // the whole range of the fingerprint survives
    let second = project("baz", "baz", None, None);
    db.save_upstream_projects(&[first.clone(), second.clone()])
        .await
        .unwrap();
    assert_eq!(sorted(db).await, [second.clone(), first.clone()]);
    // Replaced; of a project given twice, the last counts.
    let first2 = project("foo-bar", "foo_bar", Some(5_000_000_001), None);
    let stale = project("baz", "baz", Some(1), Some("\"old\""));
    let second2 = project("baz", "Baz", Some(2), Some("\"new\""));
    db.save_upstream_projects(&[first2.clone(), stale, second2.clone()])
        .await
        .unwrap();
    assert_eq!(sorted(db).await, [second2.clone(), first2.clone()]);
    db.forget_upstream_projects(&["baz".into(), "not-there".into()])
        .await
        .unwrap();
    assert_eq!(sorted(db).await, std::slice::from_ref(&first2));
    // Nothing to do is fine.
    db.save_upstream_projects(&[]).await.unwrap();
    db.forget_upstream_projects(&[]).await.unwrap();
    assert_eq!(sorted(db).await, [first2]);
}

async fn a_batch_is_all_or_nothing(t: TestDb) {
    let db = &t.db;
    let good = project("good", "Good", Some(1), Some("\"e\""));
    let bad = [
        project("Not Canonical", "Not Canonical", Some(1), None),
        project("foo", "bar", Some(1), None),
        project("foo", "foo", Some(1), Some("")),
        project("foo", "foo", Some(1), Some(&"x".repeat(MAX_ETAG + 1))),
        project("foo", "foo", Some(1), Some("a\0b")),
    ];
    for b in bad {
        let err = db
            .save_upstream_projects(&[good.clone(), b.clone()])
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{b:?}: {err:?}");
    }
    assert!(db.upstream_projects().await.unwrap().is_empty());
    let longest = project("foo", "foo", Some(1), Some(&"x".repeat(MAX_ETAG)));
    db.save_upstream_projects(std::slice::from_ref(&longest))
        .await
        .unwrap();
    assert_eq!(sorted(db).await, [longest]);
}

async fn a_full_sync_is_stored_in_batches(t: TestDb) {
    let db = &t.db;
    // More than one statement's worth, in one call (one transaction).
    let many: Vec<UpstreamProject> = (0..2_345)
        .map(|i| {
            let name = format!("p{i}");
            project(&name, &name, Some(i), Some(&format!("\"{i}\"")))
        })
        .collect();
    db.save_upstream_projects(&many).await.unwrap();
    let mut stored = db.upstream_projects().await.unwrap();
    stored.sort_by_key(|p| p.serial);
    assert_eq!(stored, many);
    let gone: Vec<String> = many[..1_500].iter().map(|p| p.package.clone()).collect();
    db.forget_upstream_projects(&gone).await.unwrap();
    let mut stored = db.upstream_projects().await.unwrap();
    stored.sort_by_key(|p| p.serial);
    assert_eq!(stored, many[1_500..]);
}

async fn the_list_etag_is_stored_and_forgotten(t: TestDb) {
    let db = &t.db;
    assert_eq!(db.upstream_list_etag().await.unwrap(), None);
    db.set_upstream_list_etag(Some("W/\"list-1\""))
        .await
        .unwrap();
    assert_eq!(
        db.upstream_list_etag().await.unwrap().as_deref(),
        Some("W/\"list-1\"")
    );
    assert!(matches!(
        db.set_upstream_list_etag(Some("")).await,
        Err(Error::Invalid { .. })
    ));
    assert!(matches!(
        db.set_upstream_list_etag(Some(&"x".repeat(MAX_ETAG + 1)))
            .await,
        Err(Error::Invalid { .. })
    ));
    assert_eq!(
        db.upstream_list_etag().await.unwrap().as_deref(),
        Some("W/\"list-1\"")
    );
    db.set_upstream_list_etag(None).await.unwrap();
    assert_eq!(db.upstream_list_etag().await.unwrap(), None);
}

async fn the_state_survives_a_reopen(t: TestDb) {
    let p = project("foo", "Foo", Some(7), Some("\"7\""));
    t.db.save_upstream_projects(std::slice::from_ref(&p))
        .await
        .unwrap();
    t.db.set_upstream_list_etag(Some("\"l\"")).await.unwrap();
    t.db.set_upstream_serial(7).await.unwrap();
    let again = Database::open(&t.dsn).await.unwrap();
    assert_eq!(again.upstream_projects().await.unwrap(), [p]);
    assert_eq!(
        again.upstream_list_etag().await.unwrap().as_deref(),
        Some("\"l\"")
    );
    assert_eq!(again.upstream_serial().await.unwrap(), 7);
}

both_backends!(
    projects_are_stored_replaced_and_forgotten,
    a_batch_is_all_or_nothing,
    a_full_sync_is_stored_in_batches,
    the_list_etag_is_stored_and_forgotten,
    the_state_survives_a_reopen,
);
