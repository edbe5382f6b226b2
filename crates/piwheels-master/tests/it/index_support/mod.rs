//! A small static simple index served over HTTP on 127.0.0.1, for the tests of the upstream
//! client, CloudGazer and MrChase's upstream check: the pages are files the test writes.
//! A JSON API (`/pypi/<name>/json`) is the same: `root/pypi/<name>/json/index.json`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The longest a `hold` file keeps a request unanswered.
const HOLD_AT_MOST: Duration = Duration::from_secs(30);

/// Serves `root` on 127.0.0.1: `/a/b/` is `root/a/b/index.json` (as PEP 691 JSON, when
/// the client accepts it) or `root/a/b/index.html`; a file `raw` in the directory is sent
/// as the whole answer (status line, headers and body, as they are), a file `status` makes
/// it answer that status instead, and a file `hold` leaves its requests unanswered (the
/// connection open, the other requests served) until the file is removed. Every answer has
/// an ETag and honours If-None-Match.
pub struct Index {
    root: PathBuf,
    /// The index's address (`http://127.0.0.1:PORT/simple/`).
    pub url: String,
    /// Requests answered.
    pub requests: Arc<AtomicUsize>,
    /// Requests answered `304 Not Modified`.
    pub not_modified: Arc<AtomicUsize>,
    /// The path of every request, in order.
    pub paths: Arc<Mutex<Vec<String>>>,
    /// Requests answered, by path (`/pypi/foo/json`).
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl Index {
    /// Serves `root`.
    pub fn start(root: &Path) -> Index {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/simple/", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let not_modified = Arc::new(AtomicUsize::new(0));
        let paths = Arc::new(Mutex::new(Vec::new()));
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let (dir, reqs, nm) = (root.to_owned(), requests.clone(), not_modified.clone());
        let log = paths.clone();
        let by_path = hits.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let (mut accept, mut etag) = (String::new(), None);
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                        break;
                    }
                    let (k, v) = h.split_once(':').unwrap_or((&h, ""));
                    match k.trim().to_ascii_lowercase().as_str() {
                        "accept" => accept = v.trim().to_owned(),
                        "if-none-match" => etag = Some(v.trim().to_owned()),
                        _ => {}
                    }
                }
                reqs.fetch_add(1, Ordering::SeqCst);
                log.lock().unwrap().push(path.clone());
                *by_path
                    .lock()
                    .unwrap()
                    .entry(path.trim_end_matches('/').to_owned())
                    .or_insert(0) += 1;
                let d = dir.join(path.trim_matches('/'));
                if d.join("hold").exists() {
                    let hold = d.join("hold");
                    std::thread::spawn(move || {
                        let since = Instant::now();
                        while hold.exists() && since.elapsed() < HOLD_AT_MOST {
                            std::thread::sleep(Duration::from_millis(10));
                        }
                        drop(conn);
                    });
                    continue;
                }
                if let Ok(raw) = std::fs::read(d.join("raw")) {
                    let _ = conn.write_all(&raw);
                    continue;
                }
                let status: Option<u16> = std::fs::read_to_string(d.join("status"))
                    .ok()
                    .and_then(|s| s.trim().parse().ok());
                let json = d.join("index.json");
                let html = d.join("index.html");
                let found = if accept.contains("json") && json.exists() {
                    Some(("application/vnd.pypi.simple.v1+json", json))
                } else if html.exists() {
                    Some(("text/html", html))
                } else {
                    None
                };
                let response = match (status, found) {
                    (Some(code), _) => format!(
                        "HTTP/1.1 {code} Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                    .into_bytes(),
                    (None, None) => {
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_vec()
                    }
                    (None, Some((ctype, file))) => {
                        let body = std::fs::read(file).unwrap();
                        let mut h = DefaultHasher::new();
                        body.hash(&mut h);
                        ctype.hash(&mut h);
                        let tag = format!("\"{:016x}\"", h.finish());
                        if etag.as_deref() == Some(tag.as_str()) {
                            nm.fetch_add(1, Ordering::SeqCst);
                            format!("HTTP/1.1 304 Not Modified\r\nETag: {tag}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").into_bytes()
                        } else {
                            let mut r = format!("HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nETag: {tag}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).into_bytes();
                            r.extend(body);
                            r
                        }
                    }
                };
                let _ = conn.write_all(&response);
            }
        });
        Index {
            root: root.to_owned(),
            url,
            requests,
            not_modified,
            paths,
            hits,
        }
    }

    /// Requests answered for `path` (`/pypi/foo/json`; a final `/` is ignored).
    pub fn hits(&self, path: &str) -> usize {
        let hits = self.hits.lock().unwrap();
        hits.get(path.trim_end_matches('/')).copied().unwrap_or(0)
    }

    /// Writes `root/path/name` (any bytes).
    pub fn write_bytes(&self, path: &str, name: &str, data: &[u8]) {
        let d = self.root.join(path);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(name), data).unwrap();
    }

    /// Writes `root/path/name`.
    pub fn write(&self, path: &str, name: &str, text: &str) {
        let d = self.root.join(path);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(name), text).unwrap();
    }

    /// The paths requested since the first `from` requests.
    pub fn paths_since(&self, from: usize) -> Vec<String> {
        self.paths.lock().unwrap()[from..].to_vec()
    }

    /// Removes `root/path/name` (no error if it is not there).
    pub fn remove_file(&self, path: &str, name: &str) {
        let _ = std::fs::remove_file(self.root.join(path).join(name));
    }

    /// Removes `root/path`.
    pub fn remove(&self, path: &str) {
        let _ = std::fs::remove_dir_all(self.root.join(path));
    }
}

/// A PEP 691 project list.
pub fn json_list(projects: &[(&str, i64)]) -> String {
    let items: Vec<String> = projects
        .iter()
        .map(|(n, s)| format!(r#"{{"name": "{n}", "_last-serial": {s}}}"#))
        .collect();
    format!(
        r#"{{"meta": {{"api-version": "1.1", "_last-serial": {}}}, "projects": [{}]}}"#,
        projects.iter().map(|p| p.1).max().unwrap_or(0),
        items.join(", ")
    )
}

/// A PEP 691 project page: (filename, yanked, upload-time).
pub fn json_page(name: &str, files: &[(&str, bool, Option<&str>)]) -> String {
    let items: Vec<String> = files
        .iter()
        .map(|(f, y, t)| {
            let time = t.map(|t| format!(r#", "upload-time": "{t}""#)).unwrap_or_default();
            format!(
                r#"{{"filename": "{f}", "url": "../../files/{f}", "hashes": {{}}, "yanked": {y}{time}}}"#
            )
        })
        .collect();
    format!(
        r#"{{"meta": {{"api-version": "1.1"}}, "name": "{name}", "files": [{}]}}"#,
        items.join(", ")
    )
}
