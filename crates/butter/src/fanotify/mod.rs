//! fanotify: filesystem-wide monitoring, and answering permission events.
//!
//! [`fanotify(7)`](https://man7.org/linux/man-pages/man7/fanotify.7.html) reports what
//! happens to marked files and directories, to everything on a marked mount, or to a whole
//! marked filesystem, and can make accesses wait for the listener's permission.
//! [`Fanotify`] is the event-like form: a group with marks, whose [`Event`]s are read
//! through [`EventSource`]. Overflow of the group's queue is [`Event::Overflow`], a variant
//! of its own, so it cannot be mistaken for a mark's event or dropped by a filter.
//!
//! ```
//! use butter::fanotify::{Event, EventMask, Fanotify, InitFlags};
//! use butter::{ErrorKind, EventSource};
//! use std::time::Duration;
//!
//! let file = tempfile::NamedTempFile::new().unwrap();
//! let mut group = match Fanotify::new(InitFlags::empty()) {
//!     Ok(group) => group,
//!     // Not root: fanotify needs CAP_SYS_ADMIN.
//!     Err(e) if e.kind() == ErrorKind::PermissionDenied => return Ok(()),
//!     Err(e) => return Err(e),
//! };
//! group.mark(file.path(), EventMask::OPEN | EventMask::CLOSE_NOWRITE)?;
//! drop(std::fs::File::open(file.path()).unwrap());
//! match group.wait(Some(Duration::from_secs(5)))? {
//!     Some(Event::Mark(ev)) => {
//!         assert!(ev.mask.contains(EventMask::OPEN));
//!         // The event holds a descriptor of the file, closed when `ev` is dropped.
//!         assert_eq!(ev.path().as_deref(), Some(file.path()));
//!     }
//!     Some(Event::Overflow) => println!("events were lost: rescan"),
//!     None => panic!("no event within 5 s"),
//! }
//! # Ok::<(), butter::Error>(())
//! ```
//!
//! **Two kinds of group.** By default each event carries an open descriptor of the object
//! ([`MarkEvent::fd`]) and so its [`path`](MarkEvent::path). A group made with
//! [`InitFlags::REPORT_FID`] or [`InitFlags::REPORT_DFID_NAME`] gets no descriptors:
//! events name the object by file handle and the entry by name, in [`Info`] records, and
//! such a group can also mark for directory-entry events (`CREATE`, `DELETE`, `MOVED_*`,
//! `RENAME`) and `ATTRIB`, `DELETE_SELF`, `MOVE_SELF`.
//!
//! **Permission events** (`OPEN_PERM`, `ACCESS_PERM`, `OPEN_EXEC_PERM`, in groups of
//! [`InitFlags::CLASS_CONTENT`] or [`InitFlags::CLASS_PRE_CONTENT`]) make the accessing
//! process wait until the group answers with [`Fanotify::respond`],
//! [`allow`](Fanotify::allow) or [`deny`](Fanotify::deny) (the access then fails with
//! `EPERM`). An event that is never answered keeps that process waiting until the group is
//! closed, which allows it.
//!
//! **Descriptors.** Each event of a descriptor-carrying group opens a descriptor in the
//! reading process, during the read. If none is free (`RLIMIT_NOFILE`), the kernel drops
//! the event it was copying: the read returns the events before it, or fails with `EMFILE`
//! if there were none (observed on Linux 6.18). So for such a group
//! [`read_events`](EventSource::read_events) reads at most 4 KiB (170 events) per call;
//! a FID group's reads take everything queued, 64 KiB at a time.
//!
//! **Privileges and limits.** fanotify needs `CAP_SYS_ADMIN`. Since Linux 5.13 a process
//! without it may create a group that reports FIDs, in `CLASS_NOTIF`, without the
//! `UNLIMITED_*` flags, and mark inodes it can read; descriptors, permission events, mount
//! and filesystem marks stay privileged (`EPERM`). Groups count against
//! `fs.fanotify.max_user_groups` (`EMFILE`), marks against `fs.fanotify.max_user_marks`
//! (`ENOSPC`, which here is the mark limit, not a full disk), and each queue holds
//! `fs.fanotify.max_queued_events` events before it overflows.

mod event;
mod flags;

use std::collections::VecDeque;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

pub use event::{
    Event, FileId, INFO_HEADER_LEN, Info, METADATA_LEN, MIN_READ_BUFFER, MarkEvent, ParseError,
    Parser, Pidfd, Problem, parse,
};
pub use flags::{EventMask, InitFlags, MarkFlags, Response};
pub use rustix::fs::OFlags;

use crate::error::{Errno, Error, FD_LIMIT_HINT, Result};
use crate::event::{EventSource, impl_fd_traits};

/// Creates a fanotify group:
/// [`fanotify_init(2)`](https://man7.org/linux/man-pages/man2/fanotify_init.2.html).
///
/// `FAN_CLOEXEC` is always added to `flags`, and `O_CLOEXEC` to `event_f_flags`, the
/// flags the kernel opens each event's descriptor with (`O_RDONLY`, `O_WRONLY` or
/// `O_RDWR`, and `O_NONBLOCK`, `O_NOATIME`, `O_APPEND`, `O_SYNC`, …).
pub fn fanotify_init(flags: InitFlags, event_f_flags: OFlags) -> Result<OwnedFd> {
    let flags = flags | InitFlags::CLOEXEC;
    let event_f_flags = event_f_flags | OFlags::CLOEXEC;
    // SAFETY: plain integer arguments.
    let fd = unsafe { libc::fanotify_init(flags.bits(), event_f_flags.bits()) };
    if fd < 0 {
        let e = Error::last("fanotify_init");
        return Err(match e.errno() {
            Errno::EPERM => e.with_hint(
                "fanotify needs CAP_SYS_ADMIN; without it (Linux 5.13) only a CLASS_NOTIF group \
                 that reports FIDs (REPORT_FID, REPORT_DFID_NAME) and has no UNLIMITED_* flag is \
                 allowed",
            ),
            Errno::EINVAL => e.with_hint(init_einval_hint(flags)),
            Errno::EMFILE => e.with_hint(
                "the per-user limit of fanotify groups (fs.fanotify.max_user_groups) or the \
                 process's open-file limit (RLIMIT_NOFILE) was reached",
            ),
            Errno::ENFILE => e.with_hint(FD_LIMIT_HINT),
            _ => e,
        });
    }
    // SAFETY: the kernel just returned this descriptor to us, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The likeliest reason `fanotify_init` rejected `flags`.
fn init_einval_hint(flags: InitFlags) -> &'static str {
    let class = flags & (InitFlags::CLASS_CONTENT | InitFlags::CLASS_PRE_CONTENT);
    if class == InitFlags::CLASS_CONTENT | InitFlags::CLASS_PRE_CONTENT {
        "CLASS_CONTENT and CLASS_PRE_CONTENT exclude each other"
    } else if !class.is_empty() && flags.reports_fid() {
        "the permission classes (CLASS_CONTENT, CLASS_PRE_CONTENT) cannot report FIDs"
    } else if flags.contains(InitFlags::REPORT_NAME) && !flags.contains(InitFlags::REPORT_DIR_FID) {
        "REPORT_NAME needs REPORT_DIR_FID (REPORT_DFID_NAME is both)"
    } else {
        "a flag this kernel does not know, a combination it rejects (REPORT_TARGET_FID needs \
         REPORT_DFID_NAME and REPORT_FID), or event_f_flags fanotify does not take"
    }
}

/// Adds, removes or flushes marks:
/// [`fanotify_mark(2)`](https://man7.org/linux/man-pages/man2/fanotify_mark.2.html).
///
/// The object is `path`, relative to `dirfd` (`None`: the current directory, `AT_FDCWD`);
/// without a path, the object `dirfd` refers to. `flags` says what to do (one of `ADD`,
/// `REMOVE`, `FLUSH`) and to what kind of mark (inode; `MOUNT`; `FILESYSTEM`).
pub fn fanotify_mark(
    fd: impl AsFd,
    flags: MarkFlags,
    mask: EventMask,
    dirfd: Option<BorrowedFd<'_>>,
    path: Option<&Path>,
) -> Result<()> {
    let fd = fd.as_fd().as_raw_fd();
    let dirfd = dirfd.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    let call = |p: *const libc::c_char| {
        // SAFETY: `p` is null or a NUL-terminated path that outlives the call.
        unsafe { libc::fanotify_mark(fd, flags.bits(), mask.bits(), dirfd, p) }
    };
    let r = match path {
        Some(p) => rustix::path::Arg::into_with_c_str(p, |c| Ok(call(c.as_ptr()))),
        None => Ok(call(std::ptr::null())),
    };
    let e = match r {
        Ok(0) => return Ok(()),
        Ok(_) => Error::last("fanotify_mark"),
        // The path holds a NUL byte.
        Err(e) => Error::from_rustix("fanotify_mark", e),
    };
    let e = match path {
        Some(p) => e.with_path(p),
        None => e,
    };
    Err(match mark_hint(e.errno(), flags, mask) {
        Some(hint) => e.with_hint(hint),
        None => e,
    })
}

/// The events that need a FID group and an inode or filesystem mark.
const INODE_EVENTS: EventMask = EventMask::MOVE
    .union(EventMask::RENAME)
    .union(EventMask::CREATE)
    .union(EventMask::DELETE)
    .union(EventMask::ATTRIB)
    .union(EventMask::DELETE_SELF)
    .union(EventMask::MOVE_SELF);

/// The hint for a `fanotify_mark` failure with `errno`.
fn mark_hint(errno: Errno, flags: MarkFlags, mask: EventMask) -> Option<&'static str> {
    let actions = flags & (MarkFlags::ADD | MarkFlags::REMOVE | MarkFlags::FLUSH);
    Some(match errno {
        Errno::EINVAL if actions.bits().count_ones() != 1 => {
            "the flags need exactly one of ADD, REMOVE and FLUSH"
        }
        Errno::EINVAL if mask.is_empty() && actions != MarkFlags::FLUSH => {
            "the mask is empty: mark for at least one event"
        }
        Errno::EINVAL if flags.contains(MarkFlags::MOUNT) && mask.intersects(INODE_EVENTS) => {
            "directory-entry and inode events (CREATE, DELETE, MOVED_*, RENAME, ATTRIB, \
             DELETE_SELF, MOVE_SELF) cannot be marked on a mount"
        }
        Errno::EINVAL => {
            "the group does not take this mark: permission events need CLASS_CONTENT or \
             CLASS_PRE_CONTENT; directory-entry and inode events (CREATE, DELETE, MOVED_*, \
             RENAME, ATTRIB, DELETE_SELF, MOVE_SELF) need REPORT_FID or REPORT_DIR_FID; or the \
             descriptor is not a fanotify group"
        }
        Errno::ENOENT if flags.contains(MarkFlags::REMOVE) => {
            "nothing to remove: the object has no mark of this group (or the path does not \
             exist)"
        }
        Errno::ENOSPC => {
            "the fanotify mark limit was reached, not the disk: raise fs.fanotify.max_user_marks \
             (sysctl), or create the group with UNLIMITED_MARKS"
        }
        Errno::ENOTDIR => "ONLYDIR was given and the path is not a directory",
        Errno::EPERM => {
            "mount and filesystem marks, and marks of a group made without CAP_SYS_ADMIN on \
             objects it may not read, need CAP_SYS_ADMIN"
        }
        Errno::ENODEV => {
            "a FID group needs a filesystem with a filesystem id (fsid), and this one has none"
        }
        Errno::EOPNOTSUPP => {
            "a FID group needs a filesystem that can encode file handles, and this one cannot"
        }
        Errno::EXDEV => {
            "a FID group cannot mark this object: its fsid differs from its filesystem's root's \
             (a btrfs subvolume?)"
        }
        Errno::EBADF => "the group descriptor is not open, or dirfd is not a valid descriptor",
        _ => return None,
    })
}

/// Reads whole events into `buf`, returning the byte count; parse them with [`parse`].
/// `buf` must hold the next event: [`MIN_READ_BUFFER`] bytes always do (`EINVAL`
/// otherwise).
///
/// Each event of a group without FID reporting comes with a descriptor that the read
/// opened in this process: the caller owns it (see [`Event::into_owned`]) and must close
/// it.
pub fn fanotify_read(fd: impl AsFd, buf: &mut [u8]) -> Result<usize> {
    loop {
        match rustix::io::read(fd.as_fd(), &mut *buf) {
            Ok(n) => return Ok(n),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => {
                let e = Error::from_rustix("fanotify_read", e);
                return Err(match e.errno() {
                    Errno::EINVAL => e.with_hint(
                        "the buffer is smaller than the next event (MIN_READ_BUFFER always \
                         fits), or the descriptor is not a fanotify group",
                    ),
                    Errno::EMFILE | Errno::ENFILE => e.with_hint(
                        "no descriptor was free for the event's file (RLIMIT_NOFILE): the kernel \
                         dropped that event; drop events (closing their descriptors) sooner, or \
                         raise the limit",
                    ),
                    _ => e,
                });
            }
        }
    }
}

/// Answers the permission event whose descriptor is `event_fd`: writes a
/// `struct fanotify_response` to the group (see
/// [`fanotify(7)`](https://man7.org/linux/man-pages/man7/fanotify.7.html)).
///
/// `fd` must be the group that reported the event; the answer wakes the process that
/// waits for it.
pub fn fanotify_respond(fd: impl AsFd, event_fd: BorrowedFd<'_>, response: Response) -> Result<()> {
    // struct fanotify_response { __s32 fd; __u32 response; }, native-endian, no padding.
    const LEN: usize = std::mem::size_of::<libc::fanotify_response>();
    let mut bytes = [0u8; LEN];
    bytes[..4].copy_from_slice(&event_fd.as_raw_fd().to_ne_bytes());
    bytes[4..].copy_from_slice(&response.as_raw().to_ne_bytes());
    loop {
        match rustix::io::write(fd.as_fd(), &bytes) {
            Ok(LEN) => return Ok(()),
            Ok(_) => {
                return Err(Error::new("fanotify_respond", Errno::EIO)
                    .with_hint("a short write: the descriptor is not a fanotify group"));
            }
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => {
                let e = Error::from_rustix("fanotify_respond", e);
                return Err(match e.errno() {
                    Errno::ENOENT => e.with_hint(
                        "no permission event with this descriptor waits for an answer: it was \
                         answered already, or is not a permission event of this group",
                    ),
                    Errno::EINVAL => e.with_hint(
                        "the descriptor is not a fanotify group, or the group is not of a \
                         permission class",
                    ),
                    _ => e,
                });
            }
        }
    }
}

/// The size of one read in a FID group: 64 KiB, about 1000 events with names.
const READ_SIZE: usize = 64 << 10;

/// The size of one read in a group whose events carry descriptors: each event opens one,
/// so a read is kept to 170 of them.
const FD_READ_SIZE: usize = MIN_READ_BUFFER;

/// The most one batch of a FID group reads before it returns, so that a producer as fast as
/// the reader cannot keep a call going forever: 16 MiB, more than a default queue (16,384
/// events) holds.
const BATCH_LIMIT: usize = 16 << 20;

/// A fanotify group: marks, and the events they produce.
///
/// Close-on-exec always, as are the descriptors its events carry. Reads are whole batches:
/// [`read_events`](EventSource::read_events) returns everything queued for a FID group, and
/// up to 4 KiB of events (at most 170, each with a descriptor) for the other kind; see the
/// [module documentation](self) for why.
#[derive(Debug)]
pub struct Fanotify {
    fd: OwnedFd,
    buf: Vec<u8>,
    queue: VecDeque<Event>,
    /// Whether events carry descriptors, so that reads are kept small. Assumed for an
    /// adopted descriptor until a read shows otherwise.
    carries_fds: bool,
    /// A read error met after a batch had events, returned by the next read.
    deferred: Option<Error>,
}

impl Fanotify {
    /// A blocking group whose events' descriptors are opened read-only.
    ///
    /// `flags` sets the class and what events report; `NONBLOCK` makes reads fail with
    /// `EAGAIN` instead of waiting.
    pub fn new(flags: InitFlags) -> Result<Fanotify> {
        Fanotify::with_flags(flags, OFlags::RDONLY)
    }

    /// A group with `flags`, whose events' descriptors are opened with `event_f_flags` (see
    /// [`fanotify_init`]).
    pub fn with_flags(flags: InitFlags, event_f_flags: OFlags) -> Result<Fanotify> {
        let mut group = Fanotify::from(fanotify_init(flags, event_f_flags)?);
        group.carries_fds = !flags.reports_fid();
        Ok(group)
    }

    /// Marks the file or directory at `path` for the events of `mask` (adding to its mark).
    /// To get events on a directory's entries, add [`EventMask::EVENT_ON_CHILD`]; on
    /// directories themselves, [`EventMask::ONDIR`].
    pub fn mark(&self, path: impl AsRef<Path>, mask: EventMask) -> Result<()> {
        self.mark_with(MarkFlags::ADD, path, mask)
    }

    /// Removes the events of `mask` from the inode mark of `path` (the mark goes when no
    /// event is left).
    pub fn unmark(&self, path: impl AsRef<Path>, mask: EventMask) -> Result<()> {
        self.mark_with(MarkFlags::REMOVE, path, mask)
    }

    /// Marks the mount that `path` is on: every object reached through it. Needs
    /// `CAP_SYS_ADMIN`; directory-entry and inode events cannot be asked for.
    pub fn mark_mount(&self, path: impl AsRef<Path>, mask: EventMask) -> Result<()> {
        self.mark_with(MarkFlags::ADD | MarkFlags::MOUNT, path, mask)
    }

    /// Marks the whole filesystem that `path` is on, through every mount of it. Needs
    /// `CAP_SYS_ADMIN`.
    pub fn mark_filesystem(&self, path: impl AsRef<Path>, mask: EventMask) -> Result<()> {
        self.mark_with(MarkFlags::ADD | MarkFlags::FILESYSTEM, path, mask)
    }

    /// Changes a mark with any `flags` (see [`fanotify_mark`]): to remove a mount mark,
    /// `REMOVE | MOUNT`; to ignore events, `ADD | IGNORE`; and so on.
    pub fn mark_with(
        &self,
        flags: MarkFlags,
        path: impl AsRef<Path>,
        mask: EventMask,
    ) -> Result<()> {
        fanotify_mark(&self.fd, flags, mask, None, Some(path.as_ref()))
    }

    /// Removes every inode mark of the group.
    pub fn flush(&self) -> Result<()> {
        fanotify_mark(&self.fd, MarkFlags::FLUSH, EventMask::empty(), None, None)
    }

    /// Removes every mount mark of the group.
    pub fn flush_mounts(&self) -> Result<()> {
        let flags = MarkFlags::FLUSH | MarkFlags::MOUNT;
        fanotify_mark(&self.fd, flags, EventMask::empty(), None, None)
    }

    /// Removes every filesystem mark of the group.
    pub fn flush_filesystems(&self) -> Result<()> {
        let flags = MarkFlags::FLUSH | MarkFlags::FILESYSTEM;
        fanotify_mark(&self.fd, flags, EventMask::empty(), None, None)
    }

    /// Answers a permission event, waking the process that waits for it: with
    /// [`Response::Deny`] its access fails with `EPERM`.
    ///
    /// Answer before dropping the event (the answer names its descriptor). An event that
    /// is never answered keeps the process waiting until the group is closed, which allows
    /// the access. An event that is not a pending permission event of this group gives
    /// `ENOENT`; one without a descriptor, `EBADF`.
    ///
    /// ```no_run
    /// use butter::fanotify::{Event, EventMask, Fanotify, InitFlags};
    /// use butter::EventSource;
    ///
    /// let mut group = Fanotify::new(InitFlags::CLASS_CONTENT)?;
    /// group.mark("/srv/secret", EventMask::OPEN_PERM)?;
    /// loop {
    ///     if let Event::Mark(ev) = group.read_event()? {
    ///         // Nobody may open it.
    ///         group.deny(&ev)?;
    ///     }
    /// }
    /// # Ok::<(), butter::Error>(())
    /// ```
    pub fn respond(&self, event: &MarkEvent, response: Response) -> Result<()> {
        let Some(fd) = event.fd() else {
            return Err(Error::new("fanotify_respond", Errno::EBADF).with_hint(
                "the event has no descriptor to answer with: it is not a permission event (FID \
                 groups get none), or its descriptor was taken",
            ));
        };
        fanotify_respond(&self.fd, fd, response)
    }

    /// Allows the access of a permission event (see [`respond`](Self::respond)).
    pub fn allow(&self, event: &MarkEvent) -> Result<()> {
        self.respond(event, Response::Allow)
    }

    /// Denies the access of a permission event, which then fails with `EPERM` (see
    /// [`respond`](Self::respond)).
    pub fn deny(&self, event: &MarkEvent) -> Result<()> {
        self.respond(event, Response::Deny)
    }

    /// Reads a batch of events into `out`: one read for a group whose events carry
    /// descriptors; while more is queued, up to [`BATCH_LIMIT`], for a FID group.
    fn read_batch(&mut self, out: &mut impl Extend<Event>) -> Result<()> {
        if let Some(e) = self.deferred.take() {
            return Err(e);
        }
        let mut done = 0;
        loop {
            let size = if self.carries_fds {
                FD_READ_SIZE
            } else {
                READ_SIZE
            };
            if self.buf.len() < size {
                self.buf.resize(size, 0);
            }
            let n = match fanotify_read(&self.fd, &mut self.buf[..size]) {
                Ok(n) => n,
                // What was read is returned; a real error waits for the next read.
                Err(e) if done > 0 => {
                    if !e.is_would_block() {
                        self.deferred = Some(e);
                    }
                    return Ok(());
                }
                Err(e) => return Err(e),
            };
            done += n;
            let (mut marks, mut with_fds, mut malformed) = (0, 0, false);
            out.extend(parse(&self.buf[..n]).map_while(|ev| match ev {
                Ok(ev) => {
                    if let Event::Mark(m) = &ev {
                        marks += 1;
                        with_fds += usize::from(m.fd.is_some());
                    }
                    // SAFETY: the kernel created these descriptors in this process during
                    // the read just made, and nothing else knows of them.
                    Some(unsafe { ev.into_owned() })
                }
                Err(_) => {
                    malformed = true;
                    None
                }
            }));
            if malformed {
                return Err(Error::new("fanotify_read", Errno::EIO)
                    .with_hint("the kernel returned a malformed event record"));
            }
            // Events of a descriptor-carrying group always have one: none means FIDs.
            if marks > 0 && with_fds == 0 {
                self.carries_fds = false;
            }
            if n == 0
                || self.carries_fds
                || done >= BATCH_LIMIT
                || !crate::poll_readable(self.fd.as_fd(), Some(Duration::ZERO))?
            {
                return Ok(());
            }
        }
    }
}

impl EventSource for Fanotify {
    type Event = Event;

    /// Reads a batch of events (see [`Fanotify`]), waiting for one on a blocking group.
    fn fill(&mut self) -> Result<()> {
        let mut queue = std::mem::take(&mut self.queue);
        let res = self.read_batch(&mut queue);
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
        while out.is_empty() {
            self.read_batch(&mut out)?;
        }
        Ok(out)
    }
}

impl From<OwnedFd> for Fanotify {
    /// Adopts a descriptor that must be a fanotify group.
    fn from(fd: OwnedFd) -> Fanotify {
        Fanotify {
            fd,
            buf: Vec::new(),
            queue: VecDeque::new(),
            carries_fds: true,
            deferred: None,
        }
    }
}

impl_fd_traits!(Fanotify);

/// A [`Fanotify`] group for async code: a `Stream` of events. Answer permission events
/// through [`get_ref`](crate::Async::get_ref).
#[cfg(feature = "tokio")]
pub type AsyncFanotify = crate::Async<Fanotify>;
