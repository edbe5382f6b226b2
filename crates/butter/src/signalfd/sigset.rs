//! Signals, signal sets, and the calling thread's signal mask.

use std::borrow::Cow;
use std::fmt;
use std::mem::MaybeUninit;

use nix::sys::signal::{SigmaskHow, pthread_sigmask as nix_pthread_sigmask};

use crate::error::{Call, Errno, Error, Result};

/// A signal number, standard or real-time (`SIGRTMIN..=SIGRTMAX`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Signal(i32);

macro_rules! signals {
    ($($name:ident),* $(,)?) => {
        impl Signal {
            $(
                #[doc = concat!("`", stringify!($name), "`")]
                pub const $name: Signal = Signal(libc::$name);
            )*
        }
        /// The standard signals and their names.
        const STANDARD: &[(i32, &str)] = &[$((libc::$name, stringify!($name))),*];
    };
}

signals!(
    SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGKILL, SIGUSR1, SIGSEGV,
    SIGUSR2, SIGPIPE, SIGALRM, SIGTERM, SIGSTKFLT, SIGCHLD, SIGCONT, SIGSTOP, SIGTSTP, SIGTTIN,
    SIGTTOU, SIGURG, SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF, SIGWINCH, SIGIO, SIGPWR, SIGSYS,
);

impl Signal {
    /// The signal numbered `signo`; `EINVAL` outside `1..=SIGRTMAX`.
    pub fn new(signo: i32) -> Result<Signal> {
        if (1..=libc::SIGRTMAX()).contains(&signo) {
            Ok(Signal(signo))
        } else {
            Err(Error::new("Signal::new", Errno::EINVAL)
                .with_hint("signal numbers run from 1 to SIGRTMAX"))
        }
    }

    /// The real-time signal `SIGRTMIN + n`; `EINVAL` past `SIGRTMAX`.
    pub fn rt(n: u32) -> Result<Signal> {
        let signo = i64::from(libc::SIGRTMIN()) + i64::from(n);
        i32::try_from(signo)
            .map_err(|_| Error::new("Signal::rt", Errno::EINVAL))
            .and_then(Signal::new)
    }

    /// The signal number.
    pub const fn as_raw(self) -> i32 {
        self.0
    }

    /// Whether this is a real-time signal (these queue; standard ones coalesce).
    pub fn is_realtime(self) -> bool {
        self.0 >= libc::SIGRTMIN()
    }

    /// The signal's name: `"SIGUSR1"`, `"SIGRTMIN+3"`, or the number for the signals glibc
    /// reserves for itself.
    pub fn name(self) -> Cow<'static, str> {
        if let Some((_, name)) = STANDARD.iter().find(|(n, _)| *n == self.0) {
            return Cow::Borrowed(name);
        }
        let rtmin = libc::SIGRTMIN();
        if self.0 >= rtmin {
            Cow::Owned(format!("SIGRTMIN+{}", self.0 - rtmin))
        } else {
            Cow::Owned(format!("signal {}", self.0))
        }
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl From<nix::sys::signal::Signal> for Signal {
    fn from(s: nix::sys::signal::Signal) -> Signal {
        Signal(s as i32)
    }
}

impl TryFrom<i32> for Signal {
    type Error = Error;
    fn try_from(signo: i32) -> Result<Signal> {
        Signal::new(signo)
    }
}

/// A set of signals (`sigset_t`), real-time signals included.
#[derive(Clone, Copy)]
pub struct SigSet(libc::sigset_t);

impl SigSet {
    /// The empty set.
    pub fn empty() -> SigSet {
        let mut set = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: sigemptyset initialises the whole set.
        unsafe {
            libc::sigemptyset(set.as_mut_ptr());
            SigSet(set.assume_init())
        }
    }

    /// Every signal (glibc leaves out the two it reserves for threads).
    pub fn full() -> SigSet {
        let mut set = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: sigfillset initialises the whole set.
        unsafe {
            libc::sigfillset(set.as_mut_ptr());
            SigSet(set.assume_init())
        }
    }

    /// Adds `signal`.
    pub fn add(&mut self, signal: Signal) {
        // SAFETY: the set is initialised and the number is within 1..=SIGRTMAX, so
        // sigaddset cannot fail for a range reason (it refuses only glibc's reserved
        // signals, which then stay out).
        unsafe { libc::sigaddset(&mut self.0, signal.0) };
    }

    /// Removes `signal`.
    pub fn remove(&mut self, signal: Signal) {
        // SAFETY: as for `add`.
        unsafe { libc::sigdelset(&mut self.0, signal.0) };
    }

    /// Whether `signal` is in the set.
    pub fn contains(&self, signal: Signal) -> bool {
        // SAFETY: the set is initialised; the number is in range.
        unsafe { libc::sigismember(&self.0, signal.0) == 1 }
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// The signals in the set, in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = Signal> + '_ {
        (1..=libc::SIGRTMAX())
            .map(Signal)
            .filter(|s| self.contains(*s))
    }

    /// The signals in either set.
    pub fn union(&self, other: &SigSet) -> SigSet {
        let mut out = *self;
        out.extend(other.iter());
        out
    }

    /// The signals of this set that are not in `other`.
    pub fn difference(&self, other: &SigSet) -> SigSet {
        self.iter().filter(|s| !other.contains(*s)).collect()
    }

    /// The set as libc's `sigset_t`.
    pub fn as_raw(&self) -> &libc::sigset_t {
        &self.0
    }

    /// A set from libc's `sigset_t`.
    pub fn from_raw(set: libc::sigset_t) -> SigSet {
        SigSet(set)
    }

    /// The set in the kernel's 64-bit form, bit `n - 1` for signal `n`, as
    /// `/proc/*/status` and `/proc/*/fdinfo` print it.
    pub fn to_bits(&self) -> u64 {
        self.iter()
            .filter(|s| s.0 <= 64)
            .fold(0, |bits, s| bits | 1 << (s.0 - 1))
    }

    /// A set from the kernel's 64-bit form (see [`to_bits`](Self::to_bits)).
    pub fn from_bits(bits: u64) -> SigSet {
        (1..=libc::SIGRTMAX().min(64))
            .filter(|n| bits & (1 << (n - 1)) != 0)
            .map(Signal)
            .collect()
    }

    fn to_nix(self) -> nix::sys::signal::SigSet {
        // SAFETY: `self.0` is an initialised sigset_t.
        unsafe { nix::sys::signal::SigSet::from_sigset_t_unchecked(self.0) }
    }
}

impl Default for SigSet {
    fn default() -> SigSet {
        SigSet::empty()
    }
}

impl PartialEq for SigSet {
    fn eq(&self, other: &SigSet) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for SigSet {}

impl fmt::Debug for SigSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl FromIterator<Signal> for SigSet {
    fn from_iter<I: IntoIterator<Item = Signal>>(iter: I) -> SigSet {
        let mut set = SigSet::empty();
        set.extend(iter);
        set
    }
}

impl Extend<Signal> for SigSet {
    fn extend<I: IntoIterator<Item = Signal>>(&mut self, iter: I) {
        for s in iter {
            self.add(s);
        }
    }
}

impl From<Signal> for SigSet {
    fn from(s: Signal) -> SigSet {
        [s].into_iter().collect()
    }
}

impl<const N: usize> From<[Signal; N]> for SigSet {
    fn from(signals: [Signal; N]) -> SigSet {
        signals.into_iter().collect()
    }
}

/// How [`pthread_sigmask`] changes the mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskHow {
    /// `SIG_BLOCK`: add the set to the mask.
    Block,
    /// `SIG_UNBLOCK`: remove the set from the mask.
    Unblock,
    /// `SIG_SETMASK`: replace the mask with the set.
    SetMask,
}

/// Changes the calling thread's signal mask and returns the previous one:
/// [`pthread_sigmask(3)`](https://man7.org/linux/man-pages/man3/pthread_sigmask.3.html).
///
/// With `set` `None`, only reads the mask. `SIGKILL` and `SIGSTOP` cannot be blocked and
/// are silently left out. A signal must be blocked in every thread that could otherwise take
/// it — block before starting threads — for a signalfd to receive it instead.
pub fn pthread_sigmask(how: MaskHow, set: Option<&SigSet>) -> Result<SigSet> {
    let how = match how {
        MaskHow::Block => SigmaskHow::SIG_BLOCK,
        MaskHow::Unblock => SigmaskHow::SIG_UNBLOCK,
        MaskHow::SetMask => SigmaskHow::SIG_SETMASK,
    };
    let set = set.map(|s| s.to_nix());
    let mut old = nix::sys::signal::SigSet::empty();
    // nix turns pthread_sigmask's positive-errno return into an error (the original
    // butter tested for -1 and so ignored every failure).
    nix_pthread_sigmask(how, set.as_ref(), Some(&mut old)).call("pthread_sigmask")?;
    Ok(SigSet(*old.as_ref()))
}

/// Adds `set` to the calling thread's mask; returns the previous mask.
pub fn block(set: &SigSet) -> Result<SigSet> {
    pthread_sigmask(MaskHow::Block, Some(set))
}

/// Removes `set` from the calling thread's mask; returns the previous mask. Pending
/// signals of the set are delivered at once (to their handler or default action).
pub fn unblock(set: &SigSet) -> Result<SigSet> {
    pthread_sigmask(MaskHow::Unblock, Some(set))
}

/// Replaces the calling thread's mask with `set`; returns the previous mask.
pub fn set_mask(set: &SigSet) -> Result<SigSet> {
    pthread_sigmask(MaskHow::SetMask, Some(set))
}

/// The calling thread's mask.
pub fn thread_mask() -> Result<SigSet> {
    pthread_sigmask(MaskHow::Block, None)
}
