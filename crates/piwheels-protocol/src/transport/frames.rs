//! The frame shapes of each envelope, checked the same way by blocking and asynchronous
//! sockets.
//!
//! Each check takes the frames kept from one multipart message (the first few) and how
//! many frames it had in all, so a flood of extra frames never has to be stored.

use crate::error::ProtocolError;
use crate::message::Message;

/// Encode buffers grown past this are given back after a send.
const RETAIN: usize = 64 << 10;

/// Encodes `msg` into `buf`, replacing what was there.
pub(crate) fn encode<M: Message>(buf: &mut Vec<u8>, msg: &M) -> Result<(), ProtocolError> {
    buf.clear();
    msg.encode_into(buf)
}

/// Gives back the memory of a buffer that one large message grew.
pub(crate) fn trim(buf: &mut Vec<u8>) {
    if buf.capacity() > RETAIN {
        *buf = Vec::new();
    }
}

/// Gives back the memory of kept frames that held a large message.
pub(crate) fn trim_frames(frames: &mut [zmq::Message]) {
    for frame in frames {
        if frame.len() > RETAIN {
            *frame = zmq::Message::new();
        }
    }
}

/// A ROUTER's view of a REQ peer's message: `[identity, "", payload]`.
pub(crate) fn router_payload(kept: &[zmq::Message], total: usize) -> Result<&[u8], ProtocolError> {
    if total != 3 {
        return Err(ProtocolError::Frames(format!(
            "expected 3 frames [identity, empty delimiter, payload], received {total}"
        )));
    }
    delimiter(&kept[1])?;
    Ok(&kept[2])
}

/// A DEALER's view of a ROUTER's reply to a REQ: `["", payload]`.
pub(crate) fn delimited_payload(
    kept: &[zmq::Message],
    total: usize,
) -> Result<&[u8], ProtocolError> {
    if total != 2 {
        return Err(ProtocolError::Frames(format!(
            "expected 2 frames [empty delimiter, payload], received {total}"
        )));
    }
    delimiter(&kept[0])?;
    Ok(&kept[1])
}

/// A single-frame socket's message (REQ, PULL, SUB): `[payload]`.
pub(crate) fn single_payload(kept: &[zmq::Message], total: usize) -> Result<&[u8], ProtocolError> {
    if total != 1 {
        return Err(ProtocolError::Frames(format!(
            "expected 1 frame [payload], received {total}"
        )));
    }
    Ok(&kept[0])
}

/// Raw frames (after a ROUTER's identity), at most `max` of them.
pub(crate) fn check_raw_count(total: usize, max: usize) -> Result<(), ProtocolError> {
    if total == 0 {
        Err(ProtocolError::Frames(
            "expected at least 1 frame after the identity".into(),
        ))
    } else if total > max {
        Err(ProtocolError::Frames(format!(
            "expected at most {max} frames, received {total}"
        )))
    } else {
        Ok(())
    }
}

fn delimiter(frame: &[u8]) -> Result<(), ProtocolError> {
    if frame.is_empty() {
        Ok(())
    } else {
        Err(ProtocolError::Frames(format!(
            "expected an empty delimiter frame, received {} bytes",
            frame.len()
        )))
    }
}

/// The "nothing to send" error of raw sends.
pub(crate) fn no_frames() -> ProtocolError {
    ProtocolError::Frames("a message needs at least one frame".into())
}
