//! A small WebDriver client for the browser tests: Debian's `chromedriver` on a port it
//! picks itself, driving headless Chromium with a fresh profile, over W3C WebDriver's
//! HTTP JSON (ureq and serde_json, which the master already has). Every request and
//! every wait has a deadline; dropping the [`Browser`] ends the session and kills
//! chromedriver's process group (Chromium with it) even when a test failed half-way.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use test_support::process::Peer;

/// How long one WebDriver command may take (a page load included).
const COMMAND: Duration = Duration::from_secs(60);

/// The W3C key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Where `name` is on `PATH`.
fn find(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// chromedriver's path: found on `PATH`, or installed by `scripts/browser-deps` (Debian's
/// `chromium` and `chromium-driver`) when the tests run as root. `Err`: why there is none
/// (not root, so nothing could be installed).
pub fn chromedriver() -> Result<PathBuf, String> {
    if let (Some(driver), Some(_)) = (find("chromedriver"), find("chromium")) {
        return Ok(driver);
    }
    let script = test_support::workspace_root().join("scripts/browser-deps");
    let out = test_support::process::output_within(
        &mut Command::new(&script),
        b"",
        Duration::from_secs(900),
        "scripts/browser-deps",
    );
    match find("chromedriver") {
        Some(driver) if out.status.success() => Ok(driver),
        _ if !test_support::is_root() => Err(format!(
            "chromium and chromium-driver are not installed, and installing them needs root ({})",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        _ => panic!(
            "scripts/browser-deps could not install chromium and chromium-driver: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// A WebDriver session in headless Chromium.
pub struct Browser {
    driver: Peer,
    base: String,
    session: String,
    /// The browser's profile: fresh for each test.
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver (`driver`) and a headless Chromium session, `width` × `height`.
    pub fn start(driver: &Path, width: u32, height: u32) -> Browser {
        use std::os::unix::process::CommandExt;
        let mut command = Command::new(driver);
        command
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            // Its own process group, so that Chromium goes with it at the end.
            .process_group(0);
        let mut driver = Peer::spawn(&mut command, "chromedriver");
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = driver.line(left, "\"started successfully on port N\"");
            if let Some(rest) = line.split("started successfully on port ").nth(1) {
                break rest.trim_end_matches('.').trim().parse::<u16>().unwrap();
            }
        };
        let profile = tempfile::tempdir().unwrap();
        let mut args = vec![
            "--headless=new".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--no-first-run".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
            format!("--window-size={width},{height}"),
        ];
        if test_support::is_root() {
            // Chromium's sandbox refuses to run as root.
            args.push("--no-sandbox".to_owned());
        }
        let mut options = json!({ "args": args });
        // Debian's /usr/bin/chromium is a shell wrapper; the browser itself is here.
        let binary = Path::new("/usr/lib/chromium/chromium");
        if binary.is_file() {
            options["binary"] = json!(binary);
        }
        let base = format!("http://127.0.0.1:{port}");
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": options,
            "timeouts": { "pageLoad": 30_000, "script": 30_000 },
        }}});
        let value = request("POST", &format!("{base}/session"), Some(caps))
            .unwrap_or_else(|e| panic!("chromedriver: a Chromium session: {e}"));
        let session = value["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver: no session id in {value}"))
            .to_owned();
        Browser {
            driver,
            base,
            session,
            _profile: profile,
        }
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        request(method, &url, body).unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    /// Loads `url` (waits for the document to load).
    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page and returns
    /// what it returns.
    pub fn eval(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// The first element matching a CSS selector.
    pub fn find(&self, css: &str) -> Value {
        let found = self.cmd(
            "POST",
            "/element",
            Some(json!({ "using": "css selector", "value": css })),
        );
        assert!(found[ELEMENT].is_string(), "{css}: no element in {found}");
        found
    }

    /// Types `text` into an element, as keystrokes.
    pub fn type_into(&self, element: &Value, text: &str) {
        let id = element[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("not an element reference: {element}"));
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        );
    }

    /// Resizes the window.
    pub fn resize(&self, width: u32, height: u32) {
        self.cmd(
            "POST",
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        );
    }

    /// Saves a PNG of the window to `path`.
    pub fn screenshot(&self, path: &Path) {
        let b64 = self.cmd("GET", "/screenshot", None);
        let b64 = b64.as_str().expect("a base64 screenshot");
        std::fs::write(path, base64_decode(b64))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    /// Evaluates `script` until it returns something other than `null` or `false`, and
    /// returns that; fails after `timeout`, saying it waited for `what` and what the
    /// last evaluation gave.
    pub fn wait_for(&self, what: &str, timeout: Duration, script: &str) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.eval(script, json!([]));
            if !v.is_null() && v != Value::Bool(false) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting for {what} (last: {v})"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let url = format!("{}/session/{}", self.base, self.session);
        let _ = request("DELETE", &url, None);
        let pgid = rustix::process::Pid::from_raw(self.driver.id() as i32);
        if let Some(pgid) = pgid {
            // chromedriver's own group: it and whatever Chromium processes are left.
            let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
        }
        // Peer's drop reaps chromedriver.
    }
}

/// One WebDriver request: its `value`, or the WebDriver error.
fn request(method: &str, url: &str, body: Option<Value>) -> Result<Value, String> {
    let req = ureq::request(method, url).timeout(COMMAND);
    let res = match body {
        Some(b) => req
            .set("Content-Type", "application/json")
            .send_string(&b.to_string()),
        None => req.call(),
    };
    let text = match res {
        Ok(r) => r.into_string().map_err(|e| e.to_string())?,
        Err(ureq::Error::Status(code, r)) => {
            return Err(format!("{code}: {}", r.into_string().unwrap_or_default()));
        }
        Err(e) => return Err(e.to_string()),
    };
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
    Ok(v["value"].clone())
}

/// Standard base64 (with padding) to bytes.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c:?}"),
        }
    };
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let digits: Vec<u8> = text.bytes().filter(|&c| c != b'=' && c != b'\n').collect();
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &c)| n | value(c) << (18 - 6 * i));
        out.extend(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}
