//! The slave's protocol loop against a fake master on real ZeroMQ sockets: a whole build
//! over the wire (HELLO/ACK, IDLE/SLEEP, BUILD/BUSY/CONT, BUILT/SEND/upload/SENT/DONE,
//! DIE/BYE), a silent and a restarted master, unexpected and undecodable replies, DONE
//! during a build, a SEND of a file never built, and a stop.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use piwheels_protocol::slave::{Ack, Job, SlaveProtocol, SlaveReply, SlaveRequest};
use piwheels_protocol::transfer::{ClientFrame, ServerFrame};
use piwheels_protocol::transport::{Identity, RawRouter, Router, SocketOptions, zmq};
use piwheels_slave::{Slave, SlaveConfig, SlaveError, StopFlag};
use sha2::{Digest, Sha256};

const WAIT: Duration = Duration::from_secs(120);

struct Master {
    ctx: zmq::Context,
    router: Router<SlaveProtocol>,
    files: RawRouter,
    slave_port: u16,
    file_port: u16,
}

fn port_of(endpoint: &str) -> u16 {
    endpoint.rsplit(':').next().unwrap().parse().unwrap()
}

impl Master {
    fn new() -> Self {
        let ctx = zmq::Context::new();
        let opts = SocketOptions::new();
        let router = Router::bind(&ctx, "tcp://127.0.0.1:*", &opts).unwrap();
        let files = RawRouter::bind(&ctx, "tcp://127.0.0.1:*", &opts).unwrap();
        let slave_port = port_of(&router.endpoint().unwrap());
        let file_port = port_of(&files.endpoint().unwrap());
        Master {
            ctx,
            router,
            files,
            slave_port,
            file_port,
        }
    }

    /// A master restart: the slave socket closed and bound again on the same port.
    fn restart(&mut self) {
        let endpoint = format!("tcp://127.0.0.1:{}", self.slave_port);
        let opts = SocketOptions::new().linger(Some(Duration::ZERO));
        // Close the old socket first (a placeholder takes its place meanwhile).
        let placeholder = Router::bind(&self.ctx, "tcp://127.0.0.1:*", &opts).unwrap();
        drop(std::mem::replace(&mut self.router, placeholder));
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            match Router::bind(&self.ctx, &endpoint, &opts) {
                Ok(r) => {
                    self.router = r;
                    return;
                }
                Err(e) if Instant::now() < until => {
                    eprintln!("rebinding {endpoint}: {e}; again");
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("cannot rebind {endpoint}: {e}"),
            }
        }
    }

    fn recv(&mut self) -> (Identity, SlaveRequest) {
        let (id, msg) = self
            .router
            .recv_timeout(WAIT)
            .expect("the slave said something in time");
        (id, msg.expect("a valid request"))
    }

    fn reply(&mut self, id: &Identity, reply: SlaveReply) {
        self.router.send_to(id, &reply).unwrap();
    }

    /// Expects HELLO (from a new identity) and answers ACK.
    fn accept(&mut self, index: &str, slave_id: i64) -> Identity {
        let (id, msg) = self.recv();
        assert!(matches!(msg, SlaveRequest::Hello(_)), "{msg:?}");
        self.reply(
            &id,
            SlaveReply::Ack(Ack {
                slave_id,
                index_url: index.into(),
            }),
        );
        id
    }

    /// Ends the conversation: the next IDLE gets DIE, then BYE must come.
    fn kill(&mut self) {
        let (id, msg) = self.recv();
        assert!(matches!(msg, SlaveRequest::Idle(_)), "{msg:?}");
        self.reply(&id, SlaveReply::Die);
        let (id2, msg) = self.recv();
        assert_eq!(id2, id);
        assert_eq!(msg, SlaveRequest::Bye);
    }
}

fn config(master: &Master, dir: &Path) -> SlaveConfig {
    let mut c = SlaveConfig::new("127.0.0.1");
    c.slave_port = master.slave_port;
    c.file_port = master.file_port;
    c.dir = dir.to_path_buf();
    c.label = "test-slave".into();
    c.python = common::python();
    c.build_timeout = Duration::from_secs(600);
    c.master_timeout = Duration::from_secs(60);
    c.sleep_range = (Duration::from_millis(50), Duration::from_millis(100));
    c.busy_range = (Duration::from_millis(200), Duration::from_millis(300));
    c.kill_grace = Duration::from_secs(3);
    c
}

fn start(config: SlaveConfig) -> (StopFlag, JoinHandle<Result<(), SlaveError>>) {
    let mut slave = Slave::new(config).unwrap();
    let stop = slave.stop_flag();
    let thread = std::thread::spawn(move || slave.run());
    (stop, thread)
}

fn join(thread: JoinHandle<Result<(), SlaveError>>) {
    let until = Instant::now() + Duration::from_secs(30);
    while !thread.is_finished() {
        assert!(Instant::now() < until, "the slave did not return");
        std::thread::sleep(Duration::from_millis(50));
    }
    thread.join().unwrap().unwrap();
}

fn builds_dir(work: &Path) -> std::path::PathBuf {
    let d = work.join("builds");
    std::fs::create_dir(&d).unwrap();
    common::open_dir(&d);
    d
}

#[test]
fn a_whole_build_over_the_wire() {
    let test = "a_whole_build_over_the_wire";
    let work = common::open_tempdir();
    let sdists = work.path().join("sdists");
    std::fs::create_dir(&sdists).unwrap();
    let setup = "from setuptools import setup\nsetup(name='piwtest-wire', version='1.0', py_modules=['piwtest_wire'])\n";
    // Incompressible, so the wheel takes several pieces to send.
    let noise: String = (0..20_000u64)
        .map(|i| {
            format!(
                "{:016x}",
                i.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17)
            )
        })
        .collect();
    let body = format!("DATA = {noise:?}\n");
    let sdist = common::make_sdist(
        &sdists,
        "piwtest-wire",
        "1.0",
        &[("setup.py", setup), ("piwtest_wire.py", &body)],
    );
    let index = match common::index_with(&work.path().join("index"), &[sdist]) {
        Ok(i) => i,
        Err(why) => return common::skip(test, &why),
    };
    let builds = builds_dir(work.path());
    let mut master = Master::new();
    let cfg = config(&master, &builds);
    let (_stop, thread) = start(cfg);

    let (id, msg) = master.recv();
    let SlaveRequest::Hello(hello) = msg else {
        panic!("{msg:?}")
    };
    assert_eq!(hello.build_timeout, chrono::TimeDelta::seconds(600));
    assert_eq!(hello.busy_timeout, chrono::TimeDelta::seconds(60));
    assert_eq!(hello.label, "test-slave");
    assert!(hello.abi.starts_with("cp"), "{hello:?}");
    assert!(hello.platform.starts_with("linux_"), "{hello:?}");
    assert!(!hello.py_version.is_empty());
    master.reply(
        &id,
        SlaveReply::Ack(Ack {
            slave_id: 7,
            index_url: index.clone(),
        }),
    );
    let (_, msg) = master.recv();
    let SlaveRequest::Idle(stats) = msg else {
        panic!("{msg:?}")
    };
    assert!(stats.mem_size > 0 && stats.disk_size > 0, "{stats:?}");
    master.reply(&id, SlaveReply::Sleep(false));
    let (_, msg) = master.recv();
    assert!(matches!(msg, SlaveRequest::Idle(_)), "{msg:?}");
    master.reply(
        &id,
        SlaveReply::Build(Job {
            package: "piwtest-wire".into(),
            version: "1.0".into(),
        }),
    );
    let mut busy = 0;
    let report = loop {
        let (id2, msg) = master.recv();
        assert_eq!(id2, id);
        match msg {
            SlaveRequest::Busy(_) => {
                busy += 1;
                master.reply(&id, SlaveReply::Cont);
            }
            SlaveRequest::Built(report) => break report,
            other => panic!("{other:?}"),
        }
    };
    assert!(busy >= 1);
    assert!(report.status, "{}", report.output);
    assert_eq!(report.files.len(), 1);
    let file = report.files[0].clone();
    assert_eq!(file.filename, "piwtest_wire-1.0-py3-none-any.whl");
    assert_eq!(file.location, "/simple");
    master.reply(&id, SlaveReply::Send(file.filename.clone()));

    // The upload, in uneven pieces, with a repeated request.
    let size = u64::try_from(file.filesize).unwrap();
    assert!(size > 2000, "{size}");
    let (fid, frames) = master.files.recv_timeout(WAIT).unwrap();
    let frames = frames.unwrap();
    assert_eq!(
        ClientFrame::parse(&frames).unwrap(),
        ClientFrame::Hello { slave_id: 7 }
    );
    let mut data = vec![0u8; usize::try_from(size).unwrap()];
    let pieces = [(0, 1000), (1000, size - 1000), (0, 10)];
    for (offset, length) in pieces {
        master
            .files
            .send_to(&fid, ServerFrame::Fetch { offset, length }.frames())
            .unwrap();
        let (fid2, frames) = master.files.recv_timeout(WAIT).unwrap();
        assert_eq!(fid2, fid);
        let frames = frames.unwrap();
        match ClientFrame::parse(&frames).unwrap() {
            ClientFrame::Chunk { offset: o, data: d } => {
                assert_eq!(o, offset);
                assert_eq!(d.len() as u64, length);
                data[o as usize..o as usize + d.len()].copy_from_slice(d);
            }
            other => panic!("{other:?}"),
        }
    }
    master
        .files
        .send_to(&fid, ServerFrame::Done.frames())
        .unwrap();
    assert_eq!(hex::encode(Sha256::digest(&data)), file.filehash);
    let (_, msg) = master.recv();
    assert_eq!(msg, SlaveRequest::Sent);
    master.reply(&id, SlaveReply::Done);
    master.kill();
    join(thread);
    assert_eq!(
        std::fs::read_dir(&builds).unwrap().count(),
        0,
        "build cleaned up"
    );
}

#[test]
fn silence_restart_and_bad_replies_lead_to_a_new_hello() {
    let work = common::open_tempdir();
    let builds = builds_dir(work.path());
    let mut master = Master::new();
    let mut cfg = config(&master, &builds);
    cfg.master_timeout = Duration::from_secs(2);
    let (_stop, thread) = start(cfg);
    let index = "http://127.0.0.1:9/simple";

    // No answer: after the master timeout the slave says HELLO again, as someone new.
    let (first, msg) = master.recv();
    assert!(matches!(msg, SlaveRequest::Hello(_)));
    let t = Instant::now();
    let (second, msg) = master.recv();
    assert!(matches!(msg, SlaveRequest::Hello(_)), "{msg:?}");
    assert_ne!(first, second);
    assert!(
        t.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );

    // The master restarts while the slave waits for a reply: the slave comes back.
    master.restart();
    master.accept(index, 2);

    // An unexpected reply (CONT to IDLE): BYE, then a new HELLO.
    let (id, msg) = master.recv();
    assert!(matches!(msg, SlaveRequest::Idle(_)));
    master.reply(&id, SlaveReply::Cont);
    let (id2, msg) = master.recv();
    assert_eq!((id2, msg), (id.clone(), SlaveRequest::Bye));
    let fresh = master.accept(index, 3);
    assert_ne!(fresh, id);

    // A second ACK where it makes no sense.
    let (id, _) = master.recv();
    master.reply(
        &id,
        SlaveReply::Ack(Ack {
            slave_id: 9,
            index_url: index.into(),
        }),
    );
    assert_eq!(master.recv().1, SlaveRequest::Bye);
    master.accept(index, 4);

    // Bytes that are no message at all.
    let (id, _) = master.recv();
    master
        .router
        .socket()
        .send_multipart([id.as_bytes(), b"", b"\xff\x00garbage"], 0)
        .unwrap();
    assert_eq!(master.recv().1, SlaveRequest::Bye);
    master.accept(index, 5);
    master.kill();
    join(thread);
}

#[test]
fn done_cancels_a_build_and_send_must_name_a_built_file() {
    let test = "done_cancels_a_build_and_send_must_name_a_built_file";
    let work = common::open_tempdir();
    let sdists = work.path().join("sdists");
    std::fs::create_dir(&sdists).unwrap();
    let sleepy = common::make_sdist(
        &sdists,
        "piwtest-long",
        "1.0",
        &[("setup.py", "import time\ntime.sleep(600)\n")],
    );
    let broken = common::make_sdist(
        &sdists,
        "piwtest-fails",
        "1.0",
        &[("setup.py", "raise SystemExit('piwtest: no')\n")],
    );
    let index = match common::index_with(&work.path().join("index"), &[sleepy, broken]) {
        Ok(i) => i,
        Err(why) => return common::skip(test, &why),
    };
    let builds = builds_dir(work.path());
    let mut master = Master::new();
    let (_stop, thread) = start(config(&master, &builds));
    let id = master.accept(&index, 1);

    let (_, msg) = master.recv();
    assert!(matches!(msg, SlaveRequest::Idle(_)));
    master.reply(
        &id,
        SlaveReply::Build(Job {
            package: "piwtest-long".into(),
            version: "1.0".into(),
        }),
    );
    let (_, msg) = master.recv();
    assert!(matches!(msg, SlaveRequest::Busy(_)));
    master.reply(&id, SlaveReply::Cont);
    let (_, msg) = master.recv();
    assert!(matches!(msg, SlaveRequest::Busy(_)));
    assert_eq!(std::fs::read_dir(&builds).unwrap().count(), 1);
    master.reply(&id, SlaveReply::Done);
    let (_, msg) = master.recv();
    assert!(matches!(msg, SlaveRequest::Idle(_)), "{msg:?}");
    assert_eq!(
        std::fs::read_dir(&builds).unwrap().count(),
        0,
        "the cancelled build is cleaned up"
    );

    // A failed build, then a SEND of something never built: BYE and a new HELLO.
    master.reply(
        &id,
        SlaveReply::Build(Job {
            package: "piwtest-fails".into(),
            version: "1.0".into(),
        }),
    );
    let report = loop {
        let (_, msg) = master.recv();
        match msg {
            SlaveRequest::Busy(_) => master.reply(&id, SlaveReply::Cont),
            SlaveRequest::Built(r) => break r,
            other => panic!("{other:?}"),
        }
    };
    assert!(!report.status);
    assert!(report.files.is_empty());
    assert!(report.output.contains("piwtest: no"), "{}", report.output);
    master.reply(&id, SlaveReply::Send("../../etc/passwd".into()));
    assert_eq!(master.recv().1, SlaveRequest::Bye);
    master.accept(&index, 2);
    master.kill();
    join(thread);
    assert_eq!(std::fs::read_dir(&builds).unwrap().count(), 0);
}

#[test]
fn a_stop_says_bye() {
    let work = common::open_tempdir();
    let builds = builds_dir(work.path());
    let mut master = Master::new();
    let mut cfg = config(&master, &builds);
    cfg.sleep_range = (Duration::from_secs(60), Duration::from_secs(60));
    let (stop, thread) = start(cfg);
    let id = master.accept("http://127.0.0.1:9/simple", 1);
    let (_, msg) = master.recv();
    assert!(matches!(msg, SlaveRequest::Idle(_)));
    master.reply(&id, SlaveReply::Sleep(true));
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    stop.stop();
    let (id2, msg) = master.recv();
    assert_eq!((id2, msg), (id, SlaveRequest::Bye));
    join(thread);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[test]
fn a_build_directory_the_build_user_cannot_enter_is_refused() {
    let test = "a_build_directory_the_build_user_cannot_enter_is_refused";
    if !common::is_root() {
        return common::skip(test, "needs root (builds as another user)");
    }
    let work = common::open_tempdir();
    let closed = work.path().join("closed");
    std::fs::create_dir(&closed).unwrap();
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
    let inner = closed.join("builds");
    std::fs::create_dir(&inner).unwrap();
    common::open_dir(&inner);
    let master = Master::new();
    let e = Slave::new(config(&master, &inner)).unwrap_err();
    assert!(
        e.to_string().contains("cannot enter the build directory"),
        "{e}"
    );
    // The same directory opened up is fine.
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o755)).unwrap();
    Slave::new(config(&master, &inner)).unwrap();
}
