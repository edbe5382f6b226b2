//! The CBOR codec with piwheels' encodings (spec §2.2), on `ciborium-ll`'s headers.
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

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Timelike, Utc};
use ciborium_ll::{Header, simple};
use indexmap::IndexMap;

use crate::error::{DataError, DecodeError};

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
const MAX_DAYS: i128 = 999_999_999;
const MICROS_PER_DAY: i128 = 86_400_000_000;

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
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), String>;
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
        // Writing into a Vec cannot fail.
        let _ = ciborium_ll::Encoder::from(&mut *self.out).push(header);
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
        if v.is_nan() {
            self.out.extend_from_slice(&[0xf9, 0x7e, 0x00]);
        } else if v.is_infinite() {
            let sign = if v > 0.0 { 0x7c } else { 0xfc };
            self.out.extend_from_slice(&[0xf9, sign, 0x00]);
        } else {
            self.out.push(0xfb);
            self.out.extend_from_slice(&v.to_be_bytes());
        }
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
    inner: ciborium_ll::Decoder<&'a [u8]>,
    len: usize,
    depth: usize,
}

impl<'a> Decoder<'a> {
    /// A decoder over one frame.
    pub fn new(frame: &'a [u8]) -> Self {
        Decoder { inner: ciborium_ll::Decoder::from(frame), len: frame.len(), depth: 0 }
    }

    /// Bytes consumed so far.
    pub fn offset(&mut self) -> usize {
        self.inner.offset()
    }

    /// Bytes not yet consumed.
    pub fn remaining(&mut self) -> usize {
        self.len - self.inner.offset()
    }

    /// A decode error at the current offset.
    pub fn error(&mut self, reason: impl Into<String>) -> WireError {
        WireError::Decode(DecodeError { offset: self.offset(), reason: reason.into() })
    }

    /// Reads the next item header.
    pub fn pull(&mut self) -> Result<Header, WireError> {
        let offset = self.offset();
        match self.inner.pull() {
            Ok(h) => Ok(h),
            Err(ciborium_ll::Error::Syntax(at)) => Err(WireError::Decode(DecodeError {
                offset: at,
                reason: "invalid item header".into(),
            })),
            Err(ciborium_ll::Error::Io(_)) => Err(WireError::Decode(DecodeError {
                offset,
                reason: "data ends in the middle of an item".into(),
            })),
        }
    }

    /// Puts one header back, to be pulled again.
    pub fn push(&mut self, header: Header) {
        self.inner.push(header);
    }

    fn raw(&mut self, len: usize, what: &str) -> Result<Vec<u8>, WireError> {
        let left = self.remaining();
        if len > left {
            return Err(self.error(format!("{what} of {len} bytes, but only {left} bytes remain")));
        }
        let mut buf = vec![0; len];
        let _ = ciborium_io::Read::read_exact(&mut self.inner, &mut buf);
        Ok(buf)
    }

    fn text_chunk(&mut self, len: usize) -> Result<String, WireError> {
        let start = self.offset();
        let raw = self.raw(len, "text")?;
        String::from_utf8(raw).map_err(|e| {
            WireError::Decode(DecodeError {
                offset: start + e.utf8_error().valid_up_to(),
                reason: "text is not valid UTF-8".into(),
            })
        })
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
            Some(len) => self.raw(len, "byte string"),
            None => {
                let mut v = Vec::new();
                loop {
                    match self.pull()? {
                        Header::Break => return Ok(v),
                        Header::Bytes(Some(len)) => v.extend(self.raw(len, "byte string")?),
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
            Header::Array(Some(n)) if n == expected => Ok(Seq { definite: true, expected, seen: 0 }),
            Header::Array(None) => Ok(Seq { definite: false, expected, seen: 0 }),
            Header::Array(Some(n)) => Err(WireError::Data(DataError::new(
                items(expected),
                items(n),
            ))),
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
                    return Err(self.error(format!("array of {n} items, but only {left} bytes remain")));
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
                    return Err(self.error(format!("map of {n} pairs, but only {left} bytes remain")));
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

    fn enter(&mut self) -> Result<(), WireError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(format!("items nested more than {MAX_DEPTH} deep")));
        }
        self.depth += 1;
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Reads an integer from the header already pulled (major 0/1, or a bignum tag).
    fn int_from(&mut self, h: Header) -> Result<Option<i128>, WireError> {
        Ok(match h {
            Header::Positive(u) => Some(i128::from(u)),
            Header::Negative(n) => Some(-1 - i128::from(n)),
            Header::Tag(tag @ (TAG_BIGNUM_POS | TAG_BIGNUM_NEG)) => {
                let bytes = match self.pull()? {
                    Header::Bytes(len) => self.bytes_body(len)?,
                    _ => return Err(self.error("bignum tag over a non-bytes item")),
                };
                let digits = bytes.iter().skip_while(|&&b| b == 0).count();
                if digits > 15 {
                    // Beyond i128 (and beyond any field piwheels has): out of range.
                    return Err(WireError::Data(DataError::new("int", "int out of range")));
                }
                let magnitude = bytes.iter().fold(0i128, |acc, &b| (acc << 8) | i128::from(b));
                Some(if tag == TAG_BIGNUM_POS { magnitude } else { -1 - magnitude })
            }
            _ => None,
        })
    }

    /// Reads the item after a tag-2001 header as a timedelta.
    fn timedelta_body(&mut self) -> Result<TimeDelta, WireError> {
        let start = self.offset();
        let bad = |reason: &str| {
            WireError::Decode(DecodeError { offset: start, reason: format!("timedelta {reason}") })
        };
        let mut parts = [0i128; 3];
        let n = match self.pull()? {
            Header::Array(Some(n)) => Some(n),
            Header::Array(None) => None,
            _ => return Err(bad("tag over a non-array item")),
        };
        for (i, part) in parts.iter_mut().enumerate() {
            if n.is_none() && self.at_break()? || n.is_some_and(|n| n <= i) {
                return Err(bad("needs [days, seconds, microseconds]"));
            }
            let h = self.pull()?;
            *part = self.int_from(h)?.ok_or_else(|| bad("holds a non-integer"))?;
        }
        if n.is_some_and(|n| n != 3) || n.is_none() && !self.at_break()? {
            return Err(bad("needs [days, seconds, microseconds]"));
        }
        let total = parts[0]
            .checked_mul(MICROS_PER_DAY)
            .and_then(|d| parts[1].checked_mul(1_000_000).and_then(|s| d.checked_add(s)))
            .and_then(|t| t.checked_add(parts[2]))
            .ok_or_else(|| bad("out of range"))?;
        timedelta_from_micros(total).ok_or_else(|| bad("out of Python's range"))
    }

    /// Reads the item after a tag-0 or tag-1 header as a datetime.
    fn datetime_body(&mut self, tag: u64) -> Result<DateTime<Utc>, WireError> {
        let start = self.offset();
        let bad = |reason: String| WireError::Decode(DecodeError { offset: start, reason });
        if tag == TAG_DATETIME {
            let s = match self.pull()? {
                Header::Text(len) => self.text_body(len)?,
                _ => return Err(bad("datetime tag 0 over a non-text item".into())),
            };
            parse_datetime(&s).map_err(|why| bad(format!("invalid datetime string {s:?}: {why}")))
        } else {
            let h = self.pull()?;
            let micros = match h {
                Header::Float(f) if f.is_finite() => (f * 1e6).round_ties_even() as i128,
                Header::Float(_) => return Err(bad("epoch datetime is not finite".into())),
                h => match self.int_from(h)? {
                    Some(secs) => secs.saturating_mul(1_000_000),
                    None => return Err(bad("epoch datetime tag 1 over a non-number".into())),
                },
            };
            datetime_from_micros(micros).ok_or_else(|| bad("epoch datetime out of range".into()))
        }
    }

    /// Reads any item as a [`Value`] (used for piwheels' "anything goes" fields).
    pub fn value(&mut self) -> Result<Value, WireError> {
        let h = self.pull()?;
        self.value_from(h)
    }

    fn value_from(&mut self, h: Header) -> Result<Value, WireError> {
        Ok(match h {
            Header::Positive(_) | Header::Negative(_) => {
                Value::Int(self.int_from(h)?.unwrap_or_default())
            }
            Header::Float(f) => Value::Float(f),
            Header::Simple(simple::FALSE) => Value::Bool(false),
            Header::Simple(simple::TRUE) => Value::Bool(true),
            Header::Simple(simple::NULL) => Value::Null,
            Header::Simple(n) => Value::Simple(n),
            Header::Text(len) => Value::Text(self.text_body(len)?),
            Header::Bytes(len) => Value::Bytes(self.bytes_body(len)?),
            Header::Break => return Err(self.error("unexpected break")),
            Header::Array(_) | Header::Map(_) | Header::Tag(_) => {
                self.enter()?;
                let v = self.nested_value(h);
                self.leave();
                v?
            }
        })
    }

    fn nested_value(&mut self, h: Header) -> Result<Value, WireError> {
        Ok(match h {
            Header::Array(len) => Value::Array(self.value_items(len)?),
            Header::Map(len) => {
                let mut pairs = Vec::new();
                self.push(Header::Map(len));
                let n = self.map("map")?;
                let mut i = 0;
                while self.more(n, i)? {
                    let k = self.value()?;
                    let v = self.value()?;
                    pairs.push((k, v));
                    i += 1;
                }
                Value::Map(pairs)
            }
            Header::Tag(t @ (TAG_BIGNUM_POS | TAG_BIGNUM_NEG)) => {
                let bytes = match self.pull()? {
                    Header::Bytes(len) => self.bytes_body(len)?,
                    _ => return Err(self.error("bignum tag over a non-bytes item")),
                };
                let digits: Vec<u8> = bytes.iter().copied().skip_while(|&b| b == 0).collect();
                if digits.len() <= 15 {
                    let m = digits.iter().fold(0i128, |acc, &b| (acc << 8) | i128::from(b));
                    Value::Int(if t == TAG_BIGNUM_POS { m } else { -1 - m })
                } else {
                    Value::Tag(t, Box::new(Value::Bytes(bytes)))
                }
            }
            Header::Tag(t @ (TAG_DATETIME | TAG_EPOCH)) => Value::DateTime(self.datetime_body(t)?),
            Header::Tag(TAG_TIMEDELTA) => Value::TimeDelta(self.timedelta_body()?),
            Header::Tag(TAG_NODATA) => {
                self.value()?;
                Value::NoData
            }
            Header::Tag(TAG_SET) => match self.pull()? {
                Header::Array(len) => Value::Set(self.value_items(len)?),
                _ => return Err(self.error("set tag 258 over a non-array item")),
            },
            Header::Tag(t) => Value::Tag(t, Box::new(self.value()?)),
            _ => unreachable!("value_from only passes containers and tags"),
        })
    }

    fn value_items(&mut self, len: Option<usize>) -> Result<Vec<Value>, WireError> {
        self.push(Header::Array(len));
        let n = self.array("array")?;
        let mut items = Vec::with_capacity(n.unwrap_or(0));
        while self.more(n, items.len())? {
            items.push(self.value()?);
        }
        Ok(items)
    }
}

/// Progress through an exact-length array (see [`Decoder::exact_seq`]).
#[derive(Debug)]
pub struct Seq {
    definite: bool,
    expected: usize,
    seen: usize,
}

fn items(n: usize) -> String {
    if n == 1 { "sequence of 1 item".into() } else { format!("sequence of {n} items") }
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

/// Any CBOR item as piwheels' Python would see it after decoding.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `None`.
    Null,
    /// `True` / `False`.
    Bool(bool),
    /// An integer (bignums that fit included).
    Int(i128),
    /// A float.
    Float(f64),
    /// Text.
    Text(String),
    /// Bytes.
    Bytes(Vec<u8>),
    /// A list.
    Array(Vec<Value>),
    /// A dict, in wire order.
    Map(Vec<(Value, Value)>),
    /// A UTC datetime (tag 0 or 1).
    DateTime(DateTime<Utc>),
    /// A timedelta (tag 2001).
    TimeDelta(TimeDelta),
    /// piwheels' `NoData` sentinel (tag 2002).
    NoData,
    /// A set (tag 258).
    Set(Vec<Value>),
    /// A simple value other than true, false and null (e.g. 23, undefined).
    Simple(u8),
    /// Any other tag, kept as it came (cbor2's raw `CBORTag`).
    Tag(u64, Box<Value>),
}

impl Wire for Value {
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), String> {
        match self {
            Value::Null => enc.null(),
            Value::Bool(b) => enc.bool(*b),
            Value::Int(i) => enc.int(*i),
            Value::Float(f) => enc.float(*f),
            Value::Text(s) => enc.text(s),
            Value::Bytes(b) => enc.bytes(b),
            Value::Array(items) => {
                enc.array(items.len());
                for v in items {
                    v.encode(enc)?;
                }
            }
            Value::Map(pairs) => {
                enc.map(pairs.len());
                for (k, v) in pairs {
                    k.encode(enc)?;
                    v.encode(enc)?;
                }
            }
            Value::DateTime(d) => d.encode(enc)?,
            Value::TimeDelta(t) => t.encode(enc)?,
            Value::NoData => NoData.encode(enc)?,
            Value::Set(items) => {
                enc.tag(TAG_SET);
                Value::Array(items.clone()).encode(enc)?;
            }
            Value::Simple(n) => enc.header(Header::Simple(*n)),
            Value::Tag(t, v) => {
                enc.tag(*t);
                v.encode(enc)?;
            }
        }
        Ok(())
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, WireError> {
        dec.value()
    }
}

/// piwheels' `NoData` sentinel: tag 2002 over `null`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NoData;

impl Wire for NoData {
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), String> {
        enc.tag(TAG_NODATA);
        enc.null();
        Ok(())
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, WireError> {
        match dec.pull()? {
            Header::Tag(TAG_NODATA) => {
                dec.value()?;
                Ok(NoData)
            }
            other => Err(dec.mismatch("NoData", other)),
        }
    }
}

impl Wire for String {
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), String> {
        enc.text(self);
        Ok(())
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, WireError> {
        dec.text()
    }
}

/// Integers. Like piwheels (Python's `isinstance(x, int)`), `true`/`false` pass as 1/0.
impl Wire for i64 {
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), String> {
        enc.int(i128::from(*self));
        Ok(())
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, WireError> {
        let h = dec.pull()?;
        match h {
            Header::Simple(simple::FALSE) => return Ok(0),
            Header::Simple(simple::TRUE) => return Ok(1),
            _ => {}
        }
        match dec.int_from(h)? {
            Some(v) => i64::try_from(v)
                .map_err(|_| WireError::Data(DataError::new("int", "int out of range"))),
            None => Err(dec.mismatch("int", h)),
        }
    }
}

/// Floats: half, single and double precision are accepted; an integer is not.
impl Wire for f64 {
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), String> {
        enc.float(*self);
        Ok(())
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, WireError> {
        match dec.pull()? {
            Header::Float(f) => Ok(f),
            other => Err(dec.mismatch("float", other)),
        }
    }
}

/// Booleans: an integer is not accepted.
impl Wire for bool {
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), String> {
        enc.bool(*self);
        Ok(())
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, WireError> {
        match dec.pull()? {
            Header::Simple(simple::FALSE) => Ok(false),
            Header::Simple(simple::TRUE) => Ok(true),
            other => Err(dec.mismatch("bool", other)),
        }
    }
}

/// `Any(T, None)`: `null` or a `T`.
impl<T: Wire> Wire for Option<T> {
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), String> {
        match self {
            Some(v) => v.encode(enc),
            None => {
                enc.null();
                Ok(())
            }
        }
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, WireError> {
        if dec.null_next()? { Ok(None) } else { T::decode(dec).map(Some) }
    }
}

/// `[T]`: a list of any length.
impl<T: Wire> Wire for Vec<T> {
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), String> {
        enc.array(self.len());
        for (i, v) in self.iter().enumerate() {
            v.encode(enc).map_err(|e| format!("[{i}]: {e}"))?;
        }
        Ok(())
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, WireError> {
        let n = dec.array("list")?;
        let mut out = Vec::with_capacity(n.unwrap_or(0));
        while dec.more(n, out.len())? {
            let i = out.len();
            out.push(T::decode(dec).map_err(|e| e.at(format_args!("[{i}]")))?);
        }
        Ok(out)
    }
}

/// `{str: T}`: a map with text keys, kept in wire order.
impl<T: Wire> Wire for IndexMap<String, T> {
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), String> {
        enc.map(self.len());
        for (k, v) in self {
            enc.text(k);
            v.encode(enc).map_err(|e| format!("[{k:?}]: {e}"))?;
        }
        Ok(())
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, WireError> {
        let n = dec.map("map")?;
        let mut out = IndexMap::with_capacity(n.unwrap_or(0));
        let mut i = 0;
        while dec.more(n, i)? {
            let key = dec.text().map_err(|e| e.at("(key)"))?;
            let v = T::decode(dec).map_err(|e| e.at(format_args!("[{key:?}]")))?;
            out.insert(key, v);
            i += 1;
        }
        Ok(out)
    }
}

/// Datetimes: tag 0 `…Z` text on the wire, microsecond precision (finer is truncated).
impl Wire for DateTime<Utc> {
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), String> {
        let year = self.year();
        if !(1..=9999).contains(&year) {
            return Err(format!("datetime {self} is outside years 1-9999"));
        }
        let micros = self.nanosecond() % 1_000_000_000 / 1000;
        let text = if micros == 0 {
            format!(
                "{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                self.month(),
                self.day(),
                self.hour(),
                self.minute(),
                self.second()
            )
        } else {
            format!(
                "{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{micros:06}Z",
                self.month(),
                self.day(),
                self.hour(),
                self.minute(),
                self.second()
            )
        };
        enc.tag(TAG_DATETIME);
        enc.text(&text);
        Ok(())
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, WireError> {
        match dec.pull()? {
            Header::Tag(t @ (TAG_DATETIME | TAG_EPOCH)) => dec.datetime_body(t),
            other => Err(dec.mismatch("datetime", other)),
        }
    }
}

/// Timedeltas: tag 2001 `[days, seconds, microseconds]`, Python-normalised.
impl Wire for TimeDelta {
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), String> {
        let total = i128::from(self.num_seconds()) * 1_000_000
            + i128::from(self.subsec_nanos() / 1000);
        let days = total.div_euclid(MICROS_PER_DAY);
        if days.abs() > MAX_DAYS {
            return Err(format!("timedelta of {days} days is beyond Python's ±999999999"));
        }
        let rem = total.rem_euclid(MICROS_PER_DAY);
        enc.tag(TAG_TIMEDELTA);
        enc.array(3);
        enc.int(days);
        enc.int(rem / 1_000_000);
        enc.int(rem % 1_000_000);
        Ok(())
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, WireError> {
        match dec.pull()? {
            Header::Tag(TAG_TIMEDELTA) => dec.timedelta_body(),
            other => Err(dec.mismatch("timedelta", other)),
        }
    }
}

/// A timedelta of `micros` microseconds, if Python could hold it.
pub fn timedelta_from_micros(micros: i128) -> Option<TimeDelta> {
    if micros.div_euclid(MICROS_PER_DAY).abs() > MAX_DAYS {
        return None;
    }
    let secs = i64::try_from(micros.div_euclid(1_000_000)).ok()?;
    let nanos = u32::try_from(micros.rem_euclid(1_000_000) * 1000).ok()?;
    TimeDelta::new(secs, nanos)
}

fn datetime_from_micros(micros: i128) -> Option<DateTime<Utc>> {
    let d = DateTime::from_timestamp_micros(i64::try_from(micros).ok()?)?;
    (1..=9999).contains(&d.year()).then_some(d)
}

/// Parses cbor2's tag-0 form: `YYYY-MM-DDTHH:MM:SS[.f…]` then `Z` or `±HH:MM`.
///
/// As cbor2 5.x: the `T` and the seconds are required, a fraction may have any number of
/// digits (the first six are kept), and the time is converted to UTC.
pub fn parse_datetime(s: &str) -> Result<DateTime<Utc>, &'static str> {
    let b = s.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Result<u32, &'static str> {
        let digits = b.get(range).ok_or("too short")?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err("expected digits");
        }
        Ok(digits.iter().fold(0, |acc, d| acc * 10 + u32::from(d - b'0')))
    };
    let sep = |i: usize, c: u8, what: &'static str| {
        if b.get(i) == Some(&c) { Ok(()) } else { Err(what) }
    };
    let year = num(0..4)?;
    sep(4, b'-', "expected '-' after the year")?;
    let month = num(5..7)?;
    sep(7, b'-', "expected '-' after the month")?;
    let day = num(8..10)?;
    sep(10, b'T', "expected 'T' between date and time")?;
    let hour = num(11..13)?;
    sep(13, b':', "expected ':' after the hour")?;
    let minute = num(14..16)?;
    sep(16, b':', "expected ':' after the minutes")?;
    let second = num(17..19)?;
    let mut i = 19;
    let mut micros = 0;
    if b.get(i) == Some(&b'.') {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return Err("expected digits after '.'");
        }
        for k in 0..6 {
            let d = if k < digits { u32::from(b[i + 1 + k] - b'0') } else { 0 };
            micros = micros * 10 + d;
        }
        i += 1 + digits;
    }
    let offset_secs: i64 = match b.get(i) {
        Some(b'Z') if b.len() == i + 1 => 0,
        Some(&c @ (b'+' | b'-')) if b.len() == i + 6 && b[i + 3] == b':' => {
            let h = num(i + 1..i + 3)?;
            let m = num(i + 4..i + 6)?;
            if h > 23 || m > 59 {
                return Err("offset out of range");
            }
            let secs = i64::from(h * 3600 + m * 60);
            if c == b'-' { -secs } else { secs }
        }
        _ => return Err("expected 'Z' or '±HH:MM' at the end"),
    };
    let date = NaiveDate::from_ymd_opt(year as i32, month, day).ok_or("no such date")?;
    if year == 0 {
        return Err("year 0 does not exist");
    }
    let time = chrono::NaiveTime::from_hms_micro_opt(hour, minute, second, micros)
        .filter(|_| second < 60)
        .ok_or("no such time")?;
    let local = date.and_time(time).and_utc();
    let utc = local - TimeDelta::seconds(offset_secs);
    if !(1..=9999).contains(&utc.year()) {
        return Err("out of range once converted to UTC");
    }
    Ok(utc)
}
