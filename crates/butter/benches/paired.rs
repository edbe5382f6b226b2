//! eventfd and timerfd per call, interleaved with raw `libc`: the paired counterpart of the
//! criterion benchmark `syscalls`, whose groups run one after the other while the machine's
//! speed drifts. See `common/mod.rs` for the method.
//!
//! ```sh
//! cargo bench -p butter --bench paired [-- --rounds 41 --ops 20000]
//! ```

use std::hint::black_box;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use butter::EventSource;
use butter::eventfd::{EventFd, EventfdFlags, eventfd, eventfd_read, eventfd_write};
use butter::timerfd::{
    Clock, Itimerspec, Timer, TimerVal, TimerfdFlags, TimerfdTimerFlags, timerfd_create,
    timerfd_gettime, timerfd_settime,
};

mod common;

/// Times `ops` runs of `op`; returns ns per run.
fn per_op(ops: usize, mut op: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..ops {
        op();
    }
    start.elapsed().as_nanos() as f64 / ops as f64
}

fn main() {
    let rounds = common::arg("--rounds", 41);
    let ops = common::arg("--ops", 20_000);

    // SAFETY: plain eventfd creation; the descriptor is owned here.
    let raw = unsafe { OwnedFd::from_raw_fd(libc::eventfd(0, libc::EFD_CLOEXEC)) };
    let efd = eventfd(0, EventfdFlags::empty()).unwrap();
    let mut ev = EventFd::new().unwrap();
    let fd = raw.as_raw_fd();
    common::table(
        "eventfd write+read round trip",
        "ns/op",
        1.0,
        rounds,
        vec![
            common::Cell {
                name: "libc write+read",
                run: Box::new(|| {
                    per_op(ops, || {
                        let one: u64 = 1;
                        let mut out: u64 = 0;
                        // SAFETY: 8-byte buffers on a valid eventfd.
                        unsafe {
                            assert_eq!(libc::write(fd, (&raw const one).cast(), 8), 8);
                            assert_eq!(libc::read(fd, (&raw mut out).cast(), 8), 8);
                        }
                        black_box(out);
                    })
                }),
            },
            common::Cell {
                name: "butter eventfd_write+read",
                run: Box::new(|| {
                    per_op(ops, || {
                        eventfd_write(&efd, 1).unwrap();
                        black_box(eventfd_read(&efd).unwrap());
                    })
                }),
            },
            common::Cell {
                name: "butter EventFd",
                run: Box::new(|| {
                    per_op(ops, || {
                        ev.increment(1).unwrap();
                        black_box(ev.read_event().unwrap());
                    })
                }),
            },
        ],
    );

    // SAFETY: plain timerfd creation; the descriptor is owned here.
    let raw = unsafe {
        OwnedFd::from_raw_fd(libc::timerfd_create(
            libc::CLOCK_MONOTONIC,
            libc::TFD_CLOEXEC,
        ))
    };
    let fd = raw.as_raw_fd();
    let tfd = timerfd_create(Clock::Monotonic, TimerfdFlags::empty()).unwrap();
    let timer = Timer::new().unwrap();
    let ten = libc::timespec {
        tv_sec: 10,
        tv_nsec: 0,
    };
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let new = libc::itimerspec {
        it_interval: zero,
        it_value: ten,
    };
    let spec = Itimerspec::try_from(TimerVal::new().after(Duration::from_secs(10))).unwrap();
    let val = TimerVal::new().after(Duration::from_secs(10));
    common::table(
        "timerfd settime (10 s one-shot) + gettime",
        "ns/op",
        1.0,
        rounds,
        vec![
            common::Cell {
                name: "libc settime+gettime",
                run: Box::new(|| {
                    per_op(ops, || {
                        let mut cur = libc::itimerspec {
                            it_interval: zero,
                            it_value: zero,
                        };
                        // SAFETY: valid itimerspec pointers on a valid timerfd.
                        unsafe {
                            assert_eq!(libc::timerfd_settime(fd, 0, &new, std::ptr::null_mut()), 0);
                            assert_eq!(libc::timerfd_gettime(fd, &mut cur), 0);
                        }
                        black_box(cur.it_value.tv_sec);
                    })
                }),
            },
            common::Cell {
                name: "butter timerfd_settime+gettime",
                run: Box::new(|| {
                    per_op(ops, || {
                        timerfd_settime(&tfd, TimerfdTimerFlags::empty(), &spec).unwrap();
                        black_box(timerfd_gettime(&tfd).unwrap().it_value.tv_sec);
                    })
                }),
            },
            common::Cell {
                name: "butter Timer set+get",
                run: Box::new(|| {
                    per_op(ops, || {
                        timer.set(val).unwrap();
                        black_box(timer.get().unwrap().value);
                    })
                }),
            },
        ],
    );
}
