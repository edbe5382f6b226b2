//! Golden byte vectors from the spec (piwheels.md §2.2), in both directions, and the exact
//! acceptance and rejection rules of piwheels.md §2.3.

use crate::common;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use common::hex;
use piwheels_protocol::cbor::{Decoder, Encoder, Value, Wire};
use piwheels_protocol::slave::{Ack, Job, SlaveHello, SlaveReply, SlaveRequest};
use piwheels_protocol::{Message, ProtocolError};

fn encode<T: Wire>(v: &T) -> Vec<u8> {
    let mut out = Vec::new();
    v.encode(&mut Encoder::new(&mut out)).unwrap();
    out
}

fn decode<T: Wire>(bytes: &[u8]) -> T {
    T::decode(&mut Decoder::new(bytes)).unwrap()
}

#[test]
fn reply_vectors_both_ways() {
    let cases = [
        (SlaveReply::Cont, "64 434f4e54"),
        (SlaveReply::Sleep(false), "82 65 534c454550 f4"),
        (
            SlaveReply::Build(Job {
                package: "foo".into(),
                version: "1.0".into(),
            }),
            "82 65 4255494c44 82 63 666f6f 63 312e30",
        ),
        (
            SlaveReply::Ack(Ack {
                slave_id: 1,
                index_url: "http://127.0.0.1:8080/simple".into(),
            }),
            "82 63 41434b 82 01 78 1c 687474703a2f2f3132372e302e302e313a383038302f73696d706c65",
        ),
    ];
    for (msg, bytes) in cases {
        assert_eq!(msg.encode().unwrap(), hex(bytes), "{msg:?}");
        assert_eq!(SlaveReply::decode(&hex(bytes)).unwrap(), msg);
    }
}

#[test]
fn value_vectors_both_ways() {
    let td6 = TimeDelta::seconds(6);
    assert_eq!(encode(&td6), hex("d9 07d1 83 00 06 00"));
    assert_eq!(decode::<TimeDelta>(&hex("d9 07d1 83 00 06 00")), td6);
    let td3h = TimeDelta::hours(3);
    assert_eq!(encode(&td3h), hex("d9 07d1 83 00 192a30 00"));
    assert_eq!(decode::<TimeDelta>(&hex("d9 07d1 83 00 192a30 00")), td3h);
    let when = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
    let when_bytes = hex("c0 74 323032342d30312d30325430333a30343a30355a");
    assert_eq!(encode(&when), when_bytes);
    assert_eq!(decode::<DateTime<Utc>>(&when_bytes), when);
    assert_eq!(encode(&0.5f64), hex("fb 3fe0000000000000"));
    assert_eq!(decode::<f64>(&hex("fb 3fe0000000000000")), 0.5);
}

const HELLO: &str = "826548454c4c4f8ad907d18300192a3000d907d1830019012c00633331316563703331316c6c696e75785f61726d76376c66736c617665317044656269616e20474e552f4c696e75786d31322028626f6f6b776f726d2967756e6b6e6f776e67756e6b6e6f776e";

#[test]
fn full_slave_hello_both_ways() {
    let hello = SlaveRequest::Hello(SlaveHello {
        build_timeout: TimeDelta::hours(3),
        busy_timeout: TimeDelta::minutes(5),
        py_version: "311".into(),
        abi: "cp311".into(),
        platform: "linux_armv7l".into(),
        label: "slave1".into(),
        os_name: "Debian GNU/Linux".into(),
        os_version: "12 (bookworm)".into(),
        board_revision: "unknown".into(),
        board_serial: "unknown".into(),
    });
    assert_eq!(hello.encode().unwrap(), hex(HELLO));
    assert_eq!(SlaveRequest::decode(&hex(HELLO)).unwrap(), hello);
}

#[test]
fn datetimes_as_cbor2_writes_them() {
    let with_micros =
        Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap() + TimeDelta::microseconds(120);
    let bytes = encode(&with_micros);
    assert_eq!(&bytes[3..], b"2024-01-02T03:04:05.000120Z");
    assert_eq!(decode::<DateTime<Utc>>(&bytes), with_micros);
    // Nanoseconds do not travel: Python's datetimes stop at microseconds.
    let with_nanos = with_micros + TimeDelta::nanoseconds(999);
    assert_eq!(encode(&with_nanos), bytes);
    // Years Python cannot hold are refused on sending.
    let far = Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap();
    let mut out = Vec::new();
    let err = far.encode(&mut Encoder::new(&mut out)).unwrap_err();
    assert!(
        matches!(err.kind, piwheels_protocol::error::Unrepresentable::Datetime(d) if d == far),
        "{err}"
    );
    assert!(err.to_string().contains("outside years"), "{err}");
}

fn tagged_text(tag: u8, s: &str) -> Vec<u8> {
    let mut out = vec![0xc0 | tag];
    Encoder::new(&mut out).text(s);
    out
}

#[test]
fn datetime_strings_accepted_and_rejected_like_cbor2() {
    let base = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
    for (s, want) in [
        ("2024-01-02T03:04:05Z", base),
        (
            "2024-01-02T03:04:05.5Z",
            base + TimeDelta::milliseconds(500),
        ),
        (
            "2024-01-02T03:04:05.1234569Z",
            base + TimeDelta::microseconds(123_456),
        ),
        ("2024-01-02T04:04:05+01:00", base),
        ("2024-01-02T01:34:05-01:30", base),
    ] {
        assert_eq!(decode::<DateTime<Utc>>(&tagged_text(0, s)), want, "{s}");
    }
    for s in [
        "2024-01-02 03:04:05Z",
        "2024-01-02T03:04Z",
        "2024-01-02T03:04:05",
        "2024-13-02T03:04:05Z",
        "2024-02-30T03:04:05Z",
        "2024-01-02T24:00:00Z",
        "2024-01-02T03:04:60Z",
        "2024-01-02T03:04:05.Z",
        "2024-01-02T03:04:05Zjunk",
        "0000-01-01T00:00:00Z",
        "",
    ] {
        let err = Ok::<_, ()>(()).and_then(|_| {
            DateTime::<Utc>::decode(&mut Decoder::new(&tagged_text(0, s))).map_err(|_| ())
        });
        assert!(err.is_err(), "{s:?} was accepted");
    }
    // Tag 1: seconds since the epoch, integer or float.
    assert_eq!(
        decode::<DateTime<Utc>>(&hex("c1 1a 65937d15")),
        Utc.timestamp_opt(1704164629, 0).unwrap()
    );
    assert_eq!(
        decode::<DateTime<Utc>>(&hex("c1 fb 41d964df454a000000")),
        Utc.timestamp_opt(1704164629, 0).unwrap() + TimeDelta::microseconds(156_250)
    );
}

#[test]
fn timedeltas_normalised_as_python_does() {
    // timedelta(seconds=-1) is (-1 days, 86399 s, 0 µs) in Python.
    assert_eq!(
        encode(&TimeDelta::seconds(-1)),
        hex("d9 07d1 83 20 1a 0001517f 00")
    );
    assert_eq!(
        encode(&TimeDelta::microseconds(-1)),
        hex("d9 07d1 83 20 1a 0001517f 1a 000f423f")
    );
    // The decoder takes any split, as Python's constructor does.
    assert_eq!(
        decode::<TimeDelta>(&hex("d9 07d1 83 00 19 0e10 00")),
        TimeDelta::hours(1)
    );
    assert_eq!(
        decode::<TimeDelta>(&hex("d9 07d1 83 01 39 0e0f 00")),
        TimeDelta::hours(23)
    );
    // Beyond Python's ±999999999 days: refused both ways.
    assert!(TimeDelta::decode(&mut Decoder::new(&hex("d9 07d1 83 1a 3b9aca00 00 00"))).is_err());
    let mut out = Vec::new();
    assert!(
        TimeDelta::days(1_000_000_000)
            .encode(&mut Encoder::new(&mut out))
            .is_err()
    );
    // Wrong shapes.
    for bad in [
        "d9 07d1 82 00 00",
        "d9 07d1 84 00 00 00 00",
        "d9 07d1 83 00 f5 00",
        "d9 07d1 00",
    ] {
        assert!(
            TimeDelta::decode(&mut Decoder::new(&hex(bad))).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn floats_always_doubles_except_specials() {
    assert_eq!(encode(&1.0f64), hex("fb 3ff0000000000000"));
    assert_eq!(encode(&f64::NAN), hex("f9 7e00"));
    assert_eq!(encode(&f64::INFINITY), hex("f9 7c00"));
    assert_eq!(encode(&f64::NEG_INFINITY), hex("f9 fc00"));
    // Half and single precision are accepted.
    assert_eq!(decode::<f64>(&hex("f9 3800")), 0.5);
    assert_eq!(decode::<f64>(&hex("fa 3f000000")), 0.5);
    // An integer where a float is wanted is rejected (load average, temperature).
    assert!(f64::decode(&mut Decoder::new(&hex("01"))).is_err());
}

#[test]
fn ints_bools_and_strings() {
    // bool passes an int check, as Python's isinstance(True, int) does...
    assert_eq!(decode::<i64>(&hex("f5")), 1);
    // ... but an int does not pass a bool check.
    assert!(bool::decode(&mut Decoder::new(&hex("01"))).is_err());
    // Bignums that fit are ints; larger ones are out of range, not a crash.
    assert_eq!(decode::<i64>(&hex("c2 42 0100")), 256);
    assert_eq!(decode::<i64>(&hex("c3 41 00")), -1);
    assert!(i64::decode(&mut Decoder::new(&hex("c2 49 010000000000000000"))).is_err());
    assert!(i64::decode(&mut Decoder::new(&hex("1b ffffffffffffffff"))).is_err());
    assert_eq!(
        encode(&Value::Int(1 << 64)),
        hex("c2 49 010000000000000000")
    );
    // Text may be indefinite; bytes are not text.
    assert_eq!(decode::<String>(&hex("7f 62 6162 61 63 ff")), "abc");
    assert!(String::decode(&mut Decoder::new(&hex("43 616263"))).is_err());
    assert!(String::decode(&mut Decoder::new(&hex("62 c328"))).is_err());
}

fn err(frame: &str) -> ProtocolError {
    SlaveRequest::decode(&hex(frame)).unwrap_err()
}

#[test]
fn framing_rules() {
    // A bare name for a message with data, and data for a message without.
    assert_eq!(err("64 49444c45"), ProtocolError::MissingData("IDLE"));
    assert_eq!(
        err("82 64 53454e54 f5"),
        ProtocolError::UnexpectedData("SENT")
    );
    // Data that is piwheels' NoData sentinel counts as no data (Python cannot tell).
    assert_eq!(
        SlaveRequest::decode(&hex("82 64 53454e54 d9 07d2 f6")).unwrap(),
        SlaveRequest::Sent
    );
    // Unknown names, in either form; a reply name sent the wrong way is unknown too.
    assert_eq!(
        err("64 4e4f5045"),
        ProtocolError::UnknownMessage("NOPE".into())
    );
    assert_eq!(
        err("64 434f4e54"),
        ProtocolError::UnknownMessage("CONT".into())
    );
    assert_eq!(err("82 01 02"), ProtocolError::UnknownMessage("int".into()));
    // Neither text nor a pair.
    for frame in [
        "01",
        "83 63 425945 f6 f6",
        "81 63 425945",
        "9f 63 425945 ff",
        "a0",
        "80",
    ] {
        assert!(matches!(err(frame), ProtocolError::Structure(_)), "{frame}");
    }
    // Not CBOR at all, or cut short.
    for frame in ["", "ff", "1c", "65 4845", "82 65 48454c4c4f"] {
        assert!(matches!(err(frame), ProtocolError::Decode(_)), "{frame}");
    }
    // An indefinite [name, data] pair is fine; a third item is not.
    assert_eq!(
        SlaveRequest::decode(&hex("9f 64 53454e54 ff")).unwrap_err(),
        ProtocolError::Structure("an array of 1 item, not [name, data]".into())
    );
    assert_eq!(
        SlaveReply::decode(&hex("9f 65 534c454550 f4 ff")).unwrap(),
        SlaveReply::Sleep(false)
    );
    // A definite list as the last item inside an indefinite pair: the pair's break must
    // be left for the pair.
    let built =
        SlaveRequest::decode(&hex("9f 65 4255494c54 84 f4 d9 07d1 83 00 06 00 60 80 ff")).unwrap();
    assert!(matches!(built, SlaveRequest::Built(b) if b.files.is_empty() && !b.status));
    assert!(matches!(
        SlaveReply::decode(&hex("9f 65 534c454550 f4 f4 ff")),
        Err(ProtocolError::Structure(_))
    ));
}

#[test]
fn schema_errors_say_where() {
    // The HELLO with its 4th field (the ABI) as bytes instead of text.
    let mut bytes = hex(HELLO);
    let at = bytes.windows(6).position(|w| w == b"ecp311").unwrap();
    bytes[at] = 0x45;
    let e = SlaveRequest::decode(&bytes).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid data for HELLO: at [3]: expected str, found bytes"
    );
    // One field short, one too many.
    let mut short = hex(HELLO);
    short[7] = 0x89;
    assert!(
        SlaveRequest::decode(&short)
            .unwrap_err()
            .to_string()
            .contains("sequence of 10 items")
    );
    let mut long = hex(HELLO);
    long[7] = 0x8b;
    long.push(0xf6);
    let e = SlaveRequest::decode(&long).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid data for HELLO: expected sequence of 10 items, found sequence of 11 items"
    );
}

#[test]
fn hostile_sizes_and_nesting_are_refused_without_allocating() {
    // A text claiming 2^62 bytes, an array claiming 2^62 items.
    assert!(matches!(
        err("82 64 49444c45 9b 4000000000000000"),
        ProtocolError::Decode(_) | ProtocolError::InvalidData { .. }
    ));
    assert!(matches!(
        err("7b 4000000000000000 41"),
        ProtocolError::Decode(_)
    ));
    // Deep nesting inside an anything-goes field.
    let mut deep =
        hex("82 65 534c415645 84 01 c0 74 323032342d30312d30325430333a30343a30355a 63 414141");
    deep.extend(std::iter::repeat_n(0x81, 100_000));
    deep.push(0x01);
    let e = piwheels_protocol::monitor::StatusMessage::decode(&deep).unwrap_err();
    assert!(e.to_string().contains("nested more than"), "{e}");
}

#[test]
fn a_nan_header_put_back_is_read_again() {
    // Found by the fuzzer: a NaN float where an indefinite pair may end (its header is put
    // back after looking for the break) must not trip the put-back check.
    let e = SlaveRequest::decode(&hex("9f 64 49444c45 f9 7e00 ff")).unwrap_err();
    assert!(matches!(e, ProtocolError::InvalidData { .. }), "{e}");
    let v =
        piwheels_protocol::cbor::Value::decode(&mut Decoder::new(&hex("9f f9 7e00 ff"))).unwrap();
    assert!(matches!(&v, Value::Array(items) if matches!(items[0], Value::Float(f) if f.is_nan())));
}
