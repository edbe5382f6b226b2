//! SlaveDriver against scripted slaves on real REQ sockets, with a real FileJuggler,
//! TheArchitect and SQLite database.

use crate::core_support;

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use core_support::farm::*;
use core_support::*;
use piwheels_master::hub::{SkipRequest, SlaveCommand, WebRequest};
use piwheels_protocol::monitor::{SlaveEventKind, StatusMessage};
use piwheels_protocol::slave::{Job, SlaveReply, SlaveRequest};
use piwheels_protocol::transport::zmq;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_is_transferred_verified_logged_and_published() {
    let mut farm = Farm::start(|_, _| {}).await;
    let (mut s, id) = farm.hello(hello()).await;
    assert_eq!(id, 1);
    assert_eq!(s.ask(idle()).await, build("foo"));
    assert_eq!(s.ask(busy()).await, SlaveReply::Cont);
    assert_eq!(s.ask(busy()).await, SlaveReply::Cont);

    let any = wheel("foo", "1.0", 200_000);
    let native = wheel("foo", "1.0", 50_000);
    let any_name = "foo-1.0-py3-none-any.whl";
    let native_name = "foo-1.0-cp311-cp311-linux_x86_64.whl";
    let files = vec![
        file_state(any_name, &any, "any"),
        file_state(native_name, &native, "linux_x86_64"),
    ];
    // Files go in filename order.
    assert_eq!(
        s.ask(built(true, files)).await,
        SlaveReply::Send(native_name.into())
    );
    // The first upload is corrupt: the same file is asked for again.
    let mut corrupt = native.clone();
    corrupt[100] ^= 0xff;
    assert!(send_file(&farm.files, id as u64, &corrupt, None).await.done);
    assert_eq!(
        s.ask(SlaveRequest::Sent).await,
        SlaveReply::Send(native_name.into())
    );
    assert!(send_file(&farm.files, id as u64, &native, None).await.done);
    assert_eq!(
        s.ask(SlaveRequest::Sent).await,
        SlaveReply::Send(any_name.into())
    );
    assert!(send_file(&farm.files, id as u64, &any, None).await.done);
    assert_eq!(s.ask(SlaveRequest::Sent).await, SlaveReply::Done);

    // Published, and logged in the database.
    let dir = farm.env.simple().join("foo");
    assert_eq!(std::fs::read(dir.join(any_name)).unwrap(), any);
    assert_eq!(std::fs::read(dir.join(native_name)).unwrap(), native);
    let logged = farm.hub.db.package_files("foo").await.unwrap();
    assert!(
        logged.contains_key(any_name) && logged.contains_key(native_name),
        "{logged:?}"
    );
    let WebRequest::Log { build_id, log } = farm.next_web().await else {
        panic!("expected LOG first");
    };
    assert!(build_id > 0);
    assert_eq!(log, "the build log (status true)");
    assert_eq!(farm.next_web().await, WebRequest::Published("foo".into()));

    // foo is done: the next job is bar.
    assert_eq!(s.ask(idle()).await, build("bar"));

    // Monitors saw every reply but CONT, and the statistics.
    let mut seen = Vec::new();
    while let Ok(StatusMessage::Slave(e)) = farm.status.try_recv() {
        assert_eq!(e.slave_id, id);
        seen.push(match e.kind().unwrap() {
            SlaveEventKind::Hello(_) => "HELLO".to_string(),
            SlaveEventKind::Stats(_) => "STATS".to_string(),
            SlaveEventKind::Reply(r) => piwheels_protocol::Message::name(&r).to_string(),
            SlaveEventKind::CoolingOff(_) => "SLEEP until".to_string(),
        });
    }
    assert_eq!(
        seen,
        [
            "HELLO", "ACK", "STATS", "BUILD", "STATS", "STATS", "SEND", "SEND", "SEND", "DONE",
            "STATS", "BUILD"
        ]
    );
    farm.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_builds_are_logged_and_out_of_order_messages_get_die() {
    let mut farm = Farm::start(|_, _| {}).await;
    // Nothing but HELLO from an unknown peer is answered.
    farm.slave().unanswered(idle()).await;
    farm.slave().unanswered(SlaveRequest::Sent).await;

    let (mut s, _) = farm.hello(hello()).await;
    assert_eq!(s.ask(idle()).await, build("foo"));
    assert_eq!(s.ask(built(false, vec![])).await, SlaveReply::Done);
    assert!(
        matches!(farm.next_web().await, WebRequest::Log { log, .. } if log.contains("status false"))
    );
    assert_eq!(farm.next_web().await, WebRequest::Project("foo".into()));

    // Out of order: DIE.
    assert_eq!(s.ask(SlaveRequest::Sent).await, SlaveReply::Die);
    let (mut s, _) = farm.hello(hello()).await;
    assert_eq!(s.ask(built(false, vec![])).await, SlaveReply::Die);
    let (mut s, _) = farm.hello(hello()).await;
    assert_eq!(s.ask(SlaveRequest::Hello(hello())).await, SlaveReply::Die);
    // BUSY is accepted at any time.
    let (mut s, id) = farm.hello(hello()).await;
    assert_eq!(s.ask(busy()).await, SlaveReply::Cont);
    // BYE: no reply, and the slave is forgotten.
    s.unanswered(SlaveRequest::Bye).await;
    let (_, next) = farm.hello(hello()).await;
    assert_eq!(next, id + 1);
    farm.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_messages_from_a_known_slave_are_answered() {
    let farm = Farm::start(|_, _| {}).await;
    let endpoint = farm.slaves.clone();
    // A raw REQ: HELLO as CBOR, then garbage.
    let replies = tokio::task::spawn_blocking(move || {
        use piwheels_protocol::Message;
        let ctx = zmq::Context::new();
        let req = ctx.socket(zmq::REQ).unwrap();
        req.set_linger(0).unwrap();
        req.set_rcvtimeo(10_000).unwrap();
        req.connect(&endpoint).unwrap();
        let mut out = Vec::new();
        req.send(SlaveRequest::Hello(hello()).encode().unwrap(), 0)
            .unwrap();
        out.push(SlaveReply::decode(&req.recv_bytes(0).unwrap()).unwrap());
        req.send(&b"\xff\xfe not cbor"[..], 0).unwrap();
        out.push(SlaveReply::decode(&req.recv_bytes(0).unwrap()).unwrap());
        out
    })
    .await
    .unwrap();
    assert!(matches!(replies[0], SlaveReply::Ack(_)));
    assert_eq!(replies[1], SlaveReply::Sleep(false));
    farm.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_skip_sleep_wake_and_pause() {
    let farm = Farm::start(|_, _| {}).await;
    let (mut a, a_id) = farm.hello(hello()).await;
    let (mut b, _) = farm.hello(hello()).await;
    let cmd = |c| farm.hub.slave_commands.send(c).unwrap();
    let settle = || tokio::time::sleep(Duration::from_millis(200));

    // SLEEP for one slave is honoured; WAKE ends it.
    cmd(SlaveCommand::Sleep(Some(a_id.try_into().unwrap())));
    settle().await;
    assert_eq!(a.ask(idle()).await, SlaveReply::Sleep(true));
    cmd(SlaveCommand::Wake(Some(a_id.try_into().unwrap())));
    settle().await;
    assert_eq!(a.ask(idle()).await, build("foo"));

    // SKIP: the build in progress is abandoned, and not handed out again.
    assert_eq!(a.ask(busy()).await, SlaveReply::Cont);
    cmd(SlaveCommand::Skip(None));
    settle().await;
    assert_eq!(a.ask(busy()).await, SlaveReply::Done);
    assert_eq!(b.ask(idle()).await, build("bar"));
    assert_eq!(a.ask(idle()).await, SlaveReply::Sleep(false));

    // The whole master paused: SLEEP true for everyone.
    farm.paused.send(true).unwrap();
    assert_eq!(a.ask(idle()).await, SlaveReply::Sleep(true));
    farm.paused.send(false).unwrap();

    // KILL: DIE at the next IDLE, not while building.
    cmd(SlaveCommand::Kill(None));
    settle().await;
    assert_eq!(b.ask(busy()).await, SlaveReply::Cont);
    assert_eq!(a.ask(idle()).await, SlaveReply::Die);
    cmd(SlaveCommand::Wake(None));
    settle().await;
    assert_eq!(b.ask(built(false, vec![])).await, SlaveReply::Done);
    assert_eq!(b.ask(idle()).await, SlaveReply::Sleep(false));
    farm.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletions_abandon_builds_and_leave_the_queue() {
    let farm = Farm::start(|_, _| {}).await;
    let (mut s, _) = farm.hello(hello()).await;
    assert_eq!(s.ask(idle()).await, build("foo"));
    farm.hub
        .skip
        .send(SkipRequest::Package("foo".into()))
        .unwrap();
    farm.hub
        .skip
        .send(SkipRequest::Version("bar".into(), "1.0".into()))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(s.ask(busy()).await, SlaveReply::Done);
    assert_eq!(s.ask(idle()).await, SlaveReply::Sleep(false));
    farm.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slave_of_a_target_not_enabled_sleeps() {
    let farm = Farm::start(|_, _| {}).await;
    let (mut s, _) = farm
        .hello(hello_for("linux_aarch64", TimeDelta::hours(3)))
        .await;
    assert_eq!(s.ask(idle()).await, SlaveReply::Sleep(false));
    assert_eq!(s.ask(idle()).await, SlaveReply::Sleep(false));
    // Platforms spelled as sysconfig does are the same target.
    let (mut s, _) = farm
        .hello(hello_for("linux-x86_64", TimeDelta::hours(3)))
        .await;
    assert_eq!(s.ask(idle()).await, build("foo"));
    farm.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_slaves_are_forgotten() {
    let mut farm = Farm::start(|env, _| env.config.busy_timeout = Duration::from_millis(500)).await;
    let (mut s, id) = farm.hello(hello()).await;
    assert_eq!(s.ask(idle()).await, build("foo"));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // Forgotten: the same socket is now an unknown peer.
    s.unanswered(busy()).await;
    let mut died = false;
    while let Ok(StatusMessage::Slave(e)) = farm.status.try_recv() {
        if e.slave_id == id && e.kind() == Some(SlaveEventKind::Reply(SlaveReply::Die)) {
            died = true;
        }
    }
    assert!(died, "monitors are told the slave is gone");
    farm.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builds_past_their_timeout_are_stopped_and_logged_as_failed() {
    let mut farm = Farm::start(|_, t| t.build_grace = Duration::from_millis(300)).await;
    let (mut s, _) = farm
        .hello(hello_for("linux_x86_64", TimeDelta::zero()))
        .await;
    assert_eq!(s.ask(idle()).await, build("foo"));
    assert_eq!(s.ask(busy()).await, SlaveReply::Cont);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.ask(busy()).await, SlaveReply::Done);
    assert!(
        matches!(farm.next_web().await, WebRequest::Log { log, .. } if log.contains("build timeout"))
    );
    assert_eq!(farm.next_web().await, WebRequest::Project("foo".into()));
    assert_eq!(s.ask(idle()).await, build("bar"));
    farm.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_the_database_refuses_still_gets_an_answer() {
    let mut farm = Farm::start(|_, _| {}).await;
    let (mut s, _) = farm.hello(hello()).await;
    assert_eq!(s.ask(idle()).await, build("foo"));
    assert!(farm.hub.db.delete_version("foo", "1.0").await.unwrap());
    assert_eq!(s.ask(built(false, vec![])).await, SlaveReply::Done);
    assert!(
        farm.web.try_recv().is_err(),
        "nothing was logged, so nothing to rewrite"
    );
    assert_eq!(s.ask(idle()).await, build("bar"));
    farm.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_never_arrives_intact_fails_the_build_and_publishes_nothing() {
    let mut farm = Farm::start(|_, _| {}).await;
    let (mut s, id) = farm.hello(hello()).await;
    assert_eq!(s.ask(idle()).await, build("foo"));
    let good = wheel("foo", "1.0", 1000);
    let bad = wheel("foo", "1.0", 2000);
    let good_name = "foo-1.0-cp311-cp311-linux_x86_64.whl";
    let bad_name = "foo-1.0-py3-none-any.whl";
    let files = vec![
        file_state(good_name, &good, "linux_x86_64"),
        file_state(bad_name, &bad, "any"),
    ];
    assert_eq!(
        s.ask(built(true, files)).await,
        SlaveReply::Send(good_name.into())
    );
    assert!(send_file(&farm.files, id as u64, &good, None).await.done);
    assert_eq!(
        s.ask(SlaveRequest::Sent).await,
        SlaveReply::Send(bad_name.into())
    );
    assert!(
        !farm.env.simple().join("foo").join(good_name).exists(),
        "nothing is published before the build is recorded"
    );
    assert_eq!(staging(&farm.env).len(), 2, "staged, and the next upload");
    let mut corrupt = bad.clone();
    corrupt[10] ^= 1;
    for attempt in 1..=piwheels_master::slave_driver::MAX_SEND_ATTEMPTS {
        assert!(send_file(&farm.files, id as u64, &corrupt, None).await.done);
        let reply = s.ask(SlaveRequest::Sent).await;
        if attempt < piwheels_master::slave_driver::MAX_SEND_ATTEMPTS {
            assert_eq!(reply, SlaveReply::Send(bad_name.into()));
        } else {
            assert_eq!(reply, SlaveReply::Done);
        }
    }
    assert!(
        matches!(farm.next_web().await, WebRequest::Log { log, .. } if log.contains("never received"))
    );
    assert_eq!(farm.next_web().await, WebRequest::Project("foo".into()));
    assert!(
        !farm.env.simple().join("foo").join(good_name).exists(),
        "never published"
    );
    assert!(staging(&farm.env).is_empty(), "the staged file is gone");
    assert!(
        !farm
            .env
            .simple()
            .join("foo")
            .join(format!("{good_name}.metadata"))
            .exists()
    );
    assert!(farm.hub.db.package_files("foo").await.unwrap().is_empty());
    farm.stop().await;
}

/// A build slave in Python, speaking through the protocol crate's Python copy of piwheels
/// 0.23's message tables (voluptuous schemas both ways), uploading as the original does.
const PY_SLAVE: &str = r#"
import datetime as dt, sys, zmq
sys.path.insert(0, sys.argv[1])
from piwheels_wire import SLAVE_RECEIVES, SLAVE_SENDS, NoData, dump_msg, load_msg
endpoint, files, wheel, size, sha = sys.argv[2:7]
UTC = dt.timezone.utc
def stats():
    return [dt.datetime.now(tz=UTC), 10**10, 10**9, 10**9, 10**8, 0, 0, 0.5, 40.0]
ctx = zmq.Context()
req = ctx.socket(zmq.REQ); req.linger = 1000; req.rcvtimeo = 20000
req.connect(endpoint)
def ask(msg, data=NoData):
    req.send(dump_msg(SLAVE_SENDS, msg, data))
    if msg == "BYE":
        return None
    got = load_msg(SLAVE_RECEIVES, req.recv())
    print(msg, "->", got[0], flush=True)
    return got
name = wheel.rsplit("/", 1)[-1]
hello = [dt.timedelta(hours=3), dt.timedelta(minutes=5), "311", "cp311", "linux_x86_64",
         "py-slave", "Debian GNU/Linux", "12 (bookworm)", "unknown", "unknown"]
assert ask("HELLO", hello)[0] == "ACK"
msg, job = ask("IDLE", stats())
assert msg == "BUILD" and list(job) == ["foo", "1.0"], (msg, job)
assert ask("BUSY", stats())[0] == "CONT"
assert ask("BUILT", [False, dt.timedelta(seconds=3), "it failed", []])[0] == "DONE"
msg, job = ask("IDLE", stats())
assert msg == "BUILD" and list(job) == ["bar", "1.0"], (msg, job)
fs = [name, int(size), sha, "bar", "1.0", "py3", "none", "any", ">=3.9",
      {"apt": [], "pip": [], "": []}, "/simple"]
msg, send = ask("BUILT", [True, dt.timedelta(seconds=9), "it worked", [fs]])
assert (msg, send) == ("SEND", name), (msg, send)
ident = None
deal = ctx.socket(zmq.DEALER); deal.hwm = 10; deal.linger = 1000
deal.connect(files)
slave_id = b"1"
with open(wheel, "rb") as f:
    deal.send_multipart([b"HELLO", slave_id])
    while True:
        if not deal.poll(2000):
            deal.send_multipart([b"HELLO", slave_id]); continue
        frames = deal.recv_multipart()
        if frames[0] == b"DONE":
            break
        _, off, length = frames
        f.seek(int(off)); deal.send_multipart([b"CHUNK", off, f.read(int(length))])
assert ask("SENT")[0] == "DONE"
assert ask("IDLE", stats()) == ("SLEEP", False)
ask("BYE")
print("ok", flush=True)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_slave_builds_through_the_master() {
    let Some(python) = python() else {
        skip(
            "a_python_slave_builds_through_the_master",
            "no Python with pyzmq, cbor2 and voluptuous (set PIWHEELS_TEST_PYTHON or make scripts/py-env work)",
        );
        return;
    };
    let mut farm = Farm::start(|_, _| {}).await;
    let data = wheel("bar", "1.0", 2 << 20);
    let path = farm.env.dir.path().join("bar-1.0-py3-none-any.whl");
    std::fs::write(&path, &data).unwrap();
    let peer_dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../piwheels-protocol/tests/peer"
    );
    let args: Vec<String> = vec![
        "-c".into(),
        PY_SLAVE.into(),
        peer_dir.into(),
        farm.slaves.clone(),
        farm.files.clone(),
        path.display().to_string(),
        data.len().to_string(),
        sha256(&data),
    ];
    let out = tokio::task::spawn_blocking(move || {
        output_within(
            std::process::Command::new(python).args(&args),
            b"",
            Duration::from_secs(120),
            "the Python slave",
        )
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("ok\n"));
    let published = farm
        .env
        .simple()
        .join("bar")
        .join("bar-1.0-py3-none-any.whl");
    assert_eq!(std::fs::read(published).unwrap(), data);
    let logged = farm
        .hub
        .db
        .file("bar-1.0-py3-none-any.whl")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(logged.file.requires_python.as_deref(), Some(">=3.9"));
    let mut webs = Vec::new();
    while let Ok(w) = farm.web.try_recv() {
        webs.push(w);
    }
    assert!(
        webs.contains(&WebRequest::Project("foo".into())),
        "{webs:?}"
    );
    assert!(
        webs.contains(&WebRequest::Published("bar".into())),
        "{webs:?}"
    );
    farm.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_slave_is_held_and_given_a_job_the_moment_one_arrives() {
    let farm = Farm::start(|_, timing| timing.idle_hold = Duration::from_secs(2)).await;
    let (mut a, _) = farm.our_hello(hello()).await;
    let (mut b, _) = farm.our_hello(hello()).await;
    assert_eq!(a.ask(idle()).await, build("foo"));
    assert_eq!(b.ask(idle()).await, build("bar"));
    assert_eq!(b.ask(built(false, vec![])).await, SlaveReply::Done);

    // Nothing to hand out: the IDLE is held for the hold, then answered SLEEP false.
    let held = std::time::Instant::now();
    assert_eq!(b.ask(idle()).await, SlaveReply::Sleep(false));
    assert!(
        held.elapsed() >= Duration::from_secs(2),
        "answered before the hold ended"
    );

    // A version that arrives while the IDLE is held goes out to it.
    let waiting = tokio::spawn(async move { b.ask(idle()).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the IDLE was answered at once");
    let db = &farm.hub.db;
    db.add_new_package_version("foo", "2.0", Some(Utc::now()), "")
        .await
        .unwrap();
    farm.hub.queue_changed.notify_one();
    assert_eq!(
        waiting.await.unwrap(),
        SlaveReply::Build(Job {
            package: "foo".into(),
            version: "2.0".into()
        })
    );

    // A pause answers a held IDLE with SLEEP true.
    assert_eq!(a.ask(built(false, vec![])).await, SlaveReply::Done);
    let waiting = tokio::spawn(async move { a.ask(idle()).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the IDLE was answered at once");
    farm.paused.send(true).unwrap();
    assert_eq!(waiting.await.unwrap(), SlaveReply::Sleep(true));
    farm.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_the_master_cannot_store_puts_the_build_back_in_the_queue() {
    let farm = Farm::start(|_, _| {}).await;
    let (mut s, id) = farm.hello(hello()).await;
    assert_eq!(s.ask(idle()).await, build("foo"));
    let data = wheel("foo", "1.0", 20_000);
    let name = "foo-1.0-py3-none-any.whl";

    // The output folder fails (a file where the staging folder was, as a full disk
    // would): not the slave's fault, so the file is not asked for again and the build
    // is not logged; its job goes back in the queue at once.
    let staging = farm.hub.output.staging().to_owned();
    std::fs::remove_dir_all(&staging).unwrap();
    std::fs::write(&staging, b"").unwrap();
    assert_eq!(
        s.ask(built(true, vec![file_state(name, &data, "any")]))
            .await,
        SlaveReply::Done
    );
    assert!(
        farm.hub.db.package_files("foo").await.unwrap().is_empty(),
        "nothing logged"
    );
    assert_eq!(
        s.ask(idle()).await,
        build("foo"),
        "handed out again at once"
    );

    // With the folder back, the same build goes through.
    std::fs::remove_file(&staging).unwrap();
    std::fs::create_dir(&staging).unwrap();
    assert_eq!(
        s.ask(built(true, vec![file_state(name, &data, "any")]))
            .await,
        SlaveReply::Send(name.into())
    );
    assert!(send_file(&farm.files, id as u64, &data, None).await.done);
    assert_eq!(s.ask(SlaveRequest::Sent).await, SlaveReply::Done);
    assert_eq!(
        std::fs::read(farm.env.simple().join("foo").join(name)).unwrap(),
        data
    );
    farm.stop().await;
}
