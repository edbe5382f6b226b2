//! Every real protocol table over the socket type piwheels uses for it, on real ZeroMQ
//! sockets: slave REQ → ROUTER, admin tool REQ → ROUTER, monitor control PUSH → PULL,
//! status PUB → SUB, logger PUSH → PULL. And the armv6l twin of a wheel's description.
//! (The master's states around the slave protocol, piwheels.md §3.1.2, are tested in the master.)

use std::time::Duration;

use chrono::{TimeDelta, TimeZone, Utc};
use piwheels_protocol::import::{ImportProtocol, ImportReply, ImportRequest, RebuildTarget};
use piwheels_protocol::logger::{LogMessage, LoggerProtocol, PageHit};
use piwheels_protocol::monitor::{ControlMessage, ControlProtocol, StatusMessage, StatusProtocol};
use piwheels_protocol::monitor::{SlaveEvent, SlaveEventKind};
use piwheels_protocol::slave::{Ack, SlaveHello, SlaveProtocol, SlaveReply, SlaveRequest};
use piwheels_protocol::states::FileState;
use piwheels_protocol::transport::{Pub, Pull, Push, Req, Router, SocketOptions, Sub};

const WAIT: Duration = Duration::from_secs(10);

fn hello() -> SlaveHello {
    SlaveHello {
        build_timeout: TimeDelta::hours(3),
        busy_timeout: TimeDelta::minutes(5),
        py_version: "311".into(),
        abi: "cp311".into(),
        platform: "linux_armv7l".into(),
        label: "s".into(),
        os_name: "Debian GNU/Linux".into(),
        os_version: "12".into(),
        board_revision: "unknown".into(),
        board_serial: "unknown".into(),
    }
}

#[test]
fn slave_and_import_tables_over_req_router() {
    let ctx = zmq::Context::new();
    let opts = SocketOptions::new();
    let mut master = Router::<SlaveProtocol>::bind(&ctx, "inproc://slave", &opts).unwrap();
    let mut slave = Req::<SlaveProtocol>::connect(&ctx, "inproc://slave", &opts).unwrap();
    slave.send(&SlaveRequest::Hello(hello())).unwrap();
    let (peer, request) = master.recv_timeout(WAIT).unwrap();
    assert_eq!(request.unwrap(), SlaveRequest::Hello(hello()));
    let ack = SlaveReply::Ack(Ack {
        slave_id: 1,
        index_url: "http://localhost/simple".into(),
    });
    master.send_to(&peer, &ack).unwrap();
    assert_eq!(slave.recv_timeout(WAIT).unwrap(), ack);

    // An IPC socket as the real import queue is (abstract namespace: nothing to clean up).
    let ipc = format!("ipc://@piw-import-test-{}", std::process::id());
    let mut chase = Router::<ImportProtocol>::bind(&ctx, &ipc, &opts).unwrap();
    let mut tool = Req::<ImportProtocol>::connect(&ctx, &ipc, &opts).unwrap();
    let rebuild = ImportRequest::Rebuild(RebuildTarget::Both(None));
    tool.send(&rebuild).unwrap();
    let (peer, request) = chase.recv_timeout(WAIT).unwrap();
    assert_eq!(request.unwrap(), rebuild);
    chase
        .send_to(&peer, &ImportReply::Done("REBUILD".into()))
        .unwrap();
    assert_eq!(
        tool.recv_timeout(WAIT).unwrap(),
        ImportReply::Done("REBUILD".into())
    );
}

#[test]
fn monitor_and_logger_tables_over_push_pull_and_pub_sub() {
    let ctx = zmq::Context::new();
    let opts = SocketOptions::new();
    let mut control = Pull::<ControlProtocol>::bind(&ctx, "inproc://control", &opts).unwrap();
    let mut monitor = Push::<ControlProtocol>::connect(&ctx, "inproc://control", &opts).unwrap();
    for msg in [
        ControlMessage::Hello,
        ControlMessage::Kill(Some(2)),
        ControlMessage::Wake(None),
    ] {
        monitor.send(&msg).unwrap();
        assert_eq!(control.recv_timeout(WAIT).unwrap(), msg);
    }

    let mut status = Pub::<StatusProtocol>::bind(&ctx, "inproc://status", &opts).unwrap();
    let mut watcher = Sub::<StatusProtocol>::connect(&ctx, "inproc://status", &opts).unwrap();
    let when = Utc.with_ymd_and_hms(2026, 11, 22, 5, 0, 0).unwrap();
    let event = StatusMessage::Slave(SlaveEvent::reply(1, when, &SlaveReply::Done).unwrap());
    // A subscription takes a moment to reach the publisher: publish until one arrives.
    let got = loop {
        status.send(&event).unwrap();
        if let Ok(got) = watcher.recv_timeout(Duration::from_millis(50)) {
            break got;
        }
    };
    assert_eq!(got, event);
    let StatusMessage::Slave(e) = got else {
        unreachable!()
    };
    assert_eq!(e.kind(), Some(SlaveEventKind::Reply(SlaveReply::Done)));

    let mut lumberjack = Pull::<LoggerProtocol>::bind(&ctx, "inproc://log", &opts).unwrap();
    let mut logger = Push::<LoggerProtocol>::connect(&ctx, "inproc://log", &opts).unwrap();
    let hit = LogMessage::Page(PageHit {
        page: "home".into(),
        host: "192.0.2.1".into(),
        timestamp: when,
        user_agent: "curl".into(),
    });
    logger
        .send_timeout(&hit, Duration::from_millis(10))
        .unwrap();
    assert_eq!(lumberjack.recv_timeout(WAIT).unwrap(), hit);
}

fn wheel(name: &str, platform: &str) -> FileState {
    FileState {
        filename: name.into(),
        filesize: 10,
        filehash: "0".repeat(64),
        package_tag: "foo".into(),
        package_version_tag: "1.0".into(),
        py_version_tag: "cp311".into(),
        abi_tag: "cp311".into(),
        platform_tag: platform.into(),
        requires_python: None,
        dependencies: Default::default(),
        location: "/simple".into(),
    }
}

#[test]
fn an_armv7l_wheel_has_an_armv6l_twin() {
    let twin = wheel("x-1-cp311-cp311-linux_armv7l.whl", "linux_armv7l")
        .armv6_twin()
        .expect("the twin");
    assert_eq!(twin.filename, "x-1-cp311-cp311-linux_armv6l.whl");
    assert_eq!(twin.platform_tag, "linux_armv6l");
    assert_eq!(twin.filehash, "0".repeat(64));
    assert_eq!(
        wheel("foo-1.0-cp311-cp311-linux_aarch64.whl", "linux_aarch64").armv6_twin(),
        None
    );
}
