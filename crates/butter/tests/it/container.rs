//! process, mount and namespace calls against the real kernel (root for most; skipped with
//! a reason otherwise). Everything that changes namespaces, mounts or process attributes
//! runs in a forked child.

use crate::common;

use std::fs;
use std::os::fd::AsFd;
use std::path::Path;
use std::time::Instant;

use butter::mount::{
    MntFlags, MoveMountFlags, MsFlags, OpenTreeFlags, Propagation, bind, bind_tree_read_only,
    fsconfig_set, fsmount, fsopen, mount, mount_points, mount_tmpfs, move_mount, open_tree,
    pivot_root, remount_read_only, set_propagation, umount,
};
use butter::namespace::{
    CloneArgs, Namespaces, RunOptions, clone3, namespace_fd, run_in, run_in_with, setns,
    setns_path, unshare,
};
use butter::process::{self, CapabilitySet, Signal};
use butter::{Errno, ErrorKind};
use common::*;

fn root_or_skip(test: &str) -> bool {
    test_support::root_or_skip(test, "needs root (CAP_SYS_ADMIN)")
}

fn e2s(e: butter::Error) -> String {
    e.to_string()
}

/// In a child: a private mount namespace, so nothing reaches the host.
fn private_mounts() -> Result<(), String> {
    unshare(Namespaces::MOUNT).map_err(e2s)?;
    set_propagation("/", Propagation::Private, true).map_err(e2s)
}

#[test]
fn raw_pids_and_the_parent_outside_a_pid_namespace() {
    assert_eq!(
        process::getpid().as_raw_nonzero().get() as u32,
        std::process::id()
    );
    assert_eq!(
        process::getppid().map(|p| p.as_raw_nonzero().get() as u32),
        Some(std::os::unix::process::parent_id())
    );
    if !root_or_skip("raw_pids_and_the_parent_outside_a_pid_namespace (namespace part)") {
        return;
    }
    let child = run_in(Namespaces::PID, || {
        let ok = process::getpid().as_raw_nonzero().get() == 1 && process::getppid().is_none();
        if ok { 0 } else { 1 }
    })
    .unwrap();
    assert_eq!(wait_ns(child, "the child").code(), Some(0));
}

#[test]
fn hostnames_in_a_uts_namespace() {
    let host = process::gethostname();
    assert_eq!(
        host.to_str().unwrap(),
        fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap()
            .trim()
    );
    if !root_or_skip("hostnames_in_a_uts_namespace") {
        return;
    }
    check(in_child(|| {
        unshare(Namespaces::UTS).map_err(e2s)?;
        process::sethostname("inside").map_err(e2s)?;
        assert_eq!(process::gethostname(), "inside");
        // 64 bytes is the limit, and allowed (the original refused it).
        process::sethostname("h".repeat(64)).map_err(e2s)?;
        let e = expect_err(
            process::sethostname("h".repeat(65)),
            "sethostname",
            Errno::EINVAL,
            ErrorKind::InvalidArgument,
        )?;
        expect_hint(&e, "64 bytes")
    }));
    assert_eq!(process::gethostname(), host, "the host's name is untouched");
    check(in_child(|| {
        drop_capability(CapabilitySet::SYS_ADMIN)?;
        let e = expect_err(
            process::sethostname("nope"),
            "sethostname",
            Errno::EPERM,
            ErrorKind::PermissionDenied,
        )?;
        expect_hint(&e, "CAP_SYS_ADMIN")
    }));
}

#[test]
fn prctl_name_pdeathsig_subreaper_no_new_privs_dumpable() {
    check(in_child(|| {
        process::set_name("butter-test-thread-name").map_err(e2s)?;
        assert_eq!(
            process::name().map_err(e2s)?,
            "butter-test-thr",
            "the kernel keeps 15 bytes"
        );
        expect_err(
            process::set_name("a\0b"),
            "prctl(PR_SET_NAME)",
            Errno::EINVAL,
            ErrorKind::InvalidArgument,
        )?;
        assert_eq!(process::parent_death_signal().map_err(e2s)?, None);
        process::set_parent_death_signal(Some(Signal::TERM)).map_err(e2s)?;
        assert_eq!(
            process::parent_death_signal().map_err(e2s)?,
            Some(Signal::TERM)
        );
        assert!(!process::is_child_subreaper().map_err(e2s)?);
        process::set_child_subreaper(true).map_err(e2s)?;
        assert!(process::is_child_subreaper().map_err(e2s)?);
        assert!(!process::no_new_privs().map_err(e2s)?);
        process::set_no_new_privs().map_err(e2s)?;
        assert!(process::no_new_privs().map_err(e2s)?);
        process::set_dumpable(false).map_err(e2s)?;
        assert!(!process::is_dumpable().map_err(e2s)?);
        process::set_dumpable(true).map_err(e2s)?;
        assert!(process::is_dumpable().map_err(e2s)?);
        Ok(())
    }));
}

#[test]
fn a_subreaper_inherits_orphans() {
    check(in_child(|| {
        process::set_child_subreaper(true).map_err(e2s)?;
        let me = process::getpid();
        let (r, w) = butter::pipe::pipe_with(butter::pipe::PipeFlags::empty()).map_err(e2s)?;
        // SAFETY: the children only make system calls and _exit.
        match unsafe { nix::unistd::fork() }.unwrap() {
            // SAFETY: as above.
            nix::unistd::ForkResult::Child => match unsafe { nix::unistd::fork() }.unwrap() {
                nix::unistd::ForkResult::Child => {
                    // Wait until the middle process is gone, then report our parent.
                    std::thread::sleep(std::time::Duration::from_millis(200));
                    let ppid = process::getppid().map_or(0, |p| p.as_raw_nonzero().get());
                    let _ = rustix::io::write(&w, &ppid.to_ne_bytes());
                    // SAFETY: leaves the child at once.
                    unsafe { libc::_exit(0) }
                }
                // SAFETY: leaves the middle child at once, orphaning its child.
                nix::unistd::ForkResult::Parent { .. } => unsafe { libc::_exit(0) },
            },
            nix::unistd::ForkResult::Parent { child } => {
                waitpid_until(child, Instant::now() + CHILD_LIMIT);
                drop(w);
                let mut buf = [0u8; 4];
                rustix::io::read(&r, &mut buf).unwrap();
                let orphan_parent = i32::from_ne_bytes(buf);
                assert_eq!(
                    orphan_parent,
                    me.as_raw_nonzero().get(),
                    "the orphan was reparented to the subreaper"
                );
                let _ = nix::sys::wait::wait();
                Ok(())
            }
        }
    }));
}

#[test]
fn the_bounding_set() {
    if !root_or_skip("the_bounding_set") {
        return;
    }
    check(in_child(|| {
        assert!(process::in_bounding_set(CapabilitySet::NET_RAW).map_err(e2s)?);
        process::drop_from_bounding_set(CapabilitySet::NET_RAW).map_err(e2s)?;
        assert!(!process::in_bounding_set(CapabilitySet::NET_RAW).map_err(e2s)?);
        drop_capability(CapabilitySet::SETPCAP)?;
        let e = expect_err(
            process::drop_from_bounding_set(CapabilitySet::CHOWN),
            "prctl(PR_CAPBSET_DROP)",
            Errno::EPERM,
            ErrorKind::PermissionDenied,
        )?;
        expect_hint(&e, "CAP_SETPCAP")
    }));
}

#[test]
fn tmpfs_bind_read_only_and_umount() {
    if !root_or_skip("tmpfs_bind_read_only_and_umount") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    fs::create_dir_all(&a).unwrap();
    fs::create_dir_all(&b).unwrap();
    check(in_child(|| {
        private_mounts()?;
        mount_tmpfs(
            &a,
            "size=1m,mode=0755",
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        )
        .map_err(e2s)?;
        fs::write(a.join("f"), b"x").unwrap();
        bind(&a, &b, false, true).map_err(e2s)?;
        assert_eq!(fs::read(b.join("f")).unwrap(), b"x");
        let e = fs::write(b.join("g"), b"y").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EROFS), "a read-only bind");
        assert!(mount_points().map_err(e2s)?.contains(&b));
        umount(&b, MntFlags::empty()).map_err(e2s)?;
        // A busy mount detaches lazily.
        let busy = fs::File::open(a.join("f")).unwrap();
        expect_err(
            umount(&a, MntFlags::empty()),
            "umount2",
            Errno::EBUSY,
            ErrorKind::Other,
        )?;
        umount(&a, MntFlags::MNT_DETACH).map_err(e2s)?;
        drop(busy);
        assert!(!a.join("f").exists());
        // Not a mount point.
        let e = expect_err(
            umount(&a, MntFlags::empty()),
            "umount2",
            Errno::EINVAL,
            ErrorKind::InvalidArgument,
        )?;
        assert_eq!(e.path(), Some(a.as_path()));
        Ok(())
    }));
    // Nothing leaked into the test's mount namespace.
    assert!(!mount_points().unwrap().contains(&a));
}

#[test]
fn expiry_takes_two_calls() {
    if !root_or_skip("expiry_takes_two_calls") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().to_path_buf();
    check(in_child(|| {
        private_mounts()?;
        mount_tmpfs(&m, "size=1m", MsFlags::empty()).map_err(e2s)?;
        let e = expect_err(
            umount(&m, MntFlags::MNT_EXPIRE),
            "umount2",
            Errno::EAGAIN,
            ErrorKind::WouldBlock,
        )?;
        expect_hint(&e, "again")?;
        umount(&m, MntFlags::MNT_EXPIRE).map_err(e2s)
    }));
}

#[test]
fn recursive_binds_and_propagation() {
    if !root_or_skip("recursive_binds_and_propagation") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().to_path_buf();
    check(in_child(|| {
        private_mounts()?;
        for d in ["src", "flat", "deep", "peer"] {
            fs::create_dir_all(p.join(d)).unwrap();
        }
        mount_tmpfs(p.join("src"), "size=1m", MsFlags::empty()).map_err(e2s)?;
        fs::create_dir_all(p.join("src/sub")).unwrap();
        mount_tmpfs(p.join("src/sub"), "size=1m", MsFlags::empty()).map_err(e2s)?;
        fs::write(p.join("src/sub/inner"), b"deep").unwrap();
        bind(p.join("src"), p.join("flat"), false, false).map_err(e2s)?;
        bind(p.join("src"), p.join("deep"), true, false).map_err(e2s)?;
        assert!(
            !p.join("flat/sub/inner").exists(),
            "a plain bind leaves submounts out"
        );
        assert_eq!(fs::read(p.join("deep/sub/inner")).unwrap(), b"deep");
        // Shared: a mount under one peer appears under the other; private: it does not.
        set_propagation(p.join("src"), Propagation::Shared, false).map_err(e2s)?;
        bind(p.join("src"), p.join("peer"), false, false).map_err(e2s)?;
        fs::create_dir_all(p.join("src/new")).unwrap();
        mount_tmpfs(p.join("src/new"), "size=1m", MsFlags::empty()).map_err(e2s)?;
        fs::write(p.join("src/new/x"), b"1").unwrap();
        assert!(
            p.join("peer/new/x").exists(),
            "propagated to the shared peer"
        );
        set_propagation(p.join("peer"), Propagation::Private, false).map_err(e2s)?;
        fs::create_dir_all(p.join("src/later")).unwrap();
        mount_tmpfs(p.join("src/later"), "size=1m", MsFlags::empty()).map_err(e2s)?;
        fs::write(p.join("src/later/y"), b"2").unwrap();
        assert!(
            !p.join("peer/later/y").exists(),
            "not propagated to a private mount"
        );
        // A propagation flag must stand alone.
        let e = expect_err(
            mount(
                None,
                p.join("src"),
                None,
                MsFlags::MS_PRIVATE | MsFlags::MS_RDONLY,
                None,
            ),
            "mount",
            Errno::EINVAL,
            ErrorKind::InvalidArgument,
        )?;
        expect_hint(&e, "propagation")?;
        Ok(())
    }));
}

#[test]
fn mount_errors_keep_their_errno() {
    if !root_or_skip("mount_errors_keep_their_errno") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    check(in_child(|| {
        private_mounts()?;
        expect_err(
            mount_tmpfs(d.join("missing"), "", MsFlags::empty()),
            "mount",
            Errno::ENOENT,
            ErrorKind::NotFound,
        )?;
        let e = expect_err(
            mount(
                Some(Path::new("x")),
                &d,
                Some("no-such-fs"),
                MsFlags::empty(),
                None,
            ),
            "mount",
            Errno::ENODEV,
            ErrorKind::Other,
        )?;
        expect_hint(&e, "not known")?;
        expect_err(
            remount_read_only(&d),
            "mount",
            Errno::EINVAL,
            ErrorKind::InvalidArgument,
        )?;
        drop_capability(CapabilitySet::SYS_ADMIN)?;
        let e = expect_err(
            mount_tmpfs(&d, "", MsFlags::empty()),
            "mount",
            Errno::EPERM,
            ErrorKind::PermissionDenied,
        )?;
        expect_hint(&e, "CAP_SYS_ADMIN")
    }));
}

#[test]
fn pivot_root_into_a_tmpfs() {
    if !root_or_skip("pivot_root_into_a_tmpfs") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let new_root = dir.path().join("root");
    fs::create_dir_all(&new_root).unwrap();
    check(in_child(|| {
        private_mounts()?;
        mount_tmpfs(&new_root, "size=1m,mode=0755", MsFlags::empty()).map_err(e2s)?;
        // put_old on another mount, outside new_root: EINVAL.
        let outside = new_root.parent().unwrap().join("other");
        fs::create_dir_all(&outside).unwrap();
        mount_tmpfs(&outside, "size=1m", MsFlags::empty()).map_err(e2s)?;
        let e = expect_err(
            pivot_root(&new_root, &outside),
            "pivot_root",
            Errno::EINVAL,
            ErrorKind::InvalidArgument,
        )?;
        expect_hint(&e, "under it")?;
        fs::write(new_root.join("marker"), b"new root").unwrap();
        std::env::set_current_dir(&new_root).unwrap();
        pivot_root(".", ".").map_err(e2s)?;
        umount(".", MntFlags::MNT_DETACH).map_err(e2s)?;
        std::env::set_current_dir("/").unwrap();
        assert_eq!(fs::read("/marker").unwrap(), b"new root");
        assert!(
            !Path::new("/proc/self").exists(),
            "the old root (and its /proc) is gone"
        );
        Ok(())
    }));
}

#[test]
fn the_new_mount_api() {
    if !root_or_skip("the_new_mount_api") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().to_path_buf();
    check(in_child(|| {
        private_mounts()?;
        for d in ["fresh", "src", "copy", "ro"] {
            fs::create_dir_all(p.join(d)).unwrap();
        }
        // fsopen + fsconfig + fsmount + move_mount: a tmpfs built detached, then attached.
        let fs_ctx = fsopen("tmpfs", butter::mount::FsOpenFlags::empty()).map_err(e2s)?;
        fsconfig_set(&fs_ctx, "size", "1m").map_err(e2s)?;
        let e = expect_err(
            fsconfig_set(&fs_ctx, "no-such-option", "1"),
            "fsconfig",
            Errno::EINVAL,
            ErrorKind::InvalidArgument,
        )?;
        expect_hint(&e, "option")?;
        let detached = fsmount(&fs_ctx, butter::mount::MountAttrFlags::empty()).map_err(e2s)?;
        move_mount(
            &detached,
            None,
            None,
            p.join("fresh"),
            MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
        )
        .map_err(e2s)?;
        fs::write(p.join("fresh/f"), b"fresh").unwrap();
        // open_tree clone + move_mount: a bind.
        mount_tmpfs(p.join("src"), "size=1m", MsFlags::empty()).map_err(e2s)?;
        fs::create_dir_all(p.join("src/sub")).unwrap();
        mount_tmpfs(p.join("src/sub"), "size=1m", MsFlags::empty()).map_err(e2s)?;
        fs::write(p.join("src/sub/f"), b"sub").unwrap();
        let tree = open_tree(
            None,
            p.join("src"),
            OpenTreeFlags::OPEN_TREE_CLONE
                | OpenTreeFlags::AT_RECURSIVE
                | OpenTreeFlags::OPEN_TREE_CLOEXEC,
        )
        .map_err(e2s)?;
        move_mount(
            tree.as_fd(),
            None,
            None,
            p.join("copy"),
            MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
        )
        .map_err(e2s)?;
        assert_eq!(fs::read(p.join("copy/sub/f")).unwrap(), b"sub");
        // Every descriptor is close-on-exec, even when the caller's flags leave it out.
        let plain = open_tree(None, p.join("src"), OpenTreeFlags::empty()).map_err(e2s)?;
        assert!(is_cloexec(&plain), "open_tree without OPEN_TREE_CLOEXEC");
        assert!(is_cloexec(&detached), "fsmount");
        assert!(is_cloexec(&fs_ctx), "fsopen");
        // A read-only tree in one step: the submount is read-only too.
        bind_tree_read_only(p.join("src"), p.join("ro")).map_err(e2s)?;
        for f in ["ro/x", "ro/sub/x"] {
            let e = fs::write(p.join(f), b"no").unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EROFS), "{f}");
        }
        expect_err(
            fsopen("no-such-fs", butter::mount::FsOpenFlags::empty()),
            "fsopen",
            Errno::ENODEV,
            ErrorKind::Other,
        )?;
        Ok(())
    }));
}

#[test]
fn unshare_and_setns_back() {
    if !root_or_skip("unshare_and_setns_back") {
        return;
    }
    check(in_child(|| {
        let host = process::gethostname();
        let original = namespace_fd(None, "uts").map_err(e2s)?;
        unshare(Namespaces::UTS).map_err(e2s)?;
        process::sethostname("elsewhere").map_err(e2s)?;
        setns(&original, Namespaces::UTS).map_err(e2s)?;
        assert_eq!(process::gethostname(), host);
        // The wrong kind: EINVAL.
        let net = namespace_fd(None, "net").map_err(e2s)?;
        expect_err(
            setns(&net, Namespaces::UTS),
            "setns",
            Errno::EINVAL,
            ErrorKind::InvalidArgument,
        )?;
        // By path, and by pid (the parent's network namespace, from a new one).
        let parent = process::getppid().unwrap();
        unshare(Namespaces::NET).map_err(e2s)?;
        let ours = fs::read_link("/proc/self/ns/net").unwrap();
        butter::namespace::setns_pid(parent, Namespaces::NET).map_err(e2s)?;
        assert_ne!(fs::read_link("/proc/self/ns/net").unwrap(), ours);
        setns_path(
            format!("/proc/{}/ns/uts", parent.as_raw_nonzero()),
            Namespaces::empty(),
        )
        .map_err(e2s)?;
        expect_err(
            setns(path_fd(), Namespaces::empty()),
            "setns",
            Errno::EBADF,
            ErrorKind::BadDescriptor,
        )
        .map(drop)
    }));
}

#[test]
fn unshare_errors() {
    // A multi-threaded process (the test harness) cannot make a user namespace.
    let e = expect_err(
        unshare(Namespaces::USER),
        "unshare",
        Errno::EINVAL,
        ErrorKind::InvalidArgument,
    )
    .unwrap();
    check(expect_hint(&e, "multi-threaded"));
    if !root_or_skip("unshare_errors (EPERM part)") {
        return;
    }
    check(in_child(|| {
        drop_capability(CapabilitySet::SYS_ADMIN)?;
        let e = expect_err(
            unshare(Namespaces::UTS),
            "unshare",
            Errno::EPERM,
            ErrorKind::PermissionDenied,
        )?;
        expect_hint(&e, "CAP_SYS_ADMIN")
    }));
}

#[test]
fn run_in_every_kind_of_namespace() {
    if !root_or_skip("run_in_every_kind_of_namespace") {
        return;
    }
    for (kind, ns) in [
        ("mnt", Namespaces::MOUNT),
        ("uts", Namespaces::UTS),
        ("ipc", Namespaces::IPC),
        ("net", Namespaces::NET),
        ("cgroup", Namespaces::CGROUP),
        ("pid_for_children", Namespaces::PID),
        ("time_for_children", Namespaces::TIME),
        ("user", Namespaces::USER),
    ] {
        let outer = fs::read_link(format!("/proc/self/ns/{kind}")).unwrap();
        let child = run_in(ns, move || {
            // Inside: this process's own namespace of that kind differs from the outer one
            // (for PID and time, the process itself is the one inside).
            let own = kind.trim_end_matches("_for_children");
            let inner = fs::read_link(format!("/proc/self/ns/{own}")).unwrap();
            if inner != outer { 0 } else { 3 }
        })
        .unwrap();
        assert_eq!(wait_ns(child, "the child").code(), Some(0), "{kind}");
    }
    // Exit codes and panics come through.
    assert_eq!(
        wait_ns(run_in(Namespaces::empty(), || 7).unwrap(), "the child").code(),
        Some(7)
    );
    assert_eq!(
        wait_ns(
            run_in(Namespaces::PID, || panic!("inside")).unwrap(),
            "the child"
        )
        .code(),
        Some(101)
    );
}

#[test]
fn root_in_a_user_namespace() {
    if !root_or_skip("root_in_a_user_namespace") {
        return;
    }
    let child = run_in_with(
        Namespaces::USER | Namespaces::UTS,
        RunOptions { map_root: true },
        || {
            let uid = rustix::process::getuid().as_raw();
            let named = process::sethostname("userns").is_ok();
            if uid == 0 && named { 0 } else { 4 }
        },
    )
    .unwrap();
    assert_eq!(wait_ns(child, "the child").code(), Some(0));
}

#[test]
fn killing_the_child_ends_its_pid_namespace() {
    if !root_or_skip("killing_the_child_ends_its_pid_namespace") {
        return;
    }
    let marker = format!("butter-ns-sleeper-{}", std::process::id());
    let m = marker.clone();
    let child = run_in(Namespaces::PID, move || {
        // Grandchildren that would outlive a careless kill.
        for _ in 0..3 {
            let _ = std::process::Command::new("sleep")
                .arg("300")
                .arg0_marker(&m)
                .spawn();
        }
        std::thread::sleep(std::time::Duration::from_secs(300));
        0
    })
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(count_processes_with(&marker) >= 3);
    drop(child);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        count_processes_with(&marker),
        0,
        "every process of the namespace is gone"
    );
}

trait Arg0 {
    fn arg0_marker(&mut self, m: &str) -> &mut Self;
}

impl Arg0 for std::process::Command {
    fn arg0_marker(&mut self, m: &str) -> &mut Self {
        std::os::unix::process::CommandExt::arg0(self, m)
    }
}

fn count_processes_with(marker: &str) -> usize {
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| {
            fs::read(e.path().join("cmdline")).is_ok_and(|c| c.starts_with(marker.as_bytes()))
        })
        .count()
}

#[test]
fn clone3_into_new_namespaces() {
    if !root_or_skip("clone3_into_new_namespaces") {
        return;
    }
    let args = CloneArgs {
        namespaces: Namespaces::PID | Namespaces::UTS,
        flags: 0,
        exit_signal: libc::SIGCHLD,
    };
    // SAFETY: the child makes only system calls (no allocation) and leaves with _exit.
    match unsafe { clone3(args) }.unwrap() {
        None => {
            let code = if process::getpid().as_raw_nonzero().get() == 1 {
                0
            } else {
                5
            };
            // SAFETY: leaves the child at once.
            unsafe { libc::_exit(code) }
        }
        Some(pid) => {
            let status = waitpid_until(
                nix::unistd::Pid::from_raw(pid.as_raw_nonzero().get()),
                Instant::now() + CHILD_LIMIT,
            );
            assert_eq!(
                status,
                nix::sys::wait::WaitStatus::Exited(
                    nix::unistd::Pid::from_raw(pid.as_raw_nonzero().get()),
                    0
                )
            );
        }
    }
}
