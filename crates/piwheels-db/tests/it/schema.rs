//! Creating, upgrading and refusing databases; the two backends' schemas agree; on
//! PostgreSQL the master's user cannot change the schema.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};

use common::{Backend, EmptyDb, empty, raw};
use piwheels_db::admin::Admin;
use piwheels_db::schema::{MIGRATIONS, SCHEMA_VERSION, SchemaState};
use piwheels_db::{Database, Error, SchemaProblem};

/// Tables → their columns, and the index names: what both backends must agree on.
async fn shape(backend: Backend, dsn: &str) -> (BTreeMap<String, Vec<String>>, BTreeSet<String>) {
    let (cols, idx) = match backend {
        Backend::Sqlite => (
            "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite%' ORDER BY m.name, p.cid",
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex%'",
        ),
        Backend::Postgres => (
            "SELECT table_name, column_name FROM information_schema.columns \
             WHERE table_schema = 'public' ORDER BY table_name, ordinal_position",
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND indexname NOT LIKE '%_pkey'",
        ),
    };
    let mut tables: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in raw(backend, dsn, cols).await.unwrap() {
        tables
            .entry(row[0].clone().unwrap())
            .or_default()
            .push(row[1].clone().unwrap());
    }
    let indexes = raw(backend, dsn, idx)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r[0].clone().unwrap())
        .collect();
    (tables, indexes)
}

/// Everything about the schema that a migration could get wrong, for one backend.
pub(crate) async fn full_shape(backend: Backend, dsn: &str) -> Vec<Vec<Option<String>>> {
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT m.name, p.name, p.type, p.\"notnull\", p.dflt_value, p.pk FROM sqlite_master m, \
             pragma_table_info(m.name) p WHERE m.type = 'table' ORDER BY m.name, p.cid"
        }
        Backend::Postgres => {
            "SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns \
             WHERE table_schema = 'public' ORDER BY table_name, column_name"
        }
    };
    let mut out = raw(backend, dsn, sql).await.unwrap();
    let idx = match backend {
        Backend::Sqlite => "SELECT name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name",
        Backend::Postgres => {
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname"
        }
    };
    out.extend(raw(backend, dsn, idx).await.unwrap());
    // The rules the schema keeps: CHECK constraints, and SQLite's triggers.
    let rules = match backend {
        Backend::Sqlite => {
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name"
        }
        Backend::Postgres => {
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint \
             WHERE connamespace = current_schema()::regnamespace ORDER BY conname"
        }
    };
    out.extend(raw(backend, dsn, rules).await.unwrap());
    out
}

async fn initialize(e: &EmptyDb) -> Vec<i64> {
    Admin::connect(&e.admin_dsn)
        .await
        .unwrap()
        .initialize(e.user())
        .await
        .unwrap()
}

async fn create_then_nothing_to_do(backend: Backend) {
    let Some(e) = empty(backend, "create_then_nothing_to_do").await else {
        return;
    };
    let admin = Admin::connect(&e.admin_dsn).await.unwrap();
    assert_eq!(admin.state().await.unwrap(), SchemaState::Empty);
    assert_eq!(
        admin.initialize(e.user()).await.unwrap(),
        (1..=SCHEMA_VERSION).collect::<Vec<_>>()
    );
    assert_eq!(
        admin.state().await.unwrap(),
        SchemaState::Version(SCHEMA_VERSION)
    );
    assert!(admin.initialize(e.user()).await.unwrap().is_empty());
    Database::open(&e.dsn).await.unwrap();
}

async fn every_earlier_version_upgrades_to_the_same_schema(backend: Backend) {
    let Some(fresh) = empty(backend, "upgrade_paths").await else {
        return;
    };
    initialize(&fresh).await;
    let expected = full_shape(backend, &fresh.admin_dsn).await;
    assert!(
        expected.iter().any(|row| row[0]
            .as_deref()
            .is_some_and(|n| n.starts_with("versions_version_rule"))),
        "the shape compared holds the name and version rules"
    );
    for from in 1..=SCHEMA_VERSION {
        let Some(e) = empty(backend, "upgrade_paths").await else {
            return;
        };
        let admin = Admin::connect(&e.admin_dsn).await.unwrap();
        assert_eq!(
            admin.migrate_to(from, e.user()).await.unwrap(),
            (1..=from).collect::<Vec<_>>()
        );
        assert_eq!(admin.state().await.unwrap(), SchemaState::Version(from));
        let rest = admin.initialize(e.user()).await.unwrap();
        assert_eq!(rest, (from + 1..=SCHEMA_VERSION).collect::<Vec<_>>());
        assert_eq!(
            full_shape(backend, &e.admin_dsn).await,
            expected,
            "upgrading from version {from}"
        );
        Database::open(&e.dsn).await.unwrap();
    }
    assert_eq!(MIGRATIONS.len() as i64, SCHEMA_VERSION);
}

async fn refuses_what_it_cannot_use(backend: Backend) {
    // Empty.
    let Some(e) = empty(backend, "refuses").await else {
        return;
    };
    match Database::open(&e.dsn).await {
        Err(Error::Schema(SchemaProblem::Empty)) => {}
        other => panic!("an empty database: {other:?}"),
    }
    if backend == Backend::Sqlite {
        // Opening must not create the file: only piw-initdb does that.
        assert!(!std::path::Path::new(e.dsn.strip_prefix("sqlite:").unwrap()).exists());
    }

    // Newer.
    initialize(&e).await;
    raw(
        backend,
        &e.admin_dsn,
        "UPDATE configuration SET version = 99",
    )
    .await
    .unwrap();
    let err = Database::open(&e.dsn).await.unwrap_err();
    assert!(
        matches!(err, Error::Schema(SchemaProblem::Newer { found: 99, .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("newer"), "{err}");
    let admin = Admin::connect(&e.admin_dsn).await.unwrap();
    assert!(matches!(
        admin.initialize(e.user()).await,
        Err(Error::Schema(SchemaProblem::Newer { .. }))
    ));

    // The original piwheels' database.
    let Some(o) = empty(backend, "refuses").await else {
        return;
    };
    raw(
        backend,
        &o.admin_dsn,
        "CREATE TABLE configuration (id INTEGER NOT NULL, version VARCHAR(16) NOT NULL, pypi_serial BIGINT NOT NULL);
         INSERT INTO configuration VALUES (1, '0.23', 0);
         CREATE TABLE packages (package VARCHAR(200) NOT NULL)",
    )
    .await
    .unwrap();
    let err = Database::open(&o.admin_dsn).await.unwrap_err();
    assert!(
        matches!(&err, Error::Schema(SchemaProblem::Original { version }) if version == "0.23"),
        "{err:?}"
    );
    assert!(err.to_string().contains("original"), "{err}");
    let admin = Admin::connect(&o.admin_dsn).await.unwrap();
    assert!(admin.initialize(o.user()).await.is_err());
    assert_eq!(
        raw(backend, &o.admin_dsn, "SELECT version FROM configuration")
            .await
            .unwrap(),
        [[Some("0.23".to_string())]]
    );

    // Somebody else's tables.
    let Some(f) = empty(backend, "refuses").await else {
        return;
    };
    raw(backend, &f.admin_dsn, "CREATE TABLE accounts (id INTEGER)")
        .await
        .unwrap();
    let admin = Admin::connect(&f.admin_dsn).await.unwrap();
    assert_eq!(admin.state().await.unwrap(), SchemaState::Foreign);
    assert!(matches!(
        admin.initialize(f.user()).await,
        Err(Error::Schema(SchemaProblem::Foreign))
    ));
    assert!(matches!(
        Database::open(&f.admin_dsn).await,
        Err(Error::Schema(SchemaProblem::Foreign))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_create_then_nothing_to_do() {
    create_then_nothing_to_do(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_create_then_nothing_to_do() {
    create_then_nothing_to_do(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_every_earlier_version_upgrades_to_the_same_schema() {
    every_earlier_version_upgrades_to_the_same_schema(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_every_earlier_version_upgrades_to_the_same_schema() {
    every_earlier_version_upgrades_to_the_same_schema(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_refuses_what_it_cannot_use() {
    refuses_what_it_cannot_use(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refuses_what_it_cannot_use() {
    refuses_what_it_cannot_use(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_backends_have_the_same_tables_columns_and_indexes() {
    let Some(s) = empty(Backend::Sqlite, "same_schema").await else {
        return;
    };
    let Some(p) = empty(
        Backend::Postgres,
        "both_backends_have_the_same_tables_columns_and_indexes",
    )
    .await
    else {
        return;
    };
    initialize(&s).await;
    initialize(&p).await;
    let (s_tables, s_indexes) = shape(Backend::Sqlite, &s.admin_dsn).await;
    let (p_tables, p_indexes) = shape(Backend::Postgres, &p.admin_dsn).await;
    assert_eq!(s_tables, p_tables);
    assert_eq!(s_indexes, p_indexes);
    assert!(s_tables.len() >= 16, "{s_tables:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_master_user_cannot_change_the_schema() {
    let Some(t) = common::fresh(
        Backend::Postgres,
        "postgres_master_user_cannot_change_the_schema",
    )
    .await
    else {
        return;
    };
    // Rows: yes.
    t.db.add_new_package("foo", "", "").await.unwrap();
    t.db.set_upstream_serial(10).await.unwrap();
    assert!(
        t.raw_as_master("SELECT COUNT(*) FROM packages")
            .await
            .is_ok()
    );
    assert!(t.raw_as_master("DELETE FROM downloads").await.is_ok());
    // Schema: no.
    for sql in [
        "CREATE TABLE evil (x INTEGER)",
        "DROP TABLE packages",
        "ALTER TABLE packages ADD COLUMN evil INTEGER",
        "CREATE INDEX evil ON packages (skip)",
        "TRUNCATE downloads",
        "UPDATE configuration SET version = 2",
        "INSERT INTO configuration (id, software, version) VALUES (2, 'piwheels-rs', 1)",
        "DELETE FROM configuration",
        "CREATE SCHEMA evil",
    ] {
        let err = t.raw_as_master(sql).await.expect_err(sql);
        assert!(
            err.contains("permission denied") || err.contains("must be owner"),
            "{sql}: {err}"
        );
    }
    assert_eq!(t.db.upstream_serial().await.unwrap(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_initdb_checks_its_users() {
    let Some(e) = empty(Backend::Postgres, "postgres_initdb_checks_its_users").await else {
        return;
    };
    let admin = Admin::connect(&e.admin_dsn).await.unwrap();
    let err = admin
        .initialize(Some("no_such_role_here"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    let superuser = raw(Backend::Postgres, &e.admin_dsn, "SELECT current_user")
        .await
        .unwrap()[0][0]
        .clone()
        .unwrap();
    let err = admin.initialize(Some(&superuser)).await.unwrap_err();
    assert!(err.to_string().contains("superuser"), "{err}");
    assert!(admin.initialize(None).await.is_err());
    assert_eq!(
        admin.state().await.unwrap(),
        SchemaState::Empty,
        "nothing is created when the checks fail"
    );
    // piw-initdb itself must run as a superuser.
    let err = Admin::connect(&e.dsn).await.unwrap_err();
    assert!(err.to_string().contains("superuser"), "{err}");
}

#[test]
fn schema_problems_say_what_to_do() {
    let old = SchemaState::Version(0).problem().unwrap();
    assert!(old.to_string().contains("piw-initdb"), "{old}");
    assert!(
        SchemaState::Empty
            .problem()
            .unwrap()
            .to_string()
            .contains("piw-initdb")
    );
    assert!(SchemaState::Version(SCHEMA_VERSION).problem().is_none());
    assert!(SchemaState::Version(SCHEMA_VERSION + 1).plan().is_err());
    assert_eq!(SchemaState::Empty.plan().unwrap().len(), MIGRATIONS.len());
}
