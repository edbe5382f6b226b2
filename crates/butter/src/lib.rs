//! Linux's low-level features, as thin 1:1 calls and as event-like objects, blocking or async.
//!
//! butter wraps the kernel interfaces that the standard library leaves out. Each module is
//! one kernel family, and has three layers:
//!
//! 1. **thin calls**, one per system call, named after it, documented with its man page:
//!    [`inotify::inotify_add_watch`], [`timerfd::timerfd_settime`], …;
//! 2. **an event-like type** that owns its descriptor and implements [`EventSource`]:
//!    [`read_event`](EventSource::read_event), [`read_events`](EventSource::read_events)
//!    and [`wait(timeout)`](EventSource::wait) — [`inotify::Inotify`],
//!    [`eventfd::EventFd`], [`timerfd::Timer`], [`signalfd::SignalFd`];
//! 3. with the `tokio` feature, **an async form**: [`Async<T>`] around any of them, whose
//!    events are a `futures::Stream`.
//!
//! Moving data without copying it through user space has its own two modules:
//! [`pipe`] (splice, tee, a vmsplice that cannot corrupt data, pipe sizes) and
//! [`sendfile`] (sendfile with pysendfile's semantics, copy_file_range, and
//! [`sendfile::copy`], which picks the fastest path for the destination), with tokio forms
//! for sockets.
//!
//! For containers: [`mount`], [`namespace`], [`netns`], [`process`] (raw pids, hostnames, prctl),
//! [`seccomp`], [`memfd`], [`fanotify`], and [`sandbox`], which combines them to run a
//! command isolated.
//!
//! Every descriptor butter creates is close-on-exec. Every type that owns one implements
//! [`AsFd`](std::os::fd::AsFd), [`AsRawFd`](std::os::fd::AsRawFd), `From<OwnedFd>` and
//! `Into<OwnedFd>`. Every failure is an [`Error`] that keeps the errno, names the call, and
//! explains the confusing cases.
//!
//! ```
//! use butter::inotify::{Event, Inotify, Mask};
//! use butter::EventSource;
//! use std::time::Duration;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let mut inotify = Inotify::new()?;
//! inotify.add_watch(dir.path(), Mask::CREATE)?;
//! std::fs::write(dir.path().join("new-file"), b"")?;
//! if let Some(Event::Watch(ev)) = inotify.wait(Some(Duration::from_secs(1)))? {
//!     println!("{:?} {:?}", ev.kind(), ev.name_os());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Linux only.

#![cfg(target_os = "linux")]

#[cfg(feature = "tokio")]
mod async_fd;
mod error;
mod event;

pub mod eventfd;
pub mod fanotify;
pub mod inotify;
pub mod memfd;
pub mod mount;
pub mod namespace;
pub mod netns;
pub mod pipe;
pub mod process;
pub mod sandbox;
pub mod seccomp;
pub mod sendfile;
pub mod signalfd;
pub mod timerfd;

#[cfg(feature = "tokio")]
pub use async_fd::{Async, OwnsFd};
pub use error::{Errno, Error, ErrorKind, Result};
pub use event::{EventSource, is_nonblocking, poll_readable, poll_writable, set_nonblocking};
