//! Raw multipart sockets for the file transfer (`tcp://*:5556`): ROUTER ← DEALER, no
//! empty delimiter, frames `[identity, command, args…]`, no CBOR.
//!
//! Frames are handed over as `zmq::Message`s: received ones as ZeroMQ filled them, and
//! sent ones from a `Vec<u8>`, `Box<[u8]>` or `zmq::Message` without copying, so a
//! 64 KiB `CHUNK` is never copied on our side.

use std::fmt;
use std::time::Duration;

use super::frames::{check_raw_count, no_frames};
use super::io::{Deadline, open_socket, recv_owned, send_frames};
use super::options::last_endpoint;
use super::{Identity, Received, SocketOptions, TransportError};

/// The most frames a raw message may have (after a ROUTER's identity) unless told
/// otherwise; piwheels' largest is `CHUNK offset data`.
pub const DEFAULT_MAX_FRAMES: usize = 16;

macro_rules! raw_socket {
    ($(#[$attr:meta])* $name:ident, $kind:ident) => {
        $(#[$attr])*
        pub struct $name {
            socket: zmq::Socket,
            first: zmq::Message,
            spare: zmq::Message,
            max_frames: usize,
        }

        impl $name {
            #[doc = concat!("Opens a ", stringify!($kind), " socket with `options` and binds it to `endpoint`.")]
            pub fn bind(
                ctx: &zmq::Context,
                endpoint: &str,
                options: &SocketOptions,
            ) -> Result<Self, TransportError> {
                Ok(Self::wrap(open_socket(ctx, zmq::$kind, options, endpoint, true)?))
            }

            #[doc = concat!("Opens a ", stringify!($kind), " socket with `options` and connects it to `endpoint`.")]
            pub fn connect(
                ctx: &zmq::Context,
                endpoint: &str,
                options: &SocketOptions,
            ) -> Result<Self, TransportError> {
                Ok(Self::wrap(open_socket(ctx, zmq::$kind, options, endpoint, false)?))
            }

            fn wrap(socket: zmq::Socket) -> Self {
                $name {
                    socket,
                    first: zmq::Message::new(),
                    spare: zmq::Message::new(),
                    max_frames: DEFAULT_MAX_FRAMES,
                }
            }

            /// Sets the most frames a received message may have (at least 1); more is a
            /// [`ProtocolError::Frames`](crate::ProtocolError::Frames), and the extra frames are never stored.
            pub fn set_max_frames(&mut self, max: usize) {
                self.max_frames = max.max(1);
            }

            /// The endpoint last bound or connected (`ZMQ_LAST_ENDPOINT`), with wildcards
            /// resolved: `tcp://127.0.0.1:*` → `tcp://127.0.0.1:41234`.
            pub fn endpoint(&self) -> Result<String, TransportError> {
                Ok(last_endpoint(&self.socket)?)
            }

            /// The ZeroMQ socket, for more binds or connects, options, or `zmq::poll`.
            pub fn socket(&self) -> &zmq::Socket {
                &self.socket
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let endpoint = last_endpoint(&self.socket).unwrap_or_default();
                f.debug_struct(stringify!($name)).field("endpoint", &endpoint).finish()
            }
        }
    };
}

raw_socket! {
    /// The master's file-transfer socket: receives `[identity, command, args…]` from
    /// DEALER peers and sends `[identity, frames…]` back.
    RawRouter, ROUTER
}

impl RawRouter {
    /// Waits for the next message: the sender's identity and its frames, or
    /// [`ProtocolError::Frames`](crate::ProtocolError::Frames) if it had more than the maximum (it has been consumed
    /// whole either way).
    pub fn recv(&mut self) -> Result<Received<Vec<zmq::Message>>, TransportError> {
        self.recv_inner(None)
    }

    /// [`recv`](Self::recv), giving up with [`TransportError::Timeout`] after `timeout`.
    pub fn recv_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<Received<Vec<zmq::Message>>, TransportError> {
        self.recv_inner(Some(timeout))
    }

    fn recv_inner(
        &mut self,
        timeout: Option<Duration>,
    ) -> Result<Received<Vec<zmq::Message>>, TransportError> {
        let deadline = Deadline::after(timeout);
        let (frames, total) = recv_owned(
            &self.socket,
            &mut self.first,
            &mut self.spare,
            self.max_frames,
            deadline,
        )?;
        let identity = Identity::from(&self.first[..]);
        Ok((
            identity,
            check_raw_count(total, self.max_frames).map(|()| frames),
        ))
    }

    /// Sends `[identity, frames…]`; `frames` must not be empty.
    ///
    /// ```no_run
    /// # fn f(router: &mut piwheels_protocol::transport::RawRouter,
    /// #      peer: &piwheels_protocol::transport::Identity) -> Result<(), Box<dyn std::error::Error>> {
    /// router.send_to(peer, ["FETCH", "0", "65536"])?;
    /// # Ok(()) }
    /// ```
    pub fn send_to<I, T>(&mut self, identity: &Identity, frames: I) -> Result<(), TransportError>
    where
        I: IntoIterator<Item = T>,
        T: Into<zmq::Message>,
    {
        let mut frames = frames.into_iter().map(Into::into).peekable();
        if frames.peek().is_none() {
            return Err(no_frames().into());
        }
        send_frames(&self.socket, identity.as_bytes(), frames, None)
    }
}

raw_socket! {
    /// A peer's file-transfer socket: sends `[command, args…]` to the master's
    /// [`RawRouter`] and receives its frames.
    RawDealer, DEALER
}

impl RawDealer {
    /// Sends one message of `frames` (at least one). The first frame is copied, the
    /// others are handed to ZeroMQ as they are.
    ///
    /// It waits as long as it takes to queue the message: for ever if the master has
    /// stopped reading, or has gone, once the high-water mark is reached (ZeroMQ keeps a
    /// connecting DEALER's queue for a reconnection that may never come). A loop that must
    /// keep its own timeouts uses [`send_timeout`](Self::send_timeout).
    ///
    /// ```no_run
    /// # fn f(dealer: &mut piwheels_protocol::transport::RawDealer, chunk: Vec<u8>)
    /// #     -> Result<(), Box<dyn std::error::Error>> {
    /// use piwheels_protocol::transport::zmq::Message;
    /// dealer.send([Message::from("CHUNK"), Message::from("0"), Message::from(chunk)])?;
    /// # Ok(()) }
    /// ```
    pub fn send<I, T>(&mut self, frames: I) -> Result<(), TransportError>
    where
        I: IntoIterator<Item = T>,
        T: Into<zmq::Message>,
    {
        let mut frames = frames.into_iter().map(Into::into);
        let first = frames.next().ok_or_else(no_frames)?;
        send_frames(&self.socket, &first, frames, None)
    }

    /// [`send`](Self::send), giving up with [`TransportError::Timeout`] if the message
    /// cannot be queued within `timeout`. Nothing is sent then, and `frames` are dropped;
    /// for the file transfer that is a lost `CHUNK`, which the master asks for again.
    ///
    /// ```no_run
    /// # fn f(dealer: &mut piwheels_protocol::transport::RawDealer, chunk: Vec<u8>)
    /// #     -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use piwheels_protocol::transport::{TransportError, zmq::Message};
    /// let frames = [Message::from("CHUNK"), Message::from("0"), Message::from(chunk)];
    /// match dealer.send_timeout(frames, Duration::from_millis(200)) {
    ///     Ok(()) | Err(TransportError::Timeout(_)) => {}
    ///     Err(e) => return Err(e.into()),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn send_timeout<I, T>(&mut self, frames: I, timeout: Duration) -> Result<(), TransportError>
    where
        I: IntoIterator<Item = T>,
        T: Into<zmq::Message>,
    {
        let mut frames = frames.into_iter().map(Into::into);
        let first = frames.next().ok_or_else(no_frames)?;
        send_frames(&self.socket, &first, frames, Deadline::after(Some(timeout)))
    }

    /// Waits for the next message's frames; more than the maximum is a
    /// [`TransportError::Protocol`] (consumed whole).
    pub fn recv(&mut self) -> Result<Vec<zmq::Message>, TransportError> {
        self.recv_inner(None)
    }

    /// [`recv`](Self::recv), giving up with [`TransportError::Timeout`] after `timeout`.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Vec<zmq::Message>, TransportError> {
        self.recv_inner(Some(timeout))
    }

    fn recv_inner(
        &mut self,
        timeout: Option<Duration>,
    ) -> Result<Vec<zmq::Message>, TransportError> {
        let deadline = Deadline::after(timeout);
        let max = self.max_frames - 1;
        let (rest, total) = recv_owned(
            &self.socket,
            &mut self.first,
            &mut self.spare,
            max,
            deadline,
        )?;
        check_raw_count(total + 1, self.max_frames)?;
        let mut frames = Vec::with_capacity(rest.len() + 1);
        frames.push(std::mem::replace(&mut self.first, zmq::Message::new()));
        frames.extend(rest);
        Ok(frames)
    }
}
