//! `piw-add`, `piw-remove` and `piw-rebuild` run as real processes against a real MrChase
//! (in this test's runtime) on an `ipc://` socket, over a real SQLite database.

use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use piwheels_db::{Database, Target};
use piwheels_master::MasterConfig;
use piwheels_master::hub::{Hub, Inboxes, StatsMessage, WebRequest, supervise};
use piwheels_master::mr_chase::MrChase;

use test_support::process;

struct Farm {
    db: Database,
    inboxes: Inboxes,
    queue: String,
    dir: tempfile::TempDir,
    _hub: Hub,
}

async fn farm() -> Farm {
    let dir = tempfile::tempdir().unwrap();
    let dsn = format!("sqlite:{}", dir.path().join("piwheels.db").display());
    let db = Database::create(&dsn).await.unwrap();
    db.set_build_targets(&[Target::new("cp311", "linux_armv7l")])
        .await
        .unwrap();
    let mut config = MasterConfig::new(&dsn, dir.path().join("www"));
    let queue = format!("ipc://{}", dir.path().join("import").display());
    config.import_queue = queue.clone();
    let (hub, inboxes) = Hub::new(db.clone(), config);
    let chase = MrChase::bind(hub.clone())
        .unwrap()
        .with_delete_grace(Duration::from_millis(100));
    supervise(chase, hub.quit.clone());
    Farm {
        db,
        inboxes,
        queue,
        dir,
        _hub: hub,
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Farm {
    /// Runs a tool against this farm's import queue (no terminal: standard input empty),
    /// with no configuration files but the one it is given.
    async fn run(&self, tool: &'static str, args: &[&str]) -> Run {
        let mut cmd = Command::new(match tool {
            "piw-add" => env!("CARGO_BIN_EXE_piw-add"),
            "piw-remove" => env!("CARGO_BIN_EXE_piw-remove"),
            "piw-rebuild" => env!("CARGO_BIN_EXE_piw-rebuild"),
            other => panic!("no tool {other}"),
        });
        cmd.args(args)
            .arg("--import-queue")
            .arg(&self.queue)
            .env("HOME", self.dir.path())
            .stdin(Stdio::null());
        let out = tokio::task::spawn_blocking(move || {
            process::output_within(&mut cmd, b"", Duration::from_secs(60), tool)
        })
        .await
        .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn web(&mut self) -> Vec<WebRequest> {
        let mut out = Vec::new();
        while let Ok(r) = self.inboxes.web.try_recv() {
            out.push(r);
        }
        out
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piw_add_adds_and_updates_packages_and_versions() {
    let mut f = farm().await;
    let r = f
        .run("piw-add", &["Foo.Bar", "-d", "A package", "-a", "foo_bar"])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.trim(), "added package foo-bar");
    assert_eq!(
        f.db.display_name("foo-bar").await.unwrap().as_deref(),
        Some("Foo.Bar")
    );
    assert_eq!(
        f.db.package_description("foo-bar")
            .await
            .unwrap()
            .as_deref(),
        Some("A package")
    );
    assert!(
        f.db.package_aliases("foo-bar")
            .await
            .unwrap()
            .contains(&"foo_bar".to_string())
    );
    assert_eq!(f.web(), [WebRequest::Both("foo-bar".into())]);

    let r = f
        .run(
            "piw-add",
            &[
                "foo-bar",
                "1.0",
                "-y",
                "-r",
                "2024-01-02 03:04:05",
                "--yank",
            ],
        )
        .await;
    assert_eq!(
        (r.code, r.stdout.trim()),
        (0, "added version foo-bar 1.0"),
        "{}",
        r.stderr
    );
    let data = f.db.project_data("foo-bar").await.unwrap().unwrap();
    assert_eq!(
        data.releases["1.0"].released,
        Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap()
    );
    assert!(data.releases["1.0"].yanked);
    let r = f.run("piw-add", &["foo-bar", "1.0", "--unyank"]).await;
    assert_eq!(
        (r.code, r.stdout.trim()),
        (0, "updated version foo-bar 1.0"),
        "{}",
        r.stderr
    );
    assert!(
        !f.db
            .project_data("foo-bar")
            .await
            .unwrap()
            .unwrap()
            .releases["1.0"]
            .yanked
    );

    // Refusals from the master: exit 1 with the reason.
    let r = f.run("piw-add", &["foo-bar", "-s", "no"]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("piw-remove --skip"), "{}", r.stderr);
    // A version of a package the master does not know: the package is added first.
    let r = f.run("piw-add", &["new-one", "1.0"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("added package new-one"), "{}", r.stdout);
    assert!(
        r.stdout.contains("added version new-one 1.0"),
        "{}",
        r.stdout
    );
    assert!(f.db.version_exists("new-one", "1.0").await.unwrap());
    // Usage errors: exit 2, nothing asked.
    let r = f.run("piw-add", &["foo-bar", "-a", "other"]).await;
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("other"), "{}", r.stderr);
    let r = f.run("piw-add", &["foo-bar", "--yank"]).await;
    assert_eq!(r.code, 2);
    let r = f
        .run("piw-add", &["foo-bar", "1.1", "-r", "yesterday"])
        .await;
    assert_eq!(r.code, 2);
    assert!(!f.db.version_exists("foo-bar", "1.1").await.unwrap());

    // The import queue from a configuration file.
    let conf = f.dir.path().join("piwheels.conf");
    std::fs::write(&conf, format!("[master]\nimport-queue = {}\n", f.queue)).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_piw-add"));
    cmd.args(["-c", conf.to_str().unwrap(), "foo-bar", "2.0"])
        .env("HOME", f.dir.path())
        .stdin(Stdio::null());
    let out = tokio::task::spawn_blocking(move || {
        process::output_within(&mut cmd, b"", Duration::from_secs(60), "piw-add")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(f.db.version_exists("foo-bar", "2.0").await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piw_remove_asks_then_removes_skips_and_yanks() {
    let mut f = farm().await;
    assert_eq!(f.run("piw-add", &["foo"]).await.code, 0);
    for v in ["1", "2", "3"] {
        assert_eq!(f.run("piw-add", &["foo", v]).await.code, 0);
    }
    // No terminal and no -y: the question goes unanswered, nothing changes (exit 2).
    let r = f.run("piw-remove", &["foo", "1"]).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(
        f.db.version_skip("foo", "1").await.unwrap().as_deref(),
        Some("")
    );

    let r = f.run("piw-remove", &["foo", "1", "-y", "--yank"]).await;
    assert_eq!(
        (r.code, r.stdout.trim()),
        (0, "yanked version foo 1"),
        "{}",
        r.stderr
    );
    let r = f
        .run("piw-remove", &["foo", "2", "-y", "-s", "broken"])
        .await;
    assert_eq!(
        (r.code, r.stdout.trim()),
        (0, "skipped version foo 2"),
        "{}",
        r.stderr
    );
    assert_eq!(
        f.db.version_skip("foo", "2").await.unwrap().as_deref(),
        Some("broken")
    );
    let r = f.run("piw-remove", &["foo", "3", "-y", "-b"]).await;
    assert_eq!(
        (r.code, r.stdout.trim()),
        (0, "removed the builds of foo 3"),
        "{}",
        r.stderr
    );
    f.web();
    let r = f.run("piw-remove", &["FOO", "3", "-y"]).await;
    assert_eq!(
        (r.code, r.stdout.trim()),
        (0, "removed version foo 3"),
        "{}",
        r.stderr
    );
    assert!(
        f.web()
            .contains(&WebRequest::DeleteVersion("foo".into(), "3".into()))
    );
    let r = f.run("piw-remove", &["foo", "9", "-y"]).await;
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("there is no version foo 9"),
        "{}",
        r.stderr
    );
    let r = f.run("piw-remove", &["foo", "-y", "--yank"]).await;
    assert_eq!(r.code, 2, "--yank needs a version");

    let r = f.run("piw-remove", &["foo", "-y"]).await;
    assert_eq!(
        (r.code, r.stdout.trim()),
        (0, "removed package foo"),
        "{}",
        r.stderr
    );
    for _ in 0..100 {
        if !f.db.package_exists("foo").await.unwrap() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!f.db.package_exists("foo").await.unwrap());
    let r = f.run("piw-remove", &["foo", "-y"]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("there is no package foo"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piw_rebuild_asks_the_master_for_pages() {
    let mut f = farm().await;
    for p in ["a", "b"] {
        assert_eq!(f.run("piw-add", &[p]).await.code, 0);
    }
    f.web();
    let r = f.run("piw-rebuild", &["home"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(f.inboxes.stats.try_recv().unwrap(), StatsMessage::Home);
    let r = f.run("piw-rebuild", &["search"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(f.inboxes.stats.try_recv().unwrap(), StatsMessage::Search);
    let r = f.run("piw-rebuild", &["project", "A"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(f.web(), [WebRequest::Project("a".into())]);
    let r = f.run("piw-rebuild", &["project", "nope"]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("unknown package nope"), "{}", r.stderr);
    // Every package: asked first.
    let r = f.run("piw-rebuild", &["index"]).await;
    assert_eq!(r.code, 2);
    assert!(f.web().is_empty());
    let r = f.run("piw-rebuild", &["index", "-y"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        f.web(),
        [WebRequest::Both("a".into()), WebRequest::Both("b".into())]
    );
    let r = f.run("piw-rebuild", &["home", "a"]).await;
    assert_eq!(r.code, 2);
    let r = f.run("piw-rebuild", &["everything"]).await;
    assert_eq!(r.code, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_give_up_when_no_master_answers() {
    let dir = tempfile::tempdir().unwrap();
    let queue = format!("ipc://{}", dir.path().join("nobody").display());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_piw-add"));
    cmd.args(["foo", "--timeout", "1", "--import-queue", &queue])
        .env("HOME", dir.path())
        .stdin(Stdio::null());
    let started = std::time::Instant::now();
    let out = tokio::task::spawn_blocking(move || {
        process::output_within(&mut cmd, b"", Duration::from_secs(60), "piw-add")
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did not answer"));
}
