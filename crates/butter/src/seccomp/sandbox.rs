//! The sandbox's default deny-list.

use super::table::{self, Lookup};
use super::{Action, Cmp, Cond, Filter, When};

/// The system calls [`Filter::sandbox_default`] fails with `EPERM`: what a process building
/// or running untrusted code has no business doing. Those absent on the running
/// architecture are skipped (`iopl`, `ioperm`, `_sysctl` and `uselib` exist on x86_64
/// only).
///
/// - **Mounts and the file-system view**: `mount`, `umount2`, `pivot_root`, the new mount
///   API (`fsopen`, `fsconfig`, `fsmount`, `fspick`, `move_mount`, `open_tree`,
///   `open_tree_attr`, `mount_setattr`), `quotactl`, `quotactl_fd`, `swapon`, `swapoff`.
///   The sandbox sets up the mounts; nothing inside should change them.
/// - **Namespaces**: `unshare`, `setns`, and `clone` with any `CLONE_NEW*` flag (a rule on
///   its flags argument). New namespaces give capabilities inside them, and with those,
///   far more of the kernel to attack. `clone3` is not listed: its flags sit in memory a
///   filter cannot read, and glibc falls back from `clone3` to `clone` only on `ENOSYS`,
///   so a sandbox that wants it closed stacks `Filter::deny(["clone3"],
///   Action::Errno(libc::ENOSYS))` on top.
/// - **Other processes**: `ptrace`, `process_vm_readv`, `process_vm_writev`,
///   `process_madvise`, `pidfd_getfd`, `kcmp` — reading, changing or comparing the memory
///   and descriptors of other processes.
/// - **Kernel code**: `kexec_load`, `kexec_file_load`, `init_module`, `finit_module`,
///   `delete_module`, `bpf`, `perf_event_open`, `userfaultfd` (a favourite of kernel
///   exploits), and `io_uring_setup`, `io_uring_enter`, `io_uring_register` (the
///   operations of an io_uring are not system calls, so seccomp never sees them).
/// - **The machine**: `reboot`, `acct`, `settimeofday`, `clock_settime`, `clock_adjtime`,
///   `adjtimex` (read-only queries such as `ntp_gettime` fail too), `sethostname`,
///   `setdomainname`, `syslog`, `vhangup`, `iopl`, `ioperm`.
/// - **Kernel keyrings**, which are not namespaced: `keyctl`, `add_key`, `request_key`.
/// - **File handles**, which open files by inode and bypass the directory tree (and so a
///   chroot): `open_by_handle_at`, `name_to_handle_at`.
/// - **Obsolete calls** with a history of exploits: `lookup_dcookie`, `nfsservctl`,
///   `_sysctl`, `uselib`.
pub const SANDBOX_DENY: &[&str] = &[
    // Mounts and the file-system view.
    "mount",
    "umount2",
    "pivot_root",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "open_tree_attr",
    "mount_setattr",
    "quotactl",
    "quotactl_fd",
    "swapon",
    "swapoff",
    // Namespaces (and `clone` with CLONE_NEW* flags, added by `sandbox_default`).
    "unshare",
    "setns",
    // Other processes.
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "process_madvise",
    "pidfd_getfd",
    "kcmp",
    // Kernel code.
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    // The machine.
    "reboot",
    "acct",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "sethostname",
    "setdomainname",
    "syslog",
    "vhangup",
    "iopl",
    "ioperm",
    // Kernel keyrings.
    "keyctl",
    "add_key",
    "request_key",
    // File handles.
    "open_by_handle_at",
    "name_to_handle_at",
    // Obsolete.
    "lookup_dcookie",
    "nfsservctl",
    "_sysctl",
    "uselib",
];

/// The `clone` flags that make new namespaces, refused by [`Filter::sandbox_default`].
const CLONE_NAMESPACES: [libc::c_int; 7] = [
    libc::CLONE_NEWNS,
    libc::CLONE_NEWCGROUP,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
];

impl Filter {
    /// The sandbox's deny-list: the calls of [`SANDBOX_DENY`] that exist on this
    /// architecture, and `clone` with any `CLONE_NEW*` flag, fail with `EPERM`; everything
    /// else runs.
    pub fn sandbox_default() -> Filter {
        let mut filter = Filter::new(Action::Errno(libc::EPERM), Action::Allow);
        for name in SANDBOX_DENY {
            match table::lookup(name) {
                Lookup::Here(nr) => {
                    filter.rules.insert(nr, When::Always);
                }
                Lookup::Elsewhere => {}
                Lookup::Unknown => debug_assert!(false, "{name} is missing from the table"),
            }
        }
        // The flags are `clone`'s first argument on every architecture.
        if let Lookup::Here(clone) = table::lookup("clone") {
            let any_namespace = CLONE_NAMESPACES.iter().map(|&flag| {
                let flag = flag as u32;
                vec![Cond::new32(0, Cmp::MaskedEq(flag.into()), flag)]
            });
            filter
                .rules
                .insert(clone, When::Any(any_namespace.collect()));
        }
        filter
    }
}
