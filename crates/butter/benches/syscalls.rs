//! Per-call cost of butter's eventfd and timerfd paths, side by side with the same
//! operations done with raw `libc` calls (the C reference is `bench/c/syscall_ns.c`).
//!
//! ```sh
//! cargo bench -p butter --bench syscalls
//! ```

use std::hint::black_box;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use butter::EventSource;
use butter::eventfd::{EventFd, EventfdFlags, eventfd, eventfd_read, eventfd_write};
use butter::timerfd::{
    Clock, Itimerspec, Timer, TimerVal, TimerfdFlags, TimerfdTimerFlags, timerfd_create,
    timerfd_gettime, timerfd_settime,
};
use criterion::{Criterion, criterion_group, criterion_main};

fn eventfd_round_trip(c: &mut Criterion) {
    let mut g = c.benchmark_group("eventfd write+read");

    // SAFETY: plain eventfd creation; the descriptor is owned below.
    let raw = unsafe { OwnedFd::from_raw_fd(libc::eventfd(0, libc::EFD_CLOEXEC)) };
    let fd = raw.as_raw_fd();
    g.bench_function("libc", |b| {
        b.iter(|| {
            let one: u64 = 1;
            let mut out: u64 = 0;
            // SAFETY: 8-byte buffers on a valid eventfd.
            unsafe {
                if libc::write(fd, (&raw const one).cast(), 8) != 8 {
                    panic!("write");
                }
                if libc::read(fd, (&raw mut out).cast(), 8) != 8 {
                    panic!("read");
                }
            }
            black_box(out)
        })
    });

    let efd = eventfd(0, EventfdFlags::empty()).unwrap();
    g.bench_function("butter thin", |b| {
        b.iter(|| {
            eventfd_write(&efd, 1).unwrap();
            black_box(eventfd_read(&efd).unwrap())
        })
    });

    let mut ev = EventFd::new().unwrap();
    g.bench_function("butter EventFd", |b| {
        b.iter(|| {
            ev.increment(1).unwrap();
            black_box(ev.read_event().unwrap())
        })
    });
    g.finish();
}

fn timerfd_set_get(c: &mut Criterion) {
    let mut g = c.benchmark_group("timerfd settime+gettime");

    // SAFETY: plain timerfd creation; the descriptor is owned below.
    let raw = unsafe {
        OwnedFd::from_raw_fd(libc::timerfd_create(
            libc::CLOCK_MONOTONIC,
            libc::TFD_CLOEXEC,
        ))
    };
    let fd = raw.as_raw_fd();
    g.bench_function("libc", |b| {
        let new = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: 10,
                tv_nsec: 0,
            },
        };
        b.iter(|| {
            let mut cur = libc::itimerspec {
                it_interval: libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                },
                it_value: libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                },
            };
            // SAFETY: valid itimerspec pointers on a valid timerfd.
            unsafe {
                if libc::timerfd_settime(fd, 0, &new, std::ptr::null_mut()) != 0 {
                    panic!("settime");
                }
                if libc::timerfd_gettime(fd, &mut cur) != 0 {
                    panic!("gettime");
                }
            }
            black_box(cur.it_value.tv_sec)
        })
    });

    let tfd = timerfd_create(Clock::Monotonic, TimerfdFlags::empty()).unwrap();
    let spec = Itimerspec::try_from(TimerVal::new().after(Duration::from_secs(10))).unwrap();
    g.bench_function("butter thin", |b| {
        b.iter(|| {
            timerfd_settime(&tfd, TimerfdTimerFlags::empty(), &spec).unwrap();
            black_box(timerfd_gettime(&tfd).unwrap().it_value.tv_sec)
        })
    });

    let timer = Timer::new().unwrap();
    let val = TimerVal::new().after(Duration::from_secs(10));
    g.bench_function("butter Timer", |b| {
        b.iter(|| {
            timer.set(val).unwrap();
            black_box(timer.get().unwrap().value)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = eventfd_round_trip, timerfd_set_get
}
criterion_main!(benches);
