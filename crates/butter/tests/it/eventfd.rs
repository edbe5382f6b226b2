//! eventfd against the real kernel.

use crate::common;

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use butter::eventfd::{EventFd, EventfdFlags, eventfd, eventfd_read, eventfd_write};
use butter::{Errno, ErrorKind, EventSource};
use common::*;

#[test]
fn counter_accumulates_and_read_resets() {
    let mut ev = EventFd::new().unwrap();
    ev.increment(1).unwrap();
    ev.increment(41).unwrap();
    assert_eq!(ev.read().unwrap(), 42);
    ev.increment(3).unwrap();
    assert_eq!(ev.read_event().unwrap(), 3);
}

#[test]
fn initial_value_is_readable() {
    let mut ev = EventFd::with_flags(36, EventfdFlags::empty()).unwrap();
    assert_eq!(ev.wait(Some(Duration::ZERO)).unwrap(), Some(36));
}

#[test]
fn close_on_exec_always_and_blocking_by_default() {
    let ev = EventFd::new().unwrap();
    assert!(is_cloexec(&ev));
    assert!(!butter::is_nonblocking(ev.as_fd()).unwrap());
    let fd = eventfd(0, EventfdFlags::NONBLOCK).unwrap();
    assert!(is_cloexec(&fd));
    assert!(butter::is_nonblocking(fd.as_fd()).unwrap());
}

#[test]
fn semaphore_mode_reads_one_at_a_time() {
    let mut ev = EventFd::with_flags(3, EventfdFlags::SEMAPHORE | EventfdFlags::NONBLOCK).unwrap();
    assert_eq!(ev.read().unwrap(), 1);
    assert_eq!(ev.read().unwrap(), 1);
    assert_eq!(ev.read().unwrap(), 1);
    let e = expect_err(
        ev.read(),
        "eventfd_read",
        Errno::EAGAIN,
        ErrorKind::WouldBlock,
    )
    .unwrap();
    assert!(e.is_would_block());
}

#[test]
fn read_of_zero_counter_would_block_when_nonblocking() {
    let fd = eventfd(0, EventfdFlags::NONBLOCK).unwrap();
    check(
        expect_err(
            eventfd_read(&fd),
            "eventfd_read",
            Errno::EAGAIN,
            ErrorKind::WouldBlock,
        )
        .map(drop),
    );
}

#[test]
fn writing_u64_max_is_invalid() {
    let ev = EventFd::new().unwrap();
    let e = expect_err(
        ev.increment(u64::MAX),
        "eventfd_write",
        Errno::EINVAL,
        ErrorKind::InvalidArgument,
    )
    .unwrap();
    assert!(e.hint().unwrap().contains("u64::MAX"), "{e}");
}

#[test]
fn overflowing_write_would_block_when_nonblocking() {
    let fd = eventfd(0, EventfdFlags::NONBLOCK).unwrap();
    eventfd_write(&fd, u64::MAX - 1).unwrap();
    check(
        expect_err(
            eventfd_write(&fd, 1),
            "eventfd_write",
            Errno::EAGAIN,
            ErrorKind::WouldBlock,
        )
        .map(drop),
    );
    assert_eq!(eventfd_read(&fd).unwrap(), u64::MAX - 1);
    eventfd_write(&fd, 1).unwrap();
}

#[test]
fn bad_flags_are_rejected() {
    let bad = EventfdFlags::from_bits_retain(0x4000_0000);
    check(
        expect_err(
            eventfd(0, bad),
            "eventfd",
            Errno::EINVAL,
            ErrorKind::InvalidArgument,
        )
        .map(drop),
    );
}

#[test]
fn bad_descriptors_are_reported() {
    // O_PATH descriptors can do no I/O.
    let fd = path_fd();
    check(
        expect_err(
            eventfd_read(&fd),
            "eventfd_read",
            Errno::EBADF,
            ErrorKind::BadDescriptor,
        )
        .map(drop),
    );
    check(
        expect_err(
            eventfd_write(&fd, 1),
            "eventfd_write",
            Errno::EBADF,
            ErrorKind::BadDescriptor,
        )
        .map(drop),
    );
    // A descriptor of another kind: /dev/null reads 0 bytes.
    let null = std::fs::File::open("/dev/null").unwrap();
    let e = expect_err(
        eventfd_read(&null),
        "eventfd_read",
        Errno::EINVAL,
        ErrorKind::InvalidArgument,
    )
    .unwrap();
    assert!(e.to_string().contains("short read"), "{e}");
}

#[test]
fn descriptor_limit_gives_emfile_with_hint() {
    expect_emfile(EventFd::new, "eventfd", "RLIMIT_NOFILE");
}

#[test]
fn wait_times_out_then_sees_an_increment_from_another_thread() {
    let ev = Arc::new(std::sync::Mutex::new(EventFd::new().unwrap()));
    assert_eq!(
        ev.lock()
            .unwrap()
            .wait(Some(Duration::from_millis(20)))
            .unwrap(),
        None
    );
    let writer: OwnedFd = rustix::io::dup(ev.lock().unwrap().as_fd()).unwrap();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        eventfd_write(&writer, 5).unwrap();
    });
    let got = ev
        .lock()
        .unwrap()
        .wait(Some(Duration::from_secs(10)))
        .unwrap();
    t.join().unwrap();
    assert_eq!(got, Some(5));
}

#[test]
fn shared_eventfd_is_incremented_from_many_threads() {
    let ev = Arc::new(EventFd::with_flags(0, EventfdFlags::NONBLOCK).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let ev = ev.clone();
            std::thread::spawn(move || (0..1000).for_each(|_| ev.increment(1).unwrap()))
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(eventfd_read(&*ev).unwrap(), 4000);
}

#[test]
fn adopts_and_releases_descriptors() {
    let fd = eventfd(7, EventfdFlags::empty()).unwrap();
    let mut ev = EventFd::from(fd);
    assert_eq!(ev.read_events().unwrap(), vec![7]);
    let fd: OwnedFd = ev.into();
    eventfd_write(&fd, 2).unwrap();
    assert_eq!(eventfd_read(&fd).unwrap(), 2);
}

#[test]
fn wait_works_on_descriptors_above_1023() {
    // select() cannot watch these; poll() can.
    use rustix::process::{Resource, getrlimit, setrlimit};
    let lim = getrlimit(Resource::Nofile);
    if lim.current.is_some_and(|c| c < 2000) {
        if lim.maximum.is_some_and(|m| m < 2000) {
            return skip(
                "wait_works_on_descriptors_above_1023",
                "RLIMIT_NOFILE hard limit below 2000",
            );
        }
        let raised = rustix::process::Rlimit {
            current: Some(2000),
            maximum: lim.maximum,
        };
        setrlimit(Resource::Nofile, raised).unwrap();
    }
    let ev = EventFd::new().unwrap();
    let high = rustix::io::fcntl_dupfd_cloexec(&ev, 1500).unwrap();
    let mut ev = EventFd::from(high);
    ev.increment(1).unwrap();
    assert_eq!(ev.wait(Some(Duration::from_secs(1))).unwrap(), Some(1));
}
