//! Typed blocking sockets: one CBOR payload per message, checked against the protocol
//! table on send and on receive.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use super::frames::{delimited_payload, encode, router_payload, single_payload, trim, trim_frames};
use super::io::{Deadline, open_socket, recv_kept, send_frames};
use super::options::last_endpoint;
use super::{Identity, Received, SocketOptions, TransportError};
use crate::error::ProtocolError;
use crate::message::{Message, Protocol};

/// What every typed blocking socket holds: the socket, a reused encode buffer, reused
/// receive frames (as many as its envelope has) and a frame to discard extra parts into.
struct Core {
    socket: zmq::Socket,
    buf: Vec<u8>,
    frames: Vec<zmq::Message>,
    spare: zmq::Message,
}

/// How a socket's envelope reads: the kept frames and the frame count → the payload.
type Check = fn(&[zmq::Message], usize) -> Result<&[u8], ProtocolError>;

impl Core {
    fn open(
        ctx: &zmq::Context,
        kind: zmq::SocketType,
        options: &SocketOptions,
        endpoint: &str,
        bind: bool,
        keep: usize,
    ) -> Result<Self, TransportError> {
        Ok(Core {
            socket: open_socket(ctx, kind, options, endpoint, bind)?,
            buf: Vec::with_capacity(256),
            frames: (0..keep).map(|_| zmq::Message::new()).collect(),
            spare: zmq::Message::new(),
        })
    }

    /// Receives one whole message; checks its envelope with `check`, then decodes it.
    fn recv<M: Message>(
        &mut self,
        timeout: Option<Duration>,
        check: Check,
    ) -> Result<Result<M, ProtocolError>, TransportError> {
        let total = recv_kept(
            &self.socket,
            &mut self.frames,
            &mut self.spare,
            Deadline::after(timeout),
        )?;
        let kept = &self.frames[..total.min(self.frames.len())];
        let message = check(kept, total).and_then(M::decode);
        trim_frames(&mut self.frames);
        Ok(message)
    }

    /// Encodes `msg` and sends `[head…, payload]`.
    fn send<M: Message>(
        &mut self,
        head: &[&[u8]],
        msg: &M,
        timeout: Option<Duration>,
    ) -> Result<(), TransportError> {
        encode(&mut self.buf, msg)?;
        let deadline = Deadline::after(timeout);
        let result = match head.split_first() {
            None => send_frames(&self.socket, &self.buf, [], deadline),
            Some((first, others)) => {
                let rest = others.iter().map(|f| zmq::Message::from(*f));
                let payload = zmq::Message::from(&self.buf[..]);
                send_frames(&self.socket, first, rest.chain([payload]), deadline)
            }
        };
        trim(&mut self.buf);
        result
    }
}

/// The common half of every typed socket: opening, the endpoint and the raw socket.
macro_rules! typed_socket {
    ($(#[$attr:meta])* $name:ident, $kind:ident, keep = $keep:expr) => {
        $(#[$attr])*
        pub struct $name<P: Protocol> {
            core: Core,
            _protocol: PhantomData<fn() -> P>,
        }

        impl<P: Protocol> $name<P> {
            #[doc = concat!("Opens a ", stringify!($kind), " socket with `options` and binds it to `endpoint`.")]
            ///
            /// [`endpoint`](Self::endpoint) then tells the address actually bound, e.g. the
            /// port chosen for `tcp://127.0.0.1:*`.
            pub fn bind(
                ctx: &zmq::Context,
                endpoint: &str,
                options: &SocketOptions,
            ) -> Result<Self, TransportError> {
                let core = Core::open(ctx, zmq::$kind, options, endpoint, true, $keep)?;
                Ok($name { core, _protocol: PhantomData })
            }

            #[doc = concat!("Opens a ", stringify!($kind), " socket with `options` and connects it to `endpoint`.")]
            pub fn connect(
                ctx: &zmq::Context,
                endpoint: &str,
                options: &SocketOptions,
            ) -> Result<Self, TransportError> {
                let core = Core::open(ctx, zmq::$kind, options, endpoint, false, $keep)?;
                Ok($name { core, _protocol: PhantomData })
            }

            /// The endpoint last bound or connected (`ZMQ_LAST_ENDPOINT`), with wildcards
            /// resolved: `tcp://127.0.0.1:*` → `tcp://127.0.0.1:41234`.
            pub fn endpoint(&self) -> Result<String, TransportError> {
                Ok(last_endpoint(&self.core.socket)?)
            }

            /// The ZeroMQ socket, for more binds or connects, options, or `zmq::poll`.
            ///
            /// Sending or receiving on it directly bypasses the envelope and the checks.
            pub fn socket(&self) -> &zmq::Socket {
                &self.core.socket
            }
        }

        impl<P: Protocol> fmt::Debug for $name<P> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let endpoint = last_endpoint(&self.core.socket).unwrap_or_default();
                f.debug_struct(stringify!($name)).field("endpoint", &endpoint).finish()
            }
        }
    };
}

typed_socket! {
    /// The master's side of a request/reply socket (slave driver, `piw-import` server):
    /// receives `P::ToMaster` from many REQ peers, answers each with `P::FromMaster`.
    ///
    /// Frames are `[identity, "", payload]` both ways. A reply to a peer that has gone, or
    /// whose queue is full, is dropped silently (ZeroMQ's ROUTER behaviour, as in piwheels).
    Router, ROUTER, keep = 3
}

impl<P: Protocol> Router<P> {
    /// Waits for the next message: the sender's identity, and the message or why it was
    /// bad (wrong frames, bad CBOR, not in the table). A bad message has been consumed
    /// whole; the error is the socket's own failure.
    pub fn recv(&mut self) -> Result<Received<P::ToMaster>, TransportError> {
        self.recv_inner(None)
    }

    /// [`recv`](Self::recv), giving up with [`TransportError::Timeout`] after `timeout`.
    pub fn recv_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<Received<P::ToMaster>, TransportError> {
        self.recv_inner(Some(timeout))
    }

    fn recv_inner(
        &mut self,
        timeout: Option<Duration>,
    ) -> Result<Received<P::ToMaster>, TransportError> {
        let message = self.core.recv(timeout, router_payload)?;
        Ok((Identity::from(&self.core.frames[0][..]), message))
    }

    /// Sends `msg` to the peer with `identity`, as `[identity, "", payload]`.
    ///
    /// A message the table rejects (or that cannot be encoded) is not sent:
    /// [`TransportError::Protocol`].
    pub fn send_to(
        &mut self,
        identity: &Identity,
        msg: &P::FromMaster,
    ) -> Result<(), TransportError> {
        self.core.send(&[identity.as_bytes(), b""], msg, None)
    }
}

typed_socket! {
    /// A peer's request socket (build slave, admin tools): sends `P::ToMaster`, then
    /// receives the `P::FromMaster` reply, strictly in turn (ZeroMQ refuses anything else
    /// with `EFSM`).
    ///
    /// After a timeout the socket still awaits its reply; piwheels' slave then drops it
    /// (with linger) and opens a new one.
    Req, REQ, keep = 1
}

impl<P: Protocol> Req<P> {
    /// Sends a request. A message the table rejects is not sent ([`TransportError::Protocol`]).
    pub fn send(&mut self, msg: &P::ToMaster) -> Result<(), TransportError> {
        self.core.send(&[], msg, None)
    }

    /// Waits for the reply. A bad reply ([`TransportError::Protocol`]) has been consumed
    /// and the socket may send again.
    pub fn recv(&mut self) -> Result<P::FromMaster, TransportError> {
        Ok(self.core.recv(None, single_payload)??)
    }

    /// [`recv`](Self::recv), giving up with [`TransportError::Timeout`] after `timeout`.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<P::FromMaster, TransportError> {
        Ok(self.core.recv(Some(timeout), single_payload)??)
    }

    /// Sends a request and waits at most `timeout` for its reply.
    pub fn request(
        &mut self,
        msg: &P::ToMaster,
        timeout: Duration,
    ) -> Result<P::FromMaster, TransportError> {
        self.send(msg)?;
        self.recv_timeout(timeout)
    }
}

typed_socket! {
    /// A peer's socket that speaks to a [`Router`] as a REQ would (`["", payload]` both
    /// ways) without REQ's lockstep: sends `P::ToMaster`, receives `P::FromMaster`.
    Dealer, DEALER, keep = 2
}

impl<P: Protocol> Dealer<P> {
    /// Sends a request as `["", payload]`, waiting as long as it takes to queue it (for
    /// ever once the high-water mark is reached and the master reads no more, or has
    /// gone).
    pub fn send(&mut self, msg: &P::ToMaster) -> Result<(), TransportError> {
        self.core.send(&[b""], msg, None)
    }

    /// [`send`](Self::send), giving up with [`TransportError::Timeout`] (nothing sent) if
    /// the message cannot be queued within `timeout`.
    pub fn send_timeout(
        &mut self,
        msg: &P::ToMaster,
        timeout: Duration,
    ) -> Result<(), TransportError> {
        self.core.send(&[b""], msg, Some(timeout))
    }

    /// Waits for a reply, which must be `["", payload]`.
    pub fn recv(&mut self) -> Result<P::FromMaster, TransportError> {
        Ok(self.core.recv(None, delimited_payload)??)
    }

    /// [`recv`](Self::recv), giving up with [`TransportError::Timeout`] after `timeout`.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<P::FromMaster, TransportError> {
        Ok(self.core.recv(Some(timeout), delimited_payload)??)
    }
}

typed_socket! {
    /// A peer's push socket (monitor control, `piw-logger`): sends `P::ToMaster`.
    ///
    /// Sends block while no peer is connected or the high-water mark is reached;
    /// [`send_timeout`](Self::send_timeout) bounds that (the logger's `--drop` waits 10 ms).
    Push, PUSH, keep = 1
}

impl<P: Protocol> Push<P> {
    /// Sends a message, waiting as long as it takes to queue it.
    pub fn send(&mut self, msg: &P::ToMaster) -> Result<(), TransportError> {
        self.core.send(&[], msg, None)
    }

    /// Sends a message, giving up with [`TransportError::Timeout`] (nothing sent) if it
    /// cannot be queued within `timeout`.
    pub fn send_timeout(
        &mut self,
        msg: &P::ToMaster,
        timeout: Duration,
    ) -> Result<(), TransportError> {
        self.core.send(&[], msg, Some(timeout))
    }
}

typed_socket! {
    /// The master's pull socket (control queue, log queue): receives `P::ToMaster`.
    Pull, PULL, keep = 1
}

impl<P: Protocol> Pull<P> {
    /// Waits for the next message. A bad one ([`TransportError::Protocol`]) has been
    /// consumed whole; receive again.
    pub fn recv(&mut self) -> Result<P::ToMaster, TransportError> {
        Ok(self.core.recv(None, single_payload)??)
    }

    /// [`recv`](Self::recv), giving up with [`TransportError::Timeout`] after `timeout`.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<P::ToMaster, TransportError> {
        Ok(self.core.recv(Some(timeout), single_payload)??)
    }
}

typed_socket! {
    /// The master's publish socket (status queue): sends `P::FromMaster` to every
    /// subscriber, with no topic prefix. Never blocks: a subscriber that falls behind by
    /// the high-water mark loses messages.
    Pub, PUB, keep = 1
}

impl<P: Protocol> Pub<P> {
    /// Publishes a message.
    pub fn send(&mut self, msg: &P::FromMaster) -> Result<(), TransportError> {
        self.core.send(&[], msg, None)
    }
}

typed_socket! {
    /// A peer's subscribe socket (monitors): receives every `P::FromMaster` published
    /// (subscribed to `""`).
    ///
    /// Messages published before the connection is made are not seen.
    Sub, SUB, keep = 1
}

impl<P: Protocol> Sub<P> {
    /// Waits for the next message. A bad one ([`TransportError::Protocol`]) has been
    /// consumed whole; receive again.
    pub fn recv(&mut self) -> Result<P::FromMaster, TransportError> {
        Ok(self.core.recv(None, single_payload)??)
    }

    /// [`recv`](Self::recv), giving up with [`TransportError::Timeout`] after `timeout`.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<P::FromMaster, TransportError> {
        Ok(self.core.recv(Some(timeout), single_payload)??)
    }
}
