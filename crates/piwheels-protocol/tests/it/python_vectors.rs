//! Every message of the monitor, admin-tool and logger protocols, as piwheels 0.23's
//! Python encodes it (`tests/peer/vectors.py`: cbor2, piwheels' tag hooks, schemas
//! checked first), against the same message built in Rust: the bytes must be identical
//! and must decode to the Rust value.

use crate::common;

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use indexmap::IndexMap;
use piwheels_protocol::Message;
use piwheels_protocol::cbor::Value;
use piwheels_protocol::import::{
    AddPackage, AddVersion, ImportReply, ImportRequest, RebuildTarget, RemovePackage, RemoveVersion,
};
use piwheels_protocol::logger::{DownloadState, LogMessage, PageHit, ProjectHit, SearchState};
use piwheels_protocol::monitor::{
    ControlMessage, MasterHello, MasterStats, SlaveEvent, SlaveEventKind, StatusMessage,
};
use piwheels_protocol::slave::{Ack, Job, SlaveHello, SlaveReply, SlaveStats};
use piwheels_protocol::states::{BuildState, FileState};

fn python_vectors() -> Option<HashMap<String, Vec<u8>>> {
    let python = common::python()?;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peer");
    let out = common::output_within(
        Command::new(python).arg("vectors.py").current_dir(dir),
        b"",
        Duration::from_secs(60),
        "vectors.py",
    );
    assert!(
        out.status.success(),
        "vectors.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    Some(
        text.lines()
            .map(|line| {
                let (key, digits) = line.split_once(' ').unwrap();
                (key.to_string(), common::hex(digits))
            })
            .collect(),
    )
}

fn when() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 4, 5, 6).unwrap() + TimeDelta::microseconds(500)
}

fn later() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 5, 0, 0).unwrap()
}

fn s(x: &str) -> String {
    x.to_string()
}

fn hello() -> SlaveHello {
    SlaveHello {
        build_timeout: TimeDelta::hours(3),
        busy_timeout: TimeDelta::minutes(5),
        py_version: s("311"),
        abi: s("cp311"),
        platform: s("linux_armv7l"),
        label: s("slave1"),
        os_name: s("Raspbian GNU/Linux"),
        os_version: s("11 (bullseye)"),
        board_revision: s("c03111"),
        board_serial: s("100000001234abcd"),
    }
}

fn stats() -> SlaveStats {
    SlaveStats {
        timestamp: when(),
        disk_size: 1 << 40,
        disk_free: 1 << 39,
        mem_size: 4 << 30,
        mem_free: 3 << 30,
        swap_size: 0,
        swap_free: 0,
        load_average: 3.75,
        cpu_temp: 62.3,
    }
}

fn file() -> FileState {
    FileState {
        filename: s("foo-1.0-cp39-cp39-linux_armv7l.whl"),
        filesize: 4096,
        filehash: "9".repeat(64),
        package_tag: s("foo"),
        package_version_tag: s("1.0"),
        py_version_tag: s("cp39"),
        abi_tag: s("cp39"),
        platform_tag: s("linux_armv7l"),
        requires_python: None,
        dependencies: [
            (s("apt"), vec![s("libgomp1")]),
            (s("pip"), vec![]),
            (s(""), vec![]),
        ]
        .into_iter()
        .collect(),
        location: s("/simple"),
    }
}

fn abis(pairs: &[(&str, i64)]) -> IndexMap<String, i64> {
    pairs.iter().map(|(k, v)| (s(k), *v)).collect()
}

fn event(slave_id: i64, timestamp: DateTime<Utc>, reply: &SlaveReply) -> StatusMessage {
    StatusMessage::Slave(SlaveEvent::reply(slave_id, timestamp, reply).unwrap())
}

fn status_samples() -> Vec<(&'static str, StatusMessage)> {
    vec![
        (
            "status/HELLO",
            StatusMessage::Hello(MasterHello {
                started: when(),
                label: s("master"),
                os_name: s("Debian GNU/Linux"),
                os_version: s("12 (bookworm)"),
                board_revision: s("unknown"),
                board_serial: s("unknown"),
            }),
        ),
        (
            "status/STATS",
            StatusMessage::Stats(MasterStats {
                timestamp: when(),
                packages_built: 12345,
                builds_last_hour: abis(&[("cp39", 10), ("cp311", 3)]),
                builds_time: TimeDelta::days(1)
                    + TimeDelta::seconds(5)
                    + TimeDelta::microseconds(7),
                builds_size: 1 << 33,
                builds_pending: abis(&[("cp39", 0), ("cp311", 4567)]),
                new_last_hour: 42,
                files_count: 987654,
                downloads_last_hour: 1000,
                downloads_last_month: 31000,
                downloads_all: 12345678901,
                disk_size: 1 << 41,
                disk_free: 1 << 40,
                mem_size: 8 << 30,
                mem_free: 5 << 30,
                swap_size: 1 << 30,
                swap_free: 1 << 29,
                load_average: 0.5,
                cpu_temp: 0.0,
            }),
        ),
        (
            "status/SLAVE#hello",
            StatusMessage::Slave(SlaveEvent::hello(1, when(), &hello()).unwrap()),
        ),
        (
            "status/SLAVE#stats",
            StatusMessage::Slave(SlaveEvent::stats(1, &stats()).unwrap()),
        ),
        (
            "status/SLAVE#ack",
            event(
                1,
                later(),
                &SlaveReply::Ack(Ack {
                    slave_id: 1,
                    index_url: s("http://127.0.0.1:8080/simple"),
                }),
            ),
        ),
        (
            "status/SLAVE#sleep",
            event(2, later(), &SlaveReply::Sleep(true)),
        ),
        (
            "status/SLAVE#build",
            event(
                2,
                later(),
                &SlaveReply::Build(Job {
                    package: s("foo"),
                    version: s("1.0"),
                }),
            ),
        ),
        (
            "status/SLAVE#send",
            event(2, later(), &SlaveReply::Send(file().filename)),
        ),
        ("status/SLAVE#done", event(2, later(), &SlaveReply::Done)),
        (
            // The original sends None rather than NoData when it forgets a slave.
            "status/SLAVE#die",
            StatusMessage::Slave(SlaveEvent {
                slave_id: 3,
                timestamp: later(),
                msg: s("DIE"),
                data: Value::Null,
            }),
        ),
        (
            "status/SLAVE#cooling",
            StatusMessage::Slave(SlaveEvent::cooling_off(2, when(), later())),
        ),
    ]
}

fn hit13(first: &str, host: &str) -> (String, String, DateTime<Utc>) {
    (s(first), s(host), when())
}

#[test]
fn every_other_protocol_matches_piwheels_bytes() {
    let Some(vectors) = python_vectors() else {
        return common::skip(
            "every_other_protocol_matches_piwheels_bytes",
            "no Python with cbor2, pyzmq and voluptuous",
        );
    };
    let mut checked = 0;
    let mut check = |key: &str, ours: Vec<u8>, decoded_equal: bool| {
        let theirs = vectors
            .get(key)
            .unwrap_or_else(|| panic!("vectors.py has no {key}"));
        assert_eq!(&ours, theirs, "{key}: our bytes differ from piwheels'");
        assert!(
            decoded_equal,
            "{key}: piwheels' bytes decode to something else"
        );
        checked += 1;
    };

    for (key, msg) in status_samples() {
        let theirs = &vectors[key];
        check(
            key,
            msg.encode().unwrap(),
            StatusMessage::decode(theirs).unwrap() == msg,
        );
    }
    // Monitors can read every slave event back as typed values.
    let kinds: Vec<_> = status_samples()
        .into_iter()
        .filter_map(|(_, m)| match m {
            StatusMessage::Slave(e) => Some(e.kind().expect("a typed event")),
            _ => None,
        })
        .collect();
    assert_eq!(kinds[0], SlaveEventKind::Hello(hello()));
    assert_eq!(kinds[1], SlaveEventKind::Stats(stats()));
    assert_eq!(kinds[7], SlaveEventKind::Reply(SlaveReply::Die));
    assert_eq!(kinds[8], SlaveEventKind::CoolingOff(later()));

    let control = [
        ("control/HELLO", ControlMessage::Hello),
        ("control/QUIT", ControlMessage::Quit),
        ("control/KILL", ControlMessage::Kill(Some(3))),
        ("control/SLEEP", ControlMessage::Sleep(None)),
        ("control/SKIP", ControlMessage::Skip(Some(2))),
        ("control/WAKE", ControlMessage::Wake(None)),
    ];
    for (key, msg) in control {
        check(
            key,
            msg.encode().unwrap(),
            ControlMessage::decode(&vectors[key]).unwrap() == msg,
        );
    }

    let import = [
        (
            "import/IMPORT",
            ImportRequest::Import(BuildState {
                slave_id: 0,
                package: s("foo"),
                version: s("1.0"),
                abi_tag: s("cp39"),
                status: true,
                duration: TimeDelta::seconds(61),
                output: s("built\n"),
                files: vec![file()],
            }),
        ),
        (
            "import/ADDPKG",
            ImportRequest::AddPackage(AddPackage {
                package: s("Foo_Bar"),
                description: s("A package"),
                skip: s(""),
                unskip: true,
                aliases: vec![s("foo-bar"), s("Foo.Bar")],
            }),
        ),
        (
            "import/ADDVER",
            ImportRequest::AddVersion(AddVersion {
                package: s("foo"),
                version: s("1.0"),
                skip: s("binary only"),
                unskip: false,
                released: later(),
                yank: true,
                unyank: false,
                aliases: vec![],
            }),
        ),
        (
            "import/REMPKG",
            ImportRequest::RemovePackage(RemovePackage {
                package: s("foo"),
                builds: true,
                skip: s(""),
            }),
        ),
        (
            "import/REMVER",
            ImportRequest::RemoveVersion(RemoveVersion {
                package: s("foo"),
                version: s("1.0"),
                builds: false,
                skip: s("broken"),
                yank: true,
            }),
        ),
        (
            "import/REBUILD#home",
            ImportRequest::Rebuild(RebuildTarget::Home),
        ),
        (
            "import/REBUILD#search",
            ImportRequest::Rebuild(RebuildTarget::Search),
        ),
        (
            "import/REBUILD#project",
            ImportRequest::Rebuild(RebuildTarget::Project(None)),
        ),
        (
            "import/REBUILD#both",
            ImportRequest::Rebuild(RebuildTarget::Both(Some(s("foo")))),
        ),
        ("import/SENT", ImportRequest::Sent),
    ];
    for (key, msg) in import {
        check(
            key,
            msg.encode().unwrap(),
            ImportRequest::decode(&vectors[key]).unwrap() == msg,
        );
    }
    let replies = [
        ("import-reply/SEND", ImportReply::Send(file().filename)),
        ("import-reply/DONE", ImportReply::Done(s("IMPORT"))),
        (
            "import-reply/ERROR",
            ImportReply::Error(s("unknown package version foo 2.0")),
        ),
    ];
    for (key, msg) in replies {
        check(
            key,
            msg.encode().unwrap(),
            ImportReply::decode(&vectors[key]).unwrap() == msg,
        );
    }

    let (filename, host, timestamp) = hit13(&file().filename, "2001:db8::1");
    let (package, shost, stime) = hit13("foo", "192.0.2.7");
    let hit = |package: &str, ua: &str| ProjectHit {
        package: s(package),
        host: s("192.0.2.7"),
        timestamp: when(),
        user_agent: s(ua),
    };
    let logger = [
        (
            "logger/LOGDOWNLOAD",
            LogMessage::Download(DownloadState {
                filename,
                host,
                timestamp,
                arch: Some(s("armv7l")),
                distro_name: Some(s("Raspbian GNU/Linux")),
                distro_version: Some(s("11")),
                os_name: Some(s("Linux")),
                os_version: Some(s("6.1.21-v7+")),
                py_name: Some(s("CPython")),
                py_version: Some(s("3.9.2")),
                installer_name: Some(s("pip")),
                installer_version: Some(s("23.0.1")),
                setuptools_version: None,
            }),
        ),
        (
            "logger/LOGSEARCH",
            LogMessage::Search(SearchState {
                package,
                host: shost,
                timestamp: stime,
                arch: None,
                distro_name: None,
                distro_version: None,
                os_name: None,
                os_version: None,
                py_name: None,
                py_version: None,
                installer_name: None,
                installer_version: None,
                setuptools_version: None,
            }),
        ),
        (
            "logger/LOGPROJECT",
            LogMessage::Project(hit("foo", "mozilla")),
        ),
        ("logger/LOGJSON", LogMessage::Json(hit("foo", "curl"))),
        (
            "logger/LOGPAGE",
            LogMessage::Page(PageHit {
                page: s("home"),
                host: s("192.0.2.7"),
                timestamp: when(),
                user_agent: s("mozilla"),
            }),
        ),
    ];
    for (key, msg) in logger {
        check(
            key,
            msg.encode().unwrap(),
            LogMessage::decode(&vectors[key]).unwrap() == msg,
        );
    }
    assert_eq!(checked, vectors.len(), "every Python vector was checked");
}
