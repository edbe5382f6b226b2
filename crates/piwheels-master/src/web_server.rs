//! The embedded web server: serves the output directory, as the original's Apache set-up
//! did (piwheels.md §6.9), so a single machine needs nothing else. Any static web server can
//! serve the same directory instead.
//!
//! - A directory answers with its `index.html`, else its `index.json` (a directory asked
//!   for without its trailing slash is redirected to it); there are no listings; anything
//!   missing answers `404.html` with status 404.
//! - Symlinks (the project aliases) are followed, but nothing outside the output directory
//!   is ever served: `..` segments (also percent-encoded) and hidden names are refused, and
//!   a path whose real location is outside the directory is not found.
//! - `/simple/` and `/simple/<package>/` negotiate PEP 691: `Accept:
//!   application/vnd.pypi.simple.v1+json` gets the JSON page, `…v1+html` or `text/html`
//!   (or nothing) the HTML one, with `Vary: Accept`. A non-canonical package name is
//!   redirected to the canonical one.
//! - `/project` redirects to `/packages.html`, `/p/<x>` to `/project/<x>/`.
//! - Build logs (`*.txt.gz`) are `text/plain` with `Content-Encoding: gzip` for clients that
//!   accept gzip, and inflated for those that do not.
//! - `/project/<name>/…` with a name that is not canonical (`/project/Six/`) is redirected
//!   to the canonical one, as `/simple/` is. A path longer than [`MAX_PATH`] is a `400`.
//! - Every answer has `Access-Control-Allow-Origin: *`. Files are sent by [the `file` module](self::file): strong
//!   ETags and `Last-Modified` (`304` for `If-None-Match` and `If-Modified-Since`, `412`
//!   when `If-Match` names another version), `Cache-Control` (pages five minutes, wheels
//!   and their metadata immutable, `404`s a minute), byte ranges (`206`, several ranges as
//!   `multipart/byteranges`; `416` with `Content-Range: bytes */len`; overlapping,
//!   unordered or more than 16 ranges get the whole file), and gzip for pages (HTML, JSON, XML) when the client
//!   takes it, with `Vary: Accept-Encoding`, compressed once per version of a page; small pages are kept in memory
//!   as they are too, so a request for one reads only its metadata.
//! - Each `GET` answered `200` that the original's `piw-logger` would log (a wheel
//!   download, an installer's index lookup, a project page or JSON, another page: see
//!   [`access_log`](crate::access_log)) is recorded straight into Lumberjack
//!   ([`WebServer::with_access_log`]), with the client's address and User-Agent, without
//!   waiting.
//! - The file system is asked in place, on the runtime's threads (resolving a path,
//!   `stat`, `open`, reading a page or a piece of a wheel): the output directory lives in
//!   the page cache, where each call takes microseconds, while handing each one to tokio's
//!   blocking pool cost a thread wake-up apiece, most of a small answer's time (measured by
//!   the `web_nginx` bench). Only compressing a page and inflating a build log, which take
//!   milliseconds, go to the blocking pool.
//! - Every accepted connection has `TCP_NODELAY` (see [`configure_connection`]): without
//!   it, each request after the first on a kept-alive connection (pip and uv reuse theirs)
//!   waited about 40 ms.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Read;
use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;

use crate::error::{Error, Result};
use crate::hub::{Hub, Task};
use crate::lumberjack::AccessLog;

pub mod file;
pub mod http;
mod serve;

use file::{Freshness, Kind, PageCache};

/// The longest request path served (bytes, as sent); a longer one is a `400`.
pub const MAX_PATH: usize = 2048;

/// The PEP 691 JSON content type.
pub const SIMPLE_JSON: &str = "application/vnd.pypi.simple.v1+json";
/// The PEP 691 HTML content type.
pub const SIMPLE_HTML: &str = "application/vnd.pypi.simple.v1+html";

/// The web server task (see the module docs).
pub struct WebServer {
    hub: Hub,
    listener: std::net::TcpListener,
    addr: SocketAddr,
    access_log: Option<AccessLog>,
}

impl std::fmt::Debug for WebServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl WebServer {
    /// Binds `hub.config.web_listen` (port 0 picks a free port; see
    /// [`local_addr`](Self::local_addr)). An error if it is `None` (the server is off) or
    /// cannot be bound.
    pub fn bind(hub: Hub) -> Result<WebServer> {
        let addr = hub.config.web_listen.ok_or_else(|| {
            Error::Other("the web server is turned off (no web-listen address)".into())
        })?;
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|e| Error::Other(format!("cannot listen for HTTP on {addr}: {e}")))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::Other(format!("cannot listen for HTTP on {addr}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Other(format!("the HTTP listener's address: {e}")))?;
        tracing::info!(%addr, "web server listening");
        Ok(WebServer {
            hub,
            listener,
            addr,
            access_log: None,
        })
    }

    /// Records the hits the original's logger would log into Lumberjack.
    #[must_use]
    pub fn with_access_log(mut self, access_log: AccessLog) -> Self {
        self.access_log = Some(access_log);
        self
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The HTTP service over an output directory (for embedding in another server).
    pub fn router(root: &Path) -> Result<Router> {
        WebServer::router_with_cache(root, file::CACHE_BYTES, None)
    }

    /// [`router`](Self::router), recording hits into `access_log` (the client's address
    /// is taken from axum's `ConnectInfo<SocketAddr>`; a request without one is not
    /// recorded).
    pub fn router_logging(root: &Path, access_log: Option<AccessLog>) -> Result<Router> {
        WebServer::router_with_cache(root, file::CACHE_BYTES, access_log)
    }

    /// [`router_logging`](Self::router_logging) keeping up to `cache_bytes` of pages,
    /// compressed and (small ones) as they are (0: each request reads and compresses its
    /// page, as a per-request compression layer would).
    pub fn router_with_cache(
        root: &Path,
        cache_bytes: usize,
        access_log: Option<AccessLog>,
    ) -> Result<Router> {
        Ok(Router::new()
            .fallback(handle)
            .with_state(Site::open(root, cache_bytes, access_log)?))
    }
}

impl Task for WebServer {
    const NAME: &'static str = "web_server";

    async fn run(&mut self) -> Result<()> {
        let std_listener = self
            .listener
            .try_clone()
            .map_err(|e| Error::Other(format!("the HTTP listener: {e}")))?;
        let listener = tokio::net::TcpListener::from_std(std_listener)
            .map_err(|e| Error::Other(format!("the HTTP listener: {e}")))?;
        let site = Site::open(
            &self.hub.config.output_path,
            file::CACHE_BYTES,
            self.access_log.clone(),
        )?;
        serve::serve(listener, site, self.hub.quit.clone()).await;
        Ok(())
    }
}

/// Sets up a connection the server has just accepted: turns on `TCP_NODELAY`, so what the
/// server writes leaves at once.
///
/// hyper writes an answer's head and its body (tower-http's file stream) separately. With
/// Nagle's algorithm on, the body then waits in the kernel until the client acknowledges
/// the head, and a client on a kept-alive connection delays that acknowledgement (delayed
/// ACK, up to 40 ms on Linux): every request after the first on a connection took ~40 ms.
/// A failure is logged; the connection is served anyway.
pub fn configure_connection(stream: &mut tokio::net::TcpStream) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::warn!(error = %e, "cannot set TCP_NODELAY on an HTTP connection");
    }
}

/// What the handler knows: the output directory, canonical, the pages it keeps, and
/// where hits are recorded.
struct Site {
    root: PathBuf,
    root_dir: File,
    pages: PageCache,
    access_log: Option<AccessLog>,
}

impl Site {
    fn open(root: &Path, cache_bytes: usize, access_log: Option<AccessLog>) -> Result<Arc<Site>> {
        let root = std::fs::canonicalize(root).map_err(|e| Error::io("opening", root, e))?;
        let root_dir = File::open(&root).map_err(|e| Error::io("opening", &root, e))?;
        Ok(Arc::new(Site {
            root,
            root_dir,
            pages: PageCache::with_capacity(cache_bytes),
            access_log,
        }))
    }
}

/// Which form of a simple page a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Json,
    V1Html,
    Html,
}

/// Reads `Accept` for a simple page: the supported type with the highest quality (the
/// first of equals); HTML when nothing supported is asked for.
fn negotiate(accept: Option<&str>) -> Form {
    let Some(accept) = accept else {
        return Form::Html;
    };
    let mut best: Option<(f32, Form)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut q = 1.0f32;
        for p in parts {
            if let Some(v) = p.trim().strip_prefix("q=") {
                q = v.trim().parse().unwrap_or(0.0);
            }
        }
        let form =
            match media.as_str() {
                "application/vnd.pypi.simple.v1+json"
                | "application/vnd.pypi.simple.latest+json" => Form::Json,
                "application/vnd.pypi.simple.v1+html"
                | "application/vnd.pypi.simple.latest+html" => Form::V1Html,
                "text/html" | "text/*" | "*/*" => Form::Html,
                _ => continue,
            };
        if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, form));
        }
    }
    best.map_or(Form::Html, |(_, f)| f)
}

/// The content type of a file, by its name.
fn content_type(name: &str) -> &'static str {
    let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "json" => "application/json",
        "whl" => "application/octet-stream",
        "metadata" | "txt" => "text/plain; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "xml" => "application/xml",
        "xsl" => "text/xsl",
        "gz" => "application/gzip",
        _ => "application/octet-stream",
    }
}

fn redirect(to: &str) -> Response {
    let mut resp = StatusCode::MOVED_PERMANENTLY.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

async fn not_found(site: &Site) -> Response {
    let mut resp = not_found_page(site).await;
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(file::NOT_FOUND_CACHE),
    );
    resp
}

async fn not_found_page(site: &Site) -> Response {
    let page = lookup(site, Path::new("404.html"))
        .and_then(|(file, meta)| file::page_bytes(&site.pages, file, meta));
    match page.ok_or(()) {
        Ok(page) => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            page,
        )
            .into_response(),
        Err(_) => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "Not found\n",
        )
            .into_response(),
    }
}

/// Opens `rel` (a path relative to the root, without `..`) if it exists and its real
/// location lies inside the root, with its metadata. One `openat2(RESOLVE_BENEATH)`: the
/// kernel follows symlinks and refuses any that lead out of the root (or are absolute).
/// Where the kernel has no `openat2` (before Linux 5.6, or filtered), the path is resolved
/// with `realpath` and checked.
fn lookup(site: &Site, rel: &Path) -> Option<(File, std::fs::Metadata)> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let open = || {
        rustix::fs::openat2(
            &site.root_dir,
            rel,
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
        )
    };
    // EAGAIN: a rename elsewhere raced a `..` of a symlink's path (the scribe renames
    // pages all the time); the kernel asks for another try.
    let mut opened = open();
    for _ in 0..8 {
        if !matches!(opened, Err(rustix::io::Errno::AGAIN)) {
            break;
        }
        opened = open();
    }
    let file = match opened {
        Ok(fd) => File::from(fd),
        Err(e) if e == rustix::io::Errno::NOSYS || e == rustix::io::Errno::PERM => {
            let real = std::fs::canonicalize(site.root.join(rel)).ok()?;
            if !real.starts_with(&site.root) {
                return None;
            }
            File::open(real).ok()?
        }
        Err(_) => return None,
    };
    let meta = file.metadata().ok()?;
    Some((file, meta))
}

async fn handle(State(site): State<Arc<Site>>, req: Request) -> Response {
    let hit = site.access_log.as_ref().and_then(|_| Hit::of(&req));
    let mut resp = respond(&site, req).await;
    if let (Some(hit), Some(log)) = (hit, &site.access_log)
        && resp.status() == StatusCode::OK
        && let Some(msg) =
            crate::access_log::classify(&hit.target, &hit.user_agent, hit.host, chrono::Utc::now())
    {
        log.record(msg);
    }
    resp.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    resp
}

async fn respond(site: &Site, req: Request) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut resp = StatusCode::METHOD_NOT_ALLOWED.into_response();
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return resp;
    }
    let raw = req.uri().path().to_owned();
    if raw.len() > MAX_PATH {
        return (StatusCode::BAD_REQUEST, "Request path too long\n").into_response();
    }
    let query = req
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let decoded: Vec<u8> = percent_decode_str(&raw).collect();
    let Some(segments) = path_segments(&decoded) else {
        return not_found(site).await;
    };
    if let Some(to) = shortcut(&segments, &raw) {
        return redirect(&to);
    }
    if let [b"project", name, ..] = segments[..]
        && let Some(canon) = canonical_other(name)
    {
        return redirect(&renamed(&segments, &raw, &canon, &query));
    }
    let trailing = raw.ends_with('/');
    let mut path = PathBuf::new();
    for s in &segments {
        path.push(OsStr::from_bytes(s));
    }
    if segments.first() == Some(&&b"simple"[..]) && segments.len() <= 2 && trailing {
        return simple_page(site, &segments, &path, &query, req).await;
    }
    if trailing && let Some(index) = index_html(site, &path) {
        return serve_file(site, index, "index.html", "text/html; charset=utf-8", req).await;
    }
    let Some((file, meta)) = lookup(site, &path) else {
        return not_found(site).await;
    };
    if meta.is_dir() {
        if !trailing {
            return redirect(&format!("{raw}/{query}"));
        }
        return directory_index(site, &path, req).await;
    }
    if trailing {
        return not_found(site).await;
    }
    let name = segments
        .last()
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .unwrap_or_default();
    if name.ends_with(".txt.gz") {
        return serve_log(site, file, meta, req).await;
    }
    serve_file(site, (file, meta), &name, content_type(&name), req).await
}

/// What the access log needs of a `GET` with a User-Agent from a known address.
struct Hit {
    target: String,
    user_agent: String,
    host: std::net::IpAddr,
}

impl Hit {
    fn of(req: &Request) -> Option<Hit> {
        if req.method() != Method::GET {
            return None;
        }
        let user_agent = req.headers().get(header::USER_AGENT)?;
        let addr = req
            .extensions()
            .get::<axum::extract::ConnectInfo<SocketAddr>>()?;
        Some(Hit {
            target: req.uri().path().to_owned(),
            user_agent: String::from_utf8_lossy(user_agent.as_bytes()).into_owned(),
            // An IPv4 client of a dual-stack socket is logged as IPv4.
            host: addr.0.ip().to_canonical(),
        })
    }
}

/// The segments of a decoded path; `None` for a path that is never served: one with a
/// NUL, or a segment starting with a dot (`..`, `.`, and hidden names, temporary files
/// among them).
fn path_segments(decoded: &[u8]) -> Option<Vec<&[u8]>> {
    if decoded.contains(&0) {
        return None;
    }
    let segments: Vec<&[u8]> = decoded
        .split(|b| *b == b'/')
        .filter(|s| !s.is_empty())
        .collect();
    if segments.iter().any(|s| s.starts_with(b".")) {
        return None;
    }
    Some(segments)
}

/// The canonical form of a project name in a path, if the name is valid UTF-8 and not
/// already canonical (and canonicalizing settles, so a redirect can never loop).
fn canonical_other(name: &[u8]) -> Option<String> {
    let name = std::str::from_utf8(name).ok()?;
    let canon = piwheels_db::canonicalize_name(name);
    (canon != name && !canon.is_empty() && piwheels_db::canonicalize_name(&canon) == canon)
        .then_some(canon)
}

/// What a path segment keeps unencoded in a redirect's `Location`.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The path of `decoded` (its segments) with its second segment (a project name) replaced
/// by `canon`, every segment percent-encoded again; it ends with a slash if `raw` did, or
/// if nothing follows the name.
fn renamed(segments: &[&[u8]], raw: &str, canon: &str, query: &str) -> String {
    let mut out = String::new();
    for (i, s) in segments.iter().enumerate() {
        out.push('/');
        let s: &[u8] = if i == 1 { canon.as_bytes() } else { s };
        out.extend(percent_encoding::percent_encode(s, SEGMENT));
    }
    if raw.ends_with('/') || segments.len() == 2 {
        out.push('/');
    }
    out.push_str(query);
    out
}

/// Where the original's short paths (`/project`, `/p/<name>`) lead, if `raw` is one.
fn shortcut(segments: &[&[u8]], raw: &str) -> Option<String> {
    match segments {
        [b"project"] => Some("/packages.html".to_owned()),
        [b"p", rest @ ..] if !rest.is_empty() => {
            let rest: Vec<&str> = raw.trim_matches('/').split('/').skip(1).collect();
            Some(format!(
                "/project/{}/",
                rest.join("/").trim_end_matches('/')
            ))
        }
        _ => None,
    }
}

/// A simple page (`/simple/` or `/simple/<name>/`, at `path`) in the form the request
/// accepts (PEP 691 negotiation); a name that is not canonical is redirected.
async fn simple_page(
    site: &Site,
    segments: &[&[u8]],
    path: &Path,
    query: &str,
    req: Request,
) -> Response {
    if let [_, name] = segments
        && let Some(canon) = canonical_other(name)
    {
        return redirect(&renamed(segments, "/", &canon, query));
    }
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let (file, ctype) = match negotiate(accept) {
        Form::Json => ("index.json", SIMPLE_JSON),
        Form::V1Html => ("index.html", SIMPLE_HTML),
        Form::Html => ("index.html", "text/html; charset=utf-8"),
    };
    let mut resp = match lookup(site, &path.join(file)) {
        Some(opened) => serve_file(site, opened, file, ctype, req).await,
        None => not_found(site).await,
    };
    // The page's coding depends on Accept-Encoding too (file::send says so when it does).
    let vary = if resp.headers().contains_key(header::VARY) {
        "Accept, Accept-Encoding"
    } else {
        "Accept"
    };
    resp.headers_mut()
        .insert(header::VARY, HeaderValue::from_static(vary));
    resp
}

/// `dir/index.html` if it is a regular file (inside the root, as [`lookup`] checks): one
/// `openat2` for the commonest request of all, a page asked for by its directory. When it
/// is not, the caller goes the long way ([`lookup`] of the directory, then
/// [`directory_index`]), which gives the same answer for this case and the right one for
/// the others (a file asked for with a slash, `index.json`, a missing directory).
fn index_html(site: &Site, dir: &Path) -> Option<(File, std::fs::Metadata)> {
    lookup(site, &dir.join("index.html")).filter(|(_, meta)| meta.is_file())
}

/// A directory's `index.html`, else its `index.json` (the project JSON lives at
/// `…/json/`); `dir` is relative to the root.
async fn directory_index(site: &Site, dir: &Path, req: Request) -> Response {
    for (name, ctype) in [
        ("index.html", "text/html; charset=utf-8"),
        ("index.json", "application/json"),
    ] {
        if let Some(index) = lookup(site, &dir.join(name)) {
            return serve_file(site, index, name, ctype, req).await;
        }
    }
    not_found(site).await
}

/// Sends an opened regular file named `name` (see [`file`]) under the content type given;
/// `404` if it is not one.
async fn serve_file(
    site: &Site,
    (file, meta): (File, std::fs::Metadata),
    name: &str,
    ctype: &'static str,
    req: Request,
) -> Response {
    let freshness = Freshness::of(name);
    match file::send(
        &site.pages,
        (file, meta),
        ctype,
        Kind::of(ctype),
        freshness,
        req.headers(),
        req.method(),
    )
    .await
    {
        Some(resp) => resp,
        None => not_found(site).await,
    }
}

/// Serves a gzipped build log: as it is with `Content-Encoding: gzip`, or inflated for a
/// client that does not take gzip.
async fn serve_log(site: &Site, file: File, meta: std::fs::Metadata, req: Request) -> Response {
    const TEXT: &str = "text/plain; charset=utf-8";
    if http::takes_gzip(req.headers()) {
        return match file::send(
            &site.pages,
            (file, meta),
            TEXT,
            Kind::StoredGzip,
            Freshness::Log,
            req.headers(),
            req.method(),
        )
        .await
        {
            Some(resp) => resp,
            None => not_found(site).await,
        };
    }
    let inflated = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(file).read_to_end(&mut text)?;
        Ok(text)
    })
    .await;
    match inflated {
        Ok(Ok(text)) => {
            let mut resp = (
                StatusCode::OK,
                [(header::CONTENT_TYPE, TEXT)],
                if req.method() == Method::HEAD {
                    Vec::new()
                } else {
                    text
                },
            )
                .into_response();
            let h = resp.headers_mut();
            h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            );
            resp
        }
        _ => not_found(site).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        assert_eq!(negotiate(None), Form::Html);
        assert_eq!(negotiate(Some("*/*")), Form::Html);
        assert_eq!(negotiate(Some(SIMPLE_JSON)), Form::Json);
        assert_eq!(
            negotiate(Some(
                "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
            )),
            Form::Json
        );
        assert_eq!(
            negotiate(Some("application/vnd.pypi.simple.v1+json;q=0.1, text/html")),
            Form::Html
        );
        assert_eq!(negotiate(Some(SIMPLE_HTML)), Form::V1Html);
        assert_eq!(negotiate(Some("image/png")), Form::Html);
        assert_eq!(
            negotiate(Some("application/vnd.pypi.simple.v1+json;q=0")),
            Form::Html
        );
    }

    #[test]
    fn types() {
        assert_eq!(content_type("a.whl"), "application/octet-stream");
        assert_eq!(content_type("a.whl.metadata"), "text/plain; charset=utf-8");
        assert_eq!(content_type("index.json"), "application/json");
        assert_eq!(content_type("x.HTML"), "text/html; charset=utf-8");
    }
}
