//! Reading the project list as it arrives, with memory bounded by the list kept (each
//! project's name and `_last-serial`), not by the size of the answer: the PEP 691 JSON list
//! through a serde visitor that skips every other field unread into memory, the PEP 503
//! HTML list in chunks of which only an anchor not yet closed is carried over.

use std::fmt;
use std::io::{self, Read};

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::pages::{PageError, anchors_from};
use super::{ProjectEntry, ProjectList};

/// How much of an HTML list is read before it is parsed (at least; more while an anchor
/// is not closed, so that a long one is not parsed again for every chunk).
const HTML_CHUNK: usize = 64 << 10;

/// Why reading a project list failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The answer could not be read (the connection broke, a timeout).
    #[error("reading the answer: {0}")]
    Io(io::Error),
    /// What was read is not a project list (or is larger than the limit).
    #[error("{0}")]
    Page(PageError),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        match e.get_ref().and_then(|i| i.downcast_ref::<TooLarge>()) {
            Some(TooLarge(limit)) => ReadError::Page(PageError::TooLarge(*limit)),
            None => ReadError::Io(e),
        }
    }
}

/// The error a [`Limited`] reader fails with past its limit.
#[derive(Debug, thiserror::Error)]
#[error("larger than {0} bytes")]
struct TooLarge(u64);

/// A reader that fails (with [`PageError::TooLarge`] once through [`ReadError`]) when
/// more than `limit` bytes come out of `inner`.
#[derive(Debug)]
pub struct Limited<R> {
    inner: R,
    read: u64,
    limit: u64,
}

impl<R: Read> Limited<R> {
    /// At most `limit` bytes of `inner`.
    pub fn new(inner: R, limit: u64) -> Self {
        Limited {
            inner,
            read: 0,
            limit,
        }
    }
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // One byte more than allowed may be asked for, to tell "exactly the limit" from
        // "more".
        let room = (self.limit - self.read.min(self.limit)).saturating_add(1);
        let want = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(io::Error::other(TooLarge(self.limit)));
        }
        Ok(n)
    }
}

/// Reads a PEP 691 JSON project list from `reader` as it arrives. The document must be an
/// object with a `projects` array (else [`PageError::NoProjects`]); an entry without a
/// string `name` is passed over, a `_last-serial` that is not an integer is `None`.
pub fn read_project_list_json<R: Read>(reader: R) -> Result<ProjectList, ReadError> {
    let mut de = serde_json::Deserializer::from_reader(io::BufReader::new(reader));
    let doc = <ListDoc as de::Deserialize>::deserialize(&mut de)
        .and_then(|doc| de.end().map(|()| doc))
        .map_err(json_error)?;
    doc.into_list().map_err(ReadError::Page)
}

/// Parses a PEP 691 JSON project list held in memory.
pub fn parse_project_list_json(text: &str) -> Result<ProjectList, PageError> {
    let doc: ListDoc = serde_json::from_str(text)?;
    doc.into_list()
}

fn json_error(e: serde_json::Error) -> ReadError {
    if e.is_io() {
        ReadError::from(io::Error::from(e))
    } else {
        ReadError::Page(e.into())
    }
}

/// Reads a PEP 503 HTML project list (the text of each anchor is a project's name) from
/// `reader` as it arrives, in chunks.
pub fn read_project_list_html<R: Read>(mut reader: R) -> Result<ProjectList, ReadError> {
    let mut projects = Vec::new();
    let mut buf: Vec<u8> = Vec::with_capacity(2 * HTML_CHUNK);
    // How many bytes at the start of `buf` were there at the last parse (and left over).
    let mut carried = 0;
    let mut chunk = vec![0u8; HTML_CHUNK];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        buf.extend_from_slice(&chunk[..n]);
        let at_end = n == 0;
        // Parse once the new part is as long as the part carried over (so a long anchor is
        // re-read a logarithmic number of times), or at the end.
        if !at_end && buf.len() - carried < HTML_CHUNK.max(carried) {
            continue;
        }
        let text = match std::str::from_utf8(&buf) {
            Ok(text) => text,
            // A character cut by the end of the chunk: parse up to it.
            Err(e) if e.error_len().is_none() && !at_end => {
                std::str::from_utf8(&buf[..e.valid_up_to()]).unwrap_or_default()
            }
            Err(_) => return Err(ReadError::Page(PageError::NotUtf8)),
        };
        let (anchors, used) = anchors_from(text, at_end);
        projects.extend(anchors.into_iter().filter_map(|a| {
            let name = a.text.trim();
            (!name.is_empty()).then(|| ProjectEntry {
                name: name.to_owned(),
                last_serial: None,
            })
        }));
        if at_end {
            break;
        }
        buf.drain(..used);
        carried = buf.len();
    }
    projects.shrink_to_fit();
    Ok(ProjectList {
        projects,
        last_serial: None,
    })
}

/// The parts of a JSON project list kept.
#[derive(Default)]
struct ListDoc {
    projects: Option<Vec<ProjectEntry>>,
    last_serial: Option<i64>,
}

impl ListDoc {
    fn into_list(self) -> Result<ProjectList, PageError> {
        let mut projects = self.projects.ok_or(PageError::NoProjects)?;
        projects.shrink_to_fit();
        Ok(ProjectList {
            projects,
            last_serial: self.last_serial,
        })
    }
}

/// Passes over the rest of a sequence or map, reading nothing into memory.
fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map
        .next_entry::<IgnoredAny, IgnoredAny>()
        .map(|e| e.is_some())?
    {}
    Ok(())
}

/// Implements the visits of a lenient visitor that take anything other than a map (or a
/// sequence) and give `$value`, reading nested values into nothing.
macro_rules! anything_else {
    ($value:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
}

impl<'de> de::Deserialize<'de> for ListDoc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DocVisitor)
    }
}

struct DocVisitor;

impl<'de> Visitor<'de> for DocVisitor {
    type Value = ListDoc;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a project list")
    }

    anything_else!(ListDoc::default());

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<ListDoc, A::Error> {
        drain_seq(seq).map(|()| ListDoc::default())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ListDoc, A::Error> {
        let mut doc = ListDoc::default();
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Projects => doc.projects = map.next_value_seed(ProjectsSeed)?,
                Key::Meta => doc.last_serial = map.next_value_seed(MetaSeed)?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(doc)
    }
}

/// The keys looked at, anywhere in the list.
enum Key {
    Projects,
    Meta,
    Name,
    LastSerial,
    Other,
}

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, k: &str) -> Result<Key, E> {
                Ok(match k {
                    "projects" => Key::Projects,
                    "meta" => Key::Meta,
                    "name" => Key::Name,
                    "_last-serial" => Key::LastSerial,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// `projects`: `None` unless an array.
struct ProjectsSeed;

impl<'de> DeserializeSeed<'de> for ProjectsSeed {
    type Value = Option<Vec<ProjectEntry>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ProjectsSeed {
    type Value = Option<Vec<ProjectEntry>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of projects")
    }

    anything_else!(None);

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        drain_map(map).map(|()| None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut projects = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
        while let Some(entry) = seq.next_element_seed(EntrySeed)? {
            projects.extend(entry);
        }
        Ok(Some(projects))
    }
}

/// One entry of `projects`: `None` unless an object with a non-blank string `name`.
struct EntrySeed;

impl<'de> DeserializeSeed<'de> for EntrySeed {
    type Value = Option<ProjectEntry>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for EntrySeed {
    type Value = Option<ProjectEntry>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a project")
    }

    anything_else!(None);

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        drain_seq(seq).map(|()| None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut name, mut last_serial) = (None, None);
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Name => name = map.next_value_seed(StrSeed)?,
                Key::LastSerial => last_serial = map.next_value_seed(SerialSeed)?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(name.map(|name| ProjectEntry { name, last_serial }))
    }
}

/// `meta`: its `_last-serial`.
struct MetaSeed;

impl<'de> DeserializeSeed<'de> for MetaSeed {
    type Value = Option<i64>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MetaSeed {
    type Value = Option<i64>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the list's meta")
    }

    anything_else!(None);

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        drain_seq(seq).map(|()| None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut serial = None;
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::LastSerial => serial = map.next_value_seed(SerialSeed)?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(serial)
    }
}

/// A name: `Some` for a string that is not blank (trimmed), `None` for anything else.
struct StrSeed;

impl<'de> DeserializeSeed<'de> for StrSeed {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrSeed {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a name")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        let s = s.trim();
        Ok((!s.is_empty()).then(|| s.to_owned()))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        drain_seq(seq).map(|()| None)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        drain_map(map).map(|()| None)
    }
}

/// A serial: `Some` for an integer that fits an `i64`, `None` for anything else.
struct SerialSeed;

impl<'de> DeserializeSeed<'de> for SerialSeed {
    type Value = Option<i64>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for SerialSeed {
    type Value = Option<i64>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a serial")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(i64::try_from(v).ok())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        drain_seq(seq).map(|()| None)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        drain_map(map).map(|()| None)
    }
}
