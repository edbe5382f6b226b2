//! signalfd and signal masks against the real kernel.
//!
//! Each test that sends a signal blocks it in the test thread first and sends it to that
//! thread (raise), or runs in a forked, single-threaded child for process-directed signals,
//! so no other thread of the test harness can take it.

use crate::common;

use std::time::Duration;

use butter::signalfd::{
    MaskHow, SfdFlags, SigInfo, SigSet, Signal, SignalFd, block, pthread_sigmask, set_mask,
    signalfd, signalfd_mask, signalfd_read, signalfd_set_mask, thread_mask, unblock,
};
use butter::{Errno, ErrorKind, EventSource};
use common::*;
use nix::sys::signal::raise;

fn nix_sig(s: Signal) -> nix::sys::signal::Signal {
    nix::sys::signal::Signal::try_from(s.as_raw()).unwrap()
}

#[test]
fn sigset_holds_standard_and_realtime_signals() {
    let rt3 = Signal::rt(3).unwrap();
    let mut set = SigSet::from([Signal::SIGUSR1, rt3]);
    assert!(set.contains(Signal::SIGUSR1) && set.contains(rt3));
    assert!(!set.contains(Signal::SIGUSR2));
    assert_eq!(set.iter().collect::<Vec<_>>(), vec![Signal::SIGUSR1, rt3]);
    set.remove(Signal::SIGUSR1);
    assert_eq!(set.iter().count(), 1);
    assert_eq!(rt3.name(), "SIGRTMIN+3");
    assert_eq!(Signal::SIGUSR2.name(), "SIGUSR2");
    assert!(rt3.is_realtime() && !Signal::SIGTERM.is_realtime());
    assert_eq!(format!("{set:?}"), "{SIGRTMIN+3}");
    assert_eq!(SigSet::from_bits(set.to_bits()), set);
    assert!(SigSet::empty().is_empty());
    assert!(SigSet::full().contains(Signal::SIGTERM));
}

#[test]
fn invalid_signal_numbers_are_refused() {
    for n in [0, -1, libc::SIGRTMAX() + 1] {
        let e = Signal::new(n).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    }
    assert!(Signal::rt(1000).is_err());
}

#[test]
fn masks_return_the_previous_mask() {
    std::thread::spawn(|| {
        let start = thread_mask().unwrap();
        let usr = SigSet::from([Signal::SIGUSR1, Signal::SIGUSR2]);
        let before = block(&usr).unwrap();
        assert_eq!(before, start);
        let now = thread_mask().unwrap();
        assert!(now.contains(Signal::SIGUSR1) && now.contains(Signal::SIGUSR2));
        let before = unblock(&Signal::SIGUSR2.into()).unwrap();
        assert_eq!(before, now);
        assert!(!thread_mask().unwrap().contains(Signal::SIGUSR2));
        let before = set_mask(&start).unwrap();
        assert!(before.contains(Signal::SIGUSR1));
        assert_eq!(thread_mask().unwrap(), start);
        // SIGKILL and SIGSTOP cannot be blocked; the kernel leaves them out silently.
        pthread_sigmask(
            MaskHow::Block,
            Some(&SigSet::from([Signal::SIGKILL, Signal::SIGSTOP])),
        )
        .unwrap();
        assert_eq!(thread_mask().unwrap(), start);
    })
    .join()
    .unwrap();
}

#[test]
fn signalfd_is_cloexec_and_reports_its_mask() {
    let set = SigSet::from([Signal::SIGUSR1, Signal::rt(2).unwrap()]);
    let fd = signalfd(&set, SfdFlags::empty()).unwrap();
    assert!(is_cloexec(&fd));
    assert_eq!(signalfd_mask(std::os::fd::AsFd::as_fd(&fd)).unwrap(), set);
    signalfd_set_mask(&fd, &Signal::SIGHUP.into()).unwrap();
    assert_eq!(
        signalfd_mask(std::os::fd::AsFd::as_fd(&fd)).unwrap(),
        SigSet::from(Signal::SIGHUP)
    );
}

#[test]
fn bad_flags_descriptors_and_buffers_are_reported() {
    let set = SigSet::from(Signal::SIGUSR1);
    let bad = SfdFlags::from_bits_retain(0xffff ^ (libc::SFD_CLOEXEC | libc::SFD_NONBLOCK));
    let e = expect_err(
        signalfd(&set, bad),
        "signalfd",
        Errno::EINVAL,
        ErrorKind::InvalidArgument,
    )
    .unwrap();
    assert!(e.to_string().contains("NONBLOCK"), "{e}");
    // Updating a descriptor that is not a signalfd.
    let ev = butter::eventfd::EventFd::new().unwrap();
    check(
        expect_err(
            signalfd_set_mask(&ev, &set),
            "signalfd",
            Errno::EINVAL,
            ErrorKind::InvalidArgument,
        )
        .map(drop),
    );
    // An O_PATH descriptor.
    let p = path_fd();
    check(
        expect_err(
            signalfd_set_mask(&p, &set),
            "signalfd",
            Errno::EBADF,
            ErrorKind::BadDescriptor,
        )
        .map(drop),
    );
    // Reads need room for a whole record.
    let fd = signalfd(&set, SfdFlags::SFD_NONBLOCK).unwrap();
    check(
        expect_err(
            signalfd_read(&fd, &mut []),
            "signalfd_read",
            Errno::EINVAL,
            ErrorKind::InvalidArgument,
        )
        .map(drop),
    );
    let mut buf = [SigInfo::from_bytes(&[0; 128]); 2];
    check(
        expect_err(
            signalfd_read(&fd, &mut buf),
            "signalfd_read",
            Errno::EAGAIN,
            ErrorKind::WouldBlock,
        )
        .map(drop),
    );
}

#[test]
fn descriptor_limit_gives_emfile() {
    expect_emfile(
        || signalfd(&SigSet::empty(), SfdFlags::empty()),
        "signalfd",
        "RLIMIT_NOFILE",
    );
}

#[test]
fn raised_signal_is_read_with_sender_fields() {
    std::thread::spawn(|| {
        let mut sfd = SignalFd::new(&Signal::SIGUSR1.into()).unwrap();
        assert!(thread_mask().unwrap().contains(Signal::SIGUSR1));
        raise(nix::sys::signal::SIGUSR1).unwrap();
        let info = sfd
            .wait(Some(Duration::from_secs(5)))
            .unwrap()
            .expect("signal");
        assert_eq!(info.signal, Signal::SIGUSR1);
        assert_eq!(info.pid, std::process::id());
        assert_eq!(info.uid, rustix::process::getuid().as_raw());
        assert_eq!(info.code, libc::SI_TKILL);
        sfd.disable_all().unwrap();
        assert!(!thread_mask().unwrap().contains(Signal::SIGUSR1));
    })
    .join()
    .unwrap();
}

#[test]
fn sigqueue_value_and_realtime_queueing() {
    // Process-directed signals: in a single-threaded child.
    check(in_child(|| {
        let rt = Signal::rt(1).map_err(|e| e.to_string())?;
        let mut sfd =
            SignalFd::new(&SigSet::from([rt, Signal::SIGUSR2])).map_err(|e| e.to_string())?;
        let pid = std::process::id() as libc::pid_t;
        for i in 0..3 {
            let val = libc::sigval {
                sival_ptr: (1000 + i) as *mut libc::c_void,
            };
            // SAFETY: plain sigqueue to ourselves.
            if unsafe { libc::sigqueue(pid, rt.as_raw(), val) } != 0 {
                return Err(format!("sigqueue: {}", std::io::Error::last_os_error()));
            }
        }
        // Standard signals coalesce.
        for _ in 0..3 {
            nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::SIGUSR2)
                .map_err(|e| e.to_string())?;
        }
        let mut got = sfd.read_events().map_err(|e| e.to_string())?;
        while let Some(more) = sfd
            .wait(Some(Duration::from_millis(50)))
            .map_err(|e| e.to_string())?
        {
            got.push(more);
        }
        let rts: Vec<&SigInfo> = got.iter().filter(|i| i.signal == rt).collect();
        let usr2 = got.iter().filter(|i| i.signal == Signal::SIGUSR2).count();
        if rts.len() != 3 || usr2 != 1 {
            return Err(format!(
                "expected 3 queued RT signals and 1 SIGUSR2, got {got:?}"
            ));
        }
        for (i, info) in rts.iter().enumerate() {
            if info.code != libc::SI_QUEUE
                || info.ptr != 1000 + i as u64
                || info.int != 1000 + i as i32
            {
                return Err(format!("bad sigqueue fields: {info:?}"));
            }
        }
        Ok(())
    }));
}

#[test]
fn sigchld_reports_child_status_and_times() {
    check(in_child(|| {
        let mut sfd = SignalFd::new(&Signal::SIGCHLD.into()).map_err(|e| e.to_string())?;
        let child = std::process::Command::new("sh")
            .args(["-c", "exit 7"])
            .spawn()
            .map_err(|e| e.to_string())?;
        let info = sfd
            .wait(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?
            .ok_or("no SIGCHLD")?;
        let ok = info.signal == Signal::SIGCHLD
            && info.pid == child.id()
            && info.code == libc::CLD_EXITED
            && info.status == 7;
        if !ok {
            return Err(format!("bad SIGCHLD: {info:?}"));
        }
        Ok(())
    }));
}

#[test]
fn enable_and_disable_keep_the_thread_mask_in_step() {
    std::thread::spawn(|| {
        // SIGHUP blocked by someone else beforehand stays blocked.
        block(&Signal::SIGHUP.into()).unwrap();
        let sfd = SignalFd::with_flags(&SigSet::empty(), SfdFlags::SFD_NONBLOCK).unwrap();
        assert!(sfd.mask().is_empty());
        sfd.enable(Signal::SIGUSR2).unwrap();
        sfd.enable(Signal::SIGHUP).unwrap();
        let fd_mask = signalfd_mask(std::os::fd::AsFd::as_fd(&sfd)).unwrap();
        assert_eq!(fd_mask, SigSet::from([Signal::SIGHUP, Signal::SIGUSR2]));
        assert!(sfd.contains(Signal::SIGUSR2));
        assert!(thread_mask().unwrap().contains(Signal::SIGUSR2));
        sfd.disable(Signal::SIGUSR2).unwrap();
        assert!(!thread_mask().unwrap().contains(Signal::SIGUSR2));
        assert!(!sfd.contains(Signal::SIGUSR2));
        sfd.disable_all().unwrap();
        assert!(sfd.mask().is_empty());
        assert!(
            signalfd_mask(std::os::fd::AsFd::as_fd(&sfd))
                .unwrap()
                .is_empty()
        );
        assert!(
            thread_mask().unwrap().contains(Signal::SIGHUP),
            "SIGHUP was not ours to unblock"
        );
        sfd.enable_all().unwrap();
        assert!(sfd.contains(Signal::SIGTERM) && sfd.contains(Signal::rt(5).unwrap()));
        sfd.disable_all().unwrap();
        assert!(!thread_mask().unwrap().contains(Signal::SIGTERM));
    })
    .join()
    .unwrap();
}

#[test]
fn wait_times_out_and_from_ownedfd_recovers_the_mask() {
    std::thread::spawn(|| {
        block(&Signal::SIGUSR2.into()).unwrap();
        let fd = signalfd(&Signal::SIGUSR2.into(), SfdFlags::empty()).unwrap();
        let mut sfd = SignalFd::from(fd);
        assert_eq!(sfd.mask(), SigSet::from(Signal::SIGUSR2));
        assert_eq!(sfd.wait(Some(Duration::from_millis(10))).unwrap(), None);
        raise(nix_sig(Signal::SIGUSR2)).unwrap();
        assert_eq!(sfd.read_event().unwrap().signal, Signal::SIGUSR2);
    })
    .join()
    .unwrap();
}
