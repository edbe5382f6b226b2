//! Sending one regular file of the output directory: validators (a strong ETag from the
//! inode, size and modification time; `Last-Modified`), conditional requests (`304`,
//! `412`), `Cache-Control`, byte ranges (`206`, `multipart/byteranges` for several, `416`,
//! the whole file for overlapping or too many), and gzip
//! for pages (HTML, JSON, XML, CSS, JS, SVG), compressed once per version of a file and
//! kept in a bounded in-memory cache ([`PageCache`]), which keeps small pages as they are
//! too, so a request for one reads nothing but its metadata.
//!
//! Every page is written under a new inode (a temporary file renamed over the old one), so
//! the inode, size and nanosecond modification time name one content: the ETag is strong,
//! and the cache, keyed the same way, never serves an old page's bytes for a new one.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::http::{self, Coding, Ranged};

mod multipart;

/// Files up to this size are read whole when opened (and pages this small are kept in the
/// [`PageCache`] as they are).
const SMALL: u64 = 256 * 1024;
/// The largest page compressed; a bigger one is sent as it is.
const MAX_GZIP: u64 = 16 << 20;
/// The bytes of pages (compressed, and small ones as they are) kept by default.
pub const CACHE_BYTES: usize = 64 << 20;
/// The size of each read of a file sent in pieces.
const CHUNK: u64 = 256 * 1024;

/// How long clients and caches may keep an answer (`Cache-Control`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Pages (simple, project, JSON, the rest of the site): rewritten when builds land,
    /// so five minutes.
    Page,
    /// Wheels and their `.metadata`: a file name is one content for ever.
    Immutable,
    /// Build logs: written once, removed with their build.
    Log,
}

impl Freshness {
    /// The freshness of a file, by its name.
    pub fn of(name: &str) -> Freshness {
        if name.ends_with(".whl") || name.ends_with(".whl.metadata") {
            Freshness::Immutable
        } else if name.ends_with(".txt.gz") {
            Freshness::Log
        } else {
            Freshness::Page
        }
    }

    fn header(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Freshness::Page => "public, max-age=300",
            Freshness::Immutable => "public, max-age=31536000, immutable",
            Freshness::Log => "public, max-age=86400",
        })
    }
}

/// `Cache-Control` of a `404`: a missing page may appear at the next rewrite.
pub const NOT_FOUND_CACHE: &str = "public, max-age=60";

/// How a file's bytes are coded on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Always as it is (wheels, metadata, images, plain text).
    Plain,
    /// gzip for a client that takes it (pages).
    Compressible,
    /// Stored gzipped and sent so, with `Content-Encoding: gzip` (build logs, for a client
    /// that takes gzip).
    StoredGzip,
}

impl Kind {
    /// The kind of a file sent under `ctype`.
    pub fn of(ctype: &str) -> Kind {
        const PAGES: &[&str] = &[
            "text/html",
            "application/json",
            "application/vnd.pypi.simple.",
            "application/xml",
            "text/xsl",
            "text/css",
            "text/javascript",
            "image/svg+xml",
        ];
        if PAGES.iter().any(|p| ctype.starts_with(p)) {
            Kind::Compressible
        } else {
            Kind::Plain
        }
    }
}

/// Which version of which file: device, inode, size, modification time (s, ns).
type Key = (u64, u64, u64, i64, i64);

/// The coding of the bytes a [`PageCache`] entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Coded {
    /// The file as it is.
    Identity,
    /// Compressed with gzip.
    Gzip,
}

/// Pages kept in memory, each under the version of the file it was made from and its
/// coding: compressed pages (any size up to 16 MiB), and small pages (up to 256 KiB) as
/// they are. Up to a number of bytes in all, the two codings together (when
/// full, entries are dropped to make room; a replaced page's entries are never served again
/// and go the same way). An entry bigger than a quarter of that is not kept (a page that
/// big is compressed for each request).
#[derive(Debug)]
pub struct PageCache {
    inner: Mutex<CacheInner>,
    capacity: usize,
}

impl Default for PageCache {
    fn default() -> Self {
        PageCache::with_capacity(CACHE_BYTES)
    }
}

#[derive(Debug, Default)]
struct CacheInner {
    map: HashMap<(Key, Coded), Bytes>,
    bytes: usize,
}

impl PageCache {
    /// A cache of up to `capacity` bytes (0: every request reads and compresses its page).
    pub fn with_capacity(capacity: usize) -> PageCache {
        PageCache {
            inner: Mutex::default(),
            capacity,
        }
    }

    fn get(&self, key: &Key, coded: Coded) -> Option<Bytes> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.map.get(&(*key, coded)).cloned()
    }

    fn put(&self, key: Key, coded: Coded, bytes: Bytes) {
        if bytes.len() > self.capacity / 4 {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        while inner.bytes + bytes.len() > self.capacity {
            let Some(victim) = inner.map.keys().next().copied() else {
                break;
            };
            if let Some(old) = inner.map.remove(&victim) {
                inner.bytes -= old.len();
            }
        }
        inner.bytes += bytes.len();
        if let Some(old) = inner.map.insert((key, coded), bytes) {
            inner.bytes -= old.len();
        }
    }
}

/// An open regular file, its metadata, and its bytes if they were read.
struct Opened {
    file: File,
    key: Key,
    len: u64,
    modified: Option<SystemTime>,
    content: Option<Bytes>,
}

/// The file's `len` bytes; an error if it holds fewer (it was cut short since its `stat`).
fn read_whole(file: &File, len: u64) -> io::Result<Bytes> {
    let mut buf = Vec::with_capacity(len as usize);
    file.take(len).read_to_end(&mut buf)?;
    if (buf.len() as u64) < len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the file shrank",
        ));
    }
    Ok(buf.into())
}

/// An opened file with its metadata; `None` unless it is a regular file. When `read` and
/// it is small, its bytes too: a page's from the cache when there (else read, and kept),
/// any other file's read. In place, on the caller's thread (see the web server's docs: the
/// output directory is in the page cache).
fn open(
    cache: &PageCache,
    kind: Kind,
    file: File,
    meta: std::fs::Metadata,
    read: bool,
) -> Option<Opened> {
    if !meta.is_file() {
        return None;
    }
    let len = meta.len();
    let key = (meta.dev(), meta.ino(), len, meta.mtime(), meta.mtime_nsec());
    let content = if !read || len > SMALL {
        None
    } else if kind != Kind::Compressible {
        Some(read_whole(&file, len).ok()?)
    } else if let Some(kept) = cache.get(&key, Coded::Identity) {
        Some(kept)
    } else {
        let bytes = read_whole(&file, len).ok()?;
        cache.put(key, Coded::Identity, bytes.clone());
        Some(bytes)
    };
    Some(Opened {
        key,
        modified: meta.modified().ok(),
        file,
        len,
        content,
    })
}

/// The whole of a page (the `404` page), from the cache when it is small and there; `None`
/// if it is not a regular file or cannot be read.
pub fn page_bytes(cache: &PageCache, file: File, meta: std::fs::Metadata) -> Option<Bytes> {
    let opened = open(cache, Kind::Compressible, file, meta, true)?;
    match opened.content {
        Some(page) => Some(page),
        None => read_whole(&opened.file, opened.len).ok(),
    }
}

/// Reads up to `n` bytes at `pos` (fewer only at the end of the file).
fn read_piece(file: &File, pos: u64, n: usize) -> io::Result<Bytes> {
    let mut buf = vec![0; n];
    let mut got = 0;
    while got < n {
        match file.read_at(&mut buf[got..], pos + got as u64) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(got);
    Ok(buf.into())
}

/// The file's bytes `start..start+len`, read in pieces as the client takes them (in place,
/// without a copy).
fn pieces(
    file: Arc<File>,
    start: u64,
    len: u64,
) -> impl futures_util::Stream<Item = io::Result<Bytes>> + Send + 'static {
    let state = (Some(file), start, len);
    futures_util::stream::unfold(state, |(file, pos, left)| async move {
        let file = file?;
        if left == 0 {
            return None;
        }
        let n = left.min(CHUNK) as usize;
        match read_piece(&file, pos, n) {
            Ok(buf) if !buf.is_empty() => {
                let k = buf.len() as u64;
                Some((Ok(buf), (Some(file), pos + k, left - k)))
            }
            Ok(_) => Some((
                Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the file shrank",
                )),
                (None, pos, 0),
            )),
            Err(e) => Some((Err(e), (None, pos, 0))),
        }
    })
}

/// The bytes `start..start+len` of an opened file as a body.
fn body_of(opened: Opened, start: u64, len: u64) -> Body {
    match opened.content {
        Some(all) => Body::from(all.slice(start as usize..(start + len) as usize)),
        None => Body::from_stream(pieces(Arc::new(opened.file), start, len)),
    }
}

/// The gzip of an opened page, from the cache or made now (and kept).
async fn gzipped(cache: &PageCache, opened: Opened) -> Option<Bytes> {
    if let Some(gz) = cache.get(&opened.key, Coded::Gzip) {
        return Some(gz);
    }
    let key = opened.key;
    let gz = tokio::task::spawn_blocking(move || -> io::Result<Bytes> {
        let data = match opened.content {
            Some(c) => c,
            None => read_whole(&opened.file, opened.len)?,
        };
        let mut enc = flate2::write::GzEncoder::new(
            Vec::with_capacity(data.len() / 4 + 64),
            flate2::Compression::default(),
        );
        enc.write_all(&data)?;
        Ok(enc.finish()?.into())
    })
    .await
    .ok()?
    .ok()?;
    cache.put(key, Coded::Gzip, gz.clone());
    Some(gz)
}

fn set(headers: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// Sends the opened `file` (its metadata `meta`) as `ctype` (see the module docs); `None` if it is not
/// a regular file or cannot be opened (the caller answers `404`).
pub async fn send(
    cache: &PageCache,
    (file, meta): (File, std::fs::Metadata),
    ctype: &'static str,
    kind: Kind,
    freshness: Freshness,
    h: &HeaderMap,
    method: &Method,
) -> Option<Response> {
    let head = method == Method::HEAD;
    let ranged = h.contains_key(header::RANGE);
    let coding = match kind {
        // Ranges are never compressed: they count bytes of the file itself.
        Kind::Compressible if ranged => Coding::Identity,
        Kind::Compressible => http::choose_coding(h),
        Kind::Plain | Kind::StoredGzip => Coding::Identity,
    };
    let conditional =
        h.contains_key(header::IF_NONE_MATCH) || h.contains_key(header::IF_MODIFIED_SINCE);
    let read = !head && !conditional && coding == Coding::Identity;
    let opened = open(cache, kind, file, meta, read)?;
    let gzip = coding == Coding::Gzip && opened.len <= MAX_GZIP;

    let mut out = HeaderMap::new();
    let mut etag = format!(
        "{:x}-{:x}-{:x}",
        opened.key.1,
        opened.len,
        opened
            .key
            .3
            .wrapping_mul(1_000_000_000)
            .wrapping_add(opened.key.4)
    );
    if gzip {
        etag.push_str("-gz");
    }
    set(&mut out, header::ETAG, &format!("\"{etag}\""));
    if let Some(m) = opened.modified {
        set(&mut out, header::LAST_MODIFIED, &http::http_date(m));
    }
    out.insert(header::CACHE_CONTROL, freshness.header());
    if kind != Kind::Plain {
        out.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    if gzip || kind == Kind::StoredGzip {
        out.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }

    if coding == Coding::Neither {
        let mut resp =
            (StatusCode::NOT_ACCEPTABLE, "No acceptable content coding\n").into_response();
        resp.headers_mut().extend(out);
        return Some(resp);
    }
    if http::match_fails(h, &etag) {
        let mut resp = StatusCode::PRECONDITION_FAILED.into_response();
        resp.headers_mut().extend(out);
        return Some(resp);
    }
    let fresh = match http::none_match_hits(h, &etag) {
        Some(hit) => hit,
        None => http::not_modified_since(h, opened.modified),
    };
    if fresh {
        let mut resp = StatusCode::NOT_MODIFIED.into_response();
        resp.headers_mut().extend(out);
        return Some(resp);
    }
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));

    if gzip {
        let gz = gzipped(cache, opened).await?;
        set(&mut out, header::CONTENT_LENGTH, &gz.len().to_string());
        let body = if head { Body::empty() } else { Body::from(gz) };
        let mut resp = Response::new(body);
        *resp.headers_mut() = out;
        return Some(resp);
    }

    out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let len = opened.len;
    let wanted = if ranged && http::if_range_holds(h, &etag, opened.modified) {
        http::range(h, len)
    } else {
        Ranged::Whole
    };
    let (status, start, count) = match wanted {
        Ranged::Whole => (StatusCode::OK, 0, len),
        Ranged::Part { start, end } => {
            set(
                &mut out,
                header::CONTENT_RANGE,
                &format!("bytes {start}-{end}/{len}"),
            );
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
        Ranged::Parts(parts) => {
            return Some(multipart::answer(opened, &parts, ctype, &etag, head, out));
        }
        Ranged::Unsatisfiable => {
            set(&mut out, header::CONTENT_RANGE, &format!("bytes */{len}"));
            out.remove(header::CONTENT_TYPE);
            let mut resp = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            resp.headers_mut().extend(out);
            return Some(resp);
        }
    };
    set(&mut out, header::CONTENT_LENGTH, &count.to_string());
    let body = if head || count == 0 {
        Body::empty()
    } else {
        body_of(opened, start, count)
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    *resp.headers_mut() = out;
    Some(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_cache_keeps_within_its_cap() {
        let cache = PageCache::with_capacity(1000);
        for i in 0..100u64 {
            let coded = if i % 2 == 0 {
                Coded::Identity
            } else {
                Coded::Gzip
            };
            let len = 50 + (i as usize * 7) % 200;
            cache.put((1, i, len as u64, 0, 0), coded, Bytes::from(vec![0; len]));
            let inner = cache.inner.lock().unwrap();
            assert!(inner.bytes <= 1000, "{} bytes kept", inner.bytes);
            let held: usize = inner.map.values().map(Bytes::len).sum();
            assert_eq!(held, inner.bytes, "the count matches what is held");
            assert!(inner.map.contains_key(&((1, i, len as u64, 0, 0), coded)));
        }
        // The same version under both codings: two entries.
        let key = (2, 2, 2, 2, 2);
        cache.put(key, Coded::Identity, Bytes::from_static(b"ab"));
        cache.put(key, Coded::Gzip, Bytes::from_static(b"gz"));
        assert_eq!(
            cache.get(&key, Coded::Identity).as_deref(),
            Some(&b"ab"[..])
        );
        assert_eq!(cache.get(&key, Coded::Gzip).as_deref(), Some(&b"gz"[..]));
        // Bigger than a quarter of the cap: not kept.
        cache.put((3, 3, 3, 3, 3), Coded::Identity, Bytes::from(vec![0; 251]));
        assert_eq!(cache.get(&(3, 3, 3, 3, 3), Coded::Identity), None);
        assert!(cache.inner.lock().unwrap().bytes <= 1000);
        // Nothing at all in a cache of no bytes.
        let none = PageCache::with_capacity(0);
        none.put(key, Coded::Identity, Bytes::from_static(b"ab"));
        assert_eq!(none.get(&key, Coded::Identity), None);
    }
}
