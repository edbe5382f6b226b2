//! fanotify against the real kernel, and its record parser.

use crate::common;

use std::ffi::{CString, OsStr};
use std::fs;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use butter::fanotify::{
    Event, EventMask, Fanotify, FileId, Info, InitFlags, MIN_READ_BUFFER, MarkEvent, MarkFlags,
    OFlags, Pidfd, Problem, Response, fanotify_init, fanotify_mark, fanotify_read,
    fanotify_respond, parse,
};
use butter::{Errno, ErrorKind, EventSource};
use common::*;

const SHORT: Option<Duration> = Some(Duration::from_millis(50));
const LONG: Option<Duration> = Some(Duration::from_secs(10));

/// A group with `flags`, or `None` after saying why there cannot be one here.
fn group(test: &str, flags: InitFlags) -> Option<Fanotify> {
    if !is_root() {
        skip(test, "fanotify needs CAP_SYS_ADMIN: run as root");
        return None;
    }
    match Fanotify::new(flags) {
        Ok(g) => Some(g),
        Err(e) if e.errno() == Errno::EPERM => {
            skip(test, &format!("root without CAP_SYS_ADMIN: {e}"));
            None
        }
        Err(e) if e.errno() == Errno::EINVAL => {
            skip(test, &format!("this kernel lacks {flags:?}: {e}"));
            None
        }
        Err(e) => panic!("{e}"),
    }
}

/// Every event queued now, waiting a little for stragglers.
fn drain(g: &mut Fanotify) -> Vec<Event> {
    let mut out = Vec::new();
    while let Some(ev) = g.wait(SHORT).unwrap() {
        out.push(ev);
    }
    out
}

/// The mark events among `evs`, panicking at an overflow.
fn marks(evs: Vec<Event>) -> Vec<MarkEvent> {
    evs.into_iter()
        .map(|e| e.into_mark().expect("no overflow"))
        .collect()
}

/// The union of the masks of the events about `path`.
fn mask_for(evs: &[MarkEvent], path: &Path) -> EventMask {
    evs.iter()
        .filter(|e| e.path().as_deref() == Some(path))
        .fold(EventMask::empty(), |m, e| m | e.mask)
}

/// A scratch directory on tmpfs (file handles supported since Linux 5.13), or /tmp.
fn scratch() -> tempfile::TempDir {
    let base = if Path::new("/dev/shm").is_dir() {
        "/dev/shm"
    } else {
        "/tmp"
    };
    tempfile::tempdir_in(base).unwrap()
}

/// `name_to_handle_at(2)` of `path`: its handle type and bytes.
fn handle_of(path: &Path) -> (i32, Vec<u8>) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    let mut buf = [0u32; 2 + 128 / 4];
    buf[0] = 128;
    let mut mount_id: libc::c_int = 0;
    // SAFETY: `buf` is a struct file_handle with room for `buf[0]` = 128 handle bytes (the
    // kernel's MAX_HANDLE_SZ); `c` is a NUL-terminated path; `mount_id` is writable.
    let r = unsafe {
        libc::syscall(
            libc::SYS_name_to_handle_at,
            libc::AT_FDCWD,
            c.as_ptr(),
            buf.as_mut_ptr(),
            &mut mount_id,
            0,
        )
    };
    assert_eq!(
        r,
        0,
        "name_to_handle_at: {}",
        std::io::Error::last_os_error()
    );
    let bytes = buf[2..].iter().flat_map(|w| w.to_ne_bytes());
    (buf[1] as i32, bytes.take(buf[0] as usize).collect())
}

/// `statfs(2)`'s `f_fsid` of `path`.
fn fsid_of(path: &Path) -> [i32; 2] {
    let st = nix::sys::statfs::statfs(path).unwrap();
    // SAFETY: fsid_t is `struct { int __val[2]; }`, the same size and layout as [i32; 2].
    unsafe { std::mem::transmute::<libc::fsid_t, [i32; 2]>(st.filesystem_id()) }
}

/// Checks that `id` is the handle of `path`.
fn assert_names(id: &FileId, path: &Path) {
    let (handle_type, handle) = handle_of(path);
    assert_eq!(
        (id.handle_type, &id.handle),
        (handle_type, &handle),
        "{path:?}"
    );
    assert_eq!(id.fsid, fsid_of(path), "{path:?}");
}

#[test]
fn file_events_carry_the_descriptor_and_path() {
    let Some(mut g) = group(
        "file_events_carry_the_descriptor_and_path",
        InitFlags::empty(),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (file, other) = (dir.path().join("watched"), dir.path().join("other"));
    fs::write(&file, b"contents").unwrap();
    fs::write(&other, b"").unwrap();
    g.mark(
        &file,
        EventMask::OPEN | EventMask::MODIFY | EventMask::CLOSE_WRITE | EventMask::ACCESS,
    )
    .unwrap();
    fs::write(&file, b"new contents").unwrap();
    fs::write(&other, b"x").unwrap();
    let evs = marks(drain(&mut g));
    assert!(!evs.is_empty());
    let all = evs.iter().fold(EventMask::empty(), |m, e| m | e.mask);
    assert_eq!(
        all,
        EventMask::OPEN | EventMask::MODIFY | EventMask::CLOSE_WRITE
    );
    let meta = fs::metadata(&file).unwrap();
    for ev in &evs {
        assert_eq!(ev.path().as_deref(), Some(file.as_path()), "{ev:?}");
        assert_eq!(ev.pid, std::process::id() as i32);
        assert!(!ev.is_dir() && !ev.is_permission() && ev.info.is_empty());
        let fd = ev.fd().unwrap();
        assert!(is_cloexec(&fd), "event descriptors are close-on-exec");
        let st = rustix::fs::fstat(fd).unwrap();
        assert_eq!((st.st_dev, st.st_ino), (meta.dev(), meta.ino()));
    }
    // The descriptor reads the file (it was opened O_RDONLY).
    let mut read = String::new();
    fs::File::from(evs.into_iter().next().unwrap().fd.unwrap())
        .read_to_string(&mut read)
        .unwrap();
    assert_eq!(read, "new contents");
}

#[test]
fn directory_marks_need_event_on_child_and_ondir() {
    let Some(mut g) = group(
        "directory_marks_need_event_on_child_and_ondir",
        InitFlags::empty(),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let child = dir.path().join("child");
    fs::write(&child, b"").unwrap();
    g.mark(dir.path(), EventMask::OPEN).unwrap();
    drop(fs::File::open(&child).unwrap());
    drop(fs::read_dir(dir.path()).unwrap());
    assert!(
        drain(&mut g).is_empty(),
        "neither the child nor the dir itself"
    );
    g.mark(dir.path(), EventMask::EVENT_ON_CHILD | EventMask::ONDIR)
        .unwrap();
    drop(fs::File::open(&child).unwrap());
    drop(fs::read_dir(dir.path()).unwrap());
    let evs = marks(drain(&mut g));
    assert_eq!(evs.len(), 2, "{evs:?}");
    assert_eq!(evs[0].path().as_deref(), Some(child.as_path()));
    assert!(!evs[0].is_dir());
    assert_eq!(evs[1].path().as_deref(), Some(dir.path()));
    assert!(evs[1].is_dir() && evs[1].mask.contains(EventMask::OPEN));
    // Removing OPEN leaves nothing to report.
    g.unmark(dir.path(), EventMask::OPEN).unwrap();
    drop(fs::File::open(&child).unwrap());
    assert!(drain(&mut g).is_empty());
}

#[test]
fn mount_and_filesystem_marks_differ_across_bind_mounts() {
    let test = "mount_and_filesystem_marks_differ_across_bind_mounts";
    if group(test, InitFlags::empty()).is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    fs::create_dir(&a).unwrap();
    fs::create_dir(&b).unwrap();
    check(in_child(|| {
        use nix::mount::{MsFlags, mount};
        let err = |what: &'static str| move |e: nix::Error| format!("{what}: {e}");
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).map_err(err("unshare"))?;
        let private = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
        mount(None::<&str>, "/", None::<&str>, private, None::<&str>).map_err(err("private"))?;
        // A fresh tmpfs that nothing else touches, seen at `a` and, bound, at `b`.
        mount(
            Some("none"),
            &a,
            Some("tmpfs"),
            MsFlags::empty(),
            None::<&str>,
        )
        .map_err(err("tmpfs"))?;
        mount(Some(&a), &b, None::<&str>, MsFlags::MS_BIND, None::<&str>).map_err(err("bind"))?;
        fs::write(a.join("f"), b"").map_err(|e| e.to_string())?;
        let mut on_mount = Fanotify::new(InitFlags::empty()).map_err(|e| e.to_string())?;
        let mut on_fs = Fanotify::new(InitFlags::empty()).map_err(|e| e.to_string())?;
        on_mount
            .mark_mount(&a, EventMask::OPEN)
            .map_err(|e| e.to_string())?;
        on_fs
            .mark_filesystem(&a, EventMask::OPEN)
            .map_err(|e| e.to_string())?;
        let paths = |g: &mut Fanotify| -> Vec<PathBuf> {
            marks(drain(g)).iter().filter_map(|e| e.path()).collect()
        };
        drop(fs::File::open(b.join("f")).map_err(|e| e.to_string())?);
        let (seen_mount, seen_fs) = (paths(&mut on_mount), paths(&mut on_fs));
        if !seen_mount.is_empty() || seen_fs != [b.join("f")] {
            return Err(format!("through b: mount {seen_mount:?}, fs {seen_fs:?}"));
        }
        drop(fs::File::open(a.join("f")).map_err(|e| e.to_string())?);
        let (seen_mount, seen_fs) = (paths(&mut on_mount), paths(&mut on_fs));
        if seen_mount != [a.join("f")] || seen_fs != [a.join("f")] {
            return Err(format!("through a: mount {seen_mount:?}, fs {seen_fs:?}"));
        }
        // Flushed, and the other kind of flush leaves them alone.
        on_mount.flush_mounts().map_err(|e| e.to_string())?;
        on_fs.flush_mounts().map_err(|e| e.to_string())?;
        drop(fs::File::open(a.join("f")).map_err(|e| e.to_string())?);
        let (seen_mount, seen_fs) = (paths(&mut on_mount), paths(&mut on_fs));
        if !seen_mount.is_empty() || seen_fs.len() != 1 {
            return Err(format!("after flush: mount {seen_mount:?}, fs {seen_fs:?}"));
        }
        on_fs.flush_filesystems().map_err(|e| e.to_string())?;
        drop(fs::File::open(a.join("f")).map_err(|e| e.to_string())?);
        match paths(&mut on_fs).len() {
            0 => Ok(()),
            n => Err(format!("{n} events after flushing the filesystem mark")),
        }
    }));
}

#[test]
fn fid_groups_report_handles_and_names() {
    let test = "fid_groups_report_handles_and_names";
    // Directory-entry events identify the entry too only with REPORT_TARGET_FID (5.17).
    let flags = InitFlags::REPORT_DFID_NAME_TARGET | InitFlags::NONBLOCK;
    for base in ["/dev/shm", "/tmp"] {
        let Some(mut g) = group(test, flags) else {
            return;
        };
        let dir = tempfile::tempdir_in(base).unwrap();
        let mask = EventMask::CREATE | EventMask::DELETE | EventMask::ONDIR;
        match g.mark(dir.path(), mask) {
            Ok(()) => {}
            Err(e) if [Errno::ENODEV, Errno::EOPNOTSUPP, Errno::EXDEV].contains(&e.errno()) => {
                skip(test, &format!("{base}: no file handles here: {e}"));
                continue;
            }
            Err(e) => panic!("{e}"),
        }
        let name = OsStr::from_bytes(b"caf\xe9 \n\x01");
        let (file, sub) = (dir.path().join(name), dir.path().join("sub"));
        fs::write(&file, b"").unwrap();
        fs::create_dir(&sub).unwrap();
        // Handles outlive the names: take them before the entries go.
        let (file_handle, sub_handle) = (handle_of(&file), handle_of(&sub));
        fs::remove_file(&file).unwrap();
        let evs = marks(drain(&mut g));
        assert_eq!(evs.len(), 2, "{base}: {evs:?}");
        // Creating and deleting the same entry unread merged into one event.
        let (f, s) = (&evs[0], &evs[1]);
        assert_eq!(f.mask, EventMask::CREATE | EventMask::DELETE, "{base}");
        assert_eq!(s.mask, EventMask::CREATE | EventMask::ONDIR, "{base}");
        assert!(s.is_dir() && !f.is_dir());
        assert_eq!((f.name(), s.name()), (Some(name), Some(OsStr::new("sub"))));
        for ev in &evs {
            assert!(
                ev.fd.is_none() && ev.path().is_none(),
                "FID groups get no fd"
            );
            assert_names(ev.dir_fid().unwrap(), dir.path());
            assert!(
                matches!(ev.info[..], [Info::DfidName(..), Info::Fid(_)]),
                "DFID_NAME, then FID: {:?}",
                ev.info
            );
        }
        let fid = |ev: &MarkEvent| {
            let id = ev.fid().unwrap();
            (id.handle_type, id.handle.clone())
        };
        assert_eq!(fid(f), file_handle, "{base}: the entry's own handle");
        assert_eq!(fid(s), sub_handle);
        assert_eq!(s.fid().unwrap().fsid, fsid_of(dir.path()));
        // A handle opens the object (CAP_DAC_READ_SEARCH), until it is gone.
        let dirfd = fs::File::open(dir.path()).unwrap();
        let opened = s.fid().unwrap().open(&dirfd, OFlags::RDONLY).unwrap();
        assert_eq!(
            rustix::fs::fstat(&opened).unwrap().st_ino,
            fs::metadata(&sub).unwrap().ino()
        );
        assert!(is_cloexec(&opened));
        check(
            expect_err(
                f.fid().unwrap().open(&dirfd, OFlags::RDONLY),
                "open_by_handle_at",
                Errno::ESTALE,
                ErrorKind::Other,
            )
            .map(drop),
        );
        // An event on the directory itself is named ".".
        g.mark(dir.path(), EventMask::ATTRIB | EventMask::ONDIR)
            .unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o750)).unwrap();
        let ev = marks(drain(&mut g)).remove(0);
        assert_eq!(ev.mask, EventMask::ATTRIB | EventMask::ONDIR);
        assert_eq!(ev.name(), Some(OsStr::new(".")));
    }
}

#[test]
fn rename_events_carry_the_old_and_new_names() {
    let test = "rename_events_carry_the_old_and_new_names";
    let Some(mut g) = group(test, InitFlags::REPORT_DFID_NAME) else {
        return;
    };
    let dir = scratch();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    fs::create_dir(&a).unwrap();
    fs::create_dir(&b).unwrap();
    fs::write(a.join("old"), b"").unwrap();
    g.mark(&a, EventMask::RENAME).unwrap();
    g.mark(&b, EventMask::RENAME).unwrap();
    fs::rename(a.join("old"), b.join("new")).unwrap();
    let evs = marks(drain(&mut g));
    assert_eq!(evs.len(), 1, "one event for both directories: {evs:?}");
    let (mut old, mut new) = (None, None);
    for info in &evs[0].info {
        match info {
            Info::OldDfidName(id, name) => old = Some((id.clone(), name.clone())),
            Info::NewDfidName(id, name) => new = Some((id.clone(), name.clone())),
            other => panic!("unexpected {other:?}"),
        }
    }
    let (old, new) = (old.unwrap(), new.unwrap());
    assert_eq!(
        (old.1.as_os_str(), new.1.as_os_str()),
        (OsStr::new("old"), OsStr::new("new"))
    );
    assert_names(&old.0, &a);
    assert_names(&new.0, &b);
}

/// Opens `path` in a forked child, on a thread, and reports the child's verdict: `Ok`
/// when the open's outcome is `expect` (`None`: success).
///
/// The child closes its copy of the group's descriptor first: a forked process holding the
/// group open would keep the group alive, so that closing it here would not answer events.
fn open_in_child(
    group: &Fanotify,
    path: &Path,
    expect: Option<Errno>,
) -> std::thread::JoinHandle<Result<(), String>> {
    let path = path.to_owned();
    let group_fd = group.as_raw_fd();
    std::thread::spawn(move || {
        in_child(|| {
            // SAFETY: the child's copy of the descriptor, which nothing in it uses.
            unsafe { libc::close(group_fd) };
            match (fs::File::open(&path), expect) {
                (Ok(_), None) => Ok(()),
                (Err(e), Some(errno)) if e.raw_os_error() == Some(errno as i32) => Ok(()),
                (r, _) => Err(format!("open: expected {expect:?}, got {r:?}")),
            }
        })
    })
}

/// The next event, which must be a permission event about `path` from another process.
fn permission_event(g: &mut Fanotify, path: &Path) -> MarkEvent {
    let ev = g.wait(LONG).unwrap().expect("a permission event");
    let ev = ev.into_mark().unwrap();
    assert_eq!(ev.mask, EventMask::OPEN_PERM);
    assert!(ev.is_permission());
    assert_eq!(ev.path().as_deref(), Some(path));
    assert_ne!(ev.pid, std::process::id() as i32);
    ev
}

#[test]
fn permission_events_are_denied_and_allowed() {
    let test = "permission_events_are_denied_and_allowed";
    let Some(mut g) = group(test, InitFlags::CLASS_CONTENT) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("guarded");
    fs::write(&file, b"secret").unwrap();
    g.mark(&file, EventMask::OPEN_PERM).unwrap();

    let opener = open_in_child(&g, &file, Some(Errno::EPERM));
    let ev = permission_event(&mut g, &file);
    // The opener waits for the answer.
    std::thread::sleep(Duration::from_millis(200));
    assert!(!opener.is_finished(), "the open went ahead unanswered");
    g.deny(&ev).unwrap();
    check(opener.join().unwrap());
    // An event is answered once.
    let e = expect_err(
        g.allow(&ev),
        "fanotify_respond",
        Errno::ENOENT,
        ErrorKind::NotFound,
    )
    .unwrap();
    check(expect_hint(&e, "answered already"));

    let opener = open_in_child(&g, &file, None);
    let ev = permission_event(&mut g, &file);
    g.respond(&ev, Response::Allow).unwrap();
    check(opener.join().unwrap());

    // Closing the group allows what waits for an answer.
    let opener = open_in_child(&g, &file, None);
    let ev = permission_event(&mut g, &file);
    drop(g);
    check(opener.join().unwrap());
    drop(ev);
}

#[test]
fn permission_events_need_a_content_class() {
    let test = "permission_events_need_a_content_class";
    let Some(g) = group(test, InitFlags::empty()) else {
        return;
    };
    let e = expect_err(
        g.mark("/", EventMask::OPEN_PERM),
        "fanotify_mark",
        Errno::EINVAL,
        ErrorKind::InvalidArgument,
    )
    .unwrap();
    check(expect_hint(&e, "CLASS_CONTENT"));
}

#[test]
fn overflow_is_a_distinct_event_at_the_end() {
    let test = "overflow_is_a_distinct_event_at_the_end";
    let limit: usize = fs::read_to_string("/proc/sys/fs/fanotify/max_queued_events")
        .map(|s| s.trim().parse().unwrap())
        .unwrap_or(16384);
    if limit > 100_000 {
        return skip(test, "fs.fanotify.max_queued_events is above 100000");
    }
    // A FID group: its events carry no descriptors, so a batch of any size can be read.
    let Some(mut g) = group(test, InitFlags::REPORT_DFID_NAME | InitFlags::NONBLOCK) else {
        return;
    };
    let dir = scratch();
    g.mark(dir.path(), EventMask::CREATE).unwrap();
    for n in 0..limit + 50 {
        fs::File::create(dir.path().join(n.to_string())).unwrap();
    }
    let mut evs = Vec::new();
    loop {
        match g.read_events() {
            Ok(batch) => evs.extend(batch),
            Err(e) if e.is_would_block() => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(evs.len(), limit + 1);
    assert!(evs.last().unwrap().is_overflow());
    assert_eq!(evs.iter().filter(|e| e.is_overflow()).count(), 1);
    let last = evs[limit - 1].as_mark().unwrap();
    assert_eq!(last.name(), Some(OsStr::new(&(limit - 1).to_string())));
}

#[test]
fn fid_groups_read_everything_and_fd_groups_small_batches() {
    let test = "fid_groups_read_everything_and_fd_groups_small_batches";
    let Some(mut fid) = group(test, InitFlags::REPORT_DFID_NAME) else {
        return;
    };
    let Some(mut fds) = group(test, InitFlags::empty()) else {
        return;
    };
    let dir = scratch();
    fid.mark(dir.path(), EventMask::CREATE).unwrap();
    fds.mark(dir.path(), EventMask::OPEN | EventMask::EVENT_ON_CHILD)
        .unwrap();
    for n in 0..500 {
        fs::File::create(dir.path().join(format!("file-{n}"))).unwrap();
    }
    let batch = fid.read_events().unwrap();
    assert_eq!(batch.len(), 500, "everything queued, in one call");
    let first = fds.read_events().unwrap();
    assert_eq!(
        first.len(),
        MIN_READ_BUFFER / 24,
        "one 4 KiB read of 24-byte events"
    );
    let mut total = first.len();
    while let Some(ev) = fds.wait(SHORT).unwrap() {
        assert!(ev.as_mark().unwrap().fd.is_some());
        total += 1;
    }
    assert_eq!(total, 500);
}

#[test]
fn blocking_reads_wait_for_the_first_event() {
    let Some(mut g) = group(
        "blocking_reads_wait_for_the_first_event",
        InitFlags::empty(),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("later");
    fs::write(&file, b"").unwrap();
    g.mark(&file, EventMask::OPEN).unwrap();
    assert!(g.wait(SHORT).unwrap().is_none());
    let opener = {
        let file = file.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            drop(fs::File::open(file).unwrap());
        })
    };
    // Unlike the original butter's read(fd, 0), which failed with EINVAL once an event came.
    // The blocking read runs in a thread, so a read that never returns fails the test.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(g.read_event().map(|ev| ev.into_mark().unwrap()));
    });
    let ev = rx
        .recv_timeout(LONG.unwrap())
        .expect("the blocking read returns the opener's event")
        .unwrap();
    assert_eq!(ev.path().as_deref(), Some(file.as_path()));
    opener.join().unwrap();
}

#[test]
fn nonblocking_group_without_events_would_block() {
    let test = "nonblocking_group_without_events_would_block";
    let Some(mut g) = group(test, InitFlags::NONBLOCK) else {
        return;
    };
    assert!(is_cloexec(&g));
    check(
        expect_err(
            g.read_events(),
            "fanotify_read",
            Errno::EAGAIN,
            ErrorKind::WouldBlock,
        )
        .map(drop),
    );
    assert!(g.wait(SHORT).unwrap().is_none());
}

#[test]
fn adopts_and_releases_its_descriptor() {
    let test = "adopts_and_releases_its_descriptor";
    if group(test, InitFlags::empty()).is_none() {
        return;
    }
    let fd = fanotify_init(InitFlags::REPORT_DFID_NAME, OFlags::RDONLY).unwrap();
    assert!(is_cloexec(&fd));
    let dir = scratch();
    fanotify_mark(
        &fd,
        MarkFlags::ADD,
        EventMask::CREATE,
        None,
        Some(dir.path()),
    )
    .unwrap();
    let mut g = Fanotify::from(fd);
    for n in 0..300 {
        fs::write(dir.path().join(n.to_string()), b"").unwrap();
    }
    // An adopted group might carry descriptors: the first read is small. Its events show
    // that they do not, and the next read takes the rest.
    // The first read is small; what it finds (no descriptors) lets the same batch read on,
    // so one call returns everything.
    assert_eq!(g.read_events().unwrap().len(), 300);
    let fd: OwnedFd = g.into();
    assert!(is_cloexec(&fd));
}

#[test]
fn marks_relative_to_a_directory_descriptor() {
    let test = "marks_relative_to_a_directory_descriptor";
    let Some(mut g) = group(test, InitFlags::empty()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rel");
    fs::write(&file, b"").unwrap();
    let dirfd = fs::File::open(dir.path()).unwrap();
    let flags = MarkFlags::ADD;
    fanotify_mark(
        &g,
        flags,
        EventMask::OPEN,
        Some(dirfd.as_fd()),
        Some(Path::new("rel")),
    )
    .unwrap();
    // No path: the object dirfd refers to.
    fanotify_mark(
        &g,
        flags,
        EventMask::OPEN | EventMask::ONDIR,
        Some(dirfd.as_fd()),
        None,
    )
    .unwrap();
    drop(fs::File::open(&file).unwrap());
    drop(fs::read_dir(dir.path()).unwrap());
    let evs = marks(drain(&mut g));
    assert_eq!(mask_for(&evs, &file), EventMask::OPEN);
    // Groups that report descriptors are not told FAN_ONDIR; the descriptor says it.
    assert_eq!(mask_for(&evs, dir.path()), EventMask::OPEN);
    assert!(
        evs.iter()
            .any(|e| e.is_dir() && e.path().as_deref() == Some(dir.path()))
    );
    // None is the current directory (AT_FDCWD), not descriptor 0.
    let e = expect_err(
        fanotify_mark(
            &g,
            flags,
            EventMask::OPEN,
            None,
            Some(Path::new("no-such-relative-path")),
        ),
        "fanotify_mark",
        Errno::ENOENT,
        ErrorKind::NotFound,
    )
    .unwrap();
    assert_eq!(e.path(), Some(Path::new("no-such-relative-path")));
}

#[test]
fn pidfd_records_name_the_process() {
    let test = "pidfd_records_name_the_process";
    let Some(mut g) = group(test, InitFlags::REPORT_DFID_NAME | InitFlags::REPORT_PIDFD) else {
        return;
    };
    let dir = scratch();
    g.mark(dir.path(), EventMask::CREATE).unwrap();
    fs::write(dir.path().join("x"), b"").unwrap();
    let ev = g.read_event().unwrap().into_mark().unwrap();
    let Some(Pidfd::Open(pidfd)) = ev.pidfd() else {
        panic!("no pidfd: {ev:?}");
    };
    assert!(is_cloexec(pidfd));
    // The pidfd's fdinfo names this process.
    let info = fs::read_to_string(format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd())).unwrap();
    let pid = format!("Pid:\t{}\n", std::process::id());
    assert!(info.contains(&pid), "{info}");
}

#[test]
fn init_errors_are_explained() {
    let test = "init_errors_are_explained";
    if group(test, InitFlags::empty()).is_none() {
        return;
    }
    let rdonly = OFlags::RDONLY;
    let cases = [
        (InitFlags::from_bits_retain(0x8000_0000), "does not know"),
        (
            InitFlags::CLASS_CONTENT | InitFlags::CLASS_PRE_CONTENT,
            "exclude each other",
        ),
        (
            InitFlags::CLASS_CONTENT | InitFlags::REPORT_FID,
            "cannot report FIDs",
        ),
        (InitFlags::REPORT_NAME, "needs REPORT_DIR_FID"),
    ];
    for (flags, hint) in cases {
        let e = expect_err(
            fanotify_init(flags, rdonly),
            "fanotify_init",
            Errno::EINVAL,
            ErrorKind::InvalidArgument,
        )
        .unwrap();
        check(expect_hint(&e, hint));
    }
    check(
        expect_err(
            fanotify_init(InitFlags::empty(), OFlags::PATH),
            "fanotify_init",
            Errno::EINVAL,
            ErrorKind::InvalidArgument,
        )
        .map(drop),
    );
    expect_emfile(
        || Fanotify::new(InitFlags::empty()),
        "fanotify_init",
        "RLIMIT_NOFILE",
    );
}

#[test]
fn mark_errors_name_the_path_and_explain() {
    let test = "mark_errors_name_the_path_and_explain";
    let Some(g) = group(test, InitFlags::empty()) else {
        return;
    };
    let Some(fid) = group(test, InitFlags::REPORT_FID) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    fs::write(&file, b"").unwrap();
    let missing = dir.path().join("missing");
    let e = expect_err(
        g.mark(&missing, EventMask::OPEN),
        "fanotify_mark",
        Errno::ENOENT,
        ErrorKind::NotFound,
    )
    .unwrap();
    assert_eq!(e.path(), Some(missing.as_path()));
    assert!(e.to_string().contains("missing"), "{e}");
    let einval = |r, hint| {
        let e = expect_err(
            r,
            "fanotify_mark",
            Errno::EINVAL,
            ErrorKind::InvalidArgument,
        )?;
        expect_hint(&e, hint)
    };
    check(einval(g.mark(&file, EventMask::empty()), "mask is empty"));
    check(einval(
        g.mark_with(MarkFlags::ADD | MarkFlags::REMOVE, &file, EventMask::OPEN),
        "exactly one of ADD",
    ));
    check(einval(
        g.mark(dir.path(), EventMask::CREATE),
        "need REPORT_FID",
    ));
    check(einval(
        fid.mark_mount(dir.path(), EventMask::CREATE),
        "cannot be marked on a mount",
    ));
    let ev = butter::eventfd::EventFd::new().unwrap();
    check(einval(
        fanotify_mark(&ev, MarkFlags::ADD, EventMask::OPEN, None, Some(&file)),
        "not a fanotify group",
    ));
    check(
        expect_err(
            g.mark_with(MarkFlags::ADD | MarkFlags::ONLYDIR, &file, EventMask::OPEN),
            "fanotify_mark",
            Errno::ENOTDIR,
            ErrorKind::InvalidArgument,
        )
        .and_then(|e| expect_hint(&e, "ONLYDIR")),
    );
    check(
        expect_err(
            g.unmark(&file, EventMask::OPEN),
            "fanotify_mark",
            Errno::ENOENT,
            ErrorKind::NotFound,
        )
        .and_then(|e| expect_hint(&e, "nothing to remove")),
    );
    check(
        expect_err(
            fanotify_mark(
                path_fd(),
                MarkFlags::ADD,
                EventMask::OPEN,
                None,
                Some(&file),
            ),
            "fanotify_mark",
            Errno::EBADF,
            ErrorKind::BadDescriptor,
        )
        .map(drop),
    );
    // A NUL in the path never reaches the kernel.
    let nul = Path::new(OsStr::from_bytes(b"a\0b"));
    check(
        expect_err(
            g.mark(nul, EventMask::OPEN),
            "fanotify_mark",
            Errno::EINVAL,
            ErrorKind::InvalidArgument,
        )
        .map(drop),
    );
}

#[test]
fn read_and_respond_errors_are_explained() {
    let test = "read_and_respond_errors_are_explained";
    let Some(mut g) = group(test, InitFlags::REPORT_DFID_NAME) else {
        return;
    };
    let dir = scratch();
    g.mark(dir.path(), EventMask::CREATE).unwrap();
    fs::write(dir.path().join("a-name-that-does-not-fit"), b"").unwrap();
    let mut small = [0u8; 30];
    let e = expect_err(
        fanotify_read(&g, &mut small),
        "fanotify_read",
        Errno::EINVAL,
        ErrorKind::InvalidArgument,
    )
    .unwrap();
    check(expect_hint(&e, "MIN_READ_BUFFER"));
    // A FID event has no descriptor to answer with.
    let ev = g.read_event().unwrap().into_mark().unwrap();
    let e = expect_err(
        g.allow(&ev),
        "fanotify_respond",
        Errno::EBADF,
        ErrorKind::BadDescriptor,
    )
    .unwrap();
    check(expect_hint(&e, "no descriptor"));
    // A group outside the permission classes takes no answers.
    let file = fs::File::open(dir.path()).unwrap();
    // The kernel finds no event waiting for that descriptor.
    let e = expect_err(
        fanotify_respond(&g, file.as_fd(), Response::Deny),
        "fanotify_respond",
        Errno::ENOENT,
        ErrorKind::NotFound,
    )
    .unwrap();
    check(expect_hint(&e, "answered already"));
}

#[test]
fn reading_at_the_descriptor_limit_drops_the_event() {
    let test = "reading_at_the_descriptor_limit_drops_the_event";
    if group(test, InitFlags::empty()).is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    fs::write(&file, b"").unwrap();
    check(in_child(|| {
        let mut g = Fanotify::new(InitFlags::NONBLOCK).map_err(|e| e.to_string())?;
        g.mark(&file, EventMask::OPEN).map_err(|e| e.to_string())?;
        drop(fs::File::open(&file).map_err(|e| e.to_string())?);
        let held = exhaust_descriptors()?;
        let e = expect_err(
            g.read_events(),
            "fanotify_read",
            Errno::EMFILE,
            ErrorKind::ResourceExhausted,
        )?;
        expect_hint(&e, "dropped that event")?;
        drop(held);
        match g.read_events() {
            Err(e) if e.is_would_block() => Ok(()),
            other => Err(format!("the event was kept: {other:?}")),
        }
    }));
}

#[test]
fn without_cap_sys_admin_only_fid_groups_and_inode_marks() {
    let test = "without_cap_sys_admin_only_fid_groups_and_inode_marks";
    if group(test, InitFlags::empty()).is_none() {
        return;
    }
    let dir = scratch();
    check(in_child(|| {
        drop_capability(rustix::thread::CapabilitySet::SYS_ADMIN)?;
        let e = expect_err(
            Fanotify::new(InitFlags::empty()),
            "fanotify_init",
            Errno::EPERM,
            ErrorKind::PermissionDenied,
        )?;
        expect_hint(&e, "CAP_SYS_ADMIN")?;
        expect_err(
            Fanotify::new(InitFlags::CLASS_CONTENT | InitFlags::REPORT_FID),
            "fanotify_init",
            Errno::EPERM,
            ErrorKind::PermissionDenied,
        )?;
        expect_err(
            Fanotify::new(InitFlags::REPORT_FID | InitFlags::UNLIMITED_QUEUE),
            "fanotify_init",
            Errno::EPERM,
            ErrorKind::PermissionDenied,
        )?;
        // Linux 5.13: an unprivileged FID group, with inode marks only.
        let mut g = match Fanotify::new(InitFlags::REPORT_DFID_NAME) {
            Ok(g) => g,
            Err(e) if e.errno() == Errno::EPERM => {
                test_support::skip(
                    &format!("part of {test}"),
                    "no unprivileged groups (Linux < 5.13)",
                );
                return Ok(());
            }
            Err(e) => return Err(e.to_string()),
        };
        let e = expect_err(
            g.mark_mount(dir.path(), EventMask::OPEN),
            "fanotify_mark",
            Errno::EPERM,
            ErrorKind::PermissionDenied,
        )?;
        expect_hint(&e, "CAP_SYS_ADMIN")?;
        expect_err(
            g.mark_filesystem(dir.path(), EventMask::CREATE),
            "fanotify_mark",
            Errno::EPERM,
            ErrorKind::PermissionDenied,
        )?;
        g.mark(dir.path(), EventMask::CREATE)
            .map_err(|e| e.to_string())?;
        fs::write(dir.path().join("unprivileged"), b"").map_err(|e| e.to_string())?;
        match g.read_event().map_err(|e| e.to_string())? {
            Event::Mark(ev) if ev.name() == Some(OsStr::new("unprivileged")) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    }));
}

/// In a child, in a new user namespace whose fanotify limit `knob` is `value`, runs `f`.
fn with_user_ns_limit(
    knob: &str,
    value: u32,
    f: impl FnOnce() -> Result<(), String>,
) -> Result<(), String> {
    in_child(|| {
        let (uid, gid) = (
            rustix::process::getuid().as_raw(),
            rustix::process::getgid().as_raw(),
        );
        if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER) {
            test_support::skip(
                &format!("{knob} limit"),
                &format!("unshare(CLONE_NEWUSER): {e}"),
            );
            return Ok(());
        }
        let write = |p: &str, s: String| fs::write(p, s).map_err(|e| format!("{p}: {e}"));
        write("/proc/self/setgroups", "deny".into())?;
        write("/proc/self/uid_map", format!("0 {uid} 1"))?;
        write("/proc/self/gid_map", format!("0 {gid} 1"))?;
        write(&format!("/proc/sys/user/{knob}"), value.to_string())?;
        f()
    })
}

#[test]
fn mark_limit_gives_enospc_explained_as_the_mark_limit() {
    let test = "mark_limit_gives_enospc_explained_as_the_mark_limit";
    if group(test, InitFlags::empty()).is_none() {
        return;
    }
    let dir = scratch();
    for name in ["a", "b", "c"] {
        fs::create_dir(dir.path().join(name)).unwrap();
    }
    check(with_user_ns_limit("max_fanotify_marks", 2, || {
        // Outside the initial user namespace: an unprivileged (FID) group.
        let g = Fanotify::new(InitFlags::REPORT_FID).map_err(|e| e.to_string())?;
        for name in ["a", "b"] {
            g.mark(dir.path().join(name), EventMask::OPEN)
                .map_err(|e| e.to_string())?;
        }
        let e = expect_err(
            g.mark(dir.path().join("c"), EventMask::OPEN),
            "fanotify_mark",
            Errno::ENOSPC,
            ErrorKind::ResourceExhausted,
        )?;
        expect_hint(&e, "fs.fanotify.max_user_marks")?;
        expect_hint(&e, "not the disk")
    }));
}

#[test]
fn group_limit_gives_emfile_explained_as_the_group_limit() {
    let test = "group_limit_gives_emfile_explained_as_the_group_limit";
    if group(test, InitFlags::empty()).is_none() {
        return;
    }
    check(with_user_ns_limit("max_fanotify_groups", 1, || {
        let _one = Fanotify::new(InitFlags::REPORT_FID).map_err(|e| e.to_string())?;
        let e = expect_err(
            Fanotify::new(InitFlags::REPORT_FID),
            "fanotify_init",
            Errno::EMFILE,
            ErrorKind::ResourceExhausted,
        )?;
        expect_hint(&e, "fs.fanotify.max_user_groups")
    }));
}

// The parser, on records built here.

/// An event record: metadata, then `info` records (each given as type and body).
fn record(mask: u64, fd: i32, pid: i32, info: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut infos = Vec::new();
    for (info_type, body) in info {
        infos.push(*info_type);
        infos.push(0);
        infos.extend_from_slice(&((4 + body.len()) as u16).to_ne_bytes());
        infos.extend_from_slice(body);
    }
    let mut r = Vec::new();
    r.extend_from_slice(&((24 + infos.len()) as u32).to_ne_bytes());
    r.push(libc::FANOTIFY_METADATA_VERSION);
    r.push(0);
    r.extend_from_slice(&24u16.to_ne_bytes());
    r.extend_from_slice(&mask.to_ne_bytes());
    r.extend_from_slice(&fd.to_ne_bytes());
    r.extend_from_slice(&pid.to_ne_bytes());
    r.extend(infos);
    r
}

/// The body of a FID record, with `name` (NUL-terminated, padded) if given.
fn fid_body(fsid: [i32; 2], handle_type: i32, handle: &[u8], name: Option<&[u8]>) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&fsid[0].to_ne_bytes());
    b.extend_from_slice(&fsid[1].to_ne_bytes());
    b.extend_from_slice(&(handle.len() as u32).to_ne_bytes());
    b.extend_from_slice(&handle_type.to_ne_bytes());
    b.extend_from_slice(handle);
    if let Some(name) = name {
        b.extend_from_slice(name);
        b.push(0);
    }
    while (b.len() + 4) % 4 != 0 {
        b.push(0);
    }
    b
}

#[test]
fn parses_the_kernel_layout() {
    let id = FileId {
        fsid: [7, -8],
        handle_type: 1,
        handle: vec![1, 2, 3, 4, 5, 6, 7, 8, 9],
    };
    let mut buf = record(libc::FAN_OPEN | libc::FAN_ONDIR, 42, 1234, &[]);
    buf.extend(record(
        libc::FAN_CREATE,
        -1,
        99,
        &[
            (
                libc::FAN_EVENT_INFO_TYPE_DFID_NAME,
                fid_body(id.fsid, 1, &id.handle, Some(b"n\xffm")),
            ),
            (
                libc::FAN_EVENT_INFO_TYPE_FID,
                fid_body(id.fsid, 1, &id.handle, None),
            ),
            (
                libc::FAN_EVENT_INFO_TYPE_PIDFD,
                (-1i32).to_ne_bytes().to_vec(),
            ),
            (libc::FAN_EVENT_INFO_TYPE_PIDFD, 9i32.to_ne_bytes().to_vec()),
            (
                libc::FAN_EVENT_INFO_TYPE_ERROR,
                [5i32.to_ne_bytes(), 3i32.to_ne_bytes()].concat(),
            ),
            (200, vec![1, 2, 3, 4]),
        ],
    ));
    buf.extend(record(libc::FAN_Q_OVERFLOW, -1, 0, &[]));
    let evs: Vec<_> = parse(&buf).map(Result::unwrap).collect();
    assert_eq!(evs.len(), 3);
    let first = evs[0].as_mark().unwrap();
    assert_eq!(
        (first.mask, first.fd, first.pid, first.is_dir()),
        (EventMask::OPEN | EventMask::ONDIR, Some(42), 1234, true)
    );
    let second = evs[1].as_mark().unwrap();
    assert_eq!(second.fd, None);
    assert_eq!(second.name(), Some(OsStr::from_bytes(b"n\xffm")));
    assert_eq!((second.dir_fid(), second.fid()), (Some(&id), Some(&id)));
    assert_eq!(second.pidfd(), Some(&Pidfd::Exited));
    assert_eq!(second.info[3], Info::Pidfd(Pidfd::Open(9)));
    assert_eq!(second.info[4], Info::Error { error: 5, count: 3 });
    assert_eq!(
        second.info[5],
        Info::Other {
            info_type: 200,
            data: vec![1, 2, 3, 4]
        }
    );
    assert_eq!(evs[2], Event::Overflow);
}

#[test]
fn malformed_records_say_what_is_wrong() {
    let problem = |buf: &[u8]| {
        let mut it = parse(buf);
        let err = it.next().unwrap().unwrap_err();
        assert!(it.next().is_none(), "the parse ends at the first error");
        assert!(!err.to_string().is_empty());
        (err.offset, err.problem)
    };
    let good = record(libc::FAN_OPEN, 3, 1, &[]);
    for cut in 1..24 {
        assert_eq!(
            problem(&good[..cut]),
            (
                0,
                Problem::Truncated {
                    needed: 24,
                    available: cut
                }
            )
        );
    }
    // A zero event_len, or one shorter than the metadata: never a loop.
    for len in [0u32, 1, 23] {
        let mut r = good.clone();
        r[..4].copy_from_slice(&len.to_ne_bytes());
        assert_eq!(
            problem(&r).1,
            Problem::MetadataLen {
                metadata_len: 24,
                event_len: len
            }
        );
    }
    let mut r = good.clone();
    r[6..8].copy_from_slice(&8u16.to_ne_bytes());
    assert_eq!(
        problem(&r).1,
        Problem::MetadataLen {
            metadata_len: 8,
            event_len: 24
        }
    );
    let mut r = good.clone();
    r[4] = 2;
    assert_eq!(problem(&r).1, Problem::Version(2));
    // A second record that claims more than is there.
    let mut r = [good.clone(), good.clone()].concat();
    r[24..28].copy_from_slice(&1000u32.to_ne_bytes());
    let mut it = parse(&r);
    assert!(it.next().unwrap().is_ok());
    let err = it.next().unwrap().unwrap_err();
    assert_eq!(
        (err.offset, err.problem),
        (
            24,
            Problem::Truncated {
                needed: 1000,
                available: 24
            }
        )
    );
    // Info records: a zero len, a too-short header, a handle past the end, no NUL.
    let dfid = libc::FAN_EVENT_INFO_TYPE_DFID_NAME;
    let mut r = record(
        libc::FAN_CREATE,
        -1,
        1,
        &[(dfid, fid_body([0, 0], 1, &[1; 8], Some(b"x")))],
    );
    let zero_len = {
        let mut z = r.clone();
        z[26..28].copy_from_slice(&0u16.to_ne_bytes());
        z
    };
    assert!(matches!(
        problem(&zero_len),
        (24, Problem::InfoLen { len: 0, .. })
    ));
    let mut short = good.clone();
    short.extend([1, 0]);
    short[..4].copy_from_slice(&26u32.to_ne_bytes());
    assert_eq!(
        problem(&short),
        (24, Problem::InfoTruncated { available: 2 })
    );
    let mut long_handle = r.clone();
    long_handle[36..40].copy_from_slice(&200u32.to_ne_bytes());
    assert!(matches!(
        problem(&long_handle).1,
        Problem::HandleLen {
            handle_bytes: 200,
            ..
        }
    ));
    let name_at = 24 + 4 + 16 + 8;
    r[name_at..].fill(b'x');
    assert_eq!(problem(&r), (24, Problem::NameUnterminated));
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    fn info() -> impl Strategy<Value = (u8, Vec<u8>)> {
        prop_oneof![
            (
                proptest::sample::select(vec![
                    libc::FAN_EVENT_INFO_TYPE_FID,
                    libc::FAN_EVENT_INFO_TYPE_DFID,
                ]),
                any::<[i32; 2]>(),
                proptest::collection::vec(any::<u8>(), 0..40)
            )
                .prop_map(|(t, fsid, h): (u8, [i32; 2], Vec<u8>)| (t, fid_body(fsid, 1, &h, None))),
            (
                any::<[i32; 2]>(),
                proptest::collection::vec(any::<u8>(), 0..40),
                proptest::collection::vec(1u8.., 0..20)
            )
                .prop_map(|(fsid, h, n)| (
                    libc::FAN_EVENT_INFO_TYPE_DFID_NAME,
                    fid_body(fsid, 2, &h, Some(&n))
                )),
            (-2i32..100)
                .prop_map(|fd| (libc::FAN_EVENT_INFO_TYPE_PIDFD, fd.to_ne_bytes().to_vec())),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Any bytes: no panic, no loop; each event consumed at least its metadata; at
        /// most one error, and only at the end.
        #[test]
        fn never_panics_or_loops(buf in proptest::collection::vec(any::<u8>(), 0..400)) {
            let (mut n, mut errors) = (0, 0);
            let mut it = parse(&buf);
            while let Some(item) = it.next() {
                n += 1;
                prop_assert!(n * 24 <= buf.len() + 24);
                if item.is_err() {
                    errors += 1;
                    prop_assert!(it.remaining().is_empty());
                }
            }
            prop_assert!(errors <= 1);
        }

        /// Valid metadata with random info bytes: still no panic, and bounded.
        #[test]
        fn random_info_areas_are_bounded(
            body in proptest::collection::vec(any::<u8>(), 0..200),
            mask in any::<u64>(),
        ) {
            let mut r = record(mask & !libc::FAN_Q_OVERFLOW, -1, 1, &[]);
            r.extend(&body);
            let len = r.len() as u32;
            r[..4].copy_from_slice(&len.to_ne_bytes());
            let items: Vec<_> = parse(&r).collect();
            prop_assert_eq!(items.len(), 1);
        }

        /// Well-formed records come back exactly.
        #[test]
        fn round_trips_well_formed_records(
            recs in proptest::collection::vec(
                (any::<u64>(), -1i32..1000, any::<i32>(), proptest::collection::vec(info(), 0..4)),
                0..8,
            ),
        ) {
            let buf: Vec<u8> = recs
                .iter()
                .flat_map(|(mask, fd, pid, info)| record(*mask, *fd, *pid, info))
                .collect();
            let evs: Vec<_> = parse(&buf).collect::<Result<_, _>>().unwrap();
            prop_assert_eq!(evs.len(), recs.len());
            for (ev, (mask, fd, pid, info)) in evs.iter().zip(&recs) {
                match ev {
                    Event::Overflow => prop_assert!(mask & libc::FAN_Q_OVERFLOW != 0),
                    Event::Mark(m) => {
                        prop_assert_eq!(m.mask.bits(), *mask);
                        prop_assert_eq!(m.fd, (*fd >= 0).then_some(*fd));
                        prop_assert_eq!(m.pid, *pid);
                        prop_assert_eq!(m.info.len(), info.len());
                        for (got, (t, body)) in m.info.iter().zip(info) {
                            match got {
                                Info::Fid(id) | Info::Dfid(id) | Info::DfidName(id, _) => {
                                    prop_assert_eq!(&id.handle[..], &body[16..16 + id.handle.len()]);
                                    prop_assert!(*t != libc::FAN_EVENT_INFO_TYPE_PIDFD);
                                }
                                Info::Pidfd(_) => prop_assert_eq!(*t, libc::FAN_EVENT_INFO_TYPE_PIDFD),
                                other => prop_assert!(false, "{:?}", other),
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(feature = "tokio")]
mod asynchronous {
    use super::*;
    use butter::Async;
    use butter::fanotify::AsyncFanotify;
    use futures_util::StreamExt;
    use tokio::time::timeout;

    const LONG: Duration = Duration::from_secs(10);

    #[tokio::test]
    async fn events_arrive_as_a_stream() {
        let Some(g) = group("events_arrive_as_a_stream", InitFlags::empty()) else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("async");
        fs::write(&file, b"").unwrap();
        g.mark(&file, EventMask::OPEN).unwrap();
        let mut g: AsyncFanotify = Async::new(g).unwrap();
        assert!(butter::is_nonblocking(g.as_fd()).unwrap());
        // Nothing yet: the read pends (readiness cleared, no busy loop).
        assert!(
            timeout(Duration::from_millis(50), g.read_event())
                .await
                .is_err()
        );
        for _ in 0..3 {
            let opened = file.clone();
            tokio::task::spawn_blocking(move || drop(fs::File::open(opened).unwrap()));
            let ev = timeout(LONG, g.next()).await.unwrap().unwrap().unwrap();
            let ev = ev.into_mark().unwrap();
            assert_eq!(ev.path().as_deref(), Some(file.as_path()));
        }
    }

    #[tokio::test]
    async fn permission_events_are_answered_async() {
        let test = "permission_events_are_answered_async";
        let Some(g) = group(test, InitFlags::CLASS_CONTENT) else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("guarded");
        fs::write(&file, b"").unwrap();
        g.mark(&file, EventMask::OPEN_PERM).unwrap();
        let mut g: AsyncFanotify = Async::new(g).unwrap();
        let opener = open_in_child(g.get_ref(), &file, Some(Errno::EPERM));
        let ev = timeout(LONG, g.read_event()).await.unwrap().unwrap();
        g.get_ref().deny(ev.as_mark().unwrap()).unwrap();
        check(opener.join().unwrap());
    }
}
