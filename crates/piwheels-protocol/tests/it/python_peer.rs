//! Peer tests against Python: processes speaking piwheels 0.23's conventions (cbor2 with
//! piwheels' tag hooks, voluptuous validation, pyzmq) exchange every message type with
//! Rust endpoints over real sockets. Each side checks the values it decoded and that the
//! bytes are exactly what the other implementation would have written.
//!
//! The Python comes from `PIWHEELS_TEST_PYTHON`, else from `scripts/py-env` (which makes
//! a venv with the pinned cbor2, pyzmq and voluptuous).

use crate::common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::{TimeDelta, TimeZone, Utc};
use indexmap::IndexMap;
use piwheels_protocol::Message;
use piwheels_protocol::slave::{
    Ack, BuiltReport, Job, SlaveHello, SlaveReply, SlaveRequest, SlaveStats,
};
use piwheels_protocol::states::FileState;

fn spawn_peer(script: &str, args: &[&str]) -> Option<common::Peer> {
    let python = common::python()?;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peer");
    Some(common::Peer::spawn(
        Command::new(python)
            .arg(format!("{dir}/{script}"))
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit()),
        &format!("the Python peer ({script})"),
    ))
}

fn stats(
    micro: u32,
    disk_free: i64,
    mem_free: i64,
    swap_free: i64,
    load: f64,
    temp: f64,
) -> SlaveStats {
    SlaveStats {
        timestamp: Utc.with_ymd_and_hms(2026, 11, 22, 4, 5, 6).unwrap()
            + TimeDelta::microseconds(i64::from(micro)),
        disk_size: 31_000_000_000,
        disk_free,
        mem_size: 8_000_000_000,
        mem_free,
        swap_size: 2_147_483_648,
        swap_free,
        load_average: load,
        cpu_temp: temp,
    }
}

fn deps(apt: &[&str], pip: &[&str], unresolved: &[&str]) -> IndexMap<String, Vec<String>> {
    let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect();
    [
        ("apt".to_string(), v(apt)),
        ("pip".to_string(), v(pip)),
        (String::new(), v(unresolved)),
    ]
    .into_iter()
    .collect()
}

fn files() -> Vec<FileState> {
    vec![
        FileState {
            filename: "foo-1.0-py3-none-any.whl".into(),
            filesize: 12345,
            filehash: "ab".repeat(32),
            package_tag: "foo".into(),
            package_version_tag: "1.0".into(),
            py_version_tag: "py3".into(),
            abi_tag: "none".into(),
            platform_tag: "any".into(),
            requires_python: None,
            dependencies: deps(&[], &["bar"], &[]),
            location: "/simple".into(),
        },
        FileState {
            filename: "foo-1.0-cp311-cp311-linux_armv7l.whl".into(),
            filesize: 98765,
            filehash: "0f".repeat(32),
            package_tag: "foo".into(),
            package_version_tag: "1.0".into(),
            py_version_tag: "cp311".into(),
            abi_tag: "cp311".into(),
            platform_tag: "linux_armv7l".into(),
            requires_python: Some(">=3.9".into()),
            dependencies: deps(&["libc6", "libffi8"], &[], &["libx.so.1"]),
            location: "/simple".into(),
        },
    ]
}

/// The requests `slave_peer.py` sends, in order, as Rust values.
fn expected_requests() -> Vec<SlaveRequest> {
    let stats1 = stats(0, 12_345_678_901, 6_500_000_000, 0, 0.25, 51.5);
    let stats2 = stats(789_012, 12_000_000_000, 6_400_000_000, 1024, 1.0, 0.0);
    vec![
        SlaveRequest::Hello(SlaveHello {
            build_timeout: TimeDelta::hours(3),
            busy_timeout: TimeDelta::minutes(5),
            py_version: "311".into(),
            abi: "cp311".into(),
            platform: "linux_armv7l".into(),
            label: "slave-ü".into(),
            os_name: "Debian GNU/Linux".into(),
            os_version: "12 (bookworm)".into(),
            board_revision: "a020d3".into(),
            board_serial: "00000000deadbeef".into(),
        }),
        SlaveRequest::Idle(stats1.clone()),
        SlaveRequest::Idle(stats2.clone()),
        SlaveRequest::Busy(stats2),
        SlaveRequest::Built(BuiltReport {
            status: true,
            duration: TimeDelta::seconds(83) + TimeDelta::milliseconds(250),
            output: "log ☃\n".repeat(100),
            files: files(),
        }),
        SlaveRequest::Sent,
        SlaveRequest::Sent,
        SlaveRequest::Idle(stats1.clone()),
        SlaveRequest::Idle(stats1),
        SlaveRequest::Bye,
    ]
}

/// The first file (in name order) not yet transferred.
fn next_file(files: &BTreeMap<String, bool>) -> Option<String> {
    files
        .iter()
        .find(|(_, done)| !**done)
        .map(|(name, _)| name.clone())
}

#[test]
fn slave_protocol_with_python_peer() {
    let ctx = zmq::Context::new();
    let router = ctx.socket(zmq::ROUTER).unwrap();
    router.set_rcvtimeo(30_000).unwrap();
    router.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = router.get_last_endpoint().unwrap().unwrap();
    let Some(mut child) = spawn_peer("slave_peer.py", &[&endpoint]) else {
        return common::skip(
            "slave_protocol_with_python_peer",
            "no Python with cbor2, pyzmq and voluptuous",
        );
    };

    let mut build: Option<BTreeMap<String, bool>> = None;
    for (step, want) in expected_requests().into_iter().enumerate() {
        let frames = router
            .recv_multipart(0)
            .expect("a request from the Python slave");
        assert_eq!(frames.len(), 3, "REQ envelope");
        assert!(frames[1].is_empty());
        let got = SlaveRequest::decode(&frames[2]).unwrap_or_else(|e| panic!("step {step}: {e}"));
        assert_eq!(got, want, "step {step}");
        assert_eq!(
            frames[2],
            want.encode().unwrap(),
            "step {step}: bytes differ from ours"
        );

        // The master's side of the conversation: files asked for in name order.
        let reply = match (step, &got) {
            (_, SlaveRequest::Hello(_)) => SlaveReply::Ack(Ack {
                slave_id: 1,
                index_url: "http://127.0.0.1:8080/simple".into(),
            }),
            (1, SlaveRequest::Idle(_)) => SlaveReply::Sleep(false),
            (2, SlaveRequest::Idle(_)) => SlaveReply::Build(Job {
                package: "foo".into(),
                version: "1.0".into(),
            }),
            (7, SlaveRequest::Idle(_)) => SlaveReply::Sleep(true),
            (_, SlaveRequest::Idle(_)) => SlaveReply::Die,
            (_, SlaveRequest::Busy(_)) => SlaveReply::Cont,
            (_, SlaveRequest::Built(report)) => {
                // Files by name (sent in name order), each with whether it arrived; the
                // armv6l twin of an armv7l wheel is the same file, so it counts as sent.
                let mut b: BTreeMap<String, bool> = report
                    .files
                    .iter()
                    .map(|f| (f.filename.clone(), false))
                    .collect();
                for twin in report.files.iter().filter_map(FileState::armv6_twin) {
                    b.entry(twin.filename).or_insert(true);
                }
                let next = next_file(&b).unwrap();
                build = Some(b);
                SlaveReply::Send(next)
            }
            (_, SlaveRequest::Sent) => {
                let b = build.as_mut().unwrap();
                let sent = next_file(b).unwrap();
                assert_eq!(b.insert(sent, true), Some(false));
                match next_file(b) {
                    Some(f) => SlaveReply::Send(f),
                    None => SlaveReply::Done,
                }
            }
            (_, SlaveRequest::Bye) => break,
        };
        router
            .send_multipart([&frames[0][..], b"", &reply.encode().unwrap()], 0)
            .unwrap();
    }
    let b = build.unwrap();
    assert!(b.values().all(|done| *done), "every file transferred");
    assert_eq!(b.len(), 3, "two wheels and the armv6 twin");
    child.wait_success(Duration::from_secs(60));
}
