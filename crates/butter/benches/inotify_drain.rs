//! Reading and decoding the queued events of 100,000 file creations in a tmpfs directory:
//! butter (borrowed and owned events) side by side with raw `libc` (the same loop as the C
//! reference `bench/c/inotify_drain.c`) and the `inotify` crate.
//!
//! ```sh
//! sudo cargo bench -p butter --bench inotify_drain [-- --rounds 11 --files 100000]
//! ```
//!
//! Each drain needs 100,000 fresh events, so one sample costs far more to set up (creating
//! and removing the files, not timed) than to measure. The implementations therefore run
//! interleaved, round by round in a rotating order, and the table shows the median rate and
//! the median of the per-round ratios to `libc`: this machine's speed drifts, and a ratio
//! taken within one round is what compares fairly. As root, the benchmark raises
//! `fs.inotify.max_queued_events` for the run and restores it afterwards.

use std::fs;
use std::hint::black_box;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Instant;

mod common;

use butter::EventSource;
use butter::inotify::{Event, InitFlags, Inotify, Mask};

const SYSCTL: &str = "/proc/sys/fs/inotify/max_queued_events";
const BUF: usize = 64 * 1024;

/// Raises the queue limit for the run; puts it back on drop.
struct QueueLimit(Option<String>);

impl QueueLimit {
    fn raise(to: usize) -> QueueLimit {
        let old = fs::read_to_string(SYSCTL).unwrap();
        if old.trim().parse::<usize>().unwrap() >= to {
            return QueueLimit(None);
        }
        match fs::write(SYSCTL, to.to_string()) {
            Ok(()) => QueueLimit(Some(old)),
            Err(e) => panic!("cannot raise {SYSCTL} to {to} ({e}); run as root"),
        }
    }
}

impl Drop for QueueLimit {
    fn drop(&mut self) {
        if let Some(old) = &self.0 {
            let _ = fs::write(SYSCTL, old.trim());
        }
    }
}

/// Drains every queued event; returns (events, name bytes).
type Drain = Box<dyn FnMut() -> (usize, usize)>;

/// Makes a watcher of `dir` (IN_CREATE, non-blocking) and its drain loop.
type Setup = fn(&Path) -> Drain;

fn libc_drain(dir: &Path) -> Drain {
    // SAFETY: plain inotify calls on our own descriptor and path.
    let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
    let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: as above.
    assert!(unsafe { libc::inotify_add_watch(fd, path.as_ptr(), libc::IN_CREATE) } >= 0);
    // SAFETY: the kernel returned this descriptor.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut buf = vec![0u64; BUF / 8];
    Box::new(move || {
        let (mut events, mut namebytes) = (0, 0);
        loop {
            // SAFETY: reads into our own buffer.
            let n = unsafe { libc::read(owned.as_raw_fd(), buf.as_mut_ptr().cast(), BUF) };
            if n < 0 {
                assert_eq!(
                    std::io::Error::last_os_error().raw_os_error(),
                    Some(libc::EAGAIN)
                );
                break;
            }
            let bytes = buf.as_ptr().cast::<u8>();
            let mut off = 0;
            while off < n as usize {
                // SAFETY: the kernel wrote whole records; the buffer is 8-aligned.
                let ev = unsafe { &*bytes.add(off).cast::<libc::inotify_event>() };
                if ev.mask & libc::IN_Q_OVERFLOW == 0 {
                    events += 1;
                }
                if ev.len > 0 {
                    // SAFETY: the name lies within the record.
                    let name =
                        unsafe { std::slice::from_raw_parts(bytes.add(off + 16), ev.len as usize) };
                    namebytes += name.iter().position(|&b| b == 0).unwrap_or(name.len());
                }
                off += 16 + ev.len as usize;
            }
        }
        (events, namebytes)
    })
}

fn butter_raw(dir: &Path) -> Drain {
    let mut ino = Inotify::with_flags(InitFlags::NONBLOCK).unwrap();
    ino.add_watch(dir, Mask::CREATE).unwrap();
    Box::new(move || {
        let (mut events, mut namebytes) = (0, 0);
        loop {
            let parser = match ino.read_raw() {
                Ok(p) => p,
                Err(e) if e.is_would_block() => break,
                Err(e) => panic!("{e}"),
            };
            for ev in parser {
                if let Event::Watch(w) = ev.unwrap() {
                    events += 1;
                    namebytes += w.name.map_or(0, <[u8]>::len);
                }
            }
        }
        (events, namebytes)
    })
}

fn butter_owned(dir: &Path) -> Drain {
    let mut ino = Inotify::with_flags(InitFlags::NONBLOCK).unwrap();
    ino.add_watch(dir, Mask::CREATE).unwrap();
    Box::new(move || {
        let (mut events, mut namebytes) = (0, 0);
        loop {
            let batch = match ino.read_events() {
                Ok(b) => b,
                Err(e) if e.is_would_block() => break,
                Err(e) => panic!("{e}"),
            };
            for ev in &batch {
                if let Event::Watch(w) = ev {
                    events += 1;
                    namebytes += w.name.as_ref().map_or(0, |n| n.len());
                }
            }
        }
        (events, namebytes)
    })
}

fn inotify_crate(dir: &Path) -> Drain {
    let mut ino = inotify::Inotify::init().unwrap();
    ino.watches().add(dir, inotify::WatchMask::CREATE).unwrap();
    let mut buf = vec![0u8; BUF];
    Box::new(move || {
        let (mut events, mut namebytes) = (0, 0);
        loop {
            let it = match ino.read_events(&mut buf) {
                Ok(it) => it,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            };
            for ev in it {
                if !ev.mask.contains(inotify::EventMask::Q_OVERFLOW) {
                    events += 1;
                }
                namebytes += ev.name.map_or(0, |n| n.len());
            }
        }
        (events, namebytes)
    })
}

const IMPLS: &[(&str, Setup)] = &[
    ("libc read+walk (64 KiB)", libc_drain),
    ("butter read_raw (borrowed)", butter_raw),
    ("butter read_events (owned)", butter_owned),
    ("inotify crate 0.11 (64 KiB)", inotify_crate),
];

/// One timed drain of `paths.len()` fresh creations; returns events per second.
fn once(setup: Setup, dir: &Path, paths: &[PathBuf]) -> f64 {
    let mut drain = setup(dir);
    for p in paths {
        fs::File::create(p).unwrap();
    }
    let start = Instant::now();
    let (events, namebytes) = drain();
    let took = start.elapsed();
    assert_eq!(events, paths.len(), "events lost");
    black_box(namebytes);
    for p in paths {
        fs::remove_file(p).unwrap();
    }
    events as f64 / took.as_secs_f64()
}

fn main() {
    let rounds = common::arg("--rounds", 11);
    let files = common::arg("--files", 100_000);
    let _limit = QueueLimit::raise(files + 1000);
    let base = if Path::new("/dev/shm").is_dir() {
        "/dev/shm"
    } else {
        "/tmp"
    };
    let dir = tempfile::tempdir_in(base).unwrap();
    let paths: Vec<PathBuf> = (0..files)
        .map(|i| dir.path().join(format!("f{i:07}")))
        .collect();
    let cells = IMPLS
        .iter()
        .map(|&(name, setup)| common::Cell {
            name,
            run: Box::new({
                let (dir, paths) = (dir.path(), &paths);
                move || once(setup, dir, paths)
            }),
        })
        .collect();
    common::table(
        &format!("inotify: read and decode the queued events of {files} file creations ({base})"),
        "M events/s",
        1e-6,
        rounds,
        cells,
    );
}
