//! `Retry-After` and timeouts (issue 16, item 5), against a small HTTP server on 127.0.0.1
//! that answers as each test scripts it: a `429` or `503` with a `Retry-After` holds every
//! request (of every clone of the client) back until the instant it names, at most 15
//! minutes; a value that is not one is ignored; an upstream that sends its answer a byte a
//! second (a slow loris) ends in a transport error within the timeout.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};
use piwheels_master::upstream::{
    Fetched, IndexClient, LIST_TIMEOUT_FACTOR, MAX_RETRY_AFTER, UpstreamError, parse_retry_after,
};

/// Every test's own bound on a request that should end.
const DEADLINE: Duration = Duration::from_secs(60);

/// How the server answers a request.
enum Reply {
    /// These bytes, then the connection closed.
    Now(Vec<u8>),
    /// This head, then the body one piece every `every`, then the connection closed (or
    /// until the client goes away, or 90 s at most).
    Trickle {
        head: Vec<u8>,
        body: Vec<Vec<u8>>,
        every: Duration,
    },
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    at: Instant,
    wall: SystemTime,
}

/// The server: `reply(path, n)` answers the `n`th request (from 0).
struct Server {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// When each answer was sent (before it was written), by request.
    sent: Arc<Mutex<Vec<Instant>>>,
}

impl Server {
    fn start(reply: impl Fn(&str, usize) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/simple/", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sent = Arc::new(Mutex::new(Vec::new()));
        let (log, sent_log) = (seen.clone(), sent.clone());
        let reply = Arc::new(reply);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (log, sent_log, reply) = (log.clone(), sent_log.clone(), reply.clone());
                std::thread::spawn(move || serve(conn, &log, &sent_log, &*reply));
            }
        });
        Server { url, seen, sent }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn sent(&self, n: usize) -> Instant {
        self.sent.lock().unwrap()[n]
    }
}

fn serve(
    mut conn: TcpStream,
    log: &Mutex<Vec<Seen>>,
    sent: &Mutex<Vec<Instant>>,
    reply: &(dyn Fn(&str, usize) -> Reply + Send + Sync),
) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let (at, wall) = (Instant::now(), SystemTime::now());
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
    }
    let n = {
        let mut log = log.lock().unwrap();
        log.push(Seen {
            path: path.clone(),
            at,
            wall,
        });
        log.len() - 1
    };
    let answer = reply(&path, n);
    {
        let mut sent = sent.lock().unwrap();
        if sent.len() <= n {
            sent.resize(n + 1, Instant::now());
        }
        sent[n] = Instant::now();
    }
    match answer {
        Reply::Now(bytes) => {
            let _ = conn.write_all(&bytes);
        }
        Reply::Trickle { head, body, every } => {
            if conn.write_all(&head).is_err() {
                return;
            }
            let since = Instant::now();
            for piece in body {
                std::thread::sleep(every);
                if conn.write_all(&piece).is_err() || since.elapsed() > Duration::from_secs(90) {
                    return;
                }
            }
        }
    }
}

fn answer(status: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut head = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    Reply::Now(head.into_bytes())
}

const JSON: &str = "application/vnd.pypi.simple.v1+json";

fn page(name: &str) -> Reply {
    answer(
        "200 OK",
        &[("Content-Type", JSON)],
        &format!(r#"{{"name": "{name}", "files": []}}"#),
    )
}

fn list() -> Reply {
    answer(
        "200 OK",
        &[("Content-Type", JSON)],
        r#"{"projects": [{"name": "foo", "_last-serial": 1}]}"#,
    )
}

/// `path`'s project name (`/simple/foo/` → `foo`; the list is `""`).
fn name_of(path: &str) -> &str {
    path.trim_start_matches("/simple").trim_matches('/')
}

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not end within {DEADLINE:?}"))
}

#[test]
fn retry_after_values() {
    let now = SystemTime::now();
    let secs = Duration::from_secs;
    assert_eq!(parse_retry_after("120", now), Some(secs(120)));
    assert_eq!(parse_retry_after(" 7 ", now), Some(secs(7)));
    assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
    assert_eq!(
        parse_retry_after("1000000000000", now),
        Some(MAX_RETRY_AFTER)
    );
    assert_eq!(
        parse_retry_after(&"9".repeat(40), now),
        Some(MAX_RETRY_AFTER)
    );
    for garbage in [
        "",
        "soon",
        "-5",
        "1.5",
        "5s",
        "0x10",
        "Someday, 99 Foo 2024",
    ] {
        assert_eq!(parse_retry_after(garbage, now), None, "{garbage:?}");
    }
    let date = |t: SystemTime| {
        DateTime::<Utc>::from(t)
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string()
    };
    let at = SystemTime::UNIX_EPOCH + secs(1_700_000_000);
    assert_eq!(parse_retry_after(&date(at + secs(90)), at), Some(secs(90)));
    assert_eq!(
        parse_retry_after(&date(at - secs(90)), at),
        Some(Duration::ZERO)
    );
    assert_eq!(
        parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", at),
        Some(MAX_RETRY_AFTER)
    );
}

#[tokio::test]
async fn a_429_with_retry_after_holds_every_clone_back() {
    let server = Server::start(|path, n| match n {
        0 => answer("429 Too Many Requests", &[("Retry-After", "2")], ""),
        _ if name_of(path).is_empty() => list(),
        _ => page(name_of(path)),
    });
    let client = IndexClient::new(&server.url, Duration::from_secs(10)).unwrap();
    let err = within("the first request", client.project("foo", None))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        UpstreamError::RateLimited {
            url: format!("{}foo/", server.url),
            status: 429,
            retry_after: Duration::from_secs(2),
        }
    );
    assert!(err.to_string().contains("rate limited"), "{err}");
    let open_at = server.sent(0) + Duration::from_secs(2);
    assert!(client.retry_at().is_some_and(|t| t >= open_at));
    // Clones share the wait: pages and the list alike.
    let tasks: Vec<_> = ["a", "b", ""]
        .into_iter()
        .map(|name| {
            let c = client.clone();
            tokio::spawn(async move {
                if name.is_empty() {
                    c.projects(None)
                        .await
                        .map(|l| matches!(l, Fetched::Changed { .. }))
                } else {
                    c.project(name, None).await.map(|p| p.is_some())
                }
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(
            within("a request after the wait", task).await.unwrap(),
            Ok(true)
        );
    }
    let seen = server.seen();
    assert_eq!(seen.len(), 4, "{seen:?}");
    for s in &seen[1..] {
        assert!(
            s.at >= open_at,
            "{} arrived {:?} before the Retry-After was over",
            s.path,
            open_at - s.at
        );
    }
    assert_eq!(client.retry_at(), None);
}

#[tokio::test]
async fn a_503_with_an_http_date_holds_requests_back_until_that_date() {
    // A date 3 s ahead (HTTP dates are whole seconds: the wait is 2 to 3 s).
    let until = SystemTime::now() + Duration::from_secs(3);
    let date = DateTime::<Utc>::from(until)
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    let until_whole = DateTime::parse_from_rfc2822(&date).unwrap();
    let server = Server::start(move |path, n| match n {
        0 => answer("503 Service Unavailable", &[("Retry-After", &date)], ""),
        _ => page(name_of(path)),
    });
    let client = IndexClient::new(&server.url, Duration::from_secs(10)).unwrap();
    let err = within("the first request", client.project("foo", None))
        .await
        .unwrap_err();
    let UpstreamError::RateLimited {
        status: 503,
        retry_after,
        ..
    } = err
    else {
        panic!("a 503 with a Retry-After date gave {err:?}")
    };
    assert!(retry_after <= Duration::from_secs(3), "{retry_after:?}");
    within("the second request", client.project("bar", None))
        .await
        .unwrap();
    let second = &server.seen()[1];
    let arrived: DateTime<Utc> = second.wall.into();
    assert!(
        arrived >= until_whole,
        "the second request arrived at {arrived}, before {until_whole}"
    );
}

#[tokio::test]
async fn a_garbage_retry_after_is_ignored() {
    let server = Server::start(|path, n| match n {
        0 => answer("429 Too Many Requests", &[("Retry-After", "soon")], ""),
        1 => answer("503 Service Unavailable", &[("Retry-After", "-5")], ""),
        2 => answer("429 Too Many Requests", &[], ""),
        // A Retry-After on another status is not a rate limit.
        3 => answer("500 Oops", &[("Retry-After", "600")], ""),
        _ => page(name_of(path)),
    });
    let client = IndexClient::new(&server.url, Duration::from_secs(10)).unwrap();
    for status in [429, 503, 429, 500] {
        let err = within("a refused request", client.project("foo", None))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            UpstreamError::Status {
                url: format!("{}foo/", server.url),
                status
            }
        );
        assert_eq!(client.retry_at(), None, "after {status}");
    }
    assert!(
        within("the next request", client.project("foo", None))
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_huge_retry_after_is_cut_to_15_minutes() {
    for value in ["1000000000000", "Fri, 31 Dec 9999 23:59:59 GMT"] {
        let header = value.to_owned();
        let server = Server::start(move |path, n| match n {
            0 => answer("429 Too Many Requests", &[("Retry-After", &header)], ""),
            _ => page(name_of(path)),
        });
        let client = IndexClient::new(&server.url, Duration::from_secs(10)).unwrap();
        let asked = Instant::now();
        let err = within("the first request", client.project("foo", None))
            .await
            .unwrap_err();
        let UpstreamError::RateLimited { retry_after, .. } = err else {
            panic!("{value}: {err:?}")
        };
        assert_eq!(retry_after, MAX_RETRY_AFTER, "{value}");
        let until = client.retry_at().expect("the client waits");
        assert!(until <= Instant::now() + MAX_RETRY_AFTER, "{value}");
        assert!(until >= asked + MAX_RETRY_AFTER - DEADLINE, "{value}");
        // The next request waits: it has not reached the server half a second later.
        let next = tokio::time::timeout(Duration::from_millis(500), client.project("bar", None));
        assert!(next.await.is_err(), "{value}: the next request went out");
        assert_eq!(server.seen().len(), 1, "{value}");
    }
}

/// A server that sends its head at once, then its body a byte a second for as long as the
/// client listens (or a byte of its head a second, with `head_too`).
fn slow_loris(head_too: bool) -> Server {
    Server::start(move |_, _| {
        let head =
            format!("HTTP/1.1 200 OK\r\nContent-Type: {JSON}\r\nContent-Length: 1000000\r\n\r\n{{")
                .into_bytes();
        let (head, body) = if head_too {
            let body = head.iter().map(|b| vec![*b]).collect();
            (Vec::new(), body)
        } else {
            (head, vec![b" ".to_vec(); 1000])
        };
        Reply::Trickle {
            head,
            body,
            every: Duration::from_secs(1),
        }
    })
}

#[tokio::test]
async fn a_slow_loris_upstream_ends_in_a_transport_error_within_the_timeout() {
    for head_too in [false, true] {
        let server = slow_loris(head_too);
        let client = IndexClient::new(&server.url, Duration::from_secs(1))
            .unwrap()
            .with_list_timeout(Duration::from_secs(2));
        let err = within("a page from a slow loris", client.project("foo", None))
            .await
            .unwrap_err();
        assert!(
            matches!(err, UpstreamError::Transport { .. }),
            "a page (head too: {head_too}): {err:?}"
        );
        let err = within("the list from a slow loris", client.projects(None))
            .await
            .unwrap_err();
        assert!(
            matches!(err, UpstreamError::Transport { .. }),
            "the list (head too: {head_too}): {err:?}"
        );
        let summary = within(
            "a summary from a slow loris",
            client.summary(server.url.trim_end_matches("/simple/"), "foo"),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(summary, UpstreamError::Transport { .. }),
            "{summary:?}"
        );
    }
}

#[tokio::test]
async fn the_list_is_given_ten_times_a_pages_timeout() {
    let client = IndexClient::new("http://127.0.0.1:9/simple/", Duration::from_secs(3)).unwrap();
    assert_eq!(client.timeout(), Duration::from_secs(3));
    assert_eq!(
        client.list_timeout(),
        Duration::from_secs(3) * LIST_TIMEOUT_FACTOR
    );
    assert_eq!(LIST_TIMEOUT_FACTOR, 10);
    // The same answer, sent over about 2.5 s: too slow for a page with a 1 s timeout,
    // in time for the list with its 10 s.
    let server = Server::start(|path, _| {
        let body = if name_of(path).is_empty() {
            r#"{"projects": [{"name": "foo", "_last-serial": 1}]}"#.to_owned()
        } else {
            r#"{"name": "foo", "files": []}"#.to_owned()
        };
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {JSON}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let pieces = body
            .as_bytes()
            .chunks(body.len().div_ceil(5))
            .map(<[u8]>::to_vec);
        Reply::Trickle {
            head: head.into_bytes(),
            body: pieces.collect(),
            every: Duration::from_millis(500),
        }
    });
    let client = IndexClient::new(&server.url, Duration::from_secs(1)).unwrap();
    let err = within("a slow page", client.project("foo", None))
        .await
        .unwrap_err();
    assert!(matches!(err, UpstreamError::Transport { .. }), "{err:?}");
    let Fetched::Changed { value, .. } =
        within("a slow list", client.projects(None)).await.unwrap()
    else {
        panic!("the list is there")
    };
    assert_eq!(value.projects.len(), 1);
}
