//! Telling that a connection went away: ZeroMQ's socket monitor, reduced to the one event a
//! request/reply peer needs.
//!
//! A REQ socket sends each request on one connection and waits for the reply on that one
//! connection. If it breaks (the master was killed or restarted), ZeroMQ connects again,
//! but the request is gone and its reply will never come: the socket waits for ever, or
//! until the caller's timeout. [`DisconnectWatch`] says when that happened, so the caller
//! can start again at once.
//!
//! It also hears of failed handshakes (`ZMQ_EVENT_HANDSHAKE_FAILED_AUTH` and
//! `_PROTOCOL`): a master that refuses this peer's CURVE key, or that speaks another
//! mechanism, makes ZeroMQ retry quietly for ever; [`DisconnectWatch::handshake_failure`]
//! tells the caller, so it can say why nothing happens.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use super::TransportError;

/// Watches one socket for lost connections (`ZMQ_EVENT_DISCONNECTED`).
pub struct DisconnectWatch {
    events: zmq::Socket,
    /// The last handshake failure seen and not yet taken.
    failure: Cell<Option<HandshakeFailure>>,
}

/// Why a handshake with the peer failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeFailure {
    /// The peer refused this end's credentials (its ZAP handler said no): the status code
    /// it gave, such as 400.
    Auth(u32),
    /// The handshake broke the protocol: most often the two ends speak different
    /// mechanisms (CURVE against NULL), or the server's key is wrong.
    Protocol(u32),
}

impl std::fmt::Display for HandshakeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandshakeFailure::Auth(code) => write!(
                f,
                "the peer refused this end's key (ZAP status {code}): is its public key in the allow-list?"
            ),
            HandshakeFailure::Protocol(code) => write!(
                f,
                "the security handshake failed (error {code}): do both ends use CURVE, with the right server key?"
            ),
        }
    }
}

impl std::fmt::Debug for DisconnectWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DisconnectWatch").finish_non_exhaustive()
    }
}

impl DisconnectWatch {
    /// Starts watching `socket` (made in `ctx`): its monitor publishes on a private
    /// `inproc://` endpoint that this watch reads.
    pub fn new(ctx: &zmq::Context, socket: &zmq::Socket) -> Result<Self, TransportError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let endpoint = format!(
            "inproc://piw-disconnect-watch-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let events = zmq::SocketEvent::DISCONNECTED as i32
            | zmq::SocketEvent::HANDSHAKE_FAILED_AUTH as i32
            | zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL as i32;
        socket.monitor(&endpoint, events)?;
        let events = ctx.socket(zmq::PAIR)?;
        events.set_linger(0)?;
        events.connect(&endpoint)?;
        Ok(DisconnectWatch {
            events,
            failure: Cell::new(None),
        })
    }

    /// The last handshake failure since this was last asked (reading pending events).
    pub fn handshake_failure(&self) -> Result<Option<HandshakeFailure>, TransportError> {
        self.read_events()?;
        Ok(self.failure.take())
    }

    /// Whether a connection was lost since the last call (the events are consumed).
    pub fn disconnected(&self) -> Result<bool, TransportError> {
        self.read_events()
    }

    /// Reads pending events: whether one was a disconnection; failures are kept.
    fn read_events(&self) -> Result<bool, TransportError> {
        let mut lost = false;
        loop {
            match self.events.recv_multipart(zmq::DONTWAIT) {
                Ok(frames) => {
                    // The first frame: the event (16 bits) and its value (32 bits).
                    let first = frames.first().map(Vec::as_slice).unwrap_or_default();
                    let event = first.get(..2).map(|b| u16::from_ne_bytes([b[0], b[1]]));
                    let value = first
                        .get(2..6)
                        .map_or(0, |b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                    match event {
                        Some(e) if e == zmq::SocketEvent::DISCONNECTED.to_raw() => lost = true,
                        Some(e) if e == zmq::SocketEvent::HANDSHAKE_FAILED_AUTH.to_raw() => {
                            self.failure.set(Some(HandshakeFailure::Auth(value)));
                        }
                        Some(e) if e == zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL.to_raw() => {
                            self.failure.set(Some(HandshakeFailure::Protocol(value)));
                        }
                        _ => {}
                    }
                }
                Err(zmq::Error::EAGAIN) => return Ok(lost),
                Err(zmq::Error::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}
