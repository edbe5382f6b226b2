//! The bench's own load generator: raw HTTP/1.1 over TCP on tokio, `concurrency` clients
//! each asking for one path again and again, on one kept-alive connection or on a new
//! connection per request, until a deadline; the latency of every request.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How requests use connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One connection per client, request after request on it.
    KeepAlive,
    /// A new connection per request (`Connection: close`; the time counted includes the
    /// connect).
    NewConnection,
}

impl Mode {
    /// Its name in the table.
    pub fn name(self) -> &'static str {
        match self {
            Mode::KeepAlive => "keep-alive",
            Mode::NewConnection => "new conn",
        }
    }
}

/// What one run measured.
#[derive(Debug, Default)]
pub struct Sample {
    /// The time of every request answered.
    pub latencies: Vec<Duration>,
    /// Answers with another status than the one expected.
    pub wrong_status: u64,
    /// The body length of the last answer.
    pub body_len: usize,
    /// The time spent measuring.
    pub elapsed: Duration,
}

impl Sample {
    /// Adds another run's figures.
    pub fn extend(&mut self, other: Sample) {
        self.latencies.extend(other.latencies);
        self.wrong_status += other.wrong_status;
        self.body_len = other.body_len;
        self.elapsed += other.elapsed;
    }

    /// Requests per second.
    pub fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `q` quantile (0..=1) of the latencies, in milliseconds.
    pub fn quantile_ms(&mut self, q: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        self.latencies.sort_unstable();
        let i = ((self.latencies.len() - 1) as f64 * q).round() as usize;
        self.latencies[i].as_secs_f64() * 1000.0
    }
}

/// One answer's head.
struct Answer {
    status: u16,
    len: usize,
    close: bool,
}

/// A connection and what was read past the last answer.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    have: usize,
}

fn bad(what: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.into())
}

impl Conn {
    async fn connect(addr: SocketAddr) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: vec![0; 64 * 1024],
            have: 0,
        })
    }

    /// Reads one answer with a `Content-Length` body, the body discarded.
    async fn answer(&mut self) -> std::io::Result<Answer> {
        let head_end = loop {
            if let Some(p) = self.buf[..self.have]
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
            {
                break p + 4;
            }
            if self.have == self.buf.len() {
                return Err(bad("an answer head longer than 64 KiB"));
            }
            let n = self.stream.read(&mut self.buf[self.have..]).await?;
            if n == 0 {
                return Err(bad("the server closed the connection before answering"));
            }
            self.have += n;
        };
        let head = std::str::from_utf8(&self.buf[..head_end])
            .map_err(|_| bad("an answer head that is not UTF-8"))?;
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(format!("not an HTTP answer: {head:?}")))?;
        let mut len = None;
        let mut close = false;
        for line in lines {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let v = v.trim();
            if k.eq_ignore_ascii_case("content-length") {
                len = Some(v.parse().map_err(|_| bad("a bad Content-Length"))?);
            } else if k.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close") {
                close = true;
            } else if k.eq_ignore_ascii_case("transfer-encoding") {
                return Err(bad(
                    "a chunked answer (the bench reads Content-Length only)",
                ));
            }
        }
        let len: usize = len.ok_or_else(|| bad("an answer without Content-Length"))?;
        // Discard the body: what is in the buffer, then what is still to come.
        let buffered = self.have - head_end;
        if buffered >= len {
            self.buf.copy_within(head_end + len..self.have, 0);
            self.have = buffered - len;
        } else {
            let mut left = len - buffered;
            self.have = 0;
            while left > 0 {
                let n = self.stream.read(&mut self.buf).await?;
                if n == 0 {
                    return Err(bad("the server closed the connection mid-body"));
                }
                if n > left {
                    self.buf.copy_within(left..n, 0);
                    self.have = n - left;
                    left = 0;
                } else {
                    left -= n;
                }
            }
        }
        Ok(Answer { status, len, close })
    }

    /// Waits (briefly) for the server to close, then resets the connection, so neither
    /// side keeps it in TIME_WAIT (a run opens tens of thousands).
    async fn finish(mut self) {
        let mut scratch = [0u8; 512];
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while let Ok(n) = self.stream.read(&mut scratch).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
        let _ = rustix::net::sockopt::set_socket_linger(&self.stream, Some(Duration::ZERO));
    }
}

/// The request for `path`.
pub fn request(path: &str, mode: Mode, gzip: bool) -> Arc<[u8]> {
    let mut r =
        format!("GET {path} HTTP/1.1\r\nHost: bench\r\nUser-Agent: web_nginx\r\nAccept: */*\r\n");
    if gzip {
        r.push_str("Accept-Encoding: gzip\r\n");
    }
    if mode == Mode::NewConnection {
        r.push_str("Connection: close\r\n");
    }
    r.push_str("\r\n");
    r.into_bytes().into()
}

/// One client until `until`.
async fn client(
    addr: SocketAddr,
    req: Arc<[u8]>,
    mode: Mode,
    expect: u16,
    until: Instant,
) -> std::io::Result<Sample> {
    let mut out = Sample::default();
    let mut conn: Option<Conn> = None;
    while Instant::now() < until {
        let t = Instant::now();
        let c = match conn.as_mut() {
            Some(c) => c,
            None => conn.insert(Conn::connect(addr).await?),
        };
        c.stream.write_all(&req).await?;
        let answer = c.answer().await?;
        out.latencies.push(t.elapsed());
        out.body_len = answer.len;
        if answer.status != expect {
            out.wrong_status += 1;
        }
        if (mode == Mode::NewConnection || answer.close)
            && let Some(c) = conn.take()
        {
            c.finish().await;
        }
    }
    Ok(out)
}

/// `concurrency` clients for `secs`; their figures together.
pub async fn run(
    addr: SocketAddr,
    req: Arc<[u8]>,
    mode: Mode,
    expect: u16,
    concurrency: usize,
    secs: f64,
) -> std::io::Result<Sample> {
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(secs);
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| tokio::spawn(client(addr, req.clone(), mode, expect, until)))
        .collect();
    let mut all = Sample::default();
    for t in tasks {
        let s = t.await.map_err(std::io::Error::other)??;
        all.extend(s);
    }
    all.elapsed = start.elapsed();
    Ok(all)
}
