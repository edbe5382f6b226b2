//! `piw-audit` run as a real process over a real output folder: wheels staged and
//! published by the output module, builds logged in a real database (SQLite and
//! PostgreSQL), pages written by a real TheScribe and TheSecretary. The folder is damaged
//! in every way the audit knows; each damage must be found (text and JSON), nothing may
//! change without `--fix`, and `--fix -y` must repair it so that a second audit is clean.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use piwheels_db::{Database, NewBuild, NewFile, Target};
use piwheels_master::MasterConfig;
use piwheels_master::hub::{Hub, supervise};
use piwheels_master::mr_chase::MrChase;
use piwheels_master::output::{Output, record};
use piwheels_master::the_scribe::TheScribe;
use piwheels_master::the_secretary::TheSecretary;
use sha2::{Digest, Sha256};
use test_support::process;

/// The same on a real terminal.
mod terminal;

/// A wheel's bytes: METADATA, WHEEL and a module; `metadata` replaces the METADATA.
fn wheel_bytes(name: &str, version: &str, tag: &str, metadata: Option<&[u8]>) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buf);
        let options = zip::write::SimpleFileOptions::default();
        let info = format!("{name}-{version}.dist-info");
        let meta =
            format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nA test wheel.\n");
        zip.start_file(format!("{info}/METADATA"), options).unwrap();
        zip.write_all(metadata.unwrap_or(meta.as_bytes())).unwrap();
        zip.start_file(format!("{info}/WHEEL"), options).unwrap();
        zip.write_all(format!("Wheel-Version: 1.0\nTag: {tag}\n").as_bytes())
            .unwrap();
        zip.start_file(format!("{name}/__init__.py"), options)
            .unwrap();
        zip.write_all(b"x = 1\n").unwrap();
        zip.finish().unwrap();
    }
    buf.into_inner()
}

struct Wheel {
    package: &'static str,
    version: &'static str,
    filename: String,
    build_id: i64,
    metadata: Vec<u8>,
}

/// The farm's wheels: foo 1.0 (armv7l, with its armv6l alias copy) and 2.0, bar, baz,
/// qux and bomb 1.0.
async fn publish_all(db: &Database, output: &Output) -> Vec<Wheel> {
    let specs = [
        ("foo", "1.0", "cp311", "cp311", "linux_armv7l"),
        ("foo", "2.0", "py3", "none", "any"),
        ("bar", "1.0", "py3", "none", "any"),
        ("baz", "1.0", "py3", "none", "any"),
        ("qux", "1.0", "py3", "none", "any"),
        ("bomb", "1.0", "py3", "none", "any"),
    ];
    let mut out = Vec::new();
    for (package, version, py, abi, platform) in specs {
        db.add_new_package(package, "", "").await.unwrap();
        db.add_new_package_version(package, version, None, "")
            .await
            .unwrap();
        let filename = format!("{package}-{version}-{py}-{abi}-{platform}.whl");
        let bytes = wheel_bytes(package, version, &format!("{py}-{abi}-{platform}"), None);
        let file = NewFile {
            filename: filename.clone(),
            filesize: bytes.len() as u64,
            filehash: hex::encode(Sha256::digest(&bytes)),
            package_tag: package.into(),
            package_version_tag: version.into(),
            py_version_tag: py.into(),
            abi_tag: abi.into(),
            platform_tag: platform.into(),
            requires_python: None,
            dependencies: Default::default(),
            location: "/simple".into(),
        };
        // As the master does: staged (checked), the build logged, then published.
        let (mut handle, temp) = output.new_upload().unwrap();
        handle.write_all(&bytes).unwrap();
        let staged = output
            .stage(handle, &temp, &record::file_state(&file), package, version)
            .unwrap();
        let build_id = db
            .log_build(&NewBuild {
                package: package.into(),
                version: version.into(),
                built_by: 1,
                target: Target::new("cp311", "linux_armv7l"),
                status: true,
                duration: chrono::TimeDelta::seconds(5),
                built_at: None,
                files: vec![file],
            })
            .await
            .unwrap();
        output.publish(vec![staged]).unwrap();
        output
            .write_log(build_id, b"\x1f\x8b not really gzip")
            .unwrap();
        let metadata = format!(
            "Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n\nA test wheel.\n"
        )
        .into_bytes();
        out.push(Wheel {
            package,
            version,
            filename,
            build_id,
            metadata,
        });
    }
    out
}

/// A master's page writers (TheScribe, TheSecretary) and MrChase on `queue`, until the
/// hub is told to quit.
fn start_writers(db: &Database, out: &Path, queue: &str) -> Hub {
    let mut config = MasterConfig::new("unused", out);
    config.import_queue = queue.to_owned();
    config.web_listen = None;
    let (hub, mut inboxes) = Hub::new(db.clone(), config);
    let (scribe_tx, scribe_rx) = tokio::sync::mpsc::unbounded_channel();
    let web = std::mem::replace(&mut inboxes.web, tokio::sync::mpsc::unbounded_channel().1);
    supervise(
        TheScribe::new(hub.clone(), scribe_rx).unwrap(),
        hub.quit.clone(),
    );
    supervise(
        TheSecretary::new(hub.clone(), web, scribe_tx),
        hub.quit.clone(),
    );
    supervise(MrChase::bind(hub.clone()).unwrap(), hub.quit.clone());
    // The inboxes no task here reads must live as long as the hub.
    std::mem::forget(inboxes);
    hub
}

async fn eventually(what: &str, mut test: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !test() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn pages_written(out: &Path, packages: &[&str]) -> bool {
    packages.iter().all(|p| {
        out.join("simple").join(p).join("index.html").is_file()
            && out.join("project").join(p).join("index.html").is_file()
            && out
                .join("project")
                .join(p)
                .join("json/index.json")
                .is_file()
    })
}

/// Every path under `dir`: its type, size, mode, modification time, and contents (files)
/// or target (links).
fn snapshot(dir: &Path) -> BTreeMap<Vec<u8>, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let what = if m.is_dir() {
                stack.push(p.clone());
                "dir".to_owned()
            } else if m.file_type().is_symlink() {
                format!("link {:?}", std::fs::read_link(&p).unwrap())
            } else {
                format!(
                    "file {}",
                    hex::encode(Sha256::digest(std::fs::read(&p).unwrap()))
                )
            };
            let key = p.strip_prefix(dir).unwrap().as_os_str().as_bytes().to_vec();
            out.insert(
                key,
                format!(
                    "{what} {} {:o} {}.{}",
                    m.len(),
                    m.mode(),
                    m.mtime(),
                    m.mtime_nsec()
                ),
            );
        }
    }
    out
}

/// What the database says, for comparing before and after.
async fn db_state(db: &Database) -> String {
    let packages: Vec<String> = db.all_packages().await.unwrap().into_iter().collect();
    let mut files: Vec<String> = db
        .output_files(&packages)
        .await
        .unwrap()
        .into_iter()
        .map(|f| format!("{} {} {} {}", f.package, f.filename, f.filehash, f.build_id))
        .collect();
    files.sort();
    let owed: Vec<String> = db
        .load_rewrites_pending()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.package)
        .collect();
    format!(
        "{packages:?}\n{files:?}\n{:?}\n{owed:?}",
        db.all_build_ids().await.unwrap()
    )
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// The configuration file `home/audit.conf` of the database and the output, as the other
/// tools read it.
fn conf(dsn: &str, out: &Path, home: &Path) -> PathBuf {
    let conf = home.join("audit.conf");
    std::fs::write(
        &conf,
        format!("[audit]\ndsn = {dsn}\noutput_path = {}\n", out.display()),
    )
    .unwrap();
    conf
}

/// `piw-audit ARGS` with its standard streams on pipes.
async fn audit(dsn: &str, out: &Path, home: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_piw-audit"));
    let conf = conf(dsn, out, home);
    cmd.arg("-c").arg(&conf).args(args).env("HOME", home);
    let out = tokio::task::spawn_blocking(move || {
        process::output_within(&mut cmd, b"", Duration::from_secs(120), "piw-audit")
    })
    .await
    .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A METADATA of 17 MiB that deflates to almost nothing.
fn bomb_wheel() -> Vec<u8> {
    let big = vec![b'A'; 17 << 20];
    wheel_bytes("bomb", "1.0", "py3-none-any", Some(&big))
}

/// Damages the output in every way the audit knows; returns the (kind, path) findings
/// expected.
fn damage(out: &Path, wheels: &[Wheel], outside: &Path) -> Vec<(&'static str, Vec<u8>)> {
    let simple = out.join("simple");
    let project = out.join("project");
    let w = |p: &str, v: &str| {
        wheels
            .iter()
            .find(|w| w.package == p && w.version == v)
            .unwrap()
    };
    let foo1 = w("foo", "1.0");
    let twin = foo1.filename.replace("armv7l", "armv6l");
    // Package folders extra and missing, pages missing.
    std::fs::create_dir_all(simple.join("ghost")).unwrap();
    std::fs::write(simple.join("ghost/x.whl"), b"x").unwrap();
    std::fs::create_dir_all(project.join("ghost")).unwrap();
    std::fs::remove_dir_all(project.join("bar")).unwrap();
    std::fs::remove_file(simple.join("baz/index.html")).unwrap();
    // Wheels missing, extra, with hostile names, a link out, not a file, not a zip, a bomb.
    std::fs::remove_file(simple.join("foo").join(&w("foo", "2.0").filename)).unwrap();
    std::fs::write(simple.join("foo/stray-1.0-py3-none-any.whl"), b"stray").unwrap();
    std::fs::write(simple.join("foo/new\nline.whl"), b"x").unwrap();
    std::fs::write(
        simple.join("foo").join(OsStr::from_bytes(b"caf\xe9.whl")),
        b"x",
    )
    .unwrap();
    symlink(outside, simple.join("foo/evil")).unwrap();
    let qux = simple.join("qux").join(&w("qux", "1.0").filename);
    std::fs::remove_file(&qux).unwrap();
    std::fs::create_dir(&qux).unwrap();
    std::fs::write(
        simple.join("bar").join(&w("bar", "1.0").filename),
        b"not a zip at all",
    )
    .unwrap();
    std::fs::write(
        simple.join("bomb").join(&w("bomb", "1.0").filename),
        bomb_wheel(),
    )
    .unwrap();
    // Links: an alias copy pointing out of the output, its metadata link missing, project
    // aliases broken and pointing out.
    std::fs::remove_file(simple.join("foo").join(&twin)).unwrap();
    symlink("../../../etc/passwd", simple.join("foo").join(&twin)).unwrap();
    std::fs::remove_file(simple.join("foo").join(format!("{twin}.metadata"))).unwrap();
    symlink("nothing-here", project.join("Foo_Old")).unwrap();
    symlink("../../outside", project.join("evil")).unwrap();
    // Metadata files missing and wrong.
    std::fs::remove_file(
        simple
            .join("baz")
            .join(format!("{}.metadata", w("baz", "1.0").filename)),
    )
    .unwrap();
    std::fs::write(
        simple
            .join("foo")
            .join(format!("{}.metadata", foo1.filename)),
        b"Name: wrong\n",
    )
    .unwrap();
    // Logs missing and extra.
    let log = |id: i64| out.join(piwheels_master::output::log_path(id).unwrap());
    std::fs::remove_file(log(w("bar", "1.0").build_id)).unwrap();
    std::fs::write(out.join("logs/junk.txt"), b"junk").unwrap();
    std::fs::create_dir_all(log(9999).parent().unwrap()).unwrap();
    std::fs::write(log(9999), b"x").unwrap();

    let rel = |s: String| s.into_bytes();
    let mut expected = vec![
        ("package-extra", rel("simple/ghost".into())),
        ("package-extra", rel("project/ghost".into())),
        ("package-missing", rel("project/bar".into())),
        ("pages-missing", rel("simple/baz/index.html".into())),
        (
            "wheel-missing",
            rel(format!("simple/foo/{}", w("foo", "2.0").filename)),
        ),
        (
            "file-extra",
            rel("simple/foo/stray-1.0-py3-none-any.whl".into()),
        ),
        ("file-extra", rel("simple/foo/new\\nline.whl".into())),
        ("file-extra", rel("simple/foo/caf\\xe9.whl".into())),
        ("file-extra", rel("simple/foo/evil".into())),
        (
            "not-a-file",
            rel(format!("simple/qux/{}", w("qux", "1.0").filename)),
        ),
        (
            "hash-mismatch",
            rel(format!("simple/bar/{}", w("bar", "1.0").filename)),
        ),
        (
            "wheel-unreadable",
            rel(format!("simple/bar/{}", w("bar", "1.0").filename)),
        ),
        (
            "hash-mismatch",
            rel(format!("simple/bomb/{}", w("bomb", "1.0").filename)),
        ),
        (
            "wheel-unreadable",
            rel(format!("simple/bomb/{}", w("bomb", "1.0").filename)),
        ),
        ("link-wrong", rel(format!("simple/foo/{twin}"))),
        ("link-missing", rel(format!("simple/foo/{twin}.metadata"))),
        ("link-broken", rel("project/Foo_Old".into())),
        ("link-wrong", rel("project/evil".into())),
        (
            "metadata-missing",
            rel(format!("simple/baz/{}.metadata", w("baz", "1.0").filename)),
        ),
        (
            "metadata-mismatch",
            rel(format!("simple/foo/{}.metadata", foo1.filename)),
        ),
        (
            "log-missing",
            rel(piwheels_master::output::log_path(w("bar", "1.0").build_id)
                .unwrap()
                .display()
                .to_string()),
        ),
        ("log-extra", rel("logs/junk.txt".into())),
        ("log-extra", rel("logs/0000/0000/9999.txt.gz".into())),
    ];
    expected.sort();
    expected
}

fn found(json: &serde_json::Value) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_owned(),
                f["path"].as_str().unwrap().as_bytes().to_vec(),
            )
        })
        .collect();
    v.sort();
    v
}

/// A farm's output in `dir/www` (its wheels published by the output module and built by
/// builds logged in the database at `dsn`, their pages written by a master's writers, then
/// stopped), the database, the wheels and the master's import queue (in `dir`).
async fn published(dsn: &str, dir: &Path) -> (Database, PathBuf, Vec<Wheel>, String) {
    let out = dir.join("www");
    let db = Database::open(dsn).await.unwrap();
    db.set_build_targets(&[Target::new("cp311", "linux_armv7l")])
        .await
        .unwrap();
    let output = Output::new(&out, db.options().platform_aliases.clone());
    output.prepare().unwrap();
    output.prepare_site().unwrap();
    let wheels = publish_all(&db, &output).await;
    let queue = format!("ipc://{}", dir.join("import").display());
    let all = ["foo", "bar", "baz", "qux", "bomb"];
    let hub = start_writers(&db, &out, &queue);
    eventually("the pages of every package", || pages_written(&out, &all)).await;
    eventually("no rewrites owed", || {
        futures_executor_block(db.load_rewrites_pending())
            .unwrap()
            .is_empty()
    })
    .await;
    hub.quit.cancel();
    tokio::time::sleep(Duration::from_millis(200)).await;
    (db, out, wheels, queue)
}

async fn the_audit_finds_and_repairs_every_damage(dsn: &str, master_during_fix: bool) {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    std::fs::write(&outside, b"secret").unwrap();
    let (db, out, wheels, queue) = published(dsn, dir.path()).await;

    // A whole output is clean.
    let r = audit(dsn, &out, dir.path(), &[]).await;
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .starts_with("clean: nothing wrong (5 packages, 7 files, 6 builds"),
        "{}",
        r.stdout
    );

    let expected = damage(&out, &wheels, &outside);
    let before = (snapshot(&out), db_state(&db).await);

    // Text: one line a finding, then the summary.
    let r = audit(dsn, &out, dir.path(), &[]).await;
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), expected.len() + 1, "{}", r.stdout);
    for (kind, path) in &expected {
        let line = format!("{kind} {}: ", String::from_utf8_lossy(path));
        assert!(
            lines.iter().any(|l| l.starts_with(&line)),
            "no {line:?} in\n{}",
            r.stdout
        );
    }
    assert!(
        r.stdout.contains("simple/foo/evil: a link to "),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains(", outside the output; the database has no row for it"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("its METADATA is 17825792 bytes"),
        "{}",
        r.stdout
    );
    assert!(
        lines
            .last()
            .unwrap()
            .starts_with(&format!("{} findings, 20 repairable", expected.len())),
        "{}",
        r.stdout
    );

    // JSON: one document.
    let r = audit(dsn, &out, dir.path(), &["--json"]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let got = found(&doc);
    let want: Vec<(String, Vec<u8>)> = expected
        .iter()
        .map(|(k, p)| ((*k).to_owned(), p.clone()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(doc["summary"]["findings"], expected.len());
    assert_eq!(doc["fix"], serde_json::Value::Null);
    let missing_log = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "log-missing")
        .unwrap();
    assert_eq!(missing_log["fixable"], false);
    assert_eq!(missing_log["build_id"], wheels[2].build_id);

    // Only the checks asked for.
    let r = audit(dsn, &out, dir.path(), &["--json", "--check", "logs,links"]).await;
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(
        found(&doc)
            .iter()
            .all(|(k, _)| k.starts_with("log-") || k.starts_with("link-")),
        "{doc}"
    );
    assert_eq!(found(&doc).len(), 7);

    // --fix without -y and no terminal: refused, nothing done.
    let r = audit(dsn, &out, dir.path(), &["--fix"]).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("add -y"), "{}", r.stderr);

    // Nothing changed: the folder's tree, contents and times, and the database.
    assert_eq!(
        (snapshot(&out), db_state(&db).await),
        before,
        "the audit changed something"
    );

    // --fix -y, with or without a master to tell.
    let hub = master_during_fix.then(|| start_writers(&db, &out, &queue));
    let r = audit(
        dsn,
        &out,
        dir.path(),
        &["--fix", "-y", "--json", "--import-queue", &queue],
    )
    .await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    for f in doc["findings"].as_array().unwrap() {
        let want = if f["fixable"] == true {
            "repaired"
        } else {
            "not-repairable"
        };
        assert_eq!(f["outcome"], want, "{f}");
    }
    assert_eq!(doc["fix"]["failed"], 0);
    assert_eq!(
        doc["fix"]["master"]["told"], master_during_fix,
        "{}",
        doc["fix"]
    );
    let owed: Vec<&str> = doc["fix"]["rewrites_owed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(owed, ["bar", "baz", "bomb", "foo", "qux"]);
    assert_eq!(
        std::fs::read(&outside).unwrap(),
        b"secret",
        "something outside the output was written"
    );
    // The builds of the wheels missing or wrong are gone (queued again).
    let builds = db.all_build_ids().await.unwrap();
    for (p, v, gone) in [
        ("foo", "2.0", true),
        ("bar", "1.0", true),
        ("qux", "1.0", true),
        ("bomb", "1.0", true),
        ("foo", "1.0", false),
        ("baz", "1.0", false),
    ] {
        let id = wheels
            .iter()
            .find(|w| w.package == p && w.version == v)
            .unwrap()
            .build_id;
        assert_eq!(!builds.contains(&id), gone, "{p} {v}");
    }
    let foo1 = &wheels[0];
    let twin = foo1.filename.replace("armv7l", "armv6l");
    assert_eq!(
        std::fs::read_link(out.join("simple/foo").join(&twin)).unwrap(),
        Path::new(&foo1.filename)
    );
    assert_eq!(
        std::fs::read(
            out.join("simple/foo")
                .join(format!("{}.metadata", foo1.filename))
        )
        .unwrap(),
        foo1.metadata
    );
    assert_eq!(
        std::fs::read(
            out.join("simple/baz")
                .join(format!("{}.metadata", wheels[3].filename))
        )
        .unwrap(),
        wheels[3].metadata
    );
    for gone in [
        "simple/ghost",
        "project/ghost",
        "simple/foo/evil",
        "project/evil",
        "project/Foo_Old",
        "logs/junk.txt",
    ] {
        assert!(
            std::fs::symlink_metadata(out.join(gone)).is_err(),
            "{gone} is still there"
        );
    }
    if !master_during_fix {
        // Owed in the database: a master starting takes them up.
        let pending: Vec<String> = db
            .load_rewrites_pending()
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.package)
            .collect();
        for p in ["bar", "baz"] {
            assert!(pending.iter().any(|x| x == p), "{p} not owed: {pending:?}");
        }
        start_writers(&db, &out, &queue);
    }
    let _keep = hub;
    eventually("the owed pages", || {
        out.join("simple/baz/index.html").is_file() && out.join("project/bar/index.html").is_file()
    })
    .await;
    eventually("no rewrites owed", || {
        futures_executor_block(db.load_rewrites_pending())
            .unwrap()
            .is_empty()
    })
    .await;

    // A second audit is clean.
    let r = audit(dsn, &out, dir.path(), &[]).await;
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

/// Runs a future to completion from a polling closure (the database calls run on their
/// own threads).
fn futures_executor_block<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_the_audit_finds_and_repairs_every_damage_and_tells_the_master() {
    let dir = tempfile::tempdir().unwrap();
    let dsn = format!("sqlite:{}", dir.path().join("piwheels.db").display());
    Database::create(&dsn).await.unwrap();
    the_audit_finds_and_repairs_every_damage(&dsn, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_the_audit_finds_and_repairs_every_damage_without_a_master() {
    let super_dsn = match test_support::setup::pg_superuser() {
        Ok(dsn) => dsn,
        Err(why) => {
            assert!(
                !test_support::setup::pg_required(),
                "PostgreSQL is required but: {why}"
            );
            test_support::skip(
                "postgres_the_audit_finds_and_repairs_every_damage_without_a_master",
                &format!("no PostgreSQL server: {why}"),
            );
            return;
        }
    };
    let name = format!("piwaudit_{}", std::process::id());
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
    let admin = piwheels_db::admin::Admin::connect(&format!("{super_dsn} dbname={name}"))
        .await
        .unwrap();
    admin.initialize(Some(&name)).await.unwrap();
    drop(admin);
    // The tools connect as the master's user, as in production.
    let dsn = format!("{super_dsn} user={name} dbname={name}");
    the_audit_finds_and_repairs_every_damage(&dsn, false).await;
    for sql in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("DROP ROLE IF EXISTS {name}"),
    ] {
        client.batch_execute(&sql).await.unwrap();
    }
}
