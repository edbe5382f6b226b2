//! memfd: anonymous memory files, and sealing them.
//!
//! [`memfd_create(2)`](https://man7.org/linux/man-pages/man2/memfd_create.2.html) makes a
//! file that lives in memory only: it has no path, can be read, written, resized and
//! mapped like a regular file, and goes away when its last descriptor is closed. Passed to
//! another process (inherited, or over a Unix socket), it is shared memory with a file's
//! interface.
//!
//! Seals ([`fcntl(F_ADD_SEALS)`](https://man7.org/linux/man-pages/man2/F_ADD_SEALS.2const.html))
//! make such a file trustworthy for the receiver: once sealed against writing and shrinking,
//! nobody — not even the creator — can change its contents or cut it short, so a receiver
//! can map it without copying and without fearing a `SIGBUS`. Seals are permanent; `SEAL`
//! forbids adding more. A memfd accepts seals only if it was created with
//! [`MemfdFlags::ALLOW_SEALING`] (which [`Memfd::new`] uses).
//!
//! ```
//! use butter::memfd::{Memfd, SealFlags};
//! use std::io::{Read, Seek, Write};
//!
//! let mut memfd = Memfd::new("config")?;
//! memfd.write_all(b"threads = 4\n")?;
//! memfd.seal(SealFlags::WRITE | SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)?;
//! assert!(memfd.write_all(b"more").is_err()); // EPERM: sealed against writing
//!
//! // Sealed against writing and shrinking: its contents can be borrowed from a mapping.
//! assert_eq!(&memfd.map_sealed()?[..], b"threads = 4\n");
//! let mut text = String::new();
//! memfd.rewind()?;
//! memfd.read_to_string(&mut text)?;
//! assert_eq!(text, "threads = 4\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Differences from the original butter
//!
//! - Every call reports failures as an [`Error`] with the errno and a hint. The original's
//!   `seal`, `revoke` and `flags` went through Python's `fcntl`, which raised first, so
//!   their errno mapping was dead code (and its fallback named an undefined variable).
//! - There are no `writable`/`growable`/`shrinkable` setters: the original's added a seal
//!   when set to false and silently did nothing when set to true. Seals cannot be removed;
//!   [`Memfd::seal`] adds them and [`Memfd::seals`] reads them.
//! - The original's `Memfd.mmap()` always failed with its default arguments (it passed
//!   `access` together with `flags` and `prot`). [`Memfd::map_sealed`] maps a memfd
//!   read-only, and only one sealed so that the mapping cannot change under the borrow;
//!   writable or unsealed mappings are for a mapping crate working on the descriptor.
//! - Descriptors are close-on-exec (the original's default left them inheritable on
//!   Python 3), and the unused `inital_value` argument is gone.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut, Read, Seek, SeekFrom, Write};
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;

pub use rustix::fs::{MemfdFlags, SealFlags};

use crate::error::{Call, Errno, Error, FD_LIMIT_HINT, Result};
use crate::event::impl_fd_traits;

/// The longest name [`memfd_create`] accepts, in bytes (`NAME_MAX` less the `memfd:`
/// prefix the kernel adds).
pub const NAME_MAX_LEN: usize = 249;

/// Creates an anonymous memory file named `name`:
/// [`memfd_create(2)`](https://man7.org/linux/man-pages/man2/memfd_create.2.html).
///
/// `MFD_CLOEXEC` is always added. `flags` may add `ALLOW_SEALING`, `HUGETLB` (with one of
/// the `HUGE_*` page sizes, or none for the default huge page size), and on Linux 6.3 and
/// later `NOEXEC_SEAL` (not executable, sealed so) or `EXEC`. The name is only a label,
/// shown as `memfd:name` in `/proc/PID/fd`; several memfds may share one. The file starts
/// empty: give it a size with [`Memfd::set_len`] or by writing.
///
/// Fails with `EINVAL` for a name longer than [`NAME_MAX_LEN`] bytes or containing a NUL
/// byte and for unknown or conflicting flags, `EPERM` for `HUGETLB` without the right to
/// lock huge pages, `EACCES` for `EXEC` forbidden by `vm.memfd_noexec`, `EMFILE`/`ENFILE`
/// at the descriptor limits — each with a hint.
pub fn memfd_create(name: impl AsRef<OsStr>, flags: MemfdFlags) -> Result<OwnedFd> {
    let name = name.as_ref();
    rustix::fs::memfd_create(name, flags | MemfdFlags::CLOEXEC)
        .call("memfd_create")
        .map_err(|err| match err.errno() {
            Errno::EINVAL => {
                let hint = if name.len() > NAME_MAX_LEN {
                    "the name is longer than 249 bytes"
                } else if name.as_encoded_bytes().contains(&0) {
                    "the name contains a NUL byte"
                } else {
                    "unknown or conflicting flags (EXEC with NOEXEC_SEAL; a HUGE_* size \
                     without HUGETLB; NOEXEC_SEAL and EXEC need Linux 6.3, sealing a \
                     HUGETLB memfd 4.16)"
                };
                err.with_hint(hint)
            }
            Errno::EPERM => {
                err.with_hint("HUGETLB needs CAP_IPC_LOCK or membership of vm.hugetlb_shm_group")
            }
            Errno::EACCES => err.with_hint("vm.memfd_noexec forbids executable memfds (EXEC)"),
            Errno::EMFILE | Errno::ENFILE => err.with_hint(FD_LIMIT_HINT),
            _ => err,
        })
}

/// Adds `seals` to the memfd `fd`:
/// [`fcntl(F_ADD_SEALS)`](https://man7.org/linux/man-pages/man2/F_ADD_SEALS.2const.html).
///
/// Seals are permanent and only ever added; seals already present are kept. `SHRINK` and
/// `GROW` forbid resizing, `WRITE` forbids every change to the contents (`write`,
/// `fallocate` hole punching, writable shared mappings), `FUTURE_WRITE` forbids new writes
/// and writable mappings but leaves existing writable mappings working, `EXEC` forbids
/// changing the execute permission bits, and `SEAL` forbids adding further seals.
///
/// Fails with `EPERM` when the memfd carries `SEAL` (as one created without
/// `ALLOW_SEALING` does from the start) or the descriptor is read-only, `EBUSY` when
/// `WRITE` is asked while a writable shared mapping exists, and `EINVAL` when `fd` is not
/// a memfd (or another file that supports seals).
pub fn add_seals(fd: impl AsFd, seals: SealFlags) -> Result<()> {
    rustix::fs::fcntl_add_seals(fd, seals)
        .call("fcntl(F_ADD_SEALS)")
        .map_err(|err| match err.errno() {
            Errno::EPERM => err.with_hint(
                "the memfd is sealed against new seals (SEAL, which memfds created without \
                 ALLOW_SEALING carry from the start), or the descriptor is read-only",
            ),
            Errno::EBUSY => err.with_hint(
                "SEAL_WRITE needs every writable shared mapping of the memfd unmapped first",
            ),
            Errno::EINVAL => {
                err.with_hint("the descriptor is not a memfd (or another file with seals)")
            }
            _ => err,
        })
}

/// The seals of the memfd `fd`:
/// [`fcntl(F_GET_SEALS)`](https://man7.org/linux/man-pages/man2/F_GET_SEALS.2const.html).
///
/// A memfd created without `ALLOW_SEALING` reports `SEAL`. Fails with `EINVAL` when `fd`
/// is not a memfd (or another file that supports seals).
pub fn seals(fd: impl AsFd) -> Result<SealFlags> {
    rustix::fs::fcntl_get_seals(fd)
        .call("fcntl(F_GET_SEALS)")
        .map_err(|err| {
            err.hint_if(
                Errno::EINVAL,
                "the descriptor is not a memfd (or another file with seals)",
            )
        })
}

/// An anonymous memory file: a [`File`] without a path, that can be sealed.
///
/// Read and write it through [`Read`], [`Write`] and [`Seek`], which both `Memfd` and
/// `&Memfd` implement (so a shared `Memfd` can be written from several places, like a
/// `&File`), or through [`as_file`](Memfd::as_file) for everything else a file offers
/// (`read_at`/`write_at`, `metadata`, `sync_all`, …). Errors of those I/O calls are plain
/// [`io::Error`]s: a write to a memfd sealed against it fails with `EPERM`.
#[derive(Debug)]
pub struct Memfd {
    fd: OwnedFd,
}

impl Memfd {
    /// An empty memfd named `name` that accepts seals (`ALLOW_SEALING`).
    ///
    /// Unlike the kernel's default, sealing is allowed: a memfd is usually made to be
    /// sealed. Use [`with_flags`](Memfd::with_flags) with `MemfdFlags::empty()` for one
    /// that refuses seals.
    pub fn new(name: impl AsRef<OsStr>) -> Result<Memfd> {
        Memfd::with_flags(name, MemfdFlags::ALLOW_SEALING)
    }

    /// An empty memfd named `name`, created with exactly `flags` (and close-on-exec); see
    /// [`memfd_create`].
    pub fn with_flags(name: impl AsRef<OsStr>, flags: MemfdFlags) -> Result<Memfd> {
        Ok(Memfd::from(memfd_create(name, flags)?))
    }

    /// Adds `seals` (see [`add_seals`]). Seals cannot be removed.
    pub fn seal(&self, seals: SealFlags) -> Result<()> {
        add_seals(&self.fd, seals)
    }

    /// The seals in force (see [`seals`](fn@seals)).
    pub fn seals(&self) -> Result<SealFlags> {
        seals(&self.fd)
    }

    /// The size in bytes: [`fstat(2)`](https://man7.org/linux/man-pages/man2/fstat.2.html).
    pub fn len(&self) -> Result<u64> {
        let stat = rustix::fs::fstat(&self.fd).call("fstat")?;
        // A file size is never negative.
        Ok(stat.st_size as u64)
    }

    /// Whether the size is 0.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Sets the size to `len` bytes, cutting off the end or adding zeros:
    /// [`ftruncate(2)`](https://man7.org/linux/man-pages/man2/ftruncate.2.html).
    ///
    /// Fails with `EPERM` when a seal forbids the change (`GROW` or `SHRINK`), and with
    /// `EINVAL` for a length beyond `i64::MAX` or, on a `HUGETLB` memfd, not a multiple of
    /// the huge page size.
    pub fn set_len(&self, len: u64) -> Result<()> {
        rustix::fs::ftruncate(&self.fd, len)
            .call("ftruncate")
            .map_err(|err| match err.errno() {
                Errno::EPERM => err.with_hint(
                    "the memfd is sealed against growing (SEAL_GROW) or shrinking (SEAL_SHRINK)",
                ),
                Errno::EINVAL => err.with_hint(
                    "the length is beyond i64::MAX, or not a multiple of the huge page size",
                ),
                _ => err,
            })
    }

    /// The memfd as a [`File`], borrowed: every `&File` method works on it, and the
    /// descriptor stays owned by this `Memfd`.
    pub fn as_file(&self) -> FileRef<'_> {
        // SAFETY: the descriptor is open for as long as `self` is borrowed, which the
        // returned `FileRef` is; the `File` is never dropped (`ManuallyDrop`), so it never
        // closes the descriptor, and only `&File` is handed out, so it cannot be moved out.
        let file = unsafe { File::from_raw_fd(self.fd.as_raw_fd()) };
        FileRef {
            file: ManuallyDrop::new(file),
            _memfd: PhantomData,
        }
    }

    /// The memfd as an owned [`File`].
    pub fn into_file(self) -> File {
        File::from(self.fd)
    }

    /// A second `Memfd` on the same memory file (a close-on-exec `dup`): contents, size,
    /// seals and file position are shared.
    pub fn try_clone(&self) -> Result<Memfd> {
        let fd = rustix::io::fcntl_dupfd_cloexec(&self.fd, 0)
            .call("fcntl(F_DUPFD_CLOEXEC)")
            .map_err(|err| err.hint_if(Errno::EMFILE, FD_LIMIT_HINT))?;
        Ok(Memfd::from(fd))
    }

    /// Maps the whole memfd read-only and shares its contents as a byte slice:
    /// [`mmap(2)`](https://man7.org/linux/man-pages/man2/mmap.2.html).
    ///
    /// Only a memfd sealed with both `WRITE` and `SHRINK` can be mapped so: those seals
    /// guarantee that nobody can change the mapped bytes or cut the file short (which
    /// would turn reads into `SIGBUS`) while the slice is borrowed. Otherwise this fails
    /// with `EPERM`, as `mmap` does when a seal prevents a mapping. The mapping does not
    /// keep the descriptor open and outlives it; it ends when the [`SealedMap`] is dropped.
    pub fn map_sealed(&self) -> Result<SealedMap> {
        let needed = SealFlags::WRITE | SealFlags::SHRINK;
        if !self.seals()?.contains(needed) {
            return Err(Error::new("mmap", Errno::EPERM).with_hint(
                "only a memfd sealed with SEAL_WRITE and SEAL_SHRINK can be mapped as a slice",
            ));
        }
        let len = usize::try_from(self.len()?).map_err(|_| {
            Error::new("mmap", Errno::ENOMEM).with_hint("the memfd is larger than memory")
        })?;
        if len == 0 {
            return Ok(SealedMap {
                ptr: NonNull::dangling(),
                len: 0,
            });
        }
        use rustix::mm::{MapFlags, ProtFlags};
        // SAFETY: a new read-only shared mapping at an address the kernel chooses; it
        // touches no existing memory. `SealedMap` unmaps it exactly once.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ,
                MapFlags::SHARED,
                &self.fd,
                0,
            )
        }
        .call("mmap")?;
        Ok(SealedMap {
            // mmap never returns a null mapping.
            ptr: NonNull::new(ptr.cast()).expect("mmap returned NULL"),
            len,
        })
    }
}

impl From<OwnedFd> for Memfd {
    /// Adopts a descriptor that should be a memfd (or another file with seals).
    fn from(fd: OwnedFd) -> Memfd {
        Memfd { fd }
    }
}

impl_fd_traits!(Memfd);

impl Read for &Memfd {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self.as_file()).read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&*self.as_file()).read_vectored(bufs)
    }
}

impl Write for &Memfd {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.as_file()).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self.as_file()).write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for &Memfd {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        (&*self.as_file()).seek(pos)
    }
}

impl Read for Memfd {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&*self).read_vectored(bufs)
    }
}

impl Write for Memfd {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for Memfd {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        (&*self).seek(pos)
    }
}

/// A [`Memfd`] borrowed as a [`File`] (see [`Memfd::as_file`]); dereferences to `&File`.
#[derive(Debug)]
pub struct FileRef<'a> {
    file: ManuallyDrop<File>,
    _memfd: PhantomData<&'a Memfd>,
}

impl Deref for FileRef<'_> {
    type Target = File;

    fn deref(&self) -> &File {
        &self.file
    }
}

/// A read-only mapping of a sealed [`Memfd`] (see [`Memfd::map_sealed`]); dereferences to
/// its bytes. Unmapped when dropped.
#[derive(Debug)]
pub struct SealedMap {
    ptr: NonNull<u8>,
    len: usize,
}

impl Deref for SealedMap {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr` is a readable mapping of `len` bytes (or dangling with `len` 0) that
        // lives until `drop`; the memfd's WRITE and SHRINK seals keep every process from
        // changing those bytes or truncating them away.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for SealedMap {
    fn drop(&mut self) {
        if self.len != 0 {
            // SAFETY: the mapping was made by `map_sealed` with this address and length,
            // and no slice borrowed from it outlives `self`.
            let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) };
        }
    }
}

// SAFETY: the mapped bytes are immutable (sealed) and the mapping is owned by the
// `SealedMap` alone, so it can be sent to and read from any thread.
unsafe impl Send for SealedMap {}
// SAFETY: as above; `&SealedMap` only gives out `&[u8]`.
unsafe impl Sync for SealedMap {}
