//! splice, tee, vmsplice, PageWriter and pipe sizes against the real kernel.

use crate::common;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, OwnedFd};

use butter::pipe::{
    PIPE_BUF, PageBuf, PageWriter, Pipe, PipeFlags, SpliceFlags, page_size, pipe_size, pipe_with,
    set_pipe_size, splice, tee, vmsplice,
};
use butter::{Errno, ErrorKind};
use common::*;

fn file_with(data: &[u8]) -> File {
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(data).unwrap();
    f.rewind().unwrap();
    f
}

fn read_n(fd: OwnedFd, n: usize) -> Vec<u8> {
    let mut f = File::from(fd);
    let mut buf = vec![0; n];
    f.read_exact(&mut buf).unwrap();
    buf
}

fn queued(fd: impl AsFd) -> u64 {
    rustix::io::ioctl_fionread(fd).unwrap()
}

#[test]
fn pipes_are_close_on_exec() {
    let p = Pipe::new().unwrap();
    assert!(is_cloexec(&p.read) && is_cloexec(&p.write));
    assert!(!butter::is_nonblocking(p.read.as_fd()).unwrap());
    let (r, w) = pipe_with(PipeFlags::NONBLOCK).unwrap();
    assert!(is_cloexec(&r) && butter::is_nonblocking(w.as_fd()).unwrap());
}

#[test]
fn splice_with_an_offset_leaves_the_file_position() {
    let file = file_with(b"0123456789");
    let p = Pipe::new().unwrap();
    let mut off = 3;
    assert_eq!(
        splice(
            &file,
            Some(&mut off),
            &p.write,
            None,
            4,
            SpliceFlags::empty()
        )
        .unwrap(),
        4
    );
    assert_eq!(off, 7);
    assert_eq!((&file).stream_position().unwrap(), 0);
    // Without an offset: from the position, which advances.
    assert_eq!(
        splice(
            &file,
            None,
            &p.write,
            None,
            2,
            SpliceFlags::MOVE | SpliceFlags::MORE
        )
        .unwrap(),
        2
    );
    assert_eq!((&file).stream_position().unwrap(), 2);
    assert_eq!(read_n(p.read, 6), b"345601");
}

#[test]
fn splice_into_a_file_at_an_offset() {
    let out = file_with(b"..........");
    let p = Pipe::new().unwrap();
    (&File::from(p.write.try_clone().unwrap()))
        .write_all(b"abc")
        .unwrap();
    let mut off = 4;
    assert_eq!(
        splice(&p.read, None, &out, Some(&mut off), 3, SpliceFlags::empty()).unwrap(),
        3
    );
    assert_eq!(off, 7);
    let mut got = String::new();
    (&out).seek(SeekFrom::Start(0)).unwrap();
    (&out).read_to_string(&mut got).unwrap();
    assert_eq!(got, "....abc...");
}

#[test]
fn splice_at_or_past_the_end_gives_zero() {
    let file = file_with(b"abc");
    let p = Pipe::new().unwrap();
    let mut off = 3;
    assert_eq!(
        splice(
            &file,
            Some(&mut off),
            &p.write,
            None,
            10,
            SpliceFlags::empty()
        )
        .unwrap(),
        0
    );
    let mut off = 1_000_000;
    assert_eq!(
        splice(
            &file,
            Some(&mut off),
            &p.write,
            None,
            10,
            SpliceFlags::empty()
        )
        .unwrap(),
        0
    );
    let empty = file_with(b"");
    assert_eq!(
        splice(&empty, None, &p.write, None, 10, SpliceFlags::empty()).unwrap(),
        0
    );
    // A pipe with no writers left and nothing in it is at its end too.
    let q = Pipe::new().unwrap();
    drop(q.write);
    assert_eq!(
        splice(&q.read, None, &p.write, None, 10, SpliceFlags::empty()).unwrap(),
        0
    );
}

#[test]
fn splice_errors_keep_their_errno() {
    let file = file_with(b"abcdef");
    let p = Pipe::new().unwrap();
    // An offset for the pipe side.
    let mut off = 0;
    let e = expect_err(
        splice(
            &file,
            None,
            &p.write,
            Some(&mut off),
            3,
            SpliceFlags::empty(),
        ),
        "splice",
        Errno::ESPIPE,
        ErrorKind::Other,
    )
    .unwrap();
    check(expect_hint(&e, "offset was given for a pipe"));
    // Neither side a pipe.
    let other = tempfile::tempfile().unwrap();
    let e = expect_err(
        splice(&file, None, &other, None, 3, SpliceFlags::empty()),
        "splice",
        Errno::EINVAL,
        ErrorKind::InvalidArgument,
    )
    .unwrap();
    check(expect_hint(&e, "neither descriptor is a pipe"));
    // A descriptor good for no I/O.
    check(
        expect_err(
            splice(path_fd(), None, &p.write, None, 3, SpliceFlags::empty()),
            "splice",
            Errno::EBADF,
            ErrorKind::BadDescriptor,
        )
        .map(drop),
    );
    // The wrong end of the pipe.
    check(
        expect_err(
            splice(&file, None, &p.read, None, 3, SpliceFlags::empty()),
            "splice",
            Errno::EBADF,
            ErrorKind::BadDescriptor,
        )
        .map(drop),
    );
}

#[test]
fn nonblocking_splice_on_an_empty_or_full_pipe() {
    let p = Pipe::new().unwrap();
    let out = tempfile::tempfile().unwrap();
    check(
        expect_err(
            splice(&p.read, None, &out, None, 10, SpliceFlags::NONBLOCK),
            "splice",
            Errno::EAGAIN,
            ErrorKind::WouldBlock,
        )
        .map(drop),
    );
    // Fill the pipe, then splicing more into it would block.
    let cap = p.size().unwrap();
    let big = file_with(&vec![1u8; cap + 4096]);
    let mut off = 0;
    let mut moved = 0;
    loop {
        match splice(
            &big,
            Some(&mut off),
            &p.write,
            None,
            cap,
            SpliceFlags::NONBLOCK,
        ) {
            Ok(n) => moved += n,
            Err(e) => {
                assert_eq!(e.errno(), Errno::EAGAIN, "{e}");
                break;
            }
        }
    }
    assert_eq!(moved, cap, "a pipe takes its capacity");
    assert_eq!(queued(&p.read), cap as u64);
}

#[test]
fn one_splice_moves_at_most_the_pipe_s_capacity() {
    let data: Vec<u8> = (0..1_000_000u32).map(|i| i as u8).collect();
    let file = file_with(&data);
    let p = Pipe::new().unwrap();
    assert_eq!(p.size().unwrap(), 65536);
    let mut off = 0;
    assert_eq!(
        splice(
            &file,
            Some(&mut off),
            &p.write,
            None,
            1 << 20,
            SpliceFlags::empty()
        )
        .unwrap(),
        65536
    );
    let q = Pipe::new().unwrap();
    assert_eq!(q.set_size(1 << 20).unwrap(), 1 << 20);
    assert_eq!(pipe_size(&q.read).unwrap(), 1 << 20);
    let mut off = 0;
    assert_eq!(
        splice(
            &file,
            Some(&mut off),
            &q.write,
            None,
            1 << 20,
            SpliceFlags::empty()
        )
        .unwrap(),
        1_000_000
    );
    assert_eq!(read_n(q.read, 1_000_000), data);
}

#[test]
fn pipe_sizes_round_up_and_refuse_what_they_must() {
    let p = Pipe::new().unwrap();
    // Rounded up to a power-of-two number of pages.
    assert_eq!(p.set_size(100_000).unwrap(), 131072);
    // Not below the data held.
    (&File::from(p.write.try_clone().unwrap()))
        .write_all(&vec![0u8; 70_000])
        .unwrap();
    let e = expect_err(
        set_pipe_size(&p.write, 4096),
        "fcntl(F_SETPIPE_SZ)",
        Errno::EBUSY,
        ErrorKind::Other,
    )
    .unwrap();
    check(expect_hint(&e, "holds more data"));
    check(
        expect_err(
            pipe_size(tempfile::tempfile().unwrap()),
            "fcntl(F_GETPIPE_SZ)",
            Errno::EBADF,
            ErrorKind::BadDescriptor,
        )
        .map(drop),
    );
    // Above pipe-max-size without CAP_SYS_RESOURCE.
    if !is_root() {
        skip(
            "pipe_sizes_round_up_and_refuse_what_they_must (EPERM part)",
            "needs root to drop CAP_SYS_RESOURCE in a child",
        );
        return;
    }
    check(in_child(|| {
        drop_capability(rustix::thread::CapabilitySet::SYS_RESOURCE)?;
        let p = Pipe::new().map_err(|e| e.to_string())?;
        let max: usize = std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let e = expect_err(
            p.set_size(max * 2),
            "fcntl(F_SETPIPE_SZ)",
            Errno::EPERM,
            ErrorKind::PermissionDenied,
        )?;
        expect_hint(&e, "pipe-max-size")
    }));
}

#[test]
fn tee_copies_without_consuming() {
    let a = Pipe::new().unwrap();
    let b = Pipe::new().unwrap();
    (&File::from(a.write.try_clone().unwrap()))
        .write_all(b"hello")
        .unwrap();
    assert_eq!(
        tee(&a.read, &b.write, 100, SpliceFlags::empty()).unwrap(),
        5
    );
    assert_eq!(queued(&a.read), 5);
    assert_eq!(read_n(b.read, 5), b"hello");
    assert_eq!(read_n(a.read.try_clone().unwrap(), 5), b"hello");
    // The same pipe, or a file: EINVAL.
    let e = expect_err(
        tee(&a.read, &a.write, 5, SpliceFlags::empty()),
        "tee",
        Errno::EINVAL,
        ErrorKind::InvalidArgument,
    )
    .unwrap();
    check(expect_hint(&e, "different ones"));
    check(
        expect_err(
            tee(
                tempfile::tempfile().unwrap(),
                &a.write,
                5,
                SpliceFlags::empty(),
            ),
            "tee",
            Errno::EINVAL,
            ErrorKind::InvalidArgument,
        )
        .map(drop),
    );
    // Nothing in a pipe without writers: 0.
    let c = Pipe::new().unwrap();
    drop(c.write);
    let d = Pipe::new().unwrap();
    assert_eq!(tee(&c.read, &d.write, 5, SpliceFlags::NONBLOCK).unwrap(), 0);
}

#[test]
fn vmsplice_copies_so_the_caller_may_reuse_its_memory() {
    let p = Pipe::new().unwrap();
    let mut buf = *b"abc";
    assert_eq!(
        vmsplice(&p.write, &[&buf, b"def"], SpliceFlags::GIFT).unwrap(),
        6
    );
    buf.copy_from_slice(b"XYZ");
    assert_eq!(
        read_n(p.read, 6),
        b"abcdef",
        "what was in the buffer when it was put in"
    );
}

#[test]
fn vmsplice_without_waiting() {
    let p = Pipe::new().unwrap();
    let cap = p.size().unwrap();
    // Partial: at most PIPE_BUF bytes per call when it must not wait on a blocking pipe.
    let data = vec![9u8; 3 * PIPE_BUF];
    let n = vmsplice(&p.write, &[&data], SpliceFlags::NONBLOCK).unwrap();
    assert_eq!(n, PIPE_BUF);
    let mut total = n;
    loop {
        match vmsplice(&p.write, &[&data], SpliceFlags::NONBLOCK) {
            Ok(n) => total += n,
            Err(e) => {
                assert_eq!((e.call(), e.errno()), ("vmsplice", Errno::EAGAIN));
                break;
            }
        }
    }
    assert_eq!(total, cap);
    // A non-blocking pipe takes what fits in one call.
    let (r, w) = pipe_with(PipeFlags::NONBLOCK).unwrap();
    assert_eq!(
        vmsplice(&w, &[&vec![1u8; 200_000]], SpliceFlags::empty()).unwrap(),
        cap
    );
    drop(r);
}

#[test]
fn vmsplice_needs_a_pipe_s_write_end() {
    let p = Pipe::new().unwrap();
    check(
        expect_err(
            vmsplice(&p.read, &[b"x"], SpliceFlags::empty()),
            "vmsplice",
            Errno::EBADF,
            ErrorKind::BadDescriptor,
        )
        .map(drop),
    );
    let e = expect_err(
        vmsplice(tempfile::tempfile().unwrap(), &[b"x"], SpliceFlags::empty()),
        "vmsplice",
        Errno::EBADF,
        ErrorKind::BadDescriptor,
    )
    .unwrap();
    check(expect_hint(&e, "not a pipe"));
}

#[test]
fn page_writer_sends_by_reference_and_frees_what_was_drained() {
    let p = Pipe::new().unwrap();
    p.set_size(1 << 20).unwrap();
    let mut w = PageWriter::new(p.write).unwrap();
    let page = page_size();
    // Whole pages (sent with GIFT) and a ragged tail.
    let mut a = PageBuf::with_capacity(2 * page).unwrap();
    assert_eq!(a.capacity(), 2 * page);
    a.set_len(2 * page);
    a.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
    let expect_a: Vec<u8> = a.to_vec();
    w.send(a).unwrap();
    w.send(PageBuf::from_slice(b"tail").unwrap()).unwrap();
    w.send(PageBuf::with_capacity(0).unwrap()).unwrap();
    assert_eq!(w.buffers_held(), 2);
    assert_eq!(w.in_flight().unwrap(), (2 * page + 4) as u64);
    let mut r = File::from(p.read);
    let mut got = vec![0; 2 * page];
    r.read_exact(&mut got).unwrap();
    assert_eq!(got, expect_a);
    // The first buffer is drained: freed. The second is still in the pipe.
    assert_eq!(w.in_flight().unwrap(), 4);
    assert_eq!(w.buffers_held(), 1);
    let mut tail = [0; 4];
    r.read_exact(&mut tail).unwrap();
    assert_eq!(&tail, b"tail");
    assert_eq!(w.in_flight().unwrap(), 0);
    assert_eq!(w.buffers_held(), 0);
}

#[test]
fn page_writer_on_a_nonblocking_pipe_keeps_the_rest_for_flush() {
    let (r, wfd) = pipe_with(PipeFlags::NONBLOCK).unwrap();
    let cap = pipe_size(&r).unwrap();
    let mut w = PageWriter::new(wfd).unwrap();
    let data: Vec<u8> = (0..cap + 10_000).map(|i| (i * 7) as u8).collect();
    w.send(PageBuf::from_slice(&data).unwrap()).unwrap();
    assert_eq!(w.pending(), 10_000);
    check(expect_err(w.flush(), "vmsplice", Errno::EAGAIN, ErrorKind::WouldBlock).map(drop));
    // A new buffer is refused while one waits, and given back.
    let (e, back) = w
        .try_send(PageBuf::from_slice(b"later").unwrap())
        .unwrap_err();
    assert!(e.is_would_block());
    assert_eq!(&back.unwrap()[..], b"later");
    let mut r = File::from(r);
    let mut got = vec![0; cap];
    r.read_exact(&mut got).unwrap();
    w.wait_writable().unwrap();
    w.flush().unwrap();
    assert_eq!(w.pending(), 0);
    let mut rest = vec![0; 10_000];
    r.read_exact(&mut rest).unwrap();
    got.extend(rest);
    assert_eq!(got, data);
}

#[test]
fn page_writer_needs_a_pipe() {
    let e = PageWriter::new(OwnedFd::from(tempfile::tempfile().unwrap())).unwrap_err();
    assert_eq!(e.errno(), Errno::EBADF);
}
