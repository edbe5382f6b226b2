//! The farm end to end, as real processes: a local upstream index holding generated sdists
//! (one with a C extension) and the build back-ends, `piw-master` on SQLite with its
//! embedded web server, `piw-slave`, and `piw-add`; then `pip install` from the farm's
//! index into a fresh venv, and an import of each package. Nothing leaves 127.0.0.1.

use crate::support;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use butter::EventSource;
use butter::inotify::{Event, Inotify, Mask as WatchMask};
use sha2::{Digest, Sha256};
use support::*;

const BUILD_LIMIT: Duration = Duration::from_secs(300);

/// What a test needs from the machine, or why it is skipped.
fn ready(test: &str) -> Option<PathBuf> {
    if let Err(why) = python_ready() {
        skip(test, &why);
        return None;
    }
    match build_deps() {
        Ok(dir) => Some(dir),
        Err(why) => {
            skip(test, &why);
            None
        }
    }
}

/// Every file of a directory (the build back-ends' wheels).
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "whl"))
        .collect();
    v.sort();
    v
}

#[test]
fn builds_publish_and_pip_installs() {
    let test = "builds_publish_and_pip_installs";
    let Some(deps) = ready(test) else { return };
    let work = tempfile::tempdir().unwrap();
    let mut files = files_in(&deps);
    files.push(make_sdist(work.path(), "pure-thing", "1.0", false, 0));
    files.push(make_sdist(work.path(), "speedy", "0.3", true, 0));
    let upstream = Upstream::serve(&work.path().join("upstream"), &files);

    let mut farm = Farm::start(&upstream.url, &[]);
    farm.start_slave();
    farm.add("pure-thing", "1.0");
    farm.add("speedy", "0.3");

    let pure = farm.wait_for_wheel("pure-thing", BUILD_LIMIT);
    let speedy = farm.wait_for_wheel("speedy", BUILD_LIMIT);
    let pure_name = pure.file_name().unwrap().to_str().unwrap();
    let speedy_name = speedy.file_name().unwrap().to_str().unwrap();
    assert!(
        pure_name.starts_with("pure_thing-1.0-py3-none-any"),
        "{pure_name}"
    );
    let target = python_target();
    let (abi, platform) = target.split_once('/').unwrap();
    assert!(
        speedy_name.ends_with(&format!("-{abi}-{abi}-{platform}.whl")),
        "{speedy_name}"
    );

    // The simple page links each wheel with its real hash, and its metadata file.
    for wheel in [&pure, &speedy] {
        let name = wheel.file_name().unwrap().to_str().unwrap();
        let package = wheel
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap();
        let page = http_get(farm.web_port, &format!("/simple/{package}/")).unwrap();
        let hash = hex::encode(Sha256::digest(fs::read(wheel).unwrap()));
        assert!(page.contains(&format!("{name}#sha256={hash}")), "{page}");
        let metadata =
            http_get(farm.web_port, &format!("/simple/{package}/{name}.metadata")).unwrap();
        assert!(metadata.contains("Name: "), "{metadata}");
        assert!(
            page.contains("data-requires-python=\"&gt;=3.7\"")
                || page.contains("data-requires-python=\"&#62;=3.7\""),
            "{page}"
        );
    }
    // The project JSON knows the build.
    let json = http_get(farm.web_port, "/project/speedy/json/").unwrap();
    assert!(json.contains(speedy_name), "{json}");

    // pip installs both from the farm's index alone, and they work.
    pip_install_and_run(
        work.path(),
        &farm.index_url(),
        &["pure-thing", "speedy"],
        "import pure_thing, speedy; assert pure_thing.VALUE == 'pure-thing 1.0'; \
         assert speedy.VALUE == 42",
    );
}

/// Everything seen in `simple/<package>/` while the test runs: each wheel must be whole
/// (its size and hash as on the simple page) the moment it appears.
struct Watcher {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<BTreeMap<String, u64>>>,
    thread: Option<std::thread::JoinHandle<Vec<String>>>,
}

impl Watcher {
    /// Watches `simple/` and every package directory made in it; `on_partial` is called
    /// with each temporary file that is written to.
    fn start(simple: PathBuf, on_write: impl Fn(&str, u32) + Send + 'static) -> Watcher {
        fs::create_dir_all(&simple).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(BTreeMap::new()));
        let (stop2, seen2) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            let mut problems = Vec::new();
            let mut ino = Inotify::new().unwrap();
            let mask = WatchMask::CREATE
                | WatchMask::MODIFY
                | WatchMask::MOVED_TO
                | WatchMask::CLOSE_WRITE;
            let mut dirs = BTreeMap::new();
            dirs.insert(ino.add_watch(&simple, mask).unwrap(), simple.clone());
            let mut writes: BTreeMap<String, u32> = BTreeMap::new();
            while !stop2.load(Ordering::Relaxed) {
                // Package directories made before their watch could be added.
                for entry in fs::read_dir(&simple).into_iter().flatten().flatten() {
                    let path = entry.path();
                    if path.is_dir()
                        && !path.is_symlink()
                        && !dirs.values().any(|d| *d == path)
                        && let Ok(wd) = ino.add_watch(&path, mask)
                    {
                        dirs.insert(wd, path);
                    }
                }
                let Ok(Some(Event::Watch(ev))) = ino.wait(Some(Duration::from_millis(50))) else {
                    continue;
                };
                let Some(dir) = dirs.get(&ev.wd).cloned() else {
                    continue;
                };
                let Some(name) = ev
                    .name
                    .as_ref()
                    .and_then(|n| n.as_os_str().to_str())
                    .map(str::to_owned)
                else {
                    continue;
                };
                let path = dir.join(&name);
                if path.is_dir() && !path.is_symlink() {
                    if !dirs.values().any(|d| *d == path)
                        && let Ok(wd) = ino.add_watch(&path, mask)
                    {
                        dirs.insert(wd, path);
                    }
                    continue;
                }
                // The staging folder (hidden, mode 0700) is never served: what matters is
                // what appears in a package's folder.
                let hidden = dir
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'));
                let in_package = dir != simple && !hidden;
                if ev.mask.contains(WatchMask::MODIFY)
                    && !name.ends_with(".html")
                    && !name.ends_with(".json")
                {
                    let n = writes.entry(name.clone()).or_default();
                    *n += 1;
                    on_write(&name, *n);
                }
                if in_package
                    && name.ends_with(".whl")
                    && ev.mask.intersects(WatchMask::CREATE | WatchMask::MOVED_TO)
                {
                    // The moment it is visible, it must be whole: a zip whose end record is there.
                    match fs::read(&path) {
                        Ok(bytes) => {
                            if !is_whole_zip(&bytes) {
                                problems.push(format!(
                                    "{} was visible while incomplete ({} bytes)",
                                    path.display(),
                                    bytes.len()
                                ));
                            }
                            seen2
                                .lock()
                                .unwrap()
                                .insert(name.clone(), bytes.len() as u64);
                        }
                        Err(e) => problems.push(format!("{}: {e}", path.display())),
                    }
                }
            }
            problems
        });
        Watcher {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> (Vec<String>, BTreeMap<String, u64>) {
        self.stop.store(true, Ordering::Relaxed);
        let problems = self.thread.take().unwrap().join().unwrap();
        let seen = self.seen.lock().unwrap().clone();
        (problems, seen)
    }
}

/// Whether `bytes` ends with a zip end-of-central-directory record (a wheel cut short
/// does not).
fn is_whole_zip(bytes: &[u8]) -> bool {
    let tail = &bytes[bytes.len().saturating_sub(65_557)..];
    tail.windows(4).rev().any(|w| w == b"PK\x05\x06")
}

#[test]
fn a_slave_killed_mid_transfer_loses_nothing_and_publishes_nothing_partial() {
    let test = "a_slave_killed_mid_transfer_loses_nothing_and_publishes_nothing_partial";
    let Some(deps) = ready(test) else { return };
    let work = tempfile::tempdir().unwrap();
    let mut files = files_in(&deps);
    // 64 MiB that does not compress: a transfer of many chunks.
    files.push(make_sdist(work.path(), "big-thing", "2.0", false, 64 << 20));
    let upstream = Upstream::serve(&work.path().join("upstream"), &files);

    // A short busy timeout, so the master soon forgets the killed slave and hands its
    // build out again.
    let mut farm = Farm::start(&upstream.url, &["--busy-timeout", "20s"]);
    let killed = Arc::new(AtomicBool::new(false));
    let slave_pid = Arc::new(Mutex::new(None::<u32>));
    let watcher = {
        let (killed, slave_pid) = (killed.clone(), slave_pid.clone());
        Watcher::start(farm.output.join("simple"), move |_name, writes| {
            // Some chunks are in: kill the slave now.
            if writes >= 4
                && !killed.swap(true, Ordering::SeqCst)
                && let Some(pid) = *slave_pid.lock().unwrap()
            {
                // SAFETY: kill(2) on the test's own child.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            }
        })
    };
    let first = farm.start_slave();
    *slave_pid.lock().unwrap() = Some(farm.slaves[first].id());
    farm.add("big-thing", "2.0");

    wait_until(BUILD_LIMIT, "the slave to be killed mid-transfer", || {
        killed.load(Ordering::SeqCst).then_some(())
    });
    farm.kill_slave(first);
    assert!(
        farm.wheels("big-thing").is_empty(),
        "the transfer finished before the kill: nothing was interrupted"
    );

    // A new slave (a new identity) takes the build over once the master has given up on
    // the old one.
    farm.start_slave();
    let wheel = farm.wait_for_wheel("big-thing", BUILD_LIMIT + Duration::from_secs(60));
    let (problems, seen) = watcher.finish();
    assert!(problems.is_empty(), "{problems:#?}");
    let bytes = fs::read(&wheel).unwrap();
    assert!(bytes.len() > 64 << 20);
    assert_eq!(
        seen.get(wheel.file_name().unwrap().to_str().unwrap()),
        Some(&(bytes.len() as u64))
    );
    let page = http_get(farm.web_port, "/simple/big-thing/").unwrap();
    assert!(
        page.contains(&hex::encode(Sha256::digest(&bytes))),
        "{page}"
    );
    // Nothing but published files and pages under simple/: no temporary file left behind.
    for entry in fs::read_dir(farm.output.join("simple")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            name == "index.html"
                || name == "index.json"
                || farm.output.join("simple").join(&name).is_dir(),
            "left in simple/: {name}"
        );
    }
    pip_install_and_run(
        work.path(),
        &farm.index_url(),
        &["big-thing"],
        "import big_thing",
    );
}
