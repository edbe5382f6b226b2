//! inotify: watch files and directories for changes.
//!
//! [`inotify(7)`](https://man7.org/linux/man-pages/man7/inotify.7.html) reports what
//! happens to watched files and to the entries of watched directories. [`Inotify`] is the
//! event-like form: add watches, then read [`Event`]s. Overflow of the kernel's queue is
//! [`Event::Overflow`], a variant of its own, so it cannot be mistaken for a watch's event
//! or dropped by a filter. [`watch`] waits for one event on one path; [`RecursiveWatcher`]
//! watches a whole tree and keeps up as directories come and go.
//!
//! ```
//! use butter::inotify::{Event, EventKind, Inotify, Mask};
//! use butter::EventSource;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let mut inotify = Inotify::new()?;
//! let wd = inotify.add_watch(dir.path(), Mask::CREATE | Mask::DELETE)?;
//! std::fs::write(dir.path().join("hello"), b"hi").unwrap();
//! match inotify.read_event()? {
//!     Event::Watch(ev) => {
//!         assert_eq!(ev.wd, wd);
//!         assert_eq!(ev.kind(), EventKind::Create);
//!         assert_eq!(ev.name_bytes(), Some(&b"hello"[..]));
//!     }
//!     Event::Overflow => unreachable!("one event cannot overflow the queue"),
//! }
//! # Ok::<(), butter::Error>(())
//! ```
//!
//! [`EventSource::read_events`] returns everything the kernel has queued at the time of the
//! call, read in 64 KiB pieces; the buffer always holds the
//! largest possible event, so a read never fails for lack of room. [`Inotify::read_raw`]
//! hands out one read's events without copying their names.
//!
//! Limits: each watch counts against `fs.inotify.max_user_watches` (adding one past it fails
//! with `ENOSPC`, which here means the watch limit, not a full disk, and the error says so);
//! each instance against `fs.inotify.max_user_instances`; each queue holds
//! `fs.inotify.max_queued_events` events before it overflows.

mod event;
mod recursive;

use std::collections::VecDeque;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

pub use event::{
    Event, EventKind, EventRef, HEADER_SIZE, MIN_READ_BUFFER, Move, Name, ParseError, Parser,
    WatchEvent, pair_moves, parse,
};
#[cfg(feature = "tokio")]
pub use recursive::AsyncRecursiveWatcher;
pub use recursive::{Change, RecursiveWatcher, TreeEvent};
pub use rustix::fs::inotify::CreateFlags as InitFlags;

use crate::error::{Call, Errno, Error, FD_LIMIT_HINT, Result};
use crate::event::{EventSource, impl_fd_traits};

bitflags::bitflags! {
    /// inotify's `IN_*` bits: what to watch for, how to watch, and what an event reports.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct Mask: u32 {
        /// A file was read.
        const ACCESS = libc::IN_ACCESS;
        /// A file was written.
        const MODIFY = libc::IN_MODIFY;
        /// Metadata changed: permissions, timestamps, ownership, link count, xattrs.
        const ATTRIB = libc::IN_ATTRIB;
        /// A file opened for writing was closed.
        const CLOSE_WRITE = libc::IN_CLOSE_WRITE;
        /// A file not opened for writing was closed.
        const CLOSE_NOWRITE = libc::IN_CLOSE_NOWRITE;
        /// Either close.
        const CLOSE = libc::IN_CLOSE;
        /// A file or directory was opened.
        const OPEN = libc::IN_OPEN;
        /// An entry was renamed away from a watched directory.
        const MOVED_FROM = libc::IN_MOVED_FROM;
        /// An entry was renamed into a watched directory.
        const MOVED_TO = libc::IN_MOVED_TO;
        /// Either half of a rename.
        const MOVE = libc::IN_MOVE;
        /// An entry was created in a watched directory.
        const CREATE = libc::IN_CREATE;
        /// An entry was deleted from a watched directory.
        const DELETE = libc::IN_DELETE;
        /// The watched object itself was deleted.
        const DELETE_SELF = libc::IN_DELETE_SELF;
        /// The watched object itself was moved.
        const MOVE_SELF = libc::IN_MOVE_SELF;
        /// Every event above.
        const ALL_EVENTS = libc::IN_ALL_EVENTS;

        /// (event) The watched object's filesystem was unmounted.
        const UNMOUNT = libc::IN_UNMOUNT;
        /// (event) The queue overflowed; surfaced as [`Event::Overflow`].
        const Q_OVERFLOW = libc::IN_Q_OVERFLOW;
        /// (event) The watch was removed; its descriptor is no longer valid.
        const IGNORED = libc::IN_IGNORED;
        /// (event) The subject is a directory.
        const ISDIR = libc::IN_ISDIR;

        /// (watch) Watch the path only if it is a directory (`ENOTDIR` otherwise).
        const ONLYDIR = libc::IN_ONLYDIR;
        /// (watch) Do not follow a symbolic link at the path.
        const DONT_FOLLOW = libc::IN_DONT_FOLLOW;
        /// (watch) No events for entries after they are unlinked.
        const EXCL_UNLINK = libc::IN_EXCL_UNLINK;
        /// (watch) Fail with `EEXIST` if the path is watched already (Linux 4.18).
        const MASK_CREATE = libc::IN_MASK_CREATE;
        /// (watch) Add to the mask of an existing watch instead of replacing it.
        const MASK_ADD = libc::IN_MASK_ADD;
        /// (watch) Remove the watch after its first event.
        const ONESHOT = libc::IN_ONESHOT;
    }
}

/// A watch descriptor: names one watch of one inotify instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Wd(i32);

impl Wd {
    /// The kernel's number for the watch.
    pub const fn as_raw(self) -> i32 {
        self.0
    }

    /// A watch descriptor from the kernel's number.
    pub const fn from_raw(wd: i32) -> Wd {
        Wd(wd)
    }
}

/// Creates an inotify instance:
/// [`inotify_init1(2)`](https://man7.org/linux/man-pages/man2/inotify_init1.2.html).
///
/// `IN_CLOEXEC` is always added; `flags` may add `NONBLOCK`.
pub fn inotify_init(flags: InitFlags) -> Result<OwnedFd> {
    rustix::fs::inotify::init(flags | InitFlags::CLOEXEC)
        .call("inotify_init1")
        .map_err(|e| match e.errno() {
            Errno::EMFILE => e.with_hint(
                "the per-user limit of inotify instances (fs.inotify.max_user_instances) or the \
                 process's open-file limit (RLIMIT_NOFILE) was reached",
            ),
            Errno::ENFILE => e.with_hint(FD_LIMIT_HINT),
            _ => e,
        })
}

/// Watches `path` for the events of `mask`, or changes the watch's mask if the path is
/// watched already: [`inotify_add_watch(2)`](https://man7.org/linux/man-pages/man2/inotify_add_watch.2.html).
pub fn inotify_add_watch(fd: impl AsFd, path: impl AsRef<Path>, mask: Mask) -> Result<Wd> {
    let path = path.as_ref();
    let flags = rustix::fs::inotify::WatchFlags::from_bits_retain(mask.bits());
    rustix::fs::inotify::add_watch(fd, path, flags)
        .map(Wd)
        .map_err(|e| {
            let e = Error::from_rustix("inotify_add_watch", e).with_path(path);
            match e.errno() {
                Errno::ENOSPC => e.with_hint(
                    "the inotify watch limit was reached, not the disk: raise \
                     fs.inotify.max_user_watches (sysctl)",
                ),
                Errno::EINVAL => e.with_hint(
                    "the mask has no event to watch for, or combines MASK_ADD with MASK_CREATE, \
                     or the descriptor is not an inotify instance",
                ),
                Errno::ENOTDIR => e.with_hint("ONLYDIR was given and the path is not a directory"),
                Errno::EEXIST => {
                    e.with_hint("MASK_CREATE was given and the path is watched already")
                }
                Errno::EACCES => e.with_hint("the path is not readable by this process"),
                _ => e,
            }
        })
}

/// Removes a watch: [`inotify_rm_watch(2)`](https://man7.org/linux/man-pages/man2/inotify_rm_watch.2.html).
/// An `IN_IGNORED` event for it follows.
pub fn inotify_rm_watch(fd: impl AsFd, wd: Wd) -> Result<()> {
    rustix::fs::inotify::remove_watch(fd, wd.0)
        .call("inotify_rm_watch")
        .map_err(|e| {
            e.hint_if(
                Errno::EINVAL,
                "no such watch: it was removed already, or its object was deleted or unmounted",
            )
        })
}

/// Reads whole event records into `buf`, returning the byte count; parse them with
/// [`parse`]. `buf` must hold the next event: [`MIN_READ_BUFFER`] bytes always do
/// (`EINVAL` otherwise).
#[inline]
pub fn inotify_read(fd: impl AsFd, buf: &mut [u8]) -> Result<usize> {
    loop {
        match rustix::io::read(fd.as_fd(), &mut *buf) {
            Ok(n) => return Ok(n),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => {
                return Err(Error::from_rustix("inotify_read", e).hint_if(
                    Errno::EINVAL,
                    "the buffer is smaller than the next event (MIN_READ_BUFFER always fits)",
                ));
            }
        }
    }
}

/// How many bytes of events are queued (`ioctl(FIONREAD)`). For inotify the kernel walks the
/// whole queue to answer: with 100,000 events queued this costs more than reading them.
#[inline]
pub fn queued_bytes(fd: impl AsFd) -> Result<usize> {
    rustix::io::ioctl_fionread(fd)
        .call("ioctl(FIONREAD)")
        .map(|n| n as usize)
}

/// The size of one read: 64 KiB, 2048 events with short names, as the C reference loop
/// reads. A buffer sized to the whole queue gains nothing: the kernel copies event by event
/// either way, and sizing it needs `FIONREAD`, which walks the queue (measured: FIONREAD-sized
/// reads drained 100,000 events at 2.1 M/s, 64 KiB reads at 3.3 M/s, the libc loop's rate).
const READ_SIZE: usize = 64 << 10;

/// An inotify instance: watches, and the events they produce.
#[derive(Debug)]
pub struct Inotify {
    fd: OwnedFd,
    buf: Vec<u8>,
    queue: VecDeque<Event>,
}

impl Inotify {
    /// A blocking instance.
    pub fn new() -> Result<Inotify> {
        Inotify::with_flags(InitFlags::empty())
    }

    /// An instance with `flags` (`NONBLOCK`); close-on-exec always.
    pub fn with_flags(flags: InitFlags) -> Result<Inotify> {
        Ok(Inotify::from(inotify_init(flags)?))
    }

    /// Watches `path` for `mask` (see [`inotify_add_watch`]).
    pub fn add_watch(&self, path: impl AsRef<Path>, mask: Mask) -> Result<Wd> {
        inotify_add_watch(&self.fd, path, mask)
    }

    /// Removes a watch; an [`EventKind::Ignored`] event for it follows.
    pub fn rm_watch(&self, wd: Wd) -> Result<()> {
        inotify_rm_watch(&self.fd, wd)
    }

    /// Reads what the kernel has queued, up to 64 KiB of it (waiting for one event on a
    /// blocking instance), and returns the events, borrowing names from the internal buffer.
    ///
    /// Events already taken into the [`EventSource`] queue by an earlier
    /// [`read_event`](EventSource::read_event) are not among them.
    pub fn read_raw(&mut self) -> Result<Parser<'_>> {
        let n = self.read_buf()?;
        Ok(parse(&self.buf[..n]))
    }

    /// One read into the internal buffer; returns the bytes read.
    fn read_buf(&mut self) -> Result<usize> {
        if self.buf.len() < READ_SIZE {
            self.buf.resize(READ_SIZE, 0);
        }
        inotify_read(&self.fd, &mut self.buf)
    }
}

impl EventSource for Inotify {
    type Event = Event;

    /// Reads every event queued at the time of the call (up to 16 MiB of records).
    fn fill(&mut self) -> Result<()> {
        let mut queue = std::mem::take(&mut self.queue);
        let res = self.read_all_into(&mut queue);
        self.queue = queue;
        res
    }

    fn queue(&mut self) -> &mut VecDeque<Event> {
        &mut self.queue
    }

    /// As the provided method, but parses straight into the returned vector when nothing is
    /// queued here.
    fn read_events(&mut self) -> Result<Vec<Event>> {
        if !self.queue.is_empty() {
            return Ok(self.queue.drain(..).collect());
        }
        let mut out = Vec::new();
        self.read_all_into(&mut out)?;
        Ok(out)
    }
}

/// Where [`Inotify::read_all_into`] puts events.
trait EventSink: Extend<Event> {
    fn reserve(&mut self, additional: usize);
}

impl EventSink for Vec<Event> {
    fn reserve(&mut self, additional: usize) {
        Vec::reserve(self, additional)
    }
}

impl EventSink for VecDeque<Event> {
    fn reserve(&mut self, additional: usize) {
        VecDeque::reserve(self, additional)
    }
}

/// The most one batch reads before it returns, so that a producer as fast as the reader
/// cannot keep a call going forever: 16 MiB, more than a default queue (16,384 events) can
/// hold.
const BATCH_LIMIT: usize = 16 << 20;

impl Inotify {
    /// Reads every event queued now (at least one: waits on a blocking instance) into `out`.
    ///
    /// Reads 64 KiB at a time while `poll` says more is queued. (Not `FIONREAD`: for inotify
    /// it walks the whole queue, which costs more than reading it.)
    fn read_all_into(&mut self, out: &mut impl EventSink) -> Result<()> {
        let mut done = 0;
        loop {
            let n = self.read_buf()?;
            done += n;
            // Records of short names take 32 bytes.
            out.reserve(n / 32);
            let mut malformed = false;
            out.extend(parse(&self.buf[..n]).map_while(|ev| match ev {
                Ok(ev) => Some(ev.to_owned()),
                Err(_) => {
                    malformed = true;
                    None
                }
            }));
            if malformed {
                return Err(Error::new("inotify_read", Errno::EIO)
                    .with_hint("the kernel returned a malformed event record"));
            }
            if done >= BATCH_LIMIT || !crate::poll_readable(self.fd.as_fd(), Some(Duration::ZERO))?
            {
                return Ok(());
            }
        }
    }
}

impl From<OwnedFd> for Inotify {
    /// Adopts a descriptor that must be an inotify instance.
    fn from(fd: OwnedFd) -> Inotify {
        Inotify {
            fd,
            buf: Vec::new(),
            queue: VecDeque::new(),
        }
    }
}

impl_fd_traits!(Inotify);

/// Waits for the first event of `mask` on `path` and returns it.
///
/// A one-shot helper: it creates an instance, adds one watch and waits. Events that happen
/// before the watch is in place are not seen, and the watch is not recursive; for anything
/// longer-lived use [`Inotify`] or [`RecursiveWatcher`].
pub fn watch(path: impl AsRef<Path>, mask: Mask) -> Result<Event> {
    let mut inotify = Inotify::new()?;
    inotify.add_watch(path, mask)?;
    inotify.read_event()
}

/// An [`Inotify`] for async code: a `Stream` of events.
#[cfg(feature = "tokio")]
pub type AsyncInotify = crate::Async<Inotify>;
