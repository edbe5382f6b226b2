//! `piw-logger` as a process, against a real PULL socket standing in for the master's
//! Lumberjack: what it reads (files, gzip, standard input, a followed file through both
//! kinds of rotation) arrives decoded by the protocol crate, once each; nothing is lost
//! across a restart of the PULL end; `--drop` drops instead of waiting.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use piwheels_protocol::logger::{LogMessage, LoggerProtocol};
use piwheels_protocol::transport::{Pull, SocketOptions, zmq};
use test_support::process::{Peer, output_within};

use crate::support::bin;

const LIMIT: Duration = Duration::from_secs(60);

const PIP: &str = r#"pip/24.0 {\"cpu\":\"aarch64\",\"distro\":{\"name\":\"Debian GNU/Linux\",\"version\":\"12\"},\"implementation\":{\"name\":\"CPython\",\"version\":\"3.11.2\"},\"installer\":{\"name\":\"pip\",\"version\":\"24.0\"},\"python\":\"3.11.2\",\"setuptools_version\":\"66.1.1\",\"system\":{\"name\":\"Linux\",\"release\":\"6.6.31\"}}"#;

/// A combined-log line for `path`.
fn line(host: &str, path: &str, status: u16, ua: &str) -> String {
    format!(
        "{host} - - [05/Mar/2024:10:00:00 +0000] \"GET {path} HTTP/1.1\" {status} 512 \"-\" \"{ua}\"\n"
    )
}

/// A page hit whose page name is `name` (each test line says who it is).
fn page(name: &str) -> String {
    line(
        "192.0.2.9",
        &format!("/{name}.html"),
        200,
        "Mozilla/5.0 (X11)",
    )
}

fn pull(endpoint: &str) -> (zmq::Context, Pull<LoggerProtocol>) {
    let ctx = zmq::Context::new();
    let options = SocketOptions::new().linger(Some(Duration::ZERO));
    let pull = Pull::bind(&ctx, endpoint, &options).expect("bind the PULL");
    (ctx, pull)
}

/// Receives records until `n` have come, failing if they have not within [`LIMIT`].
fn receive(pull: &mut Pull<LoggerProtocol>, n: usize, what: &str) -> Vec<LogMessage> {
    let deadline = Instant::now() + LIMIT;
    let mut got = Vec::new();
    while got.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "only {} of {n} {what} arrived within {LIMIT:?}",
            got.len()
        );
        match pull.recv_timeout(left) {
            Ok(m) => got.push(m),
            Err(e) if e.is_timeout() => {}
            Err(e) => panic!("a bad record among the {what}: {e}"),
        }
    }
    got
}

/// Whatever else arrives (after the logger has exited, having delivered all it had).
fn leftovers(pull: &mut Pull<LoggerProtocol>) -> Vec<LogMessage> {
    let mut got = Vec::new();
    while let Ok(m) = pull.recv_timeout(Duration::from_millis(300)) {
        got.push(m);
    }
    got
}

fn page_names(records: &[LogMessage]) -> BTreeMap<String, usize> {
    let mut names = BTreeMap::new();
    for r in records {
        match r {
            LogMessage::Page(p) => *names.entry(p.page.clone()).or_default() += 1,
            other => panic!("not a page hit: {other:?}"),
        }
    }
    names
}

fn expect_once(records: &[LogMessage], names: impl IntoIterator<Item = String>) {
    let got = page_names(records);
    let want: BTreeMap<String, usize> = names.into_iter().map(|n| (n, 1)).collect();
    assert_eq!(got, want, "every line once, no more");
}

fn append(path: &Path, text: &str) {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

fn logger(args: &[&str], queue: &str) -> Command {
    let mut cmd = Command::new(bin("piw-logger"));
    cmd.args(["-v", "--log-queue", queue]).args(args);
    cmd
}

/// A followed logger, stopped with SIGTERM at the end of a test.
fn follow(path: &Path, queue: &str) -> Peer {
    let mut cmd = logger(&["--follow", path.to_str().unwrap()], queue);
    cmd.stdin(Stdio::null());
    Peer::spawn(&mut cmd, "piw-logger --follow")
}

fn stop(mut peer: Peer) {
    // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
    let rc = unsafe { libc::kill(peer.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
    peer.wait_success(LIMIT);
}

#[test]
fn files_gzip_and_standard_input_arrive_decoded() {
    let dir = tempfile::tempdir().unwrap();
    let queue = format!("ipc://{}/log", dir.path().display());
    let (_ctx, mut pull) = pull(&queue);
    let whl = "/simple/six/six-1.16.0-py2.py3-none-any.whl";
    let good = [
        line("2001:db8::5", whl, 200, PIP),
        line("192.0.2.1", "/simple/Six/", 200, PIP),
        line("192.0.2.1", "/project/six/", 200, "Mozilla/5.0 (X11)"),
        line(
            "192.0.2.1",
            "/project/six/json/",
            200,
            "python-requests/2.31",
        ),
        line("192.0.2.1", "/", 200, "Wget/1.21"),
    ]
    .concat();
    let hostile = [
        line("192.0.2.1", whl, 404, PIP),
        line("not-an-ip", whl, 200, PIP),
        "192.0.2.1 - - [05/Mar/2024:10:00:00 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"trunc".into(),
        "\n192.0.2.1 - - [99/Mar/2024:10:00:00 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"x/1\"\n".into(),
        "192.0.2.1 - - [05/Mar/2024:10:00:00 +0000] \"GET /\0.html HTTP/1.1\" 200 5 \"-\" \"x/1\"\n".into(),
        format!("{}\n", "x".repeat(10 << 20)),
    ]
    .concat();
    let plain = dir.path().join("access.log");
    std::fs::write(&plain, format!("{good}{hostile}")).unwrap();
    let gz = dir.path().join("access.log.2.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(good.as_bytes()).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();

    let out = output_within(
        &mut logger(&[plain.to_str().unwrap(), gz.to_str().unwrap()], &queue),
        b"",
        LIMIT,
        "piw-logger FILE FILE.gz",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("16 lines: 10 records, 1 ignored, 4 malformed, 1 too long"),
        "{stderr}"
    );
    let got = receive(&mut pull, 10, "records from the files");
    for file in got.chunks(5) {
        let LogMessage::Download(d) = &file[0] else {
            panic!("{:?}", file[0])
        };
        assert_eq!(d.filename, "six-1.16.0-py2.py3-none-any.whl");
        assert_eq!(d.host, "2001:db8::5");
        assert_eq!(d.timestamp.to_rfc3339(), "2024-03-05T10:00:00+00:00");
        assert_eq!(d.arch.as_deref(), Some("aarch64"));
        assert_eq!(d.installer_version.as_deref(), Some("24.0"));
        assert_eq!(d.setuptools_version.as_deref(), Some("66.1.1"));
        let LogMessage::Search(s) = &file[1] else {
            panic!("{:?}", file[1])
        };
        assert_eq!(
            (s.package.as_str(), s.os_version.as_deref()),
            ("six", Some("6.6.31"))
        );
        let LogMessage::Project(p) = &file[2] else {
            panic!("{:?}", file[2])
        };
        assert_eq!(
            (p.package.as_str(), p.user_agent.as_str()),
            ("six", "mozilla")
        );
        let LogMessage::Json(j) = &file[3] else {
            panic!("{:?}", file[3])
        };
        assert_eq!(
            (j.package.as_str(), j.user_agent.as_str()),
            ("six", "python-requests")
        );
        let LogMessage::Page(h) = &file[4] else {
            panic!("{:?}", file[4])
        };
        assert_eq!((h.page.as_str(), h.user_agent.as_str()), ("home", "wget"));
    }

    // Standard input, in nginx's escapes.
    let nginx = line(
        "192.0.2.1",
        "/simple/numpy/",
        200,
        &PIP.replace("\\\"", "\\x22"),
    );
    let out = output_within(
        &mut logger(&["--format", "nginx"], &queue),
        nginx.as_bytes(),
        LIMIT,
        "piw-logger < stdin",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = receive(&mut pull, 1, "record from standard input");
    let LogMessage::Search(s) = &got[0] else {
        panic!("{:?}", got[0])
    };
    assert_eq!(
        (s.package.as_str(), s.arch.as_deref()),
        ("numpy", Some("aarch64"))
    );
    assert!(leftovers(&mut pull).is_empty());
}

#[test]
fn nothing_is_lost_across_a_restart_of_the_master() {
    let dir = tempfile::tempdir().unwrap();
    let queue = format!("ipc://{}/log", dir.path().display());
    let log = dir.path().join("access.log");
    append(
        &log,
        &(0..50).map(|i| page(&format!("a{i}"))).collect::<String>(),
    );
    let (ctx, mut first) = pull(&queue);
    let peer = follow(&log, &queue);
    let got = receive(&mut first, 50, "records before the restart");
    expect_once(&got, (0..50).map(|i| format!("a{i}")));
    // The master goes away; the web server goes on logging.
    drop(first);
    drop(ctx);
    append(
        &log,
        &(0..200).map(|i| page(&format!("b{i}"))).collect::<String>(),
    );
    // The logger has had them all in hand while the master was away...
    std::thread::sleep(Duration::from_millis(500));
    // ... and the master comes back.
    let (_ctx, mut second) = pull(&queue);
    let got = receive(
        &mut second,
        200,
        "records written while the master was away",
    );
    stop(peer);
    let mut all = got;
    all.extend(leftovers(&mut second));
    expect_once(&all, (0..200).map(|i| format!("b{i}")));
}

#[test]
fn drop_mode_drops_what_no_master_takes() {
    let dir = tempfile::tempdir().unwrap();
    let queue = format!("ipc://{}/nobody", dir.path().display());
    // More than the socket holds (1000) while nobody listens.
    let input: String = (0..1100).map(|i| page(&format!("p{i}"))).collect();
    let out = output_within(
        &mut logger(&["--drop", "--timeout", "0"], &queue),
        input.as_bytes(),
        LIMIT,
        "piw-logger --drop with no master",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let counts = "1100 lines: 1100 records, 0 ignored, 0 malformed, 0 too long; ";
    let at = stderr
        .find(counts)
        .unwrap_or_else(|| panic!("no counts: {stderr}"));
    let dropped: u64 = stderr[at + counts.len()..]
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no dropped count: {stderr}"));
    // What the socket's queue could not hold was dropped, not waited for.
    assert!((1..=1100).contains(&dropped), "{stderr}");
}

#[test]
fn drop_mode_does_not_wait_a_line_at_a_time_for_a_master_that_is_away() {
    // 10 ms a line would be 490 s for these; once one record is dropped, the next ones
    // that cannot be queued at once are dropped without waiting.
    let dir = tempfile::tempdir().unwrap();
    let queue = format!("ipc://{}/nobody", dir.path().display());
    let input: String = (0..50_000).map(|i| page(&format!("p{i}"))).collect();
    let out = output_within(
        &mut logger(&["--drop", "--timeout", "0"], &queue),
        input.as_bytes(),
        LIMIT,
        "piw-logger --drop with no master, 50,000 lines",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "50000 lines: 50000 records, 0 ignored, 0 malformed, 0 too long; 49000 records dropped"
        ),
        "{stderr}"
    );
}

#[test]
fn drop_mode_sends_again_once_the_master_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let queue = format!("ipc://{}/log", dir.path().display());
    let log = dir.path().join("access.log");
    std::fs::write(&log, "").unwrap();
    let mut cmd = logger(&["--drop", "--follow", log.to_str().unwrap()], &queue);
    cmd.stdin(Stdio::null());
    let peer = Peer::spawn(&mut cmd, "piw-logger --drop --follow");
    // No master: the socket's queue fills (1000) and the rest are dropped.
    append(
        &log,
        &(0..1100)
            .map(|i| page(&format!("a{i}")))
            .collect::<String>(),
    );
    std::thread::sleep(Duration::from_millis(500));
    let (_ctx, mut pull) = pull(&queue);
    let got = receive(&mut pull, 1000, "records queued while the master was away");
    assert!(page_names(&got).keys().all(|k| k.starts_with('a')));
    // The master takes records again: new ones are sent, not dropped.
    append(
        &log,
        &(0..5).map(|i| page(&format!("c{i}"))).collect::<String>(),
    );
    // (Lines the logger had not read before the master came back may arrive first.)
    let mut late = Vec::new();
    while late.len() < 5 {
        late.extend(
            receive(&mut pull, 1, "records written after the master came back")
                .into_iter()
                .filter(|r| matches!(r, LogMessage::Page(p) if p.page.starts_with('c'))),
        );
    }
    stop(peer);
    late.extend(
        leftovers(&mut pull)
            .into_iter()
            .filter(|r| matches!(r, LogMessage::Page(p) if p.page.starts_with('c'))),
    );
    expect_once(&late, (0..5).map(|i| format!("c{i}")));
}

#[test]
fn with_no_master_it_still_exits_at_the_end_of_its_input() {
    // The original hangs for ever in `context.term` when nobody binds the log queue.
    let dir = tempfile::tempdir().unwrap();
    let queue = format!("ipc://{}/nobody", dir.path().display());
    let input: String = (0..3).map(|i| page(&format!("p{i}"))).collect();
    let out = output_within(
        &mut logger(&["--timeout", "1"], &queue),
        input.as_bytes(),
        LIMIT,
        "piw-logger with no master",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn following_through_rename_then_create_loses_no_line() {
    let dir = tempfile::tempdir().unwrap();
    let queue = format!("ipc://{}/log", dir.path().display());
    let (_ctx, mut pull) = pull(&queue);
    let log = dir.path().join("access.log");
    let rotated = dir.path().join("access.log.1");
    append(
        &log,
        &(0..20).map(|i| page(&format!("a{i}"))).collect::<String>(),
    );
    let peer = follow(&log, &queue);
    let mut all = receive(&mut pull, 20, "lines before the rotation");
    // logrotate renames; the server writes on to the renamed file until it reopens.
    std::fs::rename(&log, &rotated).unwrap();
    append(
        &rotated,
        &(0..20).map(|i| page(&format!("b{i}"))).collect::<String>(),
    );
    append(
        &log,
        &(0..20).map(|i| page(&format!("c{i}"))).collect::<String>(),
    );
    append(
        &rotated,
        &(0..5).map(|i| page(&format!("d{i}"))).collect::<String>(),
    );
    all.extend(receive(&mut pull, 45, "lines after the rotation"));
    stop(peer);
    all.extend(leftovers(&mut pull));
    let want = (0..20)
        .map(|i| format!("a{i}"))
        .chain((0..20).map(|i| format!("b{i}")))
        .chain((0..20).map(|i| format!("c{i}")))
        .chain((0..5).map(|i| format!("d{i}")));
    expect_once(&all, want);
}

#[test]
fn following_through_copytruncate_loses_no_line() {
    let dir = tempfile::tempdir().unwrap();
    let queue = format!("ipc://{}/log", dir.path().display());
    let (_ctx, mut pull) = pull(&queue);
    let log = dir.path().join("access.log");
    append(
        &log,
        &(0..20).map(|i| page(&format!("a{i}"))).collect::<String>(),
    );
    let peer = follow(&log, &queue);
    let mut all = receive(&mut pull, 20, "lines before the rotation");
    // logrotate copies, then truncates in place; the server writes on at the new end,
    // more than there was before, so the size alone does not show the truncation.
    std::fs::copy(&log, dir.path().join("access.log.1")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(
        &log,
        &(0..60).map(|i| page(&format!("b{i}"))).collect::<String>(),
    );
    all.extend(receive(&mut pull, 60, "lines after the truncation"));
    append(
        &log,
        &(0..5).map(|i| page(&format!("c{i}"))).collect::<String>(),
    );
    all.extend(receive(&mut pull, 5, "lines after those"));
    stop(peer);
    all.extend(leftovers(&mut pull));
    let want = (0..20)
        .map(|i| format!("a{i}"))
        .chain((0..60).map(|i| format!("b{i}")))
        .chain((0..5).map(|i| format!("c{i}")));
    expect_once(&all, want);
}

/// Runs the logger with its standard error on a new pseudo-terminal and returns what it
/// wrote there.
fn on_a_terminal(cmd: &mut Command) -> String {
    use std::os::fd::{FromRawFd, OwnedFd};
    let (mut leader, mut follower) = (-1, -1);
    // SAFETY: openpty(3) with out-pointers to two ints and no name, termios or size.
    let rc = unsafe {
        libc::openpty(
            &mut leader,
            &mut follower,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: openpty succeeded, so both are new descriptors this test alone owns.
    let (leader, follower) =
        unsafe { (OwnedFd::from_raw_fd(leader), OwnedFd::from_raw_fd(follower)) };
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(follower));
    let mut peer = Peer::spawn(cmd, "piw-logger on a terminal");
    // The command held the only other copy of the follower end: when the logger exits,
    // reading the leader ends (EIO).
    cmd.stderr(Stdio::null());
    let reader = std::thread::spawn(move || {
        let mut file = std::fs::File::from(leader);
        let mut out = Vec::new();
        let mut buf = [0; 4096];
        while let Ok(n) = std::io::Read::read(&mut file, &mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        out
    });
    peer.wait_success(LIMIT);
    let out = reader.join().expect("the terminal reader");
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn a_progress_bar_shows_on_a_terminal_only() {
    let dir = tempfile::tempdir().unwrap();
    let queue = format!("ipc://{}/log", dir.path().display());
    let log = dir.path().join("access.log");
    append(
        &log,
        &(0..20_000)
            .map(|i| page(&format!("p{i}")))
            .collect::<String>(),
    );
    let size = std::fs::metadata(&log).unwrap().len();
    let (_ctx, mut pull) = pull(&queue);
    let reader = std::thread::spawn(move || receive(&mut pull, 20_000, "records").len());
    let shown = on_a_terminal(&mut logger(&[log.to_str().unwrap()], &queue));
    assert_eq!(reader.join().unwrap(), 20_000);
    // The bar names the file and counts its bytes, then is cleared.
    assert!(shown.contains("access.log"), "{shown:?}");
    assert!(
        shown.contains(&format!("/{:.2} MiB", size as f64 / 1048576.0)),
        "{shown:?}"
    );
    assert!(shown.contains('█'), "{shown:?}");
    assert!(shown.contains("\u{1b}[2K"), "{shown:?}");
    // Not on a pipe.
    let (_ctx, mut pull) = self::pull(&format!("ipc://{}/log2", dir.path().display()));
    let reader = std::thread::spawn(move || receive(&mut pull, 20_000, "records").len());
    let out = output_within(
        &mut logger(
            &[log.to_str().unwrap()],
            &format!("ipc://{}/log2", dir.path().display()),
        ),
        b"",
        LIMIT,
        "piw-logger on a pipe",
    );
    assert_eq!(reader.join().unwrap(), 20_000);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains('█') && !stderr.contains("MiB"), "{stderr}");
}
