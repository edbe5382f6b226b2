//! Issue 14, item 6: garbage frames flooded the log. 100,000 garbage frames wrote 1.07
//! million warning lines (682 MB) in 2.5 minutes, and one line held 100,151 characters.
//!
//! The whole master runs on real sockets with a real database; each of its external
//! sockets that takes input (slave queue, file queue, import queue, control) gets
//! [`FRAMES`] garbage messages: random bytes, 100 KB frames, valid CBOR of the wrong shape
//! (long unknown names, long map keys, long datetime strings, deep nesting), wrong frame
//! counts. The log (INFO and above, as in production) must stay bounded: a few lines per
//! peer, none longer than [`MAX_LINE`]. Then every socket must still serve a real request.

use crate::core_support;
use crate::log_capture;

use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use core_support::*;
use log_capture::LogCapture;
use piwheels_master::master::Master;
use piwheels_protocol::Message;
use piwheels_protocol::cbor::Encoder;
use piwheels_protocol::import::{AddPackage, ImportReply, ImportRequest};
use piwheels_protocol::monitor::{ControlMessage, StatusMessage};
use piwheels_protocol::slave::{SlaveHello, SlaveReply, SlaveRequest, SlaveStats};
use piwheels_protocol::transfer::{ServerFrame, chunk_frames, hello_frames};
use piwheels_protocol::transport::zmq;

/// Garbage messages sent to each socket.
const FRAMES: usize = 100_000;
/// The longest log line allowed.
const MAX_LINE: usize = 1024;
/// How long any one wait may take.
const WAIT: Duration = Duration::from_secs(120);
/// The file-transfer slave id of the real transfer after the flood.
const REAL_SLAVE: u64 = 987_654_321;

/// Pseudo-random numbers (xorshift), the same every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> usize {
        (self.next() % n) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }

    fn letters(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| (b'A' + (self.next() % 26) as u8) as char)
            .collect()
    }
}

fn cbor(build: impl FnOnce(&mut Encoder<'_>)) -> Vec<u8> {
    let mut out = Vec::new();
    build(&mut Encoder::new(&mut out));
    out
}

/// One CBOR payload that is garbage for a socket whose messages include `known` (a name
/// that takes data).
fn garbage_payload(rng: &mut Rng, i: usize, known: &str) -> Vec<u8> {
    if i % 100 == 99 {
        // A frame of about 100 KB: half raw bytes, half one huge unknown name.
        return if i % 200 == 99 {
            rng.bytes(100_000)
        } else {
            let name = rng.letters(100_000);
            cbor(|e| {
                e.array(2);
                e.text(&name);
                e.null();
            })
        };
    }
    match i % 9 {
        0 => {
            let len = 1 + rng.below(64);
            rng.bytes(len)
        }
        1 => {
            let len = 64 + rng.below(2000);
            rng.bytes(len)
        }
        2 => {
            let name = {
                let n = 50 + rng.below(5000);
                rng.letters(n)
            };
            cbor(|e| {
                e.array(2);
                e.text(&name);
                e.int(1);
            })
        }
        3 => cbor(|e| {
            e.array(2);
            e.text(known);
            e.int(1);
        }),
        4 => {
            let key = {
                let n = 1000 + rng.below(4000);
                rng.letters(n)
            };
            cbor(|e| {
                e.array(2);
                e.text(known);
                e.map(1);
                e.text(&key);
                e.int(1);
            })
        }
        5 => {
            let text = {
                let n = 1000 + rng.below(4000);
                rng.letters(n)
            };
            cbor(|e| {
                e.array(2);
                e.text(known);
                e.array(1);
                e.tag(0);
                e.text(&text);
            })
        }
        6 => {
            let name = {
                let n = 100 + rng.below(3000);
                rng.letters(n)
            };
            cbor(|e| e.text(&name))
        }
        7 => {
            // Nested past the decoder's depth limit.
            let mut out = vec![0x82, 0x64, b'I', b'D', b'L', b'E'];
            out.extend(std::iter::repeat_n(0x81, 100));
            out.push(0x01);
            out
        }
        _ => {
            let name = {
                let n = 20 + rng.below(200);
                rng.letters(n)
            };
            cbor(|e| {
                e.array(3);
                e.text(&name);
                e.null();
                e.null();
            })
        }
    }
}

/// Garbage for a socket whose peers send `["", payload]` (REQ envelopes); never a valid
/// message of `M` (which could change the master's state).
fn req_garbage<M: Message>(rng: &mut Rng, i: usize, known: &str) -> Vec<Vec<u8>> {
    let mut payload = garbage_payload(rng, i, known);
    if M::decode(&payload).is_ok() {
        payload = vec![0xff];
    }
    match i % 13 {
        11 => vec![payload],
        12 => vec![Vec::new(), payload, b"extra".to_vec()],
        _ => vec![Vec::new(), payload],
    }
}

/// Garbage for the control PULL socket (one frame per message), never a valid message.
fn control_garbage(rng: &mut Rng, i: usize) -> Vec<Vec<u8>> {
    let mut payload = garbage_payload(rng, i, "KILL");
    if ControlMessage::decode(&payload).is_ok() {
        payload = vec![0xff];
    }
    match i % 13 {
        12 => vec![payload.clone(), payload],
        _ => vec![payload],
    }
}

/// Garbage for the file-transfer ROUTER (raw frames).
fn file_garbage(rng: &mut Rng, i: usize) -> Vec<Vec<u8>> {
    if i % 100 == 99 {
        return vec![rng.bytes(100_000)];
    }
    match i % 9 {
        0 => {
            let len = 1 + rng.below(64);
            vec![rng.bytes(len)]
        }
        1 => {
            let len = 1 + rng.below(3000);
            vec![b"HELLO".to_vec(), rng.bytes(len)]
        }
        2 => vec![b"HELLO".to_vec()],
        3 => {
            let len = 1 + rng.below(3000);
            vec![b"CHUNK".to_vec(), rng.bytes(len), b"data".to_vec()]
        }
        4 => vec![b"CHUNK".to_vec(), b"5".to_vec(), rng.bytes(100)],
        5 => vec![
            b"HELLO".to_vec(),
            (rng.below(1000) + 1).to_string().into_bytes(),
        ],
        6 => {
            let len = 100 + rng.below(5000);
            vec![rng.letters(len).into_bytes()]
        }
        7 => vec![
            b"HELLO".to_vec(),
            b"1".to_vec(),
            b"2".to_vec(),
            b"3".to_vec(),
        ],
        _ => {
            let len = 1 + rng.below(3000);
            vec![b"FETCH".to_vec(), rng.bytes(len), b"1".to_vec()]
        }
    }
}

fn socket(ctx: &zmq::Context, kind: zmq::SocketType, endpoint: &str) -> zmq::Socket {
    let s = ctx.socket(kind).unwrap();
    s.set_linger(0).unwrap();
    s.set_sndtimeo(WAIT.as_millis() as i32).unwrap();
    s.set_rcvtimeo(WAIT.as_millis() as i32).unwrap();
    s.connect(endpoint).unwrap();
    s
}

fn send(s: &zmq::Socket, frames: &[Vec<u8>], what: &str) {
    s.send_multipart(frames, 0)
        .unwrap_or_else(|e| panic!("{what}: sending failed: {e}"));
}

fn recv(s: &zmq::Socket, what: &str) -> Vec<Vec<u8>> {
    s.recv_multipart(0)
        .unwrap_or_else(|e| panic!("{what}: no reply within {WAIT:?}: {e}"))
}

/// A REQ-style request on a DEALER.
fn request(msg: &impl Message) -> Vec<Vec<u8>> {
    vec![Vec::new(), msg.encode().unwrap()]
}

fn slave_hello(label: String) -> SlaveRequest {
    SlaveRequest::Hello(SlaveHello {
        build_timeout: TimeDelta::hours(3),
        busy_timeout: TimeDelta::minutes(5),
        py_version: "311".into(),
        abi: "cp311".into(),
        platform: "linux_x86_64".into(),
        label,
        os_name: "Linux".into(),
        os_version: "1".into(),
        board_revision: "unknown".into(),
        board_serial: "unknown".into(),
    })
}

fn slave_reply(frames: &[Vec<u8>], what: &str) -> SlaveReply {
    assert_eq!(frames.len(), 2, "{what}: {} frames", frames.len());
    SlaveReply::decode(&frames[1]).unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Checks one reply of the master (its frames).
type CheckReply = dyn Fn(&[Vec<u8>]);

/// Sends `count` messages made by `make`; with `replies`, reads one reply to each after
/// each batch (so the master's replies never overflow the socket's queue and get
/// dropped), checks it with `check` and returns the longest.
fn flood_in_batches(
    s: &zmq::Socket,
    count: usize,
    replies: Option<&CheckReply>,
    what: &str,
    mut make: impl FnMut(usize) -> Vec<Vec<u8>>,
) -> usize {
    const BATCH: usize = 100;
    let mut longest = 0;
    let mut i = 0;
    while i < count {
        let n = BATCH.min(count - i);
        for j in 0..n {
            send(s, &make(i + j), what);
        }
        if let Some(check) = replies {
            for _ in 0..n {
                let reply = recv(s, what);
                check(&reply);
                longest = longest.max(reply.iter().map(Vec::len).sum());
            }
        }
        i += n;
    }
    longest
}

/// The slave queue: garbage from an unknown peer, then (after HELLO) from a known slave;
/// a HELLO with a 100 KB label; then a real IDLE is answered.
fn flood_slave_queue(endpoint: String) {
    let ctx = zmq::Context::new();
    let s = socket(&ctx, zmq::DEALER, &endpoint);
    let mut rng = Rng(0x5eed_0001);
    flood_in_batches(&s, FRAMES / 2, None, "slave queue (unknown peer)", |i| {
        req_garbage::<SlaveRequest>(&mut rng, i, "IDLE")
    });
    send(&s, &request(&slave_hello("flood".into())), "slave HELLO");
    let ack = slave_reply(&recv(&s, "slave HELLO"), "slave HELLO");
    assert!(matches!(ack, SlaveReply::Ack(_)), "{ack:?}");
    // A known slave's invalid messages are each answered (SLEEP or DONE).
    let check = |frames: &[Vec<u8>]| {
        let reply = slave_reply(frames, "garbage from a known slave");
        assert!(
            matches!(reply, SlaveReply::Sleep(_) | SlaveReply::Done),
            "garbage answered with {reply:?}"
        );
    };
    flood_in_batches(
        &s,
        FRAMES / 2,
        Some(&check),
        "slave queue (known slave)",
        |i| req_garbage::<SlaveRequest>(&mut rng, FRAMES / 2 + i, "IDLE"),
    );
    // A HELLO whose label is 100 KB, from a new peer.
    let big = socket(&ctx, zmq::DEALER, &endpoint);
    send(
        &big,
        &request(&slave_hello("L".repeat(100_000))),
        "big HELLO",
    );
    let ack = slave_reply(&recv(&big, "big HELLO"), "big HELLO");
    assert!(matches!(ack, SlaveReply::Ack(_)), "{ack:?}");
    // The master still serves: a real IDLE gets a real answer.
    let idle = SlaveRequest::Idle(SlaveStats {
        timestamp: Utc::now(),
        disk_size: 1,
        disk_free: 1,
        mem_size: 1,
        mem_free: 1,
        swap_size: 0,
        swap_free: 0,
        load_average: 0.0,
        cpu_temp: 0.0,
    });
    send(&big, &request(&idle), "IDLE after the flood");
    let reply = slave_reply(&recv(&big, "IDLE after the flood"), "IDLE");
    assert!(
        matches!(reply, SlaveReply::Sleep(_) | SlaveReply::Build(_)),
        "{reply:?}"
    );
}

/// The import queue: every garbage request is answered with ERROR; then a real ADDPKG.
/// Returns the longest ERROR reply's length.
fn flood_import_queue(endpoint: String) -> usize {
    let ctx = zmq::Context::new();
    let s = socket(&ctx, zmq::DEALER, &endpoint);
    let mut rng = Rng(0x5eed_0002);
    let check = |frames: &[Vec<u8>]| {
        let reply = ImportReply::decode(&frames[1]).unwrap();
        assert!(
            matches!(reply, ImportReply::Error(_)),
            "garbage answered with {reply:?}"
        );
    };
    let longest = flood_in_batches(&s, FRAMES, Some(&check), "import queue", |i| {
        req_garbage::<ImportRequest>(&mut rng, i, "ADDPKG")
    });
    let add = ImportRequest::AddPackage(AddPackage {
        package: "flood-check".into(),
        description: String::new(),
        skip: String::new(),
        unskip: false,
        aliases: Vec::new(),
    });
    send(&s, &request(&add), "ADDPKG after the flood");
    let reply = recv(&s, "ADDPKG after the flood");
    assert_eq!(
        ImportReply::decode(&reply[1]).unwrap(),
        ImportReply::Done("NEWPKG".into())
    );
    longest
}

/// The file queue: garbage, then a real transfer of `data` on the same connection.
fn flood_file_queue(endpoint: String, data: Vec<u8>) {
    let ctx = zmq::Context::new();
    let s = socket(&ctx, zmq::DEALER, &endpoint);
    let mut rng = Rng(0x5eed_0003);
    flood_in_batches(&s, FRAMES, None, "file queue", |i| {
        file_garbage(&mut rng, i)
    });
    send(&s, &hello_frames(REAL_SLAVE), "file HELLO");
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "no DONE after the flood");
        let frames = recv(&s, "FETCH after the flood");
        match ServerFrame::parse(&frames).unwrap() {
            ServerFrame::Done => break,
            ServerFrame::Fetch { offset, length } => {
                let r = offset as usize..(offset + length) as usize;
                send(&s, &chunk_frames(offset, data[r].to_vec()), "CHUNK");
            }
        }
    }
}

/// The control socket: garbage, then a monitor's HELLO gets the master's HELLO.
fn flood_control(endpoint: String, status: String) {
    let ctx = zmq::Context::new();
    let sub = socket(&ctx, zmq::SUB, &status);
    sub.set_subscribe(b"").unwrap();
    sub.set_rcvtimeo(500).unwrap();
    let push = socket(&ctx, zmq::PUSH, &endpoint);
    let mut rng = Rng(0x5eed_0004);
    flood_in_batches(&push, FRAMES, None, "control", |i| {
        control_garbage(&mut rng, i)
    });
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(
            Instant::now() < deadline,
            "no HELLO from the master after the flood"
        );
        send(
            &push,
            &[ControlMessage::Hello.encode().unwrap()],
            "control HELLO",
        );
        while let Ok(frames) = sub.recv_multipart(0) {
            if let Ok(StatusMessage::Hello(_)) = StatusMessage::decode(&frames[0]) {
                return;
            }
        }
    }
}

async fn flood(capture: LogCapture) {
    let env = Env::new().await;
    let master = Master::start(env.config.clone()).await.unwrap();
    let hub = master.hub().clone();
    let endpoints = (
        master.slave_endpoint().to_owned(),
        master.file_endpoint().to_owned(),
        env.config.import_queue.clone(),
        master.control_endpoint().to_owned(),
        master.status_endpoint().to_owned(),
    );
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let main = tokio::spawn(master.run_until(async {
        let _ = stop_rx.await;
    }));
    let data = wheel("foo", "1.0", 300_000);
    let name = "foo-1.0-py3-none-any.whl";
    hub.fs
        .prepare(sid(REAL_SLAVE), file_state(name, &data, "any"))
        .await
        .unwrap();

    let before = capture.stats();
    let started = Instant::now();
    let (slave, file, import, control, status) = endpoints;
    let floods = [
        tokio::task::spawn_blocking(move || {
            flood_slave_queue(slave);
            0
        }),
        tokio::task::spawn_blocking(move || flood_import_queue(import)),
        tokio::task::spawn_blocking({
            let data = data.clone();
            move || {
                flood_file_queue(file, data);
                0
            }
        }),
        tokio::task::spawn_blocking(move || {
            flood_control(control, status);
            0
        }),
    ];
    let mut longest_reply = 0;
    for f in floods {
        let longest = tokio::time::timeout(WAIT * 4, f)
            .await
            .expect("a flood did not finish")
            .expect("a flood failed");
        longest_reply = longest_reply.max(longest);
    }
    // The file that came through after the flood is whole, and staged for publishing.
    let staged = hub.fs.verify(sid(REAL_SLAVE), "foo", "1.0").await.unwrap();
    assert_eq!(std::fs::read(staged.path()).unwrap(), data);
    let elapsed = started.elapsed();
    let after = capture.stats();

    let _ = stop_tx.send(());
    tokio::time::timeout(WAIT, main)
        .await
        .expect("the master did not stop")
        .unwrap()
        .unwrap();

    let lines = after.lines - before.lines;
    println!(
        "{} garbage messages to 4 sockets in {elapsed:.1?}: {lines} log lines, {} bytes, \
         longest line {} bytes; longest ERROR reply {longest_reply} bytes",
        4 * FRAMES,
        after.bytes - before.bytes,
        after.longest
    );
    let sample = || after.kept[before.kept.len().min(after.kept.len())..].join("\n");
    if lines <= 120 {
        println!("{}", sample());
    }
    assert!(
        after.longest <= MAX_LINE,
        "a log line of {} bytes; the first lines:\n{}",
        after.longest,
        sample()
    );
    // Five warnings per peer and socket, the slaves' and the transfer's own lines, a
    // few summaries: not one line per garbage message.
    assert!(
        lines <= 120,
        "{lines} log lines for {} garbage messages; the first lines:\n{}",
        4 * FRAMES,
        sample()
    );
    // The ERROR replies to garbage quote it cut short too.
    assert!(
        longest_reply < MAX_LINE,
        "an ERROR reply of {longest_reply} bytes"
    );
}

#[test]
fn garbage_frames_flood_the_log() {
    let capture = LogCapture::new();
    let _guard = tracing::subscriber::set_default(capture.subscriber());
    // One thread runs every task of the master, so every line it logs is captured here.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(flood(capture));
}
