//! sendfile, send_all, sendfile_with, copy_file_range and copy against the real kernel.

use crate::common;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::thread;

use butter::pipe::Pipe;
use butter::sendfile::{
    MAX_PER_CALL, Method, copy, copy_file_range, copy_with, send_all, sendfile, sendfile_at,
    sendfile_with,
};
use butter::{Errno, ErrorKind};
use common::*;

fn file_with(data: &[u8]) -> File {
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(data).unwrap();
    f.rewind().unwrap();
    f
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 + i / 7) as u8).collect()
}

/// A connected TCP pair on loopback.
fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (b, _) = l.accept().unwrap();
    // A transfer that stalls fails the test instead of hanging it.
    for s in [&a, &b] {
        s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .unwrap();
        s.set_write_timeout(Some(std::time::Duration::from_secs(60)))
            .unwrap();
    }
    (a, b)
}

/// Reads everything until the end, on a thread.
fn drain<R: Read + Send + 'static>(mut r: R) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut v = Vec::new();
        r.read_to_end(&mut v).unwrap();
        v
    })
}

#[test]
fn an_offset_leaves_the_position_none_advances_it() {
    let file = file_with(b"0123456789");
    let (a, b) = UnixStream::pair().unwrap();
    assert_eq!(sendfile(&a, &file, Some(4), 3).unwrap(), 3);
    assert_eq!((&file).stream_position().unwrap(), 0);
    assert_eq!(sendfile(&a, &file, None, 2).unwrap(), 2);
    assert_eq!((&file).stream_position().unwrap(), 2);
    let mut off = 8;
    assert_eq!(sendfile_at(&a, &file, &mut off, 100).unwrap(), 2);
    assert_eq!(off, 10);
    drop(a);
    assert_eq!(drain(b).join().unwrap(), b"4560189");
}

#[test]
fn zero_at_the_end_past_it_and_for_nothing() {
    let file = file_with(b"0123456789");
    let (a, _b) = UnixStream::pair().unwrap();
    assert_eq!(sendfile(&a, &file, Some(10), 5).unwrap(), 0);
    assert_eq!(sendfile(&a, &file, Some(100), 5).unwrap(), 0);
    assert_eq!(sendfile(&a, &file, Some(0), 0).unwrap(), 0);
    let empty = file_with(b"");
    assert_eq!(sendfile(&a, &empty, None, 5).unwrap(), 0);
    let mut off = 0;
    assert_eq!(send_all(&a, &empty, Some(&mut off), 1000).unwrap(), 0);
}

#[test]
fn partial_sends_then_eagain_on_a_full_nonblocking_socket() {
    let data = pattern(4 << 20);
    let file = file_with(&data);
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let mut off = 0u64;
    let mut partial = false;
    loop {
        match sendfile(&a, &file, Some(off), 1 << 20) {
            Ok(n) => {
                partial |= n < 1 << 20;
                off += n as u64;
            }
            Err(e) => {
                assert_eq!(
                    (e.errno(), e.kind(), e.call()),
                    (Errno::EAGAIN, ErrorKind::WouldBlock, "sendfile")
                );
                break;
            }
        }
    }
    assert!(
        partial,
        "a full socket takes part of a send before refusing"
    );
    assert!(off > 0 && off < data.len() as u64);
    // send_all waits for room on a non-blocking socket and finishes the job.
    let reader = drain(b);
    let sent = send_all(&a, &file, Some(&mut off), data.len() as u64).unwrap();
    assert_eq!(off, data.len() as u64);
    assert!(sent > 0);
    drop(a);
    assert_eq!(reader.join().unwrap(), data);
}

#[test]
fn errors_keep_their_errno() {
    let file = file_with(b"0123456789");
    let (a, _b) = UnixStream::pair().unwrap();
    // Swapped: reading from a socket.
    let e = expect_err(
        sendfile(&file, &a, None, 5),
        "sendfile",
        Errno::EINVAL,
        ErrorKind::InvalidArgument,
    )
    .unwrap();
    check(expect_hint(&e, "regular file"));
    // A read-only output.
    let ro = File::open("/proc/self/status").unwrap();
    check(
        expect_err(
            sendfile(&ro, &file, None, 5),
            "sendfile",
            Errno::EBADF,
            ErrorKind::BadDescriptor,
        )
        .map(drop),
    );
    // Descriptors good for no I/O.
    check(
        expect_err(
            sendfile(path_fd(), &file, None, 5),
            "sendfile",
            Errno::EBADF,
            ErrorKind::BadDescriptor,
        )
        .map(drop),
    );
    check(
        expect_err(
            sendfile(&a, path_fd(), None, 5),
            "sendfile",
            Errno::EBADF,
            ErrorKind::BadDescriptor,
        )
        .map(drop),
    );
    // An offset beyond what loff_t holds.
    check(
        expect_err(
            sendfile(&a, &file, Some(u64::MAX), 5),
            "sendfile",
            Errno::EINVAL,
            ErrorKind::InvalidArgument,
        )
        .map(drop),
    );
    // A closed peer.
    let (c, d) = UnixStream::pair().unwrap();
    drop(d);
    check(
        expect_err(
            sendfile(&c, &file, None, 5),
            "sendfile",
            Errno::EPIPE,
            ErrorKind::Other,
        )
        .map(drop),
    );
}

#[test]
fn sendfile_to_a_file_and_a_pipe() {
    let data = pattern(100_000);
    let file = file_with(&data);
    let out = tempfile::tempfile().unwrap();
    let mut off = 0;
    assert_eq!(
        send_all(&out, &file, Some(&mut off), 1 << 40).unwrap(),
        100_000
    );
    let mut got = Vec::new();
    (&out).seek(SeekFrom::Start(0)).unwrap();
    (&out).read_to_end(&mut got).unwrap();
    assert_eq!(got, data);
    let p = Pipe::new().unwrap();
    assert_eq!(sendfile(&p.write, &file, Some(0), 1000).unwrap(), 1000);
}

#[test]
fn headers_and_trailers_go_around_the_file() {
    let file = file_with(b"BODY-BODY");
    // TCP (corked), a Unix socket (MSG_MORE), a file (plain writes).
    let (a, b) = tcp_pair();
    let reader = drain(b);
    let n = sendfile_with(
        &a,
        &file,
        Some(5),
        4,
        &[b"HEAD ", b"ER:"],
        &[b":TRAIL", b"ER"],
    )
    .unwrap();
    assert_eq!(n, 5 + 3 + 4 + 6 + 2);
    assert!(
        !rustix::net::sockopt::tcp_cork(&a).unwrap(),
        "uncorked afterwards"
    );
    drop(a);
    assert_eq!(reader.join().unwrap(), b"HEAD ER:BODY:TRAILER");

    let (c, d) = UnixStream::pair().unwrap();
    assert_eq!(
        sendfile_with(&c, &file, None, 100, &[b"<"], &[b">"]).unwrap(),
        11
    );
    assert_eq!((&file).stream_position().unwrap(), 9);
    drop(c);
    assert_eq!(drain(d).join().unwrap(), b"<BODY-BODY>");

    let out = tempfile::tempfile().unwrap();
    assert_eq!(
        sendfile_with(&out, &file, Some(0), 4, &[b"["], &[b"]"]).unwrap(),
        6
    );
    let mut got = String::new();
    (&out).seek(SeekFrom::Start(0)).unwrap();
    (&out).read_to_string(&mut got).unwrap();
    assert_eq!(got, "[BODY]");
}

#[test]
fn headers_on_a_full_nonblocking_socket_count_what_went() {
    let (a, _b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let file = file_with(&pattern(8 << 20));
    let big = vec![1u8; 4 << 20];
    let n = sendfile_with(&a, &file, Some(0), 8 << 20, &[&big], &[b"t"]).unwrap();
    assert!(n > 0 && n < (4 << 20) + (8 << 20) + 1, "{n}");
    // Full now: nothing more goes, and that is EAGAIN.
    check(
        expect_err(
            sendfile_with(&a, &file, Some(0), 10, &[b"h"], &[]),
            "send",
            Errno::EAGAIN,
            ErrorKind::WouldBlock,
        )
        .map(drop),
    );
}

#[test]
fn copy_file_range_with_offsets() {
    let data = pattern(200_000);
    let src = file_with(&data);
    let dst = tempfile::tempfile().unwrap();
    let (mut i, mut o) = (50_000, 10);
    assert_eq!(
        copy_file_range(&src, Some(&mut i), &dst, Some(&mut o), 100_000).unwrap(),
        100_000
    );
    assert_eq!((i, o), (150_000, 100_010));
    assert_eq!((&src).stream_position().unwrap(), 0);
    let mut got = vec![0; 100_000];
    (&dst).seek(SeekFrom::Start(10)).unwrap();
    (&dst).read_exact(&mut got).unwrap();
    assert_eq!(got, &data[50_000..150_000]);
    let mut i = 500_000;
    assert_eq!(
        copy_file_range(&src, Some(&mut i), &dst, None, 10).unwrap(),
        0
    );
    // Not files: EINVAL (or EBADF for the wrong access).
    let (a, _b) = UnixStream::pair().unwrap();
    let e = copy_file_range(&src, None, &a, None, 10).unwrap_err();
    assert!(matches!(e.errno(), Errno::EINVAL | Errno::EBADF), "{e}");
    let ro = File::open("/proc/self/status").unwrap();
    check(
        expect_err(
            copy_file_range(&src, None, &ro, None, 10),
            "copy_file_range",
            Errno::EBADF,
            ErrorKind::BadDescriptor,
        )
        .map(drop),
    );
}

/// Every method and the automatic choice give the same bytes to every kind of output.
#[test]
fn copy_gives_the_same_result_every_way() {
    let data = pattern(3_000_000 + 17);
    let file = file_with(&data);
    for method in [
        Method::Auto,
        Method::Sendfile,
        Method::Splice,
        Method::CopyFileRange,
        Method::ReadWrite,
    ] {
        for (start, len) in [
            (0u64, data.len() as u64),
            (1234, 1000),
            (2_999_000, 1 << 30),
            (5, 0),
        ] {
            let end = (start + len).min(data.len() as u64);
            let want = &data[start as usize..end as usize];
            // TCP
            let (a, b) = tcp_pair();
            let reader = drain(b);
            let mut off = start;
            assert_eq!(
                copy_with(method, false, &a, &file, &mut off, len).unwrap(),
                want.len() as u64,
                "{method:?} tcp"
            );
            assert_eq!(off, end);
            drop(a);
            assert_eq!(reader.join().unwrap(), want, "{method:?} tcp {start}+{len}");
            // A pipe
            let p = Pipe::new().unwrap();
            let reader = drain(File::from(p.read));
            let mut off = start;
            copy_with(method, false, &p.write, &file, &mut off, len).unwrap();
            drop(p.write);
            assert_eq!(reader.join().unwrap(), want, "{method:?} pipe");
            // A file, written at its position
            let out = file_with(b"xy");
            (&out).seek(SeekFrom::End(0)).unwrap();
            let mut off = start;
            copy_with(method, false, &out, &file, &mut off, len).unwrap();
            let mut got = Vec::new();
            (&out).seek(SeekFrom::Start(0)).unwrap();
            (&out).read_to_end(&mut got).unwrap();
            assert_eq!(&got[..2], b"xy");
            assert_eq!(&got[2..], want, "{method:?} file");
        }
    }
    assert_eq!((&file).stream_position().unwrap(), 0);
    // /dev/null takes anything.
    let null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .unwrap();
    let mut off = 0;
    assert_eq!(
        copy(&null, &file, &mut off, 1 << 40).unwrap(),
        data.len() as u64
    );
}

#[test]
fn copy_waits_on_a_nonblocking_socket() {
    let data = pattern(20 << 20);
    let file = file_with(&data);
    let (a, b) = tcp_pair();
    a.set_nonblocking(true).unwrap();
    let reader = thread::spawn(move || {
        // A slow reader: the socket fills up again and again.
        let mut b = b;
        let mut v = Vec::new();
        let mut buf = vec![0; 64 << 10];
        loop {
            let n = b.read(&mut buf).unwrap();
            if n == 0 {
                return v;
            }
            v.extend_from_slice(&buf[..n]);
            thread::sleep(std::time::Duration::from_micros(200));
        }
    });
    let mut off = 0;
    assert_eq!(
        copy(&a, &file, &mut off, data.len() as u64).unwrap(),
        data.len() as u64
    );
    drop(a);
    assert_eq!(reader.join().unwrap(), data);
}

#[test]
fn copy_falls_back_across_file_systems() {
    // /dev/shm (tmpfs) to the temporary directory's file system: copy_file_range may give
    // EXDEV, and copy then takes another path with the same result.
    let data = pattern(1_000_000);
    let mut src = tempfile::tempfile_in("/dev/shm").unwrap();
    src.write_all(&data).unwrap();
    let dst = tempfile::tempfile_in(std::env::temp_dir()).unwrap();
    let mut off = 0;
    assert_eq!(
        copy(&dst, &src, &mut off, 1 << 30).unwrap(),
        data.len() as u64
    );
    let mut got = Vec::new();
    (&dst).seek(SeekFrom::Start(0)).unwrap();
    (&dst).read_to_end(&mut got).unwrap();
    assert_eq!(got, data);
}

#[test]
fn copy_to_a_closed_peer_fails_and_says_how_far_it_got() {
    let file = file_with(&pattern(8 << 20));
    let (a, b) = UnixStream::pair().unwrap();
    let reader = thread::spawn(move || {
        let mut b = b;
        let mut buf = vec![0; 100_000];
        b.read_exact(&mut buf).unwrap();
        // and hang up
    });
    let mut off = 0;
    let e = copy(&a, &file, &mut off, 8 << 20).unwrap_err();
    assert!(matches!(e.errno(), Errno::EPIPE | Errno::ECONNRESET), "{e}");
    reader.join().unwrap();
    assert!((100_000..8 << 20).contains(&off), "{off}");
    // The thread's pipe was not kept with bytes in it: the next copy is right.
    let (c, d) = UnixStream::pair().unwrap();
    let reader = drain(d);
    let mut off = 0;
    let small = file_with(b"fresh start, nothing left over");
    copy_with(Method::Splice, false, &c, &small, &mut off, 1000).unwrap();
    drop(c);
    assert_eq!(reader.join().unwrap(), b"fresh start, nothing left over");
}

/// A 5 GB sparse file through loopback: offsets past 4 GiB and the per-call cap.
#[test]
fn five_gigabytes_of_sparse_file_through_loopback() {
    const SIZE: u64 = 5_000_000_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sparse");
    let file = File::create(&path).unwrap();
    file.set_len(SIZE).unwrap();
    // 8-byte marks that do not cross a MiB boundary (the reader reads whole MiBs).
    let marks = [0u64, (1 << 32) - 8, (1 << 32) + 8, SIZE - 8];
    for m in marks {
        file.write_at_all(&m.to_le_bytes(), m);
    }
    let file = File::open(&path).unwrap();
    for method in ["send_all", "copy"] {
        let (a, b) = tcp_pair();
        let checker = thread::spawn(move || {
            let mut b = b;
            let mut buf = vec![0u8; 1 << 20];
            let mut pos = 0u64;
            let mut found = Vec::new();
            while pos < SIZE {
                let n = (SIZE - pos).min(1 << 20) as usize;
                b.read_exact(&mut buf[..n]).unwrap();
                for m in marks.iter().filter(|&&m| m >= pos && m < pos + n as u64) {
                    let at = (m - pos) as usize;
                    found.push((*m, u64::from_le_bytes(buf[at..at + 8].try_into().unwrap())));
                }
                pos += n as u64;
            }
            let extra = b.read(&mut buf).unwrap();
            (pos + extra as u64, found)
        });
        let mut off = 0;
        let sent = match method {
            "send_all" => send_all(&a, &file, Some(&mut off), SIZE).unwrap(),
            _ => copy(&a, &file, &mut off, SIZE).unwrap(),
        };
        assert_eq!((sent, off), (SIZE, SIZE), "{method}");
        drop(a);
        let (received, found) = checker.join().unwrap();
        assert_eq!(received, SIZE, "{method}");
        assert_eq!(
            found,
            marks.iter().map(|&m| (m, m)).collect::<Vec<_>>(),
            "{method}"
        );
    }
    assert!(SIZE > MAX_PER_CALL as u64 * 2);
}

trait WriteAt {
    fn write_at_all(&self, data: &[u8], at: u64);
}

impl WriteAt for File {
    fn write_at_all(&self, data: &[u8], at: u64) {
        std::os::unix::fs::FileExt::write_all_at(self, data, at).unwrap();
    }
}

#[test]
fn the_descriptors_are_borrowed_not_taken() {
    let file = file_with(b"abc");
    let (a, _b) = UnixStream::pair().unwrap();
    sendfile(a.as_fd(), file.as_fd(), None, 3).unwrap();
    sendfile(&a, &file, Some(0), 3).unwrap();
}

#[test]
fn a_copier_streams_a_file_in_pieces() {
    let data = pattern(5_000_000);
    let file = file_with(&data);
    let (a, b) = tcp_pair();
    let reader = drain(b);
    let to = butter::sendfile::Copier::new(&a);
    let mut off = 0;
    for piece in [1000u64, 70_000, 1 << 20, 4 << 20] {
        let n = if off + piece < data.len() as u64 {
            to.copy_more(&file, &mut off, piece).unwrap()
        } else {
            to.copy(&file, &mut off, piece).unwrap()
        };
        assert!(n > 0);
    }
    assert_eq!(off, data.len() as u64);
    assert_eq!(to.copy(&file, &mut off, 10).unwrap(), 0);
    drop(a);
    assert_eq!(reader.join().unwrap(), data);
}
