//! Encode + decode (decoding validates) of a slave's HELLO, an IDLE and a BUILT carrying
//! 10 files, against Python's cbor2 doing the same as piwheels 0.23, side by side.
//!
//! ```sh
//! cargo bench -p piwheels-protocol --bench codec [-- --rounds 31 --cell-ms 20]
//! ```
//!
//! (or `CODEC_ROUNDS`, `CODEC_CELL_MS`). Python is `PIWHEELS_TEST_PYTHON`, else the venv
//! `scripts/py-env` makes (cbor2 5.6.5 with its C extension, voluptuous); it runs
//! `benches/codec_cbor2.py --serve`, which times its side itself, so neither process
//! start-up nor the pipe is in any figure. Without Python, only the Rust rows are shown.
//!
//! Three implementations per message:
//!
//! * Rust: `Message::encode`, then `Message::decode`, which checks the frame against the
//!   message's schema; the encoder needs no check, its input being typed;
//! * Python cbor2: `dumps` with piwheels' timedelta hook, then `loads` with its tag hook;
//! * Python cbor2 + voluptuous: what piwheels pays per message, which validates the data
//!   on sending and again on receipt.
//!
//! Before timing, the bench checks that both sides encode each message to the same bytes.
//! The cells (3 per message) run interleaved, round by round, in a rotating order; each
//! runs for about `--cell-ms` (the number of messages is calibrated once per cell). The
//! table gives each cell's median ns per message and the median of its per-round ratios
//! to Rust's: this machine's speed drifts, so a ratio taken within one round compares
//! fairly.

mod common;

use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, TimeZone, Utc};
use common::{median, option, python};
use indexmap::IndexMap;
use piwheels_protocol::Message;
use piwheels_protocol::slave::{BuiltReport, SlaveHello, SlaveRequest, SlaveStats};
use piwheels_protocol::states::FileState;

fn main() {
    let rounds: usize =
        option("--rounds", "CODEC_ROUNDS").map_or(31, |v| v.parse().expect("--rounds N"));
    let cell = option("--cell-ms", "CODEC_CELL_MS").map_or(20, |v| v.parse().expect("--cell-ms N"));
    let budget = Duration::from_millis(cell);

    let messages = [("HELLO", hello()), ("IDLE", idle()), ("BUILT", built())];
    let frames: Vec<Vec<u8>> = messages
        .iter()
        .map(|(name, m)| {
            let frame = m.encode().expect("encodes");
            assert_eq!(&SlaveRequest::decode(&frame).expect("decodes"), m, "{name}");
            frame
        })
        .collect();

    let mut python = match Python::start() {
        Ok(python) => {
            for ((name, _), frame) in messages.iter().zip(&frames) {
                let theirs = &python.frames[*name];
                assert_eq!(
                    theirs,
                    frame,
                    "{name}: cbor2 and Rust encode differently\n  cbor2: {}\n  Rust:  {}",
                    hex(theirs),
                    hex(frame)
                );
            }
            Some(python)
        }
        Err(why) => {
            println!("no Python side: {why}");
            None
        }
    };

    let mut cells = Vec::new();
    for i in 0..messages.len() {
        cells.push(Cell {
            message: i,
            kind: Kind::Rust,
            ops: 0,
            ns: Vec::new(),
        });
        if python.is_some() {
            for kind in [Kind::Cbor2, Kind::Voluptuous] {
                cells.push(Cell {
                    message: i,
                    kind,
                    ops: 0,
                    ns: Vec::new(),
                });
            }
        }
    }

    // Calibration (which warms every cell up): the number of messages that fills the budget.
    for cell in &mut cells {
        let mut ops = 1u64;
        loop {
            let ns = cell.run(&messages, python.as_mut(), ops);
            let spent = ns * ops as f64;
            if spent >= budget.as_nanos() as f64 / 10.0 || ops >= 1 << 30 {
                cell.ops = ((budget.as_nanos() as f64 / ns) as u64).max(1);
                break;
            }
            ops *= 10;
        }
    }

    let started = Instant::now();
    for round in 0..rounds {
        for k in 0..cells.len() {
            let i = (k + round) % cells.len();
            let ops = cells[i].ops;
            let ns = cells[i].run(&messages, python.as_mut(), ops);
            cells[i].ns.push(ns);
        }
    }

    println!(
        "\nEncode + decode (decoding validates) of one slave message; {rounds} interleaved \
         rounds of ~{cell} ms per cell in {:.1?}",
        started.elapsed()
    );
    if let Some(python) = &python {
        println!("Python side: {}", python.versions);
    }
    println!(
        "{:<7} {:>7}  {:<40} {:>11} {:>21} {:>9}",
        "message", "frame", "implementation", "ns/msg", "min-max", "vs Rust"
    );
    for (i, ((name, _), frame)) in messages.iter().zip(&frames).enumerate() {
        let rust = cells
            .iter()
            .find(|c| c.message == i && c.kind == Kind::Rust)
            .expect("Rust");
        for (row, cell) in cells.iter().filter(|c| c.message == i).enumerate() {
            let ratios: Vec<f64> = cell.ns.iter().zip(&rust.ns).map(|(x, r)| x / r).collect();
            let (lo, hi) = cell
                .ns
                .iter()
                .fold((f64::MAX, f64::MIN), |(l, h), &x| (l.min(x), h.max(x)));
            let (label, size) = if row == 0 {
                (*name, format!("{} B", frame.len()))
            } else {
                ("", String::new())
            };
            println!(
                "{:<7} {:>7}  {:<40} {:>11.0} {:>21} {:>8.1}x",
                label,
                size,
                cell.kind.label(),
                median(&cell.ns),
                format!("{lo:.0}-{hi:.0}"),
                median(&ratios)
            );
        }
    }
}

/// One implementation on one message, and its figures.
struct Cell {
    message: usize,
    kind: Kind,
    ops: u64,
    ns: Vec<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rust,
    Cbor2,
    Voluptuous,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Rust => "Rust encode + decode",
            Kind::Cbor2 => "Python cbor2 dumps + loads",
            Kind::Voluptuous => "Python cbor2 + voluptuous (as piwheels)",
        }
    }
}

impl Cell {
    /// Runs `ops` messages through this cell; returns ns per message.
    fn run(&self, messages: &[(&str, SlaveRequest)], python: Option<&mut Python>, ops: u64) -> f64 {
        let (name, msg) = &messages[self.message];
        match self.kind {
            Kind::Rust => {
                let start = Instant::now();
                for _ in 0..ops {
                    let frame = black_box(msg).encode().expect("encodes");
                    black_box(SlaveRequest::decode(black_box(&frame)).expect("decodes"));
                }
                start.elapsed().as_nanos() as f64 / ops as f64
            }
            Kind::Cbor2 => python
                .expect("Python cells need Python")
                .time(name, "cbor2", ops),
            Kind::Voluptuous => {
                python
                    .expect("Python cells need Python")
                    .time(name, "cbor2+voluptuous", ops)
            }
        }
    }
}

/// `benches/codec_cbor2.py --serve`, and what it said on starting.
struct Python {
    _child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    frames: IndexMap<String, Vec<u8>>,
    versions: String,
}

impl Python {
    fn start() -> Result<Python, String> {
        let python = python()?;
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/codec_cbor2.py");
        let mut child = Command::new(&python)
            .args([script, "--serve"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{}: {e}", python.display()))?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut python = Python {
            _child: child,
            stdin,
            stdout,
            frames: IndexMap::new(),
            versions: String::new(),
        };
        loop {
            let line = python.line()?;
            let mut words = line.split_whitespace();
            match words.next() {
                Some("frame") => {
                    let (Some(name), Some(bytes)) = (words.next(), words.next()) else {
                        return Err(format!("bad line from the script: {line:?}"));
                    };
                    python.frames.insert(name.into(), unhex(bytes)?);
                }
                Some("versions") => python.versions = words.collect::<Vec<_>>().join(", "),
                Some("ready") => return Ok(python),
                _ => return Err(format!("bad line from the script: {line:?}")),
            }
        }
    }

    fn line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(0) => Err("the script exited (see its error above)".into()),
            Ok(_) => Ok(line.trim_end().to_string()),
            Err(e) => Err(format!("reading from the script: {e}")),
        }
    }

    /// Has the script time `ops` messages of one kind; returns its ns per message.
    fn time(&mut self, name: &str, kind: &str, ops: u64) -> f64 {
        writeln!(self.stdin, "time {name} {kind} {ops}").expect("the script takes commands");
        self.stdin.flush().expect("the script takes commands");
        let line = self.line().expect("the script answers");
        line.parse()
            .unwrap_or_else(|_| panic!("the script answered {line:?}"))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Result<Vec<u8>, String> {
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|d| u8::from_str_radix(d, 16).ok()))
        .collect::<Option<_>>()
        .ok_or_else(|| format!("not hex: {s:?}"))
}

// The messages; `codec_cbor2.py` builds the same values.

/// The spec's example HELLO (piwheels.md §2.2).
fn hello() -> SlaveRequest {
    SlaveRequest::Hello(SlaveHello {
        build_timeout: TimeDelta::hours(3),
        busy_timeout: TimeDelta::minutes(5),
        py_version: "311".into(),
        abi: "cp311".into(),
        platform: "linux_armv7l".into(),
        label: "slave1".into(),
        os_name: "Debian GNU/Linux".into(),
        os_version: "12 (bookworm)".into(),
        board_revision: "unknown".into(),
        board_serial: "unknown".into(),
    })
}

/// A Raspberry Pi 3's IDLE: 32 GB card, 4 GB RAM, 100 MB swap.
fn idle() -> SlaveRequest {
    SlaveRequest::Idle(SlaveStats {
        timestamp: Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, 9).unwrap()
            + TimeDelta::microseconds(123_456),
        disk_size: 31_254_233_088,
        disk_free: 18_253_611_008,
        mem_size: 3_977_629_696,
        mem_free: 3_101_892_608,
        swap_size: 104_853_504,
        swap_free: 104_853_504,
        load_average: 0.42,
        cpu_temp: 48.2,
    })
}

/// A successful BUILT: a 2 KB log and 10 wheels, each with 3 apt and 2 pip dependencies.
fn built() -> SlaveRequest {
    let mut output: String = (0..64)
        .map(|i| format!("{i:04} Building wheel for foo (setup.py): still running...\n"))
        .collect();
    output.truncate(2048);
    let files = (0..10)
        .map(|i| FileState {
            filename: format!("pkg{i}-1.2.{i}-cp311-cp311-linux_armv7l.whl"),
            filesize: 100_000 + i * 7919,
            filehash: format!("{i:02x}").repeat(32),
            package_tag: format!("pkg{i}"),
            package_version_tag: format!("1.2.{i}"),
            py_version_tag: "cp311".into(),
            abi_tag: "cp311".into(),
            platform_tag: "linux_armv7l".into(),
            requires_python: Some(">=3.8".into()),
            dependencies: IndexMap::from([
                (
                    "apt".to_string(),
                    vec!["libc6".into(), "libgcc-s1".into(), format!("libpkg{i}-0")],
                ),
                ("pip".to_string(), vec!["numpy".into(), format!("dep{i}")]),
            ]),
            location: "/simple".into(),
        })
        .collect();
    SlaveRequest::Built(BuiltReport {
        status: true,
        duration: TimeDelta::seconds(95) + TimeDelta::microseconds(250_000),
        output,
        files,
    })
}
