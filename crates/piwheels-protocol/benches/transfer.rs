//! File-transfer throughput: the piwheels transfer protocol (HELLO / FETCH / CHUNK / DONE
//! over loopback ZeroMQ TCP, DEALER client → ROUTER master running `TransferFile`) against a
//! plain TCP copy of the same bytes, from a file in /dev/shm to a file in /dev/shm.
//!
//! ```sh
//! cargo bench -p piwheels-protocol --bench transfer \
//!     [-- --reps 15 --size 100M --windows 512Kix4,2Mix2 --explore]
//! ```
//!
//! Each ZeroMQ window runs twice, plain (NULL mechanism) and encrypted (CURVE, the server's
//! connections put to a ZAP handler with the client's key in its allow-list, as the master
//! runs its file queue), and the table ends with the per-rep ratio CURVE / plain.
//!
//! The CURVE cells end with their floor, timed in the same run: libsodium's `crypto_box`
//! encrypting and decrypting the same bytes on one core ([`crypto_floor`]), the work
//! CURVE adds to every byte whatever ZeroMQ does around it.
//!
//! `--no-python` leaves out the row of the original's algorithm in Python (pyzmq, from
//! `scripts/py-env`), which otherwise runs in the same interleaved reps.
//!
//! (or `TRANSFER_REPS`, `TRANSFER_SIZE`, `TRANSFER_WINDOWS`, `TRANSFER_EXPLORE=1`). Sizes
//! take K/M/G suffixes in powers of ten, Ki/Mi/Gi in powers of two; a window is a chunk size
//! and a pipeline depth. MB/s means 10^6 bytes a second.
//!
//! The cells run interleaved, rep by rep, in a rotating order, and the table gives each
//! one's median and the median of its per-rep ratios to the TCP copy: this machine's speed
//! drifts, so a ratio taken within one rep compares fairly. Each cell's received file is
//! compared with the source once, outside the timed part, so no figure is of a broken copy.
//! `--explore` adds a grid of chunk sizes and pipeline depths (and other buffer sizes for
//! the plain copy), to choose the defaults. The last column counts the process's minor page
//! faults per MB moved: buffers the allocator gave back to the kernel and faulted in again.

mod common;
#[path = "transfer/crypto_floor.rs"]
mod crypto_floor;

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Seek, Write};
use std::net::{TcpListener, TcpStream};
use std::num::{NonZeroU32, NonZeroU64};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{median, option, python};
use piwheels_protocol::auth::{KeyPair, Policy, ZapHandler};
use piwheels_protocol::transfer::{
    ClientFrame, DEFAULT_CHUNK_SIZE, DEFAULT_PIPELINE, ORIGINAL_CHUNK_SIZE, ORIGINAL_PIPELINE,
    ServerFrame, TransferFile, TransferState, chunk_frames, hello_frames,
};
use piwheels_protocol::transport::{FILE_QUEUE_HWM, RawDealer, RawRouter, Security, SocketOptions};

/// The plain copy's buffer (the baseline's; `--explore` tries others).
const TCP_BUFFER: usize = 1 << 20;

fn main() -> io::Result<()> {
    let reps = option("--reps", "TRANSFER_REPS")
        .map_or(15, |v| v.parse().expect("--reps N"))
        .max(1);
    let size = option("--size", "TRANSFER_SIZE").map_or(100_000_000, |v| parse_size(&v));
    let explore = std::env::args().any(|a| a == "--explore")
        || std::env::var_os("TRANSFER_EXPLORE").is_some_and(|v| v != "0");

    let dir = Path::new("/dev/shm");
    let source = dir.join(format!(
        "piwheels-bench-transfer-{}.src",
        std::process::id()
    ));
    let dest = dir.join(format!(
        "piwheels-bench-transfer-{}.dst",
        std::process::id()
    ));
    let _cleanup = Cleanup(vec![source.clone(), dest.clone()]);
    write_source(&source, size)?;

    let keys = CurveKeys::new()?;
    let mut cells: Vec<Cell> = vec![
        Cell::Tcp(TCP_BUFFER),
        Cell::Zmq(ORIGINAL_CHUNK_SIZE.get(), ORIGINAL_PIPELINE.get(), false),
        Cell::Zmq(DEFAULT_CHUNK_SIZE.get(), DEFAULT_PIPELINE.get(), false),
        Cell::Zmq(ORIGINAL_CHUNK_SIZE.get(), ORIGINAL_PIPELINE.get(), true),
        Cell::Zmq(DEFAULT_CHUNK_SIZE.get(), DEFAULT_PIPELINE.get(), true),
    ];
    let python = if std::env::args().any(|a| a == "--no-python") {
        None
    } else {
        python()
            .inspect_err(|e| eprintln!("no Python peers ({e}): the original's row is left out"))
            .ok()
    };
    if python.is_some() {
        cells.insert(1, Cell::Python);
    }
    if let Some(list) = option("--windows", "TRANSFER_WINDOWS") {
        for w in list.split(',') {
            let (chunk, pipeline) = w.split_once('x').expect("--windows CHUNKxPIPELINE,...");
            for curve in [false, true] {
                let cell = Cell::Zmq(
                    parse_size(chunk),
                    pipeline.parse().expect("pipeline"),
                    curve,
                );
                if !cells.contains(&cell) {
                    cells.push(cell);
                }
            }
        }
    }
    if explore {
        cells.extend([64 << 10, 256 << 10, 4 << 20].map(Cell::Tcp));
        for chunk in [256 << 10, 512 << 10, 1 << 20, 2 << 20, 4 << 20] {
            for pipeline in [2, 3, 4, 10] {
                let cell = Cell::Zmq(chunk, pipeline, false);
                if !cells.contains(&cell) {
                    cells.push(cell);
                }
            }
        }
    }

    // One warm-up run per cell, whose result is checked against the source.
    for cell in &cells {
        cell.run(&source, &dest, size, python.as_deref(), &keys)?;
        verify(&source, &dest, cell)?;
    }
    let mut rates = vec![Vec::with_capacity(reps); cells.len()];
    let mut faults = vec![Vec::with_capacity(reps); cells.len()];
    let started = Instant::now();
    for rep in 0..reps {
        for k in 0..cells.len() {
            let i = (k + rep) % cells.len();
            let before = minor_faults();
            let elapsed = cells[i].run(&source, &dest, size, python.as_deref(), &keys)?;
            let faulted = minor_faults().saturating_sub(before);
            rates[i].push(size as f64 / 1e6 / elapsed.as_secs_f64());
            faults[i].push(faulted as f64 / (size as f64 / 1e6));
        }
    }

    println!(
        "\nfile transfer of {} MB over loopback, /dev/shm to /dev/shm; {reps} interleaved reps \
         in {:.1?}",
        size as f64 / 1e6,
        started.elapsed()
    );
    println!(
        "{:<34} {:>10} {:>19} {:>9} {:>10}",
        "cell", "MB/s", "min-max", "vs TCP", "faults/MB"
    );
    for (i, cell) in cells.iter().enumerate() {
        let ratios: Vec<f64> = rates[i].iter().zip(&rates[0]).map(|(x, b)| x / b).collect();
        let lo = rates[i].iter().copied().fold(f64::MAX, f64::min);
        let hi = rates[i].iter().copied().fold(f64::MIN, f64::max);
        println!(
            "{:<34} {:>10.0} {:>19} {:>9.3} {:>10.1}",
            cell.name(),
            median(&rates[i]),
            format!("{lo:.0}-{hi:.0}"),
            median(&ratios),
            median(&faults[i])
        );
    }
    // CURVE against the plain transfer of the same window, rep by rep.
    for (i, cell) in cells.iter().enumerate() {
        let Cell::Zmq(chunk, pipeline, true) = *cell else {
            continue;
        };
        let Some(plain) = cells
            .iter()
            .position(|c| *c == Cell::Zmq(chunk, pipeline, false))
        else {
            continue;
        };
        let ratios: Vec<f64> = rates[i]
            .iter()
            .zip(&rates[plain])
            .map(|(x, b)| x / b)
            .collect();
        println!(
            "CURVE / plain, zmq {} KiB x {pipeline}: {:.3} (median of per-rep ratios); \
             CURVE took {:.2} ms/MB more than plain",
            chunk >> 10,
            median(&ratios),
            1e3 / median(&rates[i]) - 1e3 / median(&rates[plain]),
        );
    }
    let chunk = usize::try_from(DEFAULT_CHUNK_SIZE.get()).expect("a chunk fits in memory");
    let (encrypt, decrypt) = crypto_floor::crypto_box_times(size, chunk);
    let mb = size as f64 / 1e6;
    println!(
        "floor: libsodium crypto_box of the same bytes in {} KiB messages, one core: encrypt \
         {:.0} MB/s, decrypt {:.0} MB/s, so CURVE adds {:.2} ms/MB of CPU (sender and \
         receiver together) to a transfer's",
        chunk >> 10,
        mb / encrypt.as_secs_f64(),
        mb / decrypt.as_secs_f64(),
        1e3 * (encrypt + decrypt).as_secs_f64() / mb,
    );
    Ok(())
}

/// The key pairs of the CURVE cells, and the allow-list folder holding the client's.
struct CurveKeys {
    server: KeyPair,
    client: KeyPair,
    allow_list: tempfile::TempDir,
}

impl CurveKeys {
    fn new() -> io::Result<Self> {
        let server = KeyPair::generate().map_err(io::Error::other)?;
        let client = KeyPair::generate().map_err(io::Error::other)?;
        let allow_list = tempfile::tempdir()?;
        client
            .write(&allow_list.path().join("client"))
            .map_err(io::Error::other)?;
        Ok(CurveKeys {
            server,
            client,
            allow_list,
        })
    }
}

/// One way of moving the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cell {
    /// A plain TCP copy with `std::net`, through a buffer of this size.
    Tcp(usize),
    /// The piwheels protocol over ZeroMQ with this chunk size and pipeline depth, with
    /// CURVE if the flag is set.
    Zmq(u64, u32, bool),
    /// The original's algorithm and stack: Python and pyzmq, 64 KiB x 10.
    Python,
}

impl Cell {
    fn name(&self) -> String {
        match *self {
            Cell::Tcp(buffer) => format!("plain TCP copy, {} KiB buffer", buffer >> 10),
            Cell::Python => "original (Python, pyzmq) 64 KiB x 10".into(),
            Cell::Zmq(chunk, pipeline, curve) => {
                let which = if (chunk, pipeline)
                    == (ORIGINAL_CHUNK_SIZE.get(), ORIGINAL_PIPELINE.get())
                {
                    " original"
                } else if (chunk, pipeline) == (DEFAULT_CHUNK_SIZE.get(), DEFAULT_PIPELINE.get()) {
                    " default"
                } else {
                    ""
                };
                let mechanism = if curve { " CURVE" } else { "" };
                format!("zmq{mechanism} {} KiB x {pipeline}{which}", chunk >> 10)
            }
        }
    }

    /// Copies `source` to a fresh `dest`; returns the time from the first connection to the
    /// last byte written and acknowledged.
    fn run(
        &self,
        source: &Path,
        dest: &Path,
        size: u64,
        python: Option<&Path>,
        keys: &CurveKeys,
    ) -> io::Result<Duration> {
        match fs::remove_file(dest) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        match *self {
            Cell::Tcp(buffer) => tcp_copy(source, dest, buffer),
            Cell::Zmq(chunk, pipeline, curve) => {
                let keys = curve.then_some(keys);
                zmq_transfer(source, dest, size, (chunk, pipeline), keys)
            }
            Cell::Python => python_transfer(python.expect("a Python"), source, dest, size),
        }
    }
}

fn tcp_copy(source: &Path, dest: &Path, buffer: usize) -> io::Result<Duration> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let mut input = File::open(source)?;
    let start = Instant::now();
    let sender = thread::spawn(move || -> io::Result<()> {
        let mut socket = TcpStream::connect(addr)?;
        let mut buf = vec![0; buffer];
        loop {
            let n = input.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            socket.write_all(&buf[..n])?;
        }
    });
    let (mut socket, _) = listener.accept()?;
    let mut output = File::create(dest)?;
    let mut buf = vec![0; buffer];
    loop {
        let n = socket.read(&mut buf)?;
        if n == 0 {
            break;
        }
        output.write_all(&buf[..n])?;
    }
    let elapsed = start.elapsed();
    sender.join().expect("sender thread")?;
    Ok(elapsed)
}

/// The master (a [`RawRouter`], here) and the client (a [`RawDealer`], in a thread) each
/// with a ZeroMQ context of their own, as two processes would have: the sockets and frame
/// types our master and slave use. With `keys`, the router is a CURVE server whose
/// context runs a ZAP handler, and the dealer a CURVE client.
fn zmq_transfer(
    source: &Path,
    dest: &Path,
    size: u64,
    (chunk, pipeline): (u64, u32),
    keys: Option<&CurveKeys>,
) -> io::Result<Duration> {
    let state = TransferState::with_window(
        size,
        NonZeroU64::new(chunk).expect("chunk > 0"),
        NonZeroU32::new(pipeline).expect("pipeline > 0"),
    );
    let master_ctx = zmq::Context::new();
    let (server_security, client_security, _zap) = match keys {
        None => (Security::Null, Security::Null, None),
        Some(k) => {
            let policy = Policy::new(Some(k.allow_list.path().into()), Vec::new());
            let zap = ZapHandler::start(&master_ctx, policy.into(), |r| {
                eprintln!("CURVE cell: the ZAP handler refused {r}")
            })
            .map_err(io::Error::other)?;
            let client = Security::CurveClient {
                server: k.server.public,
                own: k.client,
            };
            (Security::CurveServer(k.server.secret), client, Some(zap))
        }
    };
    let mut router = RawRouter::bind(
        &master_ctx,
        "tcp://127.0.0.1:*",
        &SocketOptions::new()
            .hwm(FILE_QUEUE_HWM)
            .security(server_security),
    )
    .map_err(io::Error::other)?;
    let endpoint = router.endpoint().map_err(io::Error::other)?;
    let input = File::open(source)?;

    let start = Instant::now();
    let client = thread::spawn(move || -> io::Result<()> {
        let ctx = zmq::Context::new();
        // As the original slave's file-transfer socket: high-water marks of 10.
        let options = SocketOptions::new().hwm(10).security(client_security);
        let mut dealer = RawDealer::connect(&ctx, &endpoint, &options).map_err(io::Error::other)?;
        dealer.send(hello_frames(1)).map_err(io::Error::other)?;
        loop {
            let parts = dealer.recv().map_err(io::Error::other)?;
            match ServerFrame::parse(&parts).map_err(io::Error::other)? {
                ServerFrame::Fetch { offset, length } => {
                    let data = read_chunk(&input, offset, length)?;
                    dealer
                        .send(chunk_frames(offset, data))
                        .map_err(io::Error::other)?;
                }
                ServerFrame::Done => return Ok(()),
            }
        }
    });

    let mut file = TransferFile::new(File::create(dest)?, state)?;
    let mut done = false;
    while !done {
        let (peer, frames) = router.recv().map_err(io::Error::other)?;
        let frames = frames.map_err(io::Error::other)?;
        let frame = ClientFrame::parse(&frames).map_err(io::Error::other)?;
        file.handle(&frame, Instant::now())
            .map_err(io::Error::other)?;
        while let Some(reply) = file.state_mut().next_frame() {
            done |= reply == ServerFrame::Done;
            router
                .send_to(&peer, reply.frames())
                .map_err(io::Error::other)?;
        }
    }
    client.join().expect("client thread")?;
    Ok(start.elapsed())
}

/// The original's algorithm in Python (pyzmq; `tests/peer/transfer_master.py` and
/// `transfer_client.py`, as piwheels 0.23's FileJuggler and slave do it), in two
/// processes; the time is the master's, from the first HELLO to DONE, so interpreter
/// start-up is not counted.
fn python_transfer(python: &Path, source: &Path, dest: &Path, size: u64) -> io::Result<Duration> {
    let peers = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peer");
    let mut master = Command::new(python)
        .arg("transfer_master.py")
        .args(["tcp://127.0.0.1:*", "1", &size.to_string()])
        .arg(dest)
        .current_dir(peers)
        .stdout(Stdio::piped())
        .spawn()?;
    let mut lines = BufReader::new(master.stdout.take().expect("piped")).lines();
    let endpoint = lines.next().transpose()?.unwrap_or_default();
    let client = Command::new(python)
        .arg("transfer_client.py")
        .args([endpoint.as_str(), "1"])
        .arg(source)
        .current_dir(peers)
        .stdout(Stdio::null())
        .status()?;
    let done = lines.next().transpose()?.unwrap_or_default();
    if !master.wait()?.success() || !client.success() {
        return Err(io::Error::other("the Python transfer failed"));
    }
    let secs: f64 = done
        .strip_prefix("done ")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("unexpected output {done:?}")))?;
    Ok(Duration::from_secs_f64(secs))
}

/// Reads `length` bytes at `offset` into a buffer of exactly that capacity, which then goes
/// into a `zmq::Message` without a copy. `read_to_end` reads into the spare capacity as it
/// is, so the buffer is not zeroed first (zeroing it costs as much as a copy).
fn read_chunk(mut input: &File, offset: u64, length: u64) -> io::Result<Vec<u8>> {
    let mut data = Vec::with_capacity(usize::try_from(length).map_err(io::Error::other)?);
    input.seek(io::SeekFrom::Start(offset))?;
    input.take(length).read_to_end(&mut data)?;
    if data.len() as u64 != length {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "source file too short",
        ));
    }
    Ok(data)
}

fn verify(source: &Path, dest: &Path, cell: &Cell) -> io::Result<()> {
    if fs::read(source)? != fs::read(dest)? {
        return Err(io::Error::other(format!(
            "{}: received file differs",
            cell.name()
        )));
    }
    Ok(())
}

/// `size` bytes of xorshift noise (incompressible, not that anything here compresses).
fn write_source(path: &Path, size: u64) -> io::Result<()> {
    let mut out = io::BufWriter::with_capacity(1 << 20, File::create(path)?);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut left = size;
    while left > 0 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let n = left.min(8) as usize;
        out.write_all(&x.to_le_bytes()[..n])?;
        left -= n as u64;
    }
    out.flush()
}

/// Removes the bench's files however it ends.
struct Cleanup(Vec<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = fs::remove_file(path);
        }
    }
}

/// `100M` → 100 000 000: K, M and G are powers of ten; Ki, Mi and Gi powers of two.
fn parse_size(s: &str) -> u64 {
    let units: [(&str, u64); 6] = [
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("K", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
    ];
    let (digits, scale) = units
        .iter()
        .find_map(|&(unit, scale)| Some((s.strip_suffix(unit)?, scale)))
        .unwrap_or((s, 1));
    digits.parse::<u64>().expect("a size: N[K|M|G|Ki|Mi|Gi]") * scale
}

/// The process's minor page faults so far (`/proc/self/stat`, field 10): the cost of
/// buffers the allocator hands back to the kernel and takes again.
fn minor_faults() -> u64 {
    let stat = fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which ends with the last ')'.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(7)?.parse().ok())
        .unwrap_or(0)
}
