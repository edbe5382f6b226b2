//! Zero-copy vmsplice that is safe by construction: page-aligned buffers that the pipe owns
//! until it has been drained past them.

use std::collections::VecDeque;
use std::ops::{Deref, DerefMut};
use std::os::fd::{AsFd, OwnedFd};
use std::ptr::NonNull;

use rustix::mm::{MapFlags, ProtFlags};
use rustix::pipe::{IoSliceRaw, SpliceFlags};

use crate::error::{Call, Errno, Error, Result};

/// The size of a memory page.
pub fn page_size() -> usize {
    rustix::param::page_size()
}

/// Page-aligned memory of whole pages, for [`PageWriter`]: fill it, then hand it over.
///
/// It is a private anonymous mapping, zeroed when made, freed (unmapped) when dropped.
/// [`len`](PageBuf::len) bytes of it are the data; [`capacity`](PageBuf::capacity) is the
/// whole mapping.
pub struct PageBuf {
    ptr: NonNull<u8>,
    cap: usize,
    len: usize,
}

// SAFETY: a `PageBuf` owns its mapping alone, like a `Vec<u8>`.
unsafe impl Send for PageBuf {}
// SAFETY: shared access only reads.
unsafe impl Sync for PageBuf {}

impl PageBuf {
    /// A zeroed buffer of at least `capacity` bytes (rounded up to whole pages), holding no
    /// data yet.
    pub fn with_capacity(capacity: usize) -> Result<PageBuf> {
        let page = page_size();
        let cap = capacity
            .div_ceil(page)
            .checked_mul(page)
            .ok_or_else(|| Error::new("mmap", Errno::ENOMEM))?;
        if cap == 0 {
            return Ok(PageBuf {
                ptr: NonNull::dangling(),
                cap: 0,
                len: 0,
            });
        }
        // SAFETY: a new private anonymous mapping at an address the kernel chooses touches no
        // existing memory.
        let ptr = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                cap,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::PRIVATE,
            )
        }
        .call("mmap")?;
        let ptr =
            NonNull::new(ptr.cast::<u8>()).ok_or_else(|| Error::new("mmap", Errno::ENOMEM))?;
        Ok(PageBuf { ptr, cap, len: 0 })
    }

    /// A buffer holding a copy of `data`.
    pub fn from_slice(data: &[u8]) -> Result<PageBuf> {
        let mut buf = PageBuf::with_capacity(data.len())?;
        buf.set_len(data.len());
        buf.copy_from_slice(data);
        Ok(buf)
    }

    /// The bytes of data.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds no data.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The whole mapping's size: a multiple of [`page_size`].
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Sets how many bytes are data (what was not written is zero).
    ///
    /// # Panics
    /// If `len` is above the capacity.
    pub fn set_len(&mut self, len: usize) {
        assert!(
            len <= self.cap,
            "PageBuf::set_len({len}) above its capacity {}",
            self.cap
        );
        self.len = len;
    }

    /// All of the mapping, for filling: set the data's length with
    /// [`set_len`](Self::set_len) afterwards.
    pub fn spare(&mut self) -> &mut [u8] {
        // SAFETY: the mapping is `cap` bytes, readable and writable, and owned by `self`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.cap) }
    }
}

impl Deref for PageBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `len <= cap` bytes of the mapping, owned by `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl DerefMut for PageBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as for `deref`, and `&mut self` is unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl std::fmt::Debug for PageBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageBuf")
            .field("len", &self.len)
            .field("capacity", &self.cap)
            .finish()
    }
}

impl Drop for PageBuf {
    fn drop(&mut self) {
        if self.cap > 0 {
            // SAFETY: the mapping was made by `with_capacity` with this size and is unmapped
            // once. Pages a pipe or socket still references keep their own page references,
            // so their data stays intact for the kernel after the unmapping.
            let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.cap) };
        }
    }
}

/// The zero-copy form of [`vmsplice`](super::vmsplice): puts [`PageBuf`]s into a pipe by
/// reference, with [`vmsplice(2)`](https://man7.org/linux/man-pages/man2/vmsplice.2.html),
/// without copying them.
///
/// The pipe then references the buffers' pages until its reader consumes them — and a
/// socket the data is spliced on to may reference them until the peer acknowledges it.
/// Changing them meanwhile would change what is received, so [`send`](Self::send) takes
/// each buffer by value: nobody can write to it again. The writer keeps the buffers it
/// sent until the pipe has been drained past them (counting with `FIONREAD`), then frees
/// them; they are never handed back for reuse. Whole-page buffers are sent with
/// `SPLICE_F_GIFT`.
///
/// ```
/// use butter::pipe::{PageBuf, PageWriter, Pipe};
/// use std::io::Read;
///
/// let pipe = Pipe::new()?;
/// let mut writer = PageWriter::new(pipe.write)?;
/// writer.send(PageBuf::from_slice(b"zero-copy")?)?;
/// assert_eq!(writer.in_flight()?, 9);
/// let mut got = [0; 9];
/// std::fs::File::from(pipe.read).read_exact(&mut got)?;
/// assert_eq!(&got, b"zero-copy");
/// assert_eq!(writer.in_flight()?, 0); // drained: the buffer is freed
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct PageWriter {
    fd: OwnedFd,
    /// Buffers in the pipe, each with the total bytes sent when its last byte went in.
    in_flight: VecDeque<(u64, PageBuf)>,
    /// A buffer only partly sent (non-blocking pipes), and how much of it went in.
    pending: Option<(PageBuf, usize)>,
    /// Bytes put into the pipe so far.
    sent: u64,
}

crate::event::impl_fd_traits!(PageWriter);

impl PageWriter {
    /// A writer on a pipe's write end (`EINVAL`/`EBADF` if `fd` is not a pipe).
    pub fn new(fd: OwnedFd) -> Result<PageWriter> {
        super::pipe_size(&fd)?;
        Ok(PageWriter {
            fd,
            in_flight: VecDeque::new(),
            pending: None,
            sent: 0,
        })
    }

    /// Puts `buf` into the pipe without copying it. On a blocking pipe, waits until all of
    /// it is in. On a non-blocking one, puts in what fits now and keeps the rest for
    /// [`flush`](Self::flush) (which the next `send` calls first); `EAGAIN` if an earlier
    /// buffer is still waiting and cannot go on, and then `buf` is dropped unsent — use
    /// [`try_send`](Self::try_send) to get it back.
    pub fn send(&mut self, buf: PageBuf) -> Result<()> {
        self.try_send(buf).map_err(|(e, _)| e)
    }

    /// [`send`](Self::send), giving the buffer back with the error when none of it went in.
    pub fn try_send(&mut self, buf: PageBuf) -> std::result::Result<(), (Error, Option<PageBuf>)> {
        if let Err(e) = self.flush() {
            return Err((e, Some(buf)));
        }
        if buf.is_empty() {
            return Ok(());
        }
        self.pending = Some((buf, 0));
        match self.flush() {
            Ok(()) => Ok(()),
            // What did not fit waits for `flush`: no error for a non-blocking pipe.
            Err(e) if e.is_would_block() => Ok(()),
            Err(e) => match self.pending.take() {
                Some((buf, 0)) => Err((e, Some(buf))),
                partly => {
                    self.pending = partly;
                    Err((e, None))
                }
            },
        }
    }

    /// Pushes a partly sent buffer on. On a blocking pipe, waits until it is all in; on a
    /// non-blocking one, `EAGAIN` while some is left (see [`wait_writable`](Self::wait_writable)).
    pub fn flush(&mut self) -> Result<()> {
        self.reap()?;
        let Some((buf, mut done)) = self.pending.take() else {
            return Ok(());
        };
        let page = page_size();
        // vmsplice waits for room unless told not to; the pipe's O_NONBLOCK does not.
        let nonblocking = match crate::is_nonblocking(self.fd.as_fd()) {
            Ok(nb) => nb,
            Err(e) => {
                self.pending = Some((buf, done));
                return Err(e);
            }
        };
        while done < buf.len() {
            let rest = &buf[done..];
            // GIFT wants whole pages, in memory and length.
            let whole_pages = done % page == 0 && rest.len() % page == 0;
            let mut flags = if whole_pages {
                SpliceFlags::GIFT
            } else {
                SpliceFlags::empty()
            };
            if nonblocking {
                flags |= SpliceFlags::NONBLOCK;
            }
            let iov = [IoSliceRaw::from_slice(rest)];
            // SAFETY: `fd` is the write end of a pipe (checked in `new`), so the kernel only
            // reads `rest`. The buffer is owned by `self` and never written to again (it was
            // taken by value), as GIFT requires, and it is kept until the pipe has been
            // drained past it.
            match unsafe { rustix::pipe::vmsplice(&self.fd, &iov, flags) } {
                Ok(n) => done += n,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => {
                    self.pending = Some((buf, done));
                    return Err(Error::from_rustix("vmsplice", e));
                }
            }
        }
        self.sent += buf.len() as u64;
        self.in_flight.push_back((self.sent, buf));
        Ok(())
    }

    /// Bytes put into the pipe that its reader has not consumed yet.
    pub fn in_flight(&mut self) -> Result<u64> {
        self.reap()?;
        Ok(self.put_in() - self.consumed()?)
    }

    /// Buffers still held: sent but not yet drained, or partly sent.
    pub fn buffers_held(&self) -> usize {
        self.in_flight.len() + usize::from(self.pending.is_some())
    }

    /// Bytes put into the pipe so far.
    fn put_in(&self) -> u64 {
        self.sent + self.pending.as_ref().map_or(0, |(_, done)| *done as u64)
    }

    /// Bytes of a partly sent buffer still waiting to go in.
    pub fn pending(&self) -> usize {
        self.pending.as_ref().map_or(0, |(b, done)| b.len() - done)
    }

    /// How much of what was sent has been read out of the pipe.
    /// What other writers put into the same pipe counts as ours still unread, which only
    /// keeps buffers longer.
    fn consumed(&self) -> Result<u64> {
        let queued = rustix::io::ioctl_fionread(&self.fd).call("ioctl(FIONREAD)")?;
        Ok(self.put_in().saturating_sub(queued))
    }

    /// Frees the buffers the reader has drained the pipe past.
    fn reap(&mut self) -> Result<()> {
        if self.in_flight.is_empty() {
            return Ok(());
        }
        let consumed = self.consumed()?;
        while self
            .in_flight
            .front()
            .is_some_and(|(end, _)| *end <= consumed)
        {
            self.in_flight.pop_front();
        }
        Ok(())
    }

    /// Waits until the pipe can take more (for a non-blocking pipe after `EAGAIN`).
    pub fn wait_writable(&self) -> Result<()> {
        crate::poll_writable(self.fd.as_fd(), None).map(|_| ())
    }
}
