//! Reading and decoding the queued events of 100,000 file creations in a tmpfs directory:
//! butter (borrowed and owned events) side by side with raw `libc` (the same loop as the C
//! reference `bench/c/inotify_drain.c`) and the `inotify` crate.
//!
//! ```sh
//! cargo bench -p butter --bench inotify_drain
//! ```
//!
//! The queue must hold 100,000 events: as root, the benchmark raises
//! `fs.inotify.max_queued_events` for the run and puts it back afterwards. Only the drain is
//! timed; creating and removing the files is not. Throughput is in events per second.

use std::fs;
use std::hint::black_box;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use butter::EventSource;
use butter::inotify::{Event, InitFlags, Inotify, Mask};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};

const FILES: usize = 100_000;
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

/// A scratch directory on tmpfs.
fn scratch() -> tempfile::TempDir {
    let base = if Path::new("/dev/shm").is_dir() { "/dev/shm" } else { "/tmp" };
    tempfile::tempdir_in(base).unwrap()
}

fn names(dir: &Path) -> Vec<PathBuf> {
    (0..FILES).map(|i| dir.join(format!("f{i:07}"))).collect()
}

/// Creates the files (not timed) so that their IN_CREATE events are queued.
fn create(paths: &[PathBuf]) {
    for p in paths {
        fs::File::create(p).unwrap();
    }
}

fn remove(paths: &[PathBuf]) {
    for p in paths {
        fs::remove_file(p).unwrap();
    }
}

/// Times `drain` over `iters` rounds of 100,000 queued creations; checks the count.
fn timed(
    iters: u64,
    dir: &Path,
    paths: &[PathBuf],
    mut setup: impl FnMut() -> Box<dyn FnMut() -> (usize, usize)>,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let mut drain = setup();
        create(paths);
        let start = Instant::now();
        let (events, namebytes) = drain();
        total += start.elapsed();
        assert_eq!(events, FILES, "events lost in {}", dir.display());
        black_box(namebytes);
        remove(paths);
    }
    total
}

fn drain(c: &mut Criterion) {
    let _limit = QueueLimit::raise(FILES + 1000);
    let dir = scratch();
    let paths = names(dir.path());
    let d = dir.path().to_path_buf();

    let mut g = c.benchmark_group("inotify drain 100k creations");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .throughput(Throughput::Elements(FILES as u64));

    g.bench_function("libc read+walk (64 KiB)", |b| {
        b.iter_custom(|iters| {
            timed(iters, &d, &paths, || {
                // SAFETY: plain inotify calls on our own descriptor and path.
                let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
                let path = std::ffi::CString::new(d.as_os_str().as_encoded_bytes()).unwrap();
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
                            assert_eq!(std::io::Error::last_os_error().raw_os_error(), Some(libc::EAGAIN));
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
                                let name = unsafe {
                                    std::slice::from_raw_parts(bytes.add(off + 16), ev.len as usize)
                                };
                                namebytes += name.iter().position(|&b| b == 0).unwrap_or(name.len());
                            }
                            off += 16 + ev.len as usize;
                        }
                    }
                    (events, namebytes)
                })
            })
        })
    });

    g.bench_function("butter read_raw (borrowed)", |b| {
        b.iter_custom(|iters| {
            timed(iters, &d, &paths, || {
                let mut ino = Inotify::with_flags(InitFlags::NONBLOCK).unwrap();
                ino.add_watch(&d, Mask::CREATE).unwrap();
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
            })
        })
    });

    g.bench_function("butter read_events (owned)", |b| {
        b.iter_custom(|iters| {
            timed(iters, &d, &paths, || {
                let mut ino = Inotify::with_flags(InitFlags::NONBLOCK).unwrap();
                ino.add_watch(&d, Mask::CREATE).unwrap();
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
            })
        })
    });

    g.bench_function("inotify crate (64 KiB)", |b| {
        b.iter_custom(|iters| {
            timed(iters, &d, &paths, || {
                let mut ino = inotify::Inotify::init().unwrap();
                ino.watches().add(&d, inotify::WatchMask::CREATE).unwrap();
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
            })
        })
    });
    g.finish();
}

criterion_group!(benches, drain);
criterion_main!(benches);
