//! The file transfer on port 5556: raw frames (not CBOR) and the master's transfer state.
//!
//! A build slave (or an importer, as slave id 0) opens a DEALER to the master's ROUTER and
//! says `HELLO <slave id>`; the master asks for the file piece by piece with
//! `FETCH <offset> <length>`, the client answers each with `CHUNK <offset> <bytes>`, and the
//! master ends with `DONE` once it holds every byte (piwheels.md §3.2). Numbers travel as ASCII
//! decimal, one per frame.
//!
//! - [`ClientFrame`] and [`ServerFrame`] parse and build the frames of each direction.
//!   Parsing is strict (exact frame counts, plain ASCII decimal numbers that fit in 64 bits),
//!   and a bad message is a [`ProtocolError::Frames`] saying what was wrong: the original
//!   master dies on a `HELLO` without an id or a `CHUNK` with a non-numeric offset (piwheels.md §13.3).
//! - [`TransferState`] is the master's bookkeeping for one file: which bytes are missing,
//!   what to `FETCH` next, and how many requests may be in flight. It does no I/O.
//! - [`TransferFile`] puts a [`TransferState`] together with the pre-sized file the chunks
//!   are written into.
//!
//! ```
//! use std::time::Instant;
//! use piwheels_protocol::transfer::{ClientFrame, ServerFrame, TransferState};
//!
//! let mut master = TransferState::original(123_456);
//! let hello = [b"HELLO".to_vec(), b"1".to_vec()];
//! assert_eq!(ClientFrame::parse(&hello)?, ClientFrame::Hello { slave_id: 1 });
//! let now = Instant::now();
//! assert!(master.on_hello(now));
//! assert_eq!(master.next_frame(), Some(ServerFrame::Fetch { offset: 0, length: 65_536 }));
//! assert_eq!(master.next_frame(), None); // one request in flight for a file this small
//! master.on_chunk(0, 65_536, now)?;
//! assert_eq!(master.next_frame(), Some(ServerFrame::Fetch { offset: 65_536, length: 57_920 }));
//! // An empty chunk is refused, and earns no FETCH.
//! assert!(master.on_chunk(65_536, 0, now).is_err());
//! assert_eq!(master.refused(), 1);
//! master.on_chunk(65_536, 57_920, now)?;
//! assert_eq!(master.next_frame(), Some(ServerFrame::Done));
//! assert!(master.is_complete());
//! # Ok::<(), piwheels_protocol::ProtocolError>(())
//! ```

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::num::{NonZeroU32, NonZeroU64};
use std::ops::{Deref, Range};
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use crate::error::ProtocolError;
use crate::ranges;

/// The client's greeting command: `HELLO <slave id>`.
pub const HELLO: &[u8] = b"HELLO";
/// The client's answer to a fetch: `CHUNK <offset> <bytes>`.
pub const CHUNK: &[u8] = b"CHUNK";
/// The master's request: `FETCH <offset> <length>`.
pub const FETCH: &[u8] = b"FETCH";
/// The master's last word: `DONE`.
pub const DONE: &[u8] = b"DONE";

/// A message from the client (build slave or importer) to the master, as the frames after
/// the ROUTER identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientFrame<'a> {
    /// `HELLO <slave id>`: starts the transfer the master expects from this slave, or, on a
    /// transfer under way, tells the master the client heard nothing for a while.
    ///
    /// The id is the slave id SlaveDriver gave the slave (0 for imports); the original sends
    /// Python's `str(int)`, always non-negative, so it is parsed as a `u64`.
    Hello {
        /// The slave id.
        slave_id: u64,
    },
    /// `CHUNK <offset> <bytes>`: the file's bytes from `offset`, answering a `FETCH`.
    Chunk {
        /// Where in the file `data` starts.
        offset: u64,
        /// The bytes, borrowed from the frame.
        data: &'a [u8],
    },
}

impl<'a> ClientFrame<'a> {
    /// Parses the frames after the ROUTER identity, strictly: `HELLO` with exactly one id
    /// frame, `CHUNK` with exactly an offset and a data frame, numbers as plain ASCII
    /// decimal (digits only: no sign, space or underscore) that fit in a `u64`.
    ///
    /// Frames may be anything that dereferences to bytes: `zmq::Message`, `Vec<u8>`, `&[u8]`.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::Frames`] saying what was wrong: no frames, an unknown command, the
    /// wrong number of frames, or a number that is empty, not decimal or too large.
    pub fn parse<F: Deref<Target = [u8]>>(frames: &'a [F]) -> Result<Self, ProtocolError> {
        let Some((command, args)) = frames.split_first() else {
            return Err(bad("empty file-transfer message (no command frame)".into()));
        };
        match &**command {
            b"HELLO" => match args {
                [id] => Ok(ClientFrame::Hello {
                    slave_id: decimal("HELLO", "slave id", id)?,
                }),
                _ => Err(frame_count("HELLO", "HELLO, slave id", frames.len())),
            },
            b"CHUNK" => match args {
                [offset, data] => Ok(ClientFrame::Chunk {
                    offset: decimal("CHUNK", "offset", offset)?,
                    data,
                }),
                _ => Err(frame_count("CHUNK", "CHUNK, offset, data", frames.len())),
            },
            other => Err(bad(format!(
                "unknown file-transfer command {} from a client (expected HELLO or CHUNK)",
                show(other)
            ))),
        }
    }

    /// The frames to send (after the DEALER's implicit identity). A chunk's data is copied;
    /// [`chunk_frames`] moves it in instead.
    pub fn frames(&self) -> Vec<Vec<u8>> {
        match *self {
            ClientFrame::Hello { slave_id } => hello_frames(slave_id).to_vec(),
            ClientFrame::Chunk { offset, data } => chunk_frames(offset, data.to_vec()).to_vec(),
        }
    }
}

/// The frames of `HELLO <slave_id>`.
pub fn hello_frames(slave_id: u64) -> [Vec<u8>; 2] {
    [HELLO.to_vec(), slave_id.to_string().into_bytes()]
}

/// The frames of `CHUNK <offset> <data>`, taking `data` without copying it.
///
/// A `Vec<u8>` whose capacity equals its length becomes a `zmq::Message` without a copy, so
/// a client that reads each chunk into a fresh, exactly sized buffer sends it as it is.
pub fn chunk_frames(offset: u64, data: Vec<u8>) -> [Vec<u8>; 3] {
    [CHUNK.to_vec(), offset.to_string().into_bytes(), data]
}

/// A message from the master to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerFrame {
    /// `FETCH <offset> <length>`: send the file's bytes `offset..offset + length`.
    Fetch {
        /// Where the requested bytes start.
        offset: u64,
        /// How many bytes are requested.
        length: u64,
    },
    /// `DONE`: the master holds the whole file.
    Done,
}

impl ServerFrame {
    /// The `FETCH` for the bytes `range`.
    pub fn fetch(range: Range<u64>) -> Self {
        ServerFrame::Fetch {
            offset: range.start,
            length: range.end.saturating_sub(range.start),
        }
    }

    /// Parses the master's frames (as a DEALER receives them: no identity), strictly:
    /// `FETCH` with exactly an offset and a length, plain ASCII decimal, whose sum fits in a
    /// `u64`; `DONE` alone.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::Frames`] saying what was wrong: no frames, an unknown command, the
    /// wrong number of frames, or a number that is empty, not decimal or too large.
    pub fn parse<F: Deref<Target = [u8]>>(frames: &[F]) -> Result<Self, ProtocolError> {
        let Some((command, args)) = frames.split_first() else {
            return Err(bad("empty file-transfer message (no command frame)".into()));
        };
        match &**command {
            b"FETCH" => match args {
                [offset, length] => {
                    let offset = decimal("FETCH", "offset", offset)?;
                    let length = decimal("FETCH", "length", length)?;
                    if offset.checked_add(length).is_none() {
                        return Err(bad(format!(
                            "FETCH of {length} bytes at offset {offset} ends past 2^64"
                        )));
                    }
                    Ok(ServerFrame::Fetch { offset, length })
                }
                _ => Err(frame_count("FETCH", "FETCH, offset, length", frames.len())),
            },
            b"DONE" => match args {
                [] => Ok(ServerFrame::Done),
                _ => Err(frame_count("DONE", "DONE", frames.len())),
            },
            other => Err(bad(format!(
                "unknown file-transfer command {} from the master (expected FETCH or DONE)",
                show(other)
            ))),
        }
    }

    /// The frames to send after the client's ROUTER identity.
    pub fn frames(&self) -> Vec<Vec<u8>> {
        match *self {
            ServerFrame::Fetch { offset, length } => vec![
                FETCH.to_vec(),
                offset.to_string().into_bytes(),
                length.to_string().into_bytes(),
            ],
            ServerFrame::Done => vec![DONE.to_vec()],
        }
    }

    /// The bytes a `FETCH` asks for (`None` for `DONE`, or if the end would pass 2^64, which
    /// [`ServerFrame::parse`] never returns).
    pub fn range(&self) -> Option<Range<u64>> {
        match *self {
            ServerFrame::Fetch { offset, length } => Some(offset..offset.checked_add(length)?),
            ServerFrame::Done => None,
        }
    }
}

fn bad(what: String) -> ProtocolError {
    ProtocolError::Frames(what)
}

fn frame_count(command: &str, shape: &str, found: usize) -> ProtocolError {
    let expected = shape.split(", ").count();
    bad(format!(
        "{command} needs {expected} frames ({shape}), found {found}"
    ))
}

/// A frame's bytes for an error message: escaped, and cut short if long.
fn show(bytes: &[u8]) -> crate::quote::Quoted<'_> {
    crate::quote::Quoted::bytes(bytes)
}

/// A plain ASCII decimal `u64`: one or more digits and nothing else.
fn decimal(command: &str, field: &str, frame: &[u8]) -> Result<u64, ProtocolError> {
    if frame.is_empty() {
        return Err(bad(format!("{command} {field} frame is empty")));
    }
    if !frame.iter().all(u8::is_ascii_digit) {
        return Err(bad(format!(
            "{command} {field} {} is not an ASCII decimal number",
            show(frame)
        )));
    }
    frame
        .iter()
        .try_fold(0u64, |n, &d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
        .ok_or_else(|| {
            bad(format!(
                "{command} {field} {} does not fit in 64 bits",
                show(frame)
            ))
        })
}

/// The original master's chunk size: the longest `FETCH` it sends, 64 KiB.
pub const ORIGINAL_CHUNK_SIZE: NonZeroU64 = NonZeroU64::new(65_536).unwrap();
/// The original master's pipeline depth: the most `FETCH`es it has in flight.
pub const ORIGINAL_PIPELINE: NonZeroU32 = NonZeroU32::new(10).unwrap();
/// Our chunk size, 1 MiB (see [`TransferState::new`]).
pub const DEFAULT_CHUNK_SIZE: NonZeroU64 = NonZeroU64::new(1 << 20).unwrap();
/// Our pipeline depth, 2 (see [`TransferState::new`]).
pub const DEFAULT_PIPELINE: NonZeroU32 = NonZeroU32::new(2).unwrap();

/// How long after a `HELLO` that restored the credit the next one may restore it again. A
/// client says `HELLO` again only after five silent seconds; one that says it faster gets
/// no more `FETCH`es for it.
pub const HELLO_INTERVAL: Duration = Duration::from_secs(1);
/// How long a transfer backs off after its first refused chunk (no `HELLO` restores the
/// credit meanwhile); doubled for each further one, up to [`BACKOFF_CAP`].
pub const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// The longest back-off after refused chunks.
pub const BACKOFF_CAP: Duration = Duration::from_secs(32);
/// The fewest bytes a `CHUNK` answering a `FETCH` must carry (or all that was asked for,
/// if that is less): the original's chunk size. Our slave answers a long `FETCH` with at
/// most 16 MiB, so a short answer of that kind stays welcome.
pub const MIN_ANSWER: u64 = ORIGINAL_CHUNK_SIZE.get();

/// The master's bookkeeping for receiving one file: the bytes still missing, a cursor, and
/// the credit that bounds the `FETCH`es in flight. Pure state, no I/O.
///
/// Drive it with the client's frames, and after each one send what [`next_frame`] gives until
/// it gives `None`:
///
/// - `HELLO` → [`on_hello`]: restores the credit, and starts the next fetch from the first
///   missing byte. A client says `HELLO` first, and again whenever it heard nothing for five
///   seconds; that is how chunks lost on the way are asked for again. The original treats
///   any other non-`CHUNK` frame on an active transfer the same way.
/// - `CHUNK` → [`check_chunk`], write the bytes, then [`on_chunk`]: the bytes are no longer
///   missing, and if the chunk answers a `FETCH` in flight, that request's credit comes
///   back. A chunk that [`check_chunk`] refuses goes to [`refuse`] instead.
///
/// `FETCH` selection is the original's: the window `cursor..cursor + chunk` meets the first
/// missing range at or past the cursor (if that range starts beyond the window, the window
/// moves to its start), and the request is their intersection; the cursor moves to its end.
/// The credit starts at `max(1, min(pipeline, size / chunk))`, so a small file is fetched one
/// chunk at a time. When nothing is missing, the credit drops to zero and `DONE` goes once.
///
/// Where this differs from the original, on purpose:
///
/// - a zero-byte file is complete at once (the original's fetch loop spins forever);
/// - a chunk that would reach past the declared size is rejected (the original writes it,
///   letting the file grow, and fails the size check at verification);
/// - the cursor wraps to the first missing range only on `HELLO`, or when no request is in
///   flight. The original wraps as soon as it runs past the end, so at the tail of every
///   transfer it asks again for chunks that are merely still on their way: up to
///   `pipeline × chunk` bytes sent twice, which with large chunks is most of a small file;
/// - the credit never exceeds its initial value, so in-flight requests stay within the
///   pipeline (and, for a pipeline of 10 or less, within the slave's 10-message receive
///   queue) even when stale or duplicate chunks arrive;
/// - only a chunk that answers a `FETCH` still in flight (same offset) earns a new `FETCH`;
///   a duplicate, stale or unrequested chunk is written if it fits the file, and earns
///   nothing. The original answers every chunk with a `FETCH`, so a client could keep it
///   busy without sending a byte of the file;
/// - a chunk that carries no bytes, reaches past the declared size, or answers a `FETCH`
///   with fewer than [`MIN_ANSWER`] of the bytes asked for is *refused*: nothing is written,
///   the request it answers is used up without giving its credit back, and the transfer
///   backs off: no `HELLO` restores the credit for [`BACKOFF_BASE`], doubled for each
///   refusal up to [`BACKOFF_CAP`]. A client answering every `FETCH` with an empty chunk
///   made the original (and this master, before) send 476,000 `FETCH`es in 40 seconds;
///   now it gets one pipeline's worth, then one more per back-off;
/// - a `HELLO` restores the credit at most once per [`HELLO_INTERVAL`], so a client
///   repeating `HELLO` cannot turn each into a pipeline's worth of `FETCH`es. A real
///   client says it again only after five silent seconds, and so always gets its answer.
///
/// The master chooses the chunk size and depth: the original slave answers a `FETCH` of any
/// length (it seeks and reads `length` bytes), so larger windows stay compatible.
///
/// [`next_frame`]: TransferState::next_frame
/// [`on_hello`]: TransferState::on_hello
/// [`on_chunk`]: TransferState::on_chunk
/// [`check_chunk`]: TransferState::check_chunk
/// [`refuse`]: TransferState::refuse
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferState {
    size: u64,
    chunk: u64,
    initial_credit: u32,
    credit: u32,
    cursor: u64,
    missing: Vec<Range<u64>>,
    done_sent: bool,
    /// The `FETCH`es sent since the last `HELLO` and not yet answered: start → end. At
    /// most `initial_credit` of them.
    in_flight: BTreeMap<u64, u64>,
    /// Chunks refused so far.
    refused: u32,
    /// No `HELLO` restores the credit before this.
    quiet_until: Option<Instant>,
}

impl TransferState {
    /// A transfer of a `size`-byte file with our window: [`DEFAULT_CHUNK_SIZE`] (1 MiB)
    /// and [`DEFAULT_PIPELINE`] (2).
    ///
    /// Measured in `benches/transfer.rs` (100 MB over loopback ZeroMQ TCP on 2 cores,
    /// interleaved with a plain TCP copy of the same bytes): this window moves the file at
    /// about the plain copy's speed (0.96 to 1.1 times it; some 2 GB/s on a quiet machine),
    /// where the original's 64 KiB × 10 manages under 0.6 times it. Smaller chunks pay more
    /// per message (each is handed between four threads); larger chunks and deeper pipelines
    /// were no faster, and from about 4 MiB in flight slower: glibc's allocator then hands
    /// freed message buffers back to the kernel and page-faults them in again for each chunk.
    /// 2 MiB in flight still covers the bandwidth-delay product of a LAN or an ordinary WAN.
    pub fn new(size: u64) -> Self {
        Self::with_window(size, DEFAULT_CHUNK_SIZE, DEFAULT_PIPELINE)
    }

    /// A transfer of a `size`-byte file with the original master's window: 64 KiB chunks,
    /// 10 in flight.
    pub fn original(size: u64) -> Self {
        Self::with_window(size, ORIGINAL_CHUNK_SIZE, ORIGINAL_PIPELINE)
    }

    /// A transfer of a `size`-byte file that requests at most `chunk` bytes per `FETCH`, with
    /// at most `pipeline` requests in flight.
    pub fn with_window(size: u64, chunk: NonZeroU64, pipeline: NonZeroU32) -> Self {
        let chunk = chunk.get();
        let by_size = u32::try_from(size / chunk).unwrap_or(u32::MAX);
        let initial_credit = pipeline.get().min(by_size).max(1);
        let missing = ranges::consolidate(std::iter::once(0..size));
        TransferState {
            size,
            chunk,
            initial_credit,
            credit: if size == 0 { 0 } else { initial_credit },
            cursor: 0,
            missing,
            done_sent: false,
            in_flight: BTreeMap::new(),
            refused: 0,
            quiet_until: None,
        }
    }

    /// The file's declared size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The longest `FETCH` this transfer sends.
    pub fn chunk_size(&self) -> u64 {
        self.chunk
    }

    /// The most requests in flight: `max(1, min(pipeline, size / chunk))`.
    pub fn initial_credit(&self) -> u32 {
        self.initial_credit
    }

    /// How many more `FETCH`es may be sent now.
    pub fn credit(&self) -> u32 {
        self.credit
    }

    /// The byte ranges not yet received, sorted and consolidated.
    pub fn missing(&self) -> &[Range<u64>] {
        &self.missing
    }

    /// How many bytes are not yet received.
    pub fn remaining(&self) -> u64 {
        ranges::total(&self.missing)
    }

    /// Whether every byte has been received.
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty()
    }

    /// How many `FETCH`es sent since the last `HELLO` are not yet answered.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// How many chunks were refused (see [`TransferState::refuse`]).
    pub fn refused(&self) -> u32 {
        self.refused
    }

    /// Until when a `HELLO` does not restore the credit (back-off after a refused chunk,
    /// or [`HELLO_INTERVAL`] after the last `HELLO` that did).
    pub fn quiet_until(&self) -> Option<Instant> {
        self.quiet_until
    }

    /// The client said `HELLO` (first, or again after five silent seconds) at `now`:
    /// restore the credit, forget the requests in flight (the client evidently lost them)
    /// and start the next fetch from the first missing byte. On a complete transfer, `DONE`
    /// is sent again (the client evidently missed it).
    ///
    /// Within [`HELLO_INTERVAL`] of the last `HELLO` that did so, or while the transfer
    /// backs off after a refused chunk, nothing changes and this returns `false`: the
    /// client says `HELLO` again after its five silent seconds.
    pub fn on_hello(&mut self, now: Instant) -> bool {
        if self.quiet_until.is_some_and(|until| now < until) {
            return false;
        }
        self.quiet_until = Some(now + HELLO_INTERVAL);
        self.cursor = 0;
        self.done_sent = false;
        self.in_flight.clear();
        self.credit = if self.is_complete() {
            0
        } else {
            self.initial_credit
        };
        true
    }

    /// Checks a chunk of `len` bytes at `offset` before it is written, and returns its byte
    /// range. Changes nothing: a refused chunk goes to [`TransferState::refuse`].
    ///
    /// # Errors
    ///
    /// [`ProtocolError::Frames`] if the chunk would reach past the declared size, carries
    /// no bytes, or answers a `FETCH` in flight with fewer than [`MIN_ANSWER`] of the bytes
    /// it asked for (or fewer than all, if it asked for less).
    pub fn check_chunk(&self, offset: u64, len: u64) -> Result<Range<u64>, ProtocolError> {
        let end = match offset.checked_add(len) {
            Some(end) if end <= self.size => end,
            _ => {
                return Err(bad(format!(
                    "CHUNK of {len} bytes at offset {offset} reaches past the end of the \
                     {}-byte file",
                    self.size
                )));
            }
        };
        if len == 0 {
            return Err(bad(format!("CHUNK at offset {offset} carries no bytes")));
        }
        if let Some(&asked_end) = self.in_flight.get(&offset) {
            let asked = asked_end - offset;
            if len < asked.min(MIN_ANSWER) {
                return Err(bad(format!(
                    "CHUNK of {len} bytes at offset {offset} answers a FETCH of {asked} bytes \
                     (at least {} expected)",
                    asked.min(MIN_ANSWER)
                )));
            }
        }
        Ok(offset..end)
    }

    /// The client sent `len` bytes at `offset` (already written, after
    /// [`TransferState::check_chunk`]): they are no longer missing, and if the chunk answers
    /// a `FETCH` in flight, that request's credit comes back. Duplicate, overlapping and
    /// unrequested chunks are harmless and earn nothing.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::Frames`] if [`TransferState::check_chunk`] refuses the chunk (the
    /// bytes must then not have been written); it is then [refused](TransferState::refuse)
    /// at `now`.
    pub fn on_chunk(&mut self, offset: u64, len: u64, now: Instant) -> Result<(), ProtocolError> {
        let range = match self.check_chunk(offset, len) {
            Ok(range) => range,
            Err(e) => {
                self.refuse(offset, now);
                return Err(e);
            }
        };
        ranges::exclude(&mut self.missing, range);
        let answered = self.in_flight.remove(&offset).is_some();
        if self.is_complete() {
            self.credit = 0;
        } else if answered {
            self.credit = (self.credit + 1).min(self.initial_credit);
        }
        Ok(())
    }

    /// A chunk at `offset` was refused at `now` (a protocol error from the client): the
    /// `FETCH` it answers, if any, is used up without its credit coming back, so no new
    /// `FETCH` goes out for it, and the transfer backs off: no `HELLO` restores the credit
    /// for [`BACKOFF_BASE`], doubled for each refusal so far, at most [`BACKOFF_CAP`].
    pub fn refuse(&mut self, offset: u64, now: Instant) {
        self.in_flight.remove(&offset);
        self.refused = self.refused.saturating_add(1);
        let doublings = (self.refused - 1).min(16);
        let backoff = BACKOFF_BASE.saturating_mul(1 << doublings).min(BACKOFF_CAP);
        let until = now + backoff;
        self.quiet_until = Some(self.quiet_until.map_or(until, |t| t.max(until)));
    }

    /// The next range to `FETCH`, if the credit allows one and something is missing; costs
    /// one credit. Does not produce `DONE`: see [`TransferState::next_frame`].
    pub fn next_fetch(&mut self) -> Option<Range<u64>> {
        if self.credit == 0 {
            return None;
        }
        let range = match self.select(self.cursor) {
            Some(range) => range,
            // Nothing missing past the cursor and nothing in flight: what is still missing
            // was lost or answered short, so go round again.
            None if self.in_flight.is_empty() => self.select(0)?,
            None => return None,
        };
        self.cursor = range.end;
        self.credit -= 1;
        self.in_flight.insert(range.start, range.end);
        Some(range)
    }

    /// The next frame to send the client: a `FETCH` while the credit allows, or `DONE` once
    /// the transfer is complete (only once, until the next [`on_hello`]). Call it after each
    /// frame from the client until it returns `None`.
    ///
    /// [`on_hello`]: TransferState::on_hello
    pub fn next_frame(&mut self) -> Option<ServerFrame> {
        if self.is_complete() {
            if self.done_sent {
                return None;
            }
            self.done_sent = true;
            return Some(ServerFrame::Done);
        }
        self.next_fetch().map(ServerFrame::fetch)
    }

    /// The window from `cursor` met with the first missing range that ends past it.
    fn select(&self, cursor: u64) -> Option<Range<u64>> {
        let i = self.missing.partition_point(|m| m.end <= cursor);
        let first = self.missing.get(i)?;
        let start = if first.start >= cursor.saturating_add(self.chunk) {
            first.start
        } else {
            cursor
        };
        ranges::intersect(first, &(start..start.saturating_add(self.chunk)))
    }
}

/// A chunk the master could not take: refused, or not written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkError {
    /// The chunk was refused (see [`TransferState::check_chunk`]); nothing was written.
    #[error(transparent)]
    Invalid(#[from] ProtocolError),
    /// Writing the chunk's bytes failed; they are still missing.
    #[error("writing {len} bytes at offset {offset} of the transfer file failed: {source}")]
    Write {
        /// Where the chunk starts.
        offset: u64,
        /// The chunk's length.
        len: u64,
        /// The error from `pwrite`.
        source: io::Error,
    },
}

/// A transfer and the file it fills: the file is sized to the transfer's size up front, and
/// each chunk is checked and then written at its offset (`pwrite`), so the file never grows
/// past the declared size.
#[derive(Debug)]
pub struct TransferFile {
    file: File,
    state: TransferState,
}

impl TransferFile {
    /// Sizes `file` (opened for writing) to `state.size()`, unless it has that length
    /// already, and takes both.
    ///
    /// # Errors
    ///
    /// The error from `fstat` or `ftruncate` if the file cannot be sized.
    pub fn new(file: File, state: TransferState) -> io::Result<Self> {
        if file.metadata()?.len() != state.size() {
            file.set_len(state.size())?;
        }
        Ok(TransferFile { file, state })
    }

    /// Handles one frame from the client, received at `now`: `HELLO` goes to
    /// [`TransferState::on_hello`] (the id is the caller's to check; a `HELLO` held back
    /// changes nothing), `CHUNK` to [`TransferFile::write_chunk`]. Then send what
    /// [`TransferState::next_frame`] gives.
    ///
    /// # Errors
    ///
    /// As [`TransferFile::write_chunk`].
    pub fn handle(&mut self, frame: &ClientFrame<'_>, now: Instant) -> Result<(), ChunkError> {
        match *frame {
            ClientFrame::Hello { .. } => {
                self.state.on_hello(now);
                Ok(())
            }
            ClientFrame::Chunk { offset, data } => self.write_chunk(offset, data, now),
        }
    }

    /// Writes `data` at `offset` and marks it received (received at `now`).
    ///
    /// # Errors
    ///
    /// [`ChunkError::Invalid`] if [`TransferState::check_chunk`] refuses the chunk: nothing
    /// is written, and the refusal is [recorded](TransferState::refuse) (no `FETCH` is
    /// earned, the transfer backs off); [`ChunkError::Write`] if writing fails (the bytes
    /// stay missing).
    pub fn write_chunk(
        &mut self,
        offset: u64,
        data: &[u8],
        now: Instant,
    ) -> Result<(), ChunkError> {
        let len = data.len() as u64;
        if let Err(e) = self.state.check_chunk(offset, len) {
            self.state.refuse(offset, now);
            return Err(e.into());
        }
        self.file
            .write_all_at(data, offset)
            .map_err(|source| ChunkError::Write {
                offset,
                len,
                source,
            })?;
        self.state.on_chunk(offset, len, now)?;
        Ok(())
    }

    /// The transfer's state.
    pub fn state(&self) -> &TransferState {
        &self.state
    }

    /// The transfer's state, to drive it (`on_hello`, `next_frame`).
    pub fn state_mut(&mut self) -> &mut TransferState {
        &mut self.state
    }

    /// The file being filled.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The file and the state, e.g. to verify the file once complete.
    pub fn into_parts(self) -> (File, TransferState) {
        (self.file, self.state)
    }
}
