//! Pipes, and moving data through them without copying it through user space: splice, tee
//! and vmsplice.
//!
//! - [`splice`](fn@splice) moves data between a pipe and another descriptor (a file, a
//!   socket, another pipe) inside the kernel. Offsets are real: give one for the non-pipe
//!   side and the kernel reads or writes there, leaving the file position alone, and the
//!   offset is advanced by what was moved.
//! - [`tee`] copies data from one pipe to another without consuming it.
//! - [`vmsplice`] puts user memory into a pipe. The kernel's vmsplice does not copy: the pipe
//!   references the caller's pages, so changing or freeing the memory before the reader has
//!   drained the pipe changes what the reader sees (this is why butter 0.12 removed it).
//!   Here [`vmsplice`] copies, giving the same bytes as the kernel call, and the zero-copy
//!   form is [`PageWriter`]: it takes ownership of page-aligned [`PageBuf`]s, so no caller
//!   can change pages the kernel still references, and keeps them until the pipe has been
//!   drained past them.
//! - [`pipe_size`] and [`set_pipe_size`] read and set a pipe's capacity (64 KiB by default),
//!   which bounds how much one splice moves.
//!
//! ```
//! use butter::pipe::{Pipe, SpliceFlags, splice, tee};
//! use std::io::{Read, Seek, Write};
//!
//! let mut file = tempfile::tempfile()?;
//! file.write_all(b"hello, world")?;
//! file.rewind()?;
//! let pipe = Pipe::new()?;
//! // Seven bytes from offset 5, without moving the file's position.
//! let mut offset = 5;
//! let n = splice(&file, Some(&mut offset), &pipe.write, None, 7, SpliceFlags::empty())?;
//! assert_eq!((n, offset), (7, 12));
//! assert_eq!(file.stream_position()?, 0);
//!
//! let copy = Pipe::new()?;
//! assert_eq!(tee(&pipe.read, &copy.write, 7, SpliceFlags::empty())?, 7);
//! let mut got = [0; 7];
//! std::fs::File::from(copy.read).read_exact(&mut got)?;
//! assert_eq!(&got, b", world");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod pages;

use std::io::IoSlice;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

pub use pages::{PageBuf, PageWriter, page_size};
pub use rustix::pipe::{PIPE_BUF, PipeFlags, SpliceFlags};

use crate::error::{Call, Errno, Error, FD_LIMIT_HINT, Result};

/// The two ends of a pipe.
#[derive(Debug)]
pub struct Pipe {
    /// The end to read from.
    pub read: OwnedFd,
    /// The end to write to.
    pub write: OwnedFd,
}

impl Pipe {
    /// A new blocking pipe (both ends close-on-exec).
    pub fn new() -> Result<Pipe> {
        Pipe::with_flags(PipeFlags::empty())
    }

    /// A new pipe with `flags` (`NONBLOCK`, `DIRECT`; `CLOEXEC` is always added).
    pub fn with_flags(flags: PipeFlags) -> Result<Pipe> {
        let (read, write) = pipe_with(flags)?;
        Ok(Pipe { read, write })
    }

    /// The pipe's capacity in bytes.
    pub fn size(&self) -> Result<usize> {
        pipe_size(&self.write)
    }

    /// Sets the pipe's capacity (see [`set_pipe_size`]); returns the capacity it got.
    pub fn set_size(&self, size: usize) -> Result<usize> {
        set_pipe_size(&self.write, size)
    }
}

/// Creates a pipe: [`pipe2(2)`](https://man7.org/linux/man-pages/man2/pipe2.2.html). Returns
/// (read end, write end). `O_CLOEXEC` is always added to `flags`.
pub fn pipe_with(flags: PipeFlags) -> Result<(OwnedFd, OwnedFd)> {
    rustix::pipe::pipe_with(flags | PipeFlags::CLOEXEC)
        .call("pipe2")
        .map_err(|e| e.hint_if(Errno::EMFILE, FD_LIMIT_HINT))
}

/// A pipe's capacity: [`fcntl(F_GETPIPE_SZ)`](https://man7.org/linux/man-pages/man2/fcntl.2.html).
/// Either end will do; `EBADF`/`EINVAL` if `fd` is not a pipe.
pub fn pipe_size(fd: impl AsFd) -> Result<usize> {
    rustix::pipe::fcntl_getpipe_size(fd).call("fcntl(F_GETPIPE_SZ)")
}

/// Sets a pipe's capacity: [`fcntl(F_SETPIPE_SZ)`](https://man7.org/linux/man-pages/man2/fcntl.2.html).
///
/// The kernel rounds `size` up to a power-of-two number of pages and returns what it set.
/// Above `/proc/sys/fs/pipe-max-size` (1 MiB by default) only a process with
/// `CAP_SYS_RESOURCE` may go (`EPERM` otherwise); shrinking below the data in the pipe is
/// `EBUSY`.
pub fn set_pipe_size(fd: impl AsFd, size: usize) -> Result<usize> {
    rustix::pipe::fcntl_setpipe_size(fd, size)
        .call("fcntl(F_SETPIPE_SZ)")
        .map_err(|e| {
            e.hint_if(
                Errno::EPERM,
                "the size is above /proc/sys/fs/pipe-max-size (raising it needs CAP_SYS_RESOURCE), \
                 or the user's pipe buffers (fs.pipe-user-pages-soft/hard) are used up",
            )
            .hint_if(Errno::EBUSY, "the pipe holds more data than the new size")
        })
}

const SPLICE_EINVAL: &str = "neither descriptor is a pipe, the file system cannot splice, the \
     target was opened O_APPEND, or both ends are the same pipe";
const SPLICE_ESPIPE: &str =
    "an offset was given for a pipe (offsets are only for the non-pipe side)";

/// Moves up to `len` bytes from `fd_in` to `fd_out`, one of which must be a pipe:
/// [`splice(2)`](https://man7.org/linux/man-pages/man2/splice.2.html).
///
/// For the non-pipe side an offset may be given: the kernel then reads (or writes) there,
/// leaves the file position alone, and advances the offset by the bytes moved. `None` uses
/// and advances the file position. An offset for a pipe is `ESPIPE`.
///
/// Returns the bytes moved: 0 means the input is at its end (a pipe with no writers left,
/// or an offset at or past the end of a file). One call moves at most a pipe's capacity.
/// `SpliceFlags::NONBLOCK` makes only the pipe side non-blocking (`EAGAIN` when it is full
/// or empty); the other side follows its own `O_NONBLOCK`. `MOVE` and `MORE` are hints.
/// `EINTR` is retried.
pub fn splice(
    fd_in: impl AsFd,
    mut off_in: Option<&mut u64>,
    fd_out: impl AsFd,
    mut off_out: Option<&mut u64>,
    len: usize,
    flags: SpliceFlags,
) -> Result<usize> {
    let (fd_in, fd_out) = (fd_in.as_fd(), fd_out.as_fd());
    loop {
        match rustix::pipe::splice(
            fd_in,
            off_in.as_deref_mut(),
            fd_out,
            off_out.as_deref_mut(),
            len,
            flags,
        ) {
            Err(rustix::io::Errno::INTR) => continue,
            result => {
                return result.call("splice").map_err(|e| {
                    e.hint_if(Errno::EINVAL, SPLICE_EINVAL)
                        .hint_if(Errno::ESPIPE, SPLICE_ESPIPE)
                });
            }
        }
    }
}

/// Copies up to `len` bytes from pipe `fd_in` to pipe `fd_out` without consuming them:
/// [`tee(2)`](https://man7.org/linux/man-pages/man2/tee.2.html). Both must be pipes, and not
/// the same one (`EINVAL`). Returns the bytes copied, 0 if `fd_in` is empty and has no
/// writers. `EINTR` is retried.
pub fn tee(fd_in: impl AsFd, fd_out: impl AsFd, len: usize, flags: SpliceFlags) -> Result<usize> {
    let (fd_in, fd_out) = (fd_in.as_fd(), fd_out.as_fd());
    loop {
        match rustix::pipe::tee(fd_in, fd_out, len, flags) {
            Err(rustix::io::Errno::INTR) => continue,
            result => {
                return result.call("tee").map_err(|e| {
                    e.hint_if(
                        Errno::EINVAL,
                        "both descriptors must be pipes, and different ones",
                    )
                });
            }
        }
    }
}

/// Puts the bytes of `bufs` into the pipe `fd` (its write end), in order, as
/// [`vmsplice(2)`](https://man7.org/linux/man-pages/man2/vmsplice.2.html) would — but by
/// copying them, so the caller may reuse its memory at once. Returns the bytes put in,
/// which may be fewer than given when the pipe is non-blocking and fills up.
///
/// With `SpliceFlags::NONBLOCK` on a blocking pipe, the call does not wait: it fails with
/// `EAGAIN` if the pipe is full, and otherwise puts in at most [`PIPE_BUF`] bytes (what is
/// sure to fit). `GIFT`, `MOVE` and `MORE` are hints that mean nothing for a copy. For the
/// zero-copy form, see [`PageWriter`]. A descriptor that is not a pipe's write end is
/// `EBADF` (read end) or `EINVAL`.
pub fn vmsplice(fd: impl AsFd, bufs: &[&[u8]], flags: SpliceFlags) -> Result<usize> {
    let fd = fd.as_fd();
    // vmsplice's own rule: only pipes.
    pipe_size(fd)
        .map_err(|e| Error::new("vmsplice", e.errno()).with_hint("the descriptor is not a pipe"))?;
    let slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
    if flags.contains(SpliceFlags::NONBLOCK) && !crate::event::is_nonblocking(fd)? {
        return write_without_waiting(fd, &slices);
    }
    writev(fd, &slices)
}

/// `writev` with `EINTR` retried.
fn writev(fd: BorrowedFd<'_>, bufs: &[IoSlice<'_>]) -> Result<usize> {
    loop {
        match rustix::io::writev(fd, bufs) {
            Err(rustix::io::Errno::INTR) => continue,
            result => return result.call("vmsplice"),
        }
    }
}

/// Writes what surely fits into a blocking pipe without waiting: nothing (`EAGAIN`) if it
/// is full, else up to `PIPE_BUF` bytes (a writable pipe has at least one free page).
fn write_without_waiting(fd: BorrowedFd<'_>, bufs: &[IoSlice<'_>]) -> Result<usize> {
    if !crate::poll_writable(fd, Some(std::time::Duration::ZERO))? {
        return Err(Error::new("vmsplice", Errno::EAGAIN));
    }
    let mut room = PIPE_BUF;
    let mut cut = Vec::with_capacity(bufs.len());
    for b in bufs {
        if room == 0 {
            break;
        }
        let n = b.len().min(room);
        cut.push(IoSlice::new(&b[..n]));
        room -= n;
    }
    writev(fd, &cut)
}
