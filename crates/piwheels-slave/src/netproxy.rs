//! The build proxy of `--build-network index`: the only way out of a build's network.
//!
//! A build in `index` mode runs in a network namespace of its own with only a loopback
//! interface ([`butter::netns::NetNamespace`]). The slave binds a TCP listener on
//! 127.0.0.1 *inside* that namespace and serves it from its own network as an HTTP proxy,
//! which pip is pointed at through `http_proxy`/`https_proxy`. The proxy forwards only to
//! the hosts and ports of the index URLs (the master's from `ACK`, the
//! `--extra-index-url`s, and `--build-proxy-allow`): `CONNECT host:port` (HTTPS) and
//! `GET`/`HEAD http://host/...` (plain HTTP). Anything else gets `403 Forbidden` with a
//! one-line reason, and the same line goes into the build's log. Names are resolved
//! outside: the build needs no DNS of its own.
//!
//! The build is hostile: every connection is bounded (the request head's size and the
//! time to send it, the time to reach the index, idle time, how many at once), and the
//! proxy ends with the build.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use butter::netns::NetNamespace;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, oneshot};

/// The largest request head (request line and headers) the proxy reads.
pub const MAX_HEAD: usize = 16 << 10;
/// The largest answer head (status line and headers) the proxy reads from an index.
pub const MAX_ANSWER_HEAD: usize = 64 << 10;
/// How long a build has to send a request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long reaching an index host may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a forwarded connection may carry nothing either way.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// How long the proxy waits on one connection: [`HEAD_TIMEOUT`], [`CONNECT_TIMEOUT`] and
/// [`IDLE_TIMEOUT`] by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyTimeouts {
    /// How long a build has to send a request head (and the proxy to send an answer of
    /// its own).
    pub head: Duration,
    /// How long reaching an index host may take.
    pub connect: Duration,
    /// How long a forwarded connection may carry nothing either way (and an index may
    /// take to start its answer to a plain-HTTP request).
    pub idle: Duration,
}

impl Default for ProxyTimeouts {
    fn default() -> Self {
        ProxyTimeouts {
            head: HEAD_TIMEOUT,
            connect: CONNECT_TIMEOUT,
            idle: IDLE_TIMEOUT,
        }
    }
}

/// How many connections the proxy serves at once (more wait to be accepted).
pub const MAX_CONNECTIONS: usize = 64;
/// How many refusal lines one build's log gets (then one line counts the rest).
pub const MAX_LOGGED: usize = 50;

/// A host and port a build may reach.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// The host name or address, lower case, without IPv6 brackets.
    pub host: String,
    /// The port.
    pub port: u16,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// An index URL or allowed host the proxy cannot use.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// Not an `http://` or `https://` URL with a host (or `host:port`).
    #[error("{0:?} names no host and port the build proxy can forward to")]
    BadTarget(String),
    /// The namespace or the listener in it cannot be made.
    #[error("the build's network namespace: {0}")]
    Namespace(#[from] butter::Error),
    /// The proxy's thread or runtime cannot be started.
    #[error("starting the build proxy: {0}")]
    Start(#[from] std::io::Error),
}

/// Splits an authority `host[:port]` (`[v6]:port` for IPv6), `default` the port when
/// none is given; `None` when it is not one.
fn split_authority(auth: &str, default: Option<u16>) -> Option<Target> {
    let (host, port) = if let Some(rest) = auth.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        match after {
            "" => (h, None),
            p => (h, Some(p.strip_prefix(':')?)),
        }
    } else {
        match auth.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, Some(p)),
            Some(_) => return None,
            None => (auth, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().ok().filter(|&p| p != 0)?,
        None => default?,
    };
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':');
    if host.is_empty() || host.len() > 253 || !host.chars().all(ok) {
        return None;
    }
    Some(Target {
        host: host.to_ascii_lowercase(),
        port,
    })
}

/// The target of an index URL: `Ok(None)` for one the build reads without the network
/// (`file://`), the host and port for `http://` and `https://` ones.
///
/// # Errors
///
/// Any other URL.
pub fn url_target(url: &str) -> Result<Option<Target>, ProxyError> {
    let bad = || ProxyError::BadTarget(url.to_owned());
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    let default = match scheme.to_ascii_lowercase().as_str() {
        "file" => return Ok(None),
        "http" => 80,
        "https" => 443,
        _ => return Err(bad()),
    };
    let auth = rest.split(['/', '?', '#']).next().unwrap_or("");
    let auth = auth.rsplit_once('@').map_or(auth, |(_, a)| a);
    split_authority(auth, Some(default))
        .map(Some)
        .ok_or_else(bad)
}

/// An allowed `host:port` (`--build-proxy-allow`).
///
/// # Errors
///
/// Not a host and port.
pub fn parse_allowed(s: &str) -> Result<Target, ProxyError> {
    split_authority(s, None).ok_or_else(|| ProxyError::BadTarget(s.to_owned()))
}

/// What the proxy writes into the build log: refusals and failures, bounded.
#[derive(Debug, Default)]
struct Log {
    lines: Vec<String>,
    dropped: usize,
}

impl Log {
    fn push(log: &Mutex<Log>, line: String) {
        let mut l = log.lock().unwrap_or_else(|p| p.into_inner());
        if l.lines.len() < MAX_LOGGED {
            l.lines.push(line);
        } else {
            l.dropped += 1;
        }
    }
}

/// What every connection shares.
#[derive(Debug)]
struct Shared {
    allowed: Vec<Target>,
    timeouts: ProxyTimeouts,
    log: Mutex<Log>,
}

impl Shared {
    fn allowed_list(&self) -> String {
        if self.allowed.is_empty() {
            return "none".to_owned();
        }
        let all: Vec<String> = self.allowed.iter().map(Target::to_string).collect();
        all.join(", ")
    }
}

/// The proxy of one build (see the module docs): a network namespace, a listener in it,
/// and a thread serving it until [`stop`](BuildProxy::stop) or drop.
#[derive(Debug)]
pub struct BuildProxy {
    netns: NetNamespace,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl BuildProxy {
    /// A new network namespace with a proxy listening on 127.0.0.1 inside it, forwarding
    /// only to `allowed`, with the default [`ProxyTimeouts`].
    ///
    /// # Errors
    ///
    /// The namespace, the listener or the proxy's thread cannot be made.
    pub fn start(allowed: Vec<Target>) -> Result<BuildProxy, ProxyError> {
        BuildProxy::start_with(allowed, ProxyTimeouts::default())
    }

    /// [`start`](Self::start), with these timeouts.
    ///
    /// # Errors
    ///
    /// The namespace, the listener or the proxy's thread cannot be made.
    pub fn start_with(
        allowed: Vec<Target>,
        timeouts: ProxyTimeouts,
    ) -> Result<BuildProxy, ProxyError> {
        let netns = NetNamespace::new()?;
        let listener = netns.tcp_listener("127.0.0.1:0".parse().expect("an address"))?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        let shared = Arc::new(Shared {
            allowed,
            timeouts,
            log: Mutex::new(Log::default()),
        });
        let (stop, stopped) = oneshot::channel();
        let serving = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("build proxy".into())
            .spawn(move || {
                runtime.block_on(async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => {
                            tokio::select! {
                                () = serve(l, Arc::clone(&serving)) => {}
                                _ = stopped => {}
                            }
                        }
                        Err(e) => Log::push(&serving.log, format!("The build proxy failed: {e}")),
                    }
                });
                // Dropping the runtime ends every connection.
                drop(runtime);
            })?;
        Ok(BuildProxy {
            netns,
            addr,
            stop: Some(stop),
            thread: Some(thread),
            shared,
        })
    }

    /// The network namespace the build joins.
    pub fn netns(&self) -> &NetNamespace {
        &self.netns
    }

    /// Where the proxy listens, inside the namespace.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The environment that points pip (and anything else that honours it) at the proxy.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let url = format!("http://{}", self.addr);
        vec![
            ("http_proxy", url.clone()),
            ("https_proxy", url.clone()),
            ("HTTP_PROXY", url.clone()),
            ("HTTPS_PROXY", url),
            ("no_proxy", String::new()),
            ("NO_PROXY", String::new()),
        ]
    }

    /// Stops the proxy (ending every connection) and returns what it has to say in the
    /// build log: one line per refusal or failure.
    pub fn stop(mut self) -> Vec<String> {
        self.shutdown();
        let mut log = self.shared.log.lock().unwrap_or_else(|p| p.into_inner());
        let mut lines = std::mem::take(&mut log.lines);
        if log.dropped > 0 {
            lines.push(format!(
                "The build proxy refused {} more connection(s).",
                log.dropped
            ));
        }
        lines
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for BuildProxy {
    fn drop(&mut self) {
        self.shutdown();
    }
}

async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let Ok((stream, _)) = listener.accept().await else {
            // Out of descriptors, say: wait a little rather than spin.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            handle(stream, &shared).await;
            drop(permit);
        });
    }
}

/// A request head: the request line's parts, the header lines, and what came after.
struct Head {
    method: String,
    target: String,
    version: String,
    headers: Vec<String>,
    rest: Vec<u8>,
}

/// Why a request head could not be read.
enum HeadError {
    TooBig,
    /// The time ran out, with this much of a head read.
    TimedOut(Vec<u8>),
    Malformed,
    Closed,
}

/// Reads up to the blank line ending an HTTP head, at most `max` bytes, until `deadline`:
/// the head (without the blank line) and whatever came after it.
async fn read_until_blank(
    stream: &mut TcpStream,
    max: usize,
    deadline: tokio::time::Instant,
) -> Result<(Vec<u8>, Vec<u8>), HeadError> {
    let mut buf = Vec::with_capacity(1024);
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > max {
            return Err(HeadError::TooBig);
        }
        let mut chunk = [0u8; 4096];
        let n = match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Err(_) => return Err(HeadError::TimedOut(buf)),
            Ok(Err(_) | Ok(0)) => return Err(HeadError::Closed),
            Ok(Ok(n)) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
    };
    if end > max {
        return Err(HeadError::TooBig);
    }
    let rest = buf[end + 4..].to_vec();
    buf.truncate(end);
    Ok((buf, rest))
}

async fn read_head(stream: &mut TcpStream, timeout: Duration) -> Result<Head, HeadError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let (buf, rest) = read_until_blank(stream, MAX_HEAD, deadline).await?;
    let text = std::str::from_utf8(&buf).map_err(|_| HeadError::Malformed)?;
    let mut lines = text.split("\r\n");
    let mut parts = lines.next().unwrap_or("").split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::Malformed);
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() {
        return Err(HeadError::Malformed);
    }
    Ok(Head {
        method: method.to_owned(),
        target: target.to_owned(),
        version: version.to_owned(),
        headers: lines.map(str::to_owned).collect(),
        rest,
    })
}

/// What a hostile request says, fit for one log line.
fn shown(s: &str) -> String {
    let cut: String = s.chars().take(200).collect();
    cut.escape_debug().to_string()
}

async fn respond(stream: &mut TcpStream, shared: &Shared, status: &str, reason: &str) {
    let body = format!("{reason}\n");
    let msg = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(shared.timeouts.head, stream.write_all(msg.as_bytes())).await;
    let _ = stream.shutdown().await;
}

/// Refuses the request with 403, the reason in the response and in the build log.
async fn refuse(stream: &mut TcpStream, shared: &Shared, what: &str, why: &str) {
    let line = format!(
        "The build proxy refused {what} (403 Forbidden): {why}; builds reach only the index hosts ({}).",
        shared.allowed_list()
    );
    respond(stream, shared, "403 Forbidden", &line).await;
    Log::push(&shared.log, line);
}

async fn handle(mut stream: TcpStream, shared: &Shared) {
    let head = match read_head(&mut stream, shared.timeouts.head).await {
        Ok(h) => h,
        Err(HeadError::Closed) => return,
        Err(HeadError::TooBig) => {
            return refuse(&mut stream, shared, "a request", "its head is too large").await;
        }
        Err(HeadError::TimedOut(got)) => {
            let why = format!(
                "its head took too long ({} bytes came: {})",
                got.len(),
                shown(&String::from_utf8_lossy(&got))
            );
            return refuse(&mut stream, shared, "a request", &why).await;
        }
        Err(HeadError::Malformed) => {
            return refuse(&mut stream, shared, "a request", "not an HTTP/1 request").await;
        }
    };
    let what = format!("{} {}", shown(&head.method), shown(&head.target));
    if head.method == "CONNECT" {
        let Some(target) = split_authority(&head.target, None) else {
            return refuse(&mut stream, shared, &what, "not a host and port").await;
        };
        let Some(mut upstream) = reach(&mut stream, shared, &what, &target).await else {
            return;
        };
        let ok = format!("{} 200 Connection established\r\n\r\n", head.version);
        if stream.write_all(ok.as_bytes()).await.is_err()
            || upstream.write_all(&head.rest).await.is_err()
        {
            return;
        }
        pump(stream, upstream, shared, &what).await;
        return;
    }
    forward_http(stream, shared, &head, &what).await;
}

/// Forwards one plain-HTTP request (`GET`/`HEAD http://...`) to an allowed host.
async fn forward_http(mut stream: TcpStream, shared: &Shared, head: &Head, what: &str) {
    let what = what.to_owned();
    if head.method != "GET" && head.method != "HEAD" {
        return refuse(
            &mut stream,
            shared,
            &what,
            "only GET, HEAD and CONNECT are forwarded",
        )
        .await;
    }
    let Some(after) = head
        .target
        .get(..7)
        .filter(|s| s.eq_ignore_ascii_case("http://"))
        .map(|_| &head.target[7..])
    else {
        return refuse(&mut stream, shared, &what, "not an http:// URL").await;
    };
    let (auth, path) = match after.find(['/', '?']) {
        Some(i) => (&after[..i], &after[i..]),
        None => (after, "/"),
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_owned()
    };
    let Some(target) = split_authority(auth, Some(80)) else {
        return refuse(&mut stream, shared, &what, "not a host and port").await;
    };
    let Some(mut upstream) = reach(&mut stream, shared, &what, &target).await else {
        return;
    };
    let mut out = format!("{} {} {}\r\n", head.method, path, head.version);
    end_to_end(&mut out, head.headers.iter().map(String::as_str));
    if upstream.write_all(out.as_bytes()).await.is_err()
        || upstream.write_all(&head.rest).await.is_err()
    {
        return;
    }
    // The answer says `Connection: close` too, so the client never sends a second request
    // (in the proxy's form) down a connection that now goes straight to the index.
    let deadline = tokio::time::Instant::now() + shared.timeouts.idle;
    let Ok((answer, rest)) = read_until_blank(&mut upstream, MAX_ANSWER_HEAD, deadline).await
    else {
        let line = format!("The build proxy got no answer from {target} for {what}.");
        respond(&mut stream, shared, "502 Bad Gateway", &line).await;
        return Log::push(&shared.log, line);
    };
    let answer = String::from_utf8_lossy(&answer);
    let mut lines = answer.split("\r\n");
    let mut out = format!("{}\r\n", lines.next().unwrap_or(""));
    end_to_end(&mut out, lines);
    if stream.write_all(out.as_bytes()).await.is_err() || stream.write_all(&rest).await.is_err() {
        return;
    }
    pump(stream, upstream, shared, &what).await;
}

/// Appends the header lines but the hop-by-hop ones, then `Connection: close` and the
/// blank line.
fn end_to_end<'a>(out: &mut String, headers: impl Iterator<Item = &'a str>) {
    let hop = [
        "connection",
        "proxy-connection",
        "proxy-authorization",
        "proxy-authenticate",
        "keep-alive",
    ];
    for h in headers {
        let name = h.split(':').next().unwrap_or("").trim();
        if !hop.iter().any(|n| name.eq_ignore_ascii_case(n)) {
            out.push_str(h);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
}

/// Connects to an allowed target (its name resolved here, outside the build's network);
/// on failure answers `502 Bad Gateway` and logs it.
/// Connects to `target` for `what` if it is an allowed host; otherwise, or if it cannot be
/// reached, answers the build (403 or 502, noted in the build log) and gives `None`.
async fn reach(
    stream: &mut TcpStream,
    shared: &Shared,
    what: &str,
    target: &Target,
) -> Option<TcpStream> {
    if !shared.allowed.contains(target) {
        refuse(
            stream,
            shared,
            what,
            "not an index host (the slave's --build-proxy-allow adds one)",
        )
        .await;
        return None;
    }
    let attempt = async {
        let mut last = None;
        for addr in tokio::net::lookup_host((target.host.as_str(), target.port)).await? {
            match TcpStream::connect(addr).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("the name has no address")))
    };
    let connect = shared.timeouts.connect;
    let why = match tokio::time::timeout(connect, attempt).await {
        Ok(Ok(s)) => return Some(s),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer in {connect:?}"),
    };
    let line = format!("The build proxy could not reach {target} for {what} (unreachable: {why}).");
    respond(stream, shared, "502 Bad Gateway", &line).await;
    Log::push(&shared.log, line);
    None
}

/// Copies both ways until both sides are done, or nothing moves either way for the idle
/// timeout (then both are closed, and the build log says so).
async fn pump(client: TcpStream, upstream: TcpStream, shared: &Shared, what: &str) {
    let idle = shared.timeouts.idle;
    let start = Instant::now();
    // When anything last moved, either way, in milliseconds since `start`.
    let last = AtomicU64::new(0);
    let since_start =
        |at: Instant| u64::try_from(at.duration_since(start).as_millis()).unwrap_or(u64::MAX);
    let (cr, cw) = client.into_split();
    let (ur, uw) = upstream.into_split();
    let one_way = |mut r: tokio::net::tcp::OwnedReadHalf,
                   mut w: tokio::net::tcp::OwnedWriteHalf| {
        let last = &last;
        async move {
            let mut buf = vec![0u8; 32 << 10];
            loop {
                let n = match tokio::time::timeout(idle, r.read(&mut buf)).await {
                    Ok(Ok(0) | Err(_)) => break,
                    Ok(Ok(n)) => n,
                    Err(_) => {
                        let quiet = since_start(Instant::now())
                            .saturating_sub(last.load(Ordering::Relaxed));
                        if u128::from(quiet) >= idle.as_millis() {
                            return Pumped::Idle;
                        }
                        continue;
                    }
                };
                last.store(since_start(Instant::now()), Ordering::Relaxed);
                if w.write_all(&buf[..n]).await.is_err() {
                    return Pumped::Failed;
                }
            }
            let _ = w.shutdown().await;
            Pumped::Clean
        }
    };
    // One way ending cleanly leaves the other to finish; failing or idling ends both.
    let up = one_way(cr, uw);
    let down = one_way(ur, cw);
    tokio::pin!(up, down);
    let ended = tokio::select! {
        ended = &mut up => if ended == Pumped::Clean { down.await } else { ended },
        ended = &mut down => if ended == Pumped::Clean { up.await } else { ended },
    };
    if ended == Pumped::Idle {
        Log::push(
            &shared.log,
            format!("The build proxy closed {what}: nothing moved either way for {idle:?}."),
        );
    }
}

/// How one way of a forwarded connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pumped {
    /// Its reader was done (or failed to read).
    Clean,
    /// Writing failed.
    Failed,
    /// Nothing moved either way for the idle timeout.
    Idle,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(host: &str, port: u16) -> Target {
        Target {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn index_urls_give_their_host_and_port() {
        assert_eq!(
            url_target("https://Index.Example/simple").unwrap(),
            Some(t("index.example", 443))
        );
        assert_eq!(
            url_target("http://u:p@10.0.0.1:8080/simple/").unwrap(),
            Some(t("10.0.0.1", 8080))
        );
        assert_eq!(url_target("http://[::1]:81").unwrap(), Some(t("::1", 81)));
        assert_eq!(url_target("file:///srv/index/simple").unwrap(), None);
        for bad in [
            "ftp://x/",
            "http://",
            "http://x:0/",
            "http://x:99999/",
            "x",
            "http://a b/",
        ] {
            assert!(url_target(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_allowed("files.example:443").unwrap(),
            t("files.example", 443)
        );
        assert!(parse_allowed("files.example").is_err());
        assert!(split_authority("::1:80", None).is_none());
    }
}

#[cfg(test)]
mod live;
