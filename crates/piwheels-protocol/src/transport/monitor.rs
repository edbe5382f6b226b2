//! Telling that a connection went away: ZeroMQ's socket monitor, reduced to the one event a
//! request/reply peer needs.
//!
//! A REQ socket sends each request on one connection and waits for the reply on that one
//! connection. If it breaks (the master was killed or restarted), ZeroMQ connects again,
//! but the request is gone and its reply will never come: the socket waits for ever, or
//! until the caller's timeout. [`DisconnectWatch`] says when that happened, so the caller
//! can start again at once.

use std::sync::atomic::{AtomicU64, Ordering};

use super::TransportError;

/// Watches one socket for lost connections (`ZMQ_EVENT_DISCONNECTED`).
pub struct DisconnectWatch {
    events: zmq::Socket,
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
        socket.monitor(&endpoint, zmq::SocketEvent::DISCONNECTED as i32)?;
        let events = ctx.socket(zmq::PAIR)?;
        events.set_linger(0)?;
        events.connect(&endpoint)?;
        Ok(DisconnectWatch { events })
    }

    /// Whether a connection was lost since the last call (the events are consumed).
    pub fn disconnected(&self) -> Result<bool, TransportError> {
        let mut lost = false;
        loop {
            match self.events.recv_multipart(zmq::DONTWAIT) {
                Ok(frames) => {
                    let event = frames
                        .first()
                        .and_then(|f| f.get(..2))
                        .map(|b| u16::from_ne_bytes([b[0], b[1]]));
                    lost |= event == Some(zmq::SocketEvent::DISCONNECTED.to_raw());
                }
                Err(zmq::Error::EAGAIN) => return Ok(lost),
                Err(zmq::Error::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}
