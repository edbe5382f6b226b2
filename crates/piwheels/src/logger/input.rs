//! Lines from log files, standard input and gzip streams, each line at most
//! [`MAX_LINE`] bytes: a longer one is reported as [`Line::TooLong`] without being held in
//! memory.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

/// The longest line read; a real combined-log line (pip's User-Agent included) is under
/// 2 KiB.
pub const MAX_LINE: usize = 64 * 1024;

/// One line as [`LineSplitter`] hands it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    /// A whole line, without its `\n`.
    Whole(&'a [u8]),
    /// A line longer than the limit, skipped.
    TooLong,
}

/// Cuts a stream of bytes, given in pieces of any size, into lines.
#[derive(Debug)]
pub struct LineSplitter {
    pending: Vec<u8>,
    discarding: bool,
    max: usize,
}

impl Default for LineSplitter {
    fn default() -> Self {
        LineSplitter::new(MAX_LINE)
    }
}

impl LineSplitter {
    /// A splitter for lines of at most `max` bytes.
    pub fn new(max: usize) -> Self {
        LineSplitter {
            pending: Vec::new(),
            discarding: false,
            max,
        }
    }

    /// Feeds `bytes`, calling `out` for each line they complete.
    pub fn push(&mut self, mut bytes: &[u8], out: &mut dyn FnMut(Line<'_>)) {
        while let Some(nl) = bytes.iter().position(|&b| b == b'\n') {
            let (head, rest) = (&bytes[..nl], &bytes[nl + 1..]);
            bytes = rest;
            if self.discarding || self.pending.len() + head.len() > self.max {
                out(Line::TooLong);
            } else if self.pending.is_empty() {
                out(Line::Whole(head));
            } else {
                self.pending.extend_from_slice(head);
                out(Line::Whole(&self.pending));
            }
            self.pending.clear();
            self.discarding = false;
        }
        if self.discarding {
            return;
        }
        if self.pending.len() + bytes.len() > self.max {
            self.pending = Vec::new();
            self.discarding = true;
        } else {
            self.pending.extend_from_slice(bytes);
        }
    }

    /// Whether part of a line is waiting for its end.
    pub fn has_partial(&self) -> bool {
        self.discarding || !self.pending.is_empty()
    }

    /// Ends the stream: a last line without `\n` is handed out too.
    pub fn finish(&mut self, out: &mut dyn FnMut(Line<'_>)) {
        if self.discarding {
            out(Line::TooLong);
        } else if !self.pending.is_empty() {
            out(Line::Whole(&self.pending));
        }
        self.reset();
    }

    /// Forgets any partial line (its file was truncated under it).
    pub fn reset(&mut self) {
        self.pending.clear();
        self.discarding = false;
    }
}

/// Reads `reader` to its end, calling `out` for each line (the last one without `\n`
/// included).
///
/// # Errors
///
/// A read error (a corrupt gzip stream among them).
pub fn read_lines(mut reader: impl Read, out: &mut dyn FnMut(Line<'_>)) -> io::Result<()> {
    let mut splitter = LineSplitter::default();
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        splitter.push(&buf[..n], out);
    }
    splitter.finish(out);
    Ok(())
}

/// A reader of `inner` that is gunzipped if it starts with gzip's magic bytes (all its
/// members, as `logrotate` and `cat a.gz b.gz` make them), and read as it is otherwise.
///
/// # Errors
///
/// A read error while looking at the first bytes.
pub fn maybe_gunzip<R: Read + Send + 'static>(inner: R) -> io::Result<Box<dyn Read + Send>> {
    let mut inner = BufReader::with_capacity(64 * 1024, inner);
    let gz = {
        let head = inner.fill_buf()?;
        head.len() >= 2 && head[..2] == [0x1f, 0x8b]
    };
    Ok(if gz {
        Box::new(flate2::bufread::MultiGzDecoder::new(inner))
    } else {
        Box::new(inner)
    })
}

/// Opens a log file, gunzipped if it is gzip (whatever its name).
///
/// # Errors
///
/// The open or first read's error.
pub fn open(path: &Path) -> io::Result<Box<dyn Read + Send>> {
    maybe_gunzip(File::open(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lines(pieces: &[&[u8]], max: usize) -> Vec<Option<Vec<u8>>> {
        let mut got = Vec::new();
        let mut s = LineSplitter::new(max);
        let mut out = |l: Line<'_>| {
            got.push(match l {
                Line::Whole(b) => Some(b.to_vec()),
                Line::TooLong => None,
            })
        };
        for p in pieces {
            s.push(p, &mut out);
        }
        s.finish(&mut out);
        got
    }

    #[test]
    fn lines_across_pieces_and_the_length_limit() {
        let got = lines(&[b"ab", b"c\nde", b"f\n\nlast"], 10);
        let want: Vec<Option<Vec<u8>>> = vec![
            Some(b"abc".to_vec()),
            Some(b"def".to_vec()),
            Some(b"".to_vec()),
            Some(b"last".to_vec()),
        ];
        assert_eq!(got, want);
        let got = lines(&[b"0123456789A", b"BC\nok\n", b"0123456", b"789\n"], 10);
        assert_eq!(
            got,
            vec![None, Some(b"ok".to_vec()), Some(b"0123456789".to_vec())]
        );
        let got = lines(&[b"01234567890123"], 10);
        assert_eq!(got, vec![None]);
    }

    #[test]
    fn a_ten_megabyte_line_is_not_kept() {
        let big = vec![b'a'; 10 << 20];
        let mut s = LineSplitter::default();
        let mut n = 0;
        let mut out = |l: Line<'_>| {
            assert_eq!(l, Line::TooLong);
            n += 1;
        };
        for chunk in big.chunks(4096) {
            s.push(chunk, &mut out);
            assert!(s.pending.capacity() <= 2 * MAX_LINE);
        }
        s.push(b"\n", &mut out);
        assert_eq!(n, 1);
    }

    #[test]
    fn gzip_and_plain_alike() {
        let text = b"one\ntwo\n".as_slice();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(text).unwrap();
        let mut two = gz.finish().unwrap();
        let again = two.clone();
        two.extend_from_slice(&again);
        for (input, want) in [(text.to_vec(), 2), (two, 4)] {
            let mut n = 0;
            read_lines(
                maybe_gunzip(std::io::Cursor::new(input)).unwrap(),
                &mut |l| {
                    assert!(matches!(l, Line::Whole(b"one" | b"two")));
                    n += 1;
                },
            )
            .unwrap();
            assert_eq!(n, want);
        }
        let corrupt = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff];
        let r = read_lines(
            maybe_gunzip(std::io::Cursor::new(corrupt)).unwrap(),
            &mut |_| {},
        );
        assert!(r.is_err());
    }
}
