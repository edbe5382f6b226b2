//! The sandbox's own processes: the supervisor, init (PID 1) and the command, each
//! building its part of the isolation before the command `exec`s.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use super::{Limit, Plan};
use crate::error::{Errno, Error, Result};
use crate::mount::{self, MntFlags, MsFlags, Propagation};

/// A setup failure sent up the report pipe: `E`, the errno, the step's length and name
/// (one write: atomic on a pipe).
fn report(fd: BorrowedFd<'_>, errno: i32, step: &str) {
    let step = &step.as_bytes()[..step.len().min(200)];
    let mut msg = vec![b'E'];
    msg.extend_from_slice(&errno.to_ne_bytes());
    msg.push(step.len() as u8);
    msg.extend_from_slice(step);
    let _ = rustix::io::write(fd, &msg);
}

/// The supervisor: unshares, forks init, passes init's pid up, and waits.
pub(super) fn supervise(
    plan: &Plan,
    stdin: BorrowedFd<'_>,
    out: BorrowedFd<'_>,
    err: BorrowedFd<'_>,
    rep: OwnedFd,
) -> i32 {
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    // A network namespace to join comes first: after a new user namespace, the
    // caller's privilege over it would be gone.
    if let Some(fd) = &plan.join_network
        && let Err(e) = crate::namespace::setns(fd, crate::namespace::Namespaces::NET)
    {
        report(rep.as_fd(), e.raw_os_error(), "join the network namespace");
        return 127;
    }
    if let Err(e) = crate::namespace::unshare(plan.namespaces) {
        report(rep.as_fd(), e.raw_os_error(), "unshare");
        return 127;
    }
    if plan.user_namespace {
        let (uid, gid) = plan.outer_ids;
        for (file, text) in [
            ("/proc/self/setgroups", "deny".to_owned()),
            ("/proc/self/uid_map", format!("0 {uid} 1")),
            ("/proc/self/gid_map", format!("0 {gid} 1")),
        ] {
            if let Err(e) = std::fs::write(file, text) {
                report(rep.as_fd(), e.raw_os_error().unwrap_or(libc::EIO), file);
                return 127;
            }
        }
    }
    // SAFETY: init runs `init` and leaves with `_exit`.
    match unsafe { nix::unistd::fork() } {
        Err(e) => {
            report(rep.as_fd(), e as i32, "fork");
            127
        }
        Ok(nix::unistd::ForkResult::Child) => {
            let code = init(plan, stdin, out, err, rep);
            // SAFETY: leaves init at once.
            unsafe { libc::_exit(code) }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            // Init's pid, as the caller sees it: the caller kills it on timeout.
            let mut msg = vec![b'P'];
            msg.extend_from_slice(&child.as_raw().to_ne_bytes());
            let _ = rustix::io::write(&rep, &msg);
            drop(rep);
            loop {
                match nix::sys::wait::waitpid(child, None) {
                    Ok(nix::sys::wait::WaitStatus::Exited(_, code)) => return code,
                    Ok(nix::sys::wait::WaitStatus::Signaled(..)) => return 125,
                    Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
                    Err(_) => return 126,
                }
            }
        }
    }
}

/// Init's SIGTERM handler: SIGTERM to every process it can signal, which is every other
/// process of its PID namespace (`kill(-1)` spares the caller and init).
extern "C" fn forward_sigterm(_: libc::c_int) {
    // SAFETY: kill is async-signal-safe.
    unsafe { libc::kill(-1, libc::SIGTERM) };
}

/// Sets SIGTERM's disposition (a handler, or `SIG_DFL`), restarting interrupted calls.
fn set_sigterm(handler: libc::sighandler_t) {
    // SAFETY: an all-zero sigaction with an empty mask is valid; the handler (if any) is
    // async-signal-safe.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGTERM, &sa, std::ptr::null_mut());
    }
}

/// Init, PID 1 of the sandbox: builds the root, forks the command, reaps everything, and
/// sends the command's wait status up.
fn init(
    plan: &Plan,
    stdin: BorrowedFd<'_>,
    out: BorrowedFd<'_>,
    err: BorrowedFd<'_>,
    rep: OwnedFd,
) -> i32 {
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    // SIGTERM from outside (`Running::terminate`) goes on to every other process here.
    set_sigterm(forward_sigterm as *const () as libc::sighandler_t);
    if let Err((e, step)) = build_root(plan) {
        report(rep.as_fd(), e.raw_os_error(), step);
        return 127;
    }
    // SAFETY: the command's process sets itself up and `execve`s, or leaves with `_exit`.
    let command = match unsafe { nix::unistd::fork() } {
        Err(e) => {
            report(rep.as_fd(), e as i32, "fork");
            return 127;
        }
        Ok(nix::unistd::ForkResult::Child) => {
            set_sigterm(libc::SIG_DFL);
            let (errno, step) = exec_command(plan, stdin, out, err);
            report(rep.as_fd(), errno, step);
            // SAFETY: leaves the failed command's process at once.
            unsafe { libc::_exit(127) }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => child,
    };
    // Reap everything; the command's status decides the exit.
    let mut status = None;
    loop {
        let mut raw = 0;
        // SAFETY: waits for any child, writing its status into `raw`.
        let pid = unsafe { libc::waitpid(-1, &mut raw, 0) };
        if pid < 0 {
            if Errno::last() == Errno::EINTR {
                continue;
            }
            break;
        }
        if pid == command.as_raw() {
            status = Some(raw);
            break;
        }
    }
    // The command's raw wait status goes up: `S` and the status.
    let raw = status.unwrap_or(0x7f00);
    let mut msg = vec![b'S'];
    msg.extend_from_slice(&raw.to_ne_bytes());
    let _ = rustix::io::write(&rep, &msg);
    0
}

type Step = (Error, &'static str);

fn step<T>(r: Result<T>, what: &'static str) -> std::result::Result<T, Step> {
    r.map_err(|e| (e, what))
}

fn io_step<T>(r: std::io::Result<T>, what: &'static str) -> std::result::Result<T, Step> {
    r.map_err(|e| (Error::from_io(what, &e), what))
}

/// Builds the new root on a tmpfs at the staging path and pivots into it.
fn build_root(plan: &Plan) -> std::result::Result<(), Step> {
    let root = &plan.staging;
    step(
        mount::set_propagation("/", Propagation::Private, true),
        "make / private",
    )?;
    step(
        mount::mount_tmpfs(root, "mode=0755", MsFlags::MS_NOSUID | MsFlags::MS_NODEV),
        "mount the root tmpfs",
    )?;
    // The fresh /tmp first, so that binds under /tmp (a work directory there) land on it.
    if let Some(options) = &plan.tmp {
        let tmp = root.join("tmp");
        io_step(std::fs::create_dir_all(&tmp), "mkdir /tmp")?;
        step(
            mount::mount_tmpfs(&tmp, options, MsFlags::MS_NOSUID | MsFlags::MS_NODEV),
            "mount /tmp",
        )?;
    }
    for (host, inside, writable, is_dir) in &plan.binds {
        let target = root.join(inside.strip_prefix("/").unwrap_or(inside));
        // A symlink on the host (a merged /usr's /bin -> usr/bin) stays a symlink.
        if let Ok(link) = std::fs::read_link(host) {
            if let Some(parent) = target.parent() {
                io_step(std::fs::create_dir_all(parent), "mkdir for a bind")?;
            }
            io_step(std::os::unix::fs::symlink(link, &target), "symlink")?;
            continue;
        }
        if *is_dir {
            io_step(std::fs::create_dir_all(&target), "mkdir for a bind")?;
        } else {
            if let Some(parent) = target.parent() {
                io_step(std::fs::create_dir_all(parent), "mkdir for a bind")?;
            }
            io_step(std::fs::write(&target, b""), "create a file for a bind")?;
        }
        if *writable {
            step(
                mount::bind(host, &target, true, false),
                "bind a writable path",
            )?;
        } else if mount::bind_tree_read_only(host, &target).is_err() {
            step(
                mount::bind(host, &target, true, true),
                "bind a read-only path",
            )?;
        }
    }
    let proc_dir = root.join("proc");
    io_step(std::fs::create_dir_all(&proc_dir), "mkdir /proc")?;
    step(
        mount::mount(
            Some(Path::new("proc")),
            &proc_dir,
            Some("proc"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None,
        ),
        "mount /proc",
    )?;
    build_dev(&root.join("dev"))?;
    if !plan.network {
        step(crate::netns::loopback_up(), "bring up loopback")?;
    }
    step(crate::process::sethostname(&plan.hostname), "sethostname")?;
    // The root itself is read-only: only the work directory, /tmp and /dev/shm are not.
    step(
        mount::mount(
            None,
            root,
            None,
            MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            None,
        ),
        "make the root read-only",
    )?;
    io_step(std::env::set_current_dir(root), "chdir to the new root")?;
    step(mount::pivot_root(".", "."), "pivot_root")?;
    step(
        mount::umount(".", MntFlags::MNT_DETACH),
        "detach the old root",
    )?;
    io_step(std::env::set_current_dir("/"), "chdir /")?;
    Ok(())
}

/// A minimal /dev: a tmpfs with the harmless devices bound from the host, a /dev/shm,
/// and the usual symlinks.
fn build_dev(dev: &Path) -> std::result::Result<(), Step> {
    io_step(std::fs::create_dir_all(dev), "mkdir /dev")?;
    step(
        mount::mount_tmpfs(
            dev,
            "mode=0755,size=64k",
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        ),
        "mount /dev",
    )?;
    for name in ["null", "zero", "full", "random", "urandom", "tty"] {
        let host = Path::new("/dev").join(name);
        if !host.exists() {
            continue;
        }
        let target = dev.join(name);
        io_step(
            std::fs::write(&target, b""),
            "create a device node's mount point",
        )?;
        step(mount::bind(&host, &target, false, false), "bind a device")?;
    }
    let shm = dev.join("shm");
    io_step(std::fs::create_dir_all(&shm), "mkdir /dev/shm")?;
    step(
        mount::mount_tmpfs(&shm, "mode=1777", MsFlags::MS_NOSUID | MsFlags::MS_NODEV),
        "mount /dev/shm",
    )?;
    for (link, to) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        io_step(
            std::os::unix::fs::symlink(to, dev.join(link)),
            "symlink in /dev",
        )?;
    }
    Ok(())
}

/// The command's process: limits, descriptors, user, no_new_privs, seccomp, exec. Returns
/// only on failure: the errno and the step.
fn exec_command(
    plan: &Plan,
    stdin: BorrowedFd<'_>,
    out: BorrowedFd<'_>,
    err: BorrowedFd<'_>,
) -> (i32, &'static str) {
    for limit in &plan.limits {
        let (resource, value) = match *limit {
            Limit::Memory(v) => (libc::RLIMIT_AS, v),
            Limit::Processes(v) => (libc::RLIMIT_NPROC, v),
            Limit::FileSize(v) => (libc::RLIMIT_FSIZE, v),
            Limit::OpenFiles(v) => (libc::RLIMIT_NOFILE, v),
            Limit::CpuSeconds(v) => (libc::RLIMIT_CPU, v),
        };
        let rl = libc::rlimit {
            rlim_cur: value,
            rlim_max: value,
        };
        // SAFETY: setrlimit reads `rl`.
        if unsafe { libc::setrlimit(resource, &rl) } < 0 {
            return (Errno::last() as i32, "setrlimit");
        }
    }
    for (from, to) in [(stdin, 0), (out, 1), (err, 2)] {
        let from = from.as_raw_fd();
        // SAFETY: dup2 onto the standard descriptors, which this process then owns; the
        // copy is not close-on-exec (the original may already be that descriptor).
        let r = unsafe {
            if from == to {
                libc::fcntl(to, libc::F_SETFD, 0)
            } else {
                libc::dup2(from, to)
            }
        };
        if r < 0 {
            return (Errno::last() as i32, "dup2");
        }
    }
    // Nothing else of the caller's reaches the command, even descriptors opened without
    // close-on-exec (kernels before 5.11 lack the flag; the sandbox's own pipes are
    // close-on-exec anyway).
    // SAFETY: close_range only sets flags on this process's descriptors.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC as libc::c_uint,
        )
    };
    if std::env::set_current_dir(&plan.cwd).is_err() {
        return (Errno::last() as i32, "chdir to the working directory");
    }
    if let Some((uid, gid)) = plan.user {
        // SAFETY: setgroups/setgid/setuid change only this process's credentials.
        unsafe {
            if libc::setgroups(0, std::ptr::null()) < 0 {
                return (Errno::last() as i32, "setgroups");
            }
            if libc::setgid(gid) < 0 {
                return (Errno::last() as i32, "setgid");
            }
            if libc::setuid(uid) < 0 {
                return (Errno::last() as i32, "setuid");
            }
        }
    }
    if let Err(e) = crate::process::set_no_new_privs() {
        return (e.raw_os_error(), "no_new_privs");
    }
    for program in &plan.seccomp {
        if let Err(e) = program.install() {
            return (e.raw_os_error(), "seccomp");
        }
    }
    let Some(program) = resolve(plan) else {
        return (libc::ENOENT, "find the program in the sandbox's PATH");
    };
    let mut argv: Vec<*const libc::c_char> = plan.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = plan.envp.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: argv and envp are NULL-terminated arrays of NUL-terminated strings that
    // outlive the call (it only returns on failure).
    unsafe { libc::execve(program.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    (Errno::last() as i32, "execve")
}

/// The program's path: as given if it has a `/`, else the first executable of that name
/// in the sandbox's `PATH` (not the caller's: glibc's execvpe would search that one).
fn resolve(plan: &Plan) -> Option<CString> {
    let name = plan.program.as_bytes();
    if name.contains(&b'/') {
        return Some(plan.program.clone());
    }
    let path = plan
        .envp
        .iter()
        .find_map(|e| e.as_bytes().strip_prefix(b"PATH="))
        .unwrap_or(b"/usr/bin:/bin");
    for dir in path.split(|b| *b == b':') {
        let mut full = dir.to_vec();
        full.push(b'/');
        full.extend_from_slice(name);
        let candidate = CString::new(full).ok()?;
        // SAFETY: access reads the NUL-terminated path.
        if unsafe { libc::access(candidate.as_ptr(), libc::X_OK) } == 0 {
            return Some(candidate);
        }
    }
    None
}
