//! The farm's latency and footprint, as real processes on 127.0.0.1:
//!
//! 1. **add to installable**: wall time from `piw-add PACKAGE VERSION` to the wheel being
//!    published and linked from its simple page, side by side with `pip wheel` of the same
//!    sdist run directly (pip's own build time), for several versions of a pure-Python
//!    package. The overhead is the difference.
//! 2. **master footprint**: the master's CPU time and resident memory while idle, and while
//!    100 simulated slaves poll it (HELLO, then IDLE → SLEEP as real slaves do).
//!
//! `cargo bench -p piwheels --bench farm [-- --rounds N --slaves N --seconds S]`

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use piwheels_protocol::slave::{SlaveHello, SlaveProtocol, SlaveReply, SlaveRequest, SlaveStats};
use piwheels_protocol::transport::{Req, SocketOptions, zmq};
use support::*;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `pip wheel` of one sdist from the upstream index, as the slave runs it: seconds.
fn pip_wheel(upstream: &str, dir: &Path, package: &str, version: &str) -> f64 {
    let out = dir.join(format!("direct-{version}"));
    let start = Instant::now();
    let mut cmd = Command::new(PYTHON);
    clean_pip_env(&mut cmd).args([
        "-m",
        "pip",
        "wheel",
        &format!("{package}=={version}"),
        "--no-deps",
        "--no-cache-dir",
        &format!("--no-binary={package}"),
        "--prefer-binary",
        "--disable-pip-version-check",
        "--index-url",
        upstream,
        "--wheel-dir",
    ]);
    let status = cmd.arg(&out).output().unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    start.elapsed().as_secs_f64()
}

fn add_to_installable(rounds: u64) {
    let work = tempfile::tempdir().unwrap();
    let deps = build_deps().expect("setuptools and wheel for the local index");
    let mut files: Vec<_> = fs::read_dir(&deps)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "whl"))
        .collect();
    let versions: Vec<String> = (0..rounds).map(|i| format!("1.{i}")).collect();
    for v in &versions {
        files.push(make_sdist(work.path(), "bench-pure", v, false, 0));
    }
    let upstream = Upstream::serve(&work.path().join("upstream"), &files);
    // CloudGazer follows another project, so that only piw-add registers these versions.
    let mut farm = Farm::start(&upstream.url, &["--follow", "not-this-one"]);
    farm.start_slave();
    // Let the slave connect and start polling.
    std::thread::sleep(Duration::from_secs(2));

    println!("add to installable (pure-Python sdist, {rounds} versions; seconds)");
    println!(
        "{:>8} {:>10} {:>10} {:>10}",
        "version", "farm", "pip wheel", "overhead"
    );
    let (mut farm_t, mut pip_t, mut over) = (Vec::new(), Vec::new(), Vec::new());
    for v in &versions {
        let pip = pip_wheel(&upstream.url, work.path(), "bench-pure", v);
        let wheel = format!("bench_pure-{v}-py3-none-any.whl");
        let start = Instant::now();
        farm.add("bench-pure", v);
        wait_until(Duration::from_secs(300), &wheel, || {
            let page = http_get(farm.web_port, "/simple/bench-pure/").ok()?;
            (page.contains(&wheel) && farm.output.join("simple/bench-pure").join(&wheel).exists())
                .then_some(())
        });
        let t = start.elapsed().as_secs_f64();
        println!("{v:>8} {t:>10.3} {pip:>10.3} {:>10.3}", t - pip);
        farm_t.push(t);
        pip_t.push(pip);
        over.push(t - pip);
    }
    println!(
        "{:>8} {:>10.3} {:>10.3} {:>10.3}",
        "median",
        median(farm_t),
        median(pip_t),
        median(over)
    );
}

/// utime + stime of a process, seconds; and its resident set, KiB.
fn usage(pid: u32) -> (f64, u64) {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let cpu = (fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap()) / hz;
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    (cpu, rss)
}

fn stats() -> SlaveStats {
    SlaveStats {
        timestamp: Utc::now(),
        disk_size: 1 << 40,
        disk_free: 1 << 39,
        mem_size: 1 << 33,
        mem_free: 1 << 32,
        swap_size: 0,
        swap_free: 0,
        load_average: 0.5,
        cpu_temp: 40.0,
    }
}

/// One simulated slave: HELLO, then IDLE whenever the master says SLEEP, after `pause`.
fn simulated_slave(port: u16, n: u64, pause: Duration, until: Instant) {
    let ctx = zmq::Context::new();
    let endpoint = format!("tcp://127.0.0.1:{port}");
    let mut req: Req<SlaveProtocol> = Req::connect(&ctx, &endpoint, &SocketOptions::new()).unwrap();
    let hello = SlaveHello {
        build_timeout: TimeDelta::hours(3),
        busy_timeout: TimeDelta::minutes(5),
        py_version: "311".into(),
        abi: "cp311".into(),
        platform: "linux_x86_64".into(),
        label: format!("sim-{n}"),
        os_name: "Linux".into(),
        os_version: "bench".into(),
        board_revision: String::new(),
        board_serial: String::new(),
    };
    req.request(&SlaveRequest::Hello(hello), Duration::from_secs(60))
        .unwrap();
    while Instant::now() < until {
        match req
            .request(&SlaveRequest::Idle(stats()), Duration::from_secs(60))
            .unwrap()
        {
            SlaveReply::Sleep(_) => std::thread::sleep(pause),
            other => panic!("simulated slave {n} got {other:?}"),
        }
    }
}

fn footprint(slaves: u64, seconds: u64) {
    let work = tempfile::tempdir().unwrap();
    let upstream = Upstream::serve(&work.path().join("upstream"), &[]);
    let farm = Farm::start(&upstream.url, &[]);
    let pid = farm.master_pid();
    std::thread::sleep(Duration::from_secs(3));
    let (c0, _) = usage(pid);
    std::thread::sleep(Duration::from_secs(seconds));
    let (c1, rss_idle) = usage(pid);
    let idle = (c1 - c0) / seconds as f64 * 100.0;

    let until = Instant::now() + Duration::from_secs(seconds + 5);
    let threads: Vec<_> = (0..slaves)
        .map(|n| {
            let port = farm.slave_port;
            // Real slaves wait 5–10 s after SLEEP; these poll every second, a harder load.
            std::thread::spawn(move || simulated_slave(port, n, Duration::from_secs(1), until))
        })
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    let (c2, _) = usage(pid);
    std::thread::sleep(Duration::from_secs(seconds));
    let (c3, rss_busy) = usage(pid);
    let busy = (c3 - c2) / seconds as f64 * 100.0;
    for t in threads {
        t.join().unwrap();
    }
    println!("master footprint ({seconds} s samples)");
    println!("{:>34} {:>8} {:>10}", "", "CPU %", "RSS MiB");
    println!(
        "{:>34} {idle:>8.2} {:>10.1}",
        "idle",
        rss_idle as f64 / 1024.0
    );
    println!(
        "{:>34} {busy:>8.2} {:>10.1}",
        format!("{slaves} slaves polling every 1 s"),
        rss_busy as f64 / 1024.0
    );
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs it with nothing to do.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    if let Err(why) = python_ready() {
        eprintln!("farm bench: {why}");
        return;
    }
    add_to_installable(arg("--rounds", 5));
    footprint(arg("--slaves", 100), arg("--seconds", 20));
}
