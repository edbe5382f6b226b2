//! What the transport tests share: a small hand-written protocol table (not the real
//! ones, so the tests depend only on the transport), where servers bind, and checks.
//!
//! Included by `transport.rs` and `transport_async.rs`; each uses part of it.

#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use piwheels_protocol::error::{DecodeError, ProtocolError, Unrepresentable};
use piwheels_protocol::message::{Message, Protocol};
use piwheels_protocol::transport::{SocketOptions, TransportError};

// ---------------------------------------------------------------------------------------
// A test protocol: bare names as CBOR text, `COUNT`/`ECHO` as `[name, uint]`.

#[derive(Debug, PartialEq)]
pub enum ToMaster {
    Hello,
    Idle,
    Count(u64),
}

#[derive(Debug, PartialEq)]
pub enum FromMaster {
    Ack,
    Sleep,
    Echo(u64),
    /// Fails to encode, like a datetime Python cannot represent.
    Unsendable,
}

pub struct Test;

impl Protocol for Test {
    type ToMaster = ToMaster;
    type FromMaster = FromMaster;
}

pub fn put_head(out: &mut Vec<u8>, major: u8, n: u64) {
    let major = major << 5;
    match n {
        0..24 => out.push(major | n as u8),
        24..256 => out.extend([major | 24, n as u8]),
        256..65536 => {
            out.push(major | 25);
            out.extend((n as u16).to_be_bytes());
        }
        65536..=0xffff_ffff => {
            out.push(major | 26);
            out.extend((n as u32).to_be_bytes());
        }
        _ => {
            out.push(major | 27);
            out.extend(n.to_be_bytes());
        }
    }
}

pub fn put_text(out: &mut Vec<u8>, text: &str) {
    put_head(out, 3, text.len() as u64);
    out.extend(text.as_bytes());
}

pub fn put_count(out: &mut Vec<u8>, name: &str, n: u64) {
    out.push(0x82);
    put_text(out, name);
    put_head(out, 0, n);
}

pub fn decode_error(offset: usize, reason: &str) -> ProtocolError {
    ProtocolError::Decode(DecodeError {
        offset,
        reason: reason.into(),
    })
}

/// Reads one CBOR head: (major type, argument).
pub fn head(frame: &[u8], pos: &mut usize) -> Result<(u8, u64), ProtocolError> {
    let start = *pos;
    let &byte = frame
        .get(start)
        .ok_or_else(|| decode_error(start, "truncated"))?;
    let width = match byte & 31 {
        n @ 0..24 => {
            *pos += 1;
            return Ok((byte >> 5, u64::from(n)));
        }
        24 => 1,
        25 => 2,
        26 => 4,
        27 => 8,
        _ => return Err(decode_error(start, "unsupported head")),
    };
    let bytes = frame
        .get(start + 1..start + 1 + width)
        .ok_or_else(|| decode_error(start, "truncated"))?;
    *pos += 1 + width;
    Ok((
        byte >> 5,
        bytes.iter().fold(0, |n, &b| n << 8 | u64::from(b)),
    ))
}

pub fn text<'a>(frame: &'a [u8], pos: &mut usize) -> Result<&'a str, ProtocolError> {
    let start = *pos;
    match head(frame, pos)? {
        (3, len) => {
            let end = *pos + len as usize;
            let bytes = frame
                .get(*pos..end)
                .ok_or_else(|| decode_error(start, "truncated"))?;
            *pos = end;
            std::str::from_utf8(bytes).map_err(|_| decode_error(start, "invalid UTF-8"))
        }
        _ => Err(ProtocolError::Structure("name is not text".into())),
    }
}

/// Decodes a frame into (name, optional uint).
pub fn parse(frame: &[u8]) -> Result<(String, Option<u64>), ProtocolError> {
    let mut pos = 0;
    let parsed = if frame.first() == Some(&0x82) {
        pos = 1;
        let name = text(frame, &mut pos)?.to_owned();
        match head(frame, &mut pos)? {
            (0, n) => (name, Some(n)),
            _ => return Err(ProtocolError::Structure("data is not a uint".into())),
        }
    } else {
        (text(frame, &mut pos)?.to_owned(), None)
    };
    if pos != frame.len() {
        return Err(decode_error(pos, "trailing bytes"));
    }
    Ok(parsed)
}

impl Message for ToMaster {
    const NAMES: &'static [&'static str] = &["HELLO", "IDLE", "COUNT"];

    fn name(&self) -> &'static str {
        match self {
            ToMaster::Hello => "HELLO",
            ToMaster::Idle => "IDLE",
            ToMaster::Count(_) => "COUNT",
        }
    }

    fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), ProtocolError> {
        match self {
            ToMaster::Count(n) => put_count(out, "COUNT", *n),
            _ => put_text(out, self.name()),
        }
        Ok(())
    }

    fn decode(frame: &[u8]) -> Result<Self, ProtocolError> {
        match parse(frame)? {
            (name, None) if name == "HELLO" => Ok(ToMaster::Hello),
            (name, None) if name == "IDLE" => Ok(ToMaster::Idle),
            (name, Some(n)) if name == "COUNT" => Ok(ToMaster::Count(n)),
            (name, _) => Err(ProtocolError::UnknownMessage(name)),
        }
    }
}

impl Message for FromMaster {
    const NAMES: &'static [&'static str] = &["ACK", "SLEEP", "ECHO", "UNSENDABLE"];

    fn name(&self) -> &'static str {
        match self {
            FromMaster::Ack => "ACK",
            FromMaster::Sleep => "SLEEP",
            FromMaster::Echo(_) => "ECHO",
            FromMaster::Unsendable => "UNSENDABLE",
        }
    }

    fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), ProtocolError> {
        match self {
            FromMaster::Echo(n) => put_count(out, "ECHO", *n),
            FromMaster::Unsendable => {
                return Err(ProtocolError::Unencodable {
                    msg: "UNSENDABLE",
                    reason: Unrepresentable::Timedelta(i128::MAX).into(),
                });
            }
            _ => put_text(out, self.name()),
        }
        Ok(())
    }

    fn decode(frame: &[u8]) -> Result<Self, ProtocolError> {
        match parse(frame)? {
            (name, None) if name == "ACK" => Ok(FromMaster::Ack),
            (name, None) if name == "SLEEP" => Ok(FromMaster::Sleep),
            (name, Some(n)) if name == "ECHO" => Ok(FromMaster::Echo(n)),
            (name, _) => Err(ProtocolError::UnknownMessage(name)),
        }
    }
}

pub fn encoded<M: Message>(msg: &M) -> Vec<u8> {
    msg.encode().unwrap()
}

// ---------------------------------------------------------------------------------------
// Helpers.

pub const WAIT: Duration = Duration::from_secs(5);

/// Where a test's server binds.
pub enum Transport {
    Tcp,
    Ipc(tempfile::TempDir),
    Inproc,
}

impl Transport {
    pub fn ipc() -> Self {
        Transport::Ipc(tempfile::tempdir().unwrap())
    }

    /// An endpoint to bind; the server's `endpoint()` then gives the one to connect to.
    pub fn bind_endpoint(&self) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        match self {
            Transport::Tcp => "tcp://127.0.0.1:*".into(),
            Transport::Ipc(dir) => format!("ipc://{}/sock", dir.path().display()),
            Transport::Inproc => format!("inproc://test-{}", NEXT.fetch_add(1, Ordering::Relaxed)),
        }
    }
}

pub fn opts() -> SocketOptions {
    SocketOptions::new()
}

/// A raw DEALER with a known identity, talking to a typed ROUTER by hand.
pub fn raw_dealer(ctx: &zmq::Context, endpoint: &str, identity: &[u8]) -> zmq::Socket {
    let dealer = ctx.socket(zmq::DEALER).unwrap();
    dealer.set_identity(identity).unwrap();
    dealer.set_linger(0).unwrap();
    dealer.connect(endpoint).unwrap();
    dealer
}

/// What an error should be.
pub type Expect = fn(&ProtocolError) -> bool;

pub fn frames_error(error: &ProtocolError) -> &str {
    match error {
        ProtocolError::Frames(what) => what,
        other => panic!("expected a frames error, got {other:?}"),
    }
}

pub fn assert_timeout<T: std::fmt::Debug>(
    result: Result<T, TransportError>,
    timeout: Duration,
    started: Instant,
) {
    let elapsed = started.elapsed();
    match result {
        Err(TransportError::Timeout(t)) => assert_eq!(t, timeout),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(
        elapsed >= timeout,
        "returned after {elapsed:?}, before {timeout:?}"
    );
    // Only "it did come back": how much later depends on the machine's load.
    assert!(
        elapsed < timeout + Duration::from_secs(60),
        "returned after {elapsed:?}: the timeout was not kept"
    );
}

/// An IPv6 loopback to test with, or why not.
pub fn ipv6_loopback() -> Result<(), String> {
    std::net::TcpListener::bind("[::1]:0")
        .map(drop)
        .map_err(|e| e.to_string())
}

pub fn port_of(endpoint: &str) -> &str {
    endpoint.rsplit(':').next().unwrap()
}

/// Generates one test per transport for each `name => function`: `sync` for `#[test]`s,
/// `async` for `#[tokio::test]`s.
#[macro_export]
macro_rules! per_transport {
    (sync: $($name:ident => $run:ident;)*) => {$(
        mod $name {
            use super::*;

            #[test]
            fn tcp() {
                $run(Transport::Tcp);
            }

            #[test]
            fn ipc() {
                $run(Transport::ipc());
            }

            #[test]
            fn inproc() {
                $run(Transport::Inproc);
            }
        }
    )*};
    (async: $($name:ident => $run:ident;)*) => {$(
        mod $name {
            use super::*;

            #[tokio::test]
            async fn tcp() {
                $run(Transport::Tcp).await;
            }

            #[tokio::test]
            async fn ipc() {
                $run(Transport::ipc()).await;
            }

            #[tokio::test]
            async fn inproc() {
                $run(Transport::Inproc).await;
            }
        }
    )*};
}
