//! piwheels 0.23's wire protocols, for the master, build slaves, admin tools and monitors.
//!
//! Everything that crosses a process boundary in a piwheels farm is declared here once
//! and used by both ends, byte-compatible with the original Python programs:
//!
//! * [`cbor`]: the CBOR codec with piwheels' encodings (tag-0 UTC datetimes, tag-2001
//!   timedeltas, the tag-2002 `NoData` sentinel, sets, floats always as doubles);
//! * one protocol table per socket, each direction a typed enum, so a `match` covers every
//!   message: [`slave`] (build slave ↔ SlaveDriver), [`transfer`] (the raw-frame file
//!   transfer), [`monitor`] (status broadcasts and control commands), [`import`] (admin
//!   tools ↔ MrChase) and [`logger`] (`piw-logger` → Lumberjack);
//! * the file and build shapes of [`states`], the per-file
//!   [`transfer::TransferState`] and the byte-range arithmetic in [`ranges`];
//! * [`transport`]: ZeroMQ sockets (blocking, and on tokio with the `tokio` feature)
//!   that validate every message both ways.
//!
//! Both sending and receiving validate, as piwheels does (piwheels.md §2.3): a message of the
//! wrong shape is a [`ProtocolError`] that says what was wrong and where, never a panic.
//! Peer input quoted into an error is cut short by [`quote::Quoted`], so no error about a
//! peer's message is much longer than a line.
//!
//! ```
//! use piwheels_protocol::Message;
//! use piwheels_protocol::slave::{Job, SlaveReply, SlaveRequest};
//!
//! // What the master sends a slave, byte for byte as piwheels 0.23 writes it.
//! let reply = SlaveReply::Build(Job { package: "foo".into(), version: "1.0".into() });
//! assert_eq!(reply.encode()?, b"\x82\x65BUILD\x82\x63foo\x631.0");
//!
//! // A slave's request: a bare name for messages without data.
//! assert_eq!(SlaveRequest::decode(b"\x64SENT")?, SlaveRequest::Sent);
//!
//! // Bad input is a typed error that says what was wrong.
//! let err = SlaveRequest::decode(b"\x64IDLE").unwrap_err();
//! assert_eq!(err.to_string(), "missing data for: IDLE");
//! # Ok::<(), piwheels_protocol::ProtocolError>(())
//! ```

pub mod auth;
pub mod cbor;
pub mod error;
pub mod import;
pub mod logger;
pub mod machine;
pub mod message;
pub mod monitor;
pub mod quote;
pub mod ranges;
pub mod slave;
pub mod states;
pub mod transfer;
pub mod transport;

pub use error::{DataError, DecodeError, EncodeError, ProtocolError};
pub use message::{Message, NoMessage, Protocol};
