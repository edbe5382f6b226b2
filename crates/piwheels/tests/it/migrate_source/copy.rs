//! Streaming `COPY ... FROM STDIN` (text format) into the fixture: rows are escaped into a
//! buffer that is sent whenever it passes [`FLUSH_AT`] bytes, so memory stays bounded
//! whatever the number of rows.

use std::fmt::Display;
use std::io::{Cursor, Write};
use std::pin::Pin;

use futures_util::SinkExt;
use tokio_postgres::{Client, CopyInSink};

/// How many bytes a buffer holds before it is sent to the server.
pub const FLUSH_AT: usize = 1 << 20;

/// One `COPY table (columns) FROM STDIN` in progress.
pub struct CopyWriter {
    sink: Pin<Box<CopyInSink<Cursor<Vec<u8>>>>>,
    buf: Vec<u8>,
    first: bool,
    rows: u64,
}

impl CopyWriter {
    /// Starts copying into `table`'s `columns` (comma-separated).
    pub async fn start(
        client: &Client,
        table: &str,
        columns: &str,
    ) -> Result<Self, tokio_postgres::Error> {
        let sink = client
            .copy_in(&format!("COPY {table} ({columns}) FROM STDIN"))
            .await?;
        Ok(Self {
            sink: Box::pin(sink),
            buf: Vec::with_capacity(FLUSH_AT + 4096),
            first: true,
            rows: 0,
        })
    }

    fn sep(&mut self) {
        if !self.first {
            self.buf.push(b'\t');
        }
        self.first = false;
    }

    /// A text field, escaped for COPY's text format (every byte but backslash, tab, LF
    /// and CR goes through as it is).
    pub fn text(&mut self, s: &str) -> &mut Self {
        self.sep();
        for b in s.bytes() {
            match b {
                b'\\' => self.buf.extend_from_slice(b"\\\\"),
                b'\t' => self.buf.extend_from_slice(b"\\t"),
                b'\n' => self.buf.extend_from_slice(b"\\n"),
                b'\r' => self.buf.extend_from_slice(b"\\r"),
                _ => self.buf.push(b),
            }
        }
        self
    }

    /// A field whose text needs no escaping (numbers, timestamps, addresses, booleans).
    pub fn plain(&mut self, v: impl Display) -> &mut Self {
        self.sep();
        write!(self.buf, "{v}").expect("write to a Vec");
        self
    }

    /// An optional text field.
    pub fn opt(&mut self, s: Option<&str>) -> &mut Self {
        match s {
            Some(s) => self.text(s),
            None => {
                self.sep();
                self.buf.extend_from_slice(b"\\N");
                self
            }
        }
    }

    /// Ends the row; sends the buffer if it is full.
    pub async fn end(&mut self) -> Result<(), tokio_postgres::Error> {
        self.buf.push(b'\n');
        self.first = true;
        self.rows += 1;
        if self.buf.len() >= FLUSH_AT {
            let full = std::mem::replace(&mut self.buf, Vec::with_capacity(FLUSH_AT + 4096));
            self.sink.send(Cursor::new(full)).await?;
        }
        Ok(())
    }

    /// Sends what is left and ends the COPY; the number of rows written.
    pub async fn finish(mut self) -> Result<u64, tokio_postgres::Error> {
        if !self.buf.is_empty() {
            let rest = std::mem::take(&mut self.buf);
            self.sink.send(Cursor::new(rest)).await?;
        }
        let copied = self.sink.as_mut().finish().await?;
        assert_eq!(
            copied, self.rows,
            "the server counted other rows than were sent"
        );
        Ok(copied)
    }
}
