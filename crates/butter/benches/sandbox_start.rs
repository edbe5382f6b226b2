//! Start-to-exit time of `/bin/true` in butter's sandbox, side by side with a plain
//! fork/exec and with util-linux `unshare` making the same namespaces, interleaved round by
//! round (as root):
//!
//! ```sh
//! sudo cargo bench -p butter --bench sandbox_start [-- --rounds 200]
//! ```
//!
//! The sandbox cells are the default sandbox (mount, PID, UTS, IPC namespaces; the
//! system's paths bound read-only; fresh /tmp, /proc and /dev; hostname; no_new_privs;
//! the seccomp deny-list), the same with a network namespace, and with a user namespace.
//! `unshare` is given the same namespaces (`--mount --pid --fork --uts --ipc`) but builds
//! no root. Times are wall time from the call to the reaped exit, in milliseconds.

use std::process::Command;
use std::time::{Duration, Instant};

use butter::sandbox::Sandbox;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .map_or(100, |r| r.parse().expect("--rounds N"));
    if !rustix::process::geteuid().is_root() {
        eprintln!("sandbox_start needs root: skipped");
        return;
    }
    let unshare = Command::new("unshare").arg("--version").output().is_ok();
    type Cell = (&'static str, Box<dyn Fn()>);
    let mut cells: Vec<Cell> = vec![
        (
            "fork/exec /bin/true",
            Box::new(|| assert!(Command::new("/bin/true").status().unwrap().success())),
        ),
        (
            "sandbox (default)",
            Box::new(|| {
                assert!(
                    Sandbox::new("/bin/true")
                        .system_root()
                        .run()
                        .unwrap()
                        .success()
                )
            }),
        ),
        (
            "sandbox, no network",
            Box::new(|| {
                assert!(
                    Sandbox::new("/bin/true")
                        .system_root()
                        .network(false)
                        .run()
                        .unwrap()
                        .success()
                )
            }),
        ),
        (
            "sandbox, user namespace",
            Box::new(|| {
                assert!(
                    Sandbox::new("/bin/true")
                        .system_root()
                        .user_namespace(true)
                        .run()
                        .unwrap()
                        .success()
                )
            }),
        ),
    ];
    if unshare {
        cells.insert(
            1,
            (
                "util-linux unshare -m -p -f -u -i",
                Box::new(|| {
                    let ok = Command::new("unshare")
                        .args(["--mount", "--pid", "--fork", "--uts", "--ipc", "/bin/true"])
                        .status()
                        .unwrap()
                        .success();
                    assert!(ok);
                }),
            ),
        );
    }
    // Warm up (page cache, first-use costs), then interleave.
    for (_, f) in &cells {
        f();
    }
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); cells.len()];
    for round in 0..rounds {
        for k in 0..cells.len() {
            let i = (k + round) % cells.len();
            let t = Instant::now();
            (cells[i].1)();
            times[i].push(t.elapsed());
        }
    }
    let base = median(&mut times[0].clone());
    println!("\nstart-to-exit of /bin/true, {rounds} interleaved rounds (ms)");
    println!(
        "{:<36} {:>8} {:>8} {:>8} {:>10}",
        "cell", "median", "p10", "p90", "vs fork"
    );
    for (i, (name, _)) in cells.iter().enumerate() {
        let mut t = times[i].clone();
        t.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let m = median(&mut t.clone());
        println!(
            "{:<36} {:>8.2} {:>8.2} {:>8.2} {:>9.1}x",
            name,
            ms(m),
            ms(t[t.len() / 10]),
            ms(t[t.len() * 9 / 10]),
            m.as_secs_f64() / base.as_secs_f64()
        );
    }
    if !unshare {
        println!("(util-linux unshare is not installed: its row is left out)");
    }
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}
