//! The recursive inotify watcher against the real kernel.

use crate::common;

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use butter::EventSource;
use butter::inotify::{Change, EventKind, Mask, RecursiveWatcher, TreeEvent};

/// Every event until 200 ms pass without one.
fn drain(w: &mut RecursiveWatcher) -> Vec<TreeEvent> {
    let mut out = Vec::new();
    while let Some(ev) = w.wait(Some(Duration::from_millis(200))).unwrap() {
        out.push(ev);
    }
    out
}

fn changes(evs: &[TreeEvent]) -> Vec<&Change> {
    evs.iter()
        .filter_map(|e| match e {
            TreeEvent::Change(c) => Some(c),
            _ => None,
        })
        .collect()
}

fn watched(w: &RecursiveWatcher) -> HashSet<PathBuf> {
    w.watched_dirs().map(Path::to_path_buf).collect()
}

fn sh(script: &str, dir: &Path) {
    let out = test_support::process::output_within(
        Command::new("sh").arg("-c").arg(script).current_dir(dir),
        b"",
        Duration::from_secs(60),
        script,
    );
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn existing_tree_is_watched_at_start() {
    let root = tempfile::tempdir().unwrap();
    fs::create_dir_all(root.path().join("x/y")).unwrap();
    fs::create_dir_all(root.path().join("z")).unwrap();
    fs::write(root.path().join("x/file"), b"").unwrap();
    let mut w = RecursiveWatcher::new(root.path(), Mask::CREATE).unwrap();
    let r = root.path();
    assert_eq!(
        watched(&w),
        HashSet::from([r.to_path_buf(), r.join("x"), r.join("x/y"), r.join("z")])
    );
    fs::write(r.join("x/y/deep"), b"").unwrap();
    let evs = drain(&mut w);
    let c = changes(&evs);
    assert_eq!(c.len(), 1, "{evs:?}");
    assert_eq!(
        (c[0].path.as_path(), c[0].kind, c[0].scanned),
        (r.join("x/y/deep").as_path(), EventKind::Create, false)
    );
}

#[test]
fn mkdir_p_then_touch_is_not_missed() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let mut w = RecursiveWatcher::new(r, Mask::CREATE).unwrap();
    sh("mkdir -p a/b/c && touch a/b/c/f", r);
    let evs = drain(&mut w);
    let paths: HashSet<PathBuf> = changes(&evs).iter().map(|c| c.path.clone()).collect();
    for p in ["a", "a/b", "a/b/c", "a/b/c/f"] {
        assert!(paths.contains(&r.join(p)), "{p} missing from {evs:?}");
    }
    assert!(changes(&evs).iter().all(|c| c.kind == EventKind::Create));
    let f = changes(&evs)
        .into_iter()
        .find(|c| c.path == r.join("a/b/c/f"))
        .unwrap();
    assert!(!f.is_dir);
    assert!(
        changes(&evs)
            .iter()
            .filter(|c| c.path == r.join("a/b"))
            .all(|c| c.is_dir)
    );
    assert_eq!(
        watched(&w),
        HashSet::from([r.to_path_buf(), r.join("a"), r.join("a/b"), r.join("a/b/c")])
    );
    // And the new directories are really watched.
    fs::write(r.join("a/b/c/g"), b"").unwrap();
    let evs = drain(&mut w);
    assert_eq!(
        changes(&evs)
            .iter()
            .map(|c| c.path.clone())
            .collect::<Vec<_>>(),
        vec![r.join("a/b/c/g")]
    );
}

#[test]
fn deleted_directories_are_forgotten_on_ignored() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    fs::create_dir_all(r.join("d/e")).unwrap();
    let mut w = RecursiveWatcher::new(r, Mask::CREATE | Mask::DELETE).unwrap();
    assert_eq!(watched(&w).len(), 3);
    sh("rm -r d", r);
    let evs = drain(&mut w);
    assert!(
        changes(&evs)
            .iter()
            .any(|c| c.path == r.join("d") && c.kind == EventKind::Delete && c.is_dir),
        "{evs:?}"
    );
    assert_eq!(watched(&w), HashSet::from([r.to_path_buf()]));
    // Re-creating a directory of the same name watches it afresh.
    fs::create_dir(r.join("d")).unwrap();
    fs::write(r.join("d/again"), b"").unwrap();
    let evs = drain(&mut w);
    assert!(
        changes(&evs).iter().any(|c| c.path == r.join("d/again")),
        "{evs:?}"
    );
}

#[test]
fn renamed_directories_keep_their_watches_under_the_new_path() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    fs::create_dir_all(r.join("old/sub")).unwrap();
    let mut w = RecursiveWatcher::new(r, Mask::CREATE | Mask::MOVE).unwrap();
    fs::rename(r.join("old"), r.join("new")).unwrap();
    let evs = drain(&mut w);
    let c = changes(&evs);
    assert_eq!(c.len(), 2, "{evs:?}");
    assert_eq!(
        (c[0].kind, c[0].path.as_path()),
        (EventKind::MovedFrom, r.join("old").as_path())
    );
    assert_eq!(
        (c[1].kind, c[1].path.as_path()),
        (EventKind::MovedTo, r.join("new").as_path())
    );
    assert_eq!(c[0].cookie, c[1].cookie);
    assert_eq!(
        watched(&w),
        HashSet::from([r.to_path_buf(), r.join("new"), r.join("new/sub")])
    );
    fs::write(r.join("new/sub/f"), b"").unwrap();
    let evs = drain(&mut w);
    assert_eq!(changes(&evs)[0].path, r.join("new/sub/f"));
}

#[test]
fn directories_moved_out_are_unwatched_and_moved_in_are_scanned() {
    let outside = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    fs::create_dir_all(r.join("leaving/inner")).unwrap();
    fs::create_dir_all(outside.path().join("arriving/inner")).unwrap();
    fs::write(outside.path().join("arriving/inner/f"), b"").unwrap();
    let mut w = RecursiveWatcher::new(r, Mask::CREATE | Mask::MOVE).unwrap();

    fs::rename(r.join("leaving"), outside.path().join("left")).unwrap();
    let evs = drain(&mut w);
    assert_eq!(changes(&evs).len(), 1, "{evs:?}");
    assert_eq!(watched(&w), HashSet::from([r.to_path_buf()]));
    fs::write(outside.path().join("left/inner/x"), b"").unwrap();
    assert!(
        drain(&mut w).is_empty(),
        "a directory that left the tree reports nothing"
    );

    fs::rename(outside.path().join("arriving"), r.join("arrived")).unwrap();
    let evs = drain(&mut w);
    let c = changes(&evs);
    assert_eq!(
        (c[0].kind, c[0].path.as_path(), c[0].scanned),
        (EventKind::MovedTo, r.join("arrived").as_path(), false)
    );
    let scanned: HashSet<PathBuf> = c
        .iter()
        .filter(|c| c.scanned)
        .map(|c| c.path.clone())
        .collect();
    assert_eq!(
        scanned,
        HashSet::from([r.join("arrived/inner"), r.join("arrived/inner/f")])
    );
    assert!(watched(&w).contains(&r.join("arrived/inner")));
}

#[test]
fn only_the_requested_kinds_are_reported() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let mut w = RecursiveWatcher::new(r, Mask::DELETE).unwrap();
    sh("mkdir -p p/q", r);
    assert!(drain(&mut w).is_empty());
    // Directories were followed although CREATE was not asked for.
    assert!(watched(&w).contains(&r.join("p/q")));
    sh("touch p/q/f && rm p/q/f", r);
    let evs = drain(&mut w);
    let c = changes(&evs);
    assert_eq!(c.len(), 1, "{evs:?}");
    assert_eq!(
        (c[0].kind, c[0].path.as_path()),
        (EventKind::Delete, r.join("p/q/f").as_path())
    );
}

#[test]
fn symlinks_to_directories_are_not_followed() {
    let target = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(target.path(), root.path().join("link")).unwrap();
    let w = RecursiveWatcher::new(root.path(), Mask::CREATE).unwrap();
    assert_eq!(watched(&w), HashSet::from([root.path().to_path_buf()]));
}

#[test]
fn root_must_be_a_watchable_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    fs::write(&file, b"").unwrap();
    assert_eq!(
        RecursiveWatcher::new(&file, Mask::CREATE)
            .unwrap_err()
            .errno(),
        butter::Errno::ENOTDIR
    );
    assert_eq!(
        RecursiveWatcher::new(dir.path().join("none"), Mask::CREATE)
            .unwrap_err()
            .errno(),
        butter::Errno::ENOENT
    );
}

#[test]
fn overflow_is_reported_and_the_tree_rescanned() {
    let Some((limit, root)) = common::overflow_setup("overflow_is_reported_and_the_tree_rescanned")
    else {
        return;
    };
    let r = root.path();
    let mut w = RecursiveWatcher::new(r, Mask::CREATE).unwrap();
    for n in 0..limit + 10 {
        fs::File::create(r.join(format!("{n}"))).unwrap();
    }
    // Created while the queue is full: only the rescan can find it.
    fs::create_dir(r.join("late")).unwrap();
    let evs = drain(&mut w);
    assert_eq!(
        evs.iter()
            .filter(|e| matches!(e, TreeEvent::Overflow))
            .count(),
        1
    );
    assert!(watched(&w).contains(&r.join("late")));
}
