//! The file transfer: frames both ways, the master's state, and the file it fills.

// A list holding one range is what these tests mean, not a range collected into a list.
#![allow(clippy::single_range_in_vec_init)]

use std::collections::VecDeque;
use std::num::{NonZeroU32, NonZeroU64};
use std::ops::Range;
use std::time::{Duration, Instant};

use piwheels_protocol::ProtocolError;
use piwheels_protocol::transfer::{
    BACKOFF_BASE, BACKOFF_CAP, ChunkError, ClientFrame, HELLO_INTERVAL, MIN_ANSWER, ServerFrame,
    TransferFile, TransferState, chunk_frames, hello_frames,
};
use proptest::prelude::*;

fn window(size: u64, chunk: u64, pipeline: u32) -> TransferState {
    TransferState::with_window(
        size,
        NonZeroU64::new(chunk).unwrap(),
        NonZeroU32::new(pipeline).unwrap(),
    )
}

fn frames(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.to_vec()).collect()
}

/// Every frame the master would send now.
fn drain(state: &mut TransferState) -> Vec<ServerFrame> {
    std::iter::from_fn(|| state.next_frame()).collect()
}

fn fetch(r: Range<u64>) -> ServerFrame {
    ServerFrame::fetch(r)
}

/// The client's five silent seconds before it says HELLO again.
const RESEND: Duration = Duration::from_secs(5);

fn frames_error(result: Result<impl std::fmt::Debug, ProtocolError>) -> String {
    match result {
        Err(ProtocolError::Frames(what)) => what,
        other => panic!("expected a Frames error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// The spec's example, byte for byte.

#[test]
fn spec_example_123456_bytes() {
    let file: Vec<u8> = (0..123_456u32).map(|i| (i % 251) as u8).collect();
    let mut master = TransferState::original(file.len() as u64);
    assert_eq!(master.initial_credit(), 1);
    let mut wire: Vec<Vec<Vec<u8>>> = Vec::new();
    let now = Instant::now();

    let hello = hello_frames(7);
    assert_eq!(hello, [b"HELLO".to_vec(), b"7".to_vec()]);
    assert_eq!(
        ClientFrame::parse(&hello).unwrap(),
        ClientFrame::Hello { slave_id: 7 }
    );
    assert!(master.on_hello(now));
    loop {
        let replies = drain(&mut master);
        wire.extend(replies.iter().map(ServerFrame::frames));
        let Some(reply) = replies.first() else { break };
        match *reply {
            ServerFrame::Done => break,
            ServerFrame::Fetch { offset, length } => {
                let data = file[offset as usize..(offset + length) as usize].to_vec();
                let chunk = chunk_frames(offset, data);
                let ClientFrame::Chunk { offset, data } = ClientFrame::parse(&chunk).unwrap()
                else {
                    panic!("not a chunk");
                };
                master.on_chunk(offset, data.len() as u64, now).unwrap();
            }
        }
    }
    assert_eq!(
        wire,
        [
            frames(&[b"FETCH", b"0", b"65536"]),
            frames(&[b"FETCH", b"65536", b"57920"]),
            frames(&[b"DONE"]),
        ]
    );
    assert!(master.is_complete());
    assert_eq!(master.credit(), 0);
    assert_eq!(drain(&mut master), []);
}

#[test]
fn initial_credit_is_the_originals() {
    assert_eq!(TransferState::original(1).initial_credit(), 1);
    assert_eq!(TransferState::original(65_535).initial_credit(), 1);
    assert_eq!(TransferState::original(5 * 65_536 + 1).initial_credit(), 5);
    assert_eq!(TransferState::original(1 << 40).initial_credit(), 10);
    assert_eq!(TransferState::original(u64::MAX).initial_credit(), 10);
    let ours = TransferState::new(100_000_000);
    assert_eq!((ours.chunk_size(), ours.initial_credit()), (1 << 20, 2));
    assert_eq!(TransferState::new(1_500_000).initial_credit(), 1);
    let s = window(100, 10, 3);
    assert_eq!((s.credit(), s.chunk_size(), s.size()), (3, 10, 100));
}

#[test]
fn zero_byte_file_is_complete_at_once() {
    let mut master = TransferState::original(0);
    assert!(master.is_complete());
    assert_eq!(master.missing(), []);
    let now = Instant::now();
    master.on_hello(now);
    assert_eq!(drain(&mut master), [ServerFrame::Done]);
    // An empty chunk is refused (it carries nothing); anything else is past the end.
    assert!(frames_error(master.on_chunk(0, 0, now)).contains("carries no bytes"));
    frames_error(master.on_chunk(0, 1, now));
    frames_error(master.on_chunk(1, 0, now));
    assert_eq!(master.refused(), 3);
    assert_eq!(drain(&mut master), []);
}

#[test]
fn whole_transfer_without_loss_fetches_every_byte_once() {
    // At the tail of a transfer, chunks still on their way are not asked for again.
    for (size, chunk, pipeline) in [(10_000_000, 1 << 20, 4), (1_000, 64, 10), (999, 1000, 8)] {
        let mut master = window(size, chunk, pipeline);
        let now = Instant::now();
        master.on_hello(now);
        let mut in_flight: VecDeque<Range<u64>> = VecDeque::new();
        let mut fetched = 0;
        let mut done = 0;
        loop {
            for reply in drain(&mut master) {
                match reply {
                    ServerFrame::Done => done += 1,
                    f => in_flight.push_back(f.range().unwrap()),
                }
            }
            assert!(in_flight.len() <= master.initial_credit() as usize);
            let Some(r) = in_flight.pop_front() else {
                break;
            };
            fetched += r.end - r.start;
            assert!(r.end - r.start <= chunk);
            master.on_chunk(r.start, r.end - r.start, now).unwrap();
        }
        assert_eq!((fetched, done), (size, 1), "size {size} chunk {chunk}");
        assert!(master.is_complete());
    }
}

#[test]
fn lost_chunks_are_requested_again_after_hello() {
    const K: u64 = 65_536;
    let size = 20 * K + 1000;
    let mut master = TransferState::original(size);
    let lost = [3 * K..4 * K, 7 * K..8 * K, 20 * K..size];
    let now = Instant::now();
    master.on_hello(now);
    let mut in_flight: VecDeque<Range<u64>> = VecDeque::new();
    let mut requested = Vec::new();
    loop {
        for reply in drain(&mut master) {
            let r = reply.range().expect("no DONE while chunks are missing");
            requested.push(r.clone());
            in_flight.push_back(r);
        }
        let Some(r) = in_flight.pop_front() else {
            break;
        };
        if !lost.contains(&r) {
            master.on_chunk(r.start, r.end - r.start, now).unwrap();
        }
    }
    // Each range was asked for once, in order; the master then waits.
    let expected: Vec<Range<u64>> = (0..20)
        .map(|i| i * K..(i + 1) * K)
        .chain([20 * K..size])
        .collect();
    assert_eq!(requested, expected);
    assert_eq!(master.missing(), lost);
    assert_eq!(master.remaining(), 2 * K + 1000);

    // The client heard nothing for five seconds and says HELLO again: exactly the lost
    // ranges are fetched, in order, and no more.
    let later = now + RESEND;
    assert!(master.on_hello(later));
    let again = drain(&mut master);
    assert_eq!(again, lost.clone().map(fetch));
    for r in lost.clone() {
        master.on_chunk(r.start, r.end - r.start, later).unwrap();
    }
    assert_eq!(drain(&mut master), [ServerFrame::Done]);
}

#[test]
fn wrap_around_when_the_client_answers_short() {
    // A client that sends fewer bytes than asked, but at least MIN_ANSWER (as our slave
    // does for a FETCH over 16 MiB): once nothing is in flight, the master goes round again
    // for the rest without waiting for a HELLO.
    const M: u64 = MIN_ANSWER;
    let mut master = window(5 * M, 2 * M, 2);
    let now = Instant::now();
    master.on_hello(now);
    assert_eq!(drain(&mut master), [fetch(0..2 * M), fetch(2 * M..4 * M)]);
    master.on_chunk(0, M, now).unwrap();
    assert_eq!(drain(&mut master), [fetch(4 * M..5 * M)]);
    master.on_chunk(2 * M, 2 * M, now).unwrap();
    assert_eq!(drain(&mut master), []); // 4M..5M is still in flight
    master.on_chunk(4 * M, M, now).unwrap();
    assert_eq!(drain(&mut master), [fetch(M..2 * M)]);
    master.on_chunk(M, M, now).unwrap();
    assert_eq!(drain(&mut master), [ServerFrame::Done]);
    assert_eq!(master.refused(), 0);
}

#[test]
fn an_answer_shorter_than_the_minimum_is_refused() {
    // Shorter than MIN_ANSWER and than what was asked: a client answering every FETCH
    // with a byte would take a round trip per byte of the file.
    let mut master = window(1 << 20, 1 << 18, 2);
    let now = Instant::now();
    master.on_hello(now);
    assert_eq!(drain(&mut master).len(), 2);
    let what = frames_error(master.on_chunk(0, 1, now));
    assert!(
        what.contains("CHUNK of 1 bytes at offset 0 answers a FETCH of 262144 bytes"),
        "{what}"
    );
    let what = frames_error(master.on_chunk(1 << 18, MIN_ANSWER - 1, now));
    assert!(what.contains("at least 65536 expected"), "{what}");
    // Nothing was taken, no FETCH is earned, and both requests are used up.
    assert_eq!(master.missing(), [0..1 << 20]);
    assert_eq!((master.credit(), master.in_flight()), (0, 0));
    assert_eq!(drain(&mut master), []);
    assert_eq!(master.refused(), 2);
    // A short request needs only what it asked for: the tail of a small file.
    let mut master = window(100, 40, 2);
    master.on_hello(now);
    assert_eq!(drain(&mut master), [fetch(0..40), fetch(40..80)]);
    frames_error(master.on_chunk(0, 39, now));
    master.on_chunk(40, 40, now).unwrap();
    assert_eq!(drain(&mut master), [fetch(80..100)]);
}

#[test]
fn fetch_window_meets_the_first_missing_range() {
    let mut master = window(1000, 100, 1);
    let now = Instant::now();
    master.on_hello(now);
    master.on_chunk(0, 150, now).unwrap(); // unrequested, but within the file
    master.on_chunk(400, 100, now).unwrap();
    assert_eq!(master.missing(), [150..400, 500..1000]);
    // The window 0..100 misses everything, so it moves to the first missing byte.
    assert_eq!(drain(&mut master), [fetch(150..250)]);
    master.on_chunk(150, 100, now).unwrap();
    assert_eq!(drain(&mut master), [fetch(250..350)]);
    master.on_chunk(250, 100, now).unwrap();
    // The window 350..450 meets 150..400 in 350..400 (the original's short request).
    assert_eq!(drain(&mut master), [fetch(350..400)]);
    master.on_chunk(350, 50, now).unwrap();
    assert_eq!(drain(&mut master), [fetch(500..600)]);
}

#[test]
fn duplicate_and_overlapping_chunks_are_harmless_and_earn_nothing() {
    let mut master = window(100, 10, 4);
    let now = Instant::now();
    master.on_hello(now);
    assert_eq!(drain(&mut master).len(), 4);
    for _ in 0..3 {
        master.on_chunk(0, 10, now).unwrap();
    }
    master.on_chunk(5, 20, now).unwrap();
    master.on_chunk(0, 40, now).unwrap();
    // Only the first answer to FETCH 0..10 earned a new FETCH: duplicates and unrequested
    // chunks are taken, but a client sending them cannot make the master ask more.
    assert_eq!(master.credit(), 1);
    assert_eq!(master.missing(), [40..100]);
    assert_eq!(drain(&mut master), [fetch(40..50)]);
    for _ in 0..1000 {
        master.on_chunk(0, 10, now).unwrap();
    }
    assert_eq!(drain(&mut master), []);
    master.on_chunk(0, 100, now).unwrap();
    master.on_chunk(50, 50, now).unwrap();
    assert!(master.is_complete());
    assert_eq!(master.credit(), 0);
    assert_eq!(master.refused(), 0);
    assert_eq!(drain(&mut master), [ServerFrame::Done]);
    assert_eq!(drain(&mut master), []);
    // A HELLO after the end (the client missed DONE) gets DONE again.
    master.on_hello(now + RESEND);
    assert_eq!(drain(&mut master), [ServerFrame::Done]);
}

#[test]
fn chunks_past_the_end_are_rejected_and_change_nothing() {
    let mut master = window(100, 10, 4);
    let now = Instant::now();
    master.on_hello(now);
    drain(&mut master);
    let before = master.clone();
    for (i, (offset, len)) in [
        (101, 0),
        (101, 1),
        (95, 6),
        (0, 101),
        (u64::MAX, 1),
        (1, u64::MAX),
    ]
    .into_iter()
    .enumerate()
    {
        let what = frames_error(master.on_chunk(offset, len, now));
        assert!(what.contains("past the end of the 100-byte file"), "{what}");
        // Refused and counted; what is missing and in flight is unchanged.
        assert_eq!(master.refused() as usize, i + 1);
        assert_eq!(master.missing(), before.missing());
        assert_eq!(master.credit(), before.credit());
    }
    // (0, 101) used up the FETCH at 0.
    assert_eq!(master.in_flight(), before.in_flight() - 1);
    master.on_chunk(90, 10, now).unwrap();
    frames_error(master.on_chunk(100, 0, now));
}

// ---------------------------------------------------------------------------------------
// Frames.

#[test]
fn frames_round_trip() {
    let cases = [
        ClientFrame::Hello { slave_id: 0 },
        ClientFrame::Hello { slave_id: u64::MAX },
        ClientFrame::Chunk {
            offset: 12,
            data: b"",
        },
        ClientFrame::Chunk {
            offset: u64::MAX,
            data: b"\0\xffCHUNK",
        },
    ];
    for frame in cases {
        assert_eq!(ClientFrame::parse(&frame.frames()).unwrap(), frame);
    }
    assert_eq!(
        ClientFrame::Chunk {
            offset: 65_536,
            data: b"abc"
        }
        .frames(),
        frames(&[b"CHUNK", b"65536", b"abc"])
    );
    for frame in [
        ServerFrame::Done,
        ServerFrame::Fetch {
            offset: 0,
            length: 0,
        },
        ServerFrame::Fetch {
            offset: 1,
            length: u64::MAX - 1,
        },
    ] {
        assert_eq!(ServerFrame::parse(&frame.frames()).unwrap(), frame);
    }
    assert_eq!(ServerFrame::Done.range(), None);
    assert_eq!(
        ServerFrame::Fetch {
            offset: 5,
            length: 3
        }
        .range(),
        Some(5..8)
    );
    // Leading zeros are still plain decimal (Python's int() reads them too).
    let hello = frames(&[b"HELLO", b"007"]);
    assert_eq!(
        ClientFrame::parse(&hello).unwrap(),
        ClientFrame::Hello { slave_id: 7 }
    );
    // Frames of any byte-slice type parse, zmq::Message included.
    let msgs: Vec<zmq::Message> = vec!["CHUNK".into(), "3".into(), "xyz".into()];
    assert_eq!(
        ClientFrame::parse(&msgs).unwrap(),
        ClientFrame::Chunk {
            offset: 3,
            data: b"xyz"
        }
    );
    let slices: [&[u8]; 1] = [b"DONE"];
    assert_eq!(ServerFrame::parse(&slices).unwrap(), ServerFrame::Done);
}

#[test]
fn malformed_client_frames_are_frames_errors() {
    let cases: &[(&[&[u8]], &str)] = &[
        (&[], "empty"),
        (
            &[b"HELLO"],
            "HELLO needs 2 frames (HELLO, slave id), found 1",
        ),
        (
            &[b"HELLO", b"1", b"2"],
            "HELLO needs 2 frames (HELLO, slave id), found 3",
        ),
        (&[b"HELLO", b""], "HELLO slave id frame is empty"),
        (
            &[b"HELLO", b"abc"],
            "HELLO slave id b\"abc\" is not an ASCII decimal number",
        ),
        (&[b"HELLO", b"-1"], "not an ASCII decimal"),
        (&[b"HELLO", b"+1"], "not an ASCII decimal"),
        (&[b"HELLO", b" 1"], "not an ASCII decimal"),
        (&[b"HELLO", b"1 "], "not an ASCII decimal"),
        (&[b"HELLO", b"1_000"], "not an ASCII decimal"),
        (&[b"HELLO", b"1.0"], "not an ASCII decimal"),
        (&[b"HELLO", "\u{0661}".as_bytes()], "not an ASCII decimal"), // Arabic-Indic one
        (
            &[b"HELLO", b"18446744073709551616"],
            "does not fit in 64 bits",
        ),
        (
            &[b"HELLO", b"99999999999999999999999999999"],
            "does not fit in 64 bits",
        ),
        (
            &[b"CHUNK"],
            "CHUNK needs 3 frames (CHUNK, offset, data), found 1",
        ),
        (
            &[b"CHUNK", b"0"],
            "CHUNK needs 3 frames (CHUNK, offset, data), found 2",
        ),
        (&[b"CHUNK", b"0", b"x", b"y"], "found 4"),
        (&[b"CHUNK", b"", b"x"], "CHUNK offset frame is empty"),
        (
            &[b"CHUNK", b"0x10", b"x"],
            "CHUNK offset b\"0x10\" is not an ASCII decimal",
        ),
        (&[b"CHUNK", b"-5", b"x"], "not an ASCII decimal"),
        (
            &[b"CHUNK", b"18446744073709551616", b"x"],
            "does not fit in 64 bits",
        ),
        (
            &[b"hello", b"1"],
            "unknown file-transfer command b\"hello\" from a client",
        ),
        (
            &[b"FETCH", b"0", b"1"],
            "unknown file-transfer command b\"FETCH\"",
        ),
        (&[b"DONE"], "unknown file-transfer command b\"DONE\""),
        (&[b""], "unknown file-transfer command b\"\""),
    ];
    for (parts, expected) in cases {
        let what = frames_error(ClientFrame::parse(&frames(parts)));
        assert!(
            what.contains(expected),
            "{parts:?}: {what:?} lacks {expected:?}"
        );
    }
    // A long garbage command is cut short in the message.
    let what = frames_error(ClientFrame::parse(&[vec![b'A'; 10_000]]));
    assert!(
        what.contains("AAAA…\" (+9,800 bytes)") && what.len() < 400,
        "{what}"
    );
    let what = frames_error(ClientFrame::parse(&[b"HELLO".to_vec(), vec![0xff; 10_000]]));
    assert!(
        what.contains("\\xff…\" (+9,950 bytes)") && what.len() < 400,
        "{what}"
    );
    // The Display text begins as piwheels' own IOError does.
    let e = ClientFrame::parse(&frames(&[b"HELLO"])).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("invalid message structure received: HELLO needs")
    );
}

#[test]
fn malformed_server_frames_are_frames_errors() {
    let cases: &[(&[&[u8]], &str)] = &[
        (&[], "empty"),
        (
            &[b"FETCH"],
            "FETCH needs 3 frames (FETCH, offset, length), found 1",
        ),
        (&[b"FETCH", b"0"], "found 2"),
        (&[b"FETCH", b"0", b"1", b"2"], "found 4"),
        (&[b"FETCH", b"", b"1"], "FETCH offset frame is empty"),
        (&[b"FETCH", b"0", b""], "FETCH length frame is empty"),
        (
            &[b"FETCH", b"-1", b"1"],
            "FETCH offset b\"-1\" is not an ASCII decimal",
        ),
        (
            &[b"FETCH", b"0", b"1e6"],
            "FETCH length b\"1e6\" is not an ASCII decimal",
        ),
        (
            &[b"FETCH", b"0", b"18446744073709551616"],
            "does not fit in 64 bits",
        ),
        (&[b"FETCH", b"18446744073709551615", b"1"], "ends past 2^64"),
        (&[b"DONE", b""], "DONE needs 1 frames (DONE), found 2"),
        (
            &[b"HELLO", b"1"],
            "unknown file-transfer command b\"HELLO\" from the master",
        ),
        (
            &[b"CHUNK", b"0", b"x"],
            "unknown file-transfer command b\"CHUNK\"",
        ),
        (&[b"done"], "unknown file-transfer command b\"done\""),
    ];
    for (parts, expected) in cases {
        let what = frames_error(ServerFrame::parse(&frames(parts)));
        assert!(
            what.contains(expected),
            "{parts:?}: {what:?} lacks {expected:?}"
        );
    }
}

fn any_frames() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let word = prop::sample::select(vec![
        b"HELLO".to_vec(),
        b"CHUNK".to_vec(),
        b"FETCH".to_vec(),
        b"DONE".to_vec(),
        b"18446744073709551615".to_vec(),
        b"18446744073709551616".to_vec(),
        b"0".to_vec(),
        Vec::new(),
    ]);
    let part = prop_oneof![word, prop::collection::vec(any::<u8>(), 0..24)];
    prop::collection::vec(part, 0..5)
}

proptest! {
    #[test]
    fn parsing_never_panics(parts in any_frames()) {
        if let Err(e) = ClientFrame::parse(&parts) {
            prop_assert!(matches!(e, ProtocolError::Frames(_)));
        }
        if let Err(e) = ServerFrame::parse(&parts) {
            prop_assert!(matches!(e, ProtocolError::Frames(_)));
        }
    }

    #[test]
    fn numbers_round_trip(offset in any::<u64>(), id in any::<u64>()) {
        let hello = hello_frames(id);
        prop_assert_eq!(ClientFrame::parse(&hello).unwrap(), ClientFrame::Hello { slave_id: id });
        prop_assert_eq!(hello[1].clone(), id.to_string().into_bytes());
        let chunk = chunk_frames(offset, vec![1, 2, 3]);
        prop_assert_eq!(
            ClientFrame::parse(&chunk).unwrap(),
            ClientFrame::Chunk { offset, data: &[1, 2, 3] }
        );
        let length = u64::MAX - offset;
        let f = ServerFrame::Fetch { offset, length };
        prop_assert_eq!(ServerFrame::parse(&f.frames()).unwrap(), f);
    }
}

// ---------------------------------------------------------------------------------------
// Random order, losses, short answers and re-HELLOs: always complete, every byte as sent.

#[derive(Debug, Clone)]
enum Step {
    /// Answer the in-flight request at this index (modulo their number) in full.
    Answer(usize),
    /// Answer it with only this share (in 1/8ths) of the bytes asked for.
    Short(usize, u8),
    /// Lose it (the FETCH or the CHUNK is dropped).
    Lose(usize),
    /// Answer it twice.
    Twice(usize),
    /// The client says HELLO again.
    Hello,
}

fn any_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => any::<usize>().prop_map(Step::Answer),
        1 => (any::<usize>(), 0u8..8).prop_map(|(i, s)| Step::Short(i, s)),
        2 => any::<usize>().prop_map(Step::Lose),
        1 => any::<usize>().prop_map(Step::Twice),
        1 => Just(Step::Hello),
    ]
}

/// The master's side of the simulation: its state and the file it fills, as an in-memory
/// model that records every write.
struct Master {
    state: TransferState,
    file: Vec<Option<u8>>,
    dones: usize,
    in_flight: Vec<Range<u64>>,
    /// The simulated clock: each HELLO comes after the client's five silent seconds.
    now: Instant,
}

impl Master {
    fn pump(&mut self) {
        while let Some(frame) = self.state.next_frame() {
            match frame {
                ServerFrame::Done => self.dones += 1,
                f => self.in_flight.push(f.range().unwrap()),
            }
        }
    }

    fn chunk(&mut self, source: &[u8], r: Range<u64>) {
        let data = &source[r.start as usize..r.end as usize];
        // Over the wire and back, as the real frames.
        let frames = chunk_frames(r.start, data.to_vec());
        let ClientFrame::Chunk { offset, data } = ClientFrame::parse(&frames).unwrap() else {
            panic!("not a chunk")
        };
        if self.state.check_chunk(offset, data.len() as u64).is_err() {
            // Refused (empty, or short of what was asked): nothing is written.
            self.state.refuse(offset, self.now);
            return;
        }
        for (i, &b) in data.iter().enumerate() {
            let slot = &mut self.file[offset as usize + i];
            assert!(
                slot.is_none() || *slot == Some(b),
                "byte {} rewritten differently",
                i
            );
            *slot = Some(b);
        }
        self.state
            .on_chunk(offset, data.len() as u64, self.now)
            .unwrap();
    }

    fn hello(&mut self) {
        self.now += RESEND;
        self.state.on_hello(self.now);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn random_delivery_always_completes(
        source in prop::collection::vec(any::<u8>(), 0..600),
        chunk in 1u64..80,
        pipeline in 1u32..12,
        steps in prop::collection::vec(any_step(), 0..200),
    ) {
        let size = source.len() as u64;
        let mut m = Master {
            state: window(size, chunk, pipeline),
            file: vec![None; source.len()],
            dones: 0,
            in_flight: Vec::new(),
            now: Instant::now(),
        };
        m.hello();
        m.pump();
        let mut hellos = 0;
        for step in steps {
            if m.state.is_complete() {
                break;
            }
            let n = m.in_flight.len();
            // Each HELLO may put up to a pipeline's worth more in flight; nothing else can
            // (a duplicate answer earns nothing).
            let bound = (1 + hellos) * m.state.initial_credit() as usize;
            prop_assert!(n <= bound, "{n} in flight");
            match step {
                Step::Hello => {
                    hellos += 1;
                    m.hello();
                }
                Step::Answer(i) | Step::Twice(i) | Step::Short(i, _) | Step::Lose(i) if n > 0 => {
                    let r = m.in_flight.remove(i % n);
                    match step {
                        Step::Answer(_) => m.chunk(&source, r),
                        Step::Twice(_) => {
                            m.chunk(&source, r.clone());
                            m.chunk(&source, r);
                        }
                        Step::Short(_, eighths) => {
                            let len = (r.end - r.start) * u64::from(eighths) / 8;
                            m.chunk(&source, r.start..r.start + len);
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
            m.pump();
        }
        // Then a reliable network: answer in order; when all is quiet, the client's
        // five-second timeout says HELLO again (held back while the transfer backs off
        // after refused chunks, but never for good).
        let mut rounds = 0;
        while !m.state.is_complete() {
            rounds += 1;
            prop_assert!(rounds < 10 * (size + 10), "no progress: {:?}", m.state);
            if m.in_flight.is_empty() {
                m.hello();
            } else {
                let r = m.in_flight.remove(0);
                m.chunk(&source, r);
            }
            m.pump();
        }
        m.pump();
        prop_assert_eq!(m.dones, 1);
        prop_assert_eq!(m.state.credit(), 0);
        prop_assert_eq!(m.state.remaining(), 0);
        let written: Vec<u8> = m.file.iter().map(|b| b.expect("every byte written")).collect();
        prop_assert_eq!(written, source);
    }
}

// ---------------------------------------------------------------------------------------
// The file helper.

#[test]
fn transfer_file_writes_chunks_in_place() {
    let source: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let tmp = tempfile::tempfile().unwrap();
    let mut tf = TransferFile::new(tmp, window(source.len() as u64, 4096, 3)).unwrap();
    assert_eq!(tf.file().metadata().unwrap().len(), source.len() as u64);
    let hello = hello_frames(1);
    let now = Instant::now();
    tf.handle(&ClientFrame::parse(&hello).unwrap(), now)
        .unwrap();
    let mut queue: VecDeque<ServerFrame> = drain(tf.state_mut()).into();
    // Answer in reverse order within each batch, to write out of order.
    while let Some(frame) = queue.pop_back() {
        let Some(r) = frame.range() else { break };
        let chunk = chunk_frames(r.start, source[r.start as usize..r.end as usize].to_vec());
        tf.handle(&ClientFrame::parse(&chunk).unwrap(), now)
            .unwrap();
        queue.extend(drain(tf.state_mut()));
    }
    assert!(tf.state().is_complete());
    let (file, state) = tf.into_parts();
    assert_eq!(state.size(), source.len() as u64);
    let mut back = vec![0; source.len()];
    std::os::unix::fs::FileExt::read_exact_at(&file, &mut back, 0).unwrap();
    assert_eq!(back, source);
}

#[test]
fn transfer_file_rejects_chunks_past_the_end_without_writing() {
    let tmp = tempfile::tempfile().unwrap();
    let mut tf = TransferFile::new(tmp, window(10, 4, 2)).unwrap();
    let now = Instant::now();
    match tf.write_chunk(8, b"abc", now) {
        Err(ChunkError::Invalid(ProtocolError::Frames(what))) => {
            assert!(what.contains("CHUNK of 3 bytes at offset 8"), "{what}")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        tf.write_chunk(11, b"", now),
        Err(ChunkError::Invalid(_))
    ));
    assert!(matches!(
        tf.write_chunk(3, b"", now),
        Err(ChunkError::Invalid(_))
    ));
    assert_eq!(tf.state().refused(), 3);
    assert_eq!(tf.file().metadata().unwrap().len(), 10);
    assert_eq!(tf.state().missing(), [0..10]);
    tf.write_chunk(7, b"abc", now).unwrap();
    assert_eq!(tf.state().missing(), [0..7]);
}

#[test]
fn transfer_file_reports_write_failures() {
    let tmp = tempfile::NamedTempFile::new().unwrap();
    // A read-only descriptor cannot be sized...
    let ro = std::fs::File::open(tmp.path()).unwrap();
    assert!(TransferFile::new(ro, window(10, 4, 2)).is_err());
    // ...but one to a file of the right size is taken as it is, and then pwrite fails
    // (EBADF): the error says where, and the bytes stay missing.
    tmp.as_file().set_len(10).unwrap();
    let ro = std::fs::File::open(tmp.path()).unwrap();
    let mut tf = TransferFile::new(ro, window(10, 4, 2)).unwrap();
    let err = tf.write_chunk(4, b"xy", Instant::now()).unwrap_err();
    assert!(
        matches!(
            err,
            ChunkError::Write {
                offset: 4,
                len: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().starts_with("writing 2 bytes at offset 4"),
        "{err}"
    );
    assert_eq!(tf.state().missing(), [0..10]);
}

// ---------------------------------------------------------------------------------------
// Hostile clients (issue 14, item 7): refused chunks, back-off and HELLO storms.

#[test]
fn an_empty_chunk_is_refused_and_earns_no_fetch() {
    let mut master = TransferState::new(100 << 20);
    let now = Instant::now();
    master.on_hello(now);
    let fetches = drain(&mut master);
    assert_eq!(fetches.len(), 2);
    // A client answering every FETCH with an empty chunk: each is refused, and no FETCH
    // follows. The original (and this master before) answered each with a new FETCH.
    for f in &fetches {
        let r = f.range().unwrap();
        let what = frames_error(master.on_chunk(r.start, 0, now));
        assert_eq!(
            what,
            format!("CHUNK at offset {} carries no bytes", r.start)
        );
        assert_eq!(drain(&mut master), []);
    }
    assert_eq!(master.refused(), 2);
    assert_eq!((master.credit(), master.in_flight()), (0, 0));
    assert_eq!(master.remaining(), 100 << 20);
    // Unrequested empty chunks are refused too, and earn nothing.
    for offset in [0, 1, 5 << 20] {
        frames_error(master.on_chunk(offset, 0, now));
    }
    assert_eq!(drain(&mut master), []);
    assert_eq!(master.refused(), 5);
}

#[test]
fn refused_chunks_make_the_transfer_back_off_doubling_to_a_cap() {
    let mut master = TransferState::new(100 << 20);
    let t0 = Instant::now();
    master.on_hello(t0);
    drain(&mut master);
    // One refusal: HELLO does nothing for BACKOFF_BASE.
    frames_error(master.on_chunk(0, 0, t0));
    assert_eq!(master.quiet_until(), Some(t0 + BACKOFF_BASE));
    assert!(!master.on_hello(t0 + BACKOFF_BASE / 2));
    assert_eq!(drain(&mut master), []);
    assert!(master.on_hello(t0 + BACKOFF_BASE));
    assert_eq!(drain(&mut master).len(), 2);
    // Each further refusal doubles it, up to the cap.
    let mut t = t0 + BACKOFF_BASE;
    let mut expected = BACKOFF_BASE;
    for _ in 0..10 {
        frames_error(master.on_chunk(3, 0, t));
        expected = (expected * 2).min(BACKOFF_CAP);
        assert_eq!(master.quiet_until(), Some(t + expected));
        t += expected;
    }
    assert_eq!(expected, BACKOFF_CAP);
    assert!(!master.on_hello(t - Duration::from_millis(1)));
    assert!(master.on_hello(t));
    assert_eq!(drain(&mut master).len(), 2);
}

#[test]
fn a_hello_storm_gets_one_pipeline_a_second() {
    let mut master = TransferState::original(100 << 20);
    let t0 = Instant::now();
    let mut fetches = 0;
    // 10,000 HELLOs over 2.5 seconds, none of the FETCHes answered.
    for i in 0..10_000u32 {
        master.on_hello(t0 + Duration::from_micros(u64::from(i) * 250));
        fetches += drain(&mut master).len();
    }
    // At t0, t0 + 1 s and t0 + 2 s: three pipelines of 10 (the original's 64 KiB × 10).
    assert_eq!(fetches, 30);
    assert_eq!(HELLO_INTERVAL, Duration::from_secs(1));
}

#[test]
fn a_genuine_client_completes_after_a_transient_fault() {
    // A client whose first answer is empty, then behaves, saying HELLO after each five
    // silent seconds as the slaves do: the transfer completes. With two requests in
    // flight the other keeps it going (the refused range is asked again once nothing is
    // in flight); with one, the next HELLO (after the back-off) does.
    for (size, expected_hellos) in [(5 << 20, 0), (500_000, 1)] {
        let mut master = TransferState::new(size);
        let mut now = Instant::now();
        master.on_hello(now);
        let mut queue: VecDeque<ServerFrame> = drain(&mut master).into();
        let mut faulted = false;
        let mut hellos = 0;
        while !master.is_complete() {
            let Some(frame) = queue.pop_front() else {
                now += RESEND;
                hellos += 1;
                assert!(hellos < 5, "stuck: {master:?}");
                master.on_hello(now);
                queue.extend(drain(&mut master));
                continue;
            };
            let r = frame.range().unwrap();
            let len = if faulted { r.end - r.start } else { 0 };
            faulted = true;
            let _ = master.on_chunk(r.start, len, now);
            queue.extend(drain(&mut master));
        }
        assert_eq!(hellos, expected_hellos, "size {size}");
        assert_eq!(master.refused(), 1);
    }
}
