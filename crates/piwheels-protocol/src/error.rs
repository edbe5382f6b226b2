//! What can go wrong on the wire, as one typed error.
//!
//! The `Display` texts begin the way piwheels' own `IOError`s do ("unable to deserialize
//! data", "invalid message structure received", "unknown message", "missing data for",
//! "data not expected for", "invalid data for"), then say precisely what was wrong.

use std::fmt;

use crate::quote::{Quoted, cut};

/// The longest path into nested data an error shows (64 levels of long map keys could
/// otherwise make one of many kilobytes).
const PATH_LIMIT: usize = 300;

/// A CBOR item that could not be decoded: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Byte offset into the frame where decoding failed.
    pub offset: usize,
    /// What was wrong there.
    pub reason: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.reason, self.offset)
    }
}

/// Data that decoded as CBOR but does not fit the message's schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataError {
    /// Where in the data, e.g. `[3]` or `[3][0]["apt"][1]`; empty for the data itself.
    pub path: String,
    /// What the schema wanted there, e.g. `str`, `float`, `sequence of 9 items`.
    pub expected: String,
    /// What was found instead, e.g. `bytes`, `int`, `sequence of 10 items`.
    pub found: String,
}

impl DataError {
    /// A mismatch at the current position (the path is filled in on the way out).
    pub fn new(expected: impl Into<String>, found: impl Into<String>) -> Self {
        DataError {
            path: String::new(),
            expected: expected.into(),
            found: found.into(),
        }
    }

    /// Prefixes one path segment (`[i]` or `["key"]`) as the error leaves a container.
    #[must_use]
    pub fn at(mut self, segment: impl fmt::Display) -> Self {
        self.path = format!("{segment}{}", self.path);
        self
    }
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "expected {}, found {}", self.expected, self.found)
        } else {
            write!(
                f,
                "at {}: expected {}, found {}",
                cut(&self.path, PATH_LIMIT),
                self.expected,
                self.found
            )
        }
    }
}

/// Every way a frame can fail to decode or validate, or a message fail to encode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The frame is not valid CBOR (truncated, malformed, too large or too deeply nested).
    #[error("unable to deserialize data: {0}")]
    Decode(DecodeError),
    /// Valid CBOR, but neither a bare text nor a `[name, data]` pair.
    #[error("invalid message structure received: {0}")]
    Structure(String),
    /// A message name this socket's protocol does not have (in this direction); shown
    /// [quoted and cut short](crate::quote::Quoted).
    #[error("unknown message: {}", Quoted::str(.0))]
    UnknownMessage(String),
    /// A message that needs data arrived as a bare name.
    #[error("missing data for: {0}")]
    MissingData(&'static str),
    /// A message without data arrived with data.
    #[error("data not expected for: {0}")]
    UnexpectedData(&'static str),
    /// The data does not match the message's schema.
    #[error("invalid data for {msg}: {error}")]
    InvalidData {
        /// The message name.
        msg: &'static str,
        /// What was wrong with its data.
        error: DataError,
    },
    /// The message cannot be sent because the peer could not represent a value
    /// (e.g. a datetime outside Python's years 1–9999).
    #[error("invalid data for {msg}: {reason}")]
    Unencodable {
        /// The message name.
        msg: &'static str,
        /// Why it cannot be encoded.
        reason: EncodeError,
    },
    /// A multipart message with the wrong frames (count, empty delimiter, raw-frame fields).
    #[error("invalid message structure received: {0}")]
    Frames(String),
}

/// Why a value cannot be sent: the peer (Python) could not represent it, and where in
/// the message the value is (`field: [3]: …`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError {
    /// The fields and indexes leading to the value, outermost first.
    pub path: Vec<String>,
    /// What the peer could not represent.
    pub kind: Unrepresentable,
}

/// A value the peer (Python) could not represent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unrepresentable {
    /// A datetime outside Python's years 1–9999.
    #[error("datetime {0} is outside years 1-9999")]
    Datetime(chrono::DateTime<chrono::Utc>),
    /// A timedelta of more days than Python's ±999999999.
    #[error("timedelta of {0} days is beyond Python's ±999999999")]
    Timedelta(i128),
}

impl EncodeError {
    /// The error, one level further in: `segment` (a field name or `[index]`) is put in
    /// front of its path.
    pub fn within(mut self, segment: impl Into<String>) -> Self {
        self.path.insert(0, segment.into());
        self
    }
}

impl From<Unrepresentable> for EncodeError {
    fn from(kind: Unrepresentable) -> Self {
        EncodeError {
            path: Vec::new(),
            kind,
        }
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for segment in &self.path {
            write!(f, "{segment}: ")?;
        }
        write!(f, "{}", self.kind)
    }
}

impl std::error::Error for EncodeError {}

impl From<DecodeError> for ProtocolError {
    fn from(e: DecodeError) -> Self {
        ProtocolError::Decode(e)
    }
}
