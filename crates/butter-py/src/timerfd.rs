//! Raw calls for `butter.timerfd`, with C contracts (the result, or `-1` with the errno
//! stored) so that `butter._timerfd.C` stays a patchable seam.
//!
//! A `struct itimerspec` crosses as four integers in the C field order,
//! `[interval_sec, interval_nsec, value_sec, value_nsec]`: the new setting is any sequence
//! of four ints, and the old or current one is written into a list the caller passes, as C
//! writes through its `struct itimerspec *` (`None` for a NULL `old_value`). Values are
//! passed to the kernel unchecked, so an out-of-range one gets the kernel's `EINVAL`.

use pyo3::prelude::*;
use pyo3::types::PyList;
use rustix::time::{Itimerspec, TimerfdTimerFlags, Timespec};

use crate::errno;

/// `fd` as a descriptor number, or `None` with `EBADF` stored for numbers no descriptor
/// can have.
fn number(fd: i64) -> Option<i32> {
    match i32::try_from(fd) {
        Ok(fd) if fd >= 0 => Some(fd),
        _ => {
            errno::set(libc::EBADF);
            None
        }
    }
}

/// Replaces the contents of `out` with the four fields of `spec`.
fn fill(out: &Bound<'_, PyList>, spec: &Itimerspec) -> PyResult<()> {
    out.del_slice(0, usize::MAX)?;
    for v in [
        spec.it_interval.tv_sec,
        spec.it_interval.tv_nsec,
        spec.it_value.tv_sec,
        spec.it_value.tv_nsec,
    ] {
        out.append(v)?;
    }
    Ok(())
}

/// `timerfd_create(clockid, flags)`: a new timer descriptor, or `-1` with the errno stored.
/// Every clock id and flag reaches the kernel, which decides (`EINVAL` for the clocks
/// timerfd does not support, `EPERM` for the alarm clocks without `CAP_WAKE_ALARM`).
#[pyfunction]
pub fn timerfd_create(clockid: i64, flags: i64) -> i64 {
    let (Ok(clockid), Ok(flags)) = (i32::try_from(clockid), i32::try_from(flags)) else {
        errno::set(libc::EINVAL);
        return -1;
    };
    // rustix's clock type cannot carry the ids the kernel rejects, and those errors are
    // part of the contract; glibc's wrapper is the bare system call.
    // SAFETY: plain integer arguments.
    errno::ret_libc(i64::from(unsafe { libc::timerfd_create(clockid, flags) }))
}

/// `timerfd_gettime(fd, curr)`: writes the time left until the next expiration and the
/// interval into the list `curr` (`[interval_sec, interval_nsec, value_sec, value_nsec]`);
/// returns 0, or `-1` with the errno stored.
#[pyfunction]
pub fn timerfd_gettime(fd: i64, curr: &Bound<'_, PyList>) -> PyResult<i64> {
    let Some(raw) = number(fd) else {
        return Ok(-1);
    };
    let Ok(fd) = crate::args::borrow(&raw) else {
        unreachable!("number returns descriptor numbers that are not negative")
    };
    match rustix::time::timerfd_gettime(fd) {
        Ok(spec) => {
            fill(curr, &spec)?;
            Ok(0)
        }
        Err(e) => Ok(errno::ret::<i64>(Err(e))),
    }
}

/// `timerfd_settime(fd, flags, new, old)`: arms or disarms the timer with `new` (four ints,
/// as above) and writes the previous setting into the list `old` unless it is `None`;
/// returns 0, or `-1` with the errno stored. Fields that do not fit the kernel's 64-bit
/// `time_t`/`long` give `EINVAL`, as the kernel does for out-of-range nanoseconds.
#[pyfunction]
#[pyo3(signature = (fd, flags, new, old=None))]
pub fn timerfd_settime(
    fd: i64,
    flags: i64,
    new: &Bound<'_, PyAny>,
    old: Option<&Bound<'_, PyList>>,
) -> PyResult<i64> {
    let fields: Vec<Bound<'_, PyAny>> = new.try_iter()?.collect::<PyResult<_>>()?;
    let fields: Vec<i64> = match fields.iter().map(|v| v.extract::<i64>()).collect() {
        Ok(f) => f,
        Err(e) if e.is_instance_of::<pyo3::exceptions::PyOverflowError>(new.py()) => {
            errno::set(libc::EINVAL);
            return Ok(-1);
        }
        Err(e) => return Err(e),
    };
    let [isec, insec, vsec, vnsec] = fields[..] else {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "an itimerspec is four integers: interval seconds and nanoseconds, value \
             seconds and nanoseconds",
        ));
    };
    let Ok(flags) = u32::try_from(flags) else {
        errno::set(libc::EINVAL);
        return Ok(-1);
    };
    let spec = Itimerspec {
        it_interval: Timespec {
            tv_sec: isec,
            tv_nsec: insec as _,
        },
        it_value: Timespec {
            tv_sec: vsec,
            tv_nsec: vnsec as _,
        },
    };
    let Some(raw) = number(fd) else {
        return Ok(-1);
    };
    let Ok(fd) = crate::args::borrow(&raw) else {
        unreachable!("number returns descriptor numbers that are not negative")
    };
    let flags = TimerfdTimerFlags::from_bits_retain(flags);
    match rustix::time::timerfd_settime(fd, flags, &spec) {
        Ok(prev) => {
            if let Some(old) = old {
                fill(old, &prev)?;
            }
            Ok(0)
        }
        Err(e) => Ok(errno::ret::<i64>(Err(e))),
    }
}

/// Reads a timer's expiration count since the last read or setting, with the GIL
/// released; raises `OSError` as `os.read` would (`BlockingIOError` on a non-blocking timer
/// that has not expired, `ECANCELED` after a clock jump with `TFD_TIMER_CANCEL_ON_SET`),
/// `ValueError` when `fd` is `None` (a closed object).
#[pyfunction]
pub fn timerfd_read(py: Python<'_>, fd: Option<i32>) -> PyResult<u64> {
    crate::eventfd::read_u64(py, fd)
}

/// `prctl(PR_GET_TIMERSLACK)`: the calling thread's timer slack in nanoseconds, or `-1` with
/// the errno stored.
#[pyfunction]
pub fn timerslack_get() -> i64 {
    match rustix::thread::current_timer_slack() {
        Ok(ns) => i64::try_from(ns).unwrap_or(i64::MAX),
        Err(e) => errno::ret::<i64>(Err(e)),
    }
}

/// `prctl(PR_SET_TIMERSLACK, ns)`: sets the calling thread's timer slack (0 restores the
/// thread's default); returns 0, or `-1` with the errno stored (`EINVAL` for a negative
/// value).
#[pyfunction]
pub fn timerslack_set(ns: i64) -> i64 {
    let Ok(ns) = u64::try_from(ns) else {
        errno::set(libc::EINVAL);
        return -1;
    };
    errno::ret(
        rustix::thread::set_current_timer_slack(std::num::NonZeroU64::new(ns)).map(|()| 0i64),
    )
}

/// Adds the timerfd raw calls and constants to `butter._native`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(timerfd_create, m)?)?;
    m.add_function(wrap_pyfunction!(timerfd_gettime, m)?)?;
    m.add_function(wrap_pyfunction!(timerfd_settime, m)?)?;
    m.add_function(wrap_pyfunction!(timerfd_read, m)?)?;
    m.add_function(wrap_pyfunction!(timerslack_get, m)?)?;
    m.add_function(wrap_pyfunction!(timerslack_set, m)?)?;
    m.add("TFD_CLOEXEC", libc::TFD_CLOEXEC)?;
    m.add("TFD_NONBLOCK", libc::TFD_NONBLOCK)?;
    m.add("TFD_TIMER_ABSTIME", libc::TFD_TIMER_ABSTIME)?;
    m.add("TFD_TIMER_CANCEL_ON_SET", libc::TFD_TIMER_CANCEL_ON_SET)?;
    for (name, id) in [
        ("CLOCK_REALTIME", libc::CLOCK_REALTIME),
        ("CLOCK_MONOTONIC", libc::CLOCK_MONOTONIC),
        ("CLOCK_PROCESS_CPUTIME_ID", libc::CLOCK_PROCESS_CPUTIME_ID),
        ("CLOCK_THREAD_CPUTIME_ID", libc::CLOCK_THREAD_CPUTIME_ID),
        ("CLOCK_MONOTONIC_RAW", libc::CLOCK_MONOTONIC_RAW),
        ("CLOCK_REALTIME_COARSE", libc::CLOCK_REALTIME_COARSE),
        ("CLOCK_MONOTONIC_COARSE", libc::CLOCK_MONOTONIC_COARSE),
        ("CLOCK_BOOTTIME", libc::CLOCK_BOOTTIME),
        ("CLOCK_REALTIME_ALARM", libc::CLOCK_REALTIME_ALARM),
        ("CLOCK_BOOTTIME_ALARM", libc::CLOCK_BOOTTIME_ALARM),
    ] {
        m.add(name, id)?;
    }
    Ok(())
}
