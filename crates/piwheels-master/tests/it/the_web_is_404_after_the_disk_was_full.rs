//! Issue 14, item 9: after the output's disk had been full, `GET /` answered 404 for
//! minutes after the space came back. What could not be written (the fixed pages, the
//! homepage, the root index, owed package pages) is now written as soon as the disk guard
//! sees the space again.
//!
//! The output is a small tmpfs mounted for the test (root only), filled to the brim.

use crate::core_support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use core_support::*;
use piwheels_master::hub::WebRequest;
use piwheels_master::master::Master;

/// Unmounts the test's tmpfs when dropped.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = butter::mount::umount(&self.0, butter::mount::MntFlags::MNT_DETACH);
    }
}

/// Writes into `dir/filler` until the filesystem is full.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let block = vec![0x5a; 64 << 10];
    loop {
        match f.write_all(&block) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    path
}

/// `GET path` on the embedded web server: the status.
async fn status(addr: std::net::SocketAddr, path: &str) -> u16 {
    let url = format!("http://{addr}{path}");
    tokio::task::spawn_blocking(move || {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(10))
            .build();
        match agent.get(&url).call() {
            Ok(r) => r.status(),
            Err(ureq::Error::Status(code, _)) => code,
            Err(e) => panic!("{url}: {e}"),
        }
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_full_disk_kept_from_the_output_is_written_once_there_is_space() {
    let test = "what_a_full_disk_kept_from_the_output_is_written_once_there_is_space";
    if !test_support::is_root() {
        return skip(test, "mounting a small tmpfs to fill needs root");
    }
    let mut env = Env::new().await;
    let out = env.config.output_path.clone();
    std::fs::create_dir_all(&out).unwrap();
    butter::mount::mount_tmpfs(&out, "size=8m,mode=0755", butter::mount::MsFlags::empty()).unwrap();
    let _mounted = Mounted(out.clone());
    env.config.min_free_space = 1 << 20;
    env.config.rewrite_delay = Duration::from_millis(500);
    let filler = fill(&out);

    let master = Master::start(env.config.clone()).await.unwrap();
    let hub = master.hub().clone();
    let addr = master.web_addr().unwrap();
    let run = tokio::spawn(master.run_until(std::future::pending()));
    // A package arrives while nothing can be written.
    hub.db.add_new_package("late", "", "").await.unwrap();
    hub.db
        .add_new_package_version("late", "1.0", Some(Utc::now()), "")
        .await
        .unwrap();
    hub.web(WebRequest::Both("late".into()));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(status(addr, "/").await, 404, "nothing could be written");
    assert!(!out.join("simple/late/index.html").exists());

    // Space again: within a disk check (5 s) and a write, everything owed is there.
    std::fs::remove_file(&filler).unwrap();
    eventually("the homepage", || async { status(addr, "/").await == 200 }).await;
    for page in [
        "faq.html",
        "packages.html",
        "simple/index.html",
        "simple/late/index.html",
        "project/late/index.html",
    ] {
        let path = out.join(page);
        eventually(page, || async { path.exists() }).await;
    }
    // The root index may be written before the package's pages (from what is owed) and
    // again after them, so the wait is for the package in it.
    let root = out.join("simple/index.html");
    eventually("late in the root index", || async {
        std::fs::read_to_string(&root).is_ok_and(|t| t.contains("late/"))
    })
    .await;
    hub.quit.cancel();
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
