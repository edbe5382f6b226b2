//! The event-like protocol shared by every descriptor type: [`EventSource`].
//!
//! An event source owns a descriptor the kernel makes readable when it has something to
//! report — inotify events, an eventfd counter, timer expirations, signals. Reading drains
//! what is queued into a small in-process queue; [`EventSource::read_event`] hands out one
//! event at a time from it, [`EventSource::read_events`] everything, and
//! [`EventSource::wait`] waits with a timeout (on `poll(2)`, so descriptors above 1023 work
//! and `EINTR` is retried). With the `tokio` feature, [`crate::Async`] wraps any event source
//! for async code.

use std::collections::VecDeque;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::time::Timespec;

use crate::error::{Call, Error, Result};

/// A descriptor that reports events, read one at a time, in batches, or with a timeout.
///
/// Implementors provide [`fill`](EventSource::fill) (read what the kernel has queued) and
/// [`queue`](EventSource::queue) (where read events wait); the rest is provided.
///
/// On a blocking descriptor, reading waits for the first event; on a non-blocking one it
/// fails with [`ErrorKind::WouldBlock`](crate::ErrorKind::WouldBlock) when nothing is queued.
pub trait EventSource: AsFd {
    /// One event.
    type Event;

    /// Reads what the kernel has queued now and appends it to [`queue`](Self::queue).
    ///
    /// Blocks until at least one event exists on a blocking descriptor; fails with
    /// `EAGAIN` on a non-blocking one with nothing queued. May append nothing when what it
    /// read was only the source's own bookkeeping; callers read again.
    fn fill(&mut self) -> Result<()>;

    /// Events read from the kernel but not yet handed out.
    fn queue(&mut self) -> &mut VecDeque<Self::Event>;

    /// Returns the next event, reading from the kernel only when none is queued here.
    fn read_event(&mut self) -> Result<Self::Event> {
        loop {
            if let Some(event) = self.queue().pop_front() {
                return Ok(event);
            }
            self.fill()?;
        }
    }

    /// Returns every event queued here, or, if none is, everything the kernel has queued
    /// (waiting for at least one on a blocking descriptor).
    fn read_events(&mut self) -> Result<Vec<Self::Event>> {
        while self.queue().is_empty() {
            self.fill()?;
        }
        Ok(self.queue().drain(..).collect())
    }

    /// Waits up to `timeout` (forever with `None`) for an event and returns it, or `None`
    /// when the time ran out. Works the same on blocking and non-blocking descriptors.
    fn wait(&mut self, timeout: Option<Duration>) -> Result<Option<Self::Event>> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            if let Some(event) = self.queue().pop_front() {
                return Ok(Some(event));
            }
            // No deadline (no timeout, or one too far to represent): wait forever.
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if !poll_readable(self.as_fd(), left)? {
                return Ok(None);
            }
            match self.fill() {
                Ok(()) => {}
                // Someone else drained it, or a spurious wake-up: wait again.
                Err(e) if e.is_would_block() => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Forgets the events queued here without returning them.
    fn truncate(&mut self) {
        self.queue().clear();
    }
}

/// Waits until `fd` is readable or `timeout` passes (`None`: forever); `true` if readable.
///
/// Built on [`poll(2)`](https://man7.org/linux/man-pages/man2/poll.2.html); an `EINTR` is
/// retried with the time that is left. The thread's timer slack
/// ([`crate::process::timer_slack`]) may lengthen the timeout.
pub fn poll_readable(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> Result<bool> {
    poll_for(fd, PollFlags::IN, timeout)
}

/// Waits until `fd` is writable or `timeout` passes (`None`: forever); `true` if writable
/// (or if it has an error or hang-up to report, which the next write will give). As
/// [`poll_readable`] otherwise.
pub fn poll_writable(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> Result<bool> {
    poll_for(fd, PollFlags::OUT, timeout)
}

fn poll_for(fd: BorrowedFd<'_>, events: PollFlags, timeout: Option<Duration>) -> Result<bool> {
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        let left = deadline.map(|d| to_timespec(d.saturating_duration_since(Instant::now())));
        let mut fds = [PollFd::new(&fd, events)];
        match rustix::event::poll(&mut fds, left.as_ref()) {
            Ok(0) => return Ok(false),
            Ok(_) => {
                let revents = fds[0].revents();
                if revents.contains(PollFlags::NVAL) {
                    return Err(Error::new("poll", nix::errno::Errno::EBADF));
                }
                return Ok(true);
            }
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e).call("poll"),
        }
    }
}

/// A duration as a `timespec`, saturating at the largest one.
fn to_timespec(d: Duration) -> Timespec {
    Timespec::try_from(d).unwrap_or(Timespec {
        tv_sec: i64::MAX,
        tv_nsec: 999_999_999,
    })
}

/// Sets or clears `O_NONBLOCK` on `fd`.
pub fn set_nonblocking(fd: BorrowedFd<'_>, nonblocking: bool) -> Result<()> {
    use rustix::fs::OFlags;
    let flags = rustix::fs::fcntl_getfl(fd).call("fcntl(F_GETFL)")?;
    let new = if nonblocking {
        flags | OFlags::NONBLOCK
    } else {
        flags - OFlags::NONBLOCK
    };
    if new != flags {
        rustix::fs::fcntl_setfl(fd, new).call("fcntl(F_SETFL)")?;
    }
    Ok(())
}

/// Whether `O_NONBLOCK` is set on `fd`.
pub fn is_nonblocking(fd: BorrowedFd<'_>) -> Result<bool> {
    let flags = rustix::fs::fcntl_getfl(fd).call("fcntl(F_GETFL)")?;
    Ok(flags.contains(rustix::fs::OFlags::NONBLOCK))
}

/// Reads exactly one 8-byte counter, as eventfd and timerfd deliver them.
#[inline]
pub(crate) fn read_u64(fd: BorrowedFd<'_>, call: &'static str) -> Result<u64> {
    let mut buf = [0u8; 8];
    loop {
        match rustix::io::read(fd, &mut buf) {
            Ok(8) => return Ok(u64::from_ne_bytes(buf)),
            Ok(_) => {
                return Err(Error::new(call, nix::errno::Errno::EINVAL)
                    .with_hint("a short read: the descriptor is not of the expected kind"));
            }
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e).call(call),
        }
    }
}

/// Implements [`AsFd`], [`AsRawFd`](std::os::fd::AsRawFd) and `From<T> for OwnedFd` for a
/// type whose descriptor is its `fd` field.
macro_rules! impl_fd_traits {
    ($t:ty) => {
        impl ::std::os::fd::AsFd for $t {
            fn as_fd(&self) -> ::std::os::fd::BorrowedFd<'_> {
                self.fd.as_fd()
            }
        }
        impl ::std::os::fd::AsRawFd for $t {
            fn as_raw_fd(&self) -> ::std::os::fd::RawFd {
                ::std::os::fd::AsRawFd::as_raw_fd(&self.fd)
            }
        }
        impl From<$t> for ::std::os::fd::OwnedFd {
            fn from(value: $t) -> ::std::os::fd::OwnedFd {
                value.fd
            }
        }
        // SAFETY: the descriptor is a private `OwnedFd` field, set at construction and never
        // replaced or closed by any `&self` method.
        #[cfg(feature = "tokio")]
        unsafe impl $crate::OwnsFd for $t {}
    };
}
pub(crate) use impl_fd_traits;
