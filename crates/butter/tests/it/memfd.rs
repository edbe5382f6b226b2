//! memfd and seals against the real kernel.

use crate::common;

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::FileExt;

use butter::memfd::{Memfd, MemfdFlags, NAME_MAX_LEN, SealFlags, add_seals, memfd_create, seals};
use butter::{Errno, ErrorKind};
use common::*;

/// The errno of a failed `std::io` call.
fn errno_of<T: std::fmt::Debug>(r: std::io::Result<T>) -> Option<i32> {
    r.expect_err("expected a failure").raw_os_error()
}

#[test]
fn write_then_read_back() {
    let mut memfd = Memfd::new("test").unwrap();
    assert!(memfd.is_empty().unwrap());
    memfd.write_all(b"hello, memfd").unwrap();
    assert_eq!(memfd.len().unwrap(), 12);
    memfd.rewind().unwrap();
    let mut text = String::new();
    memfd.read_to_string(&mut text).unwrap();
    assert_eq!(text, "hello, memfd");

    // Through a shared reference, and positioned I/O through the borrowed File.
    let shared = &memfd;
    assert_eq!(shared.as_file().write_at(b"HELLO", 0).unwrap(), 5);
    let mut buf = [0; 5];
    shared.as_file().read_exact_at(&mut buf, 0).unwrap();
    assert_eq!(&buf, b"HELLO");
    (&memfd).seek(SeekFrom::Start(7)).unwrap();
    let mut rest = Vec::new();
    (&memfd).read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"memfd");
    // The borrowed File does not close the descriptor when it goes away.
    {
        let file = memfd.as_file();
        file.sync_all().unwrap();
    }
    assert_eq!(memfd.len().unwrap(), 12);
}

#[test]
fn set_len_grows_with_zeros_and_shrinks() {
    let memfd = Memfd::new("sized").unwrap();
    memfd.set_len(4096).unwrap();
    assert_eq!(memfd.len().unwrap(), 4096);
    let mut page = vec![1; 4096];
    memfd.as_file().read_exact_at(&mut page, 0).unwrap();
    assert!(page.iter().all(|&b| b == 0));
    memfd.set_len(10).unwrap();
    assert_eq!(memfd.len().unwrap(), 10);
}

#[test]
fn clones_and_files_share_the_memory() {
    let memfd = Memfd::new("shared").unwrap();
    let other = memfd.try_clone().unwrap();
    assert!(is_cloexec(&other));
    (&other).write_all(b"abc").unwrap();
    assert_eq!(memfd.len().unwrap(), 3);
    other.seal(SealFlags::GROW).unwrap();
    assert_eq!(memfd.seals().unwrap(), SealFlags::GROW);

    let file = memfd.into_file();
    assert_eq!(file.metadata().unwrap().len(), 3);
    let fd = OwnedFd::from(other);
    assert_eq!(seals(&fd).unwrap(), SealFlags::GROW);
    assert_eq!(Memfd::from(fd).len().unwrap(), 3);
}

#[test]
fn new_allows_sealing_and_starts_unsealed() {
    let memfd = Memfd::new("sealable").unwrap();
    assert_eq!(memfd.seals().unwrap(), SealFlags::empty());
    // Without ALLOW_SEALING the kernel seals against sealing from the start.
    let plain = Memfd::with_flags("plain", MemfdFlags::empty()).unwrap();
    assert_eq!(plain.seals().unwrap(), SealFlags::SEAL);
}

#[test]
fn seal_write_forbids_writes() {
    let mut memfd = Memfd::new("ro").unwrap();
    memfd.write_all(b"fixed").unwrap();
    memfd.seal(SealFlags::WRITE).unwrap();
    assert_eq!(memfd.seals().unwrap(), SealFlags::WRITE);
    assert_eq!(errno_of(memfd.write(b"x")), Some(libc::EPERM));
    assert_eq!(
        errno_of(memfd.as_file().write_at(b"x", 0)),
        Some(libc::EPERM)
    );
    // Reading, and resizing (not sealed against), still work.
    let mut buf = [0; 5];
    memfd.as_file().read_exact_at(&mut buf, 0).unwrap();
    assert_eq!(&buf, b"fixed");
    memfd.set_len(100).unwrap();
}

#[test]
fn seal_future_write_forbids_writes() {
    let mut memfd = Memfd::new("future").unwrap();
    memfd.seal(SealFlags::FUTURE_WRITE).unwrap();
    assert_eq!(errno_of(memfd.write(b"x")), Some(libc::EPERM));
}

#[test]
fn seal_grow_and_seal_shrink_forbid_resizing() {
    let memfd = Memfd::new("fixed-size").unwrap();
    memfd.set_len(100).unwrap();
    memfd.seal(SealFlags::GROW).unwrap();
    let e = expect_err(
        memfd.set_len(101),
        "ftruncate",
        Errno::EPERM,
        ErrorKind::PermissionDenied,
    )
    .unwrap();
    check(expect_hint(&e, "SEAL_GROW"));
    // Writing past the end grows too.
    assert_eq!(
        errno_of(memfd.as_file().write_at(b"x", 100)),
        Some(libc::EPERM)
    );
    memfd.set_len(50).unwrap();

    memfd.seal(SealFlags::SHRINK).unwrap();
    let e = expect_err(
        memfd.set_len(49),
        "ftruncate",
        Errno::EPERM,
        ErrorKind::PermissionDenied,
    )
    .unwrap();
    check(expect_hint(&e, "SEAL_SHRINK"));
    memfd.set_len(50).unwrap(); // no change is no violation
    assert_eq!(memfd.seals().unwrap(), SealFlags::GROW | SealFlags::SHRINK);
}

#[test]
fn seal_seal_forbids_more_seals() {
    let memfd = Memfd::new("final").unwrap();
    memfd.seal(SealFlags::SHRINK | SealFlags::SEAL).unwrap();
    let e = expect_err(
        memfd.seal(SealFlags::GROW),
        "fcntl(F_ADD_SEALS)",
        Errno::EPERM,
        ErrorKind::PermissionDenied,
    )
    .unwrap();
    check(expect_hint(&e, "ALLOW_SEALING"));
    assert_eq!(memfd.seals().unwrap(), SealFlags::SHRINK | SealFlags::SEAL);
}

#[test]
fn sealing_without_allow_sealing_is_refused() {
    let fd = memfd_create("unsealable", MemfdFlags::empty()).unwrap();
    let e = expect_err(
        add_seals(&fd, SealFlags::WRITE),
        "fcntl(F_ADD_SEALS)",
        Errno::EPERM,
        ErrorKind::PermissionDenied,
    )
    .unwrap();
    check(expect_hint(&e, "ALLOW_SEALING"));
}

#[test]
fn seal_write_is_busy_while_a_writable_mapping_exists() {
    use rustix::mm::{MapFlags, ProtFlags, mmap, munmap};
    let memfd = Memfd::new("mapped").unwrap();
    memfd.set_len(4096).unwrap();
    // SAFETY: a new shared mapping the kernel places; unmapped below, never dereferenced.
    let map = unsafe {
        mmap(
            std::ptr::null_mut(),
            4096,
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::SHARED,
            memfd.as_fd(),
            0,
        )
    }
    .unwrap();
    let e = expect_err(
        memfd.seal(SealFlags::WRITE),
        "fcntl(F_ADD_SEALS)",
        Errno::EBUSY,
        ErrorKind::Other,
    )
    .unwrap();
    check(expect_hint(&e, "unmapped"));
    // SAFETY: the mapping made above, with its length.
    unsafe { munmap(map, 4096) }.unwrap();
    memfd.seal(SealFlags::WRITE).unwrap();
}

#[test]
fn sealed_memfds_map_as_slices() {
    let mut memfd = Memfd::new("mappable").unwrap();
    memfd.write_all(b"sealed bytes").unwrap();
    let e = expect_err(
        memfd.map_sealed(),
        "mmap",
        Errno::EPERM,
        ErrorKind::PermissionDenied,
    )
    .unwrap();
    check(expect_hint(&e, "SEAL_WRITE and SEAL_SHRINK"));
    memfd.seal(SealFlags::WRITE).unwrap();
    assert!(memfd.map_sealed().is_err(), "SHRINK is needed too");

    memfd.seal(SealFlags::SHRINK).unwrap();
    let map = memfd.map_sealed().unwrap();
    drop(memfd); // the mapping outlives the descriptor
    assert_eq!(&map[..], b"sealed bytes");
    let map = std::thread::spawn(move || {
        assert_eq!(map.len(), 12);
        map
    })
    .join()
    .unwrap();
    drop(map);

    let empty = Memfd::new("empty").unwrap();
    empty.seal(SealFlags::WRITE | SealFlags::SHRINK).unwrap();
    assert!(empty.map_sealed().unwrap().is_empty());
}

#[test]
fn names_over_249_bytes_are_invalid() {
    let longest = "n".repeat(NAME_MAX_LEN);
    Memfd::new(&longest).unwrap();
    let e = expect_err(
        Memfd::new(format!("{longest}n")),
        "memfd_create",
        Errno::EINVAL,
        ErrorKind::InvalidArgument,
    )
    .unwrap();
    check(expect_hint(&e, "longer than 249 bytes"));
    let e = expect_err(
        memfd_create("nul\0byte", MemfdFlags::empty()),
        "memfd_create",
        Errno::EINVAL,
        ErrorKind::InvalidArgument,
    )
    .unwrap();
    check(expect_hint(&e, "NUL byte"));
}

#[test]
fn bad_flags_are_invalid() {
    let unknown = MemfdFlags::from_bits_retain(0x100);
    let e = expect_err(
        memfd_create("flags", unknown),
        "memfd_create",
        Errno::EINVAL,
        ErrorKind::InvalidArgument,
    )
    .unwrap();
    check(expect_hint(&e, "flags"));
    // A huge page size without HUGETLB.
    check(
        expect_err(
            memfd_create("flags", MemfdFlags::HUGE_2MB),
            "memfd_create",
            Errno::EINVAL,
            ErrorKind::InvalidArgument,
        )
        .map(drop),
    );
}

#[test]
fn exec_and_noexec_seal_conflict() {
    // Linux 6.3 added both flags; older kernels reject each of them.
    match memfd_create("noexec", MemfdFlags::NOEXEC_SEAL) {
        Ok(fd) => {
            // NOEXEC_SEAL implies ALLOW_SEALING, and seals the execute bits.
            assert!(seals(&fd).unwrap().contains(SealFlags::EXEC));
            check(
                expect_err(
                    memfd_create("both", MemfdFlags::NOEXEC_SEAL | MemfdFlags::EXEC),
                    "memfd_create",
                    Errno::EINVAL,
                    ErrorKind::InvalidArgument,
                )
                .map(drop),
            );
        }
        Err(e) if e.errno() == Errno::EINVAL => skip(
            "exec_and_noexec_seal_conflict",
            "the kernel predates MFD_NOEXEC_SEAL (Linux 6.3)",
        ),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn descriptors_are_close_on_exec() {
    let memfd = Memfd::with_flags("cloexec", MemfdFlags::empty()).unwrap();
    assert!(is_cloexec(&memfd));
    assert!(is_cloexec(
        &memfd_create("raw", MemfdFlags::ALLOW_SEALING).unwrap()
    ));
}

#[test]
fn seals_of_other_files_are_invalid() {
    // procfs files are never shmem (tmpfs files, like memfds, have seals).
    let file = std::fs::File::open("/proc/self/status").unwrap();
    let e = expect_err(
        seals(&file),
        "fcntl(F_GET_SEALS)",
        Errno::EINVAL,
        ErrorKind::InvalidArgument,
    )
    .unwrap();
    check(expect_hint(&e, "not a memfd"));
    // The write end: a read-only descriptor gets EPERM before its kind is looked at.
    let (_read, write) = rustix::pipe::pipe().unwrap();
    let e = expect_err(
        add_seals(&write, SealFlags::WRITE),
        "fcntl(F_ADD_SEALS)",
        Errno::EINVAL,
        ErrorKind::InvalidArgument,
    )
    .unwrap();
    check(expect_hint(&e, "not a memfd"));
}

#[test]
fn read_only_descriptors_cannot_add_seals() {
    let memfd = Memfd::new("read-only").unwrap();
    let path = format!("/proc/self/fd/{}", memfd.as_raw_fd());
    let read_only = std::fs::File::open(path).unwrap();
    let e = expect_err(
        add_seals(&read_only, SealFlags::WRITE),
        "fcntl(F_ADD_SEALS)",
        Errno::EPERM,
        ErrorKind::PermissionDenied,
    )
    .unwrap();
    check(expect_hint(&e, "read-only"));
    // Reading the seals needs no write access.
    assert_eq!(seals(&read_only).unwrap(), SealFlags::empty());
}

#[test]
fn exhausted_descriptors_are_reported() {
    expect_emfile(|| Memfd::new("emfile"), "memfd_create", "RLIMIT_NOFILE");
}
