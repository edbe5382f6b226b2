//! Fuzzes every decoder of every protocol direction: no input may make one panic, and
//! whatever one accepts must re-encode to a frame that it decodes to the same message.
//!
//! Messages are compared by their encodings, not with `==`, so that a NaN (which is not
//! equal to itself) compares equal to itself. The frame is also read as a bare CBOR
//! [`Value`], which reaches every item the codec knows, with the same check.
#![no_main]

use libfuzzer_sys::fuzz_target;
use piwheels_protocol::cbor::{Decoder, Encoder, Value, Wire};
use piwheels_protocol::import::{ImportReply, ImportRequest};
use piwheels_protocol::logger::LogMessage;
use piwheels_protocol::monitor::{ControlMessage, StatusMessage};
use piwheels_protocol::slave::{SlaveReply, SlaveRequest};
use piwheels_protocol::{Message, NoMessage, ProtocolError};

/// Decodes `frame` as `M`; if it decodes, checks that the message re-encodes, that the
/// encoding decodes again, and that the second encoding equals the first.
fn check<M: Message>(frame: &[u8]) {
    let m = match M::decode(frame) {
        Ok(m) => m,
        Err(ProtocolError::Unencodable { .. }) => panic!("decoding reported an encoding error"),
        Err(_) => return,
    };
    assert!(
        M::NAMES.contains(&m.name()),
        "{m:?}: name outside {:?}",
        M::NAMES
    );
    let bytes = match m.encode() {
        Ok(bytes) => bytes,
        Err(e) => panic!("{m:?}, decoded from {frame:02x?}, does not encode: {e}"),
    };
    let again = match M::decode(&bytes) {
        Ok(again) => again,
        Err(e) => panic!("{m:?} re-encoded as {bytes:02x?} does not decode: {e}"),
    };
    assert_eq!(again.name(), m.name());
    let bytes2 = again
        .encode()
        .expect("a message decoded from our own encoding encodes");
    assert_eq!(bytes2, bytes, "{m:?} encodes unstably: {again:?}");
}

/// The same for a bare CBOR item.
fn check_value(frame: &[u8]) {
    let Ok(v) = Value::decode(&mut Decoder::new(frame)) else {
        return;
    };
    let mut bytes = Vec::new();
    if let Err(e) = v.encode(&mut Encoder::new(&mut bytes)) {
        panic!("{v:?}, decoded from {frame:02x?}, does not encode: {e}");
    }
    let again = match Value::decode(&mut Decoder::new(&bytes)) {
        Ok(again) => again,
        Err(e) => panic!("{v:?} re-encoded as {bytes:02x?} does not decode: {e:?}"),
    };
    let mut bytes2 = Vec::new();
    again
        .encode(&mut Encoder::new(&mut bytes2))
        .expect("encodes");
    assert_eq!(bytes2, bytes, "{v:?} encodes unstably: {again:?}");
}

fuzz_target!(|frame: &[u8]| {
    check::<SlaveRequest>(frame);
    check::<SlaveReply>(frame);
    check::<StatusMessage>(frame);
    check::<ControlMessage>(frame);
    check::<ImportRequest>(frame);
    check::<ImportReply>(frame);
    check::<LogMessage>(frame);
    check::<NoMessage>(frame);
    check_value(frame);
});
