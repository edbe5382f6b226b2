//! The typed and raw sockets on tokio, through `tmq`: the same roles, envelopes, checks
//! and errors as the blocking ones (see [the module above](super)).
//!
//! Every operation is cancel-safe, so a receive with a timeout is
//! `tokio::time::timeout(d, socket.recv())`; map its `Elapsed` to
//! [`TransportError::Timeout`] if a single error type suits. A cancelled receive consumes
//! nothing. A cancelled send either sent nothing or left its message queued inside the
//! socket, to be flushed before the next one. [`Req`] keeps an interrupted request in
//! flight: the next `recv` picks it up.
//!
//! Differences from the blocking sockets, from `tmq`: a whole multipart message is read
//! before its frames are counted, so a message with too many frames is held in memory
//! once (each frame still bounded by the maximum message size); and an asynchronous REQ
//! socket is lost when one of its operations fails ([`TransportError::Closed`] from then
//! on).
//!
//! ```no_run
//! use std::time::Duration;
//! use piwheels_protocol::Protocol;
//! use piwheels_protocol::transport::{SocketOptions, TransportError};
//! use piwheels_protocol::transport::asynchronous::Req;
//!
//! async fn ask<P: Protocol>(
//!     ctx: &zmq::Context,
//!     request: &P::ToMaster,
//! ) -> Result<P::FromMaster, TransportError> {
//!     let mut req = Req::<P>::connect(ctx, "tcp://master:5555", &SocketOptions::new())?;
//!     req.send(request).await?;
//!     let timeout = Duration::from_secs(300);
//!     match tokio::time::timeout(timeout, req.recv()).await {
//!         Ok(reply) => reply,
//!         Err(_elapsed) => Err(TransportError::Timeout(timeout)),
//!     }
//! }
//! ```

use std::fmt;
use std::marker::PhantomData;

use futures_util::future::BoxFuture;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tmq::request_reply::{RequestReceiver, RequestSender};
use tmq::{AsZmqSocket, Multipart, TmqError};

use super::frames::{
    check_raw_count, delimited_payload, encode, no_frames, router_payload, single_payload, trim,
};
use super::options::{check_endpoint, last_endpoint};
use super::raw::DEFAULT_MAX_FRAMES;
use super::{Identity, Origin, Received, SocketOptions, TransportError};
use crate::error::ProtocolError;
use crate::message::{Message, Protocol};

impl From<TmqError> for TransportError {
    fn from(error: TmqError) -> Self {
        match error {
            TmqError::Zmq(e) => TransportError::Zmq(e),
            TmqError::Io(e) => TransportError::Io(e),
            TmqError::InterruptedSend => TransportError::Io(std::io::Error::other(
                "tmq: a multipart send was interrupted",
            )),
        }
    }
}

/// Applies [`SocketOptions`] to a `tmq` socket builder (they must be set before the bind
/// or connect, and `tmq` builds the socket itself).
macro_rules! configure {
    ($builder:expr, $options:expr) => {{
        let options: &SocketOptions = $options;
        let mut builder = $builder
            .set_ipv6(options.ipv6)
            .set_linger(options.linger_ms())
            .set_maxmsgsize(options.max_message_size_raw());
        if let Some(hwm) = options.send_hwm {
            builder = builder.set_sndhwm(hwm);
        }
        if let Some(hwm) = options.recv_hwm {
            builder = builder.set_rcvhwm(hwm);
        }
        if let Some(id) = &options.routing_id {
            builder = builder.set_identity(id.as_bytes());
        }
        // The security too, as `SocketOptions::apply` sets it on blocking sockets.
        match &options.security {
            $crate::transport::Security::Null => builder,
            $crate::transport::Security::NullChecked => builder
                .set_curve_server(false)
                .set_zap_domain($crate::auth::ZAP_DOMAIN),
            $crate::transport::Security::CurveServer(secret) => builder
                .set_curve_server(true)
                .set_curve_secretkey(&secret.as_bytes()[..])
                .set_zap_domain($crate::auth::ZAP_DOMAIN),
            $crate::transport::Security::CurveClient { server, own } => builder
                .set_curve_serverkey(&server.as_bytes()[..])
                .set_curve_publickey(&own.public.as_bytes()[..])
                .set_curve_secretkey(&own.secret.as_bytes()[..]),
        }
    }};
}

/// How a socket's envelope reads: the frames and their count → the payload.
type Check = fn(&[zmq::Message], usize) -> Result<&[u8], ProtocolError>;

async fn next_multipart<S>(stream: &mut S) -> Result<Multipart, TransportError>
where
    S: Stream<Item = tmq::Result<Multipart>> + Unpin,
{
    match stream.next().await {
        Some(multipart) => Ok(multipart?),
        None => Err(TransportError::Closed),
    }
}

async fn send_multipart<S>(sink: &mut S, multipart: Multipart) -> Result<(), TransportError>
where
    S: Sink<Multipart, Error = TmqError> + Unpin,
{
    Ok(sink.send(multipart).await?)
}

fn decode<M: Message>(mut multipart: Multipart, check: Check) -> Result<M, ProtocolError> {
    let total = multipart.len();
    check(multipart.0.make_contiguous(), total).and_then(M::decode)
}

/// Encodes `msg` into `buf` and frames it as `[head…, payload]`.
fn frame<M: Message>(
    buf: &mut Vec<u8>,
    head: &[&[u8]],
    msg: &M,
) -> Result<Multipart, ProtocolError> {
    encode(buf, msg)?;
    let mut multipart: Multipart = head.iter().map(|f| zmq::Message::from(*f)).collect();
    multipart.push_back(zmq::Message::from(&buf[..]));
    trim(buf);
    Ok(multipart)
}

/// The common half of every asynchronous socket but [`Req`]: opening, the endpoint and
/// the raw socket. Each type supplies `wrap` (from its finished `tmq` socket).
macro_rules! async_common {
    ($name:ident $(<$p:ident>)?, $kind:literal, $builder:path, $finish:expr) => {
        impl $(<$p: Protocol>)? $name $(<$p>)? {
            #[doc = concat!("Opens a ", $kind, " socket with `options` and binds it to `endpoint`.")]
            ///
            /// [`endpoint`](Self::endpoint) then tells the address actually bound, e.g. the
            /// port chosen for `tcp://127.0.0.1:*`.
            pub fn bind(
                ctx: &zmq::Context,
                endpoint: &str,
                options: &SocketOptions,
            ) -> Result<Self, TransportError> {
                check_endpoint(endpoint)?;
                let socket = configure!($builder(ctx), options).bind(endpoint)?;
                Ok(Self::wrap($finish(socket)?))
            }

            #[doc = concat!("Opens a ", $kind, " socket with `options` and connects it to `endpoint`.")]
            pub fn connect(
                ctx: &zmq::Context,
                endpoint: &str,
                options: &SocketOptions,
            ) -> Result<Self, TransportError> {
                check_endpoint(endpoint)?;
                let socket = configure!($builder(ctx), options).connect(endpoint)?;
                Ok(Self::wrap($finish(socket)?))
            }

            /// The endpoint last bound or connected (`ZMQ_LAST_ENDPOINT`), with wildcards
            /// resolved: `tcp://127.0.0.1:*` → `tcp://127.0.0.1:41234`.
            pub fn endpoint(&self) -> Result<String, TransportError> {
                Ok(last_endpoint(self.inner.get_socket())?)
            }

            /// The ZeroMQ socket, for more binds or connects and options. Sending or
            /// receiving on it directly bypasses the envelope, the checks and `tmq`.
            pub fn socket(&self) -> &zmq::Socket {
                self.inner.get_socket()
            }
        }

        impl $(<$p: Protocol>)? fmt::Debug for $name $(<$p>)? {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let endpoint = last_endpoint(self.inner.get_socket()).unwrap_or_default();
                f.debug_struct(stringify!($name)).field("endpoint", &endpoint).finish()
            }
        }
    };
}

/// A `tmq` socket that needs nothing more once bound or connected.
fn ready<T>(socket: T) -> tmq::Result<T> {
    Ok(socket)
}

/// Declares a typed asynchronous socket: its `tmq` socket, and a reused encode buffer
/// unless it only receives.
macro_rules! typed_socket {
    ($(#[$attr:meta])* $name:ident, $inner:ty, receive only) => {
        $(#[$attr])*
        pub struct $name<P: Protocol> {
            inner: $inner,
            _protocol: PhantomData<fn() -> P>,
        }

        impl<P: Protocol> $name<P> {
            fn wrap(inner: $inner) -> Self {
                $name { inner, _protocol: PhantomData }
            }
        }
    };
    ($(#[$attr:meta])* $name:ident, $inner:ty) => {
        $(#[$attr])*
        pub struct $name<P: Protocol> {
            inner: $inner,
            buf: Vec<u8>,
            _protocol: PhantomData<fn() -> P>,
        }

        impl<P: Protocol> $name<P> {
            fn wrap(inner: $inner) -> Self {
                $name { inner, buf: Vec::with_capacity(256), _protocol: PhantomData }
            }
        }
    };
}

typed_socket! {
    /// The master's side of a request/reply socket on tokio; see the blocking
    /// [`Router`](super::Router).
    Router, tmq::router::Router
}
async_common!(Router<P>, "ROUTER", tmq::router, ready);

impl<P: Protocol> Router<P> {
    /// Waits for the next message: the sender's identity, and the message or why it was
    /// bad. A bad message has been consumed whole; the error is the socket's own failure.
    /// Cancel-safe.
    pub async fn recv(&mut self) -> Result<Received<P::ToMaster>, TransportError> {
        let multipart = next_multipart(&mut self.inner).await?;
        let identity = Identity::from(multipart.iter().next().map_or(&[][..], |f| &f[..]));
        Ok((identity, decode(multipart, router_payload)))
    }

    /// [`recv`](Self::recv), and what ZeroMQ tells of the connection the message came on
    /// (its peer's address, the user id a ZAP handler gave it). Cancel-safe.
    pub async fn recv_with_origin(
        &mut self,
    ) -> Result<(Origin, Received<P::ToMaster>), TransportError> {
        let mut multipart = next_multipart(&mut self.inner).await?;
        let identity = Identity::from(multipart.iter().next().map_or(&[][..], |f| &f[..]));
        let origin = multipart.0.back_mut().map(Origin::of).unwrap_or_default();
        Ok((origin, (identity, decode(multipart, router_payload))))
    }

    /// Sends `msg` to the peer with `identity`, as `[identity, "", payload]`. A message
    /// the table rejects is not sent ([`TransportError::Protocol`]).
    pub async fn send_to(
        &mut self,
        identity: &Identity,
        msg: &P::FromMaster,
    ) -> Result<(), TransportError> {
        let multipart = frame(&mut self.buf, &[identity.as_bytes(), b""], msg)?;
        send_multipart(&mut self.inner, multipart).await
    }
}

typed_socket! {
    /// A peer's socket that speaks to a ROUTER as a REQ would, on tokio; see the blocking
    /// [`Dealer`](super::Dealer).
    Dealer, tmq::dealer::Dealer
}
async_common!(Dealer<P>, "DEALER", tmq::dealer, ready);

impl<P: Protocol> Dealer<P> {
    /// Sends a request as `["", payload]`.
    pub async fn send(&mut self, msg: &P::ToMaster) -> Result<(), TransportError> {
        let multipart = frame(&mut self.buf, &[b""], msg)?;
        send_multipart(&mut self.inner, multipart).await
    }

    /// Waits for a reply, which must be `["", payload]`. Cancel-safe.
    pub async fn recv(&mut self) -> Result<P::FromMaster, TransportError> {
        let multipart = next_multipart(&mut self.inner).await?;
        Ok(decode(multipart, delimited_payload)?)
    }
}

typed_socket! {
    /// A peer's push socket on tokio; see the blocking [`Push`](super::Push). A send waits
    /// while no peer is connected or the high-water mark is reached.
    Push, tmq::push::Push
}
async_common!(Push<P>, "PUSH", tmq::push, ready);

impl<P: Protocol> Push<P> {
    /// Sends a message.
    pub async fn send(&mut self, msg: &P::ToMaster) -> Result<(), TransportError> {
        let multipart = frame(&mut self.buf, &[], msg)?;
        send_multipart(&mut self.inner, multipart).await
    }
}

typed_socket! {
    /// The master's pull socket on tokio; see the blocking [`Pull`](super::Pull).
    Pull, tmq::pull::Pull, receive only
}
async_common!(Pull<P>, "PULL", tmq::pull, ready);

impl<P: Protocol> Pull<P> {
    /// Waits for the next message. A bad one ([`TransportError::Protocol`]) has been
    /// consumed whole. Cancel-safe.
    pub async fn recv(&mut self) -> Result<P::ToMaster, TransportError> {
        let multipart = next_multipart(&mut self.inner).await?;
        Ok(decode(multipart, single_payload)?)
    }
}

typed_socket! {
    /// The master's publish socket on tokio; see the blocking [`Pub`](super::Pub).
    Pub, tmq::publish::Publish
}
async_common!(Pub<P>, "PUB", tmq::publish, ready);

impl<P: Protocol> Pub<P> {
    /// Publishes a message.
    pub async fn send(&mut self, msg: &P::FromMaster) -> Result<(), TransportError> {
        let multipart = frame(&mut self.buf, &[], msg)?;
        send_multipart(&mut self.inner, multipart).await
    }
}

typed_socket! {
    /// A peer's subscribe socket on tokio, subscribed to `""`; see the blocking
    /// [`Sub`](super::Sub).
    Sub, tmq::subscribe::Subscribe, receive only
}
async_common!(
    Sub<P>,
    "SUB",
    tmq::subscribe,
    |socket: tmq::subscribe::SubscribeWithoutTopic| { socket.subscribe(b"") }
);

impl<P: Protocol> Sub<P> {
    /// Waits for the next message. A bad one ([`TransportError::Protocol`]) has been
    /// consumed whole. Cancel-safe.
    pub async fn recv(&mut self) -> Result<P::FromMaster, TransportError> {
        let multipart = next_multipart(&mut self.inner).await?;
        Ok(decode(multipart, single_payload)?)
    }
}

/// Where an asynchronous REQ socket is in its send/receive cycle. `tmq` moves the socket
/// into each operation's future, so a started operation is kept here, which makes
/// [`Req`]'s methods cancel-safe.
enum ReqState {
    /// Ready to send a request.
    Idle(RequestSender),
    /// A request is being sent.
    Sending(BoxFuture<'static, tmq::Result<RequestReceiver>>),
    /// A request was sent; its reply is awaited.
    Waiting(BoxFuture<'static, tmq::Result<(Multipart, RequestSender)>>),
    /// An operation failed and `tmq` dropped the socket.
    Lost,
}

/// A peer's request socket on tokio; see the blocking [`Req`](super::Req).
///
/// Requests and replies alternate: `send` while a request is in flight, or `recv` with
/// none, fails with `EFSM` as ZeroMQ's REQ would. Both are cancel-safe: a request whose
/// `send` or `recv` was cancelled (e.g. by `tokio::time::timeout`) stays in flight and the
/// next `recv` carries on with it. After a socket error the socket is gone and every call
/// fails with [`TransportError::Closed`]; open a new one (piwheels' slave does the same
/// after its 5-minute timeout).
pub struct Req<P: Protocol> {
    state: ReqState,
    endpoint: String,
    buf: Vec<u8>,
    _protocol: PhantomData<fn() -> P>,
}

impl<P: Protocol> Req<P> {
    /// Opens a REQ socket with `options` and binds it to `endpoint`.
    pub fn bind(
        ctx: &zmq::Context,
        endpoint: &str,
        options: &SocketOptions,
    ) -> Result<Self, TransportError> {
        check_endpoint(endpoint)?;
        Self::wrap(configure!(tmq::request(ctx), options).bind(endpoint)?)
    }

    /// Opens a REQ socket with `options` and connects it to `endpoint`.
    pub fn connect(
        ctx: &zmq::Context,
        endpoint: &str,
        options: &SocketOptions,
    ) -> Result<Self, TransportError> {
        check_endpoint(endpoint)?;
        Self::wrap(configure!(tmq::request(ctx), options).connect(endpoint)?)
    }

    fn wrap(sender: RequestSender) -> Result<Self, TransportError> {
        Ok(Req {
            endpoint: last_endpoint(sender.get_socket())?,
            state: ReqState::Idle(sender),
            buf: Vec::with_capacity(256),
            _protocol: PhantomData,
        })
    }

    /// The endpoint bound or connected when the socket was opened (`ZMQ_LAST_ENDPOINT`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The ZeroMQ socket, while no request is in flight (`tmq` holds it otherwise).
    pub fn socket(&self) -> Option<&zmq::Socket> {
        match &self.state {
            ReqState::Idle(sender) => Some(sender.get_socket()),
            _ => None,
        }
    }

    /// Whether a request has been sent (or is being sent) and its reply not yet received.
    pub fn in_flight(&self) -> bool {
        matches!(self.state, ReqState::Sending(_) | ReqState::Waiting(_))
    }

    /// Sends a request. A message the table rejects is not sent
    /// ([`TransportError::Protocol`]) and the socket may send again.
    pub async fn send(&mut self, msg: &P::ToMaster) -> Result<(), TransportError> {
        let sender = match std::mem::replace(&mut self.state, ReqState::Lost) {
            ReqState::Idle(sender) => sender,
            ReqState::Lost => return Err(TransportError::Closed),
            other => {
                self.state = other;
                return Err(TransportError::Zmq(zmq::Error::EFSM));
            }
        };
        let multipart = match frame(&mut self.buf, &[], msg) {
            Ok(multipart) => multipart,
            Err(e) => {
                self.state = ReqState::Idle(sender);
                return Err(e.into());
            }
        };
        self.state = ReqState::Sending(Box::pin(sender.send(multipart)));
        self.finish_send().await
    }

    /// Drives a started send to its end.
    async fn finish_send(&mut self) -> Result<(), TransportError> {
        if let ReqState::Sending(sending) = &mut self.state {
            match sending.await {
                Ok(receiver) => self.state = ReqState::Waiting(Box::pin(receiver.recv())),
                Err(e) => {
                    self.state = ReqState::Lost;
                    return Err(e.into());
                }
            }
        }
        Ok(())
    }

    /// Waits for the reply to the request in flight. A bad reply
    /// ([`TransportError::Protocol`]) has been consumed and the socket may send again.
    pub async fn recv(&mut self) -> Result<P::FromMaster, TransportError> {
        match self.state {
            ReqState::Idle(_) => return Err(TransportError::Zmq(zmq::Error::EFSM)),
            ReqState::Lost => return Err(TransportError::Closed),
            ReqState::Sending(_) | ReqState::Waiting(_) => {}
        }
        self.finish_send().await?;
        let ReqState::Waiting(waiting) = &mut self.state else {
            unreachable!("a finished send leaves the socket waiting for the reply");
        };
        match waiting.await {
            Ok((multipart, sender)) => {
                self.state = ReqState::Idle(sender);
                Ok(decode(multipart, single_payload)?)
            }
            Err(e) => {
                self.state = ReqState::Lost;
                Err(e.into())
            }
        }
    }

    /// Sends a request and waits for its reply.
    pub async fn request(&mut self, msg: &P::ToMaster) -> Result<P::FromMaster, TransportError> {
        self.send(msg).await?;
        self.recv().await
    }
}

impl<P: Protocol> fmt::Debug for Req<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Req")
            .field("endpoint", &self.endpoint)
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

/// Declares a raw asynchronous socket: its `tmq` socket and its frame limit.
macro_rules! raw_socket {
    ($(#[$attr:meta])* $name:ident, $inner:ty) => {
        $(#[$attr])*
        pub struct $name {
            inner: $inner,
            max_frames: usize,
        }

        impl $name {
            fn wrap(inner: $inner) -> Self {
                $name { inner, max_frames: DEFAULT_MAX_FRAMES }
            }

            /// Sets the most frames a received message may have (at least 1, after a
            /// ROUTER's identity); more is a [`ProtocolError::Frames`].
            pub fn set_max_frames(&mut self, max: usize) {
                self.max_frames = max.max(1);
            }
        }
    };
}

raw_socket! {
    /// The master's file-transfer socket on tokio; see the blocking
    /// [`RawRouter`](super::RawRouter).
    RawRouter, tmq::router::Router
}
async_common!(RawRouter, "ROUTER", tmq::router, ready);

impl RawRouter {
    /// Waits for the next message: the sender's identity and its frames, or
    /// [`ProtocolError::Frames`] if it had more than the maximum. Cancel-safe.
    pub async fn recv(&mut self) -> Result<Received<Vec<zmq::Message>>, TransportError> {
        let mut frames = next_multipart(&mut self.inner).await?.into_iter();
        let identity = Identity::from(frames.next().as_deref().unwrap_or_default());
        let frames: Vec<zmq::Message> = frames.collect();
        Ok((
            identity,
            check_raw_count(frames.len(), self.max_frames).map(|()| frames),
        ))
    }

    /// [`recv`](Self::recv), and what ZeroMQ tells of the connection the message came on
    /// (its peer's address, the user id a ZAP handler gave it). Cancel-safe.
    pub async fn recv_with_origin(
        &mut self,
    ) -> Result<(Origin, Received<Vec<zmq::Message>>), TransportError> {
        let mut multipart = next_multipart(&mut self.inner).await?;
        let origin = multipart.0.back_mut().map(Origin::of).unwrap_or_default();
        let mut frames = multipart.into_iter();
        let identity = Identity::from(frames.next().as_deref().unwrap_or_default());
        let frames: Vec<zmq::Message> = frames.collect();
        Ok((
            origin,
            (
                identity,
                check_raw_count(frames.len(), self.max_frames).map(|()| frames),
            ),
        ))
    }

    /// Sends `[identity, frames…]` (`frames` not empty), without copying the frames.
    pub async fn send_to<I, T>(
        &mut self,
        identity: &Identity,
        frames: I,
    ) -> Result<(), TransportError>
    where
        I: IntoIterator<Item = T>,
        T: Into<zmq::Message>,
    {
        let mut multipart: Multipart = frames.into_iter().map(Into::into).collect();
        if multipart.is_empty() {
            return Err(no_frames().into());
        }
        multipart.push_front(zmq::Message::from(identity.as_bytes()));
        send_multipart(&mut self.inner, multipart).await
    }
}

raw_socket! {
    /// A peer's file-transfer socket on tokio; see the blocking
    /// [`RawDealer`](super::RawDealer).
    RawDealer, tmq::dealer::Dealer
}
async_common!(RawDealer, "DEALER", tmq::dealer, ready);

impl RawDealer {
    /// Sends one message of `frames` (at least one), without copying them.
    pub async fn send<I, T>(&mut self, frames: I) -> Result<(), TransportError>
    where
        I: IntoIterator<Item = T>,
        T: Into<zmq::Message>,
    {
        let multipart: Multipart = frames.into_iter().map(Into::into).collect();
        if multipart.is_empty() {
            return Err(no_frames().into());
        }
        send_multipart(&mut self.inner, multipart).await
    }

    /// Waits for the next message's frames; more than the maximum is a
    /// [`TransportError::Protocol`] (consumed whole). Cancel-safe.
    pub async fn recv(&mut self) -> Result<Vec<zmq::Message>, TransportError> {
        let frames: Vec<zmq::Message> =
            next_multipart(&mut self.inner).await?.into_iter().collect();
        check_raw_count(frames.len(), self.max_frames)?;
        Ok(frames)
    }
}
