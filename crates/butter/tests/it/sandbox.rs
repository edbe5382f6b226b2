//! The sandbox against the real kernel (as root; skipped with a reason otherwise).

use std::fs;
use std::time::{Duration, Instant};

use butter::sandbox::{Exit, Limit, Sandbox};

fn root_or_skip(test: &str) -> bool {
    test_support::root_or_skip(
        test,
        "the sandbox needs root (or user namespaces, tested separately)",
    )
}

fn sh(script: &str) -> Sandbox {
    Sandbox::new("/bin/sh").args(["-c", script]).system_root()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn runs_a_command_and_captures_its_output_and_status() {
    if !root_or_skip("runs_a_command_and_captures_its_output_and_status") {
        return;
    }
    let out = sh("echo out; echo err >&2; exit 3").run().unwrap();
    assert_eq!(out.exit, Exit::Code(3));
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
    let out = sh("kill -TERM $$").run().unwrap();
    assert_eq!(out.exit, Exit::Signal(libc::SIGTERM));
    // PATH lookup happens inside; the environment is only what was given.
    let out = Sandbox::new("env")
        .system_root()
        .env("HELLO", "world")
        .run()
        .unwrap();
    assert!(out.success(), "{}", text(&out.stderr));
    let env = text(&out.stdout);
    assert!(
        env.contains("HELLO=world") && env.contains("PATH="),
        "{env}"
    );
    assert!(!env.contains("HOME="), "{env}");
    // A program that is not there: a clear error, not a mystery exit code.
    let e = Sandbox::new("no-such-program")
        .system_root()
        .run()
        .unwrap_err();
    assert_eq!(e.errno(), butter::Errno::ENOENT);
    assert!(e.to_string().contains("PATH"), "{e}");
}

#[test]
fn it_cannot_write_outside_its_work_directory() {
    if !root_or_skip("it_cannot_write_outside_its_work_directory") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let out = sh(
        "touch /work/made-here && echo ok > /tmp/scratch && cat /tmp/scratch; \
         touch /usr/evil 2>&1; touch /etc/evil 2>&1; touch /evil 2>&1; true",
    )
    .work_dir(work.path(), "/work")
    .run()
    .unwrap();
    assert!(out.success(), "{}", text(&out.stderr));
    assert!(
        work.path().join("made-here").exists(),
        "the work directory is writable"
    );
    let o = text(&out.stdout);
    assert!(o.starts_with("ok\n"), "{o}");
    assert_eq!(o.matches("Read-only file system").count(), 3, "{o}");
    assert!(
        !std::path::Path::new("/usr/evil").exists() && !std::path::Path::new("/etc/evil").exists()
    );
    // The current directory is the work directory.
    let out = sh("pwd").work_dir(work.path(), "/work").run().unwrap();
    assert_eq!(out.stdout, b"/work\n");
}

#[test]
fn it_cannot_see_host_processes_or_change_the_hostname() {
    if !root_or_skip("it_cannot_see_host_processes_or_change_the_hostname") {
        return;
    }
    let host = butter::process::gethostname();
    let out = sh("ls /proc | grep -c '^[0-9]'; hostname; hostname evil 2>&1; hostname")
        .hostname("inside")
        .seccomp(None)
        .run()
        .unwrap();
    let lines: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    let pids: usize = lines[0].parse().unwrap();
    assert!(
        pids <= 5,
        "the sandbox sees only its own processes: {lines:?}"
    );
    assert_eq!(lines[1], "inside");
    assert_eq!(
        lines.last().unwrap(),
        "evil",
        "it may rename its own UTS namespace"
    );
    assert_eq!(
        butter::process::gethostname(),
        host,
        "the host's name is untouched"
    );
    // Its own view of itself: it is under PID 1 (our init).
    let out = sh("cat /proc/1/cmdline | tr '\\0' ' '; echo; echo $$")
        .run()
        .unwrap();
    let o = text(&out.stdout);
    assert!(
        o.lines().nth(1).unwrap().parse::<u32>().unwrap() < 10,
        "{o}"
    );
}

#[test]
fn denied_system_calls_get_eperm() {
    if !root_or_skip("denied_system_calls_get_eperm") {
        return;
    }
    // mount and unshare are on the default deny-list; root inside still gets EPERM.
    let out =
        sh("mount -t tmpfs none /tmp 2>&1; echo mount=$?; unshare -U true 2>&1; echo unshare=$?")
            .run()
            .unwrap();
    let o = text(&out.stdout);
    assert!(o.contains("mount=") && !o.contains("mount=0"), "{o}");
    assert!(o.contains("Operation not permitted"), "{o}");
    assert!(!o.contains("unshare=0"), "{o}");
    // no_new_privs is set for the command.
    let out = sh("grep NoNewPrivs /proc/self/status").run().unwrap();
    assert!(text(&out.stdout).contains('1'), "{}", text(&out.stdout));
}

#[test]
fn a_timeout_kills_the_whole_tree_and_leaves_nothing_behind() {
    if !root_or_skip("a_timeout_kills_the_whole_tree_and_leaves_nothing_behind") {
        return;
    }
    let mounts_before = fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .count();
    // A sleep whose argument marks it as ours, and one in a grandchild.
    let marker = format!("300.{}", std::process::id());
    let started = Instant::now();
    let running = sh(&format!(
        "sleep {marker} & sh -c 'sleep {marker} & wait' & echo started; wait"
    ))
    .timeout(Duration::from_millis(700))
    .spawn()
    .unwrap();
    let staging = running.staging_dir().to_owned();
    assert!(staging.is_dir(), "{} while it runs", staging.display());
    let out = running.wait().unwrap();
    assert_eq!(out.exit, Exit::TimedOut);
    assert_eq!(out.stdout, b"started\n", "output up to the timeout is kept");
    assert!(started.elapsed() < Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(200));
    let left = fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            fs::read(e.path().join("cmdline"))
                .is_ok_and(|c| c.windows(marker.len()).any(|w| w == marker.as_bytes()))
        })
        .count();
    assert_eq!(left, 0, "no process of the sandbox outlives it");
    let mounts_after = fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .count();
    assert_eq!(mounts_before, mounts_after, "no mount is left behind");
    // Its own staging directory: other tests' sandboxes share the pid in its name.
    assert!(
        !staging.exists(),
        "the staging directory {} is removed",
        staging.display()
    );
}

#[test]
fn resource_limits() {
    if !root_or_skip("resource_limits") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    // File size: writing past it fails.
    let out = sh("dd if=/dev/zero of=/work/big bs=1024 count=2048 2>&1; echo dd=$?")
        .work_dir(work.path(), "/work")
        .limit(Limit::FileSize(1 << 20))
        .run()
        .unwrap();
    assert!(!text(&out.stdout).contains("dd=0"), "{}", text(&out.stdout));
    assert!(fs::metadata(work.path().join("big")).unwrap().len() <= 1 << 20);
    // Memory: a big allocation fails.
    let out = sh("dd if=/dev/zero of=/dev/null bs=200M count=1 2>&1; echo dd=$?")
        .limit(Limit::Memory(100 << 20))
        .run()
        .unwrap();
    let o = text(&out.stdout);
    assert!(!o.contains("dd=0") && o.contains("memory"), "{o}");
    // Processes: enforced for a non-root user. The kernel counts every process of that
    // user on the machine, so not `nobody`, whom other tests (builds, farms) run as at the
    // same time: a user of this test alone, whom no other process runs as.
    let uid = 3_000_000 + std::process::id() % 1_000_000;
    let out = sh("for i in 1 2 3 4 5 6 7 8; do sleep 1 & done 2>&1; wait; echo done")
        .user(uid, uid)
        .limit(Limit::Processes(3))
        .run()
        .unwrap();
    let o = text(&out.stdout) + &text(&out.stderr);
    assert!(
        o.contains("fork") || o.contains("Resource temporarily unavailable") || o.contains("retry"),
        "{o}"
    );
}

#[test]
fn network_off_leaves_only_loopback() {
    if !root_or_skip("network_off_leaves_only_loopback") {
        return;
    }
    let script = "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; \
        python3 -c \"import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); \
        socket.create_connection(s.getsockname()); print('loopback works')\"";
    let out = sh(script).network(false).run().unwrap();
    let o = text(&out.stdout);
    assert_eq!(
        o.lines().collect::<Vec<_>>(),
        ["lo", "loopback works"],
        "{o} {}",
        text(&out.stderr)
    );
    // With the network on, the host's interfaces are there.
    let on = sh("tail -n +3 /proc/net/dev | wc -l").run().unwrap();
    let n: usize = text(&on.stdout).trim().parse().unwrap();
    let host = fs::read_to_string("/proc/net/dev").unwrap().lines().count() - 2;
    assert_eq!(n, host);
}

#[test]
fn devices_proc_and_tmp() {
    if !root_or_skip("devices_proc_and_tmp") {
        return;
    }
    let out = sh("ls /dev | tr '\\n' ' '; head -c 4 /dev/urandom | wc -c; echo x > /dev/null && echo null-ok; \
                  df -P /tmp | tail -1 | cut -d' ' -f1; ls /proc/self/fd > /dev/null && echo proc-ok")
        .run()
        .unwrap();
    let o = text(&out.stdout);
    for dev in ["null", "zero", "urandom", "shm", "fd"] {
        assert!(o.contains(dev), "{dev}: {o}");
    }
    assert!(!o.contains("sda") && !o.contains("vda"), "no disks: {o}");
    assert!(
        o.contains("null-ok") && o.contains("proc-ok") && o.contains("tmpfs"),
        "{o}"
    );
}

#[test]
fn in_a_user_namespace() {
    // The unprivileged path: a user namespace in which the caller is root. As root it is
    // exercised too (mapping root to root).
    if !root_or_skip("in_a_user_namespace") {
        return;
    }
    let out = sh("id -u; hostname")
        .user_namespace(true)
        .hostname("userns")
        .run()
        .unwrap();
    assert!(out.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "0\nuserns\n");
}

fn processes_with(marker: &str) -> usize {
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            fs::read(e.path().join("cmdline"))
                .is_ok_and(|c| c.windows(marker.len()).any(|w| w == marker.as_bytes()))
        })
        .count()
}

#[test]
fn terminate_sends_sigterm_to_every_process_then_kills() {
    let test = "terminate_sends_sigterm_to_every_process_then_kills";
    if !root_or_skip(test) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let marker = format!("301.{}", std::process::id());
    // The shell traps SIGTERM and records it; a grandchild in a session of its own
    // ignores SIGTERM, so only the kill that follows ends it.
    let mut running = sh(&format!(
        "trap 'echo term > /work/got; exit 3' TERM; \
         setsid sh -c 'trap \"\" TERM; sleep {marker}' & echo up > /work/up; \
         while :; do sleep 0.05; done"
    ))
    .work_dir(work.path(), "/work")
    .spawn()
    .unwrap();
    let t = Instant::now();
    while !work.path().join("up").exists() {
        assert!(
            running
                .wait_timeout(Duration::from_millis(20))
                .unwrap()
                .is_none()
        );
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the command never started"
        );
    }
    assert!(
        running
            .wait_timeout(Duration::from_millis(100))
            .unwrap()
            .is_none()
    );
    let out = running.terminate(Duration::from_secs(5)).unwrap();
    assert_eq!(out.exit, Exit::Code(3), "{}", text(&out.stderr));
    assert_eq!(
        fs::read_to_string(work.path().join("got")).unwrap(),
        "term\n"
    );
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        processes_with(&marker),
        0,
        "the grandchild died with the sandbox"
    );
}

#[test]
fn terminate_kills_what_ignores_sigterm_after_the_grace() {
    let test = "terminate_kills_what_ignores_sigterm_after_the_grace";
    if !root_or_skip(test) {
        return;
    }
    let marker = format!("302.{}", std::process::id());
    let running = sh(&format!("trap '' TERM; sleep {marker} & wait; wait"))
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    let out = running.terminate(Duration::from_millis(300)).unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(out.exit, Exit::Signal(libc::SIGKILL));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(processes_with(&marker), 0);
}

#[test]
fn dropping_a_running_sandbox_kills_it_and_cleans_up() {
    let test = "dropping_a_running_sandbox_kills_it_and_cleans_up";
    if !root_or_skip(test) {
        return;
    }
    let marker = format!("303.{}", std::process::id());
    let mut running = sh(&format!("sleep {marker}")).spawn().unwrap();
    let staging = running.staging_dir().to_owned();
    assert!(staging.is_dir(), "{} while it runs", staging.display());
    assert!(
        running
            .wait_timeout(Duration::from_millis(300))
            .unwrap()
            .is_none()
    );
    assert!(running.elapsed() >= Duration::from_millis(300));
    assert!(processes_with(&marker) >= 1);
    drop(running);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(processes_with(&marker), 0);
    assert!(
        !staging.exists(),
        "the staging directory {} is removed",
        staging.display()
    );
}

#[test]
fn a_finished_handle_cannot_be_waited_again() {
    let test = "a_finished_handle_cannot_be_waited_again";
    if !root_or_skip(test) {
        return;
    }
    let mut running = sh("exit 4").spawn().unwrap();
    let out = loop {
        if let Some(out) = running.wait_timeout(Duration::from_secs(1)).unwrap() {
            break out;
        }
    };
    assert_eq!(out.exit, Exit::Code(4));
    let e = running.wait_timeout(Duration::ZERO).unwrap_err();
    assert_eq!(e.raw_os_error(), libc::ECHILD);
}

#[test]
fn output_can_go_to_a_file() {
    let test = "output_can_go_to_a_file";
    if !root_or_skip(test) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("out.log");
    fs::write(&log, "before\n").unwrap();
    let out = sh("echo out; echo err >&2")
        .output_file(&log)
        .run()
        .unwrap();
    assert!(out.success());
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
    assert_eq!(fs::read_to_string(&log).unwrap(), "before\nout\nerr\n");
}

#[test]
fn the_command_gets_only_the_standard_descriptors() {
    let test = "the_command_gets_only_the_standard_descriptors";
    if !root_or_skip(test) {
        return;
    }
    // A descriptor of the caller's without close-on-exec.
    let f = fs::File::open("/dev/null").unwrap();
    // SAFETY: dup2 onto a free high descriptor, closed below.
    let leaked = unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&f), 200) };
    assert_eq!(leaked, 200);
    let out = sh("cd /proc/self/fd && echo *").run();
    // SAFETY: closes the descriptor made above.
    unsafe { libc::close(200) };
    let out = out.unwrap();
    assert!(out.success(), "{}", text(&out.stderr));
    // The shell's own (0, 1, 2) and at most the one `echo *` reads the directory with.
    let fds: Vec<u32> = text(&out.stdout)
        .split_whitespace()
        .map(|f| f.parse().unwrap())
        .collect();
    assert!(fds.starts_with(&[0, 1, 2]), "{fds:?}");
    assert!(fds.len() <= 4 && !fds.contains(&200), "{fds:?}");
}

#[test]
fn a_work_directory_under_tmp_keeps_its_host_path() {
    let test = "a_work_directory_under_tmp_keeps_its_host_path";
    if !root_or_skip(test) {
        return;
    }
    // Under the host's /tmp, bound at the same path: it must not vanish under the fresh
    // /tmp, and the rest of the host's /tmp must stay out of sight.
    let work = tempfile::tempdir_in("/tmp").unwrap();
    let other = tempfile::tempdir_in("/tmp").unwrap();
    let out = sh(&format!(
        "pwd; echo hi > made-here; ls {} 2>&1 >/dev/null | grep -c 'No such file'",
        other.path().display()
    ))
    .work_dir(work.path(), work.path())
    .run()
    .unwrap();
    assert!(out.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{}\n1\n", work.path().display()));
    assert_eq!(
        fs::read_to_string(work.path().join("made-here")).unwrap(),
        "hi\n"
    );
}
