//! timerfd: timers that expire through a descriptor, on any clock the kernel allows.
//!
//! [`timerfd_create(2)`](https://man7.org/linux/man-pages/man2/timerfd_create.2.html) makes
//! a descriptor that becomes readable when its timer expires; reading returns how many times
//! it expired since the last read (more than one when the reader falls behind a periodic
//! timer). [`Timer`] is the event-like form; [`TimerVal`] is the setting, built fluently:
//!
//! ```
//! use butter::timerfd::{Timer, TimerVal};
//! use butter::EventSource;
//! use std::time::Duration;
//!
//! let mut timer = Timer::new()?; // CLOCK_MONOTONIC
//! timer.set(TimerVal::new().after(Duration::from_millis(5)).every(Duration::from_millis(5)))?;
//! let expirations = timer.read_event()?; // waits about 5 ms
//! assert!(expirations >= 1);
//! timer.disarm()?;
//! # Ok::<(), butter::Error>(())
//! ```
//!
//! # Clocks
//!
//! [`Clock::Monotonic`] is the default: it never jumps. [`Clock::Realtime`] follows the wall
//! clock (and jumps with it), [`Clock::Boottime`] is monotonic but keeps counting while the
//! system is suspended. The alarm clocks [`Clock::RealtimeAlarm`] and
//! [`Clock::BoottimeAlarm`] are the "wake" timers: they wake the system from suspend, and
//! need `CAP_WAKE_ALARM` — without it creation fails with `EPERM` and a hint saying so. The
//! kernel rejects the other clocks (coarse, raw, CPU-time) with `EINVAL`.
//!
//! # Timer slack
//!
//! The "slack" timers of the original butter are the thread's timer slack,
//! [`timer_slack`] / [`set_timer_slack`] (`prctl(PR_SET_TIMERSLACK)`): the kernel may
//! delay the thread's *sleeps and poll timeouts* by up to the slack (50 µs by default) so
//! that nearby wake-ups coalesce and the CPU idles longer. timerfd expirations are not
//! subject to it: the kernel arms them without slack (measured here: a 1 ms timerfd
//! expired after 1.04 ms with 50 ms of slack, while a 1 ms `poll` timeout took 49.5 ms).
//! So slack lengthens the timeout of [`EventSource::wait`], not a [`Timer`]'s period.

use std::collections::VecDeque;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::time::Duration;

pub use rustix::time::{Itimerspec, TimerfdFlags, TimerfdTimerFlags, Timespec};

pub use crate::process::{set_timer_slack, timer_slack};

use crate::error::{Call, Errno, Error, FD_LIMIT_HINT, Result};
use crate::event::{EventSource, impl_fd_traits, read_u64};

/// The clock a timer counts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Clock {
    /// `CLOCK_REALTIME`: wall-clock time; jumps when the clock is set.
    Realtime,
    /// `CLOCK_MONOTONIC`: steady time since an unspecified start, stopped during suspend.
    #[default]
    Monotonic,
    /// `CLOCK_BOOTTIME`: like monotonic, but counts time spent suspended.
    Boottime,
    /// `CLOCK_REALTIME_ALARM`: realtime, and wakes the system from suspend
    /// (needs `CAP_WAKE_ALARM`).
    RealtimeAlarm,
    /// `CLOCK_BOOTTIME_ALARM`: boottime, and wakes the system from suspend
    /// (needs `CAP_WAKE_ALARM`).
    BoottimeAlarm,
    /// Any other clock id, passed as it is (the kernel rejects those timerfd does not
    /// support with `EINVAL`).
    Other(libc::clockid_t),
}

impl Clock {
    /// The clock's id, as `clock_gettime(2)` takes it.
    pub fn as_raw(self) -> libc::clockid_t {
        match self {
            Clock::Realtime => libc::CLOCK_REALTIME,
            Clock::Monotonic => libc::CLOCK_MONOTONIC,
            Clock::Boottime => libc::CLOCK_BOOTTIME,
            Clock::RealtimeAlarm => libc::CLOCK_REALTIME_ALARM,
            Clock::BoottimeAlarm => libc::CLOCK_BOOTTIME_ALARM,
            Clock::Other(id) => id,
        }
    }

    /// The clock with id `id`.
    pub fn from_raw(id: libc::clockid_t) -> Clock {
        match id {
            libc::CLOCK_REALTIME => Clock::Realtime,
            libc::CLOCK_MONOTONIC => Clock::Monotonic,
            libc::CLOCK_BOOTTIME => Clock::Boottime,
            libc::CLOCK_REALTIME_ALARM => Clock::RealtimeAlarm,
            libc::CLOCK_BOOTTIME_ALARM => Clock::BoottimeAlarm,
            other => Clock::Other(other),
        }
    }

    /// The clock's current time, as `clock_gettime(2)` reads it: for absolute timers.
    pub fn now(self) -> Result<Duration> {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec.
        if unsafe { libc::clock_gettime(self.as_raw(), &mut ts) } < 0 {
            return Err(Error::last("clock_gettime"));
        }
        Ok(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
    }
}

/// Creates a timer on `clock`: [`timerfd_create(2)`](https://man7.org/linux/man-pages/man2/timerfd_create.2.html).
///
/// `TFD_CLOEXEC` is always added; `flags` may add `NONBLOCK`. Any clock id can be passed
/// (through [`Clock::Other`]) so that the kernel, not butter, decides what it supports.
pub fn timerfd_create(clock: Clock, flags: TimerfdFlags) -> Result<OwnedFd> {
    let flags = (flags | TimerfdFlags::CLOEXEC).bits() as libc::c_int;
    // rustix's clock type cannot carry the ids the kernel rejects, and the errors for those
    // are part of the contract; glibc's wrapper is the bare system call.
    // SAFETY: plain integer arguments.
    let fd = unsafe { libc::timerfd_create(clock.as_raw(), flags) };
    if fd < 0 {
        let err = Error::last("timerfd_create");
        return Err(match err.errno() {
            Errno::EPERM => err.with_hint(
                "the alarm clocks (timers that wake the system from suspend) need CAP_WAKE_ALARM",
            ),
            Errno::EINVAL => err.with_hint(
                "timerfd supports CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME and the two \
                 ALARM clocks only, and the flags NONBLOCK and CLOEXEC",
            ),
            Errno::EMFILE | Errno::ENFILE => err.with_hint(FD_LIMIT_HINT),
            _ => err,
        });
    }
    // SAFETY: the kernel just returned this descriptor to us, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Arms or disarms the timer, returning the old setting:
/// [`timerfd_settime(2)`](https://man7.org/linux/man-pages/man2/timerfd_settime.2.html).
///
/// `flags` may hold `ABSTIME` (the value is a time on the timer's clock) and
/// `CANCEL_ON_SET` (with `ABSTIME` on a realtime clock: reads fail with `ECANCELED` when
/// the clock is set). The raw `Itimerspec` is passed as it is, so out-of-range values reach
/// the kernel and get its `EINVAL`.
#[inline]
pub fn timerfd_settime(
    fd: impl AsFd,
    flags: TimerfdTimerFlags,
    new: &Itimerspec,
) -> Result<Itimerspec> {
    rustix::time::timerfd_settime(fd, flags, new)
        .call("timerfd_settime")
        .map_err(|e| {
            e.hint_if(
                Errno::EINVAL,
                "nanoseconds must be within 0..=999999999, times not negative, and the \
                 descriptor a timerfd",
            )
        })
}

/// The time left until the next expiration, and the interval:
/// [`timerfd_gettime(2)`](https://man7.org/linux/man-pages/man2/timerfd_gettime.2.html).
/// Always relative, even for a timer armed with an absolute time.
#[inline]
pub fn timerfd_gettime(fd: impl AsFd) -> Result<Itimerspec> {
    rustix::time::timerfd_gettime(fd).call("timerfd_gettime")
}

/// Reads how many times the timer expired since it was last read or set; waits for at least
/// one on a blocking descriptor. Fails with `ECANCELED` ([`crate::ErrorKind::Cancelled`])
/// when a cancel-on-set timer's clock was set.
#[inline]
pub fn timerfd_read(fd: impl AsFd) -> Result<u64> {
    read_u64(fd.as_fd(), "timerfd_read").map_err(|e| {
        e.hint_if(
            Errno::ECANCELED,
            "the realtime clock was set (CANCEL_ON_SET)",
        )
    })
}

/// A timer setting: when it first expires (`value`) and how often after that (`interval`).
///
/// A zero `value` disarms the timer; a zero `interval` makes it one-shot. Built fluently:
/// `TimerVal::new().after(d)` expires once after `d`; `.every(p)` repeats every `p` and,
/// if no first expiry was set yet, first expires after `p` too. Order matters, as in the
/// original: `every(p).after(Duration::ZERO)` disarms.
///
/// ```
/// use butter::timerfd::TimerVal;
/// use std::time::Duration;
///
/// let t = TimerVal::new().every(Duration::from_secs(2));
/// assert_eq!((t.value, t.interval), (Duration::from_secs(2), Duration::from_secs(2)));
/// let t = TimerVal::new().after(Duration::from_secs(5)).every(Duration::from_secs(2));
/// assert_eq!(t.value, Duration::from_secs(5));
/// assert!(!TimerVal::new().every(Duration::from_secs(2)).disable().is_armed());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TimerVal {
    /// Time until the first expiry (or, for absolute timers, the time of it). Zero disarms.
    pub value: Duration,
    /// Period of the expiries after the first. Zero: only one.
    pub interval: Duration,
}

impl TimerVal {
    /// A disarmed setting.
    pub const fn new() -> TimerVal {
        TimerVal {
            value: Duration::ZERO,
            interval: Duration::ZERO,
        }
    }

    /// Sets the first expiry to `delay` from now (or, for absolute timers, to that time).
    #[must_use]
    pub const fn after(mut self, delay: Duration) -> TimerVal {
        self.value = delay;
        self
    }

    /// The original's name for [`after`](Self::after).
    #[must_use]
    pub const fn offset(self, delay: Duration) -> TimerVal {
        self.after(delay)
    }

    /// Repeats every `period`; if no first expiry is set, the first is after `period` too.
    #[must_use]
    pub const fn every(mut self, period: Duration) -> TimerVal {
        self.interval = period;
        if self.value.is_zero() {
            self.value = period;
        }
        self
    }

    /// The original's name for [`every`](Self::every).
    #[must_use]
    pub const fn repeats(self, period: Duration) -> TimerVal {
        self.every(period)
    }

    /// Clears the first expiry, which disarms the timer (the interval is kept).
    #[must_use]
    pub const fn disable(mut self) -> TimerVal {
        self.value = Duration::ZERO;
        self
    }

    /// Whether the setting arms a timer (its value is not zero).
    pub const fn is_armed(&self) -> bool {
        !self.value.is_zero()
    }

    /// Whether the timer repeats (its interval is not zero).
    pub const fn is_periodic(&self) -> bool {
        !self.interval.is_zero()
    }
}

impl TryFrom<TimerVal> for Itimerspec {
    type Error = Error;

    /// Fails with `EOVERFLOW` for durations beyond `i64::MAX` seconds.
    fn try_from(t: TimerVal) -> Result<Itimerspec> {
        let conv = |d: Duration| {
            Timespec::try_from(d).map_err(|_| {
                Error::new("timerfd_settime", Errno::EOVERFLOW)
                    .with_hint("a timer duration beyond i64::MAX seconds")
            })
        };
        Ok(Itimerspec {
            it_value: conv(t.value)?,
            it_interval: conv(t.interval)?,
        })
    }
}

impl TryFrom<&Itimerspec> for TimerVal {
    type Error = Error;

    /// Fails with `EINVAL` for negative times or nanoseconds outside `0..=999_999_999`.
    fn try_from(spec: &Itimerspec) -> Result<TimerVal> {
        let conv = |ts: Timespec| {
            if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
                return Err(Error::new("timerfd_gettime", Errno::EINVAL)
                    .with_hint("a negative or unnormalised timespec"));
            }
            Ok(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
        };
        Ok(TimerVal {
            value: conv(spec.it_value)?,
            interval: conv(spec.it_interval)?,
        })
    }
}

/// A timer on a descriptor: arm it with a [`TimerVal`], read or wait for its expirations.
///
/// Each event is the number of expirations since the previous read (at least 1).
#[derive(Debug)]
pub struct Timer {
    fd: OwnedFd,
    queue: VecDeque<u64>,
}

impl Timer {
    /// A blocking, disarmed timer on [`Clock::Monotonic`].
    pub fn new() -> Result<Timer> {
        Timer::with_clock(Clock::Monotonic, TimerfdFlags::empty())
    }

    /// A disarmed timer on `clock`, with `flags` (`NONBLOCK`); close-on-exec always.
    pub fn with_clock(clock: Clock, flags: TimerfdFlags) -> Result<Timer> {
        Ok(Timer::from(timerfd_create(clock, flags)?))
    }

    /// Arms the timer relative to now (or disarms it, for a zero value); returns the old
    /// setting, with the time that was left.
    pub fn set(&self, val: TimerVal) -> Result<TimerVal> {
        self.set_with_flags(val, TimerfdTimerFlags::empty())
    }

    /// Arms the timer to first expire when its clock reads `val.value` (see [`Clock::now`]).
    pub fn set_at(&self, val: TimerVal) -> Result<TimerVal> {
        self.set_with_flags(val, TimerfdTimerFlags::ABSTIME)
    }

    /// Arms the timer with explicit `flags` (`ABSTIME`, `CANCEL_ON_SET`).
    pub fn set_with_flags(&self, val: TimerVal, flags: TimerfdTimerFlags) -> Result<TimerVal> {
        let old = timerfd_settime(&self.fd, flags, &Itimerspec::try_from(val)?)?;
        TimerVal::try_from(&old)
    }

    /// The current setting: time left to the next expiry, and the interval.
    pub fn get(&self) -> Result<TimerVal> {
        TimerVal::try_from(&timerfd_gettime(&self.fd)?)
    }

    /// Disarms the timer; returns the old setting.
    pub fn disarm(&self) -> Result<TimerVal> {
        self.set(TimerVal::new())
    }
}

impl EventSource for Timer {
    type Event = u64;

    #[inline]
    fn fill(&mut self) -> Result<()> {
        let n = timerfd_read(&self.fd)?;
        self.queue.push_back(n);
        Ok(())
    }

    #[inline]
    fn queue(&mut self) -> &mut VecDeque<u64> {
        &mut self.queue
    }
}

impl From<OwnedFd> for Timer {
    /// Adopts a descriptor that must be a timerfd.
    fn from(fd: OwnedFd) -> Timer {
        Timer {
            fd,
            queue: VecDeque::new(),
        }
    }
}

impl_fd_traits!(Timer);

/// A [`Timer`] for async code: a `Stream` of expiration counts.
#[cfg(feature = "tokio")]
pub type AsyncTimer = crate::Async<Timer>;
