//! Issue 14, item 4: hostile names and versions sat in the database for ever. Upgrading a
//! version-1 database with `piw-initdb` removes the rows that break the rules, lists them
//! before it asks (changing nothing if the answer is no), and says each one it removed.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use piwheels_db::Database;
use piwheels_db::admin::Admin;
use piwheels_db::schema::{SCHEMA_VERSION, SchemaState};

fn initdb(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_piw-initdb"))
        .args(args)
        .env("HOME", "/nonexistent")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn sqlite_upgrade_lists_then_removes_the_rows_that_break_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("piwheels.db");
    let dsn = format!("sqlite:{}", file.display());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let admin = Admin::connect(&dsn).await.unwrap();
        admin.migrate_to(1, None).await.unwrap();
    });
    // What the old code let in.
    let conn = rusqlite::Connection::open(&file).unwrap();
    conn.execute_batch(
        "INSERT INTO packages (package) VALUES ('-/x'), ('x y'), ('good');
         INSERT INTO versions (package, version, released) VALUES
             ('good', '1.0', 0), ('good', '1.0/../x', 0), ('good', '1' || char(9), 0);",
    )
    .unwrap();
    drop(conn);

    let out = initdb(&["-d", &dsn], "n\n");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let asked = text(&out.stderr);
    for says in [
        "schema version 2",
        "remove 4 row(s) that break the package name and version rules",
        "package \"-/x\" with everything of it: package name \"-/x\" contains the path separator '/'",
        "package \"x y\" with everything of it: package name \"x y\" contains the whitespace ' '",
        "version \"1.0/../x\" of package \"good\"",
        "version \"1\\t\" of package \"good\" with its builds and files: version \"1\\t\" contains the whitespace '\\t'",
    ] {
        assert!(asked.contains(says), "{says:?} in {asked}");
    }
    rt.block_on(async {
        let admin = Admin::connect(&dsn).await.unwrap();
        assert_eq!(admin.state().await.unwrap(), SchemaState::Version(1));
        assert_eq!(admin.pending_removals().await.unwrap().len(), 4);
    });

    let out = initdb(&["-d", &dsn, "-y"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    let removed: Vec<&str> = said.lines().filter(|l| l.starts_with("removed ")).collect();
    assert_eq!(removed.len(), 4, "{said}");
    assert!(
        removed
            .iter()
            .any(|l| l.starts_with("removed package \"-/x\" with everything of it: ")),
        "{said}"
    );
    assert!(
        said.contains(&format!("schema version {SCHEMA_VERSION}")),
        "{said}"
    );
    rt.block_on(async {
        let db = Database::open(&dsn).await.unwrap();
        assert_eq!(
            db.all_packages()
                .await
                .unwrap()
                .into_iter()
                .collect::<Vec<_>>(),
            ["good"]
        );
        assert_eq!(
            db.all_package_versions()
                .await
                .unwrap()
                .into_iter()
                .collect::<Vec<_>>(),
            [("good".to_owned(), "1.0".to_owned())]
        );
    });

    // Nothing more to do, nothing more removed.
    let out = initdb(&["-d", &dsn], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("already current"));
    assert!(!text(&out.stdout).contains("removed "));
}
