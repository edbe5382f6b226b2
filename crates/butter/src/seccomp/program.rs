//! Compiling a [`Filter`] with seccompiler, and installing the [`Program`] it makes.

use std::collections::BTreeMap;

use seccompiler::{BpfProgram, SeccompFilter, SeccompRule, TargetArch};

use super::{Filter, NOT_HERE, When, sock_filter};
use crate::error::{Call, Errno, Error, Result};

impl Filter {
    /// Compiles the filter into a BPF program for this architecture, with seccompiler.
    ///
    /// Fails with `EINVAL` when the program would exceed the kernel's 4096 instructions,
    /// or when butter is compiled for an architecture other than x86_64, aarch64 and
    /// riscv64.
    pub fn compile(&self) -> Result<Program> {
        let Some(arch) = ARCH else {
            return Err(Error::new("Filter::compile", Errno::EINVAL).with_hint(NOT_HERE));
        };
        let mut rules = BTreeMap::new();
        for (&nr, when) in &self.rules {
            let chain = match when {
                When::Always => Vec::new(),
                When::Any(sets) => sets
                    .iter()
                    .map(|set| {
                        let conds = set
                            .iter()
                            .map(|cond| cond.to_seccompiler())
                            .collect::<Result<Vec<_>>>()?;
                        SeccompRule::new(conds).map_err(compile_error)
                    })
                    .collect::<Result<Vec<_>>>()?,
            };
            rules.insert(nr, chain);
        }
        let filter = SeccompFilter::new(
            rules,
            self.default.to_seccompiler(),
            self.listed.to_seccompiler(),
            arch,
        )
        .map_err(compile_error)?;
        #[allow(unused_mut)]
        let mut bpf = BpfProgram::try_from(filter).map_err(compile_error)?;
        #[cfg(all(target_arch = "x86_64", target_pointer_width = "64"))]
        refuse_x32(&mut bpf, self.refusing_action());
        if bpf.len() > BPF_MAXINSNS {
            return Err(compile_error(seccompiler::BackendError::FilterTooLarge(
                bpf.len(),
            )));
        }
        Ok(Program { bpf })
    }

    /// Compiles the filter and installs it on the calling thread; see [`Program::install`].
    pub fn install(&self) -> Result<()> {
        self.compile()?.install()
    }

    /// Compiles the filter and installs it on every thread of the process; see
    /// [`Program::install_all_threads`].
    pub fn install_all_threads(&self) -> Result<()> {
        self.compile()?.install_all_threads()
    }
}

/// A compiled [`Filter`]: a BPF program that checks the architecture first.
///
/// Installing one allocates nothing, so it can be done in a child between `fork` and
/// `execve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    bpf: BpfProgram,
}

impl Program {
    /// Sets the calling thread's `no_new_privs` bit, then installs the program on the
    /// calling thread:
    /// [`prctl(PR_SET_NO_NEW_PRIVS)`](https://man7.org/linux/man-pages/man2/PR_SET_NO_NEW_PRIVS.2const.html)
    /// and [`seccomp(SECCOMP_SET_MODE_FILTER)`](https://man7.org/linux/man-pages/man2/seccomp.2.html).
    ///
    /// Both are for good. Threads already running are not filtered; threads and processes
    /// the thread starts afterwards are. Fails with `EINVAL` when the kernel refuses the
    /// program (or has no seccomp filters), `ENOMEM` when the thread's filters together
    /// would pass the kernel's limit of 32768 instructions, `EACCES` without
    /// `no_new_privs` and `CAP_SYS_ADMIN`.
    pub fn install(&self) -> Result<()> {
        install(&self.bpf, false)
    }

    /// Like [`install`](Program::install), for every thread of the process at once
    /// (`SECCOMP_FILTER_FLAG_TSYNC`); their `no_new_privs` bits are set with it.
    ///
    /// Fails with `ESRCH` when another thread cannot take the filter, because it has
    /// installed filters of its own that the calling thread does not have.
    pub fn install_all_threads(&self) -> Result<()> {
        install(&self.bpf, true)
    }

    /// The program's instructions, for callers that install it their own way.
    pub fn instructions(&self) -> &[sock_filter] {
        &self.bpf
    }
}

fn install(bpf: &[sock_filter], all_threads: bool) -> Result<()> {
    let call = if all_threads {
        "seccomp(SECCOMP_SET_MODE_FILTER, TSYNC)"
    } else {
        "seccomp(SECCOMP_SET_MODE_FILTER)"
    };
    rustix::thread::set_no_new_privs(true).call(NO_NEW_PRIVS)?;
    let applied = if all_threads {
        seccompiler::apply_filter_all_threads(bpf)
    } else {
        seccompiler::apply_filter(bpf)
    };
    applied.map_err(|err| match err {
        seccompiler::Error::Prctl(err) => Error::from_io(NO_NEW_PRIVS, &err),
        seccompiler::Error::Seccomp(err) => {
            let err = Error::from_io(call, &err);
            match err.errno() {
                Errno::EINVAL => err.with_hint(
                    "the kernel refused the program or the flags (or was built without \
                     CONFIG_SECCOMP_FILTER)",
                ),
                Errno::ENOMEM => err.with_hint(
                    "the thread's filters together would pass 32768 instructions (each \
                     filter counts 4 more), or memory ran out",
                ),
                Errno::EACCES => {
                    err.with_hint("installing a filter needs no_new_privs or CAP_SYS_ADMIN")
                }
                Errno::EFAULT => err.with_hint("the program's memory was unreadable"),
                _ => err,
            }
        }
        seccompiler::Error::ThreadSync(_) => Error::new(call, Errno::ESRCH).with_hint(
            "another thread has seccomp filters of its own that the calling thread does not \
             have, so it cannot take this one",
        ),
        _ => Error::new(call, Errno::EINVAL).with_hint("an empty program"),
    })
}

const NO_NEW_PRIVS: &str = "prctl(PR_SET_NO_NEW_PRIVS)";

fn compile_error(err: seccompiler::BackendError) -> Error {
    let err_ = Error::new("Filter::compile", Errno::EINVAL);
    match err {
        seccompiler::BackendError::FilterTooLarge(_) => {
            err_.with_hint("the program would pass the kernel's 4096 instructions")
        }
        _ => err_.with_hint("seccompiler refused the filter"),
    }
}

/// The kernel's limit on the length of one BPF program.
const BPF_MAXINSNS: usize = 4096;

#[cfg(all(target_arch = "x86_64", target_pointer_width = "64"))]
const ARCH: Option<TargetArch> = Some(TargetArch::x86_64);
#[cfg(all(target_arch = "aarch64", target_pointer_width = "64"))]
const ARCH: Option<TargetArch> = Some(TargetArch::aarch64);
#[cfg(all(target_arch = "riscv64", target_pointer_width = "64"))]
const ARCH: Option<TargetArch> = Some(TargetArch::riscv64);
#[cfg(not(all(
    target_pointer_width = "64",
    any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "riscv64"
    )
)))]
const ARCH: Option<TargetArch> = None;

/// Makes the program refuse x32 system calls with `action`, right after seccompiler's
/// architecture check (x32 shares x86_64's `AUDIT_ARCH_X86_64`; its call numbers have
/// `__X32_SYSCALL_BIT` set).
#[cfg(all(target_arch = "x86_64", target_pointer_width = "64"))]
fn refuse_x32(bpf: &mut BpfProgram, action: super::Action) {
    // From linux/bpf_common.h (BPF_LD | BPF_W | BPF_ABS, BPF_JMP | BPF_JGE | BPF_K,
    // BPF_RET | BPF_K); `struct seccomp_data` starts with the call number.
    const BPF_LD_W_ABS: u16 = 0x20;
    const BPF_JMP_JGE_K: u16 = 0x35;
    const BPF_RET_K: u16 = 0x06;
    const X32_SYSCALL_BIT: u32 = 0x4000_0000;
    // seccompiler's program starts: load the architecture; if it is ours, skip one;
    // kill the process. Insert after those three, where the matching architecture lands.
    const ARCH_CHECK: usize = 3;
    debug_assert_eq!(
        (bpf[0].k, bpf[2].k),
        (4, libc::SECCOMP_RET_KILL_PROCESS),
        "seccompiler's architecture check changed"
    );
    let refuse = u32::from(action.to_seccompiler());
    let guard = [
        sock_filter {
            code: BPF_LD_W_ABS,
            jt: 0,
            jf: 0,
            k: 0,
        },
        sock_filter {
            code: BPF_JMP_JGE_K,
            jt: 0,
            jf: 1,
            k: X32_SYSCALL_BIT,
        },
        sock_filter {
            code: BPF_RET_K,
            jt: 0,
            jf: 0,
            k: refuse,
        },
    ];
    bpf.splice(ARCH_CHECK..ARCH_CHECK, guard);
}
