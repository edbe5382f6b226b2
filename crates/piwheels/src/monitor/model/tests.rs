use chrono::{TimeZone, Utc};
use piwheels_protocol::Message;
use piwheels_protocol::cbor::Value;
use piwheels_protocol::slave::Ack;

use super::*;

fn t(s: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0).unwrap() + TimeDelta::seconds(s)
}

fn hello() -> SlaveHello {
    SlaveHello {
        build_timeout: TimeDelta::hours(3),
        busy_timeout: TimeDelta::minutes(5),
        py_version: "311".into(),
        abi: "cp311".into(),
        platform: "linux_armv7l".into(),
        label: "pi4".into(),
        os_name: "Debian GNU/Linux".into(),
        os_version: "12 (bookworm)".into(),
        board_revision: "c03111".into(),
        board_serial: "100000001".into(),
    }
}

fn stats(at: DateTime<Utc>) -> SlaveStats {
    SlaveStats {
        timestamp: at,
        disk_size: 100,
        disk_free: 50,
        mem_size: 10,
        mem_free: 5,
        swap_size: 0,
        swap_free: 0,
        load_average: 0.5,
        cpu_temp: 40.0,
    }
}

fn ev(model: &mut Model, _id: i64, e: Result<SlaveEvent, piwheels_protocol::ProtocolError>) {
    model.apply(StatusMessage::Slave(e.unwrap()), t(100));
}

fn reply(model: &mut Model, at: i64, r: SlaveReply) {
    ev(model, 1, SlaveEvent::reply(1, t(at), &r));
}

fn with_slave() -> Model {
    let mut m = Model::new();
    ev(&mut m, 1, SlaveEvent::hello(1, t(0), &hello()));
    m
}

#[test]
fn a_slave_follows_what_it_is_told() {
    let mut m = with_slave();
    let s = |m: &Model| m.slaves[&1].status(t(30));
    assert_eq!(s(&m), SlaveStatus::Starting);
    reply(
        &mut m,
        1,
        SlaveReply::Ack(Ack {
            slave_id: 1,
            index_url: String::new(),
        }),
    );
    assert_eq!(s(&m), SlaveStatus::Starting, "ACK, no IDLE yet");
    // Its IDLE (a sample) while the master holds it: idle, not "initializing".
    ev(&mut m, 1, SlaveEvent::stats(1, &stats(t(2))));
    assert_eq!(s(&m), SlaveStatus::Idle);
    reply(&mut m, 6, SlaveReply::Sleep(false));
    assert_eq!(s(&m), SlaveStatus::Idle);
    reply(&mut m, 10, SlaveReply::Sleep(true));
    assert_eq!(s(&m), SlaveStatus::Sleeping);
    let job = Job {
        package: "foo".into(),
        version: "1.0".into(),
    };
    reply(&mut m, 12, SlaveReply::Build(job.clone()));
    assert_eq!(s(&m), SlaveStatus::Building);
    // BUSY samples do not move the build's start.
    ev(&mut m, 1, SlaveEvent::stats(1, &stats(t(20))));
    let (j, took) = m.slaves[&1].current_build(t(30)).unwrap();
    assert_eq!((j, took), (&job, TimeDelta::seconds(18)));
    assert_eq!(s(&m), SlaveStatus::Building);
    reply(
        &mut m,
        25,
        SlaveReply::Send("foo-1.0-py3-none-any.whl".into()),
    );
    assert_eq!(s(&m), SlaveStatus::Sending);
    assert!(m.slaves[&1].current_build(t(30)).is_some());
    reply(&mut m, 26, SlaveReply::Done);
    assert_eq!(s(&m), SlaveStatus::CleaningUp);
    assert!(m.slaves[&1].current_build(t(30)).is_none());
    ev(&mut m, 1, SlaveEvent::stats(1, &stats(t(27))));
    assert_eq!(s(&m), SlaveStatus::Idle);
    // Silence: half the busy timeout, then all of it.
    assert_eq!(m.slaves[&1].status(t(27 + 151)), SlaveStatus::Silent);
    assert_eq!(m.slaves[&1].status(t(27 + 301)), SlaveStatus::Lost);
    reply(&mut m, 28, SlaveReply::Die);
    assert_eq!(s(&m), SlaveStatus::Gone);
}

#[test]
fn hostile_events_are_counted_not_fatal() {
    let mut m = with_slave();
    // A SLAVE event the master never sends: unknown name, wrong data.
    for (msg, data) in [
        ("EXPLODE", Value::Null),
        ("BUILD", Value::Text("not a job".into())),
        ("HELLO", Value::Int(3)),
    ] {
        m.apply(
            StatusMessage::Slave(SlaveEvent {
                slave_id: 1,
                timestamp: t(5),
                msg: msg.into(),
                data,
            }),
            t(5),
        );
    }
    m.bad("unable to deserialize data".into());
    assert_eq!(m.bad_messages, 4);
    assert_eq!(m.last_bad.as_deref(), Some("unable to deserialize data"));
    // The slave is as it was.
    assert_eq!(m.slaves[&1].hello, Some(hello()));
    let json = m.to_json(t(6));
    assert_eq!(json["bad_messages"], 4);
    // A huge peer string is cut before it is kept.
    m.apply(
        StatusMessage::Slave(SlaveEvent {
            slave_id: 2,
            timestamp: t(5),
            msg: "X".repeat(100_000),
            data: Value::Null,
        }),
        t(5),
    );
    assert!(m.last_bad.as_ref().unwrap().len() < 400);
    // Whatever a status message is, decoding it never panics.
    for bytes in [&b"\x82\x65SLAVE\x84\x01"[..], b"\xff", b"\x65HELLO"] {
        let _ = StatusMessage::decode(bytes);
    }
}

#[test]
fn the_master_figures_are_dashes_until_stats_come() {
    let mut m = Model::new();
    assert_eq!(m.master_state(t(0)), "unknown");
    let json = m.to_json(t(0));
    assert!(json["master"]["stats"].is_null());
    let lines = crate::monitor::ui::master_lines(&m, t(0));
    assert!(lines[1].contains("Build rate: –"), "{lines:?}");
    assert!(lines[3].contains("Downloads: –"), "{lines:?}");
    m.apply(
        StatusMessage::Hello(MasterHello {
            started: t(-3600),
            label: "master".into(),
            os_name: "Debian".into(),
            os_version: "12".into(),
            board_revision: "unknown".into(),
            board_serial: "unknown".into(),
        }),
        t(0),
    );
    let mut pending = indexmap::IndexMap::new();
    pending.insert("cp311".to_owned(), 7);
    let mut built = indexmap::IndexMap::new();
    built.insert("cp311".to_owned(), 3);
    let stats = MasterStats {
        timestamp: t(0),
        packages_built: 1,
        builds_last_hour: built,
        builds_time: TimeDelta::seconds(10),
        builds_size: 1,
        builds_pending: pending,
        new_last_hour: 0,
        files_count: 2,
        downloads_last_hour: 4,
        downloads_last_month: 5,
        downloads_all: 6,
        disk_size: 1 << 30,
        disk_free: 1 << 29,
        mem_size: 0,
        mem_free: 0,
        swap_size: 0,
        swap_free: 0,
        load_average: 0.0,
        cpu_temp: 0.0,
    };
    m.apply(StatusMessage::Stats(stats.clone()), t(0));
    // An older sample of the replayed history does not replace it.
    let mut older = stats;
    older.timestamp = t(-10);
    older.files_count = 99;
    m.apply(StatusMessage::Stats(older), t(0));
    let lines = crate::monitor::ui::master_lines(&m, t(1));
    assert!(lines[0].contains("uptime: 1h00m"), "{lines:?}");
    assert!(
        lines[1].contains("3/hour") && lines[1].contains("Queue: cp311 7"),
        "{lines:?}"
    );
    assert!(
        lines[2].contains("512.0M free of 1.0G") && lines[2].contains("Files: 2"),
        "{lines:?}"
    );
    assert!(
        lines[3].contains("4 last hour, 5 last month, 6 in all"),
        "{lines:?}"
    );
    assert_eq!(m.master_state(t(1)), "running");
    assert_eq!(m.master_state(t(31)), "silent");
}

#[test]
fn every_slave_asleep_reads_as_paused() {
    let mut m = with_slave();
    assert_eq!(m.paused(t(1)), Paused::No);
    reply(&mut m, 1, SlaveReply::Sleep(true));
    assert_eq!(m.paused(t(2)), Paused::SlavesSleep);
    m.master.paused_by_us = Some(true);
    assert_eq!(m.paused(t(2)), Paused::ByUs);
}

#[test]
fn a_slave_in_cool_off_shows_until_when() {
    let mut m = with_slave();
    // The SLEEP sent to a slave in cool-off carries the cool-off's end (12:01 UTC).
    ev(&mut m, 1, Ok(SlaveEvent::cooling_off(1, t(5), t(100))));
    let v = &m.slaves[&1];
    assert_eq!(v.status(t(30)), SlaveStatus::CoolingOff);
    assert_eq!(v.state_text(t(30)), "cooling off until 12:01 UTC");
    let json = v.to_json(t(30));
    assert_eq!(json["state"], "cooling off");
    assert_eq!(json["cooling_off_until"], t(100).to_rfc3339());
    assert!(v.summary(t(30)).ends_with("cooling off until 12:01 UTC"));
    // Past its end, and until the slave's next IDLE is answered, it is merely asleep.
    assert_eq!(v.status(t(101)), SlaveStatus::Sleeping);
    assert_eq!(
        v.to_json(t(101))["cooling_off_until"],
        serde_json::Value::Null
    );
    // The next reply ends it; a plain SLEEP true is sleeping.
    reply(&mut m, 40, SlaveReply::Sleep(true));
    assert_eq!(m.slaves[&1].status(t(50)), SlaveStatus::Sleeping);
    assert_eq!(m.slaves[&1].cooling_until, None);
}
