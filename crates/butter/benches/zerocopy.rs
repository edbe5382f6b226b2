//! Every way of moving a file's bytes, side by side in one run: file → loopback TCP and
//! file → file, by read+write, sendfile, splice, copy_file_range and butter's `copy`
//! helper, at 64 KiB and 1 MiB per call and the whole file in one call — with the same
//! methods in C (the team's `bench/c/` programs) and memcpy as the physical ceiling.
//!
//! ```sh
//! cargo bench -p butter --bench zerocopy [-- --reps 5 --size 1G --c-dir ../shared/bench/c]
//! cargo bench -p butter --bench zerocopy -- --only tcp --methods sendfile,splice,copy --reps 41
//! ```
//!
//! Each cell is a fresh process moving the whole file (1 GiB on tmpfs, `/dev/shm`, by
//! default): for TCP it forks a receiver (as the C harness does) that reads into a 1 MiB
//! buffer and throws the data away, the sender pinned to CPU 0 and the receiver to CPU 1, and the clock runs from the first send until the receiver has
//! read the last byte; for files the destination is re-created first. CPU is the sending
//! process's user + system time over the same span (`getrusage`), per GB (10^9 bytes).
//! Cells run interleaved, rep by rep in a rotating order; tables show medians, and ratios
//! to C are medians of per-rep ratios — this machine's speed drifts, so only ratios taken within
//! one rep compare fairly; "vs best here" is the ratio of medians to the fastest method of
//! the row (a per-rep maximum over noisy cells would favour the luckiest). Loopback TCP varies by about ±10 % from one run to the next
//! (for C as for Rust), so comparing TCP rows to a few per cent takes many reps: `--only`
//! and `--methods` narrow a run to some rows. The C cells are left out (with a note) when the C sources or gcc
//! are missing. `--explore` adds rows for choosing the helper's thresholds.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use butter::pipe::{Pipe, SpliceFlags, splice};
use butter::sendfile::{Copier, Method, copy_file_range, copy_with, sendfile_at};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--worker") {
        return worker(&args[2..]);
    }
    let option = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let reps: usize = option("--reps")
        .map_or(5, |r| r.parse().expect("--reps N"))
        .max(1);
    let size = option("--size").map_or(1 << 30, |s| parse_size(&s));
    let file =
        PathBuf::from(option("--file").unwrap_or_else(|| "/dev/shm/butter-bench-1g.dat".into()));
    let explore = args.iter().any(|a| a == "--explore");
    let only = option("--only");
    let methods = option("--methods");
    ensure_file(&file, size);
    let c_dir = option("--c-dir").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/bench/c"
        ))
    });
    let c_bin = build_c(&c_dir);

    let chunks = [64 * KIB, MIB, size];
    let mut cells = Vec::new();
    for &chunk in &chunks {
        let whole = chunk == size;
        for m in ["rw", "sendfile", "splice", "copy"] {
            if whole && (m == "rw" || m == "splice") {
                continue; // one call cannot move a whole file this way (buffer, pipe size)
            }
            cells.push(Cell::ours("tcp", m, chunk));
        }
        for m in ["rw", "sendfile", "splice", "cfr", "copy"] {
            if whole && (m == "rw" || m == "splice") {
                continue;
            }
            cells.push(Cell::ours("file", m, chunk));
        }
        if let Some(bin) = &c_bin {
            for m in ["rw", "sendfile", "splice"] {
                if !whole || m == "sendfile" {
                    cells.push(Cell::c(bin, "tcp", m, chunk));
                }
            }
            for m in ["rw", "sendfile", "cfr"] {
                if !whole || m != "rw" {
                    cells.push(Cell::c(bin, "file", m, chunk));
                }
            }
        }
    }
    if explore {
        for chunk in [4 * KIB, 16 * KIB, 256 * KIB] {
            for m in ["sendfile", "splice", "rw", "copy"] {
                cells.push(Cell::ours("tcp", m, chunk));
            }
        }
    }
    cells.retain(|c| only.as_deref().is_none_or(|d| c.dest == d));
    cells.retain(|c| {
        methods
            .as_deref()
            .is_none_or(|m| m.split(',').any(|m| m == c.method))
    });
    let dst = PathBuf::from(format!("/dev/shm/butter-bench-dst-{}", std::process::id()));
    let mut results: Vec<Vec<(f64, f64)>> = vec![Vec::new(); cells.len()];
    let started = Instant::now();
    for rep in 0..reps {
        let n = cells.len();
        for k in 0..n {
            let i = (k + rep * 7) % n;
            results[i].push(cells[i].run(&file, &dst));
        }
    }
    let _ = std::fs::remove_file(&dst);
    let memcpy = memcpy_gbps(size as usize);
    let c_memcpy = c_bin.as_ref().and_then(|bin| c_memcpy_gbps(bin, size));
    println!(
        "\n{} of {} moved per cell, {reps} interleaved reps in {:.0}s; GB = 10^9 bytes",
        fmt_size(size),
        file.display(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "memcpy ceiling: Rust copy_from_slice {memcpy:.2} GB/s{}",
        c_memcpy.map_or(String::new(), |g| format!(", C memcpy {g:.2} GB/s"))
    );
    if c_bin.is_none() {
        println!("(no C cells: {} or gcc is missing)", c_dir.display());
    }
    report(&cells, &results, &chunks);
}

/// One row of the table: who runs it (butter or C), to where, how, in what chunks.
#[derive(Clone)]
struct Cell {
    c: Option<PathBuf>,
    dest: &'static str,
    method: &'static str,
    chunk: u64,
}

impl Cell {
    fn ours(dest: &'static str, method: &'static str, chunk: u64) -> Cell {
        Cell {
            c: None,
            dest,
            method,
            chunk,
        }
    }

    fn c(bin: &Path, dest: &'static str, method: &'static str, chunk: u64) -> Cell {
        Cell {
            c: Some(bin.to_path_buf()),
            dest,
            method,
            chunk,
        }
    }

    /// Runs the cell once in a fresh process: (GB/s, sender CPU s per GB).
    fn run(&self, file: &Path, dst: &Path) -> (f64, f64) {
        let out = match &self.c {
            None => Command::new(std::env::current_exe().unwrap())
                .args([
                    "--worker",
                    self.dest,
                    self.method,
                    &self.chunk.to_string(),
                    file.to_str().unwrap(),
                    dst.to_str().unwrap(),
                ])
                .output(),
            Some(dir) if self.dest == "tcp" => Command::new(dir.join("tcp_bw"))
                .args([
                    self.method,
                    file.to_str().unwrap(),
                    &self.chunk.to_string(),
                    "pin",
                ])
                .output(),
            Some(dir) => Command::new(dir.join("copy_bw"))
                .args([
                    self.method,
                    file.to_str().unwrap(),
                    dst.to_str().unwrap(),
                    &self.chunk.to_string(),
                ])
                .output(),
        }
        .expect("run a cell");
        let line = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}: {}{}",
            self.label(),
            line,
            String::from_utf8_lossy(&out.stderr)
        );
        let cpu =
            json_num(&line, "sender_cpu_s_per_gb").or_else(|| json_num(&line, "cpu_s_per_gb"));
        (json_num(&line, "gbps").expect("gbps"), cpu.expect("cpu"))
    }

    fn label(&self) -> String {
        format!(
            "{} {}",
            if self.c.is_some() { "C" } else { "butter" },
            self.method
        )
    }
}

fn report(cells: &[Cell], results: &[Vec<(f64, f64)>], chunks: &[u64]) {
    let median = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let mut all_chunks: Vec<u64> = cells.iter().map(|c| c.chunk).collect();
    all_chunks.sort();
    all_chunks.dedup();
    for dest in ["tcp", "file"] {
        println!(
            "\n{}",
            if dest == "tcp" {
                "file -> loopback TCP socket"
            } else {
                "file -> file (tmpfs)"
            }
        );
        println!(
            "{:<8} {:<16} {:>7} {:>9} {:>9} {:>13}",
            "chunk", "method", "GB/s", "CPU s/GB", "vs C", "vs best here"
        );
        for &chunk in &all_chunks {
            let here: Vec<usize> = (0..cells.len())
                .filter(|&i| cells[i].dest == dest && cells[i].chunk == chunk)
                .collect();
            if here.is_empty() {
                continue;
            }
            let reps = results[here[0]].len();
            let gbps_of = |i: usize| median(results[i].iter().map(|r| r.0).collect());
            let cpu_of = |i: usize| median(results[i].iter().map(|r| r.1).collect());
            // The fastest method here by its median (a per-rep maximum would favour noise).
            let best = here
                .iter()
                .copied()
                .filter(|&i| cells[i].method != "copy")
                .max_by(|&a, &b| gbps_of(a).total_cmp(&gbps_of(b)))
                .unwrap();
            for &i in &here {
                let cell = &cells[i];
                let vs_c = cell.c.is_none().then(|| {
                    here.iter()
                        .find(|&&j| cells[j].c.is_some() && cells[j].method == cell.method)
                        .map(|&j| {
                            median(
                                (0..reps)
                                    .map(|r| results[i][r].0 / results[j][r].0)
                                    .collect(),
                            )
                        })
                });
                let vs_c = vs_c.flatten().map_or(String::new(), |x| format!("{x:.3}"));
                println!(
                    "{:<8} {:<16} {:>7.2} {:>9.3} {:>9} {:>13.3}",
                    if chunks.contains(&chunk) && chunk == *chunks.last().unwrap() {
                        "whole".into()
                    } else {
                        fmt_size(chunk)
                    },
                    cell.label(),
                    gbps_of(i),
                    cpu_of(i),
                    vs_c,
                    gbps_of(i) / gbps_of(best)
                );
            }
            println!(
                "{:<8} fastest here: {} at {:.2} GB/s, {:.3} CPU s/GB",
                "",
                cells[best].label(),
                gbps_of(best),
                cpu_of(best)
            );
        }
    }
}

/// One cell in this process (the `--worker` mode): prints its JSON line.
fn worker(args: &[String]) {
    let (dest, method, chunk, path, dst) = (
        args[0].as_str(),
        args[1].as_str(),
        args[2].parse::<u64>().unwrap(),
        &args[3],
        &args[4],
    );
    let file = File::open(path).unwrap();
    let size = file.metadata().unwrap().len();
    let (secs, cpu) = if dest == "tcp" {
        // As the C harness does: a forked receiver, reporting its count through a pipe.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let report = Pipe::new().unwrap();
        // SAFETY: this worker process has one thread; the child only reads a socket and
        // writes to a pipe, then leaves with _exit.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                drop(listener);
                pin_to(1);
                let total = receive(port);
                let _ = File::from(report.write).write_all(&total.to_ne_bytes());
                // SAFETY: leaves the child at once.
                unsafe { libc::_exit(0) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                drop(report.write);
                pin_to(0);
                let (sock, _) = listener.accept().unwrap();
                let (t0, c0) = (Instant::now(), cpu_seconds());
                send(method, &sock, &file, size, chunk);
                sock.shutdown(std::net::Shutdown::Write).unwrap();
                let mut got = [0u8; 8];
                File::from(report.read).read_exact(&mut got).unwrap();
                let (t, c) = (t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
                nix::sys::wait::waitpid(child, None).unwrap();
                assert_eq!(u64::from_ne_bytes(got), size, "the receiver got everything");
                (t, c)
            }
        }
    } else {
        let _ = std::fs::remove_file(dst);
        let out = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(dst)
            .unwrap();
        let (t0, c0) = (Instant::now(), cpu_seconds());
        send(method, &out, &file, size, chunk);
        let (t, c) = (t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
        assert_eq!(out.metadata().unwrap().len(), size);
        (t, c)
    };
    let gb = size as f64 / 1e9;
    println!(
        "{{\"gbps\": {:.4}, \"sender_cpu_s_per_gb\": {:.4}}}",
        gb / secs,
        cpu / gb
    );
}

/// Moves the whole file to `out`, `chunk` bytes per call, by `method`.
fn send(method: &str, out: &impl AsFd, file: &File, size: u64, chunk: u64) {
    let mut off = 0u64;
    match method {
        "sendfile" => {
            while off < size {
                let n = sendfile_at(out, file, &mut off, chunk as usize).unwrap();
                assert!(n > 0);
            }
        }
        "cfr" => {
            while off < size {
                let n = copy_file_range(file, Some(&mut off), out, None, chunk as usize).unwrap();
                assert!(n > 0);
            }
        }
        "splice" => {
            let pipe = Pipe::new().unwrap();
            if chunk > 64 * KIB {
                pipe.set_size(chunk as usize).unwrap();
            }
            let flags = SpliceFlags::MOVE | SpliceFlags::MORE;
            while off < size {
                let mut n = splice(
                    file,
                    Some(&mut off),
                    &pipe.write,
                    None,
                    chunk as usize,
                    flags,
                )
                .unwrap();
                assert!(n > 0);
                while n > 0 {
                    n -= splice(&pipe.read, None, out, None, n, flags).unwrap();
                }
            }
        }
        "rw" => {
            while off < size {
                let n = copy_with(Method::ReadWrite, false, out, file, &mut off, chunk).unwrap();
                assert!(n > 0);
            }
        }
        "copy" => {
            // As a caller streaming a file in pieces would: one Copier, "more follows" until
            // the last piece.
            let to = Copier::new(out);
            while off < size {
                let n = if off + chunk < size {
                    to.copy_more(file, &mut off, chunk).unwrap()
                } else {
                    to.copy(file, &mut off, chunk).unwrap()
                };
                assert!(n > 0);
            }
        }
        other => panic!("unknown method {other}"),
    }
}

/// Pins the calling process to one CPU (as the C harness's `pin` does: sender on CPU 0,
/// receiver on CPU 1), so that the scheduler's placement does not add to the noise.
fn pin_to(cpu: usize) {
    let mut set = nix::sched::CpuSet::new();
    set.set(cpu).unwrap();
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set).unwrap();
}

/// The receiver: reads everything into a 1 MiB buffer; returns the count.
fn receive(port: u16) -> u64 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut buf = vec![0u8; MIB as usize];
    let mut total = 0u64;
    loop {
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            return total;
        }
        total += n as u64;
    }
}

/// User + system CPU time of this process so far.
fn cpu_seconds() -> f64 {
    use nix::sys::resource::{UsageWho, getrusage};
    use nix::sys::time::TimeValLike;
    let r = getrusage(UsageWho::RUSAGE_SELF).unwrap();
    (r.user_time().num_microseconds() + r.system_time().num_microseconds()) as f64 * 1e-6
}

fn ensure_file(path: &Path, size: u64) {
    if path.metadata().is_ok_and(|m| m.len() == size) {
        return;
    }
    let mut f = File::create(path).unwrap();
    let block = vec![b'x'; MIB as usize];
    let mut left = size;
    while left > 0 {
        let n = left.min(MIB) as usize;
        f.write_all(&block[..n]).unwrap();
        left -= n as u64;
    }
}

/// Compiles the C programs (if their sources and gcc are there) into target/bench-c.
fn build_c(dir: &Path) -> Option<PathBuf> {
    let out = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/bench-c"));
    std::fs::create_dir_all(&out).ok()?;
    for prog in ["tcp_bw", "copy_bw", "memcpy_bw"] {
        let src = dir.join(format!("{prog}.c"));
        if !src.exists() {
            return None;
        }
        let ok = Command::new("gcc")
            .args(["-O2", "-o"])
            .arg(out.join(prog))
            .arg(&src)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return None;
        }
    }
    Some(out)
}

fn c_memcpy_gbps(bin: &Path, size: u64) -> Option<f64> {
    let out = Command::new(bin.join("memcpy_bw"))
        .arg(size.to_string())
        .output()
        .ok()?;
    json_num(&String::from_utf8_lossy(&out.stdout), "gbps_median")
}

/// Single-thread memcpy bandwidth with buffers of `size` bytes (pages touched first).
fn memcpy_gbps(size: usize) -> f64 {
    let src = vec![0x5au8; size];
    let mut dst = vec![0u8; size];
    let mut best = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        dst.copy_from_slice(std::hint::black_box(&src));
        best.push(size as f64 / t.elapsed().as_secs_f64() / 1e9);
    }
    assert_eq!(dst[size / 2], 0x5a);
    best.sort_by(|a, b| a.total_cmp(b));
    best[best.len() / 2]
}

fn json_num(line: &str, key: &str) -> Option<f64> {
    let at = line.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = line[at..].trim_start();
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end].trim().parse().ok()
}

fn parse_size(s: &str) -> u64 {
    let (num, mul) = match s.as_bytes().last() {
        Some(b'G') => (&s[..s.len() - 1], 1 << 30),
        Some(b'M') => (&s[..s.len() - 1], MIB),
        Some(b'K') => (&s[..s.len() - 1], KIB),
        _ => (s, 1),
    };
    num.parse::<u64>().expect("--size N[K|M|G]") * mul
}

fn fmt_size(n: u64) -> String {
    match n {
        n if n >= 1 << 30 && n % (1 << 30) == 0 => format!("{}G", n >> 30),
        n if n >= MIB && n % MIB == 0 => format!("{}M", n / MIB),
        n if n >= KIB && n % KIB == 0 => format!("{}K", n / KIB),
        n => n.to_string(),
    }
}
