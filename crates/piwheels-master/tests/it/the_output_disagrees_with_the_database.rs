//! Issue 14, item 2: the output must never disagree with the database.
//!
//! - With SQLite made unwritable mid-run (`chattr +i`), builds could not be logged, yet
//!   their wheels stayed published, with no row and no link; and once it was writable
//!   again, nothing was rebuilt. Now a wheel is visible only once its row commits, and a
//!   build the database could not take is logged as soon as it can.
//! - A master killed while writing pages left packages committed with no pages and nothing
//!   owed, and a restart did not repair them. Now the rewrites a change owes commit with
//!   it, and a start writes them, and checks the output folder against the database.

use crate::core_support;

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use core_support::farm::*;
use core_support::*;
use piwheels_db::{Database, NewBuild, NewFile};
use piwheels_master::hub::WebRequest;
use piwheels_master::master::Master;
use piwheels_master::output::reconcile;
use piwheels_protocol::slave::{SlaveReply, SlaveRequest};

/// Sets or clears the immutable flag (`chattr +i`) of a file.
fn immutable(path: &Path, on: bool) -> std::io::Result<()> {
    use rustix::fs::{IFlags, ioctl_getflags, ioctl_setflags};
    let f = std::fs::File::open(path)?;
    let mut flags = ioctl_getflags(f.as_fd())?;
    flags.set(IFlags::IMMUTABLE, on);
    ioctl_setflags(f.as_fd(), flags)?;
    Ok(())
}

/// Clears the immutable flag of these files when dropped (a failed test must not leave
/// undeletable files behind).
struct Unlock(Vec<PathBuf>);

impl Drop for Unlock {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = immutable(p, false);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_the_database_cannot_take_is_never_visible_and_is_logged_once_it_can() {
    let test = "a_build_the_database_cannot_take_is_never_visible_and_is_logged_once_it_can";
    if !test_support::is_root() {
        return skip(test, "making the database immutable (chattr +i) needs root");
    }
    let mut farm = Farm::start(|_, _| {}).await;
    let db_file = farm.env.dir.path().join("piwheels.db");
    let files = vec![db_file.clone(), db_file.with_extension("db-wal")];
    if let Err(e) = immutable(&files[0], true) {
        return skip(test, &format!("this filesystem has no immutable flag: {e}"));
    }
    immutable(&files[0], false).unwrap();

    let (mut s, id) = farm.our_hello(hello()).await;
    assert_eq!(s.ask(idle()).await, build("foo"));
    let data = wheel("foo", "1.0", 5000);
    let name = "foo-1.0-py3-none-any.whl";
    assert_eq!(
        s.ask(built(true, vec![file_state(name, &data, "any")]))
            .await,
        SlaveReply::Send(name.into())
    );
    assert!(send_file(&farm.files, id as u64, &data, None).await.done);
    // The database becomes unwritable (as by chattr +i) before the build is logged.
    let unlock = Unlock(files.clone());
    for f in &files {
        immutable(f, true).unwrap();
    }
    assert_eq!(
        s.ask(SlaveRequest::Sent).await,
        SlaveReply::Done,
        "the slave is answered all the same"
    );
    // Nothing is visible: no wheel, no row, no page request; the wheel waits, staged.
    let published = farm.env.simple().join("foo").join(name);
    assert!(!published.exists(), "published without a row");
    assert!(farm.hub.db.file(name).await.unwrap().is_none());
    assert_eq!(staging(&farm.env).len(), 1, "{:?}", staging(&farm.env));
    assert!(farm.web.try_recv().is_err());

    // Writable again: logged and published without a rebuild.
    drop(unlock);
    eventually("the kept build to be logged", || async {
        farm.hub.db.file(name).await.unwrap().is_some()
    })
    .await;
    eventually("the wheel to be published", || async { published.exists() }).await;
    assert_eq!(std::fs::read(&published).unwrap(), data);
    assert!(matches!(farm.next_web().await, WebRequest::Log { .. }));
    assert_eq!(farm.next_web().await, WebRequest::Published("foo".into()));
    assert!(staging(&farm.env).is_empty());
    farm.stop().await;
}

/// A wheel file and its row, as a build would leave them.
pub(crate) fn wheel_file(name: &str, data: &[u8]) -> NewFile {
    let parts: Vec<&str> = name.trim_end_matches(".whl").split('-').collect();
    NewFile {
        filename: name.into(),
        filesize: data.len() as u64,
        filehash: sha256(data),
        package_tag: parts[0].into(),
        package_version_tag: parts[1].into(),
        py_version_tag: parts[2].into(),
        abi_tag: parts[3].into(),
        platform_tag: parts[4].into(),
        requires_python: None,
        dependencies: Default::default(),
        location: "/simple".into(),
    }
}

pub(crate) async fn log(db: &Database, package: &str, version: &str, files: Vec<NewFile>) -> i64 {
    db.log_build(&NewBuild {
        package: package.into(),
        version: version.into(),
        built_by: 1,
        target: target(),
        status: true,
        duration: chrono::TimeDelta::seconds(1),
        built_at: Some(Utc::now() - chrono::TimeDelta::hours(1)),
        files,
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_puts_the_output_in_line_with_the_database() {
    let env = Env::new().await;
    let db = Database::open(&env.config.dsn).await.unwrap();
    let simple = env.simple();
    let staging_dir = simple.join(piwheels_master::output::STAGING);
    std::fs::create_dir_all(&staging_dir).unwrap();
    for v in ["0.9", "2.0"] {
        db.add_new_package_version("foo", v, Some(Utc::now()), "")
            .await
            .unwrap();
    }

    // foo 1.0: recorded and on disk, as it should be.
    let w1 = wheel("foo", "1.0", 100);
    let n1 = "foo-1.0-py3-none-any.whl";
    log(&db, "foo", "1.0", vec![wheel_file(n1, &w1)]).await;
    std::fs::create_dir_all(simple.join("foo")).unwrap();
    std::fs::write(simple.join("foo").join(n1), &w1).unwrap();
    // foo 0.9: on disk (published by an older master), but its build was never recorded.
    let stray = "foo-0.9-py3-none-any.whl";
    std::fs::write(simple.join("foo").join(stray), wheel("foo", "0.9", 10)).unwrap();
    std::fs::write(simple.join("foo").join(format!("{stray}.metadata")), "x").unwrap();
    // foo 2.0: recorded, and the master was killed before renaming its staged wheel in.
    let w2 = wheel("foo", "2.0", 200);
    let n2 = "foo-2.0-py3-none-any.whl";
    log(&db, "foo", "2.0", vec![wheel_file(n2, &w2)]).await;
    std::fs::write(
        staging_dir.join(format!("{}.abcdefghij.{n2}", sha256(&w2))),
        &w2,
    )
    .unwrap();
    // A staged wheel of a build never recorded.
    let w3 = wheel("bar", "1.0", 300);
    let unrecorded = format!("{}.klmnopqrst.bar-1.0-py3-none-any.whl", sha256(&w3));
    std::fs::write(staging_dir.join(&unrecorded), &w3).unwrap();
    // bar 1.0: recorded, but its wheel is gone from the output.
    let lost = "bar-1.0-py3-none-any.whl";
    let w4 = wheel("bar", "1.0", 400);
    let bar_build = log(&db, "bar", "1.0", vec![wheel_file(lost, &w4)]).await;
    // A package folder the database has no package for.
    std::fs::create_dir_all(simple.join("ghost")).unwrap();
    std::fs::write(simple.join("ghost").join("index.html"), "boo").unwrap();

    let master = Master::start(env.config.clone()).await.unwrap();
    let hub = master.hub().clone();
    let run = tokio::spawn(master.run_until(std::future::pending()));

    // The committed staged wheel is published at once, with its metadata file.
    assert_eq!(std::fs::read(simple.join("foo").join(n2)).unwrap(), w2);
    assert_eq!(
        std::fs::read_to_string(simple.join("foo").join(format!("{n2}.metadata"))).unwrap(),
        metadata("foo", "2.0")
    );
    assert!(!staging_dir.join(&unrecorded).exists());
    // Then the background check: the stray goes, the lost build is deleted (bar 1.0 is
    // queued again), the ghost's folder goes, and every package gets its pages.
    // (The wheel goes first, then its metadata file.)
    eventually(
        "the stray wheel and its metadata file to be removed",
        || async {
            !simple.join("foo").join(stray).exists()
                && !simple
                    .join("foo")
                    .join(format!("{stray}.metadata"))
                    .exists()
        },
    )
    .await;
    eventually("the lost wheel's build to be deleted", || async {
        !hub.db.all_build_ids().await.unwrap().contains(&bar_build)
    })
    .await;
    eventually("bar 1.0 to be queued again", || async {
        hub.queue
            .borrow()
            .get(&target())
            .is_some_and(|jobs| jobs.contains(&("bar".to_string(), "1.0".to_string())))
    })
    .await;
    eventually("the ghost's folder to be removed", || async {
        !simple.join("ghost").exists()
    })
    .await;
    for package in ["foo", "bar"] {
        let page = simple.join(package).join("index.html");
        eventually("the packages' pages", || async { page.exists() }).await;
    }
    let page = std::fs::read_to_string(simple.join("foo").join("index.html")).unwrap();
    assert!(
        page.contains(n1) && page.contains(n2) && !page.contains(stray),
        "{page}"
    );
    assert_eq!(std::fs::read(simple.join("foo").join(n1)).unwrap(), w1);
    hub.quit.cancel();
    tokio::time::timeout(WAIT, run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_of_changes_committed_before_a_kill_are_written_at_the_next_start() {
    let mut env = Env::new().await;
    env.config.rewrite_delay = Duration::from_millis(500);
    let db = Database::open(&env.config.dsn).await.unwrap();
    // 60 packages committed by a master that was killed before writing any page (these
    // changes go straight to the database: no page writer sees them).
    let names: Vec<String> = (0..60).map(|i| format!("pkg-{i:02}")).collect();
    for name in &names {
        db.add_new_package(name, "", "").await.unwrap();
        db.add_new_package_version(name, "1.0", Some(Utc::now()), "")
            .await
            .unwrap();
    }
    // And a root index it left listing only some of them.
    std::fs::create_dir_all(env.simple()).unwrap();
    std::fs::write(
        env.simple().join("index.html"),
        "<a href=\"pkg-00/\">pkg-00</a>",
    )
    .unwrap();

    let master = Master::start(env.config.clone()).await.unwrap();
    let hub = master.hub().clone();
    let run = tokio::spawn(master.run_until(std::future::pending()));
    let out = env.config.output_path.clone();
    for name in &names {
        for page in [
            out.join("simple").join(name).join("index.html"),
            out.join("project").join(name).join("index.html"),
        ] {
            eventually("every committed package's pages", || async {
                page.exists()
            })
            .await;
        }
    }
    // The root index is written after a batch's pages, so the wait is for the names in it.
    let root = out.join("simple/index.html");
    for name in names.iter().chain(["foo", "bar"].map(String::from).iter()) {
        let entry = format!("\"{name}/\"");
        eventually("every committed package in the root index", || async {
            std::fs::read_to_string(&root).is_ok_and(|t| t.contains(&entry))
        })
        .await;
    }
    // Everything written is cleared from what is owed.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let owed = hub.db.load_rewrites_pending().await.unwrap();
        if owed.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still owed: {owed:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    hub.quit.cancel();
    tokio::time::timeout(WAIT, run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_reports_what_it_put_right_and_leaves_new_builds_alone() {
    let env = Env::new().await;
    let (hub, _inboxes) = env.hub().await;
    hub.output.prepare().unwrap();
    // Pages written: nothing owed.
    let owed: Vec<String> = hub
        .db
        .load_rewrites_pending()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.package)
        .collect();
    let gens: Vec<(String, i64)> = hub
        .db
        .rewrite_generations(&owed)
        .await
        .unwrap()
        .into_iter()
        .collect();
    hub.db.clear_rewrites(&gens).await.unwrap();
    let w = wheel("foo", "1.0", 10);
    let name = "foo-1.0-py3-none-any.whl";
    // Recorded after the check began: being published now, so not "missing".
    let since = Utc::now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    hub.db
        .log_build(&NewBuild {
            package: "foo".into(),
            version: "1.0".into(),
            built_by: 1,
            target: target(),
            status: true,
            duration: chrono::TimeDelta::seconds(1),
            built_at: None,
            files: vec![wheel_file(name, &w)],
        })
        .await
        .unwrap();
    std::fs::create_dir_all(env.simple().join("foo")).unwrap();
    std::fs::write(env.simple().join("foo").join("foo-9-py3-none-any.whl"), "x").unwrap();
    let report = reconcile::reconcile(&hub, since).await.unwrap();
    assert_eq!(report.packages, 2);
    assert_eq!(report.strays, ["foo/foo-9-py3-none-any.whl"]);
    assert!(report.missing.is_empty(), "{report:?}");
    // bar has no pages: owed. foo's build owes its pages already, so it is not owed twice.
    assert_eq!(report.owed.iter().collect::<Vec<_>>(), ["bar"]);
    assert!(report.repaired());
    assert_eq!(hub.db.all_build_ids().await.unwrap().len(), 1);
}
