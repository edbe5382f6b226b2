//! `piw-migrate` (issue 20): a generated piwheels 0.23 database (the fixture of
//! [`migrate_source`](super::migrate_source)) is copied into ours, on SQLite and on
//! PostgreSQL, checked with `--check`, and read back through [`Database`]: every kind of
//! row and every odd case lands as our rules say, or is dropped and listed. Sources that
//! are not 0.23 and targets that are not empty are refused; an interrupted run resumes.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use piwheels_db::load::Loader;
use piwheels_db::{Database, Target};
use tokio_postgres::Client;

use super::migrate_source::{self, Expectations, Guard, Scale, pg_or_skip};

const LIMIT: Duration = Duration::from_secs(120);

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_piw-migrate")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs piw-migrate with `args` (and `-y`), within [`LIMIT`].
fn migrate(args: &[&str]) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(args).arg("-y").env_remove("RUST_LOG");
    test_support::process::output_within(&mut cmd, b"", LIMIT, "piw-migrate")
}

/// A fresh 0.23 source filled at `scale`: its address, what it holds, a client and the
/// guard that drops it.
async fn source(super_dsn: &str, scale: &Scale) -> (String, Expectations, Client, Guard) {
    let (dsn, guard) = migrate_source::create(super_dsn).await.unwrap();
    let client = migrate_source::connect(&dsn).await.unwrap();
    let exp = migrate_source::generate(&client, scale).await.unwrap();
    (dsn, exp, client, guard)
}

/// Runs a migration that must succeed; returns its standard output.
fn migrate_ok(source: &str, target: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "--source",
        source,
        "-d",
        target,
        "--platform",
        "linux_armv7l",
    ];
    args.extend(extra);
    let out = migrate(&args);
    assert!(
        out.status.success(),
        "piw-migrate failed: {}\n{}",
        text(&out.stderr),
        text(&out.stdout)
    );
    text(&out.stdout)
}

/// `piw-migrate --check` must pass.
fn check_ok(source: &str, target: &str) -> String {
    let out = migrate(&[
        "--source", source, "-d", target, "--check", "--sample", "500",
    ]);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("the target matches its source"),
        "--check: {}\n{stdout}",
        text(&out.stderr)
    );
    stdout
}

/// What the migrated database must hold, read back through our own API.
async fn check_target(dsn: &str, exp: &Expectations, report_out: &str) {
    let db = Database::open(dsn)
        .await
        .unwrap_or_else(|e| panic!("the master's Database refuses the migrated target: {e}"));
    let odd = &exp.odd;
    // Build targets: every ABI on the platform, the skipped ones skipped.
    let targets = db.build_targets().await.unwrap();
    for (abi, skip) in migrate_source::odd::BUILD_ABIS {
        let t = Target::new(*abi, "linux_armv7l");
        let found = targets.iter().find(|(x, _)| *x == t);
        assert_eq!(
            found.map(|(_, s)| s.as_str()),
            Some(*skip),
            "{t:?} in {targets:?}"
        );
    }
    assert_eq!(db.upstream_serial().await.unwrap(), exp.pypi_serial);
    assert_eq!(
        db.preinstalled_apt_packages("cp311").await.unwrap().len(),
        4
    );
    // Names: display names and every alias.
    for (package, display) in &odd.display_names {
        assert_eq!(
            db.display_name(package).await.unwrap().as_deref(),
            Some(display.as_str())
        );
    }
    for (package, names) in &odd.aliases {
        let mut got = db.package_aliases(package).await.unwrap();
        let mut want = names.clone();
        got.retain(|n| n != package);
        want.retain(|n| n != package);
        got.sort();
        want.sort();
        assert_eq!(got, want, "aliases of {package}");
    }
    // A package stored under a name that is not canonical is stored under its canonical
    // name, with its versions.
    for p in &odd.non_canonical_packages {
        let canon = piwheels_db::canonicalize_name(p);
        assert!(db.package_exists(&canon).await.unwrap(), "{canon}");
        assert!(
            db.version_exists(&canon, "1.0").await.unwrap(),
            "{canon} 1.0"
        );
        assert!(report_out.contains("not canonical: stored under its canonical name"));
    }
    // Hostile names are dropped and listed; the 200-character one fits our rules.
    for (p, _) in &odd.hostile_packages {
        let fits = piwheels_db::names::validate_package(p).is_ok();
        assert_eq!(db.package_exists(p).await.unwrap(), fits, "{p:?}");
        if !fits {
            let listed = serde_json::to_string(&[p]).unwrap();
            assert!(
                report_out.contains(&format!("dropped packages {listed}")),
                "{p:?} not listed in:\n{report_out}"
            );
        }
    }
    // Skips, deletions and yanks.
    for (p, why) in &odd.skipped_packages {
        assert!(db.package_exists(p).await.unwrap(), "{p}");
        let _ = why;
    }
    for p in &odd.deleted_packages {
        assert!(db.package_marked_deleted(p).await.unwrap(), "{p}");
    }
    for (p, v, why) in &odd.skipped_versions {
        assert_eq!(
            db.version_skip(p, v).await.unwrap().as_deref(),
            Some(why.as_str())
        );
    }
    for (p, v) in &odd.deleted_versions {
        assert_eq!(
            db.version_skip(p, v).await.unwrap().as_deref(),
            Some("deleted")
        );
    }
    let data = db.project_data("odd-versions").await.unwrap().unwrap();
    let yanked: Vec<&str> = data
        .releases
        .iter()
        .filter(|(_, r)| r.yanked)
        .map(|(v, _)| v.as_str())
        .collect();
    for (p, v) in odd
        .yanked_versions
        .iter()
        .filter(|(p, _)| p == "odd-versions")
    {
        assert!(yanked.contains(&v.as_str()), "{p} {v} yanked: {yanked:?}");
    }
    // Impossible times: the rows are dropped and listed.
    for (what, key, _) in &odd.impossible_dates {
        if what == "versions.released" {
            let (p, v) = key.split_once(' ').unwrap();
            assert!(!db.version_exists(p, v).await.unwrap(), "{key}");
        }
        assert!(report_out.contains("impossible time"), "{report_out}");
    }
    // Files: every tag, size, hash, requires_python and location; armv6l copies are
    // alias copies of their armv7l wheel.
    for (copy, real) in &odd.armv6l_copies {
        let rec = db
            .file(copy)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{copy}"));
        assert_eq!(rec.twin_of.as_deref(), Some(real.as_str()), "{copy}");
        let real_rec = db.file(real).await.unwrap().unwrap();
        assert_eq!(rec.file.filehash, real_rec.file.filehash);
        assert_eq!(real_rec.twin_of, None);
    }
    let f = db
        .file("odd_abis-1.0-cp311-cp311-linux_armv7l.whl")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(f.build_id, 2);
    assert_eq!(f.file.filesize, 123_456);
    assert_eq!(f.file.filehash, "a".repeat(64));
    assert_eq!(f.file.requires_python.as_deref(), Some(">=3.11"));
    assert_eq!(f.file.dependencies.get("apt").map(|d| d.len()), Some(2));
    for (file, location) in &odd.other_locations {
        let rec = db.file(file).await.unwrap().unwrap();
        assert_eq!(&rec.file.location, location);
    }
    // Builds keep their ids, and a new build never takes one the source gave.
    let next = db
        .log_build(&piwheels_db::NewBuild {
            package: "odd-abis".into(),
            version: "3.0".into(),
            built_by: 1,
            target: Target::new("cp313", "linux_armv7l"),
            status: false,
            duration: chrono::TimeDelta::seconds(1),
            built_at: None,
            files: vec![],
        })
        .await
        .unwrap();
    assert!(next > exp.last_build_id, "{next} <= {}", exp.last_build_id);
}

/// The twins counted in the report are every armv6l copy of the source.
fn report_counts(stdout: &str, exp: &Expectations) {
    let twins = exp.regular.armv6l_copies + exp.odd.armv6l_copies.len() as u64;
    assert!(
        stdout.contains(&format!(
            "changed {twins} row(s) of armv6l_copies: armv6l copy of an armv7l wheel"
        )),
        "{twins} twins not reported in:\n{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_023_database_migrates_to_sqlite_and_checks() {
    let test = "piw_migrate::a_023_database_migrates_to_sqlite_and_checks";
    let Some(super_dsn) = pg_or_skip(test) else {
        return;
    };
    let (src, exp, client, _guard) = source(&super_dsn, &Scale::small()).await;
    // Durations no build took (INTERVAL holds them): dropped and listed, with their files.
    client
        .batch_execute(
            "INSERT INTO builds (build_id, package, version, built_by, built_at, duration, status, abi_tag) \
             VALUES (900001, 'odd-abis', '2.0', 1, '2021-03-01', '-00:00:05', true, 'cp39'), \
                    (900002, 'odd-abis', '2.0', 1, '2021-03-02', '5000 years', true, 'cp39'); \
             INSERT INTO files VALUES ('odd_abis-2.0-cp39-cp39-linux_armv7l.whl', 900002, 10, \
                 repeat('c', 64), 'odd_abis', '2.0', 'cp39', 'cp39', 'linux_armv7l', NULL, '/simple'), \
                 ('odd_abis-2.0-cp39-cp39-linux_aarch64.whl', 4, 10, repeat('Z', 64), \
                 'odd_abis', '2.0', 'cp39', 'cp39', 'linux_aarch64', NULL, '/simple'), \
                 ('odd_abis-2.0-cp39-cp39-linux_x86_64.whl', 4, -1, repeat('d', 64), \
                 'odd_abis', '2.0', 'cp39', 'cp39', 'linux_x86_64', NULL, '/simple'), \
                 ('.hidden-2.0-py3-none-any.whl', 4, 10, repeat('d', 64), \
                 'odd_abis', '2.0', 'py3', 'none', 'any', NULL, '/simple')",
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = format!("sqlite:{}", dir.path().join("piwheels.db").display());
    let (s, t) = (src.clone(), target.clone());
    let out = tokio::task::spawn_blocking(move || migrate_ok(&s, &t, &["--batch", "50"]))
        .await
        .unwrap();
    report_counts(&out, &exp);
    for id in ["900001", "900002"] {
        assert!(
            out.contains(&format!(
                "dropped builds [\"{id}\"]: a negative or unreadable duration"
            )),
            "{out}"
        );
    }
    assert!(
        out.contains(
            "dropped files [\"odd_abis-2.0-cp39-cp39-linux_armv7l.whl\"]: its build 900002 was dropped"
        ),
        "{out}"
    );
    // Files a wheel cannot be: a hash that is not SHA-256 hex, a negative size, a name
    // that is not one plain file name.
    for (file, why) in [
        (
            "odd_abis-2.0-cp39-cp39-linux_aarch64.whl",
            "a hash that is not SHA-256 hex",
        ),
        (
            "odd_abis-2.0-cp39-cp39-linux_x86_64.whl",
            "a negative size (-1)",
        ),
        (".hidden-2.0-py3-none-any.whl", "file name:"),
    ] {
        assert!(
            out.contains(&format!("dropped files [\"{file}\"]: {why}")),
            "{file}: {out}"
        );
    }
    let (s, t) = (src.clone(), target.clone());
    tokio::task::spawn_blocking(move || check_ok(&s, &t))
        .await
        .unwrap();
    check_target(&target, &exp, &out).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_023_database_migrates_to_postgres_and_checks() {
    let test = "piw_migrate::a_023_database_migrates_to_postgres_and_checks";
    let Some(super_dsn) = pg_or_skip(test) else {
        return;
    };
    let (src, exp, _client, _guard) = source(&super_dsn, &Scale::small()).await;
    let (name, _target) = migrate_source::empty_target(&super_dsn).await.unwrap();
    let admin_dsn = format!("{super_dsn} dbname={name}");
    let (s, t, user) = (src.clone(), admin_dsn.clone(), name.clone());
    let out = tokio::task::spawn_blocking(move || migrate_ok(&s, &t, &["-u", &user]))
        .await
        .unwrap();
    report_counts(&out, &exp);
    let (s, t) = (src.clone(), admin_dsn);
    tokio::task::spawn_blocking(move || check_ok(&s, &t))
        .await
        .unwrap();
    // The master's unprivileged user can use it.
    check_target(
        &format!("{super_dsn} user={name} dbname={name}"),
        &exp,
        &out,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_that_are_not_023_and_targets_that_are_not_empty_are_refused() {
    let test = "piw_migrate::sources_that_are_not_023_and_targets_that_are_not_empty_are_refused";
    let Some(super_dsn) = pg_or_skip(test) else {
        return;
    };
    let (src, _exp, client, _guard) = source(&super_dsn, &Scale::small()).await;
    let dir = tempfile::tempdir().unwrap();
    let target = |n: &str| format!("sqlite:{}", dir.path().join(n).display());
    let refused = |args: Vec<String>, want: &str| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = migrate(&args);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains(want),
            "want {want:?}: {}",
            text(&out.stderr)
        );
    };
    let base = |t: &str| {
        vec![
            "--source".to_owned(),
            src.clone(),
            "-d".into(),
            t.to_owned(),
        ]
    };

    // A bad platform.
    let mut args = base(&target("a.db"));
    args.extend(["--platform".into(), "../x".into()]);
    let out = migrate(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("not a platform tag"));
    // Sources that are not PostgreSQL databases at all, or not reachable.
    for (bad, want) in [
        ("sqlite:/var/lib/piwheels/piwheels.db", "the source address"),
        (
            "host=/nonexistent-dir dbname=piwheels",
            "the source: connecting",
        ),
    ] {
        let out = migrate(&["--source", bad, "-d", &target("x.db")]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains(want),
            "{bad}: {}",
            text(&out.stderr)
        );
        assert!(
            !dir.path().join("x.db").exists(),
            "{bad}: a target was made"
        );
    }
    // A target that is not empty: ours, already in use.
    let used = target("used.db");
    Database::create(&used).await.unwrap();
    refused(base(&used), "not empty");
    // --resume with nothing to resume.
    let mut args = base(&target("empty.db"));
    args.push("--resume".into());
    refused(args, "no migration to resume");
    // The source itself as the target.
    refused(base(&src), "not empty");
    // A source that is not 0.23, and one half-way through an upgrade.
    migrate_source::set_version(&client, "0.22").await.unwrap();
    refused(base(&target("b.db")), "version \"0.22\"");
    client
        .batch_execute(
            "UPDATE configuration SET version = '0.23'; ALTER TABLE files DROP COLUMN location",
        )
        .await
        .unwrap();
    refused(base(&target("c.db")), "files.location is missing");
    // Columns of another type, or that may hold NULL where 0.23's may not.
    client
        .batch_execute(
            "ALTER TABLE files ADD COLUMN location VARCHAR(100) DEFAULT '/simple' NOT NULL; \
             ALTER TABLE builds ALTER COLUMN built_by TYPE BIGINT; \
             ALTER TABLE versions ALTER COLUMN skip DROP NOT NULL",
        )
        .await
        .unwrap();
    refused(base(&target("e.db")), "builds.built_by is bigint");
    refused(base(&target("e.db")), "versions.skip may be NULL");
    migrate_source::mid_upgrade(&client).await.unwrap();
    refused(base(&target("d.db")), "version \"0.21\"");
    // Nothing was left behind by the refusals but empty files.
    for n in ["b.db", "c.db", "d.db", "e.db"] {
        let p = dir.path().join(n);
        assert!(
            !p.exists() || Loader::inspect(&target(n)).await.is_err(),
            "{n}"
        );
    }
}

/// Sums the rows every step read, as the target records them (0 before the first batch).
fn progress(db: &Path) -> u64 {
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return 0;
    };
    conn.query_row(
        "SELECT COALESCE(SUM(read), 0) FROM migration_steps",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n as u64)
    .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_migration_resumes_where_it_stopped() {
    let test = "piw_migrate::an_interrupted_migration_resumes_where_it_stopped";
    let Some(super_dsn) = pg_or_skip(test) else {
        return;
    };
    let (src, exp, _client, _guard) = source(&super_dsn, &Scale::small()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("piwheels.db");
    let target = format!("sqlite:{}", file.display());
    // Small, slow batches, killed (SIGKILL: no chance to tidy up) half-way.
    let mut child = Command::new(bin())
        .args([
            "--source",
            &src,
            "-d",
            &target,
            "--platform",
            "linux_armv7l",
            "-y",
        ])
        .args(["--batch", "10", "--throttle-ms", "20"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let total: u64 = exp.rows.values().sum::<u64>() - 1;
    let deadline = Instant::now() + LIMIT;
    loop {
        let done = progress(&file);
        if done > total / 3 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "piw-migrate ended before it was interrupted"
        );
        assert!(
            Instant::now() < deadline,
            "waited {LIMIT:?} for a third of the rows ({done} of {total})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The master refuses the half-copied database, and so does a fresh start on it.
    let why = Database::open(&target).await.unwrap_err().to_string();
    assert!(why.contains("piw-migrate --resume"), "{why}");
    let out = migrate(&["--source", &src, "-d", &target]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--resume"),
        "{}",
        text(&out.stderr)
    );
    // Resumed, it finishes, and the result is whole: --check agrees and every odd case
    // is as an uninterrupted run leaves it.
    let (s, t) = (src.clone(), target.clone());
    let out =
        tokio::task::spawn_blocking(move || migrate_ok(&s, &t, &["--resume", "--batch", "10"]))
            .await
            .unwrap();
    let (s, t) = (src.clone(), target.clone());
    tokio::task::spawn_blocking(move || check_ok(&s, &t))
        .await
        .unwrap();
    let report = Loader::inspect(&target)
        .await
        .unwrap()
        .report()
        .await
        .unwrap();
    assert!(report.finished);
    assert_eq!(report.steps.values().map(|s| s.read).sum::<u64>(), total);
    let full = report_lines_of(&report);
    report_counts(&full, &exp);
    check_target(&target, &exp, &full).await;
    drop(out);
}

fn report_lines_of(report: &piwheels_db::load::Report) -> String {
    piwheels::migrate::report_lines(report).join("\n")
}
