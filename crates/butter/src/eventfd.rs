//! eventfd: a kernel counter used as a wake-up or semaphore between threads and processes.
//!
//! [`eventfd`](https://man7.org/linux/man-pages/man2/eventfd.2.html) creates a descriptor
//! holding a 64-bit counter. Writing adds to it; reading returns it and resets it to zero —
//! or, in semaphore mode, returns 1 and decrements it. The descriptor is readable while the
//! counter is above zero, so it works with `poll`, `epoll` and async runtimes.
//!
//! The counter's largest value is `u64::MAX - 1`: writing `u64::MAX` is invalid, and a write
//! that would overflow blocks (or fails with `EAGAIN` when non-blocking).
//!
//! ```
//! use butter::eventfd::EventFd;
//! use butter::EventSource;
//! use std::time::Duration;
//!
//! let mut ev = EventFd::new()?;
//! ev.increment(2)?;
//! ev.increment(3)?;
//! assert_eq!(ev.read()?, 5);
//! assert_eq!(ev.wait(Some(Duration::from_millis(1)))?, None);
//! # Ok::<(), butter::Error>(())
//! ```

use std::collections::VecDeque;
use std::os::fd::{AsFd, OwnedFd};

pub use rustix::event::EventfdFlags;

use crate::error::{Call, Errno, Error, FD_LIMIT_HINT, Result};
use crate::event::{EventSource, impl_fd_traits, read_u64};

/// Creates an eventfd with counter `initval`: [`eventfd(2)`](https://man7.org/linux/man-pages/man2/eventfd.2.html).
///
/// `EFD_CLOEXEC` is always added. `flags` may add `NONBLOCK` and `SEMAPHORE`.
pub fn eventfd(initval: u32, flags: EventfdFlags) -> Result<OwnedFd> {
    rustix::event::eventfd(initval, flags | EventfdFlags::CLOEXEC)
        .call("eventfd")
        .map_err(|e| e.hint_if(Errno::EMFILE, FD_LIMIT_HINT))
}

/// Reads the counter: its value (resetting it to 0), or 1 in semaphore mode (decrementing
/// it). Waits while it is 0, or fails with `EAGAIN` if the descriptor is non-blocking.
#[inline]
pub fn eventfd_read(fd: impl AsFd) -> Result<u64> {
    read_u64(fd.as_fd(), "eventfd_read")
}

/// Adds `value` to the counter. `u64::MAX` is invalid (`EINVAL`); a sum above
/// `u64::MAX - 1` waits for a reader, or fails with `EAGAIN` if the descriptor is
/// non-blocking.
#[inline]
pub fn eventfd_write(fd: impl AsFd, value: u64) -> Result<()> {
    let buf = value.to_ne_bytes();
    loop {
        match rustix::io::write(fd.as_fd(), &buf) {
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => {
                return Err(Error::from_rustix("eventfd_write", e).hint_if(
                    Errno::EINVAL,
                    "the value must be below u64::MAX (or the descriptor is not an eventfd)",
                ));
            }
        }
    }
}

/// An eventfd counter: increment it from anywhere, read or wait for it where it is consumed.
///
/// Reads go through [`EventSource`]: each event is the value read (the whole counter, or 1
/// in semaphore mode). [`EventFd::increment`] takes `&self`, so one `EventFd` in an `Arc`
/// can be incremented from many threads.
#[derive(Debug)]
pub struct EventFd {
    fd: OwnedFd,
    queue: VecDeque<u64>,
}

impl EventFd {
    /// A blocking eventfd with counter 0.
    pub fn new() -> Result<EventFd> {
        EventFd::with_flags(0, EventfdFlags::empty())
    }

    /// An eventfd with counter `initval` and `flags` (`NONBLOCK`, `SEMAPHORE`); close-on-exec
    /// always.
    pub fn with_flags(initval: u32, flags: EventfdFlags) -> Result<EventFd> {
        Ok(EventFd::from(eventfd(initval, flags)?))
    }

    /// Adds `value` to the counter, waking readers.
    #[inline]
    pub fn increment(&self, value: u64) -> Result<()> {
        eventfd_write(&self.fd, value)
    }

    /// Reads the counter (see [`eventfd_read`]); the same as [`EventSource::read_event`].
    #[inline]
    pub fn read(&mut self) -> Result<u64> {
        self.read_event()
    }
}

impl EventSource for EventFd {
    type Event = u64;

    #[inline]
    fn fill(&mut self) -> Result<()> {
        let value = eventfd_read(&self.fd)?;
        self.queue.push_back(value);
        Ok(())
    }

    #[inline]
    fn queue(&mut self) -> &mut VecDeque<u64> {
        &mut self.queue
    }

    #[inline]
    fn read_event(&mut self) -> Result<u64> {
        match self.queue.pop_front() {
            Some(v) => Ok(v),
            None => eventfd_read(&self.fd),
        }
    }
}

impl From<OwnedFd> for EventFd {
    /// Adopts a descriptor that must be an eventfd.
    fn from(fd: OwnedFd) -> EventFd {
        EventFd {
            fd,
            queue: VecDeque::new(),
        }
    }
}

impl_fd_traits!(EventFd);

/// An [`EventFd`] for async code: a `Stream` of counter values, and an async
/// [`increment`](crate::Async::<EventFd>::increment).
#[cfg(feature = "tokio")]
pub type AsyncEventFd = crate::Async<EventFd>;

#[cfg(feature = "tokio")]
impl crate::Async<EventFd> {
    /// Adds `value` to the counter, waiting while that would overflow it.
    pub async fn increment(&self, value: u64) -> Result<()> {
        self.write_with(|ev| ev.increment(value), "eventfd_write")
            .await
    }
}
