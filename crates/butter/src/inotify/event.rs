//! inotify events: the record parser, the event types and move pairing.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fmt;
use std::ops::Deref;
use std::os::unix::ffi::OsStrExt;

use super::{Mask, Wd};

/// The size of an event record's fixed header (`struct inotify_event` without its name).
pub const HEADER_SIZE: usize = 16;

/// A buffer this large always holds the next event: the header plus the longest name
/// (`NAME_MAX`) and its terminating NUL.
pub const MIN_READ_BUFFER: usize = HEADER_SIZE + libc::NAME_MAX as usize + 1;

/// A file name from an event: bytes, as the kernel gave them (no encoding is assumed).
///
/// Names of up to 22 bytes — most names — are kept inline, without an allocation.
#[derive(Clone)]
pub struct Name(NameRepr);

const INLINE: usize = 22;

#[derive(Clone)]
enum NameRepr {
    Inline(u8, [u8; INLINE]),
    Heap(Box<[u8]>),
}

impl Name {
    /// The name as an `OsStr`, to join onto a path.
    pub fn as_os_str(&self) -> &OsStr {
        OsStr::from_bytes(self.as_bytes())
    }

    /// The name's bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            NameRepr::Inline(len, bytes) => &bytes[..*len as usize],
            NameRepr::Heap(bytes) => bytes,
        }
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Name {}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Name) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Name {
    fn cmp(&self, other: &Name) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl std::hash::Hash for Name {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state)
    }
}

impl Deref for Name {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for Name {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<OsStr> for Name {
    fn as_ref(&self) -> &OsStr {
        self.as_os_str()
    }
}

impl AsRef<std::path::Path> for Name {
    fn as_ref(&self) -> &std::path::Path {
        self.as_os_str().as_ref()
    }
}

impl From<&[u8]> for Name {
    #[inline]
    fn from(bytes: &[u8]) -> Name {
        if bytes.len() <= INLINE {
            let mut inline = [0; INLINE];
            inline[..bytes.len()].copy_from_slice(bytes);
            Name(NameRepr::Inline(bytes.len() as u8, inline))
        } else {
            Name(NameRepr::Heap(bytes.into()))
        }
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.as_bytes().escape_ascii())
    }
}

/// What happened, from an event's mask: one kind per event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// `IN_ACCESS`: a file was read.
    Access,
    /// `IN_MODIFY`: a file was written.
    Modify,
    /// `IN_ATTRIB`: metadata changed (permissions, timestamps, owner, links, xattrs).
    Attrib,
    /// `IN_CLOSE_WRITE`: a file opened for writing was closed.
    CloseWrite,
    /// `IN_CLOSE_NOWRITE`: a file not opened for writing was closed.
    CloseNoWrite,
    /// `IN_OPEN`: a file or directory was opened.
    Open,
    /// `IN_MOVED_FROM`: an entry was renamed away from the watched directory.
    MovedFrom,
    /// `IN_MOVED_TO`: an entry was renamed into the watched directory.
    MovedTo,
    /// `IN_CREATE`: an entry was created in the watched directory.
    Create,
    /// `IN_DELETE`: an entry was deleted from the watched directory.
    Delete,
    /// `IN_DELETE_SELF`: the watched object itself was deleted.
    DeleteSelf,
    /// `IN_MOVE_SELF`: the watched object itself was moved.
    MoveSelf,
    /// `IN_UNMOUNT`: the filesystem holding the watched object was unmounted.
    Unmount,
    /// `IN_IGNORED`: the watch is gone (removed, its object deleted, or unmounted); its
    /// descriptor is no longer valid.
    Ignored,
    /// A mask with no known event bit.
    Unknown,
}

impl EventKind {
    /// The kind an event mask describes.
    pub fn of(mask: Mask) -> EventKind {
        const KINDS: [(Mask, EventKind); 14] = [
            (Mask::ACCESS, EventKind::Access),
            (Mask::MODIFY, EventKind::Modify),
            (Mask::ATTRIB, EventKind::Attrib),
            (Mask::CLOSE_WRITE, EventKind::CloseWrite),
            (Mask::CLOSE_NOWRITE, EventKind::CloseNoWrite),
            (Mask::OPEN, EventKind::Open),
            (Mask::MOVED_FROM, EventKind::MovedFrom),
            (Mask::MOVED_TO, EventKind::MovedTo),
            (Mask::CREATE, EventKind::Create),
            (Mask::DELETE, EventKind::Delete),
            (Mask::DELETE_SELF, EventKind::DeleteSelf),
            (Mask::MOVE_SELF, EventKind::MoveSelf),
            (Mask::UNMOUNT, EventKind::Unmount),
            (Mask::IGNORED, EventKind::Ignored),
        ];
        KINDS
            .iter()
            .find(|(bit, _)| mask.contains(*bit))
            .map_or(EventKind::Unknown, |(_, kind)| *kind)
    }

    /// The mask bit of this kind (empty for `Unknown`).
    pub fn mask(self) -> Mask {
        match self {
            EventKind::Access => Mask::ACCESS,
            EventKind::Modify => Mask::MODIFY,
            EventKind::Attrib => Mask::ATTRIB,
            EventKind::CloseWrite => Mask::CLOSE_WRITE,
            EventKind::CloseNoWrite => Mask::CLOSE_NOWRITE,
            EventKind::Open => Mask::OPEN,
            EventKind::MovedFrom => Mask::MOVED_FROM,
            EventKind::MovedTo => Mask::MOVED_TO,
            EventKind::Create => Mask::CREATE,
            EventKind::Delete => Mask::DELETE,
            EventKind::DeleteSelf => Mask::DELETE_SELF,
            EventKind::MoveSelf => Mask::MOVE_SELF,
            EventKind::Unmount => Mask::UNMOUNT,
            EventKind::Ignored => Mask::IGNORED,
            EventKind::Unknown => Mask::empty(),
        }
    }
}

/// An event about a watch: which watch, what happened, and to which entry.
///
/// `N` is how the name is held: [`Name`] (owned) in [`Event`], `&[u8]` (borrowed from the
/// read buffer) in [`EventRef`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WatchEvent<N = Name> {
    /// The watch the event is about.
    pub wd: Wd,
    /// The event's mask: one event bit, plus `ISDIR` for directories.
    pub mask: Mask,
    /// Links the two halves of a rename (`MOVED_FROM`, `MOVED_TO`); 0 otherwise.
    pub cookie: u32,
    /// The entry's name, for events about an entry of a watched directory; `None` for
    /// events about the watched object itself.
    pub name: Option<N>,
}

impl<N: AsRef<[u8]>> WatchEvent<N> {
    /// What happened.
    pub fn kind(&self) -> EventKind {
        EventKind::of(self.mask)
    }

    /// Whether the subject is a directory (`IN_ISDIR`).
    pub fn is_dir(&self) -> bool {
        self.mask.contains(Mask::ISDIR)
    }

    /// The entry's name as bytes, if the event is about an entry.
    pub fn name_bytes(&self) -> Option<&[u8]> {
        self.name.as_ref().map(|n| n.as_ref())
    }

    /// The entry's name as an `OsStr`, to join onto the watched directory's path.
    pub fn name_os(&self) -> Option<&OsStr> {
        self.name_bytes().map(OsStr::from_bytes)
    }

    /// The rename cookie, for the halves of a rename.
    pub fn move_cookie(&self) -> Option<u32> {
        self.mask
            .intersects(Mask::MOVED_FROM | Mask::MOVED_TO)
            .then_some(self.cookie)
    }

    /// Whether the event is either close (`IN_CLOSE_WRITE` or `IN_CLOSE_NOWRITE`).
    pub fn is_close(&self) -> bool {
        self.mask.intersects(Mask::CLOSE)
    }
}

impl WatchEvent<&[u8]> {
    /// The event with its name copied out of the read buffer.
    #[inline]
    pub fn to_owned(&self) -> WatchEvent {
        WatchEvent {
            wd: self.wd,
            mask: self.mask,
            cookie: self.cookie,
            name: self.name.map(Name::from),
        }
    }
}

/// An inotify event: either about a watch, or the queue overflow.
///
/// The overflow is its own variant so that it cannot be filtered out by watch, mistaken for a
/// watch's event, or forgotten in a `match`: when it comes, events were lost and anything
/// that mirrors the watched files must be rescanned.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[must_use]
pub enum Event<N = Name> {
    /// `IN_Q_OVERFLOW`: the kernel's queue (`fs.inotify.max_queued_events`) filled and
    /// events were dropped after this point until it drained.
    Overflow,
    /// An event about a watch.
    Watch(WatchEvent<N>),
}

/// An event whose name borrows from the read buffer.
pub type EventRef<'a> = Event<&'a [u8]>;

impl<N> Event<N> {
    /// Whether this is the queue overflow.
    pub fn is_overflow(&self) -> bool {
        matches!(self, Event::Overflow)
    }

    /// The watch event, unless this is the overflow.
    pub fn as_watch(&self) -> Option<&WatchEvent<N>> {
        match self {
            Event::Watch(w) => Some(w),
            Event::Overflow => None,
        }
    }
}

impl EventRef<'_> {
    /// The event with its name copied out of the read buffer.
    #[inline]
    pub fn to_owned(&self) -> Event {
        match self {
            Event::Overflow => Event::Overflow,
            Event::Watch(w) => Event::Watch(w.to_owned()),
        }
    }
}

/// A malformed record in an inotify read buffer. The kernel never produces one; a buffer
/// from elsewhere might.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseError {
    /// Where the bad record starts.
    pub offset: usize,
    /// Bytes the record says it needs from `offset`.
    pub needed: u64,
    /// Bytes the buffer has from `offset`.
    pub available: usize,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "truncated inotify record at byte {}: needs {} bytes, {} left",
            self.offset, self.needed, self.available
        )
    }
}

impl std::error::Error for ParseError {}

/// Parses the records of an inotify read buffer, borrowing names from it.
///
/// Each record is a 16-byte header (`wd`, `mask`, `cookie`, `len`, native-endian) and `len`
/// bytes of NUL-padded name; the name ends at its first NUL. Every step moves forward at
/// least 16 bytes, and a record that claims more bytes than are left yields one
/// [`ParseError`] and ends the iteration, so no input makes it panic or loop.
pub fn parse(buf: &[u8]) -> Parser<'_> {
    Parser { buf, pos: 0 }
}

/// The iterator of [`parse`].
#[derive(Debug, Clone)]
pub struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    /// The bytes not parsed yet.
    pub fn remaining(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }
}

#[inline(always)]
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl<'a> Iterator for Parser<'a> {
    type Item = Result<EventRef<'a>, ParseError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let rest = &self.buf[self.pos..];
        if rest.is_empty() {
            return None;
        }
        let truncated = |needed: u64| {
            Some(Err(ParseError {
                offset: self.pos,
                needed,
                available: rest.len(),
            }))
        };
        let Some(header) = rest.get(..HEADER_SIZE) else {
            let err = truncated(HEADER_SIZE as u64);
            self.pos = self.buf.len();
            return err;
        };
        let wd = u32_at(header, 0) as i32;
        let mask = Mask::from_bits_retain(u32_at(header, 4));
        let cookie = u32_at(header, 8);
        let len = u32_at(header, 12) as usize;
        let Some(padded) = rest.get(HEADER_SIZE..).and_then(|r| r.get(..len)) else {
            let err = truncated(HEADER_SIZE as u64 + len as u64);
            self.pos = self.buf.len();
            return err;
        };
        self.pos += HEADER_SIZE + len;
        if mask.contains(Mask::Q_OVERFLOW) {
            return Some(Ok(Event::Overflow));
        }
        let name = if len == 0 {
            None
        } else {
            let end = padded.iter().position(|&b| b == 0).unwrap_or(len);
            Some(&padded[..end])
        };
        Some(Ok(Event::Watch(WatchEvent {
            wd: Wd(wd),
            mask,
            cookie,
            name,
        })))
    }
}

/// The two halves of one rename, as positions in a slice of events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Move {
    /// The cookie both halves carry.
    pub cookie: u32,
    /// The `MOVED_FROM` event; `None` if the entry came from outside the watched
    /// directories.
    pub from: Option<usize>,
    /// The `MOVED_TO` event; `None` if the entry left the watched directories.
    pub to: Option<usize>,
}

/// Pairs the `MOVED_FROM` and `MOVED_TO` events of `events` by cookie, in order of first
/// appearance. The halves are usually, but not always, adjacent; a half whose partner is
/// not in the slice is reported alone.
pub fn pair_moves<N: AsRef<[u8]>>(events: &[Event<N>]) -> Vec<Move> {
    let mut moves: Vec<Move> = Vec::new();
    // Cookie -> the move still missing a half.
    let mut open: HashMap<u32, usize> = HashMap::new();
    for (i, ev) in events.iter().enumerate() {
        let Some(w) = ev.as_watch() else { continue };
        let Some(cookie) = w.move_cookie() else {
            continue;
        };
        let from = w.mask.contains(Mask::MOVED_FROM);
        if let Some(&at) = open.get(&cookie) {
            let m = &mut moves[at];
            let half = if from { &mut m.from } else { &mut m.to };
            if half.is_none() {
                *half = Some(i);
                open.remove(&cookie);
                continue;
            }
        }
        open.insert(cookie, moves.len());
        moves.push(Move {
            cookie,
            from: from.then_some(i),
            to: (!from).then_some(i),
        });
    }
    moves
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_inline_and_on_the_heap_behave_alike() {
        for len in [0, 1, INLINE - 1, INLINE, INLINE + 1, 255] {
            let bytes: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let name = Name::from(&bytes[..]);
            assert_eq!(name.as_bytes(), &bytes[..]);
            assert_eq!(&*name, &bytes[..]);
            assert_eq!(name.clone(), name);
            assert_eq!(name.as_os_str().len(), len);
        }
        assert!(Name::from(&b"a"[..]) < Name::from(&[b'b'; 30][..]));
        assert_eq!(std::mem::size_of::<Event>(), 40);
    }
}
