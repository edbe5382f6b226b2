//! CBOR item headers (RFC 8949 §3): the initial byte and its argument, read straight from
//! the frame and written in their shortest form.

use crate::error::DecodeError;

/// The simple values piwheels uses.
pub mod simple {
    /// `false`.
    pub const FALSE: u8 = 20;
    /// `true`.
    pub const TRUE: u8 = 21;
    /// `null` (Python's `None`).
    pub const NULL: u8 = 22;
    /// `undefined`.
    pub const UNDEFINED: u8 = 23;
}

/// One item header: what kind of item follows and its argument.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Header {
    /// An unsigned integer (major type 0).
    Positive(u64),
    /// A negative integer `-1 - n` (major type 1).
    Negative(u64),
    /// A float of any precision, widened to `f64`.
    Float(f64),
    /// A simple value (`false`, `true`, `null`, ...).
    Simple(u8),
    /// A tag; the tagged item follows.
    Tag(u64),
    /// The end of an indefinite-length item.
    Break,
    /// A byte string of this many bytes (`None`: indefinite, in chunks).
    Bytes(Option<usize>),
    /// A text string of this many bytes (`None`: indefinite, in chunks).
    Text(Option<usize>),
    /// An array of this many items (`None`: indefinite, up to a break).
    Array(Option<usize>),
    /// A map of this many pairs (`None`: indefinite, up to a break).
    Map(Option<usize>),
}

/// Reads the header at `pos`; returns it and the position after it.
pub(crate) fn read(buf: &[u8], pos: usize) -> Result<(Header, usize), DecodeError> {
    let truncated = || DecodeError {
        offset: pos,
        reason: "data ends in the middle of an item".into(),
    };
    let invalid = || DecodeError {
        offset: pos,
        reason: "invalid item header".into(),
    };
    let &initial = buf.get(pos).ok_or_else(truncated)?;
    let (major, minor) = (initial >> 5, initial & 0x1f);
    let width = match minor {
        0..=23 => 0,
        24 => 1,
        25 => 2,
        26 => 4,
        27 => 8,
        31 => 0,
        _ => return Err(invalid()),
    };
    let bytes = buf.get(pos + 1..pos + 1 + width).ok_or_else(truncated)?;
    let arg = match minor {
        0..=23 => u64::from(minor),
        _ => bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
    };
    let indefinite = minor == 31;
    // Lengths beyond the address space cannot fit in the frame anyway.
    let len = || usize::try_from(arg).unwrap_or(usize::MAX);
    let header = match major {
        0 if !indefinite => Header::Positive(arg),
        1 if !indefinite => Header::Negative(arg),
        2 => Header::Bytes((!indefinite).then(len)),
        3 => Header::Text((!indefinite).then(len)),
        4 => Header::Array((!indefinite).then(len)),
        5 => Header::Map((!indefinite).then(len)),
        6 if !indefinite => Header::Tag(arg),
        7 => match minor {
            0..=24 => Header::Simple(arg as u8),
            25 => Header::Float(half_to_f64(arg as u16)),
            26 => Header::Float(f64::from(f32::from_bits(arg as u32))),
            27 => Header::Float(f64::from_bits(arg)),
            _ => Header::Break,
        },
        _ => return Err(invalid()),
    };
    Ok((header, pos + 1 + width))
}

/// Writes `header` in its shortest form. Floats are written as cbor2 writes them (see
/// [`Encoder::float`](super::Encoder::float)).
pub(crate) fn write(out: &mut Vec<u8>, header: Header) {
    let head = |out: &mut Vec<u8>, major: u8, arg: u64| {
        let major = major << 5;
        if arg < 24 {
            out.push(major | arg as u8);
        } else if let Ok(b) = u8::try_from(arg) {
            out.extend_from_slice(&[major | 24, b]);
        } else if let Ok(h) = u16::try_from(arg) {
            out.push(major | 25);
            out.extend_from_slice(&h.to_be_bytes());
        } else if let Ok(w) = u32::try_from(arg) {
            out.push(major | 26);
            out.extend_from_slice(&w.to_be_bytes());
        } else {
            out.push(major | 27);
            out.extend_from_slice(&arg.to_be_bytes());
        }
    };
    let len = |n: Option<usize>| n.map(|n| n as u64);
    match header {
        Header::Positive(v) => head(out, 0, v),
        Header::Negative(v) => head(out, 1, v),
        Header::Bytes(n) => sized(out, 2, len(n), head),
        Header::Text(n) => sized(out, 3, len(n), head),
        Header::Array(n) => sized(out, 4, len(n), head),
        Header::Map(n) => sized(out, 5, len(n), head),
        Header::Tag(t) => head(out, 6, t),
        Header::Simple(v) if v < 24 => out.push(0xe0 | v),
        Header::Simple(v) => out.extend_from_slice(&[0xf8, v]),
        Header::Float(f) => write_float(out, f),
        Header::Break => out.push(0xff),
    }
}

fn sized(out: &mut Vec<u8>, major: u8, n: Option<u64>, head: impl Fn(&mut Vec<u8>, u8, u64)) {
    match n {
        Some(n) => head(out, major, n),
        None => out.push(major << 5 | 31),
    }
}

/// A float as cbor2 writes it: a double, except NaN and the infinities (half precision).
pub(crate) fn write_float(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(&[0xf9, 0x7e, 0x00]);
    } else if v.is_infinite() {
        let sign = if v > 0.0 { 0x7c } else { 0xfc };
        out.extend_from_slice(&[0xf9, sign, 0x00]);
    } else {
        out.push(0xfb);
        out.extend_from_slice(&v.to_be_bytes());
    }
}

/// IEEE 754 half precision to double (RFC 8949 appendix D).
fn half_to_f64(bits: u16) -> f64 {
    let exp = (bits >> 10) & 0x1f;
    let mant = f64::from(bits & 0x3ff);
    let magnitude = match exp {
        0 => mant * 2f64.powi(-24),
        31 if mant == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        _ => (mant + 1024.0) * 2f64.powi(i32::from(exp) - 25),
    };
    if bits & 0x8000 != 0 {
        -magnitude
    } else {
        magnitude
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_floats() {
        assert_eq!(half_to_f64(0x3c00), 1.0);
        assert_eq!(half_to_f64(0x3800), 0.5);
        assert_eq!(half_to_f64(0xc000), -2.0);
        assert_eq!(half_to_f64(0x7bff), 65504.0);
        assert_eq!(half_to_f64(0x0001), 5.960464477539063e-8);
        assert_eq!(half_to_f64(0x7c00), f64::INFINITY);
        assert_eq!(half_to_f64(0xfc00), f64::NEG_INFINITY);
        assert!(half_to_f64(0x7e00).is_nan());
        assert_eq!(half_to_f64(0x8000), 0.0);
    }

    #[test]
    fn headers_round_trip_in_shortest_form() {
        for (h, bytes) in [
            (Header::Positive(0), &[0x00][..]),
            (Header::Positive(23), &[0x17]),
            (Header::Positive(24), &[0x18, 0x18]),
            (Header::Positive(256), &[0x19, 0x01, 0x00]),
            (Header::Negative(65536), &[0x3a, 0, 1, 0, 0]),
            (
                Header::Positive(u64::MAX),
                &[0x1b, 255, 255, 255, 255, 255, 255, 255, 255],
            ),
            (Header::Text(None), &[0x7f]),
            (Header::Array(Some(2)), &[0x82]),
            (Header::Map(None), &[0xbf]),
            (Header::Tag(2001), &[0xd9, 0x07, 0xd1]),
            (Header::Simple(simple::NULL), &[0xf6]),
            (Header::Simple(99), &[0xf8, 99]),
            (Header::Break, &[0xff]),
        ] {
            let mut out = Vec::new();
            write(&mut out, h);
            assert_eq!(out, bytes, "{h:?}");
            assert_eq!(read(bytes, 0).unwrap(), (h, bytes.len()));
        }
        for bad in [
            &[0x1c][..],
            &[0x1f],
            &[0x3f],
            &[0xdf],
            &[0xfc],
            &[0x19, 0x01],
            &[],
        ] {
            assert!(read(bad, 0).is_err(), "{bad:02x?}");
        }
    }
}
