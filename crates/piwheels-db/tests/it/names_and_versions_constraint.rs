//! Issue 14, item 4: hostile package names (`../x` stored as `-/x`, `a/b`, `x y`, a tab,
//! `..`, non-ASCII) and versions (with `/`, `..`, whitespace, control characters) sat in
//! the database for ever, since the page writer refuses them. Now the database refuses
//! them itself, through its API and through its own constraints (raw SQL too), on both
//! backends; the rules in SQL agree with the Rust ones character for character; and an
//! upgrade from schema version 1 removes (and lists) the rows that break them.

use crate::common;

use common::{Backend, TestDb, build, empty, raw};
use piwheels_db::admin::Admin;
use piwheels_db::names::{self, validate_name, validate_package, validate_version};
use piwheels_db::schema::{Removed, SCHEMA_VERSION, SchemaState};
use piwheels_db::{Database, Error, PendingRewrite, RewriteCommand, Target};

/// The names the issue lists, and other ways to break the rule.
const BAD_NAMES: &[&str] = &[
    "../x", "-/x", "a/b", "x y", "x\ty", "\t", "..", ".", "café", "日本", "a\\b", "-x", "x_",
    "x\u{a0}y", "x\u{1}y", "",
];

/// Versions that break the rule.
const BAD_VERSIONS: &[&str] = &[
    "1.0/../x",
    "1/2",
    "..",
    ".",
    "1..2",
    "../1",
    "1 0",
    "1.0\t",
    "1\n",
    "1\u{1}",
    "1\u{7f}",
    "1\\2",
    "1.0\u{a0}",
    "1é",
    "",
];

/// Odd but legal names, and the package each is a spelling of.
const GOOD_NAMES: &[(&str, &str)] = &[
    ("zope.interface", "zope-interface"),
    ("Foo_Bar", "foo-bar"),
    ("a", "a"),
    ("1", "1"),
];

fn is_invalid<T: std::fmt::Debug>(r: Result<T, Error>, what: &str) -> String {
    match r {
        Err(Error::Invalid { why, .. }) => why,
        other => panic!("{what}: expected Error::Invalid, got {other:?}"),
    }
}

async fn the_api_refuses_bad_names_and_versions(t: TestDb) {
    let db = &t.db;
    for (name, package) in GOOD_NAMES {
        assert!(db.add_new_package(package, "", "").await.unwrap(), "{name}");
        db.add_package_name(package, name, None).await.unwrap();
    }
    db.set_build_targets(&[Target::new("cp311", "linux_armv7l")])
        .await
        .unwrap();
    for bad in BAD_NAMES {
        let why = is_invalid(db.add_new_package(bad, "", "").await, bad);
        assert!(why.contains("package name"), "{bad:?}: {why}");
        is_invalid(db.add_package_name("a", bad, None).await, bad);
        is_invalid(db.add_new_package_version(bad, "1.0", None, "").await, bad);
        is_invalid(
            db.log_build(&build(bad, "1.0", "cp311/linux_armv7l", None))
                .await,
            bad,
        );
        let rewrite = PendingRewrite {
            package: (*bad).to_owned(),
            added_at: chrono::Utc::now(),
            command: RewriteCommand::Both,
        };
        is_invalid(db.save_rewrites_pending(&[rewrite]).await, bad);
    }
    // A spelling of another package, and a name that is not canonical as a key.
    is_invalid(db.add_package_name("a", "b", None).await, "b for a");
    is_invalid(
        db.add_new_package("Zope.Interface", "", "").await,
        "not canonical",
    );
    for bad in BAD_VERSIONS {
        let why = is_invalid(db.add_new_package_version("a", bad, None, "").await, bad);
        assert!(why.contains("version"), "{bad:?}: {why}");
        is_invalid(
            db.log_build(&build("a", bad, "cp311/linux_armv7l", None))
                .await,
            bad,
        );
    }
    // A version need not be PEP 440 to be stored.
    assert!(
        db.add_new_package_version("a", "2004d", None, "")
            .await
            .unwrap()
    );
    assert!(
        db.add_new_package_version("1", "1.0", None, "")
            .await
            .unwrap()
    );
    assert_eq!(
        db.all_packages()
            .await
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        ["1", "a", "foo-bar", "zope-interface"]
    );
    assert_eq!(db.all_package_versions().await.unwrap().len(), 2);
    // Nothing bad reached the queue.
    let queued: Vec<(String, String)> = db
        .build_queue(100)
        .await
        .unwrap()
        .into_values()
        .flatten()
        .collect();
    assert_eq!(queued.len(), 2, "{queued:?}");
}

/// An SQL string literal of `s` for a backend (quotes doubled).
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

async fn raw_sql_cannot_store_bad_names_or_versions(t: TestDb) {
    t.raw("INSERT INTO packages (package) VALUES ('good')")
        .await;
    let released = match t.backend {
        Backend::Sqlite => "0",
        Backend::Postgres => "now()",
    };
    let seen = released;
    for bad in BAD_NAMES.iter().filter(|b| !b.is_empty()) {
        for (sql, who) in [
            (
                format!("INSERT INTO packages (package) VALUES ({})", literal(bad)),
                "packages",
            ),
            (
                format!(
                    "INSERT INTO package_names (name, package, seen) VALUES ({}, 'good', {seen})",
                    literal(bad)
                ),
                "package_names",
            ),
            (
                format!(
                    "INSERT INTO rewrites_pending (package, added_at, command) \
                     VALUES ({}, {seen}, 'BOTH')",
                    literal(bad)
                ),
                "rewrites_pending",
            ),
        ] {
            for dsn in [&t.admin_dsn, &t.dsn] {
                let err = raw(t.backend, dsn, &sql)
                    .await
                    .expect_err(&format!("{who}: {bad:?}"));
                assert!(
                    err.contains("rule") || err.contains("check constraint"),
                    "{who} {bad:?}: {err}"
                );
            }
        }
    }
    // A name that is fine as a spelling is still not a package key.
    assert!(
        raw(
            t.backend,
            &t.dsn,
            "INSERT INTO packages (package) VALUES ('Good')"
        )
        .await
        .is_err()
    );
    for bad in BAD_VERSIONS.iter().filter(|b| !b.is_empty()) {
        let sql = format!(
            "INSERT INTO versions (package, version, released) VALUES ('good', {}, {released})",
            literal(bad)
        );
        for dsn in [&t.admin_dsn, &t.dsn] {
            let err = raw(t.backend, dsn, &sql).await.expect_err(bad);
            assert!(
                err.contains("rule") || err.contains("check constraint"),
                "{bad:?}: {err}"
            );
        }
    }
    // Updates are held to the same rules.
    t.raw(&format!(
        "INSERT INTO versions (package, version, released) VALUES ('good', '1.0', {released});
         INSERT INTO package_names (name, package, seen) VALUES ('Good', 'good', {seen});
         INSERT INTO rewrites_pending (package, added_at, command) VALUES ('good', {seen}, 'BOTH')"
    ))
    .await;
    for sql in [
        "UPDATE packages SET package = '-/x' WHERE package = 'good'",
        "UPDATE package_names SET name = 'x y' WHERE name = 'Good'",
        "UPDATE versions SET version = '1.0/../x' WHERE version = '1.0'",
        "UPDATE rewrites_pending SET package = '..' WHERE package = 'good'",
    ] {
        let err = raw(t.backend, &t.admin_dsn, sql).await.expect_err(sql);
        assert!(
            err.contains("rule") || err.contains("check constraint"),
            "{sql}: {err}"
        );
    }
    // Odd but legal ones are stored.
    for (name, package) in GOOD_NAMES {
        t.raw(&format!(
            "INSERT INTO packages (package) VALUES ({p});
             INSERT INTO package_names (name, package, seen) VALUES ({n}, {p}, {seen})",
            p = literal(package),
            n = literal(name)
        ))
        .await;
    }
    t.raw(&format!(
        "INSERT INTO versions (package, version, released) VALUES ('good', '2004d', {released})"
    ))
    .await;
    assert_eq!(
        t.raw("SELECT COUNT(*) FROM packages").await,
        [[Some("5".to_owned())]]
    );
    if t.backend == Backend::Sqlite {
        // What SQLite alone lets through: NUL inside text (GLOB stops at it) and blobs.
        for sql in [
            "INSERT INTO packages (package) VALUES ('ok' || char(0) || '/x')",
            "INSERT INTO packages (package) VALUES (X'6f6b')",
            "INSERT INTO versions (package, version, released) VALUES ('good', '1' || char(0) || '/', 0)",
        ] {
            assert!(raw(t.backend, &t.admin_dsn, sql).await.is_err(), "{sql}");
        }
    }
}

/// Every character (ASCII and some beyond) at the start, inside and at the end of a name
/// and a version: the database takes exactly what the Rust rules take.
async fn the_sql_rules_agree_with_the_rust_ones(t: TestDb) {
    t.raw("INSERT INTO packages (package) VALUES ('base')")
        .await;
    let mut corpus: Vec<String> = Vec::new();
    let chars = (0u32..0x80).filter_map(char::from_u32).chain([
        'é', 'ä', '日', '\u{a0}', '\u{2028}', '\u{200b}', '\u{feff}', '\u{212a}',
    ]);
    for c in chars {
        for s in [
            format!("{c}"),
            format!("a{c}b"),
            format!("{c}a"),
            format!("a{c}"),
            format!("1{c}0"),
            format!("1{c}{c}0"),
        ] {
            corpus.push(s);
        }
    }
    for s in [
        "a".repeat(200),
        "a".repeat(201),
        "a-".repeat(99) + "ab",
        "Zope.Interface".into(),
        "a--b".into(),
        "a-_b".into(),
        "1.0.post1+local".into(),
        "...".into(),
    ] {
        corpus.push(s);
    }
    corpus.sort();
    corpus.dedup();
    corpus.retain(|s| !s.is_empty() && s != "base");

    let mut checked = 0;
    let mut store = Store::connect(&t).await;
    for s in &corpus {
        let expected = [
            ("packages", validate_package(s).is_ok()),
            ("package_names", validate_name(s).is_ok()),
            ("versions", validate_version(s).is_ok()),
        ];
        for (table, ok) in expected {
            let stored = store.insert(table, s).await;
            assert_eq!(
                stored.is_ok(),
                ok,
                "{:?} {table} {s:?}: Rust says {ok}, the database says {stored:?}",
                t.backend
            );
            checked += 1;
        }
    }
    assert!(checked > 2000, "{checked}");
}

/// One connection as the administrator, inserting one value at a time.
enum Store {
    Sqlite(rusqlite::Connection),
    Postgres(tokio_postgres::Client),
}

impl Store {
    async fn connect(t: &TestDb) -> Store {
        match t.backend {
            Backend::Sqlite => Store::Sqlite(
                rusqlite::Connection::open(t.admin_dsn.strip_prefix("sqlite:").unwrap()).unwrap(),
            ),
            Backend::Postgres => Store::Postgres(common::pg_connect(&t.admin_dsn).await.unwrap()),
        }
    }

    /// Inserts `s` where `table` keeps a rule (`packages.package`, `package_names.name`
    /// or `versions.version`, the others naming the package `base`).
    async fn insert(&mut self, table: &str, s: &str) -> Result<(), String> {
        let (sqlite, pg) = match table {
            "packages" => (
                "INSERT INTO packages (package) VALUES (?1)",
                "INSERT INTO packages (package) VALUES ($1)",
            ),
            "package_names" => (
                "INSERT INTO package_names (name, package, seen) VALUES (?1, 'base', 0)",
                "INSERT INTO package_names (name, package, seen) VALUES ($1, 'base', now())",
            ),
            _ => (
                "INSERT INTO versions (package, version, released) VALUES ('base', ?1, 0)",
                "INSERT INTO versions (package, version, released) VALUES ('base', $1, now())",
            ),
        };
        match self {
            Store::Sqlite(c) => c.execute(sqlite, [s]).map(drop).map_err(|e| e.to_string()),
            Store::Postgres(c) => c
                .execute(pg, &[&s])
                .await
                .map(drop)
                .map_err(|e| common::pg_error(&e)),
        }
    }
}

both_backends!(
    the_api_refuses_bad_names_and_versions,
    raw_sql_cannot_store_bad_names_or_versions,
    the_sql_rules_agree_with_the_rust_ones,
);

/// A version-1 database holding what the old code let in: the upgrade must not fail on
/// it, removes exactly the rows that break the rules (with what hangs off them), says
/// which, and keeps everything else.
async fn upgrading_removes_and_lists_the_rows_that_break_the_rules(backend: Backend) {
    let Some(e) = empty(
        backend,
        "upgrading_removes_and_lists_the_rows_that_break_the_rules",
    )
    .await
    else {
        return;
    };
    let admin = Admin::connect(&e.admin_dsn).await.unwrap();
    assert_eq!(admin.migrate_to(1, e.user()).await.unwrap(), [1]);
    let now = match backend {
        Backend::Sqlite => "0",
        Backend::Postgres => "now()",
    };
    let hash = "0".repeat(64);
    let sql = format!(
        "INSERT INTO build_targets (abi_tag, platform_tag) VALUES ('cp311', 'linux_armv7l');
         INSERT INTO packages (package) VALUES ('-/x'), ('a b'), ('caf\u{e9}'), ('Upper'), ('good'), ('zope-interface');
         INSERT INTO package_names (name, package, seen) VALUES
             ('../x', '-/x', {now}), ('x y', 'good', {now}), ('Good', 'good', {now}),
             ('zope.interface', 'zope-interface', {now}), ('good\t', 'good', {now});
         INSERT INTO versions (package, version, released) VALUES
             ('-/x', '1.0', {now}), ('good', '1.0', {now}), ('good', '2004d', {now}),
             ('good', '1.0/../x', {now}), ('good', '1 0', {now}), ('good', '..', {now}),
             ('zope-interface', '5.0', {now});
         INSERT INTO builds (package, version, built_by, built_at, duration_us, status, abi_tag, platform_tag) VALUES
             ('good', '1.0', 1, {now}, 5, TRUE, 'cp311', 'linux_armv7l'),
             ('good', '1 0', 1, {now}, 5, TRUE, 'cp311', 'linux_armv7l'),
             ('-/x', '1.0', 1, {now}, 5, TRUE, 'cp311', 'linux_armv7l');
         INSERT INTO files (filename, build_id, filesize, filehash, package_tag, package_version_tag, py_version_tag, abi_tag, platform_tag)
             SELECT 'good-' || version || '-py3-none-any.whl', build_id, 1, '{hash}', 'good', version, 'py3', 'none', 'any'
             FROM builds WHERE package = 'good';
         INSERT INTO builds_pending (abi_tag, platform_tag, package, version, released) VALUES
             ('cp311', 'linux_armv7l', 'good', '2004d', {now}),
             ('cp311', 'linux_armv7l', 'good', '..', {now}),
             ('cp311', 'linux_armv7l', '-/x', '1.0', {now});
         INSERT INTO rewrites_pending (package, added_at, command) VALUES
             ('good', {now}, 'BOTH'), ('a b', {now}, 'BOTH'), ('gone/x', {now}, 'PROJECT')"
    );
    raw(backend, &e.admin_dsn, &sql).await.unwrap();

    let expected = vec![
        ("packages", "-/x", None),
        ("packages", "Upper", None),
        ("packages", "a b", None),
        ("packages", "caf\u{e9}", None),
        ("package_names", "good", Some("good\t")),
        ("package_names", "good", Some("x y")),
        ("versions", "good", Some("..")),
        ("versions", "good", Some("1 0")),
        ("versions", "good", Some("1.0/../x")),
        ("rewrites_pending", "a b", None),
        ("rewrites_pending", "gone/x", None),
    ];
    let shape = |removed: &[Removed]| {
        let mut v: Vec<(&str, String, Option<String>)> = removed
            .iter()
            .map(|r| (r.table, r.package.clone(), r.item.clone()))
            .collect();
        v.sort_by_key(|(t, p, i)| {
            let order = ["packages", "package_names", "versions", "rewrites_pending"];
            (order.iter().position(|o| o == t), p.clone(), i.clone())
        });
        v
    };
    let expected: Vec<(&str, String, Option<String>)> = expected
        .into_iter()
        .map(|(t, p, i)| (t, p.to_owned(), i.map(str::to_owned)))
        .collect();

    // piw-initdb's preview changes nothing.
    let preview = admin.pending_removals().await.unwrap();
    assert_eq!(shape(&preview), expected);
    assert_eq!(admin.state().await.unwrap(), SchemaState::Version(1));

    let upgrade = admin.upgrade(e.user()).await.unwrap();
    assert_eq!(upgrade.versions, (2..=SCHEMA_VERSION).collect::<Vec<_>>());
    assert_eq!(shape(&upgrade.removed), expected);
    assert_eq!(upgrade.removed, preview);
    // Each says what is wrong, in the rules' words.
    let said: Vec<String> = upgrade.removed.iter().map(ToString::to_string).collect();
    assert!(
        said.iter()
            .any(|s| s.starts_with("package \"-/x\" with everything of it: ")
                && s.contains("path separator '/'")),
        "{said:#?}"
    );
    assert!(
        said.iter()
            .any(|s| s.contains("version \"1 0\" of package \"good\"")
                && s.contains("whitespace ' '")),
        "{said:#?}"
    );
    assert!(
        said.iter()
            .any(|s| s.contains("\"Upper\"") && s.contains("not canonical")),
        "{said:#?}"
    );

    let q = |sql: &'static str| {
        let dsn = e.admin_dsn.clone();
        async move {
            raw(backend, &dsn, sql)
                .await
                .unwrap()
                .into_iter()
                .map(|r| {
                    r.into_iter()
                        .map(Option::unwrap_or_default)
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        q("SELECT package FROM packages ORDER BY package").await,
        ["good", "zope-interface"]
    );
    assert_eq!(
        q("SELECT name FROM package_names ORDER BY name").await,
        ["Good", "zope.interface"]
    );
    assert_eq!(
        q("SELECT package, version FROM versions ORDER BY package, version").await,
        ["good 1.0", "good 2004d", "zope-interface 5.0"]
    );
    assert_eq!(
        q("SELECT package, version FROM builds ORDER BY build_id").await,
        ["good 1.0"]
    );
    assert_eq!(
        q("SELECT filename FROM files").await,
        ["good-1.0-py3-none-any.whl"]
    );
    assert_eq!(
        q("SELECT package, version FROM builds_pending").await,
        ["good 2004d"]
    );
    assert_eq!(q("SELECT package FROM rewrites_pending").await, ["good"]);

    // The master opens it; the constraints hold from now on; a second run has nothing
    // to do.
    let db = Database::open(&e.dsn).await.unwrap();
    assert_eq!(
        db.display_name("good").await.unwrap().as_deref(),
        Some("Good")
    );
    assert!(
        raw(
            backend,
            &e.admin_dsn,
            "INSERT INTO packages (package) VALUES ('../x')"
        )
        .await
        .is_err()
    );
    assert!(admin.pending_removals().await.unwrap().is_empty());
    let again = admin.upgrade(e.user()).await.unwrap();
    assert!(
        again.versions.is_empty() && again.removed.is_empty(),
        "{again:?}"
    );
    assert!(names::is_pep440("1.0") && !names::is_pep440("2004d"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_upgrading_removes_and_lists_the_rows_that_break_the_rules() {
    upgrading_removes_and_lists_the_rows_that_break_the_rules(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_upgrading_removes_and_lists_the_rows_that_break_the_rules() {
    upgrading_removes_and_lists_the_rows_that_break_the_rules(Backend::Postgres).await;
}
