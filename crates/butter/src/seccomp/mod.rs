//! seccomp: system-call filters, built from syscall names.
//!
//! A [seccomp filter](https://man7.org/linux/man-pages/man2/seccomp.2.html) is a small BPF
//! program the kernel runs at every system call of a thread, before the call: it sees the
//! call's number, architecture and arguments, and decides what happens — the call runs,
//! fails with an errno, or the thread or process is killed, trapped with `SIGSYS`, or the
//! call logged. A filter is for good: it applies to the thread that installed it and to
//! every thread and process started from it, across `execve`. More filters can be stacked
//! on top; the kernel runs them all and takes the strictest verdict (kill process, kill
//! thread, trap, errno, log, allow, in that order).
//!
//! [`Filter`] builds one from system-call *names*:
//!
//! - [`Filter::deny`]: every call runs except the listed ones, which get an [`Action`];
//! - [`Filter::allow`]: only the listed calls run; the others get the action;
//! - [`Filter::sandbox_default`]: the sandbox's deny-list, [`SANDBOX_DENY`], failing those
//!   calls with `EPERM`.
//!
//! Names are looked up for the architecture butter is compiled for ([`syscall_number`]);
//! a name unknown there is an error that names it, never skipped. A listed call can be
//! restricted to some argument values with [`Filter::add_when`]. [`Filter::compile`]
//! compiles with [seccompiler](https://docs.rs/seccompiler) into a [`Program`];
//! [`Filter::install`] compiles and installs.
//!
//! ```
//! use butter::seccomp::{Action, Filter};
//!
//! // A filter binds the thread that installs it (and what it starts), so install it in a
//! // thread of its own here: the rest of this program keeps running unfiltered.
//! std::thread::spawn(|| {
//!     Filter::deny(["getcwd"], Action::Errno(libc::EPERM))?.install()?;
//!     let err = std::env::current_dir().unwrap_err();
//!     assert_eq!(err.raw_os_error(), Some(libc::EPERM));
//!     assert!(std::env::var("PATH").is_ok()); // no system call involved
//!     Ok::<(), butter::Error>(())
//! })
//! .join()
//! .unwrap()?;
//! assert!(std::env::current_dir().is_ok());
//!
//! let err = Filter::deny(["mountt"], Action::KillProcess).unwrap_err();
//! assert_eq!(err.path().unwrap(), std::path::Path::new("mountt"));
//! # Ok::<(), butter::Error>(())
//! ```
//!
//! # The architecture is checked
//!
//! System-call numbers differ between architectures, and one kernel may accept several
//! calling conventions: an x86_64 process can make i386 calls with `int 0x80`, where 21 is
//! `mount` rather than `access`. Every program starts, as seccompiler builds it, by
//! comparing the call's architecture with the one it was compiled for, and **kills the
//! process** on a mismatch. On x86_64 the program also refuses calls of the x32 ABI
//! (numbers with bit 30 set, which share x86_64's architecture value and would slip past a
//! deny-list by number): they get the filter's refusing action (the listed calls' action of
//! a deny-list, the default action of an allow-list).
//!
//! # Installing: no_new_privs, threads, fork
//!
//! Installing sets the thread's `no_new_privs` bit first
//! ([`prctl(PR_SET_NO_NEW_PRIVS)`](https://man7.org/linux/man-pages/man2/PR_SET_NO_NEW_PRIVS.2const.html)):
//! `execve` then never grants privileges (set-user-ID bits and file capabilities are
//! ignored), which is what lets an unprivileged process install a filter at all. The bit
//! cannot be cleared either. [`Filter::install`] binds the calling thread only;
//! [`Filter::install_all_threads`] binds every thread of the process (`TSYNC`).
//!
//! Compiling allocates; installing a compiled [`Program`] does not, so a sandbox can
//! compile before `fork` and install in the child, between `fork` and `execve`.
//!
//! Allow-lists need every call the program and its runtime make, which is more than one
//! expects (the Rust runtime alone uses `sigaltstack`, `mmap`, `munmap`, `futex`, …);
//! deny-lists are the practical choice for running arbitrary programs.
//!
//! # The original butter
//!
//! butter ≤ 0.12.4 exposed libseccomp's C functions and constants as they were, needing the
//! C library, deprecated them and removed them in 0.12.5. This module is new work on
//! seccompiler, pure Rust, and takes names rather than numbers.

mod program;
mod sandbox;
mod table;

use std::collections::BTreeMap;

use seccompiler::{SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition};

pub use program::Program;
pub use sandbox::SANDBOX_DENY;
pub use seccompiler::sock_filter;

use crate::error::{Errno, Error, Result};
use table::Lookup;

/// What a filter does with a system call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// The call runs (`SECCOMP_RET_ALLOW`).
    Allow,
    /// The call does not run and fails with this errno (`SECCOMP_RET_ERRNO`), from 0 to
    /// 4095; 0 makes it "succeed", returning 0, without running.
    Errno(i32),
    /// The whole process is killed, as by an uncatchable `SIGSYS`, core dump included
    /// (`SECCOMP_RET_KILL_PROCESS`, Linux 4.14).
    KillProcess,
    /// The calling thread is killed (`SECCOMP_RET_KILL_THREAD`); other threads go on.
    KillThread,
    /// The call does not run; the thread gets a `SIGSYS` it may catch, whose `siginfo`
    /// names the call (`SECCOMP_RET_TRAP`).
    Trap,
    /// The call runs and is logged to the audit log or the kernel log
    /// (`SECCOMP_RET_LOG`, Linux 4.14).
    Log,
}

impl Action {
    fn to_seccompiler(self) -> SeccompAction {
        match self {
            Action::Allow => SeccompAction::Allow,
            // Checked to be within 0..=MAX_ERRNO when the filter was made.
            Action::Errno(errno) => SeccompAction::Errno(errno as u32),
            Action::KillProcess => SeccompAction::KillProcess,
            Action::KillThread => SeccompAction::KillThread,
            Action::Trap => SeccompAction::Trap,
            Action::Log => SeccompAction::Log,
        }
    }

    fn check(self, call: &'static str) -> Result<Action> {
        match self {
            // The kernel's MAX_ERRNO.
            Action::Errno(errno) if !(0..=4095).contains(&errno) => {
                Err(Error::new(call, Errno::EINVAL)
                    .with_hint("an Errno action takes an errno from 0 to 4095"))
            }
            action => Ok(action),
        }
    }
}

/// How a [`Cond`] compares a system-call argument with its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cmp {
    /// `argument == value`
    Eq,
    /// `argument != value`
    Ne,
    /// `argument < value`, unsigned
    Lt,
    /// `argument <= value`, unsigned
    Le,
    /// `argument > value`, unsigned
    Gt,
    /// `argument >= value`, unsigned
    Ge,
    /// `argument & mask == value`: the bits of `mask` in the argument are those of the
    /// value.
    MaskedEq(u64),
}

/// A condition on one argument of a system call, for [`Filter::add_when`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cond {
    arg: u8,
    cmp: Cmp,
    value: u64,
    word: bool,
}

impl Cond {
    /// Compares argument `arg` (0 to 5), all 64 bits of it, with `value`.
    ///
    /// For arguments that are C `int`s or `unsigned int`s (descriptors, most flags), use
    /// [`Cond::new32`]: the kernel does not promise anything about their upper 32 bits.
    pub fn new(arg: u8, cmp: Cmp, value: u64) -> Cond {
        Cond {
            arg,
            cmp,
            value,
            word: false,
        }
    }

    /// Compares the lower 32 bits of argument `arg` (0 to 5) with `value`.
    pub fn new32(arg: u8, cmp: Cmp, value: u32) -> Cond {
        Cond {
            arg,
            cmp,
            value: value.into(),
            word: true,
        }
    }

    fn to_seccompiler(self) -> Result<SeccompCondition> {
        let len = if self.word {
            SeccompCmpArgLen::Dword
        } else {
            SeccompCmpArgLen::Qword
        };
        let op = match self.cmp {
            Cmp::Eq => SeccompCmpOp::Eq,
            Cmp::Ne => SeccompCmpOp::Ne,
            Cmp::Lt => SeccompCmpOp::Lt,
            Cmp::Le => SeccompCmpOp::Le,
            Cmp::Gt => SeccompCmpOp::Gt,
            Cmp::Ge => SeccompCmpOp::Ge,
            Cmp::MaskedEq(mask) => SeccompCmpOp::MaskedEq(mask),
        };
        SeccompCondition::new(self.arg, len, op, self.value).map_err(|_| {
            Error::new("Filter::add_when", Errno::EINVAL)
                .with_hint("system-call arguments are numbered from 0 to 5")
        })
    }
}

/// The number of the system call `name` on the architecture butter is compiled for.
///
/// Fails with `EINVAL` when no system call of that name exists here; the error's
/// [`path`](Error::path) is the name, and its hint says whether the call exists on other
/// architectures (`iopl` and `ioperm` exist on x86_64 only, for example). The table covers
/// x86_64, aarch64 and riscv64, from libc's `SYS_*` constants.
pub fn syscall_number(name: &str) -> Result<i64> {
    match table::lookup(name) {
        Lookup::Here(nr) => Ok(nr),
        Lookup::Elsewhere => Err(Error::new("syscall_number", Errno::EINVAL)
            .with_path(name)
            .with_hint(NOT_HERE)),
        Lookup::Unknown => Err(Error::new("syscall_number", Errno::EINVAL)
            .with_path(name)
            .with_hint(
                "no system call has that name (names are the kernel's, as in `man 2 \
                     syscalls`, without a prefix)",
            )),
    }
}

/// The name of system call number `nr` on this architecture, if butter knows it.
pub fn syscall_name(nr: i64) -> Option<&'static str> {
    table::here().find(|&(_, n)| n == nr).map(|(name, _)| name)
}

/// Every system-call name butter knows on this architecture.
pub fn syscall_names() -> impl Iterator<Item = &'static str> {
    table::here().map(|(name, _)| name)
}

/// When a listed call matches: always, or when all the conditions of one of the sets hold.
#[derive(Debug, Clone, PartialEq, Eq)]
enum When {
    Always,
    Any(Vec<Vec<Cond>>),
}

/// A seccomp filter: a list of system calls, the action for listed calls, and the action
/// for the others.
///
/// Made by [`Filter::deny`] (the others are allowed), [`Filter::allow`] (the listed ones
/// are allowed) or [`Filter::sandbox_default`]; extended by
/// [`add_calls`](Filter::add_calls) and [`add_when`](Filter::add_when); installed by
/// [`install`](Filter::install), or compiled once by [`compile`](Filter::compile) and
/// installed later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    rules: BTreeMap<i64, When>,
    listed: Action,
    default: Action,
}

impl Filter {
    /// A deny-list: every system call runs, except those named, which get `action`.
    ///
    /// Fails with `EINVAL` for a name unknown on this architecture (see
    /// [`syscall_number`]), an [`Action::Errno`] outside 0 to 4095, or `Action::Allow`
    /// (a filter that would do nothing).
    pub fn deny<I>(names: I, action: Action) -> Result<Filter>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let action = action.check("Filter::deny")?;
        if action == Action::Allow {
            return Err(Error::new("Filter::deny", Errno::EINVAL)
                .with_hint("a deny-list whose action is Allow would do nothing"));
        }
        Filter::new(action, Action::Allow).add_calls(names)
    }

    /// An allow-list: only the system calls named run; every other one gets `default`.
    ///
    /// Fails as [`Filter::deny`] does (with `Allow` as `default` for the filter that
    /// would do nothing).
    pub fn allow<I>(names: I, default: Action) -> Result<Filter>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let default = default.check("Filter::allow")?;
        if default == Action::Allow {
            return Err(Error::new("Filter::allow", Errno::EINVAL)
                .with_hint("an allow-list whose default action is Allow would do nothing"));
        }
        Filter::new(Action::Allow, default).add_calls(names)
    }

    fn new(listed: Action, default: Action) -> Filter {
        Filter {
            rules: BTreeMap::new(),
            listed,
            default,
        }
    }

    /// Adds the system calls named to the list, whatever their arguments.
    ///
    /// Fails with `EINVAL` for a name unknown on this architecture (see
    /// [`syscall_number`]).
    pub fn add_calls<I>(mut self, names: I) -> Result<Filter>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        for name in names {
            let nr = syscall_number(name.as_ref())?;
            self.rules.insert(nr, When::Always);
        }
        Ok(self)
    }

    /// Adds the system call `name` to the list for the calls whose arguments meet every
    /// condition of `conds`.
    ///
    /// Adding the same call again with other conditions matches it when either set holds;
    /// a call added by [`add_calls`](Filter::add_calls), or with no conditions, matches always. Fails
    /// with `EINVAL` for an unknown name or an argument number above 5.
    ///
    /// ```
    /// use butter::seccomp::{Action, Cmp, Cond, Filter};
    ///
    /// // fcntl(fd, F_SETFL, …) fails with EPERM; other fcntl commands run.
    /// let filter = Filter::deny([] as [&str; 0], Action::Errno(libc::EPERM))?
    ///     .add_when("fcntl", [Cond::new32(1, Cmp::Eq, libc::F_SETFL as u32)])?;
    /// assert!(filter.contains("fcntl"));
    /// # Ok::<(), butter::Error>(())
    /// ```
    pub fn add_when(mut self, name: &str, conds: impl IntoIterator<Item = Cond>) -> Result<Filter> {
        let nr = syscall_number(name)?;
        let conds: Vec<Cond> = conds.into_iter().collect();
        for cond in &conds {
            cond.to_seccompiler()?;
        }
        if conds.is_empty() {
            self.rules.insert(nr, When::Always);
            return Ok(self);
        }
        match self
            .rules
            .entry(nr)
            .or_insert_with(|| When::Any(Vec::new()))
        {
            When::Always => {}
            When::Any(sets) => sets.push(conds),
        }
        Ok(self)
    }

    /// Whether the system call `name` is on the list (always or under conditions).
    pub fn contains(&self, name: &str) -> bool {
        matches!(table::lookup(name), Lookup::Here(nr) if self.rules.contains_key(&nr))
    }

    /// The action for the listed system calls.
    pub fn listed_action(&self) -> Action {
        self.listed
    }

    /// The action for the system calls not listed.
    pub fn default_action(&self) -> Action {
        self.default
    }

    /// The action that refuses: the listed calls' of a deny-list, the default of an
    /// allow-list.
    #[cfg(all(target_arch = "x86_64", target_pointer_width = "64"))]
    fn refusing_action(&self) -> Action {
        if self.listed == Action::Allow {
            self.default
        } else {
            self.listed
        }
    }
}

#[cfg(all(target_arch = "x86_64", target_pointer_width = "64"))]
const NOT_HERE: &str = "no such system call on x86_64 (it exists on other architectures)";
#[cfg(all(target_arch = "aarch64", target_pointer_width = "64"))]
const NOT_HERE: &str = "no such system call on aarch64 (it exists on other architectures)";
#[cfg(all(target_arch = "riscv64", target_pointer_width = "64"))]
const NOT_HERE: &str = "no such system call on riscv64 (it exists on other architectures)";
#[cfg(not(all(
    target_pointer_width = "64",
    any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "riscv64"
    )
)))]
const NOT_HERE: &str = "butter builds seccomp filters for x86_64, aarch64 and riscv64 only";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sandbox_name_is_in_the_table() {
        for name in SANDBOX_DENY {
            assert_ne!(table::lookup(name), Lookup::Unknown, "{name}");
        }
    }

    #[cfg(all(
        target_pointer_width = "64",
        any(
            target_arch = "x86_64",
            target_arch = "aarch64",
            target_arch = "riscv64"
        )
    ))]
    #[test]
    fn numbers_are_unique_and_names_resolve() {
        let mut seen = BTreeMap::new();
        for (name, nr) in table::here() {
            if let Some(other) = seen.insert(nr, name) {
                assert_eq!(other, name, "{nr} is both {other} and {name}");
            }
            assert_eq!(syscall_number(name).unwrap(), nr);
        }
        assert!(seen.len() > 250);
    }

    #[cfg(all(target_arch = "x86_64", target_pointer_width = "64"))]
    #[test]
    fn x86_64_numbers() {
        assert_eq!(syscall_number("read").unwrap(), 0);
        assert_eq!(syscall_number("mount").unwrap(), 165);
        assert_eq!(syscall_number("io_pgetevents").unwrap(), 333);
        assert_eq!(syscall_number("open_tree_attr").unwrap(), 467);
        assert_eq!(syscall_name(59), Some("execve"));
    }
}
