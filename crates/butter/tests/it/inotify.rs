//! inotify against the real kernel.

use crate::common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use butter::inotify::{
    Event, EventKind, InitFlags, Inotify, MIN_READ_BUFFER, Mask, WatchEvent, inotify_add_watch,
    inotify_init, inotify_read, pair_moves, watch,
};
use butter::{Errno, ErrorKind, EventSource};
use common::*;

const SHORT: Option<Duration> = Some(Duration::from_millis(100));

fn watches(ev: &Event) -> &WatchEvent {
    ev.as_watch().expect("a watch event")
}

/// Every event queued now, without blocking.
fn drain(i: &mut Inotify) -> Vec<Event> {
    let mut out = Vec::new();
    while let Some(ev) = i.wait(Some(Duration::from_millis(20))).unwrap() {
        out.push(ev);
    }
    out
}

#[test]
fn create_modify_delete_are_reported_with_names() {
    let dir = tempfile::tempdir().unwrap();
    let mut i = Inotify::new().unwrap();
    let wd = i
        .add_watch(
            dir.path(),
            Mask::CREATE | Mask::MODIFY | Mask::DELETE | Mask::CLOSE_WRITE,
        )
        .unwrap();
    let f = dir.path().join("abc");
    fs::write(&f, b"x").unwrap();
    fs::remove_file(&f).unwrap();
    let evs = drain(&mut i);
    let kinds: Vec<EventKind> = evs.iter().map(|e| watches(e).kind()).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Create,
            EventKind::Modify,
            EventKind::CloseWrite,
            EventKind::Delete
        ]
    );
    for ev in &evs {
        let w = watches(ev);
        assert_eq!(w.wd, wd);
        assert_eq!(w.name_bytes(), Some(&b"abc"[..]));
        assert!(!w.is_dir());
    }
    assert!(watches(&evs[2]).is_close());
}

#[test]
fn directories_are_flagged_and_self_events_have_no_name() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    fs::create_dir(&sub).unwrap();
    let mut i = Inotify::new().unwrap();
    let top = i
        .add_watch(dir.path(), Mask::CREATE | Mask::DELETE)
        .unwrap();
    let own = i.add_watch(&sub, Mask::DELETE_SELF).unwrap();
    fs::create_dir(dir.path().join("new")).unwrap();
    fs::remove_dir(&sub).unwrap();
    let evs = drain(&mut i);
    let w0 = watches(&evs[0]);
    assert_eq!(
        (w0.wd, w0.kind(), w0.is_dir()),
        (top, EventKind::Create, true)
    );
    assert_eq!(w0.name_os(), Some(OsStr::new("new")));
    let selfdel = evs
        .iter()
        .map(watches)
        .find(|w| w.kind() == EventKind::DeleteSelf)
        .unwrap();
    assert_eq!(selfdel.wd, own);
    assert_eq!(selfdel.name, None);
    // The deleted directory's watch goes away: IN_IGNORED.
    assert!(
        evs.iter()
            .map(watches)
            .any(|w| w.wd == own && w.kind() == EventKind::Ignored)
    );
    assert!(
        evs.iter()
            .map(watches)
            .any(|w| w.wd == top && w.kind() == EventKind::Delete && w.is_dir())
    );
}

#[test]
fn rename_halves_share_a_cookie_and_pair_up() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    fs::create_dir(&a).unwrap();
    fs::create_dir(&b).unwrap();
    fs::write(a.join("f"), b"").unwrap();
    let mut i = Inotify::new().unwrap();
    i.add_watch(&a, Mask::MOVE).unwrap();
    i.add_watch(&b, Mask::MOVE).unwrap();
    fs::rename(a.join("f"), b.join("g")).unwrap();
    fs::rename(b.join("g"), dir.path().join("outside")).unwrap();
    let evs = drain(&mut i);
    assert_eq!(evs.len(), 3, "{evs:?}");
    let (from, to) = (watches(&evs[0]), watches(&evs[1]));
    assert_eq!(
        (from.kind(), to.kind()),
        (EventKind::MovedFrom, EventKind::MovedTo)
    );
    assert_ne!(from.cookie, 0);
    assert_eq!(from.move_cookie(), to.move_cookie());
    let moves = pair_moves(&evs);
    assert_eq!(moves.len(), 2);
    assert_eq!((moves[0].from, moves[0].to), (Some(0), Some(1)));
    assert_eq!(
        (moves[1].from, moves[1].to),
        (Some(2), None),
        "moved out of the watched dirs"
    );
}

#[test]
fn names_are_bytes_whatever_their_encoding() {
    let dir = tempfile::tempdir().unwrap();
    let mut i = Inotify::new().unwrap();
    i.add_watch(dir.path(), Mask::CREATE).unwrap();
    let name = OsStr::from_bytes(b"caf\xe9 \n\x01\xff");
    fs::write(dir.path().join(name), b"").unwrap();
    let long = "n".repeat(255);
    fs::write(dir.path().join(&long), b"").unwrap();
    let evs = drain(&mut i);
    assert_eq!(watches(&evs[0]).name_os(), Some(name));
    assert_eq!(watches(&evs[1]).name_bytes(), Some(long.as_bytes()));
    assert!(format!("{:?}", watches(&evs[0]).name).contains("\\xe9"));
}

#[test]
fn identical_unread_events_are_merged_by_the_kernel() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    fs::write(&f, b"").unwrap();
    let mut i = Inotify::new().unwrap();
    i.add_watch(dir.path(), Mask::MODIFY).unwrap();
    let file = fs::OpenOptions::new().append(true).open(&f).unwrap();
    for _ in 0..5 {
        std::io::Write::write_all(&mut &file, b"x").unwrap();
    }
    assert_eq!(drain(&mut i).len(), 1);
}

#[test]
fn read_events_returns_everything_queued_in_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut i = Inotify::new().unwrap();
    i.add_watch(dir.path(), Mask::CREATE).unwrap();
    for n in 0..500 {
        fs::write(dir.path().join(format!("file-{n}")), b"").unwrap();
    }
    let evs = i.read_events().unwrap();
    assert_eq!(evs.len(), 500);
    assert_eq!(watches(&evs[499]).name_bytes(), Some(&b"file-499"[..]));
    // read_event hands them out one by one from the same batch.
    for n in 0..3 {
        fs::write(dir.path().join(format!("more-{n}")), b"").unwrap();
    }
    let first = i.read_event().unwrap();
    assert_eq!(watches(&first).name_bytes(), Some(&b"more-0"[..]));
    assert_eq!(i.read_events().unwrap().len(), 2);
}

#[test]
fn borrowed_read_matches_owned_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut i = Inotify::new().unwrap();
    i.add_watch(dir.path(), Mask::CREATE | Mask::DELETE)
        .unwrap();
    for n in 0..50 {
        fs::write(dir.path().join(format!("{n}")), b"").unwrap();
        fs::remove_file(dir.path().join(format!("{n}"))).unwrap();
    }
    let raw: Vec<Event> = i
        .read_raw()
        .unwrap()
        .map(|e| e.unwrap().to_owned())
        .collect();
    assert_eq!(raw.len(), 100);
    assert_eq!(watches(&raw[1]).kind(), EventKind::Delete);
    assert_eq!(watches(&raw[98]).name_bytes(), Some(&b"49"[..]));
}

#[test]
fn queue_overflow_is_a_distinct_event_at_the_end() {
    let Some((limit, dir)) =
        common::overflow_setup("queue_overflow_is_a_distinct_event_at_the_end")
    else {
        return;
    };
    let mut i = Inotify::with_flags(InitFlags::NONBLOCK).unwrap();
    i.add_watch(dir.path(), Mask::CREATE).unwrap();
    for n in 0..limit + 50 {
        fs::File::create(dir.path().join(format!("{n}"))).unwrap();
    }
    let mut evs = Vec::new();
    loop {
        match i.read_events() {
            Ok(batch) => evs.extend(batch),
            Err(e) if e.is_would_block() => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(evs.len(), limit + 1);
    assert!(evs.last().unwrap().is_overflow());
    assert_eq!(evs.iter().filter(|e| e.is_overflow()).count(), 1);
}

#[test]
fn nonblocking_instance_without_events_would_block() {
    let mut i = Inotify::with_flags(InitFlags::NONBLOCK).unwrap();
    assert!(is_cloexec(&i));
    check(
        expect_err(
            i.read_events(),
            "inotify_read",
            Errno::EAGAIN,
            ErrorKind::WouldBlock,
        )
        .map(drop),
    );
    assert_eq!(i.wait(Some(Duration::from_millis(5))).unwrap(), None);
}

#[test]
fn init_errors() {
    let bad = InitFlags::from_bits_retain(0x4000_0000);
    check(
        expect_err(
            inotify_init(bad),
            "inotify_init1",
            Errno::EINVAL,
            ErrorKind::InvalidArgument,
        )
        .map(drop),
    );
    expect_emfile(Inotify::new, "inotify_init1", "max_user_instances");
}

#[test]
fn add_watch_errors_name_the_path_and_explain() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    fs::write(&file, b"").unwrap();
    let i = Inotify::new().unwrap();
    let missing = dir.path().join("missing");
    let e = expect_err(
        i.add_watch(&missing, Mask::CREATE),
        "inotify_add_watch",
        Errno::ENOENT,
        ErrorKind::NotFound,
    )
    .unwrap();
    assert_eq!(e.path(), Some(missing.as_path()));
    assert!(e.to_string().contains("missing"), "{e}");
    let e = expect_err(
        i.add_watch(dir.path(), Mask::empty()),
        "inotify_add_watch",
        Errno::EINVAL,
        ErrorKind::InvalidArgument,
    )
    .unwrap();
    assert!(e.hint().unwrap().contains("no event"), "{e}");
    check(
        expect_err(
            i.add_watch(&file, Mask::CREATE | Mask::ONLYDIR),
            "inotify_add_watch",
            Errno::ENOTDIR,
            ErrorKind::InvalidArgument,
        )
        .map(drop),
    );
    i.add_watch(dir.path(), Mask::CREATE).unwrap();
    check(
        expect_err(
            i.add_watch(dir.path(), Mask::CREATE | Mask::MASK_CREATE),
            "inotify_add_watch",
            Errno::EEXIST,
            ErrorKind::Other,
        )
        .map(drop),
    );
    check(
        expect_err(
            i.add_watch(
                dir.path(),
                Mask::CREATE | Mask::MASK_CREATE | Mask::MASK_ADD,
            ),
            "inotify_add_watch",
            Errno::EINVAL,
            ErrorKind::InvalidArgument,
        )
        .map(drop),
    );
    // Not an inotify descriptor, and an O_PATH descriptor.
    let ev = butter::eventfd::EventFd::new().unwrap();
    check(
        expect_err(
            inotify_add_watch(&ev, dir.path(), Mask::CREATE),
            "inotify_add_watch",
            Errno::EINVAL,
            ErrorKind::InvalidArgument,
        )
        .map(drop),
    );
    check(
        expect_err(
            inotify_add_watch(path_fd(), dir.path(), Mask::CREATE),
            "inotify_add_watch",
            Errno::EBADF,
            ErrorKind::BadDescriptor,
        )
        .map(drop),
    );
}

#[test]
fn unreadable_path_gives_eacces() {
    if !is_root() {
        return skip(
            "unreadable_path_gives_eacces",
            "needs root to switch to an unprivileged user",
        );
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
    let inner = dir.path().join("inner");
    fs::create_dir(&inner).unwrap();
    check(in_child(|| {
        nix::unistd::setgid(nix::unistd::Gid::from_raw(65534)).map_err(|e| e.to_string())?;
        nix::unistd::setuid(nix::unistd::Uid::from_raw(65534)).map_err(|e| e.to_string())?;
        // setuid drops the capabilities, unless securebits say otherwise: drop them outright.
        let none = rustix::thread::CapabilitySet::empty();
        let sets = rustix::thread::CapabilitySets {
            effective: none,
            permitted: none,
            inheritable: none,
        };
        rustix::thread::set_capabilities(None, sets).map_err(|e| format!("capset: {e}"))?;
        let i = Inotify::new().map_err(|e| e.to_string())?;
        expect_err(
            i.add_watch(&inner, Mask::CREATE),
            "inotify_add_watch",
            Errno::EACCES,
            ErrorKind::PermissionDenied,
        )
        .map(drop)
    }));
}

#[test]
fn watch_limit_gives_enospc_explained_as_the_watch_limit() {
    // In a new user namespace, the per-namespace limit can be lowered without touching the
    // host's.
    check(in_child(|| {
        let (uid, gid) = (
            rustix::process::getuid().as_raw(),
            rustix::process::getgid().as_raw(),
        );
        if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER) {
            test_support::skip(
                "watch_limit_gives_enospc_explained_as_the_watch_limit",
                &format!("unshare(CLONE_NEWUSER): {e}"),
            );
            return Ok(());
        }
        let write = |p: &str, s: String| fs::write(p, s).map_err(|e| format!("{p}: {e}"));
        write("/proc/self/setgroups", "deny".into())?;
        write("/proc/self/uid_map", format!("0 {uid} 1"))?;
        write("/proc/self/gid_map", format!("0 {gid} 1"))?;
        write("/proc/sys/user/max_inotify_watches", "2".into())?;
        let i = Inotify::new().map_err(|e| e.to_string())?;
        i.add_watch("/", Mask::CREATE).map_err(|e| e.to_string())?;
        i.add_watch("/proc", Mask::CREATE)
            .map_err(|e| e.to_string())?;
        let e = expect_err(
            i.add_watch("/dev", Mask::CREATE),
            "inotify_add_watch",
            Errno::ENOSPC,
            ErrorKind::ResourceExhausted,
        )?;
        expect_hint(&e, "fs.inotify.max_user_watches")?;
        expect_hint(&e, "not the disk")
    }));
}

#[test]
fn removed_watch_is_ignored_and_cannot_be_removed_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut i = Inotify::new().unwrap();
    let wd = i.add_watch(dir.path(), Mask::CREATE).unwrap();
    i.rm_watch(wd).unwrap();
    let ev = i.read_event().unwrap();
    assert_eq!(
        (watches(&ev).wd, watches(&ev).kind()),
        (wd, EventKind::Ignored)
    );
    let e = expect_err(
        i.rm_watch(wd),
        "inotify_rm_watch",
        Errno::EINVAL,
        ErrorKind::InvalidArgument,
    )
    .unwrap();
    assert!(e.hint().unwrap().contains("removed already"), "{e}");
    // No more events for it.
    fs::write(dir.path().join("f"), b"").unwrap();
    assert_eq!(i.wait(Some(Duration::from_millis(20))).unwrap(), None);
}

#[test]
fn too_small_read_buffer_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let fd = inotify_init(InitFlags::empty()).unwrap();
    inotify_add_watch(&fd, dir.path(), Mask::CREATE).unwrap();
    fs::write(dir.path().join("a-rather-long-name"), b"").unwrap();
    let mut small = [0u8; 20];
    let e = expect_err(
        inotify_read(&fd, &mut small),
        "inotify_read",
        Errno::EINVAL,
        ErrorKind::InvalidArgument,
    )
    .unwrap();
    assert!(e.hint().unwrap().contains("MIN_READ_BUFFER"));
    let mut buf = [0u8; MIN_READ_BUFFER];
    let n = inotify_read(&fd, &mut buf).unwrap();
    assert_eq!(n, 16 + 32, "a 18-byte name is padded to 32");
}

#[test]
fn one_shot_watch_helper_returns_the_first_event() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("touched");
    fs::write(&f, b"").unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let toucher = {
        let (done, f) = (done.clone(), f.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                fs::write(&f, b"x").unwrap();
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let ev = watch(dir.path(), Mask::MODIFY).unwrap();
    done.store(true, Ordering::Relaxed);
    toucher.join().unwrap();
    assert_eq!(watches(&ev).kind(), EventKind::Modify);
    assert_eq!(watches(&ev).name_bytes(), Some(&b"touched"[..]));
    check(
        expect_err(
            watch(dir.path().join("nope"), Mask::ALL_EVENTS),
            "inotify_add_watch",
            Errno::ENOENT,
            ErrorKind::NotFound,
        )
        .map(drop),
    );
}

#[test]
fn wait_times_out_without_events() {
    let dir = tempfile::tempdir().unwrap();
    let mut i = Inotify::new().unwrap();
    i.add_watch(dir.path(), Mask::CREATE).unwrap();
    assert_eq!(i.wait(SHORT).unwrap(), None);
}

#[test]
fn adopts_and_releases_its_descriptor() {
    let dir = tempfile::tempdir().unwrap();
    let mut i = Inotify::from(inotify_init(InitFlags::empty()).unwrap());
    i.add_watch(dir.path(), Mask::CREATE).unwrap();
    fs::write(dir.path().join("x"), b"").unwrap();
    assert_eq!(i.read_events().unwrap().len(), 1);
    let fd: std::os::fd::OwnedFd = i.into();
    assert!(is_cloexec(&fd));
}
