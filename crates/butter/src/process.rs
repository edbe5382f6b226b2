//! The calling process and thread: timer slack (`prctl`).
//!
//! ```
//! use butter::process::{set_timer_slack, timer_slack};
//! use std::time::Duration;
//!
//! std::thread::spawn(|| {
//!     set_timer_slack(Some(Duration::from_millis(1)))?;
//!     assert_eq!(timer_slack()?, Duration::from_millis(1));
//!     Ok::<(), butter::Error>(())
//! }).join().unwrap()?;
//! # Ok::<(), butter::Error>(())
//! ```

use std::num::NonZeroU64;
use std::time::Duration;

use crate::error::{Call, Result};

/// The calling thread's timer slack:
/// [`prctl(PR_GET_TIMERSLACK)`](https://man7.org/linux/man-pages/man2/PR_GET_TIMERSLACK.2const.html).
///
/// The kernel may delay the thread's sleeps and poll/select/epoll timeouts by up to this
/// much, to group wake-ups (50 µs by default; 0 for realtime threads). timerfd expirations
/// are not delayed by it; see [`crate::timerfd`].
pub fn timer_slack() -> Result<Duration> {
    let ns = rustix::thread::current_timer_slack().call("prctl(PR_GET_TIMERSLACK)")?;
    Ok(Duration::from_nanos(ns))
}

/// Sets the calling thread's timer slack:
/// [`prctl(PR_SET_TIMERSLACK)`](https://man7.org/linux/man-pages/man2/PR_SET_TIMERSLACK.2const.html).
///
/// `None` restores the thread's default slack (the value it inherited when it was
/// created). `Some(d)` sets `d`, rounded down to whole nanoseconds and at least 1 ns (the
/// kernel reads 0 as "restore the default"). Larger slack saves power and costs timeout
/// precision. Affects only the calling thread; threads it creates later inherit it.
pub fn set_timer_slack(slack: Option<Duration>) -> Result<()> {
    let ns = slack.map(|d| {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        NonZeroU64::new(ns).unwrap_or(NonZeroU64::MIN)
    });
    rustix::thread::set_current_timer_slack(ns).call("prctl(PR_SET_TIMERSLACK)")
}
