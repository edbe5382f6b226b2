//! How piwheels encodes text, integers, floats, booleans, optional values, lists, maps,
//! datetimes and timedeltas.

use super::{Header, simple};
use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Timelike, Utc};
use indexmap::IndexMap;

use super::{
    Decoder, Encoder, MAX_DAYS, MICROS_PER_DAY, TAG_BIGNUM_NEG, TAG_BIGNUM_POS, TAG_DATETIME,
    TAG_EPOCH, TAG_TIMEDELTA, Wire, WireError,
};
use crate::error::{DataError, DecodeError};

impl Decoder<'_> {
    /// Reads an integer from the header already pulled (major 0/1, or a bignum tag).
    pub(crate) fn int_from(&mut self, h: Header) -> Result<Option<i128>, WireError> {
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
                let magnitude = bytes
                    .iter()
                    .fold(0i128, |acc, &b| (acc << 8) | i128::from(b));
                Some(if tag == TAG_BIGNUM_POS {
                    magnitude
                } else {
                    -1 - magnitude
                })
            }
            _ => None,
        })
    }

    /// Reads the item after a tag-2001 header as a timedelta.
    pub(crate) fn timedelta_body(&mut self) -> Result<TimeDelta, WireError> {
        let start = self.offset();
        let bad = |reason: &str| {
            WireError::Decode(DecodeError {
                offset: start,
                reason: format!("timedelta {reason}"),
            })
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
            *part = self
                .int_from(h)?
                .ok_or_else(|| bad("holds a non-integer"))?;
        }
        if n.is_some_and(|n| n != 3) || n.is_none() && !self.at_break()? {
            return Err(bad("needs [days, seconds, microseconds]"));
        }
        let total = parts[0]
            .checked_mul(MICROS_PER_DAY)
            .and_then(|d| {
                parts[1]
                    .checked_mul(1_000_000)
                    .and_then(|s| d.checked_add(s))
            })
            .and_then(|t| t.checked_add(parts[2]))
            .ok_or_else(|| bad("out of range"))?;
        timedelta_from_micros(total).ok_or_else(|| bad("out of Python's range"))
    }

    /// Reads the item after a tag-0 or tag-1 header as a datetime.
    pub(crate) fn datetime_body(&mut self, tag: u64) -> Result<DateTime<Utc>, WireError> {
        let start = self.offset();
        let bad = |reason: String| {
            WireError::Decode(DecodeError {
                offset: start,
                reason,
            })
        };
        if tag == TAG_DATETIME {
            let s = match self.pull()? {
                Header::Text(len) => self.text_body(len)?,
                _ => return Err(bad("datetime tag 0 over a non-text item".into())),
            };
            parse_datetime(&s).map_err(|why| {
                bad(format!(
                    "invalid datetime string {}: {why}",
                    crate::quote::Quoted::str(&s)
                ))
            })
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
}

impl Wire for String {
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), crate::error::EncodeError> {
        enc.text(self);
        Ok(())
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, WireError> {
        dec.text()
    }
}

/// Integers. Like piwheels (Python's `isinstance(x, int)`), `true`/`false` pass as 1/0.
impl Wire for i64 {
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), crate::error::EncodeError> {
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
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), crate::error::EncodeError> {
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
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), crate::error::EncodeError> {
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
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), crate::error::EncodeError> {
        match self {
            Some(v) => v.encode(enc),
            None => {
                enc.null();
                Ok(())
            }
        }
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, WireError> {
        if dec.null_next()? {
            Ok(None)
        } else {
            T::decode(dec).map(Some)
        }
    }
}

/// `[T]`: a list of any length.
impl<T: Wire> Wire for Vec<T> {
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), crate::error::EncodeError> {
        enc.array(self.len());
        for (i, v) in self.iter().enumerate() {
            v.encode(enc).map_err(|e| e.within(format!("[{i}]")))?;
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
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), crate::error::EncodeError> {
        enc.map(self.len());
        for (k, v) in self {
            enc.text(k);
            v.encode(enc)
                .map_err(|e| e.within(format!("[{}]", crate::quote::Quoted::str(k))))?;
        }
        Ok(())
    }

    fn decode(dec: &mut Decoder<'_>) -> Result<Self, WireError> {
        let n = dec.map("map")?;
        let mut out = IndexMap::with_capacity(n.unwrap_or(0));
        let mut i = 0;
        while dec.more(n, i)? {
            let key = dec.text().map_err(|e| e.at("(key)"))?;
            let v = T::decode(dec)
                .map_err(|e| e.at(format_args!("[{}]", crate::quote::Quoted::str(&key))))?;
            out.insert(key, v);
            i += 1;
        }
        Ok(out)
    }
}

/// Datetimes: tag 0 `…Z` text on the wire, microsecond precision (finer is truncated).
impl Wire for DateTime<Utc> {
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), crate::error::EncodeError> {
        let year = self.year();
        if !(1..=9999).contains(&year) {
            return Err(crate::error::Unrepresentable::Datetime(*self).into());
        }
        let micros = self.nanosecond() % 1_000_000_000 / 1000;
        // YYYY-MM-DDTHH:MM:SS[.ffffff]Z, written digit by digit (no formatter).
        let mut text = [0u8; 27];
        let mut put = |at: usize, width: usize, mut v: u32| {
            for i in (at..at + width).rev() {
                text[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, 4, year as u32);
        put(5, 2, self.month());
        put(8, 2, self.day());
        put(11, 2, self.hour());
        put(14, 2, self.minute());
        put(17, 2, self.second());
        let len = if micros == 0 {
            20
        } else {
            put(20, 6, micros);
            27
        };
        for (i, c) in [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')] {
            text[i] = c;
        }
        if micros != 0 {
            text[19] = b'.';
        }
        text[len - 1] = b'Z';
        enc.tag(TAG_DATETIME);
        // Only ASCII digits and separators were written.
        enc.text(std::str::from_utf8(&text[..len]).unwrap_or_default());
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
    fn encode(&self, enc: &mut Encoder<'_>) -> Result<(), crate::error::EncodeError> {
        let total =
            i128::from(self.num_seconds()) * 1_000_000 + i128::from(self.subsec_nanos() / 1000);
        let days = total.div_euclid(MICROS_PER_DAY);
        if days.abs() > MAX_DAYS {
            return Err(crate::error::Unrepresentable::Timedelta(days).into());
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
        Ok(digits
            .iter()
            .fold(0, |acc, d| acc * 10 + u32::from(d - b'0')))
    };
    let sep = |i: usize, c: u8, what: &'static str| {
        if b.get(i) == Some(&c) {
            Ok(())
        } else {
            Err(what)
        }
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
            let d = if k < digits {
                u32::from(b[i + 1 + k] - b'0')
            } else {
                0
            };
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
    let utc = if offset_secs == 0 {
        local
    } else {
        local - TimeDelta::seconds(offset_secs)
    };
    if !(1..=9999).contains(&utc.year()) {
        return Err("out of range once converted to UTC");
    }
    Ok(utc)
}
