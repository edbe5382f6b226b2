//! Socket options, endpoints and the IPC file mode.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use crate::auth::{KeyPair, PublicKey, SecretKey};

/// piwheels' high-water mark for most of its sockets (`sock.hwm = 10`).
pub const HWM: i32 = 10;

/// piwheels' high-water mark for the file-transfer ROUTER (`--file-queue`).
pub const FILE_QUEUE_HWM: i32 = 500;

/// piwheels' high-water mark for TheScribe's queue.
pub const SCRIBE_HWM: i32 = 100;

/// How long a closed socket keeps trying to deliver queued messages, unless told
/// otherwise: one second, what piwheels' slave uses. (ZeroMQ's own default, for ever,
/// makes a process with an unanswered request hang on exit.)
pub const DEFAULT_LINGER: Duration = Duration::from_secs(1);

/// The largest frame a socket accepts unless told otherwise: 64 MiB.
///
/// Generous because a slave's `BUILT` carries its whole build log in one frame; the
/// file transfer moves 64 KiB chunks, so its sockets can use far less.
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 64 << 20;

/// The options every socket is made with.
///
/// The defaults: IPv6 on (so a `tcp://*` bind listens on both stacks, and `[::1]` and
/// IPv6 hosts can be connected to), ZeroMQ's high-water marks (1000 messages), linger
/// [`DEFAULT_LINGER`], frames up to [`DEFAULT_MAX_MESSAGE_SIZE`].
///
/// ```
/// use std::time::Duration;
/// use piwheels_protocol::transport::{FILE_QUEUE_HWM, SocketOptions};
///
/// let file_queue = SocketOptions::new().hwm(FILE_QUEUE_HWM).max_message_size(Some(1 << 20));
/// let slave = SocketOptions::new().linger(Some(Duration::from_secs(1)));
/// # let _ = (file_queue, slave);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketOptions {
    pub(crate) ipv6: bool,
    pub(crate) send_hwm: Option<i32>,
    pub(crate) recv_hwm: Option<i32>,
    pub(crate) linger: Option<Duration>,
    pub(crate) max_message_size: Option<u64>,
    pub(crate) routing_id: Option<RoutingId>,
    pub(crate) security: Security,
}

/// How a socket's connections are secured (see [`crate::auth`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Security {
    /// ZeroMQ's NULL mechanism, unchecked: what the original piwheels speaks.
    #[default]
    Null,
    /// The NULL mechanism, with every connection put to the context's ZAP handler (which
    /// admits it by address): a bind of the master's for original peers.
    NullChecked,
    /// A CURVE server with this secret key; every connection is put to the context's ZAP
    /// handler (which admits it by public key).
    CurveServer(SecretKey),
    /// A CURVE client of the server with public key `server`, as `own`.
    CurveClient {
        /// The server's public key.
        server: PublicKey,
        /// This end's key pair.
        own: KeyPair,
    },
}

/// A socket's own routing id (`ZMQ_ROUTING_ID`): what a ROUTER it connects to sees as its
/// identity, instead of one ZeroMQ makes up. At most [`RoutingId::MAX`] bytes, not empty,
/// and not starting with a zero byte (ZeroMQ keeps those for its own).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RoutingId {
    len: u8,
    bytes: [u8; RoutingId::MAX],
}

impl RoutingId {
    /// The longest routing id this type holds.
    pub const MAX: usize = 32;

    /// A routing id of these bytes; `None` if they are empty, too long, or start with a
    /// zero byte.
    pub fn new(id: &[u8]) -> Option<Self> {
        if id.is_empty() || id.len() > Self::MAX || id[0] == 0 {
            return None;
        }
        let mut bytes = [0; Self::MAX];
        bytes[..id.len()].copy_from_slice(id);
        Some(RoutingId {
            len: id.len() as u8,
            bytes,
        })
    }

    /// Its bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for RoutingId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RoutingId({:?})",
            String::from_utf8_lossy(self.as_bytes())
        )
    }
}

impl Default for SocketOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl SocketOptions {
    /// The defaults (see the type's documentation).
    pub const fn new() -> Self {
        SocketOptions {
            ipv6: true,
            send_hwm: None,
            recv_hwm: None,
            linger: Some(DEFAULT_LINGER),
            max_message_size: Some(DEFAULT_MAX_MESSAGE_SIZE),
            routing_id: None,
            security: Security::Null,
        }
    }

    /// How connections are secured: [`Security::Null`] (the default), a ZAP-checked NULL
    /// server, a CURVE server or a CURVE client. Like the other options, it applies to the
    /// binds and connects made after it is set, so one socket can bind a CURVE endpoint and
    /// a NULL one.
    #[must_use]
    pub const fn security(mut self, security: Security) -> Self {
        self.security = security;
        self
    }

    /// `ZMQ_ROUTING_ID`: the identity a ROUTER this socket connects to sees. Each socket
    /// connected to one ROUTER needs its own (a second with the same id is refused).
    #[must_use]
    pub const fn routing_id(mut self, id: RoutingId) -> Self {
        self.routing_id = Some(id);
        self
    }

    /// `ZMQ_IPV6`: whether TCP endpoints may use IPv6 (a wildcard bind then covers both
    /// stacks). On by default, as on every piwheels socket.
    #[must_use]
    pub const fn ipv6(mut self, on: bool) -> Self {
        self.ipv6 = on;
        self
    }

    /// Both high-water marks (`ZMQ_SNDHWM` and `ZMQ_RCVHWM`), as pyzmq's `sock.hwm` sets
    /// them: how many messages may queue per peer before sends block or drop.
    #[must_use]
    pub const fn hwm(self, messages: i32) -> Self {
        self.send_hwm(messages).recv_hwm(messages)
    }

    /// `ZMQ_SNDHWM` alone.
    #[must_use]
    pub const fn send_hwm(mut self, messages: i32) -> Self {
        self.send_hwm = Some(messages);
        self
    }

    /// `ZMQ_RCVHWM` alone.
    #[must_use]
    pub const fn recv_hwm(mut self, messages: i32) -> Self {
        self.recv_hwm = Some(messages);
        self
    }

    /// `ZMQ_LINGER`: how long a closed socket keeps trying to deliver queued messages
    /// (rounded up to milliseconds); `None` waits for ever, `Some(Duration::ZERO)` drops
    /// them at once.
    #[must_use]
    pub const fn linger(mut self, linger: Option<Duration>) -> Self {
        self.linger = linger;
        self
    }

    /// `ZMQ_MAXMSGSIZE`: the largest frame accepted from a peer, in bytes; `None` for no
    /// limit.
    ///
    /// ZeroMQ checks each frame (not a whole multipart message) as it arrives. A peer
    /// that sends a larger one is disconnected and the frame is dropped unseen; the socket
    /// goes on serving everyone else, and a connecting peer reconnects.
    #[must_use]
    pub const fn max_message_size(mut self, bytes: Option<u64>) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Applies these options to a ZeroMQ socket. Do it before `bind` or `connect`:
    /// ZeroMQ applies most options only to connections made afterwards.
    pub fn apply(&self, socket: &zmq::Socket) -> zmq::Result<()> {
        socket.set_ipv6(self.ipv6)?;
        if let Some(hwm) = self.send_hwm {
            socket.set_sndhwm(hwm)?;
        }
        if let Some(hwm) = self.recv_hwm {
            socket.set_rcvhwm(hwm)?;
        }
        socket.set_linger(self.linger_ms())?;
        socket.set_maxmsgsize(self.max_message_size_raw())?;
        if let Some(id) = &self.routing_id {
            socket.set_identity(id.as_bytes())?;
        }
        match &self.security {
            Security::Null => Ok(()),
            Security::NullChecked => {
                // A socket that bound a CURVE endpoint before speaks NULL from here on.
                socket.set_curve_server(false)?;
                crate::auth::plain_server(socket)
            }
            Security::CurveServer(secret) => crate::auth::curve_server(socket, secret),
            Security::CurveClient { server, own } => crate::auth::curve_client(socket, server, own),
        }
    }

    /// `ZMQ_LINGER` in ZeroMQ's terms: milliseconds, `-1` for ever.
    pub(crate) fn linger_ms(&self) -> i32 {
        self.linger
            .map_or(-1, |d| i32::try_from(millis_ceil(d)).unwrap_or(i32::MAX))
    }

    /// `ZMQ_MAXMSGSIZE` in ZeroMQ's terms: bytes, `-1` for no limit.
    pub(crate) fn max_message_size_raw(&self) -> i64 {
        self.max_message_size
            .map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX))
    }
}

/// A duration in whole milliseconds, rounded up (so a short wait never becomes "don't
/// wait"), saturating.
pub(crate) fn millis_ceil(d: Duration) -> u64 {
    let ms = d.as_nanos().div_ceil(1_000_000);
    u64::try_from(ms).unwrap_or(u64::MAX)
}

/// Opens a socket of `kind` with `options` applied.
pub(crate) fn open(
    ctx: &zmq::Context,
    kind: zmq::SocketType,
    options: &SocketOptions,
) -> zmq::Result<zmq::Socket> {
    let socket = ctx.socket(kind)?;
    options.apply(&socket)?;
    Ok(socket)
}

/// Rejects endpoints the `zmq` crate would panic on (it unwraps `CString::new`).
pub(crate) fn check_endpoint(endpoint: &str) -> zmq::Result<()> {
    if endpoint.contains('\0') {
        Err(zmq::Error::EINVAL)
    } else {
        Ok(())
    }
}

/// `ZMQ_LAST_ENDPOINT`: the endpoint as bound, e.g. `tcp://127.0.0.1:41234` for a bind to
/// `tcp://127.0.0.1:*`, or `tcp://[::]:5555` for `tcp://*:5555` with IPv6 on.
///
/// With IPv6 on, libzmq binds IPv4 addresses on an IPv6 socket and reports them
/// IPv4-mapped (`tcp://[::ffff:127.0.0.1]:41234`), which only peers with IPv6 on can
/// connect to; such addresses are given back as plain IPv4.
pub(crate) fn last_endpoint(socket: &zmq::Socket) -> zmq::Result<String> {
    let endpoint = match socket.get_last_endpoint()? {
        Ok(endpoint) => endpoint,
        Err(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
    };
    Ok(unmap_ipv4(&endpoint).unwrap_or(endpoint))
}

/// `tcp://[::ffff:a.b.c.d]:port` → `tcp://a.b.c.d:port`.
fn unmap_ipv4(endpoint: &str) -> Option<String> {
    let rest = endpoint.strip_prefix("tcp://[")?;
    let (host, port) = rest.split_once("]:")?;
    let mapped = host.parse::<std::net::Ipv6Addr>().ok()?.to_ipv4_mapped()?;
    Some(format!("tcp://{mapped}:{port}"))
}

/// The endpoint a client on this host connects to for a master that binds `endpoint`: a
/// wildcard TCP host (`*`, `0.0.0.0`, `[::]`), which can be bound but not connected to,
/// becomes loopback (`127.0.0.1`, `[::1]`); anything else is given back as it is. A tool
/// reading the master's own `piwheels.conf` (`file-queue = tcp://*:5556`) so reaches it.
pub fn connectable(endpoint: &str) -> std::borrow::Cow<'_, str> {
    let Some(rest) = endpoint.strip_prefix("tcp://") else {
        return endpoint.into();
    };
    for (wildcard, loopback) in [
        ("*:", "127.0.0.1:"),
        ("0.0.0.0:", "127.0.0.1:"),
        ("[::]:", "[::1]:"),
    ] {
        if let Some(port) = rest.strip_prefix(wildcard) {
            return format!("tcp://{loopback}{port}").into();
        }
    }
    endpoint.into()
}

/// The file an `ipc://` endpoint lives at; `None` for other transports and for Linux's
/// abstract namespace (`ipc://@name`), which has no file.
pub fn ipc_path(endpoint: &str) -> Option<&Path> {
    let path = endpoint.strip_prefix("ipc://")?;
    (!path.is_empty() && !path.starts_with('@')).then(|| Path::new(path))
}

/// Sets the file mode of a bound `ipc://` endpoint's socket file (e.g. `0o660`).
///
/// Fails with `InvalidInput` for an endpoint that has no file (see [`ipc_path`]).
pub fn set_ipc_mode(endpoint: &str, mode: u32) -> io::Result<()> {
    std::fs::set_permissions(ipc_file(endpoint)?, std::fs::Permissions::from_mode(mode))
}

/// Adds group write to a bound `ipc://` endpoint's socket file, as the master does for
/// its status and control queues so monitors in its group can connect.
///
/// Fails with `InvalidInput` for an endpoint that has no file (see [`ipc_path`]).
pub fn add_ipc_group_write(endpoint: &str) -> io::Result<()> {
    let path = ipc_file(endpoint)?;
    let mode = std::fs::metadata(path)?.permissions().mode();
    std::fs::set_permissions(
        path,
        std::fs::Permissions::from_mode((mode | 0o020) & 0o7777),
    )
}

fn ipc_file(endpoint: &str) -> io::Result<&Path> {
    ipc_path(endpoint).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{endpoint:?} is not an ipc:// endpoint with a file"),
        )
    })
}
