//! The async forms, for sockets on tokio's reactor (feature `tokio`).
//!
//! Each system call runs when the reactor says the socket is writable; an `EAGAIN` clears
//! that readiness and waits again. Every function is safe to cancel: `*offset` is only
//! advanced by bytes that reached the socket, so dropping the future at an `.await` leaves
//! it saying exactly how far the transfer got, and a new call carries on from there.

use std::future::Future;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use super::copy::SMALL;
use super::{MAX_PER_CALL, raw_sendfile};
use crate::error::{Error, Result};
use crate::pipe::{Pipe, SpliceFlags, splice};

/// A socket (or other descriptor) registered with tokio that data can be sent to.
pub trait AsyncOut: AsFd {
    /// Runs `op` once the descriptor is writable, and again after each `WouldBlock` (with
    /// the readiness cleared), until it gives something else.
    fn writable_io<R>(
        &self,
        op: impl FnMut() -> io::Result<R>,
    ) -> impl Future<Output = io::Result<R>>;
}

impl AsyncOut for tokio::net::TcpStream {
    fn writable_io<R>(
        &self,
        op: impl FnMut() -> io::Result<R>,
    ) -> impl Future<Output = io::Result<R>> {
        self.async_io(Interest::WRITABLE, op)
    }
}

impl AsyncOut for tokio::net::UnixStream {
    fn writable_io<R>(
        &self,
        op: impl FnMut() -> io::Result<R>,
    ) -> impl Future<Output = io::Result<R>> {
        self.async_io(Interest::WRITABLE, op)
    }
}

impl<T: AsFd + std::os::fd::AsRawFd> AsyncOut for AsyncFd<T> {
    async fn writable_io<R>(&self, mut op: impl FnMut() -> io::Result<R>) -> io::Result<R> {
        loop {
            let mut ready = self.writable().await?;
            match ready.try_io(|_| op()) {
                Ok(result) => return result,
                // `try_io` cleared the readiness.
                Err(_would_block) => continue,
            }
        }
    }
}

/// The butter error inside an `io::Error` made from one, or a new one for `call`.
fn unwrap(call: &'static str, e: io::Error) -> Error {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<Error>()) {
        Some(err) => err.clone(),
        None => Error::from_io(call, &e),
    }
}

/// One [`sendfile`](super::sendfile()) from `*offset` to an async socket: waits until the
/// socket can take data, sends what it takes (up to `count`), and advances `*offset`.
/// Returns the bytes sent, 0 at the end of the file.
pub async fn sendfile_async(
    out: &impl AsyncOut,
    file: impl AsFd,
    offset: &mut u64,
    count: usize,
) -> Result<usize> {
    let (fd, file) = (out.as_fd(), file.as_fd());
    let mut off = *offset;
    let n = out
        .writable_io(|| raw_sendfile(fd, file, Some(&mut off), count).map_err(io::Error::from))
        .await
        .map_err(|e| unwrap("sendfile", e))?;
    *offset = off;
    Ok(n)
}

/// Sends `count` bytes of `file` from `*offset` to an async socket with sendfile, looping
/// over partial sends; stops early only at the end of the file. Returns the bytes sent.
pub async fn send_all_async(
    out: &impl AsyncOut,
    file: impl AsFd,
    offset: &mut u64,
    count: u64,
) -> Result<u64> {
    let file = file.as_fd();
    let mut total = 0;
    while total < count {
        let chunk = usize::try_from(count - total)
            .unwrap_or(MAX_PER_CALL)
            .min(MAX_PER_CALL);
        match sendfile_async(out, file, offset, chunk).await? {
            0 => break,
            n => total += n as u64,
        }
    }
    Ok(total)
}

/// [`copy`](super::copy) to an async socket: splice through a pipe (sendfile for small
/// ranges), waiting on the reactor while the socket is full. Returns the bytes copied;
/// stops early only at the end of the file.
pub async fn copy_async(
    out: &impl AsyncOut,
    file: impl AsFd,
    offset: &mut u64,
    len: u64,
) -> Result<u64> {
    let file = file.as_fd();
    if len < SMALL {
        return send_all_async(out, file, offset, len).await;
    }
    // A pipe of the future's own: it may move between threads, and if the future is
    // dropped, so is the pipe with whatever it holds (which `*offset` does not count).
    let pipe = Pipe::new()?;
    let cap = crate::pipe::set_pipe_size(&pipe.write, 1 << 20).or_else(|_| pipe.size())?;
    let fd = out.as_fd();
    let mut total = 0;
    while total < len {
        let want = usize::try_from(len - total)
            .unwrap_or(MAX_PER_CALL)
            .min(cap);
        let mut read_at = *offset;
        let n = splice(
            file,
            Some(&mut read_at),
            &pipe.write,
            None,
            want,
            SpliceFlags::MOVE,
        )?;
        if n == 0 {
            break;
        }
        let mut queued = n;
        while queued > 0 {
            let m = drain(out, fd, &pipe, queued).await?;
            queued -= m;
            *offset += m as u64;
            total += m as u64;
        }
    }
    Ok(total)
}

async fn drain(
    out: &impl AsyncOut,
    fd: BorrowedFd<'_>,
    pipe: &Pipe,
    queued: usize,
) -> Result<usize> {
    out.writable_io(|| {
        splice(
            &pipe.read,
            None,
            fd,
            None,
            queued,
            SpliceFlags::MOVE | SpliceFlags::NONBLOCK,
        )
        .map_err(io::Error::from)
    })
    .await
    .map_err(|e| unwrap("splice", e))
}
