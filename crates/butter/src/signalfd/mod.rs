//! signalfd and signal masks: receive signals by reading a descriptor.
//!
//! A [`signalfd(2)`](https://man7.org/linux/man-pages/man2/signalfd.2.html) descriptor
//! becomes readable when one of the signals in its mask is pending; reading returns a
//! [`SigInfo`] with every field the kernel fills in. The signals must be **blocked** in every
//! thread that could otherwise take them, or they are delivered to a handler or their default
//! action instead: [`SignalFd`] blocks them in the calling thread as it enables them, so
//! create it before starting threads (including an async runtime's), which inherit the mask.
//!
//! Standard signals coalesce while pending (two `SIGUSR1`s may read as one); real-time
//! signals queue, each with its own value.
//!
//! ```
//! use butter::signalfd::{Signal, SignalFd};
//! use butter::EventSource;
//!
//! let mut sfd = SignalFd::new(&Signal::SIGUSR1.into())?; // blocks SIGUSR1 in this thread
//! nix::sys::signal::raise(nix::sys::signal::SIGUSR1).unwrap();
//! let info = sfd.read_event()?;
//! assert_eq!(info.signal, Signal::SIGUSR1);
//! assert_eq!(info.pid, std::process::id());
//! sfd.disable_all()?; // unblocks SIGUSR1 again
//! # Ok::<(), butter::Error>(())
//! ```

mod sigset;

use std::cell::Cell;
use std::collections::VecDeque;
use std::mem::size_of;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

pub use nix::sys::signalfd::SfdFlags;

pub use sigset::{MaskHow, SigSet, Signal, block, pthread_sigmask, set_mask, thread_mask, unblock};

use crate::error::{Errno, Error, FD_LIMIT_HINT, Result};
use crate::event::{EventSource, impl_fd_traits};

/// The size of one record read from a signalfd (`struct signalfd_siginfo`): 128 bytes.
pub const SIGINFO_SIZE: usize = size_of::<libc::signalfd_siginfo>();

/// How many records one read takes at most.
const READ_BATCH: usize = 32;

fn signalfd_raw(fd: libc::c_int, mask: &SigSet, flags: SfdFlags) -> Result<libc::c_int> {
    // nix offers an fd-taking signalfd only as a deprecated function, and its SignalFd
    // cannot adopt an existing descriptor; the glibc wrapper is the bare system call.
    // SAFETY: `mask` points to an initialised sigset_t; `fd` is -1 or a descriptor the
    // caller borrowed for the call.
    let ret = unsafe { libc::signalfd(fd, mask.as_raw(), flags.bits()) };
    if ret < 0 {
        let err = Error::last("signalfd");
        return Err(match err.errno() {
            Errno::EINVAL => err.with_hint(
                "the flags may be only NONBLOCK and CLOEXEC, and an existing descriptor must \
                 be a signalfd",
            ),
            Errno::EMFILE | Errno::ENFILE => err.with_hint(FD_LIMIT_HINT),
            _ => err,
        });
    }
    Ok(ret)
}

/// Creates a signalfd for the signals in `mask`:
/// [`signalfd(2)`](https://man7.org/linux/man-pages/man2/signalfd.2.html).
///
/// `SFD_CLOEXEC` is always added; `flags` may add `NONBLOCK`. The signals must also be
/// blocked ([`block`]) to be received.
pub fn signalfd(mask: &SigSet, flags: SfdFlags) -> Result<OwnedFd> {
    let fd = signalfd_raw(-1, mask, flags | SfdFlags::SFD_CLOEXEC)?;
    // SAFETY: a new descriptor the kernel just returned; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Replaces the mask of the existing signalfd `fd` (`signalfd(fd, mask, 0)`).
pub fn signalfd_set_mask(fd: impl AsFd, mask: &SigSet) -> Result<()> {
    signalfd_raw(fd.as_fd().as_raw_fd(), mask, SfdFlags::empty()).map(drop)
}

/// Reads whole records from a signalfd into `buf`; returns how many. Waits for one on a
/// blocking descriptor; `EAGAIN` on a non-blocking one with nothing pending. `buf` must hold
/// at least one record (`EINVAL` otherwise, as from the kernel).
pub fn signalfd_read(fd: impl AsFd, buf: &mut [SigInfo]) -> Result<usize> {
    let mut raw = [0u8; SIGINFO_SIZE * READ_BATCH];
    let want = buf.len().min(READ_BATCH) * SIGINFO_SIZE;
    let n = loop {
        match rustix::io::read(fd.as_fd(), &mut raw[..want]) {
            Ok(n) => break n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(Error::from_rustix("signalfd_read", e)),
        }
    };
    let records = n / SIGINFO_SIZE;
    for (slot, chunk) in buf
        .iter_mut()
        .zip(raw[..records * SIGINFO_SIZE].chunks_exact(SIGINFO_SIZE))
    {
        *slot = SigInfo::from_bytes(chunk);
    }
    Ok(records)
}

/// One received signal: every field of `struct signalfd_siginfo`.
///
/// Which fields mean something depends on the signal and on `code` (`SI_USER` for `kill`,
/// `SI_QUEUE` for `sigqueue`, `SI_TKILL` for `tgkill`/`raise`, `CLD_EXITED` and friends for
/// `SIGCHLD`, …); see `sigaction(2)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SigInfo {
    /// The signal (`ssi_signo`).
    pub signal: Signal,
    /// An error number, rarely used (`ssi_errno`).
    pub errno: i32,
    /// Why the signal was sent (`ssi_code`): `SI_USER`, `SI_QUEUE`, `CLD_EXITED`, ….
    pub code: i32,
    /// The sender's process id, or the child's for `SIGCHLD` (`ssi_pid`).
    pub pid: u32,
    /// The sender's real user id (`ssi_uid`).
    pub uid: u32,
    /// The descriptor, for `SIGIO` (`ssi_fd`).
    pub fd: i32,
    /// The kernel timer id, for POSIX timer signals (`ssi_tid`).
    pub tid: u32,
    /// The band event, for `SIGIO` (`ssi_band`).
    pub band: u32,
    /// The overrun count, for POSIX timer signals (`ssi_overrun`).
    pub overrun: u32,
    /// The trap number of a hardware fault (`ssi_trapno`).
    pub trapno: u32,
    /// The exit status or signal, for `SIGCHLD` (`ssi_status`).
    pub status: i32,
    /// The integer value sent with `sigqueue` (`ssi_int`).
    pub int: i32,
    /// The pointer value sent with `sigqueue` (`ssi_ptr`).
    pub ptr: u64,
    /// The child's user CPU time in clock ticks, for `SIGCHLD` (`ssi_utime`).
    pub utime: u64,
    /// The child's system CPU time in clock ticks, for `SIGCHLD` (`ssi_stime`).
    pub stime: u64,
    /// The faulting address, for hardware faults (`ssi_addr`).
    pub addr: u64,
    /// The least significant bit of the address, for `SIGBUS` memory errors
    /// (`ssi_addr_lsb`).
    pub addr_lsb: u16,
    /// The system call number, for seccomp's `SIGSYS` (`ssi_syscall`).
    pub syscall: i32,
    /// The address of the system call instruction, for `SIGSYS` (`ssi_call_addr`).
    pub call_addr: u64,
    /// The system call's architecture (`AUDIT_ARCH_*`), for `SIGSYS` (`ssi_arch`).
    pub arch: u32,
}

impl SigInfo {
    /// Decodes one 128-byte record.
    ///
    /// # Panics
    /// If `bytes` is shorter than [`SIGINFO_SIZE`].
    pub fn from_bytes(bytes: &[u8]) -> SigInfo {
        assert!(
            bytes.len() >= SIGINFO_SIZE,
            "a signalfd record is 128 bytes"
        );
        // SAFETY: the buffer holds SIGINFO_SIZE bytes; signalfd_siginfo is plain integers,
        // valid for every bit pattern; read_unaligned needs no alignment.
        let r: libc::signalfd_siginfo = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) };
        SigInfo::from(&r)
    }
}

impl From<&libc::signalfd_siginfo> for SigInfo {
    fn from(r: &libc::signalfd_siginfo) -> SigInfo {
        SigInfo {
            // The kernel only reports real signal numbers; never fails in practice.
            signal: Signal::new(r.ssi_signo as i32).unwrap_or(Signal::SIGSYS),
            errno: r.ssi_errno,
            code: r.ssi_code,
            pid: r.ssi_pid,
            uid: r.ssi_uid,
            fd: r.ssi_fd,
            tid: r.ssi_tid,
            band: r.ssi_band,
            overrun: r.ssi_overrun,
            trapno: r.ssi_trapno,
            status: r.ssi_status,
            int: r.ssi_int,
            ptr: r.ssi_ptr,
            utime: r.ssi_utime,
            stime: r.ssi_stime,
            addr: r.ssi_addr,
            addr_lsb: r.ssi_addr_lsb,
            syscall: r.ssi_syscall,
            call_addr: r.ssi_call_addr,
            arch: r.ssi_arch,
        }
    }
}

/// A signalfd whose mask is kept in step with the calling thread's signal mask.
///
/// [`enable`](Self::enable) blocks a signal in the calling thread and adds it to the
/// descriptor's mask; [`disable`](Self::disable) removes it and unblocks it again — if this
/// object was what blocked it. Signals already blocked before are left blocked. Dropping the
/// object does not touch the thread's mask (a pending signal would otherwise be delivered
/// to its default action, which for most signals ends the process): call
/// [`disable_all`](Self::disable_all) first to restore it.
///
/// The thread mask is per thread: call these from the thread that created the object.
#[derive(Debug)]
pub struct SignalFd {
    fd: OwnedFd,
    mask: Cell<SigSet>,
    blocked_here: Cell<SigSet>,
    queue: VecDeque<SigInfo>,
}

impl SignalFd {
    /// A blocking signalfd for `signals`, which are blocked in the calling thread.
    pub fn new(signals: &SigSet) -> Result<SignalFd> {
        SignalFd::with_flags(signals, SfdFlags::empty())
    }

    /// A signalfd for `signals` with `flags` (`NONBLOCK`); close-on-exec always.
    pub fn with_flags(signals: &SigSet, flags: SfdFlags) -> Result<SignalFd> {
        let fd = signalfd(&SigSet::empty(), flags)?;
        let sfd = SignalFd {
            fd,
            mask: Cell::new(SigSet::empty()),
            blocked_here: Cell::new(SigSet::empty()),
            queue: VecDeque::new(),
        };
        sfd.enable_set(signals)?;
        Ok(sfd)
    }

    /// The signals the descriptor receives.
    pub fn mask(&self) -> SigSet {
        self.mask.get()
    }

    /// Whether the descriptor receives `signal`.
    pub fn contains(&self, signal: Signal) -> bool {
        self.mask.get().contains(signal)
    }

    /// Receives `signal` too: blocks it in the calling thread and adds it to the mask.
    pub fn enable(&self, signal: Signal) -> Result<()> {
        self.enable_set(&signal.into())
    }

    /// Receives every signal of `signals` too.
    pub fn enable_set(&self, signals: &SigSet) -> Result<()> {
        let mask = self.mask.get().union(signals);
        // Block first: a signal arriving in between stays pending and is read from the fd.
        let before = block(signals)?;
        if let Err(e) = signalfd_set_mask(&self.fd, &mask) {
            // Undo what this call blocked.
            let _ = unblock(&signals.difference(&before));
            return Err(e);
        }
        self.blocked_here
            .set(self.blocked_here.get().union(&signals.difference(&before)));
        self.mask.set(mask);
        Ok(())
    }

    /// Receives every signal that can be blocked.
    pub fn enable_all(&self) -> Result<()> {
        self.enable_set(&SigSet::full())
    }

    /// Stops receiving `signal`; unblocks it if this object blocked it.
    pub fn disable(&self, signal: Signal) -> Result<()> {
        self.disable_set(&signal.into())
    }

    /// Stops receiving every signal of `signals`; unblocks those this object blocked.
    pub fn disable_set(&self, signals: &SigSet) -> Result<()> {
        let mask = self.mask.get().difference(signals);
        signalfd_set_mask(&self.fd, &mask)?;
        self.mask.set(mask);
        let blocked_here = self.blocked_here.get();
        let ours: SigSet = signals
            .iter()
            .filter(|s| blocked_here.contains(*s))
            .collect();
        if !ours.is_empty() {
            unblock(&ours)?;
            self.blocked_here.set(blocked_here.difference(&ours));
        }
        Ok(())
    }

    /// Stops receiving any signal, and unblocks those this object blocked.
    pub fn disable_all(&self) -> Result<()> {
        self.disable_set(&self.mask.get())
    }
}

impl EventSource for SignalFd {
    type Event = SigInfo;

    fn fill(&mut self) -> Result<()> {
        let mut buf = [SigInfo::from(&zeroed_siginfo()); READ_BATCH];
        let n = signalfd_read(&self.fd, &mut buf)?;
        self.queue.extend(&buf[..n]);
        Ok(())
    }

    fn queue(&mut self) -> &mut VecDeque<SigInfo> {
        &mut self.queue
    }
}

fn zeroed_siginfo() -> libc::signalfd_siginfo {
    // SAFETY: signalfd_siginfo is plain integers; all zeroes is a valid value.
    let mut r: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
    r.ssi_signo = libc::SIGSYS as u32;
    r
}

/// The mask of signalfd `fd`, from `/proc/self/fdinfo`.
pub fn signalfd_mask(fd: BorrowedFd<'_>) -> Result<SigSet> {
    let path = format!("/proc/self/fdinfo/{}", fd.as_raw_fd());
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::from_io("read fdinfo", &e).with_path(&path))?;
    text.lines()
        .find_map(|l| l.strip_prefix("sigmask:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .map(SigSet::from_bits)
        .ok_or_else(|| {
            Error::new("signalfd_mask", Errno::EINVAL).with_hint("the descriptor is not a signalfd")
        })
}

impl From<OwnedFd> for SignalFd {
    /// Adopts a descriptor that must be a signalfd; its mask is read from
    /// `/proc/self/fdinfo` (empty if that cannot be read). The thread mask is left as it is.
    fn from(fd: OwnedFd) -> SignalFd {
        let mask = signalfd_mask(fd.as_fd()).unwrap_or_default();
        SignalFd {
            fd,
            mask: Cell::new(mask),
            blocked_here: Cell::new(SigSet::empty()),
            queue: VecDeque::new(),
        }
    }
}

impl_fd_traits!(SignalFd);

/// A [`SignalFd`] for async code: a `Stream` of received signals. Block the signals before
/// the runtime starts its threads (creating the `SignalFd` first does that).
#[cfg(feature = "tokio")]
pub type AsyncSignalFd = crate::Async<SignalFd>;
