//! [`Loader`]: a migration's target, on both backends. It is refused by the master until
//! it finishes, a batch and its position commit together, a resume must name the same
//! source, and the finished database never gives a build id the source gave.

use crate::common;

use chrono::{TimeDelta, Utc};
use common::{Backend, empty, raw};
use piwheels_db::load::{Dropped, Field, Loader, Source, Table};
use piwheels_db::schema::SchemaState;
use piwheels_db::{Database, Error, NewBuild, SchemaProblem, Target};

fn source() -> Source {
    Source {
        id: "postgres test database old".into(),
        platform: "linux_armv7l".into(),
    }
}

async fn a_migration_is_refused_until_it_finishes(backend: Backend) {
    let Some(e) = empty(backend, "a_migration_is_refused_until_it_finishes").await else {
        return;
    };
    let loader = Loader::begin(&e.admin_dsn, &source(), e.user())
        .await
        .unwrap();
    // A second start on the same target is refused, and so is the master.
    let again = Loader::begin(&e.admin_dsn, &source(), e.user())
        .await
        .unwrap_err();
    assert!(again.to_string().contains("--resume"), "{again}");
    match Database::open(&e.dsn).await.unwrap_err() {
        Error::Schema(SchemaProblem::Migrating) => {}
        other => panic!("{other}"),
    }
    let admin = piwheels_db::admin::Admin::connect(&e.admin_dsn)
        .await
        .unwrap();
    assert_eq!(admin.state().await.unwrap(), SchemaState::Migrating);
    assert!(admin.initialize(e.user()).await.is_err());

    // One batch: the rows of two tables, the position and the report, together.
    let now = Utc::now();
    loader
        .load(
            "packages",
            vec![
                (
                    Table::Packages,
                    vec![vec![
                        Field::text("foo"),
                        Field::text(""),
                        Field::text("Foo"),
                    ]],
                ),
                (
                    Table::PackageNames,
                    vec![vec![
                        Field::text("Foo"),
                        Field::text("foo"),
                        Field::Time(now),
                    ]],
                ),
            ],
            Some("[\"foo\"]".into()),
            2,
            vec![Dropped {
                table: "packages".into(),
                key: "[\"../x\"]".into(),
                reason: "a hostile name".into(),
            }],
            vec![("renamed".into(), 1)],
        )
        .await
        .unwrap();
    // A batch that breaks a rule is refused whole: neither its rows nor its position.
    let bad = loader
        .load(
            "versions",
            vec![(
                Table::Versions,
                vec![
                    vec![
                        Field::text("foo"),
                        Field::text("1.0"),
                        Field::Time(now),
                        Field::text(""),
                        Field::Bool(false),
                    ],
                    vec![
                        Field::text("foo"),
                        Field::text("../1.0"),
                        Field::Time(now),
                        Field::text(""),
                        Field::Bool(false),
                    ],
                ],
            )],
            Some("[\"foo\",\"2.0\"]".into()),
            2,
            vec![],
            vec![],
        )
        .await;
    assert!(bad.is_err());
    assert_eq!(loader.count(Table::Versions).await.unwrap(), 0);
    let report = loader.report().await.unwrap();
    assert!(!report.steps.contains_key("versions"), "{report:?}");
    assert_eq!(report.steps["packages"].read, 2);
    assert_eq!(
        report.steps["packages"].position.as_deref(),
        Some("[\"foo\"]")
    );
    assert_eq!(report.dropped.len(), 1);
    assert_eq!(
        report.mapped[&("packages".to_owned(), "renamed".to_owned())],
        1
    );

    // A resume must read the same source for the same platform.
    let other = Source {
        id: "another".into(),
        ..source()
    };
    let why = Loader::resume(&e.admin_dsn, &other).await.unwrap_err();
    assert!(why.to_string().contains("another"), "{why}");
    let loader = Loader::resume(&e.admin_dsn, &source()).await.unwrap();
    loader.step_done("packages").await.unwrap();
    loader
        .load(
            "versions",
            vec![(
                Table::Versions,
                vec![vec![
                    Field::text("foo"),
                    Field::text("1.0"),
                    Field::Time(now),
                    Field::text(""),
                    Field::Bool(false),
                ]],
            )],
            Some("[\"foo\",\"1.0\"]".into()),
            1,
            vec![],
            vec![],
        )
        .await
        .unwrap();
    loader
        .load(
            "build_abis",
            vec![(
                Table::BuildTargets,
                vec![vec![
                    Field::text("cp311"),
                    Field::text("linux_armv7l"),
                    Field::text(""),
                ]],
            )],
            None,
            1,
            vec![],
            vec![],
        )
        .await
        .unwrap();
    // The access logs' indexes are made once they are full.
    let index = match backend {
        Backend::Sqlite => {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'downloads'"
        }
        Backend::Postgres => "SELECT COUNT(*) FROM pg_indexes WHERE tablename = 'downloads'",
    };
    let count = |rows: Vec<Vec<Option<String>>>| rows[0][0].clone().unwrap();
    assert_eq!(count(raw(backend, &e.admin_dsn, index).await.unwrap()), "0");
    let queued = loader.finish(41).await.unwrap();
    assert_eq!(count(raw(backend, &e.admin_dsn, index).await.unwrap()), "2");
    assert_eq!(queued, 1);
    assert!(loader.report().await.unwrap().finished);
    // Every index and key dropped while it was filled is back: the schema is a fresh
    // one's, with the migration's own tables besides.
    let Some(fresh) = empty(backend, "a_migration_is_refused_until_it_finishes_fresh").await else {
        return;
    };
    piwheels_db::admin::Admin::connect(&fresh.admin_dsn)
        .await
        .unwrap()
        .initialize(fresh.user())
        .await
        .unwrap();
    let migrated: Vec<_> = crate::schema::full_shape(backend, &e.admin_dsn)
        .await
        .into_iter()
        .filter(|row| !row[0].as_deref().unwrap_or_default().contains("migration_"))
        .collect();
    let expected = crate::schema::full_shape(backend, &fresh.admin_dsn).await;
    let missing: Vec<_> = expected.iter().filter(|r| !migrated.contains(r)).collect();
    let extra: Vec<_> = migrated.iter().filter(|r| !expected.contains(r)).collect();
    assert!(
        missing.is_empty() && extra.is_empty() && migrated == expected,
        "missing: {missing:?}\nextra: {extra:?}"
    );
    assert!(Loader::resume(&e.admin_dsn, &source()).await.is_err());

    // The master takes it now, and its first build id follows the source's last.
    let db = Database::open(&e.dsn).await.unwrap();
    let id = db
        .log_build(&NewBuild {
            package: "foo".into(),
            version: "1.0".into(),
            built_by: 1,
            target: Target::new("cp311", "linux_armv7l"),
            status: false,
            duration: TimeDelta::seconds(1),
            built_at: None,
            files: vec![],
        })
        .await
        .unwrap();
    assert_eq!(id, 42);
    assert_eq!(
        db.display_name("foo").await.unwrap().as_deref(),
        Some("Foo")
    );
    // What the migration did stays readable.
    let report = Loader::inspect(&e.admin_dsn)
        .await
        .unwrap()
        .report()
        .await
        .unwrap();
    assert_eq!(report.dropped[0].reason, "a hostile name");
}

async fn a_migration_needs_an_empty_target(backend: Backend) {
    let Some(e) = empty(backend, "a_migration_needs_an_empty_target").await else {
        return;
    };
    let admin = piwheels_db::admin::Admin::connect(&e.admin_dsn)
        .await
        .unwrap();
    admin.initialize(e.user()).await.unwrap();
    let why = Loader::begin(&e.admin_dsn, &source(), e.user())
        .await
        .unwrap_err();
    assert!(why.to_string().contains("not empty"), "{why}");
    let why = Loader::resume(&e.admin_dsn, &source()).await.unwrap_err();
    assert!(why.to_string().contains("nothing to resume"), "{why}");
    assert!(Loader::inspect(&e.admin_dsn).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_migration_is_refused_until_it_finishes() {
    a_migration_is_refused_until_it_finishes(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_migration_is_refused_until_it_finishes() {
    a_migration_is_refused_until_it_finishes(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_migration_needs_an_empty_target() {
    a_migration_needs_an_empty_target(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_migration_needs_an_empty_target() {
    a_migration_needs_an_empty_target(Backend::Postgres).await;
}
