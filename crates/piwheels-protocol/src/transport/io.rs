//! The blocking send and receive loops underneath every blocking socket.
//!
//! Like pyzmq, they retry calls a signal interrupted (`EINTR`). A receive with a timeout
//! tries without blocking, and while nothing is there polls for `POLLIN` until the
//! deadline; the other parts of a multipart message are there once its first part is
//! (ZeroMQ delivers them atomically). A send with a timeout does the same with `POLLOUT`
//! for its first part; ZeroMQ accepts the further parts of a message whose first part it
//! took.

use std::time::{Duration, Instant};

use super::TransportError;
use super::options::{SocketOptions, check_endpoint, millis_ceil, open};

/// A deadline and the timeout it came from (for the error).
#[derive(Clone, Copy)]
pub(super) struct Deadline {
    at: Instant,
    timeout: Duration,
}

impl Deadline {
    /// `None` (wait for ever) for no timeout, or one too far away to represent.
    pub(super) fn after(timeout: Option<Duration>) -> Option<Deadline> {
        let timeout = timeout?;
        Some(Deadline {
            at: Instant::now().checked_add(timeout)?,
            timeout,
        })
    }
}

/// Opens a socket of `kind` and binds it, or connects it, to `endpoint`.
///
/// SUB sockets are subscribed to everything (`""`), as piwheels' monitors do.
pub(super) fn open_socket(
    ctx: &zmq::Context,
    kind: zmq::SocketType,
    options: &SocketOptions,
    endpoint: &str,
    bind: bool,
) -> Result<zmq::Socket, TransportError> {
    check_endpoint(endpoint)?;
    let socket = open(ctx, kind, options)?;
    if kind == zmq::SUB {
        socket.set_subscribe(b"")?;
    }
    if bind {
        socket.bind(endpoint)?;
    } else {
        socket.connect(endpoint)?;
    }
    Ok(socket)
}

/// Waits until the socket has `events`, or the deadline passes.
fn wait(
    socket: &zmq::Socket,
    events: zmq::PollEvents,
    deadline: Deadline,
) -> Result<(), TransportError> {
    loop {
        let left = deadline.at.saturating_duration_since(Instant::now());
        let ms = i64::try_from(millis_ceil(left)).unwrap_or(i64::MAX);
        match socket.poll(events, ms) {
            Ok(0) if left.is_zero() => return Err(TransportError::Timeout(deadline.timeout)),
            Ok(0) | Err(zmq::Error::EINTR) => continue,
            Ok(_) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Receives the first part of the next message into `frame`.
///
/// With a deadline it tries first and polls only while nothing is there, so a socket in
/// the wrong state (a REQ with no request out) fails at once with `EFSM`, as a blocking
/// receive does, instead of polling until the deadline.
pub(super) fn recv_first(
    socket: &zmq::Socket,
    frame: &mut zmq::Message,
    deadline: Option<Deadline>,
) -> Result<(), TransportError> {
    let flags = if deadline.is_some() { zmq::DONTWAIT } else { 0 };
    loop {
        match socket.recv(frame, flags) {
            Ok(()) => return Ok(()),
            Err(zmq::Error::EINTR) => continue,
            Err(zmq::Error::EAGAIN) => match deadline {
                Some(deadline) => wait(socket, zmq::POLLIN, deadline)?,
                None => return Err(zmq::Error::EAGAIN.into()),
            },
            Err(e) => return Err(e.into()),
        }
    }
}

/// Receives a further part of the current message into `frame`.
pub(super) fn recv_part(
    socket: &zmq::Socket,
    frame: &mut zmq::Message,
) -> Result<(), TransportError> {
    loop {
        match socket.recv(frame, 0) {
            Ok(()) => return Ok(()),
            Err(zmq::Error::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Receives one whole message, keeping its first `kept.len()` parts in `kept` (reusing
/// them) and discarding the rest into `spare`; returns how many parts it had.
pub(super) fn recv_kept(
    socket: &zmq::Socket,
    kept: &mut [zmq::Message],
    spare: &mut zmq::Message,
    deadline: Option<Deadline>,
) -> Result<usize, TransportError> {
    recv_first(socket, &mut kept[0], deadline)?;
    let mut more = kept[0].get_more();
    let mut total = 1;
    while more {
        let frame = kept.get_mut(total).unwrap_or(&mut *spare);
        recv_part(socket, frame)?;
        more = frame.get_more();
        total += 1;
    }
    Ok(total)
}

/// Receives one whole message into fresh frames (to be handed out without copies):
/// `first` gets its first part, at most `max` further parts are returned, the rest are
/// discarded into `spare`; returns the further parts and how many there were.
pub(super) fn recv_owned(
    socket: &zmq::Socket,
    first: &mut zmq::Message,
    spare: &mut zmq::Message,
    max: usize,
    deadline: Option<Deadline>,
) -> Result<(Vec<zmq::Message>, usize), TransportError> {
    recv_first(socket, first, deadline)?;
    let mut more = first.get_more();
    let mut frames = Vec::new();
    let mut total = 0;
    while more {
        if frames.len() < max {
            let mut frame = zmq::Message::new();
            recv_part(socket, &mut frame)?;
            more = frame.get_more();
            frames.push(frame);
        } else {
            recv_part(socket, spare)?;
            more = spare.get_more();
        }
        total += 1;
    }
    Ok((frames, total))
}

/// Sends one message: `first` (copied, so it can be retried) and then `rest` (handed to
/// ZeroMQ as they are, without copies).
pub(super) fn send_frames(
    socket: &zmq::Socket,
    first: &[u8],
    rest: impl IntoIterator<Item = zmq::Message>,
    deadline: Option<Deadline>,
) -> Result<(), TransportError> {
    let mut rest = rest.into_iter().peekable();
    let more = if rest.peek().is_some() {
        zmq::SNDMORE
    } else {
        0
    };
    let flags = if deadline.is_some() {
        more | zmq::DONTWAIT
    } else {
        more
    };
    loop {
        match socket.send(first, flags) {
            Ok(()) => break,
            Err(zmq::Error::EINTR) => continue,
            Err(zmq::Error::EAGAIN) => match deadline {
                Some(deadline) => wait(socket, zmq::POLLOUT, deadline)?,
                None => return Err(zmq::Error::EAGAIN.into()),
            },
            Err(e) => return Err(e.into()),
        }
    }
    while let Some(frame) = rest.next() {
        let flags = if rest.peek().is_some() {
            zmq::SNDMORE
        } else {
            0
        };
        socket.send(frame, flags)?;
    }
    Ok(())
}
