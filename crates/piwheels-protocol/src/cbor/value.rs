//! [`Value`]: any CBOR item, for piwheels' "anything goes" fields; and the `NoData` sentinel.

use super::{Header, simple};

use super::{
    Decoder, Encoder, TAG_BIGNUM_NEG, TAG_BIGNUM_POS, TAG_DATETIME, TAG_EPOCH, TAG_NODATA, TAG_SET,
    TAG_TIMEDELTA, Wire, WireError,
};
use chrono::{DateTime, TimeDelta, Utc};

impl Decoder<'_> {
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
                    let m = digits
                        .iter()
                        .fold(0i128, |acc, &b| (acc << 8) | i128::from(b));
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
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), crate::error::EncodeError> {
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
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), crate::error::EncodeError> {
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
