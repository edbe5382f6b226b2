//! [`copy`]: a range of a file to a socket, pipe or file, by the fastest path.

use std::cell::{Cell, RefCell};
use std::os::fd::{AsFd, BorrowedFd};

use super::{MAX_PER_CALL, OutKind, copy_file_range, raw_sendfile};
use crate::error::{Error, Result};
use crate::pipe::{Pipe, SpliceFlags, set_pipe_size, splice};
use crate::poll_writable;

/// How [`copy_with`] moves the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// The fastest for the destination (what [`copy`] does): copy_file_range to a file,
    /// splice to a pipe, splice through a pipe to a socket (sendfile for small ranges).
    Auto,
    /// sendfile.
    Sendfile,
    /// splice, through a pipe kept for the thread unless the destination is a pipe.
    Splice,
    /// copy_file_range (files only).
    CopyFileRange,
    /// `pread` and `write` through a buffer: works for every pair.
    ReadWrite,
}

/// Below this many bytes, sendfile (one call) beats splice (two) to a socket (measured
/// with the zerocopy benchmark's `--explore`: 4 and 16 KiB go faster by sendfile, 64 KiB by
/// splice).
pub(crate) const SMALL: u64 = 64 * 1024;

/// The capacity the thread's splice pipe is given for large copies: the default
/// `/proc/sys/fs/pipe-max-size`, so no privilege is needed.
const PIPE_CAPACITY: usize = 1 << 20;

/// The read/write loop's buffer.
const RW_BUFFER: usize = 1 << 20;

/// Copies up to `len` bytes of `file` from `*offset` to `out`, by the fastest path for
/// `out` (see [`Method::Auto`]), falling back to slower ones when the kernel refuses a
/// pair; the result is the same whichever it takes. Stops early only at the end of the
/// file. Returns the bytes copied; `*offset` is advanced by them (the file position is
/// left alone), and after an error it says how far the copy got. `out` is written at its
/// own position (for a file). A non-blocking `out` is waited on when full, so this blocks
/// until done; use [`copy_async`](super::copy_async) for async sockets.
///
/// ```
/// use butter::sendfile::copy;
/// use std::io::{Read, Write};
///
/// let mut file = tempfile::tempfile()?;
/// file.write_all(&vec![7u8; 300_000])?;
/// let mut out = tempfile::tempfile()?;
/// let mut offset = 100_000;
/// assert_eq!(copy(&out, &file, &mut offset, 1 << 30)?, 200_000);
/// assert_eq!(offset, 300_000);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn copy(out: impl AsFd, file: impl AsFd, offset: &mut u64, len: u64) -> Result<u64> {
    Copier::new(&out).copy(file, offset, len)
}

/// [`copy`] when more data follows at once (the next call continues the same stream): to a
/// socket, its last segment may wait (`MSG_MORE`) to go out full with the next call's bytes
/// instead of being pushed now. End with a [`copy`] (or a write without `MSG_MORE`), or the
/// last bytes wait for the kernel's cork timer (200 ms) or the socket's shutdown.
pub fn copy_more(out: impl AsFd, file: impl AsFd, offset: &mut u64, len: u64) -> Result<u64> {
    Copier::new(&out).copy_more(file, offset, len)
}

/// [`copy`] by a chosen [`Method`] (with the same fallbacks as `Auto` when the kernel
/// refuses it for this pair, so the result is always the same); with `more`, as
/// [`copy_more`] (sendfile has no way to say it, and pushes at the end of each call).
pub fn copy_with(
    method: Method,
    more: bool,
    out: impl AsFd,
    file: impl AsFd,
    offset: &mut u64,
    len: u64,
) -> Result<u64> {
    Copier::new(&out).copy_with(method, more, file, offset, len)
}

/// [`copy`] to one destination, many times: it learns what kind of descriptor the
/// destination is once (an `fstat`), where each [`copy`] call asks again — for callers that
/// stream a file in pieces. It borrows the destination, which therefore stays the same
/// descriptor while it lives.
///
/// ```
/// use butter::sendfile::Copier;
/// use std::io::Write;
///
/// let mut file = tempfile::tempfile()?;
/// file.write_all(&vec![1u8; 1 << 20])?;
/// let out = tempfile::tempfile()?;
/// let to_out = Copier::new(&out);
/// let mut offset = 0;
/// while to_out.copy_more(&file, &mut offset, 64 << 10)? > 0 {}
/// assert_eq!(offset, 1 << 20);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Copier<'a> {
    out: BorrowedFd<'a>,
    kind: Cell<Option<OutKind>>,
}

impl<'a> Copier<'a> {
    /// A copier to `out`.
    pub fn new(out: &'a impl AsFd) -> Copier<'a> {
        Copier {
            out: out.as_fd(),
            kind: Cell::new(None),
        }
    }

    fn kind(&self) -> OutKind {
        match self.kind.get() {
            Some(kind) => kind,
            None => {
                let kind = OutKind::of(self.out);
                self.kind.set(Some(kind));
                kind
            }
        }
    }

    /// [`copy`](fn@copy) to this destination.
    pub fn copy(&self, file: impl AsFd, offset: &mut u64, len: u64) -> Result<u64> {
        self.copy_with(Method::Auto, false, file, offset, len)
    }

    /// [`copy_more`] to this destination.
    pub fn copy_more(&self, file: impl AsFd, offset: &mut u64, len: u64) -> Result<u64> {
        self.copy_with(Method::Auto, true, file, offset, len)
    }

    /// [`copy_with`] to this destination.
    pub fn copy_with(
        &self,
        method: Method,
        more: bool,
        file: impl AsFd,
        offset: &mut u64,
        len: u64,
    ) -> Result<u64> {
        let (out, file) = (self.out, file.as_fd());
        // Small ranges go by sendfile to anything, without needing the destination's kind.
        let small = method == Method::Auto && len < SMALL;
        let kind = if small { OutKind::Other } else { self.kind() };
        let order: &[Method] = match (method, kind) {
            _ if small => &[Method::Sendfile, Method::ReadWrite],
            (Method::Auto, OutKind::File) => {
                &[Method::CopyFileRange, Method::Sendfile, Method::ReadWrite]
            }
            (Method::Auto, OutKind::Pipe) => &[Method::Splice, Method::ReadWrite],
            (Method::Auto, OutKind::Socket) => {
                &[Method::Splice, Method::Sendfile, Method::ReadWrite]
            }
            (Method::Auto, OutKind::Other) => &[Method::Sendfile, Method::ReadWrite],
            (Method::Sendfile, _) => &[Method::Sendfile, Method::ReadWrite],
            (Method::Splice, _) => &[Method::Splice, Method::ReadWrite],
            (Method::CopyFileRange, _) => &[Method::CopyFileRange, Method::ReadWrite],
            (Method::ReadWrite, _) => &[Method::ReadWrite],
        };
        let mut total = 0;
        for &m in order {
            let left = len - total;
            let result = match m {
                Method::Sendfile => each_call(out, left, &mut total, |n| {
                    raw_sendfile(out, file, Some(&mut *offset), n)
                }),
                Method::Splice if kind == OutKind::Pipe => each_call(out, left, &mut total, |n| {
                    splice(file, Some(&mut *offset), out, None, n, SpliceFlags::MOVE)
                }),
                Method::Splice => by_splice(out, file, offset, left, more, &mut total),
                Method::CopyFileRange => each_call(out, left, &mut total, |n| {
                    copy_file_range(file, Some(&mut *offset), out, None, n)
                }),
                Method::ReadWrite | Method::Auto => {
                    let socket = self.kind() == OutKind::Socket;
                    by_read_write(out, socket, file, offset, left, more, &mut total)
                }
            };
            match result {
                Ok(()) => return Ok(total),
                // Not for this pair: the next method takes over where this one stopped.
                Err(e) if e.is_unsupported_pair() && m != Method::ReadWrite => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(total)
    }
}

/// Runs `step` (one system call) until it succeeds, waiting while `out` is full.
fn retry(out: BorrowedFd<'_>, mut step: impl FnMut() -> Result<usize>) -> Result<usize> {
    loop {
        match step() {
            Err(e) if e.is_would_block() => {
                poll_writable(out, None)?;
            }
            result => return result,
        }
    }
}

/// The most one call may be asked to move, of `left` bytes.
fn chunk(left: u64) -> usize {
    usize::try_from(left)
        .unwrap_or(MAX_PER_CALL)
        .min(MAX_PER_CALL)
}

/// Calls `step(n)` (a system call moving up to `n` bytes and advancing the offset) until
/// `len` bytes are moved or it gives 0 (the end of the file), counting into `total`.
fn each_call(
    out: BorrowedFd<'_>,
    len: u64,
    total: &mut u64,
    mut step: impl FnMut(usize) -> Result<usize>,
) -> Result<()> {
    let mut left = len;
    while left > 0 {
        let n = retry(out, || step(chunk(left)))?;
        if n == 0 {
            break;
        }
        left -= n as u64;
        *total += n as u64;
    }
    Ok(())
}

thread_local! {
    /// The pipe splice goes through, kept per thread (always empty between copies).
    static PIPE: RefCell<Option<(Pipe, usize)>> = const { RefCell::new(None) };
}

/// The thread's splice pipe (taken out of its slot while in use), grown toward `want`.
fn take_pipe(want: usize) -> Result<(Pipe, usize)> {
    let (pipe, mut cap) = match PIPE.with(|p| p.borrow_mut().take()) {
        Some(p) => p,
        None => {
            let pipe = Pipe::new()?;
            let cap = pipe.size()?;
            (pipe, cap)
        }
    };
    if cap < want.min(PIPE_CAPACITY) {
        // Not being allowed a larger pipe is no failure: the default one works, slower.
        if let Ok(got) = set_pipe_size(&pipe.write, want.min(PIPE_CAPACITY)) {
            cap = got;
        }
    }
    Ok((pipe, cap))
}

fn by_splice(
    out: BorrowedFd<'_>,
    file: BorrowedFd<'_>,
    offset: &mut u64,
    len: u64,
    more: bool,
    total: &mut u64,
) -> Result<()> {
    let (pipe, cap) = take_pipe(chunk(len))?;
    let result = splice_through(&pipe, cap, out, file, offset, len, more, total);
    if result.is_ok() {
        // Only an empty pipe is kept: after an error it may hold bytes of this copy.
        PIPE.with(|p| *p.borrow_mut() = Some((pipe, cap)));
    }
    result
}

#[allow(clippy::too_many_arguments)]
fn splice_through(
    pipe: &Pipe,
    cap: usize,
    out: BorrowedFd<'_>,
    file: BorrowedFd<'_>,
    offset: &mut u64,
    len: u64,
    more: bool,
    total: &mut u64,
) -> Result<()> {
    let mut left = len;
    while left > 0 {
        let want = chunk(left).min(cap);
        // MORE while this call has more to send, or the caller says more follows.
        let flags = if more || (want as u64) < left {
            SpliceFlags::MOVE | SpliceFlags::MORE
        } else {
            SpliceFlags::MOVE
        };
        let n = splice(file, Some(&mut *offset), &pipe.write, None, want, flags)?;
        if n == 0 {
            break;
        }
        let mut queued = n;
        while queued > 0 {
            match retry(out, || splice(&pipe.read, None, out, None, queued, flags)) {
                Ok(m) => queued -= m,
                Err(e) => {
                    // What is still in the pipe did not arrive: the offset says so.
                    *offset -= queued as u64;
                    *total += (n - queued) as u64;
                    return Err(e);
                }
            }
        }
        left -= n as u64;
        *total += n as u64;
    }
    Ok(())
}

thread_local! {
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

fn by_read_write(
    out: BorrowedFd<'_>,
    socket: bool,
    file: BorrowedFd<'_>,
    offset: &mut u64,
    len: u64,
    more: bool,
    total: &mut u64,
) -> Result<()> {
    BUFFER.with(|b| {
        let mut buf = b.borrow_mut();
        if buf.len() < RW_BUFFER {
            buf.resize(RW_BUFFER, 0);
        }
        let mut left = len;
        while left > 0 {
            let want = usize::try_from(left).unwrap_or(RW_BUFFER).min(RW_BUFFER);
            let n = loop {
                match rustix::io::pread(file, &mut buf[..want], *offset) {
                    Err(rustix::io::Errno::INTR) => continue,
                    result => break result.map_err(|e| Error::from_rustix("pread", e))?,
                }
            };
            if n == 0 {
                break;
            }
            let more = more || (n as u64) < left;
            let mut done = 0;
            while done < n {
                match retry(out, || write_once(out, socket, &buf[done..n], more)) {
                    Ok(m) => done += m,
                    Err(e) => {
                        *offset += done as u64;
                        *total += done as u64;
                        return Err(e);
                    }
                }
            }
            *offset += n as u64;
            left -= n as u64;
            *total += n as u64;
        }
        Ok(())
    })
}

/// One write (to a socket, a send that raises no SIGPIPE, with `MSG_MORE` if `more`).
fn write_once(out: BorrowedFd<'_>, socket: bool, data: &[u8], more: bool) -> Result<usize> {
    use rustix::net::SendFlags;
    loop {
        let result = if socket {
            let flags = if more {
                SendFlags::MORE | SendFlags::NOSIGNAL
            } else {
                SendFlags::NOSIGNAL
            };
            rustix::net::send(out, data, flags).map_err(|e| Error::from_rustix("send", e))
        } else {
            rustix::io::write(out, data).map_err(|e| Error::from_rustix("write", e))
        };
        match result {
            Err(e) if e.errno() == crate::Errno::EINTR => continue,
            result => return result,
        }
    }
}
