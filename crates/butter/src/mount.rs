//! Mounts: mount and umount with every flag, pivot_root, and the new mount API.
//!
//! [`mount`] and [`umount`] are the 1:1 calls, taking every `MS_*` and `MNT_*` flag —
//! including the propagation flags the original butter lacked (`MS_PRIVATE`, `MS_SHARED`,
//! `MS_SLAVE`, `MS_UNBINDABLE`, with `MS_REC`) that must be set before `pivot_root`.
//! The helpers say what the kernel makes you spell out: [`bind`] (a read-only bind needs a
//! second, remounting call), [`set_propagation`], [`mount_tmpfs`]. The new mount API
//! ([`open_tree`], [`move_mount`], [`fsopen`]) builds mounts detached from the tree and
//! attaches them in one step, which makes a read-only recursive bind atomic.
//!
//! Everything here needs `CAP_SYS_ADMIN` in the user namespace that owns the caller's mount
//! namespace; to leave the host's mounts alone, [`unshare`](crate::namespace::unshare) a
//! mount namespace first and make it private.
//!
//! ```no_run
//! use butter::mount::{MsFlags, Propagation, bind, mount_tmpfs, set_propagation};
//! use butter::namespace::{Namespaces, unshare};
//!
//! unshare(Namespaces::MOUNT)?;
//! set_propagation("/", Propagation::Private, true)?; // nothing leaks back to the host
//! mount_tmpfs("/mnt", "size=64m,mode=0755", MsFlags::MS_NOSUID | MsFlags::MS_NODEV)?;
//! bind("/usr", "/mnt", true, true)?; // recursive, read-only
//! # Ok::<(), butter::Error>(())
//! ```

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

pub use nix::mount::{MntFlags, MsFlags};
pub use rustix::mount::{FsMountFlags, FsOpenFlags, MountAttrFlags, MoveMountFlags, OpenTreeFlags};

use crate::error::{Call, Errno, Error, Result};

const EPERM_HINT: &str = "needs CAP_SYS_ADMIN in the user namespace owning this mount namespace";

/// Mounts `source` on `target`: [`mount(2)`](https://man7.org/linux/man-pages/man2/mount.2.html),
/// with every `MS_*` flag.
///
/// `fstype` and `data` may be `None` where the kernel ignores them (binds, moves,
/// remounts, propagation changes). A propagation change (`MS_PRIVATE`, `MS_SHARED`,
/// `MS_SLAVE`, `MS_UNBINDABLE`) must be given alone, with only `MS_REC` or `MS_SILENT`
/// beside it (`EINVAL` otherwise).
pub fn mount(
    source: Option<&Path>,
    target: impl AsRef<Path>,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<()> {
    let target = target.as_ref();
    nix::mount::mount(source, target, fstype, flags, data)
        .call("mount")
        .map_err(|e| mount_error(e, target))
}

fn mount_error(e: Error, target: &Path) -> Error {
    e.with_path(target)
        .hint_if(Errno::EPERM, EPERM_HINT)
        .hint_if(
            Errno::EINVAL,
            "a propagation flag must stand alone (with MS_REC), a remount needs an existing mount, \
             and a move cannot cross shared mounts",
        )
        .hint_if(
            Errno::ENODEV,
            "the file system type is not known to the kernel",
        )
        .hint_if(
            Errno::ENOTBLK,
            "the source must be a block device for this file system",
        )
}

/// Unmounts `target`: [`umount2(2)`](https://man7.org/linux/man-pages/man2/umount2.2.html),
/// with `MNT_FORCE`, `MNT_DETACH` (lazy: detach now, clean up when no longer busy),
/// `MNT_EXPIRE` and `UMOUNT_NOFOLLOW`. `MNT_EXPIRE` fails with `EAGAIN` the first time (the
/// mount is now marked expired; a second call unmounts it if it was not used meanwhile).
pub fn umount(target: impl AsRef<Path>, flags: MntFlags) -> Result<()> {
    let target = target.as_ref();
    nix::mount::umount2(target, flags)
        .call("umount2")
        .map_err(|e| {
            e.with_path(target)
                .hint_if(Errno::EPERM, EPERM_HINT)
                .hint_if(
                    Errno::EBUSY,
                    "the mount is in use (MNT_DETACH unmounts it once it is not)",
                )
                .hint_if(
                    Errno::EAGAIN,
                    "MNT_EXPIRE marked the mount expired: unmount it again to remove it",
                )
                .hint_if(Errno::EINVAL, "the target is not a mount point")
        })
}

/// Makes `new_root` the root of the caller's mount namespace and moves the old root to
/// `put_old`: [`pivot_root(2)`](https://man7.org/linux/man-pages/man2/pivot_root.2.html).
///
/// `new_root` must be a mount point not on the current root's mount, `put_old` at or under
/// it, and neither the new nor the old root's parent may have shared propagation (so make
/// `/` private, recursively, after unsharing). `pivot_root(".", ".")` followed by
/// `umount(".", MNT_DETACH)` needs no `put_old` directory.
pub fn pivot_root(new_root: impl AsRef<Path>, put_old: impl AsRef<Path>) -> Result<()> {
    let new_root = new_root.as_ref();
    rustix::process::pivot_root(new_root, put_old.as_ref())
        .call("pivot_root")
        .map_err(|e| {
            e.with_path(new_root)
                .hint_if(Errno::EPERM, EPERM_HINT)
                .hint_if(
                    Errno::EINVAL,
                    "new_root must be a mount point, put_old must be under it, and the mounts \
                     involved must not be shared (make / private recursively first)",
                )
                .hint_if(
                    Errno::EBUSY,
                    "new_root or put_old is the current root, or something is mounted on put_old",
                )
        })
}

/// Propagation of mount events between peers, for [`set_propagation`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// Events go both ways between peers (`MS_SHARED`).
    Shared,
    /// Events come in from the master, none go out (`MS_SLAVE`).
    Slave,
    /// No events in or out (`MS_PRIVATE`).
    Private,
    /// Private, and cannot be bind-mounted (`MS_UNBINDABLE`).
    Unbindable,
}

/// Sets the propagation type of the mount at `target` (and, with `recursive`, of every
/// mount under it).
pub fn set_propagation(
    target: impl AsRef<Path>,
    propagation: Propagation,
    recursive: bool,
) -> Result<()> {
    let mut flags = match propagation {
        Propagation::Shared => MsFlags::MS_SHARED,
        Propagation::Slave => MsFlags::MS_SLAVE,
        Propagation::Private => MsFlags::MS_PRIVATE,
        Propagation::Unbindable => MsFlags::MS_UNBINDABLE,
    };
    if recursive {
        flags |= MsFlags::MS_REC;
    }
    mount(None, target, None, flags, None)
}

/// Bind-mounts `source` on `target` (with `recursive`, the mounts under `source` too) —
/// read-only with `read_only`, which takes a second call (`MS_REMOUNT | MS_BIND |
/// MS_RDONLY`: the first ignores `MS_RDONLY`). For a recursive bind the remount applies to
/// the top mount only; use [`bind_tree_read_only`] to make the whole tree read-only at
/// once.
pub fn bind(
    source: impl AsRef<Path>,
    target: impl AsRef<Path>,
    recursive: bool,
    read_only: bool,
) -> Result<()> {
    let target = target.as_ref();
    let mut flags = MsFlags::MS_BIND;
    if recursive {
        flags |= MsFlags::MS_REC;
    }
    mount(Some(source.as_ref()), target, None, flags, None)?;
    if read_only {
        remount_read_only(target)?;
    }
    Ok(())
}

/// Makes the bind mount at `target` read-only (`MS_REMOUNT | MS_BIND | MS_RDONLY`), keeping
/// its `nosuid`/`nodev`/`noexec` flags (a remount that drops them fails with `EPERM` in a
/// user namespace, where they are locked).
pub fn remount_read_only(target: impl AsRef<Path>) -> Result<()> {
    let target = target.as_ref();
    let kept = locked_flags(target);
    mount(
        None,
        target,
        None,
        MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | kept,
        None,
    )
}

/// The `nosuid`, `nodev`, `noexec` and atime flags the mount at `path` has (`statvfs`).
fn locked_flags(path: &Path) -> MsFlags {
    use nix::sys::statvfs::{FsFlags, statvfs};
    let Ok(st) = statvfs(path) else {
        return MsFlags::empty();
    };
    let f = st.flags();
    let mut out = MsFlags::empty();
    for (fs, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(fs) {
            out |= ms;
        }
    }
    out
}

/// Mounts a tmpfs on `target` with `options` (such as `"size=64m,mode=1777"`).
pub fn mount_tmpfs(target: impl AsRef<Path>, options: &str, flags: MsFlags) -> Result<()> {
    mount(
        Some(Path::new("tmpfs")),
        target,
        Some("tmpfs"),
        flags,
        Some(options),
    )
}

/// Binds `source`'s whole tree on `target`, read-only throughout, in one atomic step with
/// the new mount API: a detached recursive copy ([`open_tree`]), made read-only
/// recursively (`mount_setattr`), then attached ([`move_mount`]). Linux 5.12 or later.
pub fn bind_tree_read_only(source: impl AsRef<Path>, target: impl AsRef<Path>) -> Result<()> {
    let tree = open_tree(
        None,
        source.as_ref(),
        OpenTreeFlags::OPEN_TREE_CLONE
            | OpenTreeFlags::AT_RECURSIVE
            | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )?;
    set_tree_read_only(&tree)?;
    move_mount(
        &tree,
        None,
        None,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, {attr_set: MOUNT_ATTR_RDONLY})`.
fn set_tree_read_only(tree: &OwnedFd) -> Result<()> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let attr = MountAttr {
        attr_set: libc::MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let empty = c"";
    // SAFETY: mount_setattr reads `size_of::<MountAttr>()` bytes of `attr` (the kernel's
    // struct mount_attr, version 0) and the NUL-terminated empty path; both outlive the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            std::os::fd::AsRawFd::as_raw_fd(tree),
            empty.as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        return Err(
            Error::last("mount_setattr").hint_if(Errno::ENOSYS, "mount_setattr needs Linux 5.12")
        );
    }
    Ok(())
}

/// Opens a mount (or, with `OPEN_TREE_CLONE`, a detached copy of it; with `AT_RECURSIVE`,
/// of its whole tree) as a descriptor:
/// [`open_tree(2)`](https://man7.org/linux/man-pages/man2/open_tree.2.html). `dirfd` `None`
/// is the current directory. `OPEN_TREE_CLOEXEC` is always added.
pub fn open_tree(
    dirfd: Option<BorrowedFd<'_>>,
    path: impl AsRef<Path>,
    flags: OpenTreeFlags,
) -> Result<OwnedFd> {
    let path = path.as_ref();
    let flags = flags | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    rustix::mount::open_tree(dirfd.unwrap_or(rustix::fs::CWD), path, flags)
        .call("open_tree")
        .map_err(|e| e.with_path(path).hint_if(Errno::EPERM, EPERM_HINT))
}

/// Moves a mount — an attached one at `from_path`, or a detached one from [`open_tree`] or
/// [`fsmount`] with `MOVE_MOUNT_F_EMPTY_PATH` and no path — to `to_path`:
/// [`move_mount(2)`](https://man7.org/linux/man-pages/man2/move_mount.2.html).
pub fn move_mount(
    from: impl AsFd,
    from_path: Option<&Path>,
    to_dirfd: Option<BorrowedFd<'_>>,
    to_path: impl AsRef<Path>,
    flags: MoveMountFlags,
) -> Result<()> {
    let to_path = to_path.as_ref();
    rustix::mount::move_mount(
        from.as_fd(),
        from_path.unwrap_or(Path::new("")),
        to_dirfd.unwrap_or(rustix::fs::CWD),
        to_path,
        flags,
    )
    .call("move_mount")
    .map_err(|e| e.with_path(to_path).hint_if(Errno::EPERM, EPERM_HINT))
}

/// Opens a file-system context for a new mount of `fstype`:
/// [`fsopen(2)`](https://man7.org/linux/man-pages/man2/fsopen.2.html). Configure it with
/// [`fsconfig_set`], create it with [`fsmount`], attach it with [`move_mount`].
pub fn fsopen(fstype: &str, flags: FsOpenFlags) -> Result<OwnedFd> {
    rustix::mount::fsopen(fstype, flags | FsOpenFlags::FSOPEN_CLOEXEC)
        .call("fsopen")
        .map_err(|e| {
            e.hint_if(Errno::EPERM, EPERM_HINT)
                .hint_if(Errno::ENODEV, "unknown file system type")
        })
}

/// Sets a string option of a file-system context (`fsconfig(FSCONFIG_SET_STRING)`).
pub fn fsconfig_set(fs: impl AsFd, key: &str, value: &str) -> Result<()> {
    rustix::mount::fsconfig_set_string(fs.as_fd(), key, value)
        .call("fsconfig")
        .map_err(|e| {
            e.hint_if(
                Errno::EINVAL,
                "the file system does not take this option or value",
            )
        })
}

/// Creates the file system of a configured context and returns it as a detached mount:
/// `fsconfig(FSCONFIG_CMD_CREATE)` then [`fsmount(2)`](https://man7.org/linux/man-pages/man2/fsmount.2.html).
pub fn fsmount(fs: impl AsFd, attrs: MountAttrFlags) -> Result<OwnedFd> {
    let fs = fs.as_fd();
    rustix::mount::fsconfig_create(fs).call("fsconfig(FSCONFIG_CMD_CREATE)")?;
    rustix::mount::fsmount(fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs).call("fsmount")
}

/// The mount points listed in `/proc/self/mountinfo`, in order (for checking what a
/// namespace has).
pub fn mount_points() -> Result<Vec<std::path::PathBuf>> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Error::from_io("read /proc/self/mountinfo", &e))?;
    Ok(text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| std::path::PathBuf::from(unescape(p)))
        .collect())
}

/// mountinfo escapes spaces, tabs, newlines and backslashes as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
