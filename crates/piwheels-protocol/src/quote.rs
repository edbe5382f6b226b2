//! Peer input quoted into error and log messages, cut short.
//!
//! Whatever a peer sends (a message name, a datetime string, a map key, a frame's bytes,
//! a file name) may be as long as the socket lets it be: a single log line once held a
//! 100,151-character frame. Every place that quotes peer input into a message uses
//! [`Quoted`], which escapes it as Rust's `Debug` does and stops after about
//! [`QUOTE_LIMIT`] bytes of output, saying how much input was left out:
//!
//! ```
//! use piwheels_protocol::quote::Quoted;
//!
//! assert_eq!(Quoted::str("HELLO").to_string(), r#""HELLO""#);
//! assert_eq!(Quoted::bytes(b"\x00ab").to_string(), r#"b"\x00ab""#);
//! let long = "x".repeat(100_000);
//! assert_eq!(
//!     Quoted::str(&long).to_string(),
//!     format!("\"{}…\" (+99,800 bytes)", "x".repeat(200))
//! );
//! ```
//!
//! Text is cut on a character boundary, bytes on an escape boundary, so the quote is
//! always valid text and never ends in half an escape.

use std::fmt::{self, Write};

/// How many bytes of escaped input a [`Quoted`] shows at most (plus its quotes and the
/// marker saying what was cut).
pub const QUOTE_LIMIT: usize = 200;

/// Peer input (text or bytes) to put into a message: escaped, quoted, and cut after
/// [`QUOTE_LIMIT`] bytes of output with a marker `… (+N bytes)` saying how many bytes of
/// input were left out. See the [module docs](self).
#[derive(Clone, Copy)]
pub struct Quoted<'a> {
    input: Input<'a>,
    limit: usize,
}

#[derive(Clone, Copy)]
enum Input<'a> {
    Str(&'a str),
    Bytes(&'a [u8]),
}

impl<'a> Quoted<'a> {
    /// Text, shown as `"…"` with `Debug`'s escapes.
    pub fn str(s: &'a str) -> Self {
        Quoted {
            input: Input::Str(s),
            limit: QUOTE_LIMIT,
        }
    }

    /// Bytes, shown as `b"…"` with ASCII escapes (`\xNN` for what is not printable).
    pub fn bytes(b: &'a [u8]) -> Self {
        Quoted {
            input: Input::Bytes(b),
            limit: QUOTE_LIMIT,
        }
    }

    /// Shows at most `limit` bytes of escaped input instead of [`QUOTE_LIMIT`].
    #[must_use]
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }
}

/// Writes escaped pieces until the next one would pass `limit` bytes of output; returns
/// how many input bytes were written.
fn write_cut<I>(f: &mut fmt::Formatter<'_>, pieces: I, limit: usize) -> Result<usize, fmt::Error>
where
    I: Iterator<Item = (usize, Escaped)>,
{
    let mut shown = 0;
    let mut consumed = 0;
    for (len, escaped) in pieces {
        let text = escaped.as_str();
        if shown + text.len() > limit {
            break;
        }
        f.write_str(text)?;
        shown += text.len();
        consumed += len;
    }
    Ok(consumed)
}

/// One input unit (a char or a byte), escaped: at most 10 characters (`\u{10ffff}`).
struct Escaped {
    buf: [u8; 16],
    len: usize,
}

impl Escaped {
    fn new(display: impl fmt::Display) -> Self {
        let mut e = Escaped {
            buf: [0; 16],
            len: 0,
        };
        let _ = write!(e, "{display}");
        e
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl Write for Escaped {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// `12345678` as `12,345,678`.
struct Thousands(usize);

impl fmt::Display for Thousands {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.0.to_string();
        for (i, d) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                f.write_char(',')?;
            }
            f.write_char(d)?;
        }
        Ok(())
    }
}

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (total, consumed) = match self.input {
            Input::Str(s) => {
                f.write_char('"')?;
                // As `Debug` for `str` does: a single quote is not escaped.
                let pieces = s.chars().map(|c| {
                    let escaped = if c == '\'' {
                        Escaped::new(c)
                    } else {
                        Escaped::new(c.escape_debug())
                    };
                    (c.len_utf8(), escaped)
                });
                (s.len(), write_cut(f, pieces, self.limit)?)
            }
            Input::Bytes(b) => {
                f.write_str("b\"")?;
                let pieces = b
                    .iter()
                    .map(|&byte| (1, Escaped::new(std::ascii::escape_default(byte))));
                (b.len(), write_cut(f, pieces, self.limit)?)
            }
        };
        if consumed < total {
            write!(f, "…\" (+{} bytes)", Thousands(total - consumed))
        } else {
            f.write_char('"')
        }
    }
}

impl fmt::Debug for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// [`Quoted::str`] as a `String`, for messages built with `format!`.
pub fn quote(s: &str) -> String {
    Quoted::str(s).to_string()
}

/// Cuts `s` (a message already built, e.g. a path into nested data) to at most `max`
/// bytes on a character boundary, appending ` … (+N bytes)` if anything was cut.
pub fn cut(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if s.len() <= max {
        return s.into();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… (+{} bytes)", &s[..end], Thousands(s.len() - end)).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_input_is_quoted_as_debug_does() {
        for s in [
            "",
            "HELLO",
            "it's",
            "a\"b\\c\n\t\0",
            "é∂😀",
            "\u{7f}\u{200b}\u{301}",
        ] {
            assert_eq!(Quoted::str(s).to_string(), format!("{s:?}"), "{s:?}");
        }
        assert_eq!(Quoted::bytes(b"").to_string(), r#"b"""#);
        assert_eq!(
            Quoted::bytes(b"abc\xff\n\"").to_string(),
            r#"b"abc\xff\n\"""#
        );
    }

    #[test]
    fn long_input_is_cut_with_a_marker() {
        let s = "ab".repeat(50_000);
        let q = Quoted::str(&s).to_string();
        assert_eq!(q, format!("\"{}…\" (+99,800 bytes)", &s[..200]));
        // Exactly at the limit: nothing is cut.
        let s = "y".repeat(QUOTE_LIMIT);
        assert_eq!(Quoted::str(&s).to_string(), format!("{s:?}"));
        let s = "y".repeat(QUOTE_LIMIT + 1);
        assert!(Quoted::str(&s).to_string().ends_with("…\" (+1 bytes)"));
    }

    #[test]
    fn cuts_fall_on_char_and_escape_boundaries() {
        // Four-byte characters: 50 of them fit in 200 bytes, never part of one.
        let s = "😀".repeat(1000);
        let q = Quoted::str(&s).to_string();
        assert_eq!(q, format!("\"{}…\" (+3,800 bytes)", "😀".repeat(50)));
        let q = Quoted::str(&s).limit(7).to_string();
        assert_eq!(q, "\"😀…\" (+3,996 bytes)");
        // Escapes count as what they show: 50 NULs (\0, 2 bytes each) fit in 101.
        let s = "\0".repeat(60);
        assert_eq!(
            Quoted::str(&s).limit(101).to_string(),
            format!("\"{}…\" (+10 bytes)", "\\0".repeat(50))
        );
        // Bytes: \xff is 4 bytes of output; 50 fit in 200, never half of one.
        let b = vec![0xff; 51];
        assert_eq!(
            Quoted::bytes(&b).to_string(),
            format!("b\"{}…\" (+1 bytes)", "\\xff".repeat(50))
        );
        let b = vec![0xff; 1000];
        let q = Quoted::bytes(&b).limit(7).to_string();
        assert_eq!(q, "b\"\\xff…\" (+999 bytes)");
    }

    #[test]
    fn the_output_is_bounded_whatever_the_input() {
        let inputs: [Vec<u8>; 4] = [
            vec![0; 1 << 20],
            vec![b'a'; 1 << 20],
            (0..=255u8).cycle().take(1 << 20).collect(),
            "\u{10ffff}".repeat(1 << 18).into_bytes(),
        ];
        for b in &inputs {
            assert!(Quoted::bytes(b).to_string().len() < 260);
            let s = String::from_utf8_lossy(b);
            assert!(Quoted::str(&s).to_string().len() < 260, "{}", &s[..10]);
        }
    }

    #[test]
    fn cut_keeps_short_text_and_marks_long_text() {
        assert_eq!(cut("abc", 3), "abc");
        assert_eq!(cut("abcd", 3), "abc… (+1 bytes)");
        assert_eq!(cut("ééé", 3), "é… (+4 bytes)");
        assert_eq!(Thousands(0).to_string(), "0");
        assert_eq!(Thousands(999).to_string(), "999");
        assert_eq!(Thousands(1000).to_string(), "1,000");
        assert_eq!(Thousands(1_234_567).to_string(), "1,234,567");
    }
}
