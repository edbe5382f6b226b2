//! A tracing subscriber that counts what the master logs, for tests that bound the log.
//!
//! Installed per test with `tracing::subscriber::set_default` (a thread-local default), so
//! tests never share it; the master's tasks must then run on the test's thread (a
//! current-thread runtime). It keeps counts, not the whole log: a flood of garbage could
//! otherwise take gigabytes.
#![allow(dead_code)]

use std::io;
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;

/// How many lines are kept (each cut to [`KEEP_CHARS`]) for a failing test to show.
const KEEP_LINES: usize = 400;
const KEEP_CHARS: usize = 300;

/// What was logged so far.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Complete lines.
    pub lines: usize,
    /// Bytes in all.
    pub bytes: usize,
    /// The longest line's length in bytes (without its newline).
    pub longest: usize,
    /// The first lines, cut short.
    pub kept: Vec<String>,
    current: Vec<u8>,
    current_len: usize,
}

impl Stats {
    fn push(&mut self, buf: &[u8]) {
        self.bytes += buf.len();
        for &b in buf {
            if b == b'\n' {
                self.lines += 1;
                self.longest = self.longest.max(self.current_len);
                if self.kept.len() < KEEP_LINES {
                    self.kept
                        .push(String::from_utf8_lossy(&self.current).into_owned());
                }
                self.current.clear();
                self.current_len = 0;
            } else {
                self.current_len += 1;
                if self.current.len() < KEEP_CHARS {
                    self.current.push(b);
                }
            }
        }
    }

    /// The kept lines containing `text`.
    pub fn matching(&self, text: &str) -> Vec<&String> {
        self.kept.iter().filter(|l| l.contains(text)).collect()
    }
}

/// The capture: clone it into the subscriber, read [`LogCapture::stats`] from the test.
#[derive(Debug, Clone, Default)]
pub struct LogCapture(Arc<Mutex<Stats>>);

impl LogCapture {
    /// A new, empty capture.
    pub fn new() -> Self {
        Self::default()
    }

    /// A subscriber writing INFO and above, as a production master logs, into this capture.
    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + 'static {
        tracing_subscriber::fmt()
            .with_writer(self.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish()
    }

    /// What was logged so far.
    pub fn stats(&self) -> Stats {
        self.0.lock().unwrap().clone()
    }
}

/// One event's writer.
pub struct Writer(Arc<Mutex<Stats>>);

impl io::Write for Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().push(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogCapture {
    type Writer = Writer;

    fn make_writer(&'a self) -> Writer {
        Writer(self.0.clone())
    }
}
