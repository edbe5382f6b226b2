//! The defect: the upload loop sent each `CHUNK` with a send that waits for ever. Once a
//! master stops reading (overloaded, finished, or gone: ZeroMQ keeps a connecting
//! DEALER's queue for a reconnection), the queue fills to its high-water mark and the
//! slave hangs in that send: `give_up`, the stop flag and the watchdog are never looked
//! at again. `transfer_peer rust_client_to_python_master` hung so when the Python master
//! said `DONE` and exited while `FETCH`es were still queued ahead of the `DONE`.
//!
//! Each test runs `upload` in a thread and waits for it with a deadline, so the old code
//! fails here instead of hanging.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use piwheels_protocol::transfer::{ClientFrame, ServerFrame};
use piwheels_protocol::transport::{RawRouter, SocketOptions, zmq};
use piwheels_slave::StopFlag;
use piwheels_slave::transfer::{UploadError, upload};

/// Each FETCH asks for the whole file again: 25 × 4 MiB is far more than the kernel's
/// TCP buffers and the slave's queue (10 messages) hold, so a master that reads nothing
/// stalls the slave's sends whatever the timing.
const SIZE: usize = 4 << 20;
const FETCHES: usize = 25;

/// How long a test waits for `upload` to return before calling it hung.
const DEADLINE: Duration = Duration::from_secs(60);

/// A master that takes at most one message off the wire and then reads no more.
fn stalled_master(ctx: &zmq::Context) -> RawRouter {
    let options = SocketOptions::new().recv_hwm(1);
    RawRouter::bind(ctx, "tcp://127.0.0.1:*", &options).unwrap()
}

/// Starts `upload` of `path` to `endpoint` in a thread; its result comes on the channel.
fn start_upload(
    endpoint: String,
    path: &Path,
    give_up: Duration,
) -> mpsc::Receiver<Result<(), UploadError>> {
    let (tx, rx) = mpsc::channel();
    let path = path.to_owned();
    std::thread::spawn(move || {
        let ctx = zmq::Context::new();
        let result = upload(&ctx, &endpoint, 7, &path, give_up, &StopFlag::new());
        let _ = tx.send(result);
    });
    rx
}

/// Waits for the slave's HELLO, then sends it `FETCHES` FETCHes for the whole file.
fn hello_then_fetches(router: &mut RawRouter) -> piwheels_protocol::transport::Identity {
    let (peer, frames) = router
        .recv_timeout(Duration::from_secs(30))
        .expect("the slave's HELLO within 30 s");
    let frames = frames.unwrap();
    assert_eq!(
        ClientFrame::parse(&frames).unwrap(),
        ClientFrame::Hello { slave_id: 7 }
    );
    let fetch = ServerFrame::Fetch {
        offset: 0,
        length: SIZE as u64,
    };
    for _ in 0..FETCHES {
        router.send_to(&peer, fetch.frames()).unwrap();
    }
    peer
}

fn file(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("foo-1.0-py3-none-any.whl");
    std::fs::write(&path, vec![0x5a; SIZE]).unwrap();
    path
}

/// The master asks for chunks, says DONE and reads nothing more (as a master that has
/// finished does): the slave must get through the FETCHes it cannot answer to the DONE
/// behind them, not hang answering them.
#[test]
fn done_behind_fetches_a_finished_master_never_reads_ends_the_upload() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(dir.path());
    let ctx = zmq::Context::new();
    let mut router = stalled_master(&ctx);
    let done = start_upload(router.endpoint().unwrap(), &path, Duration::from_secs(600));
    let peer = hello_then_fetches(&mut router);
    router.send_to(&peer, ServerFrame::Done.frames()).unwrap();
    match done.recv_timeout(DEADLINE) {
        Ok(result) => result.expect("the upload ends at DONE"),
        Err(_) => panic!(
            "upload() did not return within {DEADLINE:?} of a DONE queued behind {FETCHES} \
             FETCHes: it is stuck sending a CHUNK the master never reads"
        ),
    }
    drop(router);
}

/// The master asks for chunks and goes away: the slave must give up after `give_up`, not
/// wait for ever to queue a CHUNK for it.
#[test]
fn a_master_that_goes_away_mid_transfer_is_given_up_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(dir.path());
    let give_up = Duration::from_secs(2);
    let ctx = zmq::Context::new();
    let mut router = stalled_master(&ctx);
    let done = start_upload(router.endpoint().unwrap(), &path, give_up);
    hello_then_fetches(&mut router);
    drop(router);
    drop(ctx);
    match done.recv_timeout(DEADLINE) {
        Ok(Err(UploadError::Silent(after))) => assert_eq!(after, give_up),
        Ok(other) => panic!("the upload to a master that went away ended with {other:?}"),
        Err(_) => panic!(
            "upload() did not return within {DEADLINE:?} of its master going away \
             (give_up {give_up:?}): it is stuck sending a CHUNK"
        ),
    }
}
