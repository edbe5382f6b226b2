//! Issue 14, item 4: `piw-add` stored `../x` as `-/x` and sent `a/b`, `x y`, a tab, `..`
//! and non-ASCII names, and versions with `/` or `..`, to the master. Now it (and
//! `piw-remove`, `piw-rebuild`) refuses them with a clear message and sends nothing;
//! odd but legal names go through; a version that is not PEP 440 is sent with a warning and
//! taken only if the upstream index lists it.
//!
//! The tools run as real processes; a real MrChase (in this test's runtime) answers on an
//! `ipc://` socket over a real SQLite database, or a bare ROUTER socket records whether
//! anything was sent at all.

use crate::support;

use std::fs;
use std::process::{Command, Stdio};
use std::time::Duration;

use piwheels_db::{Database, Target};
use piwheels_master::MasterConfig;
use piwheels_master::hub::{Hub, Inboxes, supervise};
use piwheels_master::mr_chase::MrChase;
use piwheels_protocol::transport::zmq;

const BAD_NAMES: &[&str] = &[
    "../x", "-/x", "a/b", "x y", "x\ty", "x\t", "..", "café", "a\\b", "-x", "x\u{1}", "",
];

const BAD_VERSIONS: &[&str] = &[
    "1.0/../x", "1/2", "..", ".", "1..2", "1 0", "1.0\t", "1\n", "1\u{1}", "1\\2", "1é",
];

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs a tool against `queue` (no terminal, no configuration file).
async fn run(tool: &str, queue: &str, home: &std::path::Path, args: &[&str]) -> Run {
    run_with(tool, queue, home, &[], args).await
}

/// [`run`] with options (before the arguments, which may start with '-').
async fn run_with(
    tool: &str,
    queue: &str,
    home: &std::path::Path,
    options: &[&str],
    args: &[&str],
) -> Run {
    let mut cmd = Command::new(match tool {
        "piw-add" => env!("CARGO_BIN_EXE_piw-add"),
        "piw-remove" => env!("CARGO_BIN_EXE_piw-remove"),
        "piw-rebuild" => env!("CARGO_BIN_EXE_piw-rebuild"),
        other => panic!("no tool {other}"),
    });
    // Options first, so that names starting with '-' are taken as names.
    cmd.args(["--import-queue", queue, "--timeout", "20", "-y"])
        .args(options)
        .arg("--")
        .args(args)
        .env("HOME", home)
        .stdin(Stdio::null());
    let out = tokio::task::spawn_blocking(move || {
        test_support::process::output_within(&mut cmd, b"", Duration::from_secs(120), "piw-add")
    })
    .await
    .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_and_versions_are_refused_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let queue = format!("ipc://{}", dir.path().join("import").display());
    // A ROUTER where the master would be: it must hear nothing.
    let ctx = zmq::Context::new();
    let router = ctx.socket(zmq::ROUTER).unwrap();
    router.set_linger(0).unwrap();
    router.bind(&queue).unwrap();

    let mut runs: Vec<(&str, Vec<String>)> = Vec::new();
    for bad in BAD_NAMES {
        runs.push(("piw-add", vec![(*bad).into()]));
        runs.push(("piw-add", vec![(*bad).into(), "1.0".into()]));
        runs.push(("piw-remove", vec![(*bad).into()]));
        runs.push(("piw-rebuild", vec!["project".into(), (*bad).into()]));
    }

    for bad in BAD_VERSIONS {
        runs.push(("piw-add", vec!["foo".into(), (*bad).into()]));
        runs.push(("piw-remove", vec!["foo".into(), (*bad).into()]));
    }
    for (tool, args) in &runs {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = run(tool, &queue, dir.path(), &args).await;
        assert_eq!(r.code, 2, "{tool} {args:?}: {}", r.stderr);
        let said = r.stderr.trim();
        assert!(
            said.starts_with("error: ")
                && (said.contains("package name") || said.contains("version")),
            "{tool} {args:?}: {said}"
        );
        assert!(r.stdout.is_empty(), "{tool} {args:?}: {}", r.stdout);
    }
    let r = run_with("piw-add", &queue, dir.path(), &["--alias", "a/b"], &["foo"]).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("error: the alias: package name \"a/b\" contains the path separator"),
        "{}",
        r.stderr
    );
    // What is wrong, in words.
    for (args, says) in [
        (
            &["../x"][..],
            "package name \"../x\" contains the path separator '/'",
        ),
        (&["x y"], "package name \"x y\" contains the whitespace ' '"),
        (&["x\ty"], "contains the whitespace '\\t'"),
        (&[".."], "package name \"..\" starts with '.'"),
        (&["café"], "contains the non-ASCII character 'é'"),
        (
            &["foo", "1.0/../x"],
            "version \"1.0/../x\" contains the path separator '/'",
        ),
        (
            &["foo", "1\u{1}"],
            "contains the control character '\\u{1}'",
        ),
        (&["foo", ".."], "version \"..\" contains \"..\""),
    ] {
        let r = run("piw-add", &queue, dir.path(), args).await;
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
    }
    // Nothing reached the socket.
    assert_eq!(
        router.poll(zmq::POLLIN, 200).unwrap(),
        0,
        "a refused request was sent anyway"
    );
}

struct Farm {
    db: Database,
    queue: String,
    dir: tempfile::TempDir,
    _hub: Hub,
    _inboxes: Inboxes,
}

async fn farm(upstream: &str) -> Farm {
    let dir = tempfile::tempdir().unwrap();
    let dsn = format!("sqlite:{}", dir.path().join("piwheels.db").display());
    let db = Database::create(&dsn).await.unwrap();
    db.set_build_targets(&[Target::new("cp311", "linux_armv7l")])
        .await
        .unwrap();
    let mut config = MasterConfig::new(&dsn, dir.path().join("www"));
    let queue = format!("ipc://{}", dir.path().join("import").display());
    config.import_queue = queue.clone();
    config.upstream = Some(upstream.to_owned());
    let (hub, inboxes) = Hub::new(db.clone(), config);
    supervise(MrChase::bind(hub.clone()).unwrap(), hub.quit.clone());
    Farm {
        db,
        queue,
        dir,
        _hub: hub,
        _inboxes: inboxes,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_but_legal_names_are_added() {
    let f = farm("http://127.0.0.1:9/simple/").await;
    for (name, key) in [
        ("zope.interface", "zope-interface"),
        ("Foo_Bar", "foo-bar"),
        ("a", "a"),
        ("1", "1"),
    ] {
        let r = run("piw-add", &f.queue, f.dir.path(), &[name, "1.0"]).await;
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        assert!(
            r.stdout.contains(&format!("added version {key} 1.0")),
            "{name}: {}",
            r.stdout
        );
        assert_eq!(f.db.display_name(key).await.unwrap().as_deref(), Some(name));
    }
    assert_eq!(f.db.all_package_versions().await.unwrap().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_that_is_not_pep440_is_added_only_if_the_upstream_lists_it() {
    let dir = tempfile::tempdir().unwrap();
    let sdist = dir.path().join("foo-2004d.tar.gz");
    fs::write(&sdist, b"not really an sdist").unwrap();
    let upstream = support::Upstream::serve(&dir.path().join("index"), &[sdist]);
    let f = farm(&upstream.url).await;

    let r = run("piw-add", &f.queue, f.dir.path(), &["foo", "2004d"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("warning: \"2004d\" is not a PEP 440 version"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains("added version foo 2004d"), "{}", r.stdout);

    let r = run("piw-add", &f.queue, f.dir.path(), &["foo", "2005x"]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("not a PEP 440 version, and the upstream index does not list it"),
        "{}",
        r.stderr
    );
    let versions: Vec<(String, String)> =
        f.db.all_package_versions()
            .await
            .unwrap()
            .into_iter()
            .collect();
    assert_eq!(versions, [("foo".to_owned(), "2004d".to_owned())]);
}
