//! fanotify's flags: how a group is made ([`InitFlags`]), how a mark is changed
//! ([`MarkFlags`]), what happens ([`EventMask`]), and the answer to a permission event
//! ([`Response`]). Every value comes from `libc`.

bitflags::bitflags! {
    /// `FAN_*` flags of [`fanotify_init`](super::fanotify_init): the group's class, its
    /// descriptor's behaviour, its limits and what its events report.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct InitFlags: u32 {
        /// Close-on-exec for the group's descriptor. butter always adds it.
        const CLOEXEC = libc::FAN_CLOEXEC;
        /// Reads fail with `EAGAIN` instead of waiting when nothing is queued.
        const NONBLOCK = libc::FAN_NONBLOCK;

        /// A notification group: events after the fact, no permission events. The
        /// default (the value is 0).
        const CLASS_NOTIF = libc::FAN_CLASS_NOTIF;
        /// A group that may receive permission events, after the file's final content is
        /// in place (virus scanners). Needs `CAP_SYS_ADMIN`.
        const CLASS_CONTENT = libc::FAN_CLASS_CONTENT;
        /// A group that may receive permission events before the content is in place
        /// (hierarchical storage managers). Needs `CAP_SYS_ADMIN`.
        const CLASS_PRE_CONTENT = libc::FAN_CLASS_PRE_CONTENT;

        /// No limit on queued events (no [`Event::Overflow`](super::Event::Overflow)).
        /// Needs `CAP_SYS_ADMIN`.
        const UNLIMITED_QUEUE = libc::FAN_UNLIMITED_QUEUE;
        /// No limit on marks (`fs.fanotify.max_user_marks`). Needs `CAP_SYS_ADMIN`.
        const UNLIMITED_MARKS = libc::FAN_UNLIMITED_MARKS;
        /// Permission responses may ask for an audit record (Linux 4.15). Needs
        /// `CAP_AUDIT_WRITE`.
        const ENABLE_AUDIT = libc::FAN_ENABLE_AUDIT;

        /// Events carry a pidfd of the process that caused them, as an
        /// [`Info::Pidfd`](super::Info::Pidfd) record (Linux 5.15).
        const REPORT_PIDFD = libc::FAN_REPORT_PIDFD;
        /// An event's `pid` is the thread id, not the process id (Linux 4.20).
        const REPORT_TID = libc::FAN_REPORT_TID;
        /// Events identify objects by file handle ([`Info::Fid`](super::Info::Fid))
        /// instead of carrying a descriptor (Linux 5.1); allows directory-entry events
        /// (`CREATE`, `DELETE`, `MOVED_*`, …). Not with the permission classes.
        const REPORT_FID = libc::FAN_REPORT_FID;
        /// Events carry the file handle of the directory (Linux 5.9).
        const REPORT_DIR_FID = libc::FAN_REPORT_DIR_FID;
        /// With `REPORT_DIR_FID`: the entry's name too (Linux 5.9).
        const REPORT_NAME = libc::FAN_REPORT_NAME;
        /// `REPORT_DIR_FID | REPORT_NAME`: the directory's handle and the entry's name, as an
        /// [`Info::DfidName`](super::Info::DfidName) record.
        const REPORT_DFID_NAME = libc::FAN_REPORT_DFID_NAME;
        /// With `REPORT_DFID_NAME | REPORT_FID`: directory-entry events also identify the
        /// entry itself (Linux 5.17).
        const REPORT_TARGET_FID = libc::FAN_REPORT_TARGET_FID;
        /// `REPORT_DFID_NAME | REPORT_FID | REPORT_TARGET_FID`.
        const REPORT_DFID_NAME_TARGET = libc::FAN_REPORT_DFID_NAME_TARGET;
    }
}

impl InitFlags {
    /// Whether a group with these flags identifies objects by file handle, so that its
    /// events carry no descriptor.
    pub fn reports_fid(self) -> bool {
        self.intersects(InitFlags::REPORT_FID | InitFlags::REPORT_DIR_FID)
    }
}

bitflags::bitflags! {
    /// `FAN_MARK_*` flags of [`fanotify_mark`](super::fanotify_mark): what to do (exactly
    /// one of `ADD`, `REMOVE`, `FLUSH`), on what kind of object, and how.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct MarkFlags: u32 {
        /// Add the mask's events to the mark (creating it).
        const ADD = libc::FAN_MARK_ADD;
        /// Remove the mask's events from the mark (removing it when none is left).
        const REMOVE = libc::FAN_MARK_REMOVE;
        /// Remove every inode mark of the group; with `MOUNT` every mount mark, with
        /// `FILESYSTEM` every filesystem mark.
        const FLUSH = libc::FAN_MARK_FLUSH;

        /// Do not follow a symbolic link at the path: mark the link itself.
        const DONT_FOLLOW = libc::FAN_MARK_DONT_FOLLOW;
        /// Fail with `ENOTDIR` unless the path is a directory.
        const ONLYDIR = libc::FAN_MARK_ONLYDIR;

        /// Mark the mount the path is on (every file reached through that mount), not the
        /// inode. Directory-entry events cannot be asked for on a mount mark.
        const MOUNT = libc::FAN_MARK_MOUNT;
        /// Mark the whole filesystem the path is on, through every mount (Linux 4.20).
        const FILESYSTEM = libc::FAN_MARK_FILESYSTEM;

        /// The mask is of events to ignore, not to report (its older form).
        const IGNORED_MASK = libc::FAN_MARK_IGNORED_MASK;
        /// The ignore mask survives modification of the file.
        const IGNORED_SURV_MODIFY = libc::FAN_MARK_IGNORED_SURV_MODIFY;
        /// The mask is of events to ignore, with directory semantics that `IGNORED_MASK`
        /// lacks (Linux 6.0).
        const IGNORE = libc::FAN_MARK_IGNORE;
        /// `IGNORE | IGNORED_SURV_MODIFY`.
        const IGNORE_SURV = libc::FAN_MARK_IGNORE_SURV;
        /// The inode mark does not pin the inode: it goes when the inode is evicted from
        /// the cache (Linux 5.19).
        const EVICTABLE = libc::FAN_MARK_EVICTABLE;
    }
}

bitflags::bitflags! {
    /// fanotify's event bits: what to mark for, and what an event reports.
    ///
    /// Directory-entry events (`MOVED_FROM`, `MOVED_TO`, `CREATE`, `DELETE`, `RENAME`) and
    /// the inode events (`ATTRIB`, `DELETE_SELF`, `MOVE_SELF`) need a group that reports
    /// FIDs ([`InitFlags::REPORT_FID`] or [`InitFlags::REPORT_DIR_FID`]), and cannot be
    /// asked for on a mount mark. Permission events
    /// (`*_PERM`) need [`InitFlags::CLASS_CONTENT`] or [`InitFlags::CLASS_PRE_CONTENT`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct EventMask: u64 {
        /// A file was read.
        const ACCESS = libc::FAN_ACCESS;
        /// A file was written.
        const MODIFY = libc::FAN_MODIFY;
        /// Metadata changed (FID groups only).
        const ATTRIB = libc::FAN_ATTRIB;
        /// A file opened for writing was closed.
        const CLOSE_WRITE = libc::FAN_CLOSE_WRITE;
        /// A file not opened for writing was closed.
        const CLOSE_NOWRITE = libc::FAN_CLOSE_NOWRITE;
        /// Either close.
        const CLOSE = libc::FAN_CLOSE;
        /// A file or directory was opened.
        const OPEN = libc::FAN_OPEN;
        /// A file was opened to be executed (Linux 5.0).
        const OPEN_EXEC = libc::FAN_OPEN_EXEC;
        /// An entry was renamed away from a marked directory.
        const MOVED_FROM = libc::FAN_MOVED_FROM;
        /// An entry was renamed into a marked directory.
        const MOVED_TO = libc::FAN_MOVED_TO;
        /// Either half of a rename.
        const MOVE = libc::FAN_MOVE;
        /// An entry was renamed: one event with the old and the new name (Linux 5.17).
        const RENAME = libc::FAN_RENAME;
        /// An entry was created in a marked directory.
        const CREATE = libc::FAN_CREATE;
        /// An entry was deleted from a marked directory.
        const DELETE = libc::FAN_DELETE;
        /// The marked object itself was deleted.
        const DELETE_SELF = libc::FAN_DELETE_SELF;
        /// The marked object itself was moved.
        const MOVE_SELF = libc::FAN_MOVE_SELF;
        /// A filesystem error was detected, with an [`Info::Error`](super::Info::Error)
        /// record (filesystem marks of FID groups, Linux 5.16).
        const FS_ERROR = libc::FAN_FS_ERROR;

        /// (permission) A file is being opened: answer before the open proceeds.
        const OPEN_PERM = libc::FAN_OPEN_PERM;
        /// (permission) A file is being read: answer before the read proceeds.
        const ACCESS_PERM = libc::FAN_ACCESS_PERM;
        /// (permission) A file is being opened to be executed (Linux 5.0).
        const OPEN_EXEC_PERM = libc::FAN_OPEN_EXEC_PERM;

        /// (event) The queue overflowed; surfaced as [`Event::Overflow`](super::Event::Overflow).
        const Q_OVERFLOW = libc::FAN_Q_OVERFLOW;
        /// (mark, event) Directories too: report events on directories, and mark events on
        /// directories carry it.
        const ONDIR = libc::FAN_ONDIR;
        /// (mark) Events on the entries of a marked directory, not only on the directory.
        const EVENT_ON_CHILD = libc::FAN_EVENT_ON_CHILD;
    }
}

impl EventMask {
    /// Every permission event.
    pub const ALL_PERM: EventMask = EventMask::OPEN_PERM
        .union(EventMask::ACCESS_PERM)
        .union(EventMask::OPEN_EXEC_PERM);

    /// Whether the mask holds a permission event, which must be answered.
    pub fn is_permission(self) -> bool {
        self.intersects(EventMask::ALL_PERM)
    }
}

/// The answer to a permission event, written by [`Fanotify::respond`](super::Fanotify::respond).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Response {
    /// `FAN_ALLOW`: the access proceeds.
    Allow,
    /// `FAN_DENY`: the access fails with `EPERM`.
    Deny,
}

impl Response {
    /// The kernel's value (`FAN_ALLOW` or `FAN_DENY`).
    pub fn as_raw(self) -> u32 {
        match self {
            Response::Allow => libc::FAN_ALLOW,
            Response::Deny => libc::FAN_DENY,
        }
    }
}
