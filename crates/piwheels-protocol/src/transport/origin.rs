//! Where a message came from, beyond its ROUTER identity: what ZeroMQ tells about the
//! connection it arrived on (`zmq_msg_gets(3)`), so the master can hold a peer to account
//! across reconnections (a new connection gets a new identity, not a new address).

use std::net::IpAddr;

/// What ZeroMQ tells about the connection a message arrived on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Origin {
    /// The peer's IP address (`Peer-Address`), for TCP connections; `None` for `ipc://`
    /// and `inproc://`, or if libzmq gives none.
    pub address: Option<IpAddr>,
    /// The user id a ZAP handler gave the connection (`User-Id`): with CURVE, the peer's
    /// public key as the handler names it. `None` without ZAP, or when it is empty.
    pub user_id: Option<String>,
}

impl Origin {
    /// Reads the connection's properties from a received frame (any frame of the message
    /// carries them).
    pub fn of(frame: &mut zmq::Message) -> Origin {
        let address = frame
            .gets("Peer-Address")
            .and_then(|a| a.trim_start_matches('[').trim_end_matches(']').parse().ok());
        let user_id = frame
            .gets("User-Id")
            .filter(|u| !u.is_empty())
            .map(str::to_owned);
        Origin { address, user_id }
    }
}
