//! `piw-initdb` as a user runs it: asking first, creating, upgrading nothing twice,
//! enabling targets, reading `piwheels.conf`, and on PostgreSQL granting the master's user.

use std::process::{Command, Output};
use std::time::Duration;

use piwheels_db::{Database, Target};

use test_support::process;

fn initdb(args: &[&str], stdin: &str) -> Output {
    process::output_within(
        Command::new(env!("CARGO_BIN_EXE_piw-initdb"))
            .args(args)
            .env("HOME", "/nonexistent"),
        stdin.as_bytes(),
        Duration::from_secs(120),
        "piw-initdb",
    )
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn sqlite_asks_first_then_creates_and_enables_targets() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("var/piwheels.db");
    let dsn = format!("sqlite:{}", file.display());

    let out = initdb(&["-d", &dsn, "--target", "cp311/linux_armv7l"], "n\n");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let asked = text(&out.stderr);
    assert!(
        asked.contains("create the directory") && asked.contains("schema version 1"),
        "{asked}"
    );
    assert!(asked.contains("cp311/linux_armv7l"), "{asked}");
    assert!(
        !file.parent().unwrap().exists(),
        "nothing may change when the answer is no"
    );

    let out = initdb(&["-d", &dsn, "--target", "cp311/linux_armv7l"], "y\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("build targets: cp311/linux_armv7l"),
        "{}",
        text(&out.stdout)
    );

    // Current now: no question, nothing done.
    let out = initdb(&["-d", &dsn], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("already current"),
        "{}",
        text(&out.stdout)
    );

    // Without an answer on stdin, a change is declined.
    let out = initdb(&["-d", &dsn, "--target", "cp39/linux_armv7l"], "");
    assert_eq!(out.status.code(), Some(2));
    let out = initdb(&["-d", &dsn, "--target", "cp39/linux_armv7l", "-y"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));

    let rt = tokio::runtime::Runtime::new().unwrap();
    let targets = rt.block_on(async {
        let db = Database::open(&dsn).await.unwrap();
        db.build_targets().await.unwrap()
    });
    assert_eq!(
        targets.into_iter().map(|(t, _)| t).collect::<Vec<_>>(),
        [
            Target::new("cp39", "linux_armv7l"),
            Target::new("cp311", "linux_armv7l")
        ]
    );
}

#[test]
fn options_come_from_piwheels_conf() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("piwheels.db");
    let conf = dir.path().join("piwheels.conf");
    std::fs::write(
        &conf,
        format!(
            "[master]\ndsn = sqlite:{}\nyes = true\ntarget = cp311/linux_aarch64\n",
            file.display()
        ),
    )
    .unwrap();
    let out = initdb(&["-c", conf.to_str().unwrap()], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("cp311/linux_aarch64"),
        "{}",
        text(&out.stdout)
    );
    assert!(file.exists());
}

#[test]
fn bad_input_is_a_clear_error() {
    let out = initdb(&["--target", "cp311"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("ABI/PLATFORM"),
        "{}",
        text(&out.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let foreign = dir.path().join("other.db");
    rusqlite::Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE accounts (id INTEGER)")
        .unwrap();
    let out = initdb(&["-d", &format!("sqlite:{}", foreign.display()), "-y"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("not a piwheels schema"),
        "{}",
        text(&out.stderr)
    );
    let out = initdb(
        &[
            "-d",
            "postgres://nobody@/nonexistent?host=/nonexistent-dir",
            "-y",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).starts_with("error: "),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn postgres_grants_the_master_user() {
    let Some(super_dsn) = pg_superuser() else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let name = format!("piwi_{}", std::process::id());
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&super_dsn, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        for sql in [
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            format!("DROP ROLE IF EXISTS {name}"),
            format!("CREATE ROLE {name} LOGIN"),
            format!("CREATE DATABASE {name} TEMPLATE template0"),
        ] {
            client.batch_execute(&sql).await.unwrap();
        }
    });
    let admin_dsn = format!("{super_dsn} dbname={name}");
    let out = initdb(
        &[
            "-d",
            &admin_dsn,
            "-u",
            &name,
            "--target",
            "cp311/linux_armv7l",
            "-y",
        ],
        "",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !text(&out.stdout).contains("password"),
        "{}",
        text(&out.stdout)
    );
    // As an unprivileged user, piw-initdb refuses.
    let user_dsn = format!("{super_dsn} user={name} dbname={name}");
    let out = initdb(&["-d", &user_dsn, "-y"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("superuser"),
        "{}",
        text(&out.stderr)
    );
    // The master's user can use the database.
    rt.block_on(async {
        let db = Database::open(&user_dsn).await.unwrap();
        assert_eq!(db.build_targets().await.unwrap().len(), 1);
        db.add_new_package("foo", "", "").await.unwrap();
        drop(db);
        let (client, conn) = tokio_postgres::connect(&super_dsn, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await
            .unwrap();
        client
            .batch_execute(&format!("DROP ROLE IF EXISTS {name}"))
            .await
            .unwrap();
    });
}

/// The test server's superuser address (`PIWHEELS_TEST_PG`, else `scripts/pg-env`), or
/// `None` with the reason printed (a failure instead when `PIWHEELS_REQUIRE_PG` is set).
fn pg_superuser() -> Option<String> {
    match test_support::setup::pg_superuser() {
        Ok(dsn) => Some(dsn),
        Err(why) => {
            assert!(
                !test_support::setup::pg_required(),
                "PostgreSQL is required but: {why}"
            );
            test_support::skip(
                "postgres_grants_the_master_user",
                &format!("no PostgreSQL server: {why}"),
            );
            None
        }
    }
}
