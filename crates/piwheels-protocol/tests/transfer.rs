//! The file transfer: frames both ways, the master's state, and the file it fills.

// A list holding one range is what these tests mean, not a range collected into a list.
#![allow(clippy::single_range_in_vec_init)]

use std::collections::VecDeque;
use std::num::{NonZeroU32, NonZeroU64};
use std::ops::Range;

use piwheels_protocol::ProtocolError;
use piwheels_protocol::transfer::{
    ChunkError, ClientFrame, ServerFrame, TransferFile, TransferState, chunk_frames, hello_frames,
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

    let hello = hello_frames(7);
    assert_eq!(hello, [b"HELLO".to_vec(), b"7".to_vec()]);
    assert_eq!(
        ClientFrame::parse(&hello).unwrap(),
        ClientFrame::Hello { slave_id: 7 }
    );
    master.on_hello();
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
                master.on_chunk(offset, data.len() as u64).unwrap();
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
    master.on_hello();
    assert_eq!(drain(&mut master), [ServerFrame::Done]);
    // An empty chunk at offset 0 is harmless; anything else is past the end.
    master.on_chunk(0, 0).unwrap();
    frames_error(master.on_chunk(0, 1));
    frames_error(master.on_chunk(1, 0));
    assert_eq!(drain(&mut master), []);
}

#[test]
fn whole_transfer_without_loss_fetches_every_byte_once() {
    // At the tail of a transfer, chunks still on their way are not asked for again.
    for (size, chunk, pipeline) in [(10_000_000, 1 << 20, 4), (1_000, 64, 10), (999, 1000, 8)] {
        let mut master = window(size, chunk, pipeline);
        master.on_hello();
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
            master.on_chunk(r.start, r.end - r.start).unwrap();
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
    master.on_hello();
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
            master.on_chunk(r.start, r.end - r.start).unwrap();
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
    master.on_hello();
    let again = drain(&mut master);
    assert_eq!(again, lost.clone().map(fetch));
    for r in lost.clone() {
        master.on_chunk(r.start, r.end - r.start).unwrap();
    }
    assert_eq!(drain(&mut master), [ServerFrame::Done]);
}

#[test]
fn wrap_around_when_the_client_answers_short() {
    // A client that sends fewer bytes than asked: once nothing is in flight, the master goes
    // round again for the rest without waiting for a HELLO.
    let mut master = window(100, 40, 2);
    master.on_hello();
    assert_eq!(drain(&mut master), [fetch(0..40), fetch(40..80)]);
    master.on_chunk(0, 30).unwrap();
    assert_eq!(drain(&mut master), [fetch(80..100)]);
    master.on_chunk(40, 40).unwrap();
    assert_eq!(drain(&mut master), []); // 80..100 is still in flight
    master.on_chunk(80, 20).unwrap();
    assert_eq!(drain(&mut master), [fetch(30..40)]);
    master.on_chunk(30, 10).unwrap();
    assert_eq!(drain(&mut master), [ServerFrame::Done]);
}

#[test]
fn fetch_window_meets_the_first_missing_range() {
    let mut master = window(1000, 100, 1);
    master.on_hello();
    master.on_chunk(0, 150).unwrap(); // unrequested, but within the file
    master.on_chunk(400, 100).unwrap();
    assert_eq!(master.missing(), [150..400, 500..1000]);
    // The window 0..100 misses everything, so it moves to the first missing byte.
    assert_eq!(drain(&mut master), [fetch(150..250)]);
    master.on_chunk(150, 100).unwrap();
    assert_eq!(drain(&mut master), [fetch(250..350)]);
    master.on_chunk(250, 100).unwrap();
    // The window 350..450 meets 150..400 in 350..400 (the original's short request).
    assert_eq!(drain(&mut master), [fetch(350..400)]);
    master.on_chunk(350, 50).unwrap();
    assert_eq!(drain(&mut master), [fetch(500..600)]);
}

#[test]
fn duplicate_and_overlapping_chunks_are_harmless() {
    let mut master = window(100, 10, 4);
    master.on_hello();
    assert_eq!(drain(&mut master).len(), 4);
    for _ in 0..3 {
        master.on_chunk(0, 10).unwrap();
    }
    master.on_chunk(5, 20).unwrap();
    master.on_chunk(0, 40).unwrap();
    // Credit never exceeds the pipeline, however many chunks arrive.
    assert_eq!(master.credit(), 4);
    assert_eq!(master.missing(), [40..100]);
    master.on_chunk(0, 100).unwrap();
    master.on_chunk(50, 50).unwrap();
    assert!(master.is_complete());
    assert_eq!(master.credit(), 0);
    assert_eq!(drain(&mut master), [ServerFrame::Done]);
    assert_eq!(drain(&mut master), []);
    // A HELLO after the end (the client missed DONE) gets DONE again.
    master.on_hello();
    assert_eq!(drain(&mut master), [ServerFrame::Done]);
}

#[test]
fn chunks_past_the_end_are_rejected_and_change_nothing() {
    let mut master = window(100, 10, 4);
    master.on_hello();
    drain(&mut master);
    let before = master.clone();
    for (offset, len) in [
        (101, 0),
        (101, 1),
        (95, 6),
        (0, 101),
        (u64::MAX, 1),
        (1, u64::MAX),
    ] {
        let what = frames_error(master.on_chunk(offset, len));
        assert!(what.contains("past the end of the 100-byte file"), "{what}");
        assert_eq!(master, before);
    }
    master.on_chunk(90, 10).unwrap();
    master.on_chunk(100, 0).unwrap();
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
    assert!(what.contains("(10000 bytes)") && what.len() < 200, "{what}");
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
        self.state.check_chunk(offset, data.len() as u64).unwrap();
        for (i, &b) in data.iter().enumerate() {
            let slot = &mut self.file[offset as usize + i];
            assert!(
                slot.is_none() || *slot == Some(b),
                "byte {} rewritten differently",
                i
            );
            *slot = Some(b);
        }
        self.state.on_chunk(offset, data.len() as u64).unwrap();
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
        };
        m.state.on_hello();
        m.pump();
        let (mut hellos, mut twices) = (0, 0);
        for step in steps {
            if m.state.is_complete() {
                break;
            }
            let n = m.in_flight.len();
            // Each HELLO may put up to a pipeline's worth more in flight, and each duplicate
            // answer one more request; nothing else can.
            let bound = (1 + hellos) * m.state.initial_credit() as usize + twices;
            prop_assert!(n <= bound, "{n} in flight");
            match step {
                Step::Hello => {
                    hellos += 1;
                    m.state.on_hello();
                }
                Step::Answer(i) | Step::Twice(i) | Step::Short(i, _) | Step::Lose(i) if n > 0 => {
                    let r = m.in_flight.remove(i % n);
                    match step {
                        Step::Answer(_) => m.chunk(&source, r),
                        Step::Twice(_) => {
                            twices += 1;
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
        // five-second timeout says HELLO again.
        let mut rounds = 0;
        while !m.state.is_complete() {
            rounds += 1;
            prop_assert!(rounds < 10 * (size + 10), "no progress: {:?}", m.state);
            if m.in_flight.is_empty() {
                m.state.on_hello();
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
    tf.handle(&ClientFrame::parse(&hello).unwrap()).unwrap();
    let mut queue: VecDeque<ServerFrame> = drain(tf.state_mut()).into();
    // Answer in reverse order within each batch, to write out of order.
    while let Some(frame) = queue.pop_back() {
        let Some(r) = frame.range() else { break };
        let chunk = chunk_frames(r.start, source[r.start as usize..r.end as usize].to_vec());
        tf.handle(&ClientFrame::parse(&chunk).unwrap()).unwrap();
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
    match tf.write_chunk(8, b"abc") {
        Err(ChunkError::Invalid(ProtocolError::Frames(what))) => {
            assert!(what.contains("CHUNK of 3 bytes at offset 8"), "{what}")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        tf.write_chunk(11, b""),
        Err(ChunkError::Invalid(_))
    ));
    assert_eq!(tf.file().metadata().unwrap().len(), 10);
    assert_eq!(tf.state().missing(), [0..10]);
    tf.write_chunk(7, b"abc").unwrap();
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
    let err = tf.write_chunk(4, b"xy").unwrap_err();
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
