//! seccomp filters against the real kernel. Every filter is installed in a forked child, so
//! the test process stays unfiltered.

use crate::common;

use std::io::{Read, Write};
use std::path::Path;
use std::time::Instant;

use butter::seccomp::{
    Action, Cmp, Cond, Filter, Program, SANDBOX_DENY, syscall_name, syscall_names, syscall_number,
};
use butter::{Errno, ErrorKind};
use common::*;
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork};

/// Makes system call `nr` with arguments `args` (unused ones 0): its result, or the errno.
fn raw(nr: libc::c_long, args: [libc::c_long; 3]) -> Result<libc::c_long, i32> {
    // SAFETY: only called with calls and arguments that touch no memory of this process.
    let r = unsafe { libc::syscall(nr, args[0], args[1], args[2]) };
    if r == -1 {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap())
    } else {
        Ok(r)
    }
}

/// Checks that `r` is the errno `want`.
fn expect_errno(what: &str, r: Result<libc::c_long, i32>, want: i32) -> Result<(), String> {
    match r {
        Err(e) if e == want => Ok(()),
        other => Err(format!("{what}: expected errno {want}, got {other:?}")),
    }
}

/// Forks a child that installs `program`, then runs `f`, then exits with status 0 (or 2 if
/// the install failed); returns how the child ended. Core dumps are turned off in the
/// child, since dying of SIGSYS dumps core.
fn run_filtered(program: &Program, f: impl FnOnce()) -> WaitStatus {
    // SAFETY: the child only sets a limit, installs the compiled program (which does not
    // allocate), runs `f` and leaves with `_exit`.
    match unsafe { fork() }.unwrap() {
        ForkResult::Child => {
            let no_core = rustix::process::Rlimit {
                current: Some(0),
                maximum: Some(0),
            };
            let _ = rustix::process::setrlimit(rustix::process::Resource::Core, no_core);
            if program.install().is_err() {
                // SAFETY: leaves the child at once.
                unsafe { libc::_exit(2) }
            }
            f();
            // SAFETY: leaves the child at once.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => waitpid_until(child, Instant::now() + CHILD_LIMIT),
    }
}

fn killed_by_sigsys(status: WaitStatus) -> bool {
    matches!(status, WaitStatus::Signaled(_, Signal::SIGSYS, _))
}

#[test]
fn deny_list_fails_listed_calls_and_runs_the_others() {
    check(in_child(|| {
        let ppid = raw(libc::SYS_getppid, [0; 3]).unwrap();
        Filter::deny(["getppid", "uname"], Action::Errno(libc::EPERM))
            .map_err(|e| e.to_string())?
            .install()
            .map_err(|e| e.to_string())?;
        expect_errno("getppid", raw(libc::SYS_getppid, [0; 3]), libc::EPERM)?;
        let mut uts = std::mem::MaybeUninit::<libc::utsname>::uninit();
        // SAFETY: uname writes a utsname to the buffer given.
        let r = unsafe { libc::uname(uts.as_mut_ptr()) };
        if r != -1 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EPERM) {
            return Err(format!("uname gave {r}, not EPERM"));
        }
        // Others run.
        let pid = raw(libc::SYS_getpid, [0; 3]).unwrap();
        if pid as u32 != std::process::id() || pid == ppid {
            return Err(format!("getpid gave {pid}"));
        }
        std::fs::metadata("/").map_err(|e| e.to_string())?;
        Ok(())
    }));
}

#[test]
fn errno_actions_return_their_code() {
    check(in_child(|| {
        Filter::deny(["getppid"], Action::Errno(libc::ENOSYS))
            .and_then(|f| f.install())
            .map_err(|e| e.to_string())?;
        expect_errno("getppid", raw(libc::SYS_getppid, [0; 3]), libc::ENOSYS)?;
        // Errno(0): the call "succeeds" with 0 without running.
        Filter::deny(["getpid"], Action::Errno(0))
            .and_then(|f| f.install())
            .map_err(|e| e.to_string())?;
        match raw(libc::SYS_getpid, [0; 3]) {
            Ok(0) => Ok(()),
            other => Err(format!("getpid under Errno(0) gave {other:?}")),
        }
    }));
}

#[test]
fn allow_list_kills_the_process_for_other_calls() {
    let program = Filter::allow(["getpid", "write", "exit_group"], Action::KillProcess)
        .unwrap()
        .compile()
        .unwrap();
    let (rd, wr) = rustix::pipe::pipe().unwrap();
    let status = run_filtered(&program, || {
        // Allowed: getpid, and the write that says so.
        if raw(libc::SYS_getpid, [0; 3]).is_ok() {
            let _ = rustix::io::write(&wr, b"1");
        }
        // Not allowed: the process dies here.
        let _ = raw(libc::SYS_getppid, [0; 3]);
    });
    drop(wr);
    assert!(killed_by_sigsys(status), "{status:?}");
    let mut got = String::new();
    std::fs::File::from(rd).read_to_string(&mut got).unwrap();
    assert_eq!(got, "1", "the allowed calls did not run");
}

#[test]
fn trap_sends_sigsys() {
    let program = Filter::deny(["getppid"], Action::Trap)
        .unwrap()
        .compile()
        .unwrap();
    let status = run_filtered(&program, || {
        let _ = raw(libc::SYS_getppid, [0; 3]);
    });
    assert!(killed_by_sigsys(status), "{status:?}");
    // Calls not listed run: the child exits normally.
    let status = run_filtered(&program, || {
        let _ = raw(libc::SYS_getpid, [0; 3]);
    });
    assert_eq!(status, WaitStatus::Exited(status.pid().unwrap(), 0));
}

#[test]
fn kill_thread_kills_one_thread_and_kill_process_all() {
    // A thread makes the denied call; the main thread waits for it to end, then exits 0.
    let denied_in_a_thread = || {
        use std::os::unix::thread::JoinHandleExt;
        let thread = std::thread::spawn(|| {
            let _ = raw(libc::SYS_getppid, [0; 3]);
        });
        // std's join would panic for a thread killed before returning; pthread_join waits
        // for the thread to end either way.
        // SAFETY: joins the running thread once; its JoinHandle is forgotten, so it is
        // never detached afterwards.
        unsafe { libc::pthread_join(thread.as_pthread_t(), std::ptr::null_mut()) };
        std::mem::forget(thread);
    };
    let thread = Filter::deny(["getppid"], Action::KillThread)
        .unwrap()
        .compile()
        .unwrap();
    let status = run_filtered(&thread, denied_in_a_thread);
    assert_eq!(status, WaitStatus::Exited(status.pid().unwrap(), 0));
    let process = Filter::deny(["getppid"], Action::KillProcess)
        .unwrap()
        .compile()
        .unwrap();
    let status = run_filtered(&process, denied_in_a_thread);
    assert!(killed_by_sigsys(status), "{status:?}");
}

#[test]
fn log_lets_calls_run() {
    check(in_child(|| {
        let ppid = raw(libc::SYS_getppid, [0; 3]).unwrap();
        Filter::deny(["getppid"], Action::Log)
            .and_then(|f| f.install())
            .map_err(|e| e.to_string())?;
        match raw(libc::SYS_getppid, [0; 3]) {
            Ok(p) if p == ppid => Ok(()),
            other => Err(format!("getppid under Log gave {other:?}")),
        }
    }));
}

#[test]
fn stacked_filters_take_the_strictest_action() {
    check(in_child(|| {
        Filter::deny(["getppid"], Action::Log)
            .and_then(|f| f.install())
            .map_err(|e| e.to_string())?;
        Filter::deny(["getppid"], Action::Errno(libc::EACCES))
            .and_then(|f| f.install())
            .map_err(|e| e.to_string())?;
        Filter::deny(["getpid"], Action::Log)
            .and_then(|f| f.install())
            .map_err(|e| e.to_string())?;
        expect_errno("getppid", raw(libc::SYS_getppid, [0; 3]), libc::EACCES)
    }));
}

#[test]
fn conditions_select_calls_by_their_arguments() {
    check(in_child(|| {
        let filter = Filter::deny([] as [&str; 0], Action::Errno(libc::EPERM))
            .and_then(|f| f.add_when("fcntl", [Cond::new32(1, Cmp::Eq, libc::F_GETFL as u32)]))
            // kill(pid, 0) with a pid of 2^30 or more: all conditions of a set must hold.
            .and_then(|f| {
                f.add_when(
                    "kill",
                    [
                        Cond::new(0, Cmp::Ge, 1 << 30),
                        Cond::new32(1, Cmp::MaskedEq(0xff), 0),
                    ],
                )
            })
            .map_err(|e| e.to_string())?;
        if !filter.contains("fcntl") || filter.contains("getpid") {
            return Err("contains() is wrong".into());
        }
        filter.install().map_err(|e| e.to_string())?;
        let fd = libc::c_long::from(libc::STDERR_FILENO);
        expect_errno(
            "fcntl(F_GETFL)",
            raw(libc::SYS_fcntl, [fd, libc::F_GETFL.into(), 0]),
            libc::EPERM,
        )?;
        raw(libc::SYS_fcntl, [fd, libc::F_GETFD.into(), 0])
            .map_err(|e| format!("fcntl(F_GETFD): errno {e}"))?;
        expect_errno(
            "kill(2^30, 0)",
            raw(libc::SYS_kill, [1 << 30, 0, 0]),
            libc::EPERM,
        )?;
        // Not matching (a pid above pid_max, but below 2^30): the kernel answers ESRCH.
        let below = (1 << 30) - 1;
        expect_errno(
            "kill(2^30 - 1, 0)",
            raw(libc::SYS_kill, [below, 0, 0]),
            libc::ESRCH,
        )?;
        let me = libc::c_long::from(std::process::id() as i32);
        raw(libc::SYS_kill, [me, 0, 0]).map_err(|e| format!("kill(self, 0): errno {e}"))?;
        Ok(())
    }));
}

#[test]
fn unknown_names_are_refused_by_name() {
    let e = expect_err(
        Filter::deny(["getpid", "no_such_call"], Action::Errno(libc::EPERM)),
        "syscall_number",
        Errno::EINVAL,
        ErrorKind::InvalidArgument,
    )
    .unwrap();
    assert_eq!(e.path(), Some(Path::new("no_such_call")));
    assert!(e.to_string().contains("\"no_such_call\""), "{e}");
    check(expect_hint(&e, "no system call has that name"));

    let e = Filter::allow(["read", "SYS_write"], Action::KillProcess).unwrap_err();
    assert_eq!(e.path(), Some(Path::new("SYS_write")));
    let e = Filter::deny(["read"], Action::Trap)
        .unwrap()
        .add_when("mountt", [])
        .unwrap_err();
    assert_eq!(e.path(), Some(Path::new("mountt")));
    assert_eq!(syscall_number("").unwrap_err().errno(), Errno::EINVAL);
}

#[test]
fn names_of_other_architectures_are_known_but_refused() {
    #[cfg(target_arch = "x86_64")]
    {
        assert_eq!(syscall_number("iopl").unwrap(), 172);
        // Every name is an x86_64 name.
        skip(
            "names_of_other_architectures_are_known_but_refused",
            "no aarch64- or riscv64-only name exists to try on x86_64",
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let e = expect_err(
            syscall_number("iopl"),
            "syscall_number",
            Errno::EINVAL,
            ErrorKind::InvalidArgument,
        )
        .unwrap();
        check(expect_hint(&e, "other architectures"));
        // sandbox_default skips them rather than failing.
        assert!(!Filter::sandbox_default().contains("iopl"));
    }
}

#[test]
fn names_and_numbers_translate() {
    let mount = syscall_number("mount").unwrap();
    assert_eq!(mount, libc::SYS_mount);
    assert_eq!(syscall_name(mount), Some("mount"));
    assert_eq!(syscall_name(-1), None);
    assert!(syscall_names().any(|n| n == "openat"));
    assert!(syscall_names().all(|n| syscall_number(n).is_ok()));
}

#[test]
fn bad_actions_are_refused() {
    for (filter, call) in [
        (Filter::deny(["read"], Action::Errno(-1)), "Filter::deny"),
        (Filter::deny(["read"], Action::Errno(4096)), "Filter::deny"),
        (Filter::deny(["read"], Action::Allow), "Filter::deny"),
        (Filter::allow(["read"], Action::Allow), "Filter::allow"),
        (
            Filter::allow(["read"], Action::Errno(70000)),
            "Filter::allow",
        ),
    ] {
        check(expect_err(filter, call, Errno::EINVAL, ErrorKind::InvalidArgument).map(drop));
    }
    Filter::deny(["read"], Action::Errno(4095)).unwrap();
    let e = expect_err(
        Filter::deny(["read"], Action::Trap)
            .unwrap()
            .add_when("write", [Cond::new(6, Cmp::Eq, 0)]),
        "Filter::add_when",
        Errno::EINVAL,
        ErrorKind::InvalidArgument,
    )
    .unwrap();
    check(expect_hint(&e, "0 to 5"));
}

#[test]
fn sandbox_default_lists_the_dangerous_calls() {
    let filter = Filter::sandbox_default();
    assert_eq!(filter.listed_action(), Action::Errno(libc::EPERM));
    assert_eq!(filter.default_action(), Action::Allow);
    for name in [
        "mount",
        "ptrace",
        "kexec_load",
        "bpf",
        "init_module",
        "reboot",
        "clone",
    ] {
        assert!(filter.contains(name), "{name}");
    }
    for name in ["read", "openat", "execve", "clone3", "getpid"] {
        assert!(!filter.contains(name), "{name}");
    }
    let here = SANDBOX_DENY
        .iter()
        .filter(|n| syscall_number(n).is_ok())
        .count();
    assert!(here >= SANDBOX_DENY.len() - 4);
    assert!(SANDBOX_DENY.iter().filter(|n| filter.contains(n)).count() == here);
    filter.compile().unwrap();
}

#[test]
fn sandbox_default_denies_mount_and_ptrace() {
    check(in_child(|| {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let missing = dir.path().join("missing");
        let mount = || {
            rustix::mount::mount(
                "none",
                &missing,
                "tmpfs",
                rustix::mount::MountFlags::empty(),
                None,
            )
            .map_err(|e| e.raw_os_error())
        };
        let ppid = raw(libc::SYS_getppid, [0; 3]).unwrap();
        // Not tracing the parent: the kernel answers ESRCH.
        let peek = || raw(libc::SYS_ptrace, [libc::PTRACE_PEEKDATA.into(), ppid, 0]);
        let mount_before = mount();
        expect_errno("ptrace before", peek(), libc::ESRCH)?;

        Filter::sandbox_default()
            .install()
            .map_err(|e| e.to_string())?;
        match mount() {
            Err(e) if e == libc::EPERM => {}
            other => return Err(format!("mount: {other:?}")),
        }
        if mount_before == Err(libc::EPERM) {
            skip(
                "sandbox_default_denies_mount_and_ptrace",
                "not root: mount fails with EPERM without the filter too",
            );
        }
        expect_errno("ptrace", peek(), libc::EPERM)?;
        expect_errno(
            "umount2",
            rustix::mount::unmount(&missing, rustix::mount::UnmountFlags::empty())
                .map(|_| 0)
                .map_err(|e| e.raw_os_error()),
            libc::EPERM,
        )?;
        expect_errno(
            "unshare",
            raw(libc::SYS_unshare, [libc::CLONE_NEWUTS.into(), 0, 0]),
            libc::EPERM,
        )?;
        expect_errno("bpf", raw(libc::SYS_bpf, [-1, 0, 0]), libc::EPERM)?;
        expect_errno(
            "io_uring_setup",
            raw(libc::SYS_io_uring_setup, [0; 3]),
            libc::EPERM,
        )?;
        // clone with a namespace flag is refused; a plain fork still works.
        let flags = libc::c_long::from(libc::CLONE_NEWUSER | libc::SIGCHLD);
        match raw(libc::SYS_clone, [flags, 0, 0]) {
            Err(e) if e == libc::EPERM => {}
            Ok(0) => {
                // SAFETY: the unexpected child leaves at once.
                unsafe { libc::_exit(0) }
            }
            other => return Err(format!("clone(CLONE_NEWUSER): {other:?}")),
        }
        // SAFETY: the grandchild only exits.
        match unsafe { fork() }.map_err(|e| e.to_string())? {
            ForkResult::Child => {
                // SAFETY: leaves the grandchild at once.
                unsafe { libc::_exit(7) }
            }
            ForkResult::Parent { child } => match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, 7)) => {}
                other => return Err(format!("fork under the filter: {other:?}")),
            },
        }
        std::fs::File::create(dir.path().join("file"))
            .and_then(|mut f| f.write_all(b"ordinary work"))
            .map_err(|e| e.to_string())
    }));
}

#[test]
fn installing_sets_no_new_privs() {
    check(in_child(|| {
        if rustix::thread::no_new_privs().unwrap() {
            skip(
                "installing_sets_no_new_privs",
                "no_new_privs is set already (inherited by the test process)",
            );
        }
        Filter::deny(["getppid"], Action::Errno(libc::EPERM))
            .and_then(|f| f.install())
            .map_err(|e| e.to_string())?;
        if rustix::thread::no_new_privs().unwrap() {
            Ok(())
        } else {
            Err("no_new_privs is not set".into())
        }
    }));
}

#[test]
fn install_binds_the_calling_thread_and_all_threads_binds_every_thread() {
    /// What the thread saw: getppid's result, and its no_new_privs bit.
    type Seen = (Result<libc::c_long, i32>, bool);
    /// Starts a thread that waits for a word, then reports what it sees.
    fn waiting_thread() -> (std::sync::mpsc::Sender<()>, std::thread::JoinHandle<Seen>) {
        let (go, wait) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            wait.recv().unwrap();
            let ppid = raw(libc::SYS_getppid, [0; 3]);
            (ppid, rustix::thread::no_new_privs().unwrap())
        });
        (go, thread)
    }
    let filter = Filter::deny(["getppid"], Action::Errno(libc::EPERM)).unwrap();
    check(in_child(|| {
        let (go, thread) = waiting_thread();
        filter.install().map_err(|e| e.to_string())?;
        go.send(()).unwrap();
        match thread.join().unwrap() {
            (Ok(_), _) => {}
            other => {
                return Err(format!(
                    "a running thread got filtered by install: {other:?}"
                ));
            }
        }
        expect_errno("getppid", raw(libc::SYS_getppid, [0; 3]), libc::EPERM)
    }));
    check(in_child(|| {
        let (go, thread) = waiting_thread();
        filter.install_all_threads().map_err(|e| e.to_string())?;
        go.send(()).unwrap();
        match thread.join().unwrap() {
            (Err(libc::EPERM), true) => Ok(()),
            other => Err(format!("the other thread after TSYNC: {other:?}")),
        }
    }));
}

/// The x32 ABI shares x86_64's architecture value; its calls are refused.
#[cfg(target_arch = "x86_64")]
#[test]
fn x32_calls_are_refused() {
    const X32: libc::c_long = 0x4000_0000;
    check(in_child(|| {
        // The kernel answers ENOSYS without x32 support, the pid with it.
        let before = raw(X32 | libc::SYS_getpid, [0; 3]);
        Filter::deny(["getppid"], Action::Errno(libc::EPERM))
            .and_then(|f| f.install())
            .map_err(|e| e.to_string())?;
        expect_errno(
            "x32 getppid",
            raw(X32 | libc::SYS_getppid, [0; 3]),
            libc::EPERM,
        )?;
        expect_errno(
            "x32 getpid",
            raw(X32 | libc::SYS_getpid, [0; 3]),
            libc::EPERM,
        )?;
        raw(libc::SYS_getpid, [0; 3]).map_err(|e| format!("getpid: errno {e} ({before:?})"))?;
        Ok(())
    }));
    // An allow-list gives them its default action.
    let program = Filter::allow(["getpid", "exit_group"], Action::KillProcess)
        .unwrap()
        .compile()
        .unwrap();
    let status = run_filtered(&program, || {
        let _ = raw(X32 | libc::SYS_getpid, [0; 3]);
    });
    assert!(killed_by_sigsys(status), "{status:?}");
}

/// A call through another architecture's convention (i386's `int 0x80`) kills the process.
#[cfg(target_arch = "x86_64")]
#[test]
fn calls_of_another_architecture_kill_the_process() {
    fn getpid_i386() -> i32 {
        let mut eax: i32 = 20; // i386 getpid
        // SAFETY: the i386 getpid takes no arguments and touches no memory; the kernel
        // may clobber r8-r11 on this path.
        unsafe {
            std::arch::asm!(
                "int 0x80",
                inout("eax") eax,
                out("r8") _, out("r9") _, out("r10") _, out("r11") _,
                options(nostack),
            );
        }
        eax
    }
    // Without a filter: is the i386 convention there at all?
    let nothing = Filter::deny(["uselib"], Action::Errno(libc::EPERM))
        .unwrap()
        .compile()
        .unwrap();
    // SAFETY: the probe child makes one call and exits.
    let probe = match unsafe { fork() }.unwrap() {
        ForkResult::Child => {
            let ok = getpid_i386() == std::process::id() as i32;
            // SAFETY: leaves the child at once.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) }
        }
        ForkResult::Parent { child } => waitpid_until(child, Instant::now() + CHILD_LIMIT),
    };
    if probe != WaitStatus::Exited(probe.pid().unwrap(), 0) {
        skip(
            "calls_of_another_architecture_kill_the_process",
            &format!("the kernel runs no i386 calls (without a filter: {probe:?})"),
        );
        return;
    }
    let status = run_filtered(&nothing, || {
        getpid_i386();
    });
    assert!(killed_by_sigsys(status), "{status:?}");
}

/// butter builds filters for x86_64, aarch64 and riscv64 (seccompiler's architectures);
/// elsewhere compiling says so.
#[cfg(not(all(
    target_pointer_width = "64",
    any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "riscv64"
    )
)))]
#[test]
fn other_architectures_cannot_compile_filters() {
    let e = expect_err(
        Filter::sandbox_default().compile(),
        "Filter::compile",
        Errno::EINVAL,
        ErrorKind::InvalidArgument,
    )
    .unwrap();
    check(expect_hint(&e, "x86_64, aarch64 and riscv64 only"));
}

#[test]
fn programs_start_with_the_architecture_check() {
    let program = Filter::deny(["mount"], Action::Errno(libc::EPERM))
        .unwrap()
        .compile()
        .unwrap();
    let bpf = program.instructions();
    // Load seccomp_data.arch (offset 4); kill the process if it is not ours.
    assert_eq!((bpf[0].code, bpf[0].k), (0x20, 4));
    assert_eq!(
        (bpf[2].code, bpf[2].k),
        (0x06, libc::SECCOMP_RET_KILL_PROCESS)
    );
    #[cfg(target_arch = "x86_64")]
    assert_eq!((bpf[4].code, bpf[4].k), (0x35, 0x4000_0000));
}
