//! The CBOR codec with piwheels' encodings (piwheels.md §2.2).
//!
//! What piwheels sends differs from a generic CBOR encoder in a few places, all of which
//! this module reproduces byte for byte (Python's cbor2 5.x with piwheels' tag hooks):
//!
//! * floats are always doubles (`0xfb`), never shortened; NaN and ±infinity are the
//!   half-precision `f9 7e00`, `f9 7c00` and `f9 fc00`;
//! * datetimes are tag 0 text `YYYY-MM-DDTHH:MM:SS[.ffffff]Z` (UTC, fraction omitted
//!   when zero); tag 1 epoch numbers are accepted on receipt;
//! * timedeltas are tag 2001 `[days, seconds, microseconds]`, normalised as Python does
//!   (`0 ≤ seconds < 86400`, `0 ≤ microseconds < 10⁶`, days may be negative);
//! * piwheels' `NoData` sentinel is tag 2002 over `null`; sets are tag 258 over an array.
//!
//! Typed values implement [`Wire`]; anything-goes fields use [`Value`]. Decoding never
//! panics and never allocates more than the frame could hold: lengths are checked
//! against the bytes left, and [`Value`]s nest at most [`MAX_DEPTH`] deep.

mod header;
mod types;
mod value;

use crate::error::{DataError, DecodeError};

pub use self::header::{Header, simple};
pub use self::types::{parse_datetime, timedelta_from_micros};
pub use self::value::{NoData, Value};

/// Tag of an RFC 3339 datetime string.
pub const TAG_DATETIME: u64 = 0;
/// Tag of an epoch-seconds datetime (accepted on receipt, never sent).
pub const TAG_EPOCH: u64 = 1;
/// Tag of a positive bignum.
pub const TAG_BIGNUM_POS: u64 = 2;
/// Tag of a negative bignum.
pub const TAG_BIGNUM_NEG: u64 = 3;
/// Tag of a set (tag 258 over an array).
pub const TAG_SET: u64 = 258;
/// piwheels' timedelta tag: `[days, seconds, microseconds]`.
pub const TAG_TIMEDELTA: u64 = 2001;
/// piwheels' `NoData` sentinel tag (over `null`).
pub const TAG_NODATA: u64 = 2002;

/// How deep [`Value`]s may nest (arrays, maps and tags) before decoding gives up.
pub const MAX_DEPTH: usize = 64;

/// Python's `timedelta.max.days`: the largest magnitude of days either end can hold.
pub(crate) const MAX_DAYS: i128 = 999_999_999;
pub(crate) const MICROS_PER_DAY: i128 = 86_400_000_000;

/// Why a value could not be decoded: bad CBOR, or CBOR of the wrong shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// The bytes are not valid CBOR (piwheels: "unable to deserialize data").
    Decode(DecodeError),
    /// Valid CBOR that does not fit the schema (piwheels: "invalid data for ...").
    Data(DataError),
}

impl WireError {
    /// Prefixes a path segment to a schema mismatch as it leaves a container.
    #[must_use]
    pub fn at(self, segment: impl std::fmt::Display) -> Self {
        match self {
            WireError::Data(e) => WireError::Data(e.at(segment)),
            other => other,
        }
    }
}

impl From<DecodeError> for WireError {
    fn from(e: DecodeError) -> Self {
        WireError::Decode(e)
    }
}

impl From<DataError> for WireError {
    fn from(e: DataError) -> Self {
        WireError::Data(e)
    }
}

/// A type with a fixed CBOR shape: how piwheels encodes it, and how it is validated.
pub trait Wire: Sized {
    /// Appends the encoding; fails only when the peer could not represent the value.
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), crate::error::EncodeError>;
    /// Decodes and validates one item.
    fn decode(dec: &mut Decoder<'_>) -> Result<Self, WireError>;
}

/// Appends CBOR items to a byte vector.
pub struct Encoder<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> Encoder<'a> {
    /// An encoder appending to `out`.
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        Encoder { out }
    }

    /// Writes one item header in its shortest form.
    pub fn header(&mut self, header: Header) {
        header::write(self.out, header);
    }

    /// Writes a text item.
    pub fn text(&mut self, s: &str) {
        self.header(Header::Text(Some(s.len())));
        self.out.extend_from_slice(s.as_bytes());
    }

    /// Writes a byte-string item.
    pub fn bytes(&mut self, b: &[u8]) {
        self.header(Header::Bytes(Some(b.len())));
        self.out.extend_from_slice(b);
    }

    /// Writes an integer (shortest form; bignum tags beyond 64 bits, as cbor2 does).
    pub fn int(&mut self, v: i128) {
        if v >= 0 {
            match u64::try_from(v) {
                Ok(u) => self.header(Header::Positive(u)),
                Err(_) => self.bignum(TAG_BIGNUM_POS, v as u128),
            }
        } else {
            let n = (-1 - v) as u128; // the CBOR negative argument
            match u64::try_from(n) {
                Ok(u) => self.header(Header::Negative(u)),
                Err(_) => self.bignum(TAG_BIGNUM_NEG, n),
            }
        }
    }

    fn bignum(&mut self, tag: u64, magnitude: u128) {
        let bytes = magnitude.to_be_bytes();
        let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
        self.header(Header::Tag(tag));
        self.bytes(&bytes[first..]);
    }

    /// Writes a float as cbor2 does: always a double, except NaN and infinities.
    pub fn float(&mut self, v: f64) {
        header::write_float(self.out, v);
    }

    /// Writes `true` or `false`.
    pub fn bool(&mut self, v: bool) {
        self.out.push(if v { 0xf5 } else { 0xf4 });
    }

    /// Writes `null`.
    pub fn null(&mut self) {
        self.out.push(0xf6);
    }

    /// Starts a definite-length array of `len` items.
    pub fn array(&mut self, len: usize) {
        self.header(Header::Array(Some(len)));
    }

    /// Starts a definite-length map of `len` pairs.
    pub fn map(&mut self, len: usize) {
        self.header(Header::Map(Some(len)));
    }

    /// Writes a tag; the tagged item follows.
    pub fn tag(&mut self, tag: u64) {
        self.header(Header::Tag(tag));
    }
}

/// Reads CBOR items from one frame, with the bookkeeping that keeps bad input harmless.
pub struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Where the last pulled header started, for [`Decoder::push`].
    last: usize,
    depth: usize,
}

impl<'a> Decoder<'a> {
    /// A decoder over one frame.
    pub fn new(frame: &'a [u8]) -> Self {
        Decoder {
            buf: frame,
            pos: 0,
            last: 0,
            depth: 0,
        }
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// A decode error at the current offset.
    pub fn error(&self, reason: impl Into<String>) -> WireError {
        WireError::Decode(DecodeError {
            offset: self.pos,
            reason: reason.into(),
        })
    }

    /// Reads the next item header.
    pub fn pull(&mut self) -> Result<Header, WireError> {
        let (h, next) = header::read(self.buf, self.pos)?;
        self.last = self.pos;
        self.pos = next;
        Ok(h)
    }

    /// Puts back the header just pulled, to be pulled again. Only valid straight after
    /// [`pull`](Self::pull) (the header is read again from the frame).
    pub fn push(&mut self, header: Header) {
        // Compared by kind: a NaN float header is not equal to itself.
        debug_assert_eq!(
            header::read(self.buf, self.last)
                .ok()
                .map(|(h, _)| std::mem::discriminant(&h)),
            Some(std::mem::discriminant(&header))
        );
        self.pos = self.last;
    }

    /// The next `len` bytes of the frame, or an error saying the frame is too short.
    pub(crate) fn raw(&mut self, len: usize, what: &str) -> Result<&'a [u8], WireError> {
        let left = self.remaining();
        if len > left {
            return Err(self.error(format!(
                "{what} of {len} bytes, but only {left} bytes remain"
            )));
        }
        let bytes = &self.buf[self.pos..self.pos + len];
        self.pos += len;
        Ok(bytes)
    }

    fn text_chunk(&mut self, len: usize) -> Result<String, WireError> {
        let start = self.offset();
        let raw = self.raw(len, "text")?;
        match std::str::from_utf8(raw) {
            Ok(s) => Ok(s.to_owned()),
            Err(e) => Err(WireError::Decode(DecodeError {
                offset: start + e.valid_up_to(),
                reason: "text is not valid UTF-8".into(),
            })),
        }
    }

    /// Reads the body of a text item whose header was `Text(len)`.
    pub fn text_body(&mut self, len: Option<usize>) -> Result<String, WireError> {
        match len {
            Some(len) => self.text_chunk(len),
            None => {
                let mut s = String::new();
                loop {
                    match self.pull()? {
                        Header::Break => return Ok(s),
                        Header::Text(Some(len)) => s.push_str(&self.text_chunk(len)?),
                        _ => return Err(self.error("indefinite text holds a non-text chunk")),
                    }
                }
            }
        }
    }

    /// Reads the body of a byte-string item whose header was `Bytes(len)`.
    pub fn bytes_body(&mut self, len: Option<usize>) -> Result<Vec<u8>, WireError> {
        match len {
            Some(len) => self.raw(len, "byte string").map(<[u8]>::to_vec),
            None => {
                let mut v = Vec::new();
                loop {
                    match self.pull()? {
                        Header::Break => return Ok(v),
                        Header::Bytes(Some(len)) => {
                            v.extend_from_slice(self.raw(len, "byte string")?)
                        }
                        _ => return Err(self.error("indefinite bytes hold a non-bytes chunk")),
                    }
                }
            }
        }
    }

    /// Reads a text item (definite or indefinite); anything else is a schema mismatch.
    pub fn text(&mut self) -> Result<String, WireError> {
        match self.pull()? {
            Header::Text(len) => self.text_body(len),
            other => Err(self.mismatch("str", other)),
        }
    }

    /// A schema mismatch: `expected` wanted, `found` seen (its description).
    pub fn mismatch(&mut self, expected: &str, found: Header) -> WireError {
        match found {
            Header::Break => self.error("unexpected break"),
            _ => WireError::Data(DataError::new(expected, describe(found))),
        }
    }

    /// Starts an array that must hold exactly `expected` items.
    pub fn exact_seq(&mut self, expected: usize) -> Result<Seq, WireError> {
        match self.pull()? {
            Header::Array(Some(n)) if n == expected => Ok(Seq {
                definite: true,
                expected,
                seen: 0,
            }),
            Header::Array(None) => Ok(Seq {
                definite: false,
                expected,
                seen: 0,
            }),
            Header::Array(Some(n)) => {
                Err(WireError::Data(DataError::new(items(expected), items(n))))
            }
            other => Err(self.mismatch(&items(expected), other)),
        }
    }

    /// Before each item of an [`exact_seq`](Self::exact_seq): checks it is there.
    pub fn seq_item(&mut self, seq: &mut Seq) -> Result<(), WireError> {
        if !seq.definite {
            match self.pull()? {
                Header::Break => {
                    return Err(WireError::Data(DataError::new(
                        items(seq.expected),
                        items(seq.seen),
                    )));
                }
                h => self.push(h),
            }
        }
        seq.seen += 1;
        Ok(())
    }

    /// After the last item of an [`exact_seq`](Self::exact_seq): checks nothing follows.
    pub fn seq_end(&mut self, seq: Seq) -> Result<(), WireError> {
        if !seq.definite {
            match self.pull()? {
                Header::Break => {}
                _ => {
                    return Err(WireError::Data(DataError::new(
                        items(seq.expected),
                        format!("more than {} items", seq.expected),
                    )));
                }
            }
        }
        Ok(())
    }

    /// Starts an array of any length: `Some(n)` for definite arrays, `None` for
    /// indefinite ones (call [`at_break`](Self::at_break) before each item).
    pub fn array(&mut self, expected: &str) -> Result<Option<usize>, WireError> {
        match self.pull()? {
            Header::Array(Some(n)) => {
                // Every item takes at least one byte; refuse lengths the frame cannot hold.
                let left = self.remaining();
                if n > left {
                    return Err(
                        self.error(format!("array of {n} items, but only {left} bytes remain"))
                    );
                }
                Ok(Some(n))
            }
            Header::Array(None) => Ok(None),
            other => Err(self.mismatch(expected, other)),
        }
    }

    /// Starts a map of any length, like [`array`](Self::array).
    pub fn map(&mut self, expected: &str) -> Result<Option<usize>, WireError> {
        match self.pull()? {
            Header::Map(Some(n)) => {
                let left = self.remaining();
                if n > left / 2 {
                    return Err(
                        self.error(format!("map of {n} pairs, but only {left} bytes remain"))
                    );
                }
                Ok(Some(n))
            }
            Header::Map(None) => Ok(None),
            other => Err(self.mismatch(expected, other)),
        }
    }

    /// In an indefinite container: consumes a break and returns true, or returns false.
    pub fn at_break(&mut self) -> Result<bool, WireError> {
        match self.pull()? {
            Header::Break => Ok(true),
            h => {
                self.push(h);
                Ok(false)
            }
        }
    }

    /// Whether a container of `len` items (`None`: indefinite) holds more after `seen`;
    /// consumes the closing break of an indefinite one.
    pub fn more(&mut self, len: Option<usize>, seen: usize) -> Result<bool, WireError> {
        match len {
            Some(n) => Ok(seen < n),
            None => Ok(!self.at_break()?),
        }
    }

    /// Peeks whether the next item is `null` (consuming it if so).
    pub fn null_next(&mut self) -> Result<bool, WireError> {
        match self.pull()? {
            Header::Simple(simple::NULL) => Ok(true),
            h => {
                self.push(h);
                Ok(false)
            }
        }
    }

    pub(crate) fn enter(&mut self) -> Result<(), WireError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(format!("items nested more than {MAX_DEPTH} deep")));
        }
        self.depth += 1;
        Ok(())
    }

    pub(crate) fn leave(&mut self) {
        self.depth -= 1;
    }
}
/// Progress through an exact-length array (see [`Decoder::exact_seq`]).
#[derive(Debug)]
pub struct Seq {
    definite: bool,
    expected: usize,
    seen: usize,
}

pub(crate) fn items(n: usize) -> String {
    if n == 1 {
        "sequence of 1 item".into()
    } else {
        format!("sequence of {n} items")
    }
}

/// What a header announces, in the words of piwheels' schema errors.
pub fn describe(h: Header) -> String {
    match h {
        Header::Positive(_) | Header::Negative(_) => "int".into(),
        Header::Float(_) => "float".into(),
        Header::Simple(simple::FALSE | simple::TRUE) => "bool".into(),
        Header::Simple(simple::NULL) => "None".into(),
        Header::Simple(simple::UNDEFINED) => "undefined".into(),
        Header::Simple(n) => format!("simple value {n}"),
        Header::Tag(TAG_DATETIME | TAG_EPOCH) => "datetime".into(),
        Header::Tag(TAG_BIGNUM_POS | TAG_BIGNUM_NEG) => "int".into(),
        Header::Tag(TAG_TIMEDELTA) => "timedelta".into(),
        Header::Tag(TAG_NODATA) => "NoData".into(),
        Header::Tag(TAG_SET) => "set".into(),
        Header::Tag(t) => format!("tag {t}"),
        Header::Break => "break".into(),
        Header::Bytes(_) => "bytes".into(),
        Header::Text(_) => "str".into(),
        Header::Array(Some(n)) => items(n),
        Header::Array(None) => "sequence".into(),
        Header::Map(_) => "map".into(),
    }
}
