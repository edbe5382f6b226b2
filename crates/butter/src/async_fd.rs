//! Async forms of the event sources, on tokio's [`AsyncFd`].
//!
//! [`Async<T>`] wraps any [`EventSource`]: it makes the descriptor non-blocking, registers it
//! with the tokio reactor, and reads when the reactor says it is readable. When a read finds
//! nothing (`EAGAIN`), the readiness is cleared before waiting again — the step that, when
//! missed, makes an `AsyncFd` spin or stall after the first event.
//!
//! Events come out of [`Async::read_event`], [`Async::read_events`], or the
//! [`Stream`](futures_core::Stream) implementation. All three are cancel-safe: events are
//! moved from the kernel into the source's own queue within a single poll, and are only
//! taken out of that queue when they are returned, so dropping a pending read loses nothing.

use std::os::fd::{AsFd, AsRawFd};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::error::{Error, Result};
use crate::event::{EventSource, set_nonblocking};

/// An [`EventSource`] for async code: awaitable reads and a `Stream` of events.
///
/// Needs a tokio runtime with IO enabled when it is created.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> butter::Result<()> {
/// use butter::eventfd::EventFd;
/// use butter::Async;
///
/// let mut ev = Async::new(EventFd::new()?)?;
/// ev.get_ref().increment(7)?;
/// assert_eq!(ev.read_event().await?, 7);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Async<T: EventSource + OwnsFd> {
    fd: AsyncFd<T>,
}

/// A type that owns one descriptor for its whole life.
///
/// # Safety
///
/// `as_raw_fd` must return the same open descriptor, referring to the same open file
/// description, from creation until the value is dropped or converted into an `OwnedFd`, and
/// no method taking `&self` may close or replace it. [`Async`] registers that descriptor with
/// the reactor once and relies on this. Every butter event source implements it.
pub unsafe trait OwnsFd: AsRawFd {}

impl<T: EventSource + OwnsFd> Async<T> {
    /// Makes `inner`'s descriptor non-blocking and registers it with the current tokio
    /// runtime.
    pub fn new(inner: T) -> Result<Async<T>> {
        set_nonblocking(inner.as_fd(), true)?;
        // SAFETY: `T: OwnsFd` keeps the descriptor open and unchanged while `inner` lives,
        // and `Async` hands out only `&T` (no `&mut T` that could swap it out) until
        // `into_inner` deregisters it.
        let fd = unsafe {
            AsyncFd::register_with_interest(inner, Interest::READABLE | Interest::WRITABLE)
        }
        .map_err(|e| Error::from_io("AsyncFd::register", &e.into_parts().1))?;
        Ok(Async { fd })
    }

    /// The wrapped source, to add watches, arm timers, enable signals and the like. (There
    /// is no `get_mut`: swapping the source out would leave a stale registration.)
    pub fn get_ref(&self) -> &T {
        self.fd.get_ref()
    }

    /// The wrapped source, mutably, for butter's own methods that keep the descriptor.
    pub(crate) fn inner_mut(&mut self) -> &mut T {
        self.fd.get_mut()
    }

    /// Deregisters the descriptor and returns the source (its descriptor still
    /// non-blocking).
    pub fn into_inner(self) -> T {
        self.fd.into_inner()
    }

    /// Waits for and returns the next event.
    pub async fn read_event(&mut self) -> Result<T::Event> {
        std::future::poll_fn(|cx| self.poll_event(cx)).await
    }

    /// Waits for at least one event and returns every event queued.
    pub async fn read_events(&mut self) -> Result<Vec<T::Event>> {
        let first = self.read_event().await?;
        let queue = self.fd.get_mut().queue();
        let mut events = Vec::with_capacity(1 + queue.len());
        events.push(first);
        events.extend(queue.drain(..));
        Ok(events)
    }

    /// Polls for the next event; the core of the futures and of the `Stream`.
    pub fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Result<T::Event>> {
        loop {
            if let Some(event) = self.fd.get_mut().queue().pop_front() {
                return Poll::Ready(Ok(event));
            }
            let mut guard = match ready!(self.fd.poll_read_ready_mut(cx)) {
                Ok(guard) => guard,
                Err(e) => return Poll::Ready(Err(Error::from_io("AsyncFd::poll_read_ready", &e))),
            };
            match guard.get_inner_mut().fill() {
                Ok(()) => {}
                // Nothing there after all: forget the readiness and wait for the next edge.
                Err(e) if e.is_would_block() => guard.clear_ready(),
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// Runs `op` on the source when the descriptor is writable, retrying after `EAGAIN`.
    pub(crate) async fn write_with<R>(
        &self,
        mut op: impl FnMut(&T) -> Result<R>,
        call: &'static str,
    ) -> Result<R> {
        loop {
            let mut guard = self
                .fd
                .writable()
                .await
                .map_err(|e| Error::from_io(call, &e))?;
            match op(guard.get_inner()) {
                Err(e) if e.is_would_block() => guard.clear_ready(),
                other => return other,
            }
        }
    }
}

impl<T: EventSource + OwnsFd + Unpin> futures_core::Stream for Async<T> {
    type Item = Result<T::Event>;

    /// Never ends: each item is an event or the error a read returned.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_event(cx).map(Some)
    }
}

impl<T: EventSource + OwnsFd> AsRawFd for Async<T> {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

impl<T: EventSource + OwnsFd> AsFd for Async<T> {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.get_ref().as_fd()
    }
}
