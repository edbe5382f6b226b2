//! Copying a file's bytes inside the kernel: sendfile (with pysendfile's semantics),
//! copy_file_range, and [`copy`], which picks the fastest way for the destination.
//!
//! - [`sendfile`](fn@sendfile) reads from a file and writes to any descriptor (a socket,
//!   a pipe, another file). With an offset it reads there and leaves the file position
//!   alone; with `None` it reads at the position and advances it. It returns 0 at the end
//!   of the file, may move fewer bytes than asked, and moves at most [`MAX_PER_CALL`] per
//!   call: [`send_all`] loops.
//! - [`sendfile_with`] adds headers and trailers, as BSD's sendfile does: on a TCP socket
//!   they are corked together with the file's bytes into full segments.
//! - [`copy_file_range`] copies between files (sharing extents where the file system can).
//! - [`copy`] moves a range of a file to a socket, pipe or file by the fastest path for
//!   the destination — sendfile, splice through a pipe, copy_file_range — falling back
//!   to a read/write loop when none applies, with the same result whichever it takes.
//! - With the `tokio` feature, [`sendfile_async`], [`send_all_async`] and [`copy_async`]
//!   do the same to sockets on tokio's reactor.
//!
//! ```
//! use butter::sendfile::{send_all, sendfile};
//! use std::io::{Read, Write};
//! use std::os::unix::net::UnixStream;
//!
//! let mut file = tempfile::tempfile()?;
//! file.write_all(b"0123456789")?;
//! let (a, mut b) = UnixStream::pair()?;
//! assert_eq!(sendfile(&a, &file, Some(2), 3)?, 3); // bytes 2..5; the position stays at 10
//! assert_eq!(sendfile(&a, &file, Some(10), 3)?, 0); // at the end: 0
//! let mut offset = 5;
//! assert_eq!(send_all(&a, &file, Some(&mut offset), 100)?, 5);
//! drop(a);
//! let mut got = String::new();
//! b.read_to_string(&mut got)?;
//! assert_eq!(got, "23456789");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[cfg(feature = "tokio")]
mod asynchronous;
mod copy;

use std::os::fd::{AsFd, BorrowedFd};

#[cfg(feature = "tokio")]
pub use asynchronous::{AsyncOut, copy_async, send_all_async, sendfile_async};
pub use copy::{Copier, Method, copy, copy_more, copy_with};

use crate::error::{Call, Errno, Error, Result};
use crate::poll_writable;

/// The most the kernel moves in one sendfile (or splice, or copy_file_range) call:
/// 0x7ffff000 bytes, just under 2 GiB.
pub const MAX_PER_CALL: usize = 0x7fff_f000;

const SENDFILE_EINVAL: &str = "the input must be a file that can be mmap'ed (a regular file), the \
     output must accept writes (not O_APPEND), and the offset must not be negative";

/// Sends up to `count` bytes of `in_fd` to `out_fd`:
/// [`sendfile(2)`](https://man7.org/linux/man-pages/man2/sendfile.2.html), with pysendfile's
/// semantics.
///
/// With `Some(offset)` the bytes are read from there and the file position of `in_fd` is
/// left alone; with `None` they are read from the position, which advances. Returns the
/// bytes sent, which may be fewer than `count` (a partial send, or the end of the file),
/// and 0 at the end of the file (or for an offset past it). A non-blocking `out_fd` whose
/// buffer is full fails with `EAGAIN` when nothing was sent. `EINTR` is retried.
pub fn sendfile(
    out_fd: impl AsFd,
    in_fd: impl AsFd,
    offset: Option<u64>,
    count: usize,
) -> Result<usize> {
    let mut off = offset;
    raw_sendfile(out_fd.as_fd(), in_fd.as_fd(), off.as_mut(), count)
}

/// [`sendfile`](fn@sendfile) from `*offset`, which is advanced by the bytes sent.
pub fn sendfile_at(
    out_fd: impl AsFd,
    in_fd: impl AsFd,
    offset: &mut u64,
    count: usize,
) -> Result<usize> {
    raw_sendfile(out_fd.as_fd(), in_fd.as_fd(), Some(offset), count)
}

fn raw_sendfile(
    out_fd: BorrowedFd<'_>,
    in_fd: BorrowedFd<'_>,
    mut offset: Option<&mut u64>,
    count: usize,
) -> Result<usize> {
    loop {
        match rustix::fs::sendfile(out_fd, in_fd, offset.as_deref_mut(), count) {
            Err(rustix::io::Errno::INTR) => continue,
            result => {
                return result.call("sendfile").map_err(|e| {
                    e.hint_if(Errno::EINVAL, SENDFILE_EINVAL).hint_if(
                        Errno::ESPIPE,
                        "an offset was given for an input that cannot seek (sendfile reads regular files)",
                    )
                });
            }
        }
    }
}

/// Sends `count` bytes of `in_fd` from `offset` (or from its position, with `None`) to
/// `out_fd`, looping over partial sends and the kernel's per-call cap. Stops early only at
/// the end of the file. Returns the bytes sent; `offset` (or the position) is advanced as
/// it goes, so after an error it says how far the send got.
///
/// A non-blocking `out_fd` is waited on (`poll`) when it is full, so this call always
/// blocks until done; for an async socket use [`send_all_async`] (feature `tokio`).
pub fn send_all(
    out_fd: impl AsFd,
    in_fd: impl AsFd,
    mut offset: Option<&mut u64>,
    count: u64,
) -> Result<u64> {
    let (out_fd, in_fd) = (out_fd.as_fd(), in_fd.as_fd());
    let mut total = 0u64;
    while total < count {
        let chunk = usize::try_from(count - total)
            .unwrap_or(MAX_PER_CALL)
            .min(MAX_PER_CALL);
        match raw_sendfile(out_fd, in_fd, offset.as_deref_mut(), chunk) {
            Ok(0) => break,
            Ok(n) => total += n as u64,
            Err(e) if e.is_would_block() => {
                poll_writable(out_fd, None)?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(total)
}

/// Sends `headers`, then up to `count` bytes of `in_fd` from `offset` (or its position),
/// then `trailers`, to `out_fd` — the arguments BSD's sendfile takes, which pysendfile
/// ignores on Linux. On a TCP socket the three are corked (`TCP_CORK`) into full segments;
/// on another socket the headers go with `MSG_MORE`; to a file or pipe they are written.
///
/// Returns the bytes sent, headers and trailers included, as BSD's does. It stops early at
/// the end of the file (and then sends the trailers), and when a non-blocking `out_fd`
/// fills up: after some bytes it returns their count, before any it fails with `EAGAIN`.
pub fn sendfile_with(
    out_fd: impl AsFd,
    in_fd: impl AsFd,
    offset: Option<u64>,
    count: usize,
    headers: &[&[u8]],
    trailers: &[&[u8]],
) -> Result<usize> {
    let (out_fd, in_fd) = (out_fd.as_fd(), in_fd.as_fd());
    let kind = OutKind::of(out_fd);
    let corked =
        kind == OutKind::Socket && rustix::net::sockopt::set_tcp_cork(out_fd, true).is_ok();
    let mut sent = 0usize;
    let result = (|| {
        let more = kind == OutKind::Socket && !corked;
        for h in headers {
            if !write_all(out_fd, h, more, kind, &mut sent)? {
                return Ok(());
            }
        }
        let mut off = offset;
        let mut left = count;
        while left > 0 {
            match raw_sendfile(out_fd, in_fd, off.as_mut(), left.min(MAX_PER_CALL)) {
                Ok(0) => break,
                Ok(n) => {
                    sent += n;
                    left -= n;
                }
                Err(e) if e.is_would_block() && sent > 0 => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        for (i, t) in trailers.iter().enumerate() {
            let more = more && i + 1 < trailers.len();
            if !write_all(out_fd, t, more, kind, &mut sent)? {
                return Ok(());
            }
        }
        Ok(())
    })();
    if corked {
        // Uncorking pushes out what is held.
        let _ = rustix::net::sockopt::set_tcp_cork(out_fd, false);
    }
    result.map(|()| sent)
}

/// Writes `data` whole; `false` when a non-blocking descriptor fills up after some bytes
/// were sent (`EAGAIN` before any).
fn write_all(
    fd: BorrowedFd<'_>,
    mut data: &[u8],
    more: bool,
    kind: OutKind,
    sent: &mut usize,
) -> Result<bool> {
    while !data.is_empty() {
        let result = if kind == OutKind::Socket {
            let flags = if more {
                rustix::net::SendFlags::MORE
            } else {
                rustix::net::SendFlags::empty()
            };
            rustix::net::send(fd, data, flags | rustix::net::SendFlags::NOSIGNAL).call("send")
        } else {
            rustix::io::write(fd, data).call("write")
        };
        match result {
            Ok(n) => {
                *sent += n;
                data = &data[n..];
            }
            Err(e) if e.errno() == Errno::EINTR => {}
            Err(e) if e.is_would_block() && *sent > 0 => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// What kind of descriptor data is going to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutKind {
    Socket,
    Pipe,
    File,
    Other,
}

impl OutKind {
    pub(crate) fn of(fd: BorrowedFd<'_>) -> OutKind {
        match rustix::fs::fstat(fd) {
            Ok(st) => match rustix::fs::FileType::from_raw_mode(st.st_mode) {
                rustix::fs::FileType::Socket => OutKind::Socket,
                rustix::fs::FileType::Fifo => OutKind::Pipe,
                rustix::fs::FileType::RegularFile => OutKind::File,
                _ => OutKind::Other,
            },
            Err(_) => OutKind::Other,
        }
    }
}

/// Copies up to `len` bytes between files:
/// [`copy_file_range(2)`](https://man7.org/linux/man-pages/man2/copy_file_range.2.html).
///
/// An offset given is read and advanced (the file position left alone); `None` uses and
/// advances the position. Returns the bytes copied, 0 at the end of the input. File systems
/// that can share extents (btrfs, XFS, NFS, ...) do so instead of copying. `EXDEV` for files
/// on different file systems where the kernel cannot copy across them; `EINVAL` for
/// overlapping ranges of one file or descriptors that are not regular files. `EINTR` is
/// retried.
pub fn copy_file_range(
    fd_in: impl AsFd,
    mut off_in: Option<&mut u64>,
    fd_out: impl AsFd,
    mut off_out: Option<&mut u64>,
    len: usize,
) -> Result<usize> {
    let (fd_in, fd_out) = (fd_in.as_fd(), fd_out.as_fd());
    loop {
        match rustix::fs::copy_file_range(
            fd_in,
            off_in.as_deref_mut(),
            fd_out,
            off_out.as_deref_mut(),
            len,
        ) {
            Err(rustix::io::Errno::INTR) => continue,
            result => {
                return result.call("copy_file_range").map_err(|e| {
                    e.hint_if(Errno::EXDEV, "the files are on different file systems")
                        .hint_if(
                            Errno::EINVAL,
                            "both must be regular files, and ranges of one file must not overlap",
                        )
                });
            }
        }
    }
}

impl Error {
    /// Whether a fast path is not available for these descriptors (so that a slower one
    /// should be used): the errnos sendfile, splice and copy_file_range give for a pair they
    /// do not handle.
    pub(crate) fn is_unsupported_pair(&self) -> bool {
        matches!(
            self.errno(),
            Errno::EINVAL | Errno::ENOSYS | Errno::EXDEV | Errno::EOPNOTSUPP | Errno::ESPIPE
        )
    }
}
