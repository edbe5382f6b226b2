//! The one error type of the crate.
//!
//! Every failing call returns an [`Error`] that keeps the errno, names the system call (or
//! butter function) that failed, may name the path involved, and carries a hint where users
//! are known to get confused — an inotify `ENOSPC` is the watch limit, not a full disk.
//! [`Error::kind`] sorts errors into the few classes callers usually branch on.

use std::fmt;
use std::io;
use std::path::Path;

pub use nix::errno::Errno;

/// The result type of every fallible butter call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure an [`Error`] is, for callers that branch on it.
///
/// The kind is derived from the errno; [`Error::errno`] gives the exact value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The arguments were rejected (`EINVAL`, `ENAMETOOLONG`, `ENOTDIR`, `E2BIG`, `ERANGE`,
    /// `EOVERFLOW`): a bad flag, clock, mask, value or descriptor of the wrong type.
    InvalidArgument,
    /// The descriptor is not open, or not open for this kind of access (`EBADF`).
    BadDescriptor,
    /// A path does not exist (`ENOENT`).
    NotFound,
    /// The caller lacks a permission or capability (`EPERM`, `EACCES`).
    PermissionDenied,
    /// A limit was reached: descriptors, memory, watches or user instances
    /// (`EMFILE`, `ENFILE`, `ENOMEM`, `ENOSPC`, `EUSERS`, `ENOBUFS`, `EDQUOT`).
    ResourceExhausted,
    /// A non-blocking call would have blocked (`EAGAIN`).
    WouldBlock,
    /// A signal interrupted the call (`EINTR`).
    Interrupted,
    /// The operation was cancelled (`ECANCELED`), as a cancel-on-set timer is when the
    /// realtime clock jumps.
    Cancelled,
    /// Any other operating-system failure.
    Other,
}

impl ErrorKind {
    /// The kind of failure an errno stands for.
    pub fn of(errno: Errno) -> ErrorKind {
        use Errno::*;
        match errno {
            EINVAL | ENAMETOOLONG | ENOTDIR | E2BIG | ERANGE | EOVERFLOW => {
                ErrorKind::InvalidArgument
            }
            EBADF => ErrorKind::BadDescriptor,
            ENOENT => ErrorKind::NotFound,
            EPERM | EACCES => ErrorKind::PermissionDenied,
            EMFILE | ENFILE | ENOMEM | ENOSPC | EUSERS | ENOBUFS | EDQUOT => {
                ErrorKind::ResourceExhausted
            }
            EAGAIN => ErrorKind::WouldBlock,
            EINTR => ErrorKind::Interrupted,
            ECANCELED => ErrorKind::Cancelled,
            _ => ErrorKind::Other,
        }
    }
}

/// A failed call: which call, its errno, the path if one was involved, and a hint.
///
/// ```
/// use butter::{Errno, ErrorKind};
/// use butter::inotify::{Inotify, Mask};
///
/// let mut inotify = Inotify::new()?;
/// let err = inotify.add_watch("/no/such/dir", Mask::CREATE).unwrap_err();
/// assert_eq!(err.errno(), Errno::ENOENT);
/// assert_eq!(err.kind(), ErrorKind::NotFound);
/// assert_eq!(err.call(), "inotify_add_watch");
/// assert_eq!(err.path().unwrap(), std::path::Path::new("/no/such/dir"));
/// # Ok::<(), butter::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    call: &'static str,
    errno: Errno,
    path: Option<Box<Path>>,
    hint: Option<&'static str>,
}

impl Error {
    /// An error of `call` with `errno`.
    pub fn new(call: &'static str, errno: Errno) -> Error {
        Error {
            call,
            errno,
            path: None,
            hint: None,
        }
    }

    /// An error of `call` from a rustix errno.
    pub(crate) fn from_rustix(call: &'static str, errno: rustix::io::Errno) -> Error {
        Error::new(call, Errno::from_raw(errno.raw_os_error()))
    }

    /// An error of `call` from an [`io::Error`]; one without an errno becomes `EIO`.
    pub fn from_io(call: &'static str, err: &io::Error) -> Error {
        Error::new(
            call,
            Errno::from_raw(err.raw_os_error().unwrap_or(libc::EIO)),
        )
    }

    /// The error of `call` that the calling thread's `errno` holds now.
    pub(crate) fn last(call: &'static str) -> Error {
        Error::new(call, Errno::last())
    }

    /// The same error, naming the path the call was about.
    pub fn with_path(mut self, path: impl AsRef<Path>) -> Error {
        self.path = Some(path.as_ref().into());
        self
    }

    /// The same error, with a hint shown after the message.
    pub fn with_hint(mut self, hint: &'static str) -> Error {
        self.hint = Some(hint);
        self
    }

    /// The same error with `hint`, if its errno is `errno`.
    pub(crate) fn hint_if(self, errno: Errno, hint: &'static str) -> Error {
        if self.errno == errno {
            self.with_hint(hint)
        } else {
            self
        }
    }

    /// The name of the call that failed, such as `"inotify_add_watch"`.
    pub fn call(&self) -> &'static str {
        self.call
    }

    /// The errno the call failed with.
    pub fn errno(&self) -> Errno {
        self.errno
    }

    /// The errno as a raw number, as [`io::Error::raw_os_error`] gives it.
    pub fn raw_os_error(&self) -> i32 {
        self.errno as i32
    }

    /// The kind of failure, for callers that branch on it.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::of(self.errno)
    }

    /// The path the call was about, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The hint shown with the message, if any.
    pub fn hint(&self) -> Option<&'static str> {
        self.hint
    }

    /// Whether a non-blocking call would have blocked (`EAGAIN`).
    pub fn is_would_block(&self) -> bool {
        self.errno == Errno::EAGAIN
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.call)?;
        if let Some(path) = &self.path {
            write!(f, " {:?}", path)?;
        }
        write!(f, " failed: {} ({:?})", self.errno.desc(), self.errno)?;
        if let Some(hint) = self.hint {
            write!(f, "; {hint}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("call", &self.call).field("errno", &self.errno);
        if let Some(path) = &self.path {
            d.field("path", path);
        }
        if let Some(hint) = self.hint {
            d.field("hint", &hint);
        }
        d.finish()
    }
}

impl std::error::Error for Error {}

impl From<Error> for io::Error {
    /// An [`io::Error`] of the matching [`io::ErrorKind`] that keeps the whole message; the
    /// butter error can be recovered with [`io::Error::get_ref`] and `downcast_ref`.
    fn from(err: Error) -> io::Error {
        io::Error::new(io::Error::from(err.errno).kind(), err)
    }
}

/// Attaches the call name to a rustix result.
pub(crate) trait Call<T> {
    /// Turns a rustix error into an [`Error`] of `call`.
    fn call(self, call: &'static str) -> Result<T>;
}

impl<T> Call<T> for rustix::io::Result<T> {
    #[inline]
    fn call(self, call: &'static str) -> Result<T> {
        self.map_err(|e| Error::from_rustix(call, e))
    }
}

impl<T> Call<T> for nix::Result<T> {
    #[inline]
    fn call(self, call: &'static str) -> Result<T> {
        self.map_err(|e| Error::new(call, e))
    }
}

/// The hint for `EMFILE`/`ENFILE` when a descriptor is created.
pub(crate) const FD_LIMIT_HINT: &str = "the process's open-file limit (RLIMIT_NOFILE, `ulimit -n`) or the system's (fs.file-max) was reached";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_call_errno_path_and_hint() {
        let e = Error::new("inotify_add_watch", Errno::ENOSPC)
            .with_path("/srv")
            .with_hint("the watch limit");
        assert_eq!(
            e.to_string(),
            "inotify_add_watch \"/srv\" failed: No space left on device (ENOSPC); the watch limit"
        );
        assert_eq!(e.kind(), ErrorKind::ResourceExhausted);
        assert_eq!(e.raw_os_error(), libc::ENOSPC);
    }

    #[test]
    fn io_error_keeps_kind_and_source() {
        let e: io::Error = Error::new("read", Errno::EAGAIN).into();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        let inner = e.get_ref().unwrap().downcast_ref::<Error>().unwrap();
        assert_eq!(inner.call(), "read");
    }

    #[test]
    fn kinds_are_told_apart() {
        assert_eq!(ErrorKind::of(Errno::EINVAL), ErrorKind::InvalidArgument);
        assert_eq!(ErrorKind::of(Errno::EPERM), ErrorKind::PermissionDenied);
        assert_eq!(ErrorKind::of(Errno::EACCES), ErrorKind::PermissionDenied);
        assert_eq!(ErrorKind::of(Errno::EMFILE), ErrorKind::ResourceExhausted);
        assert_eq!(ErrorKind::of(Errno::EBADF), ErrorKind::BadDescriptor);
        assert_eq!(ErrorKind::of(Errno::EIO), ErrorKind::Other);
    }
}
