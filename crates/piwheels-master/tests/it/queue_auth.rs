//! CURVE on the slave and file queues (issue 19): only slaves whose keys are in the
//! allow-list get jobs, deleting a key file stops its slave, file transfers come only from
//! the slave that declared the build, original (NULL) slaves only from `--allow-plain`
//! networks, and bad handshakes are refused and logged at most once per peer a minute,
//! while an admitted slave keeps working. Real SlaveDriver, FileJuggler and TheArchitect
//! tasks, real ZeroMQ sockets.

use crate::core_support;
use crate::log_capture::LogCapture;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use core_support::farm::*;
use core_support::*;
use piwheels_master::config::QueueAuth;
use piwheels_master::hub::supervise;
use piwheels_master::queue_auth::{self, QueueAuthError};
use piwheels_master::slave_driver::SlaveDriver;
use piwheels_protocol::auth::{KeyPair, Network};
use piwheels_protocol::slave::{SlaveReply, SlaveRequest};
use piwheels_protocol::transfer::{ServerFrame, chunk_frames, hello_frames};
use piwheels_protocol::transport::asynchronous::RawDealer;
use piwheels_protocol::transport::{Security, SocketOptions, zmq};

/// The master's key pair, and an allow-list folder holding the public keys of `admitted`
/// slaves (one `NAME.key` file each, as `piw-keygen` writes them).
struct Keys {
    master: KeyPair,
    allow_list: PathBuf,
}

fn keys(dir: &Path, admitted: &[(&str, &KeyPair)]) -> Keys {
    let allow_list = dir.join("allowed");
    std::fs::create_dir_all(&allow_list).unwrap();
    for (name, pair) in admitted {
        pair.write(&allow_list.join(name)).unwrap();
        // The allow-list holds public keys only.
        std::fs::remove_file(allow_list.join(format!("{name}.key_secret"))).unwrap();
    }
    Keys {
        master: KeyPair::generate().unwrap(),
        allow_list,
    }
}

fn curve_auth(keys: &Keys) -> QueueAuth {
    QueueAuth {
        key: Some(keys.master),
        allow_list: Some(keys.allow_list.clone()),
        ..QueueAuth::default()
    }
}

fn client(master: &KeyPair, own: &KeyPair) -> SocketOptions {
    SocketOptions::new()
        .linger(Some(Duration::ZERO))
        .security(Security::CurveClient {
            server: master.public,
            own: *own,
        })
}

/// A farm whose queues speak CURVE, admitting `admitted` (keys in the farm's folder).
async fn curve_farm(admitted: &[(&str, &KeyPair)]) -> (Farm, Keys) {
    let mut made = None;
    let farm = Farm::start(|env, _| {
        let k = keys(env.dir.path(), admitted);
        env.config.auth = curve_auth(&k);
        made = Some(k);
    })
    .await;
    (farm, made.unwrap())
}

/// Sends `data` as slave `slave_id` over a DEALER with `options`: the frames the master
/// sent back until DONE, or `None` if nothing came within `quiet`.
async fn transfer(
    endpoint: &str,
    options: &SocketOptions,
    slave_id: u64,
    data: &[u8],
    quiet: Duration,
) -> Option<usize> {
    let ctx = zmq::Context::new();
    let mut d = RawDealer::connect(&ctx, endpoint, options).unwrap();
    d.send(hello_frames(slave_id)).await.unwrap();
    let mut chunks = 0;
    loop {
        let frames = tokio::time::timeout(quiet, d.recv()).await.ok()?.unwrap();
        match ServerFrame::parse(&frames).unwrap() {
            ServerFrame::Done => return Some(chunks),
            ServerFrame::Fetch { offset, length } => {
                let start = (offset as usize).min(data.len());
                let end = (offset + length).min(data.len() as u64) as usize;
                d.send(chunk_frames(offset, data[start..end].to_vec()))
                    .await
                    .unwrap();
                chunks += 1;
            }
        }
    }
}

#[tokio::test]
async fn only_the_slave_whose_key_is_in_the_allow_list_gets_a_job() {
    let capture = LogCapture::new();
    let _guard = tracing::subscriber::set_default(capture.subscriber());
    let (admitted, stranger) = (KeyPair::generate().unwrap(), KeyPair::generate().unwrap());
    let (farm, keys) = curve_farm(&[("admitted", &admitted)]).await;
    let (mut a, _) = farm
        .hello_from(farm.slave_with(client(&keys.master, &admitted)), hello())
        .await;
    // The other never gets past the handshake: its HELLO is never answered.
    farm.slave_with(client(&keys.master, &stranger))
        .unanswered(SlaveRequest::Hello(hello()))
        .await;
    // Nor does a NULL peer (the endpoint speaks CURVE only).
    farm.slave().unanswered(SlaveRequest::Hello(hello())).await;
    assert_eq!(a.ask(idle()).await, build("foo"));
    let refusals = capture.stats();
    let refused = refusals.matching("key not in the allow-list");
    assert_eq!(refused.len(), 1, "{:#?}", refusals.kept);
    assert!(
        refused[0].contains(&stranger.public.to_z85()),
        "{}",
        refused[0]
    );
    farm.stop().await;
}

#[tokio::test]
async fn deleting_a_key_file_stops_its_slave_at_its_next_message() {
    let capture = LogCapture::new();
    let _guard = tracing::subscriber::set_default(capture.subscriber());
    let (one, two) = (KeyPair::generate().unwrap(), KeyPair::generate().unwrap());
    let (farm, keys) = curve_farm(&[("one", &one), ("two", &two)]).await;
    let (mut a, _) = farm
        .hello_from(farm.slave_with(client(&keys.master, &one)), hello())
        .await;
    let (mut b, _) = farm
        .hello_from(farm.slave_with(client(&keys.master, &two)), hello())
        .await;
    assert_eq!(a.ask(idle()).await, build("foo"));
    std::fs::remove_file(keys.allow_list.join("one.key")).unwrap();
    // Its next message, on the connection ZAP admitted before, is answered DIE.
    assert_eq!(a.ask(busy()).await, SlaveReply::Die);
    // Its job went back in the queue at once: the other slave gets it.
    assert_eq!(b.ask(idle()).await, build("foo"));
    // A new connection with the revoked key does not get past the handshake.
    farm.slave_with(client(&keys.master, &one))
        .unanswered(SlaveRequest::Hello(hello()))
        .await;
    let log = capture.stats();
    assert_eq!(
        log.matching("no longer in the allow-list").len(),
        1,
        "{:#?}",
        log.kept
    );
    farm.stop().await;
}

#[tokio::test]
async fn a_file_is_taken_only_from_the_key_that_declared_the_build() {
    let (one, two) = (KeyPair::generate().unwrap(), KeyPair::generate().unwrap());
    let (farm, keys) = curve_farm(&[("one", &one), ("two", &two)]).await;
    let (mut a, id) = farm
        .hello_from(farm.slave_with(client(&keys.master, &one)), hello())
        .await;
    assert_eq!(a.ask(idle()).await, build("foo"));
    let data = wheel("foo", "1.0", 1000);
    let name = "foo-1.0-py3-none-any.whl";
    assert_eq!(
        a.ask(built(true, vec![file_state(name, &data, "any")]))
            .await,
        SlaveReply::Send(name.into())
    );
    // Another admitted slave claims the transfer: no FETCH.
    let other = client(&keys.master, &two);
    let quiet = Duration::from_millis(1500);
    assert_eq!(
        transfer(&farm.files, &other, id as u64, &data, quiet).await,
        None,
        "a transfer from another key was taken"
    );
    // The slave itself sends it.
    let own = client(&keys.master, &one);
    assert!(
        transfer(&farm.files, &own, id as u64, &data, WAIT)
            .await
            .is_some()
    );
    assert_eq!(a.ask(SlaveRequest::Sent).await, SlaveReply::Done);
    farm.stop().await;
}

/// An original piwheels 0.23 slave's first request, through the protocol crate's Python
/// copy of 0.23's message tables: prints the reply's name, or `TIMEOUT`.
const PY_HELLO: &str = r#"
import datetime as dt, sys, zmq
sys.path.insert(0, sys.argv[1])
from piwheels_wire import SLAVE_RECEIVES, SLAVE_SENDS, dump_msg, load_msg
req = zmq.Context().socket(zmq.REQ); req.linger = 0; req.rcvtimeo = 3000
req.connect(sys.argv[2])
hello = [dt.timedelta(hours=3), dt.timedelta(minutes=5), "311", "cp311", "linux_x86_64",
         "py-slave", "Debian GNU/Linux", "12 (bookworm)", "unknown", "unknown"]
req.send(dump_msg(SLAVE_SENDS, "HELLO", hello))
try:
    print(load_msg(SLAVE_RECEIVES, req.recv())[0], flush=True)
except zmq.Again:
    print("TIMEOUT", flush=True)
"#;

async fn python_hello(python: &Path, endpoint: &str) -> String {
    let peer_dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../piwheels-protocol/tests/peer"
    );
    let mut cmd = std::process::Command::new(python);
    cmd.args(["-c", PY_HELLO, peer_dir, endpoint]);
    let out = tokio::task::spawn_blocking(move || {
        output_within(&mut cmd, b"", Duration::from_secs(60), "the Python slave")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn plain(networks: &[&str]) -> Vec<Network> {
    networks.iter().map(|n| n.parse().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_original_slave_is_admitted_only_from_allow_plain_networks() {
    let Some(python) = python() else {
        skip(
            "an_original_slave_is_admitted_only_from_allow_plain_networks",
            "no Python with pyzmq, cbor2 and voluptuous (set PIWHEELS_TEST_PYTHON or make scripts/py-env work)",
        );
        return;
    };
    // No key: the queues speak NULL, checked by address.
    let farm = Farm::start(|env, _| env.config.auth.allow_plain = plain(&["127.0.0.1"])).await;
    assert_eq!(python_hello(&python, &farm.slaves).await, "ACK");
    farm.stop().await;
    let farm = Farm::start(|env, _| env.config.auth.allow_plain = plain(&["192.0.2.0/24"])).await;
    assert_eq!(python_hello(&python, &farm.slaves).await, "TIMEOUT");
    farm.stop().await;
    // With a key: CURVE on the slave queue, original slaves on the plain one.
    let dir = tempfile::tempdir().unwrap();
    let keys = keys(dir.path(), &[]);
    let mut auth = curve_auth(&keys);
    auth.allow_plain = plain(&["127.0.0.1"]);
    auth.plain_slave_queue = Some("tcp://127.0.0.1:*".into());
    auth.plain_file_queue = Some("tcp://127.0.0.1:*".into());
    let env = Env::new().await;
    let mut config = env.config.clone();
    config.auth = auth;
    let (hub, inboxes) = {
        let db = piwheels_db::Database::open(&config.dsn).await.unwrap();
        piwheels_master::hub::Hub::new(db, config)
    };
    let driver = SlaveDriver::bind(hub.clone(), inboxes.skip, inboxes.slave_commands).unwrap();
    let curve = driver.endpoint().to_owned();
    let plain_endpoint = driver.plain_endpoint().unwrap().to_owned();
    let task = supervise(driver, hub.quit.clone());
    assert_eq!(python_hello(&python, &plain_endpoint).await, "ACK");
    assert_eq!(python_hello(&python, &curve).await, "TIMEOUT");
    hub.quit.cancel();
    tokio::time::timeout(WAIT, task).await.unwrap().unwrap();
}

/// The bytes a CURVE client sends first (its greeting and `HELLO` command), recorded by a
/// fake server that answers with a CURVE server's greeting.
fn record_curve_hello(master: &KeyPair, own: &KeyPair) -> Vec<u8> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let ctx = zmq::Context::new();
    let socket = ctx.socket(zmq::DEALER).unwrap();
    client(master, own).apply(&socket).unwrap();
    socket.connect(&format!("tcp://{addr}")).unwrap();
    let (mut stream, _) = listener.accept().unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    // ZMTP 3.0 greeting: signature, version 3.0, mechanism CURVE, as-server, filler.
    let mut greeting = vec![0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 3, 0];
    let mut mechanism = b"CURVE".to_vec();
    mechanism.resize(20, 0);
    greeting.extend(mechanism);
    greeting.push(1);
    greeting.resize(64, 0);
    stream.write_all(&greeting).unwrap();
    let mut recorded = Vec::new();
    let mut buf = [0u8; 4096];
    // The greeting (64 bytes) and HELLO (2 + 200 bytes): wait until both are in.
    let deadline = std::time::Instant::now() + WAIT;
    while recorded.len() < 64 + 202 && std::time::Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => recorded.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    assert!(
        recorded.len() >= 64 + 202,
        "the client sent only {} bytes",
        recorded.len()
    );
    recorded
}

/// Sends `bytes` on a new TCP connection to `endpoint` and reads what comes back for a
/// while: whether the connection got past the handshake can be judged from it.
fn raw_tcp(endpoint: &str, bytes: &[u8]) -> Vec<u8> {
    let addr = endpoint.strip_prefix("tcp://").unwrap();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let _ = stream.write_all(bytes);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let until = std::time::Instant::now() + Duration::from_secs(1);
    while std::time::Instant::now() < until {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    got
}

#[tokio::test]
async fn bad_handshakes_are_refused_logged_once_and_harm_no_admitted_slave() {
    let capture = LogCapture::new();
    let _guard = tracing::subscriber::set_default(capture.subscriber());
    let (admitted, wrong) = (KeyPair::generate().unwrap(), KeyPair::generate().unwrap());
    let (farm, keys) = curve_farm(&[("admitted", &admitted)]).await;
    let (mut a, _) = farm
        .hello_from(farm.slave_with(client(&keys.master, &admitted)), hello())
        .await;
    // A wrong key, three times over.
    for _ in 0..3 {
        farm.slave_with(client(&keys.master, &wrong))
            .unanswered(SlaveRequest::Hello(hello()))
            .await;
    }
    // A client that has the wrong idea of the master's key.
    let impostor = KeyPair::generate().unwrap();
    farm.slave_with(client(&impostor, &admitted))
        .unanswered(SlaveRequest::Hello(hello()))
        .await;
    assert_eq!(a.ask(idle()).await, build("foo"));
    // Garbage before the handshake.
    let slaves = farm.slaves.clone();
    let garbage: Vec<u8> = noise(4096, 7);
    let got = tokio::task::spawn_blocking(move || raw_tcp(&slaves, &garbage))
        .await
        .unwrap();
    assert!(got.len() <= 64, "garbage got {} bytes back", got.len());
    // A replayed handshake: the admitted slave's own first bytes, on a new connection.
    let (m, own) = (keys.master, admitted);
    let recorded = tokio::task::spawn_blocking(move || record_curve_hello(&m, &own))
        .await
        .unwrap();
    let slaves = farm.slaves.clone();
    let replayed = tokio::task::spawn_blocking(move || raw_tcp(&slaves, &recorded))
        .await
        .unwrap();
    // At most the greeting and WELCOME (which needs the client's short-term secret key
    // to use): never a READY, which only follows an INITIATE the replay cannot make.
    assert!(
        replayed.len() <= 64 + 170,
        "the replay got {} bytes back",
        replayed.len()
    );
    // The admitted slave is still served.
    assert_eq!(a.ask(busy()).await, SlaveReply::Cont);
    let log = capture.stats();
    assert_eq!(
        log.matching("key not in the allow-list").len(),
        1,
        "one refusal logged per peer a minute: {:#?}",
        log.kept
    );
    farm.stop().await;
}

#[tokio::test]
async fn a_queue_beyond_loopback_needs_keys_allow_plain_or_insecure() {
    let capture = LogCapture::new();
    let _guard = tracing::subscriber::set_default(capture.subscriber());
    let open = QueueAuth::default();
    let err = queue_auth::plan(
        &open,
        ("--slave-queue", "tcp://*:5555"),
        ("--plain-slave-queue", None),
    )
    .unwrap_err();
    assert!(matches!(err, QueueAuthError::Open { .. }), "{err}");
    assert!(err.to_string().contains("--insecure"), "{err}");
    // The master itself refuses to start so.
    let mut env = Env::new().await;
    env.config.slave_queue = "tcp://0.0.0.0:*".into();
    let (hub, inboxes) = env.hub().await;
    let err = SlaveDriver::bind(hub, inboxes.skip, inboxes.slave_commands).unwrap_err();
    assert!(err.to_string().contains("--slave-queue"), "{err}");
    // Loopback is fine; --insecure is fine but warned about.
    queue_auth::plan(
        &open,
        ("--slave-queue", "tcp://127.0.0.1:5555"),
        ("--plain-slave-queue", None),
    )
    .unwrap();
    assert!(capture.stats().matching("--insecure").is_empty());
    let insecure = QueueAuth {
        insecure: true,
        ..QueueAuth::default()
    };
    let plan = queue_auth::plan(
        &insecure,
        ("--slave-queue", "tcp://*:5555"),
        ("--plain-slave-queue", None),
    )
    .unwrap();
    assert_eq!(plan.main.1, Security::Null);
    assert_eq!(capture.stats().matching("--insecure").len(), 1);
    // --allow-plain with --key needs endpoints of its own.
    let dir = tempfile::tempdir().unwrap();
    let k = keys(dir.path(), &[]);
    let mut both = curve_auth(&k);
    both.allow_plain = plain(&["127.0.0.1"]);
    let err = queue_auth::plan(
        &both,
        ("--slave-queue", "tcp://*:5555"),
        ("--plain-slave-queue", None),
    )
    .unwrap_err();
    assert!(err.to_string().contains("--plain-slave-queue"), "{err}");
    let plan = queue_auth::plan(
        &both,
        ("--slave-queue", "tcp://*:5555"),
        ("--plain-slave-queue", Some("tcp://*:5557")),
    )
    .unwrap();
    assert!(matches!(plan.main.1, Security::CurveServer(_)));
    assert_eq!(
        plan.plain,
        Some(("tcp://*:5557".to_owned(), Security::NullChecked))
    );
    // --allow-plain alone: NULL, checked by address.
    let only_plain = QueueAuth {
        allow_plain: plain(&["192.0.2.0/24"]),
        ..QueueAuth::default()
    };
    let plan = queue_auth::plan(
        &only_plain,
        ("--slave-queue", "tcp://*:5555"),
        ("--plain-slave-queue", None),
    )
    .unwrap();
    assert_eq!(plan.main.1, Security::NullChecked);
}

/// Adds czmq's `expires` metadata to a public key file.
fn expire(file: &Path, when: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    let line = format!("metadata\n    expires = \"{when}\"\n");
    let text = match text.find("curve\n") {
        Some(at) => format!("{}{line}{}", &text[..at], &text[at..]),
        None => format!("{text}{line}"),
    };
    std::fs::write(file, text).unwrap();
}

#[tokio::test]
async fn an_expired_key_is_refused_and_a_valid_one_admitted() {
    let capture = LogCapture::new();
    let _guard = tracing::subscriber::set_default(capture.subscriber());
    let (old, fresh) = (KeyPair::generate().unwrap(), KeyPair::generate().unwrap());
    let mut made = None;
    let farm = Farm::start(|env, _| {
        let k = keys(env.dir.path(), &[("old", &old), ("fresh", &fresh)]);
        expire(&k.allow_list.join("old.key"), "2020-01-01T00:00:00Z");
        expire(&k.allow_list.join("fresh.key"), "2999-01-01T00:00:00Z");
        env.config.auth = curve_auth(&k);
        made = Some(k);
    })
    .await;
    let keys = made.unwrap();
    farm.slave_with(client(&keys.master, &old))
        .unanswered(SlaveRequest::Hello(hello()))
        .await;
    let (mut a, _) = farm
        .hello_from(farm.slave_with(client(&keys.master, &fresh)), hello())
        .await;
    assert_eq!(a.ask(idle()).await, build("foo"));
    let log = capture.stats();
    let refused = log.matching("key expired");
    assert_eq!(refused.len(), 1, "{:#?}", log.kept);
    assert!(refused[0].contains(&old.public.to_z85()), "{}", refused[0]);
    farm.stop().await;
}

/// [`raw_tcp`] from `source` (a loopback address: another host, as far as the master can
/// tell), waiting `pause` between connecting and sending.
fn raw_tcp_from(source: &str, endpoint: &str, bytes: &[u8], pause: Duration) -> Vec<u8> {
    use rustix::net::{AddressFamily, SocketType};
    let dest: std::net::SocketAddr = endpoint.strip_prefix("tcp://").unwrap().parse().unwrap();
    let fd = rustix::net::socket(AddressFamily::INET, SocketType::STREAM, None).unwrap();
    let src = std::net::SocketAddr::new(source.parse().unwrap(), 0);
    rustix::net::bind(&fd, &src).unwrap();
    rustix::net::connect(&fd, &dest).unwrap();
    let mut stream = TcpStream::from(fd);
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    std::thread::sleep(pause);
    let _ = stream.write_all(bytes);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let until = std::time::Instant::now() + Duration::from_millis(600);
    while std::time::Instant::now() < until {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    got
}

/// A slave socket with `options`, connecting to the farm's slave queue from `source`.
fn slave_from(farm: &Farm, source: &str, options: &SocketOptions) -> Slave {
    let dest = farm.slaves.trim_start_matches("tcp://");
    let endpoint = format!("tcp://{source}:0;{dest}");
    Slave {
        req: piwheels_protocol::transport::asynchronous::Req::connect(
            &zmq::Context::new(),
            &endpoint,
            options,
        )
        .unwrap(),
    }
}

/// The log lines about failures before authentication from `peer`.
fn pre_auth_lines(capture: &LogCapture, peer: &str) -> Vec<String> {
    let from = format!("from {peer} on ");
    capture
        .stats()
        .kept
        .into_iter()
        .filter(|l| l.contains(&from))
        .filter(|l| l.contains("handshake failed") || l.contains("closed before its handshake"))
        .collect()
}

/// Waits until the master has logged a failure before authentication from `peer`.
async fn wait_for_pre_auth_line(capture: &LogCapture, peer: &str, what: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while pre_auth_lines(capture, peer).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no log line about {what} from {peer}: {:#?}",
            capture.stats().kept
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn failures_before_authentication_are_logged_once_per_peer_a_minute() {
    let capture = LogCapture::new();
    let _guard = tracing::subscriber::set_default(capture.subscriber());
    let admitted = KeyPair::generate().unwrap();
    let (farm, keys) = curve_farm(&[("admitted", &admitted)]).await;
    let (mut a, _) = farm
        .hello_from(farm.slave_with(client(&keys.master, &admitted)), hello())
        .await;
    // An admitted slave from 127.0.0.5 comes and goes: a normal close, never logged.
    let (b, _) = farm
        .hello_from(
            slave_from(&farm, "127.0.0.5", &client(&keys.master, &admitted)),
            hello(),
        )
        .await;
    drop(b);
    // Garbage before the handshake, many times over from 127.0.0.1 (the admitted slave's
    // own address): random bytes, and an HTTP request. libzmq closes such a connection as
    // soon as it reads the first byte, often before the watch can ask the kernel who the
    // peer was: those are logged as from an unknown peer (once a minute too). A peer that
    // takes a moment before it sends its garbage (a person, a scanner) is named.
    for i in 0..4 {
        for pause in [Duration::ZERO, Duration::from_millis(300)] {
            let (slaves, garbage) = (farm.slaves.clone(), noise(4096, i));
            tokio::task::spawn_blocking(move || {
                raw_tcp_from("127.0.0.1", &slaves, &garbage, pause)
            })
            .await
            .unwrap();
            let slaves = farm.slaves.clone();
            let http = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
            tokio::task::spawn_blocking(move || raw_tcp_from("127.0.0.1", &slaves, &http, pause))
                .await
                .unwrap();
        }
    }
    assert_eq!(a.ask(idle()).await, build("foo"));
    // A replayed handshake, three times from 127.0.0.2.
    let (m, own) = (keys.master, admitted);
    let recorded = tokio::task::spawn_blocking(move || record_curve_hello(&m, &own))
        .await
        .unwrap();
    for _ in 0..3 {
        let (slaves, recorded) = (farm.slaves.clone(), recorded.clone());
        tokio::task::spawn_blocking(move || {
            raw_tcp_from("127.0.0.2", &slaves, &recorded, Duration::ZERO)
        })
        .await
        .unwrap();
    }
    // A client with the wrong idea of the master's key, from 127.0.0.3 (each socket
    // retries the handshake over and over while it waits).
    let impostor = KeyPair::generate().unwrap();
    for _ in 0..3 {
        slave_from(&farm, "127.0.0.3", &client(&impostor, &admitted))
            .unanswered(SlaveRequest::Hello(hello()))
            .await;
    }
    // A NULL client on the CURVE endpoint, from 127.0.0.4.
    let null = SocketOptions::new().linger(Some(Duration::ZERO));
    for _ in 0..3 {
        slave_from(&farm, "127.0.0.4", &null)
            .unanswered(SlaveRequest::Hello(hello()))
            .await;
    }
    // The admitted slave was served all along.
    assert_eq!(a.ask(busy()).await, SlaveReply::Cont);
    let cases = [
        (
            "127.0.0.1",
            "garbage",
            "closed before its handshake completed",
        ),
        // The replay stops after WELCOME, which it cannot answer.
        ("127.0.0.2", "a replayed handshake", "handshake failed"),
        ("127.0.0.3", "a wrong server key", "cryptographic"),
        ("127.0.0.4", "a NULL client", "handshake failed"),
    ];
    for (peer, what, _) in cases {
        wait_for_pre_auth_line(&capture, peer, what).await;
    }
    for (peer, what, words) in cases {
        let lines = pre_auth_lines(&capture, peer);
        assert_eq!(lines.len(), 1, "{what}: one line a minute: {lines:#?}");
        assert!(lines[0].contains(words), "{what}: {}", lines[0]);
        let port = farm.slaves.rsplit(':').next().unwrap();
        assert!(
            lines[0].contains(&format!(":{port}: ")) || lines[0].contains(&format!(":{port} ")),
            "{what}: {}",
            lines[0]
        );
    }
    let unknown = capture.stats().matching("an unknown peer").len();
    assert!(unknown <= 1, "{:#?}", capture.stats().kept);
    assert!(
        pre_auth_lines(&capture, "127.0.0.5").is_empty(),
        "{:#?}",
        capture.stats().kept
    );
    // None of them reached ZAP, which logs only what it refused (nothing here).
    assert!(capture.stats().matching("refused").is_empty());
    farm.stop().await;
}
