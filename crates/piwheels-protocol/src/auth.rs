//! Who may talk to the master: CURVE key pairs in ZeroMQ's Z85 certificate files, and
//! a ZAP handler that admits CURVE peers whose public key is in an allow-list folder and
//! NULL (unencrypted, original piwheels) peers only from the networks the operator lists.
//!
//! * [`keys`]: making, writing and reading key pairs. The files are the ones czmq and
//!   pyzmq (`zmq.auth.create_certificates`) write: `NAME.key` holds the public key
//!   (readable by all), `NAME.key_secret` both keys (mode 0600). A file holding just the
//!   40-character Z85 key is read too.
//! * [`zap`]: the ZAP handler (RFC 27), a thread with a REP socket on
//!   `inproc://zeromq.zap.01` of the context the guarded sockets belong to, and the
//!   [`zap::Policy`] it applies. It reads the allow-list folder again whenever the folder
//!   changed, so deleting a key file refuses that key from the next connection on.
//! * [`curve_server`] and [`curve_client`]: the socket options of each end.

pub mod keys;
pub mod zap;

pub use keys::{KeyError, KeyPair, PublicKey, SecretKey};
pub use zap::{Network, Policy, Refusal, ZapDecisions, ZapHandler};

/// The ZAP domain the master's guarded sockets set: with it, ZeroMQ asks the ZAP handler
/// about NULL peers too (without one, NULL connections are never checked).
pub const ZAP_DOMAIN: &str = "piwheels";

/// Makes `socket` a CURVE server with `secret` (call before `bind`), and sets
/// [`ZAP_DOMAIN`] so the ZAP handler sees every connection.
pub fn curve_server(socket: &zmq::Socket, secret: &SecretKey) -> zmq::Result<()> {
    socket.set_curve_server(true)?;
    socket.set_curve_secretkey(secret.as_bytes())?;
    socket.set_zap_domain(ZAP_DOMAIN)
}

/// Makes `socket` a NULL-mechanism server whose connections the ZAP handler still checks
/// (by address): sets [`ZAP_DOMAIN`]. Call before `bind`.
pub fn plain_server(socket: &zmq::Socket) -> zmq::Result<()> {
    socket.set_zap_domain(ZAP_DOMAIN)
}

/// Makes `socket` a CURVE client of the server with `server` public key, as `own` (call
/// before `connect`).
pub fn curve_client(socket: &zmq::Socket, server: &PublicKey, own: &KeyPair) -> zmq::Result<()> {
    socket.set_curve_serverkey(server.as_bytes())?;
    socket.set_curve_publickey(own.public.as_bytes())?;
    socket.set_curve_secretkey(own.secret.as_bytes())
}
