//! ZeroMQ sockets that speak piwheels' framing: typed CBOR messages checked in both
//! directions, and the raw multipart frames of the file transfer.
//!
//! Each socket type has one fixed role, the one it plays in piwheels, so a socket is
//! typed by its [`Protocol`] alone and both ends use the same table:
//!
//! | socket | side | receives | sends | envelope on the wire |
//! |---|---|---|---|---|
//! | [`Router`] | master | `ToMaster` | `FromMaster` | `[identity, "", payload]` both ways |
//! | [`Req`] | peer | `FromMaster` | `ToMaster` | `[payload]` (ZeroMQ adds the delimiter) |
//! | [`Dealer`] | peer | `FromMaster` | `ToMaster` | `["", payload]`, as a REQ would |
//! | [`Push`] | peer | — | `ToMaster` | `[payload]` |
//! | [`Pull`] | master | `ToMaster` | — | `[payload]` |
//! | [`Pub`] | master | — | `FromMaster` | `[payload]`, no topic; [`Sub`] subscribes to `""` |
//! | [`Sub`] | peer | `FromMaster` | — | `[payload]` |
//! | [`RawRouter`], [`RawDealer`] | file transfer | frames | frames | `[identity, command, args…]`, no delimiter |
//!
//! Every socket is made with [`SocketOptions`]: IPv6 on (so `tcp://*:5555` binds both
//! stacks, as piwheels does), high-water marks, linger and a maximum message size, so a
//! hostile peer cannot make us allocate without bound.
//!
//! Receiving never stops on bad input. A message with the wrong frames, bad CBOR or data
//! that does not fit the table is consumed whole (every part), so the next receive is
//! aligned, and comes back as a [`ProtocolError`]: on a [`Router`] together with the
//! sender's [`Identity`], so the master can log it and drop it or answer; on other
//! sockets as [`TransportError::Protocol`]. The socket itself failing (ZeroMQ errors,
//! timeouts) is a different [`TransportError`]. Receives can wait for ever or for a
//! bounded time (`recv_timeout`, [`TransportError::Timeout`]).
//!
//! The same sockets on tokio (through `tmq`) live in `transport::asynchronous`, behind
//! this crate's `tokio` feature.
//!
//! # Example
//!
//! A master loop on a ROUTER: bad messages are logged and dropped, socket errors end it.
//!
//! ```
//! use piwheels_protocol::Protocol;
//! use piwheels_protocol::transport::{Router, SocketOptions, TransportError};
//!
//! fn serve<P: Protocol>(
//!     ctx: &zmq::Context,
//!     mut answer: impl FnMut(P::ToMaster) -> Option<P::FromMaster>,
//! ) -> Result<(), TransportError> {
//!     let mut router = Router::<P>::bind(ctx, "tcp://*:5555", &SocketOptions::new())?;
//!     loop {
//!         match router.recv()? {
//!             (peer, Ok(request)) => {
//!                 if let Some(reply) = answer(request) {
//!                     router.send_to(&peer, &reply)?;
//!                 }
//!             }
//!             (peer, Err(error)) => eprintln!("invalid message from {peer}: {error}"),
//!         }
//!     }
//! }
//! ```
//!
//! [`Protocol`]: crate::Protocol
//! [`ProtocolError`]: crate::ProtocolError

mod blocking;
mod frames;
mod handshake_watch;
mod io;
mod monitor;
mod options;
mod origin;
mod raw;

#[cfg(feature = "tokio")]
pub mod asynchronous;

use std::fmt;
use std::time::Duration;

use crate::error::ProtocolError;

pub use self::blocking::{Dealer, Pub, Pull, Push, Req, Router, Sub};
pub use self::handshake_watch::{
    HandshakeWatch, PreAuthFailure, PreAuthReport, protocol_error_words,
};
pub use self::monitor::DisconnectWatch;
pub use self::options::{
    DEFAULT_LINGER, DEFAULT_MAX_MESSAGE_SIZE, FILE_QUEUE_HWM, HWM, RoutingId, SCRIBE_HWM, Security,
    SocketOptions, add_ipc_group_write, connectable, ipc_path, set_ipc_mode,
};
pub use self::origin::Origin;
pub use self::raw::{DEFAULT_MAX_FRAMES, RawDealer, RawRouter};

/// The ZeroMQ binding these sockets are built on, for contexts, frames and raw sockets.
pub use zmq;

/// Why a send or receive failed.
///
/// [`TransportError::Protocol`] means one message was bad (and has been consumed or not
/// sent); the socket is fine and the loop should go on. Every other variant is about the
/// socket itself.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// ZeroMQ failed: e.g. `ETERM` (the context is shutting down), `EFSM` (a REQ socket
    /// used out of turn), `EINVAL` (a bad endpoint), `EADDRINUSE`.
    #[error("ZeroMQ error: {0}")]
    Zmq(#[from] zmq::Error),
    /// Nothing arrived (or could be sent) within the given time. Nothing was consumed.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// One message was bad: wrong frames, undecodable, or not in the protocol table. It
    /// has been consumed whole (receive) or was never sent (send).
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The socket is gone: an asynchronous REQ socket whose send or receive failed (`tmq`
    /// consumes the socket on error), or a socket stream that ended. Open a new one.
    #[error("the socket is closed after an earlier failure")]
    Closed,
    /// An I/O error outside ZeroMQ (registering an asynchronous socket with tokio).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl TransportError {
    /// Whether this is a receive or send timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self, TransportError::Timeout(_))
    }

    /// Whether this is one bad message (log it and carry on) rather than a socket failure.
    pub fn is_protocol(&self) -> bool {
        matches!(self, TransportError::Protocol(_))
    }
}

/// What a ROUTER receives: the sender's identity, and the message or why it was bad.
///
/// The identity is there even for a bad message, so the master can log the peer, answer
/// it or forget it.
pub type Received<T> = (Identity, Result<T, ProtocolError>);

/// The routing identity ZeroMQ gives each peer of a ROUTER socket (the first frame of
/// every message it receives, and the address of every reply).
///
/// REQ and DEALER peers that set no identity get five bytes, a zero and a 32-bit counter.
/// Displayed (and debug-printed) as hex.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity(Box<[u8]>);

impl Identity {
    /// An identity from its bytes (at most 255 for ZeroMQ to route it).
    pub fn new(bytes: impl Into<Box<[u8]>>) -> Self {
        Identity(bytes.into())
    }

    /// The identity's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<&[u8]> for Identity {
    fn from(bytes: &[u8]) -> Self {
        Identity(bytes.into())
    }
}

impl From<Vec<u8>> for Identity {
    fn from(bytes: Vec<u8>) -> Self {
        Identity(bytes.into())
    }
}

impl AsRef<[u8]> for Identity {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({self})")
    }
}
