//! fanotify events: the record parser, the event types and their info records.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use super::EventMask;
use crate::error::{Errno, Error, Result};

/// The size of an event's fixed part, `struct fanotify_event_metadata` (24 bytes).
pub const METADATA_LEN: usize = std::mem::size_of::<libc::fanotify_event_metadata>();

/// The size of an info record's header, `struct fanotify_event_info_header` (4 bytes).
pub const INFO_HEADER_LEN: usize = std::mem::size_of::<libc::fanotify_event_info_header>();

/// A read buffer this large always holds the next event, whatever info records it carries
/// (the largest, a rename with two names, two directory handles and the entry's handle, is
/// about 1 KiB).
pub const MIN_READ_BUFFER: usize = 4096;

/// The size of a file handle's header (`handle_bytes` u32, `handle_type` i32) in a FID
/// record, after the 8-byte fsid.
const HANDLE_HEADER_LEN: usize = 8;

/// The size of the fsid that starts a FID record.
const FSID_LEN: usize = std::mem::size_of::<libc::__kernel_fsid_t>();

/// A fanotify event: about a mark, or the queue overflow.
///
/// The overflow is its own variant so that it cannot be mistaken for a mark's event or
/// forgotten in a `match`: when it comes, events were lost, and anything that mirrors the
/// marked files must be rescanned.
///
/// `F` is how descriptors are held: [`OwnedFd`] (closed on drop) in the events a
/// [`Fanotify`](super::Fanotify) reads, [`RawFd`] (numbers only) in what [`parse`]
/// returns.
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub enum Event<F = OwnedFd> {
    /// `FAN_Q_OVERFLOW`: the group's queue (`fs.fanotify.max_queued_events`, 16384 by
    /// default) filled and later events were dropped until it drained.
    Overflow,
    /// An event about a marked object.
    Mark(MarkEvent<F>),
}

impl<F> Event<F> {
    /// Whether this is the queue overflow.
    pub fn is_overflow(&self) -> bool {
        matches!(self, Event::Overflow)
    }

    /// The mark's event, unless this is the overflow.
    pub fn as_mark(&self) -> Option<&MarkEvent<F>> {
        match self {
            Event::Mark(m) => Some(m),
            Event::Overflow => None,
        }
    }

    /// The mark's event, unless this is the overflow.
    pub fn into_mark(self) -> Option<MarkEvent<F>> {
        match self {
            Event::Mark(m) => Some(m),
            Event::Overflow => None,
        }
    }
}

impl Event<RawFd> {
    /// The event owning its descriptors (the event's and a pidfd), which are closed when
    /// it is dropped.
    ///
    /// # Safety
    ///
    /// Every descriptor number in the event must be open and owned by nobody else, as the
    /// descriptors of records this process has just read from a group are: the kernel
    /// creates them during the read.
    pub unsafe fn into_owned(self) -> Event {
        match self {
            Event::Overflow => Event::Overflow,
            // SAFETY: passed on to the caller.
            Event::Mark(m) => Event::Mark(unsafe { m.into_owned() }),
        }
    }
}

/// An event about a marked object: what happened, who did it, and which object.
///
/// In a group without FID reporting, `fd` is a descriptor of the object, opened for this
/// process with the group's `event_f_flags` (close-on-exec); it is closed when the event is
/// dropped. A group that reports FIDs gets no descriptor; the object is named by the
/// [`info`](Self::info) records instead.
///
/// A **permission event** ([`is_permission`](Self::is_permission)) must be answered with
/// [`Fanotify::respond`](super::Fanotify::respond) (or `allow`/`deny`) while its `fd` is
/// still held: until then the process that caused it waits, and if it is never answered the
/// process waits until the group is closed (which allows the access).
#[derive(Debug, PartialEq, Eq)]
pub struct MarkEvent<F = OwnedFd> {
    /// What happened: event bits, plus `ONDIR` for directories in groups that report FIDs
    /// (see [`is_dir`](Self::is_dir)).
    pub mask: EventMask,
    /// The process (with [`InitFlags::REPORT_TID`](super::InitFlags::REPORT_TID), the
    /// thread) that caused the event; 0 if it is not visible from this process's PID
    /// namespace.
    pub pid: i32,
    /// The object's descriptor, or `None` (`FAN_NOFD`) in a group that reports FIDs.
    pub fd: Option<F>,
    /// The info records that follow the metadata, in the kernel's order.
    pub info: Vec<Info<F>>,
}

impl<F: AsRawFd> MarkEvent<F> {
    /// Whether the object is a directory: `FAN_ONDIR` in the mask, which only FID groups
    /// are told, or else the file type of the event's descriptor.
    pub fn is_dir(&self) -> bool {
        if self.mask.contains(EventMask::ONDIR) {
            return true;
        }
        self.fd.as_ref().is_some_and(|fd| {
            // SAFETY: the descriptor is the event's, open for as long as `self` lives.
            let fd = unsafe { BorrowedFd::borrow_raw(fd.as_raw_fd()) };
            rustix::fs::fstat(fd).is_ok_and(|st| {
                rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory
            })
        })
    }

    /// The descriptor's number, if the event carries one.
    pub fn raw_fd(&self) -> Option<RawFd> {
        self.fd.as_ref().map(AsRawFd::as_raw_fd)
    }

    /// The object's path, from its descriptor (`readlink` of `/proc/self/fd/N`); `None` if
    /// the event carries no descriptor or the link cannot be read.
    ///
    /// The path is the one the kernel has for the object now, as seen from this process's
    /// root: a deleted file's ends in ` (deleted)`, and a file outside this process's root
    /// or mount namespace may have none that works here.
    pub fn path(&self) -> Option<PathBuf> {
        let fd = self.raw_fd()?;
        std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()
    }
}

impl<F> MarkEvent<F> {
    /// Whether this is a permission event, which must be answered.
    pub fn is_permission(&self) -> bool {
        self.mask.is_permission()
    }

    /// The object's file handle (an [`Info::Fid`] record), in groups with
    /// [`REPORT_FID`](super::InitFlags::REPORT_FID).
    pub fn fid(&self) -> Option<&FileId> {
        self.info.iter().find_map(|i| match i {
            Info::Fid(id) => Some(id),
            _ => None,
        })
    }

    /// The directory's file handle (an [`Info::Dfid`] or [`Info::DfidName`] record), in
    /// groups with [`REPORT_DIR_FID`](super::InitFlags::REPORT_DIR_FID).
    pub fn dir_fid(&self) -> Option<&FileId> {
        self.info.iter().find_map(|i| match i {
            Info::Dfid(id) | Info::DfidName(id, _) => Some(id),
            _ => None,
        })
    }

    /// The entry's name in that directory (from an [`Info::DfidName`] record), in groups
    /// with [`REPORT_DFID_NAME`](super::InitFlags::REPORT_DFID_NAME). An event about the
    /// directory itself has the name `.`.
    pub fn name(&self) -> Option<&OsStr> {
        self.info.iter().find_map(|i| match i {
            Info::DfidName(_, name) => Some(name.as_os_str()),
            _ => None,
        })
    }

    /// The pidfd record, in groups with [`REPORT_PIDFD`](super::InitFlags::REPORT_PIDFD).
    pub fn pidfd(&self) -> Option<&Pidfd<F>> {
        self.info.iter().find_map(|i| match i {
            Info::Pidfd(p) => Some(p),
            _ => None,
        })
    }
}

impl MarkEvent<OwnedFd> {
    /// The object's descriptor, if the event carries one.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.fd.as_ref().map(AsFd::as_fd)
    }
}

impl MarkEvent<RawFd> {
    /// The event owning its descriptors.
    ///
    /// # Safety
    ///
    /// As [`Event::into_owned`].
    pub unsafe fn into_owned(self) -> MarkEvent {
        MarkEvent {
            mask: self.mask,
            pid: self.pid,
            // SAFETY: the caller vouches that the number is an open descriptor nobody owns.
            fd: self.fd.map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
            info: self
                .info
                .into_iter()
                // SAFETY: as above, for a pidfd.
                .map(|i| unsafe { i.into_owned() })
                .collect(),
        }
    }
}

/// An info record of an event (`struct fanotify_event_info_*`).
#[derive(Debug, PartialEq, Eq)]
pub enum Info<F = OwnedFd> {
    /// `FAN_EVENT_INFO_TYPE_FID`: the object's file handle.
    Fid(FileId),
    /// `FAN_EVENT_INFO_TYPE_DFID`: the directory's file handle.
    Dfid(FileId),
    /// `FAN_EVENT_INFO_TYPE_DFID_NAME`: the directory's file handle and the entry's name
    /// (bytes, as the kernel gave them; `.` for the directory itself).
    DfidName(FileId, OsString),
    /// `FAN_EVENT_INFO_TYPE_OLD_DFID_NAME`: where a [`RENAME`](EventMask::RENAME)d entry
    /// was.
    OldDfidName(FileId, OsString),
    /// `FAN_EVENT_INFO_TYPE_NEW_DFID_NAME`: where a [`RENAME`](EventMask::RENAME)d entry
    /// went.
    NewDfidName(FileId, OsString),
    /// `FAN_EVENT_INFO_TYPE_PIDFD`: a pidfd of the process that caused the event.
    Pidfd(Pidfd<F>),
    /// `FAN_EVENT_INFO_TYPE_ERROR`: a filesystem error ([`EventMask::FS_ERROR`]).
    Error {
        /// The first error's errno (positive), as the filesystem reported it.
        error: i32,
        /// How many errors happened since the last one was reported.
        count: u32,
    },
    /// A record of a type this version does not know, without its header.
    Other {
        /// The record's `info_type`.
        info_type: u8,
        /// The record's bytes after its 4-byte header.
        data: Vec<u8>,
    },
}

impl Info<RawFd> {
    /// The record owning its pidfd.
    ///
    /// # Safety
    ///
    /// As [`Event::into_owned`].
    pub unsafe fn into_owned(self) -> Info {
        match self {
            Info::Fid(id) => Info::Fid(id),
            Info::Dfid(id) => Info::Dfid(id),
            Info::DfidName(id, n) => Info::DfidName(id, n),
            Info::OldDfidName(id, n) => Info::OldDfidName(id, n),
            Info::NewDfidName(id, n) => Info::NewDfidName(id, n),
            Info::Pidfd(Pidfd::Open(fd)) => {
                // SAFETY: the caller vouches that the number is an open descriptor nobody owns.
                Info::Pidfd(Pidfd::Open(unsafe { OwnedFd::from_raw_fd(fd) }))
            }
            Info::Pidfd(Pidfd::Exited) => Info::Pidfd(Pidfd::Exited),
            Info::Pidfd(Pidfd::Failed) => Info::Pidfd(Pidfd::Failed),
            Info::Error { error, count } => Info::Error { error, count },
            Info::Other { info_type, data } => Info::Other { info_type, data },
        }
    }
}

/// The pidfd of an [`Info::Pidfd`] record.
#[derive(Debug, PartialEq, Eq)]
pub enum Pidfd<F = OwnedFd> {
    /// A pidfd of the process, closed when the event is dropped.
    Open(F),
    /// `FAN_NOPIDFD`: the process had exited before the event was read.
    Exited,
    /// `FAN_EPIDFD`: the kernel failed to create the pidfd.
    Failed,
}

/// A filesystem object's identity in a FID record: the filesystem's id and a file handle,
/// as `name_to_handle_at(2)` gives it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileId {
    /// The filesystem's id, as `statfs(2)` reports it in `f_fsid`.
    pub fsid: [i32; 2],
    /// The handle's type, as the filesystem encodes it.
    pub handle_type: i32,
    /// The handle's opaque bytes.
    pub handle: Vec<u8>,
}

impl FileId {
    /// Opens the object: [`open_by_handle_at(2)`](https://man7.org/linux/man-pages/man2/open_by_handle_at.2.html).
    ///
    /// `mount_fd` is any descriptor on the object's filesystem (such as that of the marked
    /// directory, opened beforehand). `O_CLOEXEC` is always added. Needs
    /// `CAP_DAC_READ_SEARCH`; a deleted object gives `ESTALE`.
    pub fn open(&self, mount_fd: impl AsFd, flags: rustix::fs::OFlags) -> Result<OwnedFd> {
        // struct file_handle { u32 handle_bytes; i32 handle_type; u8 f_handle[]; }, in
        // 4-byte words so that it is aligned as the kernel reads it.
        let mut words = Vec::with_capacity(2 + self.handle.len().div_ceil(4));
        words.push(self.handle.len() as u32);
        words.push(self.handle_type as u32);
        words.extend(self.handle.chunks(4).map(|c| {
            let mut w = [0; 4];
            w[..c.len()].copy_from_slice(c);
            u32::from_ne_bytes(w)
        }));
        let flags = (flags | rustix::fs::OFlags::CLOEXEC).bits() as libc::c_int;
        // SAFETY: the kernel reads a struct file_handle from `words`: its header, then the
        // `handle_bytes` bytes that follow it, all of which `words` holds.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_open_by_handle_at,
                mount_fd.as_fd().as_raw_fd(),
                words.as_ptr(),
                flags,
            )
        };
        if fd < 0 {
            let e = Error::last("open_by_handle_at");
            return Err(match e.errno() {
                Errno::EPERM => e.with_hint("opening by file handle needs CAP_DAC_READ_SEARCH"),
                Errno::ESTALE => e.with_hint(
                    "the object no longer exists, or the handle is not of mount_fd's filesystem",
                ),
                _ => e,
            });
        }
        // SAFETY: the kernel just returned this descriptor to us, and nothing else owns it.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
    }
}

/// What is wrong with a malformed record, in a [`ParseError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The record (its metadata, or the `event_len` it claims) runs past the buffer's end.
    Truncated {
        /// Bytes the record needs from its start.
        needed: u64,
        /// Bytes the buffer has from there.
        available: usize,
    },
    /// `vers` is not `FANOTIFY_METADATA_VERSION` (3): the layout is unknown.
    Version(u8),
    /// `metadata_len` is smaller than the metadata, or larger than `event_len`.
    MetadataLen {
        /// The record's `metadata_len`.
        metadata_len: u16,
        /// The record's `event_len`.
        event_len: u32,
    },
    /// An info record's header does not fit in what is left of the event.
    InfoTruncated {
        /// Bytes left in the event from the record's start.
        available: usize,
    },
    /// An info record's `len` is shorter than its header and fields, or runs past the end
    /// of the event.
    InfoLen {
        /// The record's `info_type`.
        info_type: u8,
        /// The record's `len`.
        len: u16,
        /// Bytes left in the event from the record's start.
        available: usize,
    },
    /// A FID record's `handle_bytes` runs past the end of the record.
    HandleLen {
        /// The handle's `handle_bytes`.
        handle_bytes: u32,
        /// Bytes the record has for the handle.
        room: usize,
    },
    /// A name record's name has no terminating NUL within the record.
    NameUnterminated,
}

/// A malformed record in a fanotify read buffer: where it starts and what is wrong. The
/// kernel never produces one; a buffer from elsewhere might.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseError {
    /// Where the bad record (the event, or the info record within it) starts.
    pub offset: usize,
    /// What is wrong with it.
    pub problem: Problem,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad fanotify record at byte {}: ", self.offset)?;
        match self.problem {
            Problem::Truncated { needed, available } => {
                write!(f, "truncated: needs {needed} bytes, {available} left")
            }
            Problem::Version(v) => write!(
                f,
                "metadata version {v}, not {}",
                libc::FANOTIFY_METADATA_VERSION
            ),
            Problem::MetadataLen {
                metadata_len,
                event_len,
            } => write!(
                f,
                "metadata_len {metadata_len} is not between {METADATA_LEN} and event_len \
                 {event_len}"
            ),
            Problem::InfoTruncated { available } => write!(
                f,
                "info record header needs {INFO_HEADER_LEN} bytes, {available} left in the event"
            ),
            Problem::InfoLen {
                info_type,
                len,
                available,
            } => write!(
                f,
                "info record of type {info_type} has len {len}: too short for its fields, or \
                 more than the {available} bytes left in the event"
            ),
            Problem::HandleLen { handle_bytes, room } => write!(
                f,
                "file handle of {handle_bytes} bytes in a record with room for {room}"
            ),
            Problem::NameUnterminated => write!(f, "name without a terminating NUL"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Parses the records of a fanotify read buffer.
///
/// Each event is a 24-byte `struct fanotify_event_metadata` (`event_len` u32, `vers` u8,
/// `reserved` u8, `metadata_len` u16, `mask` u64, `fd` s32, `pid` s32, native-endian), then
/// info records up to `event_len`, each a 4-byte header (`info_type` u8, `pad` u8, `len`
/// u16) and `len - 4` bytes. Every step moves forward at least 24 bytes, and every length
/// is checked against what is there: the first malformed record yields one [`ParseError`]
/// saying what is wrong, and ends the iteration, so no input makes it panic or loop.
///
/// Descriptors come back as numbers ([`Event<RawFd>`]); nothing is closed or taken over.
/// [`Event::into_owned`] takes them over when they are the reader's.
pub fn parse(buf: &[u8]) -> Parser<'_> {
    Parser { buf, pos: 0 }
}

/// The iterator of [`parse`].
#[derive(Debug, Clone)]
pub struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    /// The bytes not parsed yet.
    pub fn remaining(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Ends the iteration with `problem` at `offset`.
    fn fail(
        &mut self,
        offset: usize,
        problem: Problem,
    ) -> Option<Result<Event<RawFd>, ParseError>> {
        self.pos = self.buf.len();
        Some(Err(ParseError { offset, problem }))
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_ne_bytes(w)
}

impl Iterator for Parser<'_> {
    type Item = Result<Event<RawFd>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        let start = self.pos;
        let rest = &self.buf[start..];
        if rest.is_empty() {
            return None;
        }
        if rest.len() < METADATA_LEN {
            let problem = Problem::Truncated {
                needed: METADATA_LEN as u64,
                available: rest.len(),
            };
            return self.fail(start, problem);
        }
        let event_len = u32_at(rest, 0);
        let vers = rest[4];
        let metadata_len = u16_at(rest, 6);
        if vers != libc::FANOTIFY_METADATA_VERSION {
            return self.fail(start, Problem::Version(vers));
        }
        if (metadata_len as usize) < METADATA_LEN || metadata_len as u32 > event_len {
            let problem = Problem::MetadataLen {
                metadata_len,
                event_len,
            };
            return self.fail(start, problem);
        }
        let Some(record) = rest.get(..event_len as usize) else {
            let problem = Problem::Truncated {
                needed: event_len as u64,
                available: rest.len(),
            };
            return self.fail(start, problem);
        };
        let mask = EventMask::from_bits_retain(u64_at(record, 8));
        let fd = u32_at(record, 16) as i32;
        let pid = u32_at(record, 20) as i32;
        let info = match parse_infos(record, metadata_len as usize, start) {
            Ok(info) => info,
            Err(e) => return self.fail(e.offset, e.problem),
        };
        self.pos = start + event_len as usize;
        if mask.contains(EventMask::Q_OVERFLOW) {
            return Some(Ok(Event::Overflow));
        }
        Some(Ok(Event::Mark(MarkEvent {
            mask,
            pid,
            fd: (fd >= 0).then_some(fd),
            info,
        })))
    }
}

/// Parses the info records of `record` from `at` to its end; `base` is the record's
/// offset in the whole buffer, for errors.
fn parse_infos(record: &[u8], mut at: usize, base: usize) -> Result<Vec<Info<RawFd>>, ParseError> {
    let mut infos = Vec::new();
    while at < record.len() {
        let rest = &record[at..];
        let offset = base + at;
        let err = |problem| Err(ParseError { offset, problem });
        if rest.len() < INFO_HEADER_LEN {
            return err(Problem::InfoTruncated {
                available: rest.len(),
            });
        }
        let info_type = rest[0];
        let len = u16_at(rest, 2);
        let bad_len = Problem::InfoLen {
            info_type,
            len,
            available: rest.len(),
        };
        let Some(body) = rest
            .get(..len as usize)
            .and_then(|r| r.get(INFO_HEADER_LEN..))
        else {
            return err(bad_len);
        };
        let info = match info_type {
            libc::FAN_EVENT_INFO_TYPE_FID
            | libc::FAN_EVENT_INFO_TYPE_DFID
            | libc::FAN_EVENT_INFO_TYPE_DFID_NAME
            | libc::FAN_EVENT_INFO_TYPE_OLD_DFID_NAME
            | libc::FAN_EVENT_INFO_TYPE_NEW_DFID_NAME => {
                if body.len() < FSID_LEN + HANDLE_HEADER_LEN {
                    return err(bad_len);
                }
                let fsid = [u32_at(body, 0) as i32, u32_at(body, 4) as i32];
                let handle_bytes = u32_at(body, FSID_LEN);
                let handle_type = u32_at(body, FSID_LEN + 4) as i32;
                let after = &body[FSID_LEN + HANDLE_HEADER_LEN..];
                let Some(handle) = after.get(..handle_bytes as usize) else {
                    return err(Problem::HandleLen {
                        handle_bytes,
                        room: after.len(),
                    });
                };
                let id = FileId {
                    fsid,
                    handle_type,
                    handle: handle.to_vec(),
                };
                let tail = &after[handle.len()..];
                let name = || match tail.iter().position(|&b| b == 0) {
                    Some(end) => Ok(OsString::from_vec(tail[..end].to_vec())),
                    None => Err(ParseError {
                        offset,
                        problem: Problem::NameUnterminated,
                    }),
                };
                match info_type {
                    libc::FAN_EVENT_INFO_TYPE_FID => Info::Fid(id),
                    libc::FAN_EVENT_INFO_TYPE_DFID => Info::Dfid(id),
                    libc::FAN_EVENT_INFO_TYPE_DFID_NAME => Info::DfidName(id, name()?),
                    libc::FAN_EVENT_INFO_TYPE_OLD_DFID_NAME => Info::OldDfidName(id, name()?),
                    _ => Info::NewDfidName(id, name()?),
                }
            }
            libc::FAN_EVENT_INFO_TYPE_PIDFD => {
                if body.len() < 4 {
                    return err(bad_len);
                }
                Info::Pidfd(match u32_at(body, 0) as i32 {
                    fd if fd >= 0 => Pidfd::Open(fd),
                    libc::FAN_NOPIDFD => Pidfd::Exited,
                    _ => Pidfd::Failed,
                })
            }
            libc::FAN_EVENT_INFO_TYPE_ERROR => {
                if body.len() < 8 {
                    return err(bad_len);
                }
                Info::Error {
                    error: u32_at(body, 0) as i32,
                    count: u32_at(body, 4),
                }
            }
            _ => Info::Other {
                info_type,
                data: body.to_vec(),
            },
        };
        infos.push(info);
        at += len as usize;
    }
    Ok(infos)
}
