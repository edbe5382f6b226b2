//! piwheels 0.23's wire protocols, for the master, build slaves, admin tools and monitors.
//!
//! TODO top doc.

pub mod cbor;
pub mod error;
pub mod import;
pub mod logger;
pub mod message;
pub mod monitor;
pub mod ranges;
pub mod slave;
pub mod states;
pub mod transfer;
pub mod transport;

pub use error::{DataError, DecodeError, ProtocolError};
pub use message::{Message, NoMessage, Protocol};
