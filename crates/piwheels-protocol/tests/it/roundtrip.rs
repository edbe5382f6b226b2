//! Property-based round trips for every message of every protocol direction.
//!
//! For each direction (slave requests and replies, status broadcasts and control
//! commands, import requests and replies, log messages), proptest generates arbitrary
//! messages and checks that:
//!
//! * (a) decoding an encoding gives the message back;
//! * (b) the encoding is canonical: re-encoding what was decoded gives the same bytes;
//! * (c) no byte string, arbitrary or a valid frame mutated, makes any decoder panic,
//!   and whatever a decoder accepts re-encodes to a frame it decodes the same way;
//! * (d) a frame decoded with another direction's table fails with exactly the error
//!   the tables predict (or decodes, where both tables have the name and the data fits);
//! * (e) arbitrary [`Value`] trees round trip.
//!
//! Generated values stay within what Python can hold: datetimes in years 1–9999 with
//! microsecond precision, timedeltas within ±999999999 days, finite floats (NaN and
//! the infinities have their own tests), integers of [`Value`] below 2¹²⁰ in magnitude.

use crate::common;

use common::hex;
use std::collections::BTreeSet;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use indexmap::IndexMap;
use piwheels_protocol::cbor::{Decoder, Encoder, Value, Wire, timedelta_from_micros};
use piwheels_protocol::import::{
    AddPackage, AddVersion, ImportReply, ImportRequest, RebuildTarget, RemovePackage, RemoveVersion,
};
use piwheels_protocol::logger::{DownloadState, LogMessage, PageHit, ProjectHit, SearchState};
use piwheels_protocol::monitor::{
    ControlMessage, MasterHello, MasterStats, SlaveEvent, SlaveEventKind, StatusMessage,
};
use piwheels_protocol::slave::{
    Ack, BuiltReport, Job, SlaveHello, SlaveReply, SlaveRequest, SlaveStats,
};
use piwheels_protocol::states::{BuildState, FileState};
use piwheels_protocol::{Message, NoMessage, ProtocolError};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

mod strategies;

use strategies::*;

// ---------------------------------------------------------------------------------------
// The directions, as the tests see them.

/// One direction: its table as the spec writes it, and its decoder.
struct Dir {
    name: &'static str,
    /// Every message name, and whether it carries data (piwheels.md §3).
    table: &'static [(&'static str, bool)],
    /// The crate's own list of names.
    names: &'static [&'static str],
    /// Decodes, then checks what was decoded re-encodes stably; returns the re-encoding.
    decode: fn(&[u8]) -> Result<Vec<u8>, ProtocolError>,
}

impl Dir {
    /// Whether this direction has `name`, and if so whether with data.
    fn declares(&self, name: &str) -> Option<bool> {
        self.table
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, data)| data)
    }
}

/// Decodes `frame` as `M`; on success re-encodes it, decodes that again and checks the
/// second encoding equals the first (bytes, not values, so NaN compares equal).
fn decode_reencode<M: Message>(frame: &[u8]) -> Result<Vec<u8>, ProtocolError> {
    let m = M::decode(frame)?;
    assert!(
        M::NAMES.contains(&m.name()),
        "{m:?} has a name outside {:?}",
        M::NAMES
    );
    let bytes = m
        .encode()
        .unwrap_or_else(|e| panic!("{m:?} decoded from {frame:02x?} does not encode: {e}"));
    let again = M::decode(&bytes)
        .unwrap_or_else(|e| panic!("re-encoded {m:?} ({bytes:02x?}) does not decode: {e}"));
    let bytes2 = again.encode().expect("decoded twice, encodes");
    assert_eq!(bytes2, bytes, "{m:?} re-encodes unstably");
    Ok(bytes)
}

macro_rules! dir {
    ($ty:ident, $table:expr) => {
        Dir {
            name: stringify!($ty),
            table: $table,
            names: <$ty as Message>::NAMES,
            decode: decode_reencode::<$ty>,
        }
    };
}

const SLAVE_REQUEST: &[(&str, bool)] = &[
    ("HELLO", true),
    ("IDLE", true),
    ("BUSY", true),
    ("BUILT", true),
    ("SENT", false),
    ("BYE", false),
];
const SLAVE_REPLY: &[(&str, bool)] = &[
    ("ACK", true),
    ("SLEEP", true),
    ("BUILD", true),
    ("SEND", true),
    ("CONT", false),
    ("DONE", false),
    ("DIE", false),
];
const STATUS: &[(&str, bool)] = &[("HELLO", true), ("STATS", true), ("SLAVE", true)];
const CONTROL: &[(&str, bool)] = &[
    ("KILL", true),
    ("SLEEP", true),
    ("SKIP", true),
    ("WAKE", true),
    ("HELLO", false),
    ("QUIT", false),
];
const IMPORT_REQUEST: &[(&str, bool)] = &[
    ("IMPORT", true),
    ("ADDPKG", true),
    ("ADDVER", true),
    ("REMPKG", true),
    ("REMVER", true),
    ("REBUILD", true),
    ("SENT", false),
];
const IMPORT_REPLY: &[(&str, bool)] = &[("SEND", true), ("DONE", true), ("ERROR", true)];
const LOG: &[(&str, bool)] = &[
    ("LOGDOWNLOAD", true),
    ("LOGSEARCH", true),
    ("LOGPROJECT", true),
    ("LOGJSON", true),
    ("LOGPAGE", true),
];

/// Every direction of every CBOR socket, plus the empty direction of one-way sockets.
static DIRS: [Dir; 8] = [
    dir!(SlaveRequest, SLAVE_REQUEST),
    dir!(SlaveReply, SLAVE_REPLY),
    dir!(StatusMessage, STATUS),
    dir!(ControlMessage, CONTROL),
    dir!(ImportRequest, IMPORT_REQUEST),
    dir!(ImportReply, IMPORT_REPLY),
    dir!(LogMessage, LOG),
    dir!(NoMessage, &[]),
];

/// A valid frame: which direction of [`DIRS`] it belongs to, its name and bytes.
#[derive(Debug, Clone)]
struct Frame {
    dir: usize,
    name: &'static str,
    bytes: Vec<u8>,
}

fn frame_of<M: Message>(dir: usize) -> impl Fn(M) -> Frame + Clone {
    move |m| Frame {
        dir,
        name: m.name(),
        bytes: m
            .encode()
            .unwrap_or_else(|e| panic!("{m:?} does not encode: {e}")),
    }
}

/// A valid frame of any direction.
fn any_frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        slave_request().prop_map(frame_of(0)),
        slave_reply().prop_map(frame_of(1)),
        status_message().prop_map(frame_of(2)),
        control_message().prop_map(frame_of(3)),
        import_request().prop_map(frame_of(4)),
        import_reply().prop_map(frame_of(5)),
        log_message().prop_map(frame_of(6)),
    ]
}

/// Feeds `frame` to every direction's decoder (each checks its own re-encoding).
fn decode_everywhere(frame: &[u8]) {
    for dir in &DIRS {
        let _ = (dir.decode)(frame);
    }
}

// ---------------------------------------------------------------------------------------
// Helpers.

fn encode_value<T: Wire>(v: &T) -> Vec<u8> {
    let mut out = Vec::new();
    v.encode(&mut Encoder::new(&mut out)).expect("encodable");
    out
}

/// (a) and (b) for one message, plus the frame's form and `encode_into`'s appending.
fn round_trip<M: Message + PartialEq>(m: &M, table: &[(&str, bool)]) -> Result<(), TestCaseError> {
    let bytes = m
        .encode()
        .map_err(|e| TestCaseError::fail(format!("{m:?}: {e}")))?;
    let back = M::decode(&bytes).map_err(|e| TestCaseError::fail(format!("{m:?}: {e}")))?;
    prop_assert_eq!(&back, m);
    let again = back
        .encode()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&again, &bytes, "not canonical");

    // The frame's form: a bare name, or [name, data], as the table says.
    let frame = Value::decode(&mut Decoder::new(&bytes)).expect("a frame is one CBOR item");
    let name = Value::Text(m.name().into());
    let with_data = table.iter().find(|(n, _)| *n == m.name()).map(|&(_, d)| d);
    match (with_data, frame) {
        (Some(false), frame) => prop_assert_eq!(frame, name),
        (Some(true), Value::Array(items)) => {
            prop_assert_eq!(items.len(), 2);
            prop_assert_eq!(&items[0], &name);
        }
        (declared, frame) => prop_assert!(false, "{declared:?} for {frame:?}"),
    }

    // encode_into appends.
    let mut out = vec![0xaa, 0xbb];
    m.encode_into(&mut out)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&out[..2], &[0xaa, 0xbb]);
    prop_assert_eq!(&out[2..], &bytes[..]);
    Ok(())
}

/// (d): `frame` decoded by every direction gives what the tables predict.
fn check_cross(frame: &Frame) -> Result<(), TestCaseError> {
    let with_data = DIRS[frame.dir]
        .declares(frame.name)
        .expect("a name of its own table");
    for (i, target) in DIRS.iter().enumerate() {
        let got = (target.decode)(&frame.bytes);
        let who = format!(
            "{} frame {:02x?} as {}",
            frame.name, frame.bytes, target.name
        );
        if i == frame.dir {
            prop_assert_eq!(got, Ok(frame.bytes.clone()), "{}", who);
            continue;
        }
        match (target.declares(frame.name), with_data) {
            (None, _) => {
                prop_assert_eq!(
                    got,
                    Err(ProtocolError::UnknownMessage(frame.name.into())),
                    "{}",
                    who
                )
            }
            (Some(true), false) => {
                prop_assert_eq!(got, Err(ProtocolError::MissingData(frame.name)), "{}", who)
            }
            (Some(false), true) => {
                prop_assert_eq!(
                    got,
                    Err(ProtocolError::UnexpectedData(frame.name)),
                    "{}",
                    who
                )
            }
            (Some(false), false) => prop_assert_eq!(got, Ok(frame.bytes.clone()), "{}", who),
            // Both have the name with data: the other schema may or may not fit.
            (Some(true), true) => match got {
                Ok(_) => {}
                Err(ProtocolError::InvalidData { msg, .. }) => prop_assert_eq!(msg, frame.name),
                Err(e) => prop_assert!(false, "{}: {:?}", who, e),
            },
        }
    }
    Ok(())
}

/// One change to a valid frame; positions are taken modulo the frame's length.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(usize, u8),
    Set(usize, u8),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    // Bytes that are CBOR heads of interest: lengths, breaks, tags, floats, simple values.
    let byte = prop_oneof![
        any::<u8>(),
        prop::sample::select(vec![
            0x00, 0x17, 0x18, 0x1b, 0x1f, 0x3b, 0x5f, 0x7f, 0x80, 0x82, 0x9f, 0xa1, 0xbf, 0xc0,
            0xc1, 0xc2, 0xc3, 0xd9, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xff,
        ]),
    ];
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        (any::<usize>(), byte.clone()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<usize>(), vec(byte, 1..10)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<usize>(), 1usize..10).prop_map(|(i, n)| Mutation::Remove(i, n)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(frame: &mut Vec<u8>, m: &Mutation) {
    let len = frame.len();
    match *m {
        Mutation::FlipBit(i, bit) if len > 0 => frame[i % len] ^= 1 << bit,
        Mutation::Set(i, b) if len > 0 => frame[i % len] = b,
        Mutation::Insert(i, ref bytes) => {
            let at = i % (len + 1);
            frame.splice(at..at, bytes.iter().copied());
        }
        Mutation::Remove(i, n) if len > 0 => {
            let at = i % len;
            frame.drain(at..(at + n).min(len));
        }
        Mutation::Truncate(i) => frame.truncate(i % (len + 1)),
        _ => {}
    }
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------
// (a), (b): every message of every direction.

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn slave_requests_round_trip(m in slave_request()) {
        round_trip(&m, SLAVE_REQUEST)?;
    }

    #[test]
    fn slave_replies_round_trip(m in slave_reply()) {
        round_trip(&m, SLAVE_REPLY)?;
    }

    #[test]
    fn status_messages_round_trip(m in status_message()) {
        round_trip(&m, STATUS)?;
    }

    #[test]
    fn control_messages_round_trip(m in control_message()) {
        round_trip(&m, CONTROL)?;
    }

    #[test]
    fn import_requests_round_trip(m in import_request()) {
        round_trip(&m, IMPORT_REQUEST)?;
    }

    #[test]
    fn import_replies_round_trip(m in import_reply()) {
        round_trip(&m, IMPORT_REPLY)?;
    }

    #[test]
    fn log_messages_round_trip(m in log_message()) {
        round_trip(&m, LOG)?;
    }

    /// The shared wire structs on their own, and the typed events monitors read back.
    #[test]
    fn wire_structs_round_trip(file in file_state(), build in build_state()) {
        let bytes = encode_value(&file);
        prop_assert_eq!(FileState::decode(&mut Decoder::new(&bytes)), Ok(file));
        let bytes = encode_value(&build);
        let back = BuildState::decode(&mut Decoder::new(&bytes));
        prop_assert_eq!(back, Ok(build));
    }

    /// A slave event built from a typed message reads back as that message at a monitor.
    #[test]
    fn slave_events_read_back(
        id in any::<i64>(),
        when in datetime(),
        hello in slave_hello(),
        stats in slave_stats(),
        reply in slave_reply(),
    ) {
        let events = [
            (SlaveEvent::hello(id, when, &hello), SlaveEventKind::Hello(hello)),
            (SlaveEvent::stats(id, &stats), SlaveEventKind::Stats(stats)),
            (SlaveEvent::reply(id, when, &reply), SlaveEventKind::Reply(reply)),
            (Ok(SlaveEvent::cooling_off(id, when, when)), SlaveEventKind::CoolingOff(when)),
        ];
        for (event, kind) in events {
            let event = event.map_err(|e| TestCaseError::fail(e.to_string()))?;
            let bytes = StatusMessage::Slave(event.clone()).encode()
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let Ok(StatusMessage::Slave(back)) = StatusMessage::decode(&bytes) else {
                return Err(TestCaseError::fail(format!("{bytes:02x?} is not a SLAVE")));
            };
            prop_assert_eq!(&back, &event);
            prop_assert_eq!(back.slave_id, id);
            prop_assert_eq!(back.kind(), Some(kind));
        }
    }
}

// ---------------------------------------------------------------------------------------
// (c): no input makes a decoder panic; (d): wrong directions fail exactly.

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..128)) {
        decode_everywhere(&bytes);
    }

    /// A known name in a `[name, …]` head followed by random bytes, so the data decoders
    /// (not just the head) see garbage.
    #[test]
    fn known_heads_with_garbage_never_panic(
        dir in 0usize..7,
        pick in any::<prop::sample::Index>(),
        definite in any::<bool>(),
        tail in vec(any::<u8>(), 0..96),
    ) {
        let table = DIRS[dir].table;
        let (name, _) = table[pick.index(table.len())];
        let mut frame = vec![if definite { 0x82 } else { 0x9f }];
        Encoder::new(&mut frame).text(name);
        frame.extend(tail);
        decode_everywhere(&frame);
    }

    #[test]
    fn mutated_frames_never_panic(frame in any_frame(), mutations in vec(mutation(), 1..5)) {
        let mut bytes = frame.bytes;
        for m in &mutations {
            apply(&mut bytes, m);
        }
        decode_everywhere(&bytes);
    }

    /// Every strict prefix of a valid frame is cut short, and its own direction says so.
    #[test]
    fn truncated_frames_fail_to_decode(frame in any_frame(), cut in any::<prop::sample::Index>()) {
        let bytes = &frame.bytes[..cut.index(frame.bytes.len())];
        let got = (DIRS[frame.dir].decode)(bytes);
        prop_assert!(matches!(got, Err(ProtocolError::Decode(_))), "{:02x?}: {:?}", bytes, got);
        decode_everywhere(bytes);
    }

    #[test]
    fn wrong_directions_fail_as_the_tables_say(frame in any_frame()) {
        check_cross(&frame)?;
    }
}

// ---------------------------------------------------------------------------------------
// (e): Value trees.

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn values_round_trip(v in value()) {
        let bytes = encode_value(&v);
        let mut dec = Decoder::new(&bytes);
        let back = Value::decode(&mut dec);
        prop_assert_eq!(dec.offset(), bytes.len(), "not all bytes read");
        prop_assert_eq!(back.as_ref(), Ok(&v));
        prop_assert_eq!(encode_value(&back.unwrap()), bytes);
    }
}

// ---------------------------------------------------------------------------------------
// Fixed cases around the properties.

/// The crate's name lists match the spec's tables, and the strategies reach every name.
#[test]
fn tables_match_and_strategies_cover_every_message() {
    for dir in &DIRS {
        let table: Vec<&str> = dir.table.iter().map(|(n, _)| *n).collect();
        assert_eq!(dir.names, &table[..], "{}", dir.name);
    }
    let mut runner = TestRunner::deterministic();
    let strategy = any_frame();
    let mut seen: Vec<BTreeSet<&str>> = vec![BTreeSet::new(); DIRS.len()];
    for _ in 0..2000 {
        let frame = strategy.new_tree(&mut runner).unwrap().current();
        seen[frame.dir].insert(frame.name);
    }
    for (dir, seen) in DIRS.iter().zip(seen) {
        let all: BTreeSet<&str> = dir.names.iter().copied().collect();
        assert_eq!(seen, all, "{}", dir.name);
    }
}

/// The strategies' bounds are Python's: `datetime.min`/`max`, `timedelta.min`/`max`.
#[test]
fn python_bounds_round_trip_and_one_beyond_is_refused() {
    let min = DateTime::from_timestamp_micros(MIN_DATETIME_MICROS).unwrap();
    let max = DateTime::from_timestamp_micros(MAX_DATETIME_MICROS).unwrap();
    assert_eq!(min, Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap());
    assert_eq!(
        max,
        Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap() + TimeDelta::microseconds(999_999)
    );
    assert_eq!(&encode_value(&max)[3..], b"9999-12-31T23:59:59.999999Z");
    assert_eq!(&encode_value(&min)[2..], b"0001-01-01T00:00:00Z");

    // cbor2 + piwheels' hook: timedelta.max is [999999999, 86399, 999999], .min [-999999999, 0, 0].
    let td_max = timedelta_from_micros(MAX_TIMEDELTA_MICROS).unwrap();
    let td_min = timedelta_from_micros(MIN_TIMEDELTA_MICROS).unwrap();
    assert_eq!(
        encode_value(&td_max),
        hex("d9 07d1 83 1a 3b9ac9ff 1a 0001517f 1a 000f423f")
    );
    assert_eq!(encode_value(&td_min), hex("d9 07d1 83 3a 3b9ac9fe 00 00"));
    assert!(timedelta_from_micros(MAX_TIMEDELTA_MICROS + 1).is_none());
    assert!(timedelta_from_micros(MIN_TIMEDELTA_MICROS - 1).is_none());

    // One step beyond, inside a message: refused, and the output buffer left as it was.
    let stats = SlaveStats {
        timestamp: max + TimeDelta::microseconds(1),
        disk_size: 1,
        disk_free: 1,
        mem_size: 1,
        mem_free: 1,
        swap_size: 0,
        swap_free: 0,
        load_average: 0.0,
        cpu_temp: 0.0,
    };
    let mut out = vec![0xaa];
    let e = SlaveRequest::Idle(stats.clone())
        .encode_into(&mut out)
        .unwrap_err();
    assert!(
        matches!(e, ProtocolError::Unencodable { msg: "IDLE", .. }),
        "{e:?}"
    );
    assert_eq!(out, [0xaa]);
    let early = SlaveStats {
        timestamp: min - TimeDelta::microseconds(1),
        ..stats
    };
    let e = SlaveRequest::Busy(early).encode().unwrap_err();
    assert!(
        matches!(e, ProtocolError::Unencodable { msg: "BUSY", .. }),
        "{e:?}"
    );
    let hello = SlaveHello {
        build_timeout: td_max + TimeDelta::microseconds(1),
        busy_timeout: TimeDelta::minutes(5),
        py_version: "311".into(),
        abi: "cp311".into(),
        platform: "linux_armv7l".into(),
        label: "s".into(),
        os_name: "o".into(),
        os_version: "v".into(),
        board_revision: "r".into(),
        board_serial: "s".into(),
    };
    let e = SlaveRequest::Hello(hello.clone()).encode().unwrap_err();
    assert!(
        matches!(e, ProtocolError::Unencodable { msg: "HELLO", .. }),
        "{e:?}"
    );
    // The error says which value it was, and why.
    if let ProtocolError::Unencodable { reason, .. } = &e {
        assert_eq!(reason.path, ["build_timeout"], "{e}");
        assert!(
            matches!(
                reason.kind,
                piwheels_protocol::error::Unrepresentable::Timedelta(_)
            ),
            "{e}"
        );
    }
    let hello = SlaveHello {
        build_timeout: td_min - TimeDelta::microseconds(1),
        ..hello
    };
    assert!(SlaveRequest::Hello(hello).encode().is_err());
    // On receipt, one day past Python's range is refused too.
    let frame = hex("d9 07d1 83 3a 3b9ac9ff 00 00");
    assert!(TimeDelta::decode(&mut Decoder::new(&frame)).is_err());
}

/// NaN is not equal to itself, so it is checked apart from the properties: it travels as
/// cbor2's `f9 7e00`, comes back as NaN, and any NaN on the wire re-encodes that way.
#[test]
fn nan_and_infinities_survive() {
    let stats = SlaveStats {
        timestamp: Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, 9).unwrap(),
        disk_size: 31_000_000_000,
        disk_free: 20_000_000_000,
        mem_size: 4_000_000_000,
        mem_free: 3_000_000_000,
        swap_size: 100_000_000,
        swap_free: 100_000_000,
        load_average: f64::NAN,
        cpu_temp: f64::NEG_INFINITY,
    };
    let bytes = SlaveRequest::Idle(stats.clone()).encode().unwrap();
    assert!(bytes.ends_with(&hex("f9 7e00 f9 fc00")), "{bytes:02x?}");
    let Ok(SlaveRequest::Idle(back)) = SlaveRequest::decode(&bytes) else {
        panic!()
    };
    assert!(back.load_average.is_nan());
    assert_eq!(back.cpu_temp, f64::NEG_INFINITY);
    assert_eq!(SlaveRequest::Idle(back).encode().unwrap(), bytes);

    // A NaN deep in a SLAVE event's anything-goes data.
    let data = Value::Array(vec![Value::Map(vec![(
        Value::Float(f64::NAN),
        Value::Float(f64::INFINITY),
    )])]);
    let event = SlaveEvent {
        slave_id: 1,
        timestamp: stats.timestamp,
        msg: "X".into(),
        data,
    };
    let bytes = StatusMessage::Slave(event).encode().unwrap();
    let Ok(StatusMessage::Slave(back)) = StatusMessage::decode(&bytes) else {
        panic!()
    };
    let Value::Array(items) = &back.data else {
        panic!("{back:?}")
    };
    let Value::Map(pairs) = &items[0] else {
        panic!("{back:?}")
    };
    assert!(
        matches!(pairs[0], (Value::Float(k), Value::Float(v)) if k.is_nan() && v == f64::INFINITY)
    );
    assert_eq!(StatusMessage::Slave(back).encode().unwrap(), bytes);

    // NaNs of every width, quiet or signalling, with payloads or negative.
    for nan in [
        "f9 7e00",
        "f9 7e01",
        "f9 fe00",
        "fa 7fc00001",
        "fa 7f800001",
        "fb 7ff8000000000001",
        "fb fff8000000000000",
        "fb 7ff0000000000001",
    ] {
        let v: f64 = f64::decode(&mut Decoder::new(&hex(nan))).unwrap();
        assert!(v.is_nan(), "{nan}");
        assert_eq!(encode_value(&v), hex("f9 7e00"), "{nan}");
    }
    // -0.0 keeps its sign.
    let z: f64 = f64::decode(&mut Decoder::new(&encode_value(&-0.0f64))).unwrap();
    assert!(z == 0.0 && z.is_sign_negative());
}

/// Names that more than one table has: what each decoding gives, exactly.
#[test]
fn names_shared_between_tables() {
    let hello = ControlMessage::Hello.encode().unwrap();
    assert_eq!(
        StatusMessage::decode(&hello),
        Err(ProtocolError::MissingData("HELLO"))
    );
    assert!(matches!(
        SlaveRequest::decode(&hello),
        Err(ProtocolError::MissingData("HELLO"))
    ));
    let master_hello = StatusMessage::Hello(MasterHello {
        started: Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap(),
        label: "master".into(),
        os_name: "Debian GNU/Linux".into(),
        os_version: "12 (bookworm)".into(),
        board_revision: "unknown".into(),
        board_serial: "unknown".into(),
    })
    .encode()
    .unwrap();
    assert_eq!(
        ControlMessage::decode(&master_hello),
        Err(ProtocolError::UnexpectedData("HELLO"))
    );
    let e = SlaveRequest::decode(&master_hello).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid data for HELLO: expected sequence of 10 items, found sequence of 6 items"
    );
    let slave_hello = hex(
        "826548454c4c4f8ad907d18300192a3000d907d1830019012c00633331316563703331316c6c696e75785f61726d76376c66736c617665317044656269616e20474e552f4c696e75786d31322028626f6f6b776f726d2967756e6b6e6f776e67756e6b6e6f776e",
    );
    assert!(matches!(
        SlaveRequest::decode(&slave_hello),
        Ok(SlaveRequest::Hello(_))
    ));
    let e = StatusMessage::decode(&slave_hello).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid data for HELLO: expected sequence of 6 items, found sequence of 10 items"
    );
    assert_eq!(
        ControlMessage::decode(&slave_hello),
        Err(ProtocolError::UnexpectedData("HELLO"))
    );

    // SLEEP: a bool passes an int check (Python's isinstance(True, int)), not the reverse.
    let sleep = SlaveReply::Sleep(true).encode().unwrap();
    assert_eq!(
        ControlMessage::decode(&sleep),
        Ok(ControlMessage::Sleep(Some(1)))
    );
    let sleep = SlaveReply::Sleep(false).encode().unwrap();
    assert_eq!(
        ControlMessage::decode(&sleep),
        Ok(ControlMessage::Sleep(Some(0)))
    );
    for m in [ControlMessage::Sleep(Some(1)), ControlMessage::Sleep(None)] {
        let e = SlaveReply::decode(&m.encode().unwrap()).unwrap_err();
        assert!(
            matches!(e, ProtocolError::InvalidData { msg: "SLEEP", .. }),
            "{e:?}"
        );
    }

    // SEND: a str on both sockets; SENT: bare on both; DONE: bare to slaves, str to tools.
    let send = SlaveReply::Send("foo-1.0-py3-none-any.whl".into())
        .encode()
        .unwrap();
    assert_eq!(
        ImportReply::decode(&send),
        Ok(ImportReply::Send("foo-1.0-py3-none-any.whl".into()))
    );
    assert_eq!(
        ImportRequest::decode(&SlaveRequest::Sent.encode().unwrap()),
        Ok(ImportRequest::Sent)
    );
    assert_eq!(
        ImportReply::decode(&SlaveReply::Done.encode().unwrap()),
        Err(ProtocolError::MissingData("DONE"))
    );
    let done = ImportReply::Done("IMPORT".into()).encode().unwrap();
    assert_eq!(
        SlaveReply::decode(&done),
        Err(ProtocolError::UnexpectedData("DONE"))
    );

    // Within each socket, the two directions share no name: all unknown.
    assert_eq!(
        SlaveReply::decode(&slave_hello),
        Err(ProtocolError::UnknownMessage("HELLO".into()))
    );
    assert_eq!(
        NoMessage::decode(&slave_hello),
        Err(ProtocolError::UnknownMessage("HELLO".into()))
    );
}

/// Every `RebuildTarget` form on the wire, and the malformed ones refused.
#[test]
fn rebuild_targets_exactly() {
    for (target, data) in [
        (RebuildTarget::Home, "81 64 484f4d45"),
        (RebuildTarget::Search, "81 66 534541524348"),
        (RebuildTarget::Project(None), "82 67 50524f4a454354 f6"),
        (
            RebuildTarget::Project(Some("foo".into())),
            "82 67 50524f4a454354 63 666f6f",
        ),
        (RebuildTarget::Both(None), "82 64 424f5448 f6"),
        (
            RebuildTarget::Both(Some("foo".into())),
            "82 64 424f5448 63 666f6f",
        ),
    ] {
        let frame = [hex("82 67 5245425549 4c44"), hex(data)].concat();
        let m = ImportRequest::Rebuild(target);
        assert_eq!(m.encode().unwrap(), frame, "{m:?}");
        assert_eq!(ImportRequest::decode(&frame), Ok(m));
    }
    for bad in [
        "80",                   // []
        "81 67 50524f4a454354", // ["PROJECT"]
        "82 64 484f4d45 f6",    // ["HOME", None]
        "81 63 464f4f",         // ["FOO"]
        "83 64 424f5448 f6 f6", // ["BOTH", None, None]
        "82 64 424f5448 01",    // ["BOTH", 1]
        "81 01",                // [1]
        "64 484f4d45",          // "HOME"
    ] {
        let frame = [hex("82 67 5245425549 4c44"), hex(bad)].concat();
        let e = ImportRequest::decode(&frame).unwrap_err();
        assert!(
            matches!(e, ProtocolError::InvalidData { msg: "REBUILD", .. }),
            "{bad}: {e:?}"
        );
    }
}

/// `Value::Int`s of 2¹²⁰ and more in magnitude travel as 16-byte bignums and come back
/// as raw bignum tags, not `Int`; the bytes stay canonical either way.
#[test]
fn big_bignums_stay_canonical() {
    for i in [VALUE_INT_LIMIT, -VALUE_INT_LIMIT - 1, i128::MAX, i128::MIN] {
        let bytes = encode_value(&Value::Int(i));
        assert_eq!(bytes[1], 0x50, "{i}: a 16-byte bignum");
        let back = Value::decode(&mut Decoder::new(&bytes)).unwrap();
        assert_eq!(encode_value(&back), bytes, "{i}");
    }
}
