//! timerfd and timer slack against the real kernel.

use crate::common;

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use butter::timerfd::{
    Clock, Itimerspec, Timer, TimerVal, TimerfdFlags, TimerfdTimerFlags, Timespec, set_timer_slack,
    timer_slack, timerfd_create, timerfd_gettime, timerfd_read, timerfd_settime,
};
use butter::{Errno, ErrorKind, EventSource};
use common::*;
use proptest::prelude::*;

const MS: Duration = Duration::from_millis(1);

#[test]
fn default_timer_is_monotonic_blocking_and_cloexec() {
    let t = Timer::new().unwrap();
    assert!(is_cloexec(&t));
    assert!(!butter::is_nonblocking(t.as_fd()).unwrap());
    assert_eq!(Clock::default(), Clock::Monotonic);
    assert!(!t.get().unwrap().is_armed());
}

#[test]
fn one_shot_expires_once() {
    let mut t = Timer::new().unwrap();
    let start = Instant::now();
    t.set(TimerVal::new().after(10 * MS)).unwrap();
    assert_eq!(t.read_event().unwrap(), 1);
    assert!(start.elapsed() >= 10 * MS);
    // Disarmed after firing.
    assert!(!t.get().unwrap().is_armed());
    assert_eq!(t.wait(Some(20 * MS)).unwrap(), None);
}

#[test]
fn interval_timer_counts_missed_expirations() {
    let mut t = Timer::new().unwrap();
    t.set(TimerVal::new().every(5 * MS)).unwrap();
    std::thread::sleep(30 * MS);
    let n = t.read_event().unwrap();
    assert!(
        n >= 5,
        "expected at least 5 expirations after 30 ms at 5 ms, got {n}"
    );
    let cur = t.get().unwrap();
    assert_eq!(cur.interval, 5 * MS);
    assert!(cur.value <= 5 * MS);
    let old = t.disarm().unwrap();
    assert_eq!(old.interval, 5 * MS);
}

#[test]
fn settime_returns_the_old_setting_and_gettime_is_relative() {
    let t = Timer::new().unwrap();
    assert_eq!(
        t.set(TimerVal::new().after(Duration::from_secs(10)))
            .unwrap(),
        TimerVal::new()
    );
    let left = t.get().unwrap();
    assert!(left.value <= Duration::from_secs(10) && left.value > Duration::from_secs(9));
    let old = t
        .set(TimerVal::new().every(Duration::from_secs(3)))
        .unwrap();
    assert!(old.value > Duration::from_secs(9));
    assert_eq!(old.interval, Duration::ZERO);
}

#[test]
fn absolute_timers_fire_at_a_clock_time() {
    for clock in [Clock::Monotonic, Clock::Realtime, Clock::Boottime] {
        let mut t = Timer::with_clock(clock, TimerfdFlags::empty()).unwrap();
        let at = clock.now().unwrap() + 15 * MS;
        t.set_at(TimerVal::new().after(at)).unwrap();
        // gettime is relative even for absolute timers.
        assert!(t.get().unwrap().value <= 15 * MS);
        assert_eq!(
            t.wait(Some(Duration::from_secs(5))).unwrap(),
            Some(1),
            "{clock:?}"
        );
        assert!(clock.now().unwrap() >= at);
    }
}

#[test]
fn unsupported_clocks_are_rejected_with_a_hint() {
    for clock in [
        Clock::Other(libc::CLOCK_MONOTONIC_COARSE),
        Clock::Other(libc::CLOCK_REALTIME_COARSE),
        Clock::Other(libc::CLOCK_MONOTONIC_RAW),
        Clock::Other(libc::CLOCK_PROCESS_CPUTIME_ID),
        Clock::Other(libc::CLOCK_THREAD_CPUTIME_ID),
        Clock::Other(0xfffc),
        Clock::Other(0xffff),
    ] {
        let e = expect_err(
            Timer::with_clock(clock, TimerfdFlags::empty()),
            "timerfd_create",
            Errno::EINVAL,
            ErrorKind::InvalidArgument,
        )
        .unwrap();
        assert!(e.to_string().contains("CLOCK_BOOTTIME"), "{e}");
    }
}

#[test]
fn bad_flags_are_rejected() {
    let bad = TimerfdFlags::from_bits_retain(0x4000_0000);
    check(
        expect_err(
            timerfd_create(Clock::Monotonic, bad),
            "timerfd_create",
            Errno::EINVAL,
            ErrorKind::InvalidArgument,
        )
        .map(drop),
    );
    let t = Timer::new().unwrap();
    let bad = TimerfdTimerFlags::from_bits_retain(0x100);
    check(
        expect_err(
            t.set_with_flags(TimerVal::new().after(MS), bad),
            "timerfd_settime",
            Errno::EINVAL,
            ErrorKind::InvalidArgument,
        )
        .map(drop),
    );
}

#[test]
fn out_of_range_timespecs_reach_the_kernel_and_fail() {
    let t = Timer::new().unwrap();
    let ts = |s, ns| Timespec {
        tv_sec: s,
        tv_nsec: ns,
    };
    for (value, interval) in [
        (ts(0, 1_000_000_000), ts(0, 0)),
        (ts(0, 1), ts(0, 1_000_000_000)),
        (ts(0, -1), ts(0, 0)),
        (ts(-1, 0), ts(0, 0)),
    ] {
        let spec = Itimerspec {
            it_value: value,
            it_interval: interval,
        };
        let e = expect_err(
            timerfd_settime(&t, TimerfdTimerFlags::empty(), &spec),
            "timerfd_settime",
            Errno::EINVAL,
            ErrorKind::InvalidArgument,
        )
        .unwrap();
        assert!(e.to_string().contains("999999999"), "{e}");
    }
}

#[test]
fn bad_descriptors_are_reported() {
    let p = path_fd();
    check(
        expect_err(
            timerfd_gettime(&p),
            "timerfd_gettime",
            Errno::EBADF,
            ErrorKind::BadDescriptor,
        )
        .map(drop),
    );
    check(
        expect_err(
            timerfd_read(&p),
            "timerfd_read",
            Errno::EBADF,
            ErrorKind::BadDescriptor,
        )
        .map(drop),
    );
    let ev = butter::eventfd::EventFd::new().unwrap();
    check(
        expect_err(
            timerfd_gettime(&ev),
            "timerfd_gettime",
            Errno::EINVAL,
            ErrorKind::InvalidArgument,
        )
        .map(drop),
    );
    let spec = Itimerspec::try_from(TimerVal::new().after(MS)).unwrap();
    check(
        expect_err(
            timerfd_settime(&ev, TimerfdTimerFlags::empty(), &spec),
            "timerfd_settime",
            Errno::EINVAL,
            ErrorKind::InvalidArgument,
        )
        .map(drop),
    );
}

#[test]
fn nonblocking_read_of_unexpired_timer_would_block() {
    let mut t = Timer::with_clock(Clock::Monotonic, TimerfdFlags::NONBLOCK).unwrap();
    check(
        expect_err(
            t.read_event(),
            "timerfd_read",
            Errno::EAGAIN,
            ErrorKind::WouldBlock,
        )
        .map(drop),
    );
    t.set(TimerVal::new().after(MS)).unwrap();
    assert_eq!(t.wait(Some(Duration::from_secs(5))).unwrap(), Some(1));
}

#[test]
fn descriptor_limit_gives_emfile() {
    expect_emfile(Timer::new, "timerfd_create", "RLIMIT_NOFILE");
}

#[test]
fn alarm_clocks_work_with_cap_wake_alarm() {
    let caps = rustix::thread::capabilities(None).unwrap();
    if !caps
        .effective
        .contains(rustix::thread::CapabilitySet::WAKE_ALARM)
    {
        return skip(
            "alarm_clocks_work_with_cap_wake_alarm",
            "needs CAP_WAKE_ALARM (run as root)",
        );
    }
    for clock in [Clock::RealtimeAlarm, Clock::BoottimeAlarm] {
        let mut t = Timer::with_clock(clock, TimerfdFlags::empty()).unwrap();
        t.set(TimerVal::new().after(5 * MS)).unwrap();
        assert_eq!(
            t.wait(Some(Duration::from_secs(5))).unwrap(),
            Some(1),
            "{clock:?}"
        );
    }
}

#[test]
fn alarm_clocks_without_cap_wake_alarm_fail_with_eperm_and_say_why() {
    check(in_child(|| {
        drop_capability(rustix::thread::CapabilitySet::WAKE_ALARM)?;
        for clock in [Clock::RealtimeAlarm, Clock::BoottimeAlarm] {
            let e = expect_err(
                Timer::with_clock(clock, TimerfdFlags::empty()),
                "timerfd_create",
                Errno::EPERM,
                ErrorKind::PermissionDenied,
            )?;
            expect_hint(&e, "CAP_WAKE_ALARM")?;
        }
        // Clocks that need no capability still work.
        Timer::with_clock(Clock::Boottime, TimerfdFlags::empty()).map_err(|e| e.to_string())?;
        Ok(())
    }));
}

#[test]
fn cancel_on_set_reports_a_realtime_clock_jump() {
    if !is_root() {
        return skip(
            "cancel_on_set_reports_a_realtime_clock_jump",
            "setting the clock needs root",
        );
    }
    let mut t = Timer::with_clock(Clock::Realtime, TimerfdFlags::NONBLOCK).unwrap();
    let far = Clock::Realtime.now().unwrap() + Duration::from_secs(3600);
    t.set_with_flags(
        TimerVal::new().after(far),
        TimerfdTimerFlags::ABSTIME | TimerfdTimerFlags::CANCEL_ON_SET,
    )
    .unwrap();
    // Set the clock to (almost exactly) what it reads: a jump of microseconds, but a jump.
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid timespec pointers.
    let set = unsafe {
        libc::clock_gettime(libc::CLOCK_REALTIME, &mut now);
        libc::clock_settime(libc::CLOCK_REALTIME, &now)
    };
    if set != 0 {
        return skip(
            "cancel_on_set_reports_a_realtime_clock_jump",
            &format!("clock_settime failed: {}", std::io::Error::last_os_error()),
        );
    }
    let e = expect_err(
        t.read_event(),
        "timerfd_read",
        Errno::ECANCELED,
        ErrorKind::Cancelled,
    )
    .unwrap();
    assert!(e.to_string().contains("CANCEL_ON_SET"), "{e}");
}

#[test]
fn timer_val_builder_follows_the_original_semantics() {
    let s = Duration::from_secs;
    assert_eq!(
        TimerVal::new().every(s(2)),
        TimerVal {
            value: s(2),
            interval: s(2)
        }
    );
    assert_eq!(
        TimerVal::new().after(s(5)).every(s(2)),
        TimerVal {
            value: s(5),
            interval: s(2)
        }
    );
    let t = TimerVal::new().every(s(2)).after(Duration::ZERO);
    assert!(!t.is_armed() && t.is_periodic());
    assert_eq!(
        TimerVal::new().repeats(s(1)).offset(s(3)),
        TimerVal {
            value: s(3),
            interval: s(1)
        }
    );
    assert!(!TimerVal::new().every(s(1)).disable().is_armed());
}

#[test]
fn zero_value_disarms_a_running_timer() {
    let mut t = Timer::new().unwrap();
    t.set(TimerVal::new().every(MS)).unwrap();
    t.set(TimerVal::new().every(MS).disable()).unwrap();
    // Possibly one expiry landed before the disarm; none after.
    let _ = t.wait(Some(Duration::ZERO)).unwrap();
    assert_eq!(t.wait(Some(10 * MS)).unwrap(), None);
    assert_eq!(t.get().unwrap().value, Duration::ZERO);
}

#[test]
fn timer_slack_is_per_thread_and_reversible() {
    std::thread::spawn(|| {
        let default = timer_slack().unwrap();
        set_timer_slack(Some(Duration::from_millis(2))).unwrap();
        assert_eq!(timer_slack().unwrap(), Duration::from_millis(2));
        // A new thread inherits it.
        let inherited = std::thread::spawn(|| timer_slack().unwrap())
            .join()
            .unwrap();
        assert_eq!(inherited, Duration::from_millis(2));
        // Zero is not "none" to the kernel: it is clamped to 1 ns.
        set_timer_slack(Some(Duration::ZERO)).unwrap();
        assert_eq!(timer_slack().unwrap(), Duration::from_nanos(1));
        set_timer_slack(None).unwrap();
        assert_eq!(timer_slack().unwrap(), default);
    })
    .join()
    .unwrap();
}

proptest! {
    #[test]
    fn durations_round_trip_through_itimerspec(
        vs in 0..=i64::MAX as u64, vn in 0..1_000_000_000u32,
        is in 0..=i64::MAX as u64, inn in 0..1_000_000_000u32,
    ) {
        let val = TimerVal { value: Duration::new(vs, vn), interval: Duration::new(is, inn) };
        let spec = Itimerspec::try_from(val).unwrap();
        prop_assert_eq!(spec.it_value.tv_sec as u64, vs);
        prop_assert_eq!(spec.it_value.tv_nsec as u32, vn);
        prop_assert_eq!(spec.it_interval.tv_sec as u64, is);
        prop_assert_eq!(TimerVal::try_from(&spec).unwrap(), val);
    }

    #[test]
    fn durations_beyond_i64_seconds_are_refused(s in (i64::MAX as u64 + 1)..=u64::MAX, n in 0..1_000_000_000u32) {
        let val = TimerVal::new().after(Duration::new(s, n));
        let e = Itimerspec::try_from(val).unwrap_err();
        prop_assert_eq!(e.errno(), Errno::EOVERFLOW);
    }

    #[test]
    fn only_normalised_timespecs_convert(sec in any::<i64>(), nsec in any::<i64>()) {
        let ts = Timespec { tv_sec: sec, tv_nsec: nsec };
        let spec = Itimerspec { it_value: ts, it_interval: Timespec { tv_sec: 0, tv_nsec: 0 } };
        let ok = sec >= 0 && (0..1_000_000_000).contains(&nsec);
        match TimerVal::try_from(&spec) {
            Ok(v) => {
                prop_assert!(ok);
                prop_assert_eq!(v.value, Duration::new(sec as u64, nsec as u32));
            }
            Err(e) => {
                prop_assert!(!ok);
                prop_assert_eq!(e.errno(), Errno::EINVAL);
            }
        }
    }

    #[test]
    fn every_arms_only_a_zero_value(v in 0..10_000u64, p in 1..10_000u64) {
        let t = TimerVal::new().after(Duration::from_micros(v)).every(Duration::from_micros(p));
        let expect = if v == 0 { p } else { v };
        prop_assert_eq!(t.value, Duration::from_micros(expect));
        prop_assert_eq!(t.interval, Duration::from_micros(p));
    }
}
