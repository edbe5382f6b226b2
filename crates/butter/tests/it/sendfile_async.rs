//! The tokio forms of sendfile and copy: readiness, EAGAIN, cancellation.

use std::io::{Seek, Write};
use std::time::{Duration, Instant};

use butter::sendfile::{copy_async, send_all_async, sendfile_async};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream, UnixStream};

/// How long any one wait may take before the test fails.
const LIMIT: Duration = Duration::from_secs(60);

/// Awaits `f` for at most [`LIMIT`]; fails, saying it waited for `what`, after that.
async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: not done within {LIMIT:?}"))
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 13 + i / 251) as u8).collect()
}

fn file_with(data: &[u8]) -> std::fs::File {
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(data).unwrap();
    f.rewind().unwrap();
    f
}

async fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    let (b, _) = l.accept().await.unwrap();
    (a, b)
}

/// Reads `n` bytes slowly, so that the sender meets a full socket again and again.
async fn slow_read(mut r: impl tokio::io::AsyncRead + Unpin, n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n);
    let mut buf = vec![0; 256 << 10];
    while v.len() < n {
        let k = r.read(&mut buf).await.unwrap();
        assert!(k > 0, "the sender hung up early");
        v.extend_from_slice(&buf[..k]);
        tokio::time::sleep(Duration::from_micros(300)).await;
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_all_waits_for_room_and_sends_everything() {
    let data = pattern(24 << 20);
    let file = file_with(&data);
    let (a, b) = tcp_pair().await;
    let reader = tokio::spawn(slow_read(b, data.len()));
    let mut off = 0;
    assert_eq!(
        within(
            "send_all_async",
            send_all_async(&a, &file, &mut off, u64::MAX)
        )
        .await
        .unwrap(),
        data.len() as u64
    );
    assert_eq!(off, data.len() as u64);
    assert_eq!(within("the reader", reader).await.unwrap(), data);
    // At the end: 0.
    assert_eq!(
        within(
            "sendfile_async at the end",
            sendfile_async(&a, &file, &mut off, 10)
        )
        .await
        .unwrap(),
        0
    );
}

#[tokio::test(flavor = "current_thread")]
async fn copy_async_through_a_unix_socket_on_one_thread() {
    let data = pattern(9 << 20);
    let file = file_with(&data);
    let (a, b) = UnixStream::pair().unwrap();
    let reader = tokio::spawn(slow_read(b, data.len() - 1000));
    let mut off = 1000;
    assert_eq!(
        within("copy_async", copy_async(&a, &file, &mut off, 1 << 40))
            .await
            .unwrap(),
        (data.len() - 1000) as u64
    );
    assert_eq!(within("the reader", reader).await.unwrap(), &data[1000..]);
    // Small ranges go by sendfile.
    let (c, mut d) = UnixStream::pair().unwrap();
    let mut off = 10;
    assert_eq!(
        within("copy_async", copy_async(&c, &file, &mut off, 20))
            .await
            .unwrap(),
        20
    );
    let mut got = [0; 20];
    within("20 bytes", d.read_exact(&mut got)).await.unwrap();
    assert_eq!(&got[..], &data[10..30]);
}

/// Cancelling at any await leaves the offset at exactly the bytes that reached the socket,
/// and a new call carries on from there: the receiver gets every byte once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_loses_nothing_and_repeats_nothing() {
    let data = pattern(16 << 20);
    let file = file_with(&data);
    for use_copy in [false, true] {
        let (a, b) = tcp_pair().await;
        let reader = tokio::spawn(slow_read(b, data.len()));
        let mut off = 0u64;
        let mut cancels = 0;
        let deadline = Instant::now() + LIMIT;
        while off < data.len() as u64 {
            assert!(
                Instant::now() < deadline,
                "{off} of {} bytes sent after {LIMIT:?}",
                data.len()
            );
            let left = data.len() as u64 - off;
            let step = async {
                if use_copy {
                    copy_async(&a, &file, &mut off, left).await
                } else {
                    send_all_async(&a, &file, &mut off, left).await
                }
            };
            match tokio::time::timeout(Duration::from_millis(3), step).await {
                Ok(result) => {
                    result.unwrap();
                }
                Err(_) => cancels += 1,
            }
        }
        assert!(
            cancels > 0,
            "the transfers were never cancelled: make the reader slower"
        );
        drop(a);
        assert_eq!(
            within("the reader", reader).await.unwrap(),
            data,
            "copy: {use_copy}, {cancels} cancels"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn errors_come_back_as_butter_errors() {
    let file = file_with(b"abc");
    let (a, b) = UnixStream::pair().unwrap();
    drop(b);
    let mut off = 0;
    let e = sendfile_async(&a, &file, &mut off, 3).await.unwrap_err();
    assert_eq!((e.call(), e.errno()), ("sendfile", butter::Errno::EPIPE));
    assert_eq!(off, 0);
    // Reading from a socket, at an offset: ESPIPE.
    let (c, _d) = UnixStream::pair().unwrap();
    let e = sendfile_async(&c, &c, &mut off, 3).await.unwrap_err();
    assert_eq!(e.errno(), butter::Errno::ESPIPE);
    assert!(e.to_string().contains("cannot seek"), "{e}");
}
