//! `piw-monitor` against a real master (`piw-master`) and a real slave (`piw-slave`), as
//! processes: `--once --json` and `--watch` read by the test, and the full-screen monitor
//! driven through tmux (keys sent, the screen captured), with the master's reaction checked.

use crate::support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::tmux::Tmux;
use support::*;

/// Long enough for a loaded CI machine; every wait below gives up after it.
const LIMIT: Duration = Duration::from_secs(90);

/// Nothing listens here: the slave never builds, and the master's upstream polls fail.
const NO_INDEX: &str = "http://127.0.0.1:9/simple";

fn queues(farm: &Farm) -> [String; 4] {
    let dir = farm.dir.path().display();
    [
        "--status-queue".into(),
        format!("ipc://{dir}/status"),
        "--control-queue".into(),
        format!("ipc://{dir}/control"),
    ]
}

/// One `piw-monitor --once --json` snapshot.
fn snapshot(farm: &Farm) -> serde_json::Value {
    let out = output_within(
        Command::new(bin("piw-monitor")).args(queues(farm)).args([
            "--once",
            "--json",
            "--deadline",
            "20",
        ]),
        b"",
        Duration::from_secs(60),
        "piw-monitor --once --json",
    );
    assert!(
        out.status.success(),
        "piw-monitor --once --json: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// The slave labelled `label` in a snapshot.
fn slave<'a>(snap: &'a serde_json::Value, label: &str) -> Option<&'a serde_json::Value> {
    snap["slaves"]
        .as_array()?
        .iter()
        .find(|s| s["label"] == label)
}

/// A farm with one slave that has asked for work (seen by a first monitor).
fn farm_with_idle_slave(test: &str) -> Option<Farm> {
    if let Err(why) = python_ready() {
        skip(test, &why);
        return None;
    }
    let mut farm = Farm::start(NO_INDEX, &[]);
    farm.start_slave();
    wait_until(LIMIT, "the slave idle in a monitor's snapshot", || {
        let snap = snapshot(&farm);
        (slave(&snap, "test-slave-1")?["state"] == "idle").then_some(())
    });
    Some(farm)
}

#[test]
fn a_late_monitor_sees_each_slave_in_its_real_state() {
    let test = "a_late_monitor_sees_each_slave_in_its_real_state";
    let Some(mut farm) = farm_with_idle_slave(test) else {
        return;
    };
    // More slaves: a replay is a burst of three messages a slave.
    for _ in 0..5 {
        farm.start_slave();
    }
    wait_until(LIMIT, "six slaves idle", || {
        let snap = snapshot(&farm);
        let idle = snap["slaves"]
            .as_array()?
            .iter()
            .filter(|s| s["state"] == "idle")
            .count();
        (idle == 6).then_some(())
    });
    // Monitors started long after the slave connected: each gets the slave from the
    // master's replay, idle (not "starting"), with its machine facts. Before the master's
    // status queue had room for a replay, the slaves at its end were often lost.
    for round in 0..6 {
        let snap = snapshot(&farm);
        let s = slave(&snap, "test-slave-1")
            .unwrap_or_else(|| panic!("round {round}: no slave in the replay: {snap:#}"));
        assert_eq!(s["state"], "idle", "round {round}: {s:#}");
        assert_eq!(s["target"], python_target().as_str(), "{s:#}");
        assert!(
            s["python"].as_str().is_some_and(|p| p.starts_with('3')),
            "{s:#}"
        );
        assert!(
            s["os_name"].as_str().is_some_and(|o| !o.is_empty()),
            "{s:#}"
        );
        assert!(
            s["first_seen"].is_string() && s["last_seen"].is_string(),
            "{s:#}"
        );
        assert_eq!(snap["master"]["state"], "running", "{snap:#}");
        assert!(
            snap["master"]["uptime_seconds"].as_i64().is_some(),
            "{snap:#}"
        );
        assert!(
            snap["master"]["stats"]["disk_size"].as_i64() > Some(0),
            "{snap:#}"
        );
        assert_eq!(snap["bad_messages"], 0, "{snap:#}");
    }
    // A monitor with the original's queue sizes gets the whole replay too: the slave's
    // HELLO, and what it was last told. With the master's old high-water mark (10) the
    // statistics history filled the queue and the slaves were lost.
    for round in 0..4 {
        let heard = replay_as_the_original_hears_it(&farm);
        for id in 1..=6 {
            let hello = format!("{id} HELLO");
            let sleep = format!("{id} SLEEP");
            assert!(
                heard.contains(&hello),
                "round {round}: no {hello} in {heard:?}"
            );
            assert!(
                heard.contains(&sleep),
                "round {round}: no {sleep} in {heard:?}"
            );
        }
    }
}

/// What a monitor with ZeroMQ's default queue sizes (the original's) hears in the replay
/// that answers its `HELLO`: `"<slave id> <message>"` for each `SLAVE` message, in order.
fn replay_as_the_original_hears_it(farm: &Farm) -> Vec<String> {
    use piwheels_protocol::monitor::{
        ControlMessage, ControlProtocol, StatusMessage, StatusProtocol,
    };
    use piwheels_protocol::transport::{Push, SocketOptions, Sub, zmq};
    let [_, status, _, control] = queues(farm);
    let ctx = zmq::Context::new();
    let options = SocketOptions::new().linger(Some(Duration::ZERO));
    let mut sub = Sub::<StatusProtocol>::connect(&ctx, &status, &options).unwrap();
    let mut push = Push::<ControlProtocol>::connect(&ctx, &control, &options).unwrap();
    // The subscription must reach the master before the HELLO does.
    std::thread::sleep(Duration::from_millis(300));
    push.send_timeout(&ControlMessage::Hello, LIMIT).unwrap();
    let mut heard = Vec::new();
    let start = Instant::now();
    let mut master_hello = false;
    while start.elapsed() < LIMIT {
        match sub.recv_timeout(Duration::from_secs(1)) {
            Ok(StatusMessage::Hello(_)) => master_hello = true,
            Ok(StatusMessage::Slave(e)) if master_hello => {
                heard.push(format!("{} {}", e.slave_id, e.msg));
            }
            Ok(_) => {}
            Err(e) if e.is_timeout() && master_hello => break,
            Err(e) if e.is_timeout() => {}
            Err(e) => panic!("status socket: {e}"),
        }
    }
    heard
}

#[test]
fn once_without_a_master_fails_within_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let out = output_within(
        Command::new(bin("piw-monitor"))
            .arg("--status-queue")
            .arg(format!("ipc://{}/status", dir.path().display()))
            .arg("--control-queue")
            .arg(format!("ipc://{}/control", dir.path().display()))
            .args(["--once", "--json", "--deadline", "1"]),
        b"",
        Duration::from_secs(60),
        "piw-monitor --once --json without a master",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no answer from a master"), "{err}");
    // Not on a terminal and no --once/--watch: told what to use instead.
    let out = output_within(
        Command::new(bin("piw-monitor")).args(["--status-queue", "ipc:///nonexistent/s"]),
        b"",
        Duration::from_secs(60),
        "piw-monitor without a terminal",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--watch"));
}

#[test]
fn watch_prints_a_line_per_change() {
    let test = "watch_prints_a_line_per_change";
    if let Err(why) = python_ready() {
        skip(test, &why);
        return;
    }
    let mut farm = Farm::start(NO_INDEX, &[]);
    let mut watch = Command::new(bin("piw-monitor"))
        .args(queues(&farm))
        .arg("--watch")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = watch.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let mut wait_for = |what: &str, pred: &dyn Fn(&str) -> bool| {
        let start = Instant::now();
        loop {
            if let Some(l) = lines.iter().find(|l: &&String| pred(l)) {
                return l.clone();
            }
            let left = LIMIT.saturating_sub(start.elapsed());
            assert!(!left.is_zero(), "no --watch line {what} in: {lines:#?}");
            if let Ok(l) = rx.recv_timeout(left.min(Duration::from_millis(200))) {
                lines.push(l);
            }
        }
    };
    wait_for("for the master", &|l| {
        l.contains(" master ") && l.ends_with("running")
    });
    farm.start_slave();
    let idle = wait_for("for the slave idle", &|l| {
        l.contains("slave 1 test-slave-1") && l.ends_with("idle")
    });
    assert!(idle.starts_with("20"), "timestamped: {idle}");
    let _ = watch.kill();
    let _ = watch.wait();
    // One line a change: the replayed statistics history does not print a line a sample.
    let queue = lines.iter().filter(|l| l.contains(" queue ")).count();
    assert!(queue <= 3, "{lines:#?}");
}

/// The slave table's row of the slave labelled `label`.
fn row(screen: &str, label: &str) -> Option<String> {
    screen
        .lines()
        .find(|l| l.contains(label))
        .map(str::to_owned)
}

#[test]
fn the_terminal_monitor_steers_the_farm() {
    let test = "the_terminal_monitor_steers_the_farm";
    if !Tmux::or_skip(test) {
        return;
    }
    let Some(mut farm) = farm_with_idle_slave(test) else {
        return;
    };
    let command = format!(
        "{} {}",
        bin("piw-monitor").display(),
        queues(&farm).join(" ")
    );
    let tmux = Tmux::start(farm.dir.path(), "tmux", &command, LIMIT);
    let has = |label: &'static str, state: &'static str| {
        move |s: &str| row(s, label).is_some_and(|r| r.contains(state))
    };
    // Started after the slave connected: shown idle, with its facts.
    let screen = tmux.wait("the slave idle", has("test-slave-1", "idle"));
    assert!(screen.contains("state: running"), "{screen}");
    assert!(screen.contains(&python_target()), "{screen}");

    // Help.
    tmux.keys("?");
    tmux.wait("the help", |s| {
        s.contains("Keys:") && s.contains("quit the monitor")
    });
    tmux.keys("Escape");
    tmux.wait("the help closed", |s| !s.contains("Keys:"));

    // Pause: the master tells the slave to sleep; resume: idle again.
    tmux.keys("p");
    tmux.wait("the master paused", |s| s.contains("state: paused"));
    tmux.wait("the slave asleep", has("test-slave-1", "sleeping"));
    tmux.keys("r");
    tmux.wait("the slave idle again", has("test-slave-1", "idle"));
    tmux.wait("the master running", |s| s.contains("state: running"));

    // Sleep and wake the selected slave.
    tmux.keys("z");
    tmux.wait("the slave asleep", has("test-slave-1", "sleeping"));
    tmux.keys("w");
    tmux.wait("the slave awake", has("test-slave-1", "idle"));

    // The details of the selected slave.
    tmux.keys("Enter");
    tmux.wait("the details", |s| {
        s.contains("Slave details") && s.contains("Timeouts:")
    });
    tmux.keys("Enter");

    // Kill asks first; n sends nothing.
    tmux.keys("x");
    tmux.wait("the question", |s| {
        s.contains("Kill slave 1 now") && s.contains("y: yes")
    });
    tmux.keys("n");
    tmux.wait("the cancellation", |s| {
        s.contains("cancelled: nothing sent")
    });
    assert!(
        farm.slaves[0].try_wait().unwrap().is_none(),
        "the slave died after n"
    );
    // y kills it: the slave process ends, and the monitor shows it gone.
    tmux.keys("x");
    tmux.wait("the question", |s| s.contains("Kill slave 1 now"));
    tmux.keys("y");
    wait_until(LIMIT, "the killed slave's process to end", || {
        farm.slaves[0].try_wait().unwrap()
    });
    tmux.wait("the slave gone", has("test-slave-1", "gone"));

    // q quits the monitor (the farm runs on).
    tmux.keys("q");
    wait_until(LIMIT, "the monitor to quit", || {
        (!tmux.running()).then_some(())
    });
    assert!(snapshot(&farm)["master"]["state"] == "running");
}

/// A slave in cool-off (issue 19) is shown as such, with the time the cool-off ends: the
/// master says so in the data of the `SLEEP` it publishes. The "slave" is a socket that
/// speaks the protocol by hand and breaks it once (`--cool-off-strikes 1`).
#[test]
fn a_slave_in_cool_off_is_shown_with_its_end() {
    use piwheels_protocol::slave::{SlaveHello, SlaveProtocol, SlaveReply, SlaveRequest};
    use piwheels_protocol::transport::{Req, SocketOptions, zmq};
    let farm = Farm::start(NO_INDEX, &["--cool-off-strikes", "1"]);
    let ctx = zmq::Context::new();
    let endpoint = format!("tcp://127.0.0.1:{}", farm.slave_port);
    let hello = SlaveRequest::Hello(SlaveHello {
        build_timeout: chrono::TimeDelta::hours(1),
        busy_timeout: chrono::TimeDelta::minutes(5),
        py_version: "311".into(),
        abi: "cp311".into(),
        platform: "linux_x86_64".into(),
        label: "rogue".into(),
        os_name: "Debian GNU/Linux".into(),
        os_version: "12".into(),
        board_revision: "unknown".into(),
        board_serial: "unknown".into(),
    });
    let connect = || {
        let options = SocketOptions::new().linger(Some(Duration::ZERO));
        Req::<SlaveProtocol>::connect(&ctx, &endpoint, &options).unwrap()
    };
    // One protocol break (SENT before any BUILD): DIE, and the address is in cool-off.
    let mut first = connect();
    assert!(matches!(
        first.request(&hello, LIMIT).unwrap(),
        SlaveReply::Ack(_)
    ));
    assert_eq!(
        first.request(&SlaveRequest::Sent, LIMIT).unwrap(),
        SlaveReply::Die
    );
    // A new connection from the same address is ACKed, then told to sleep.
    let mut again = connect();
    assert!(matches!(
        again.request(&hello, LIMIT).unwrap(),
        SlaveReply::Ack(_)
    ));
    let idle = SlaveRequest::Idle(piwheels_protocol::slave::SlaveStats {
        timestamp: chrono::Utc::now(),
        disk_size: 1 << 30,
        disk_free: 1 << 29,
        mem_size: 1 << 30,
        mem_free: 1 << 29,
        swap_size: 0,
        swap_free: 0,
        load_average: 0.1,
        cpu_temp: 40.0,
    });
    assert_eq!(
        again.request(&idle, LIMIT).unwrap(),
        SlaveReply::Sleep(true)
    );
    // The monitor shows it cooling off (not merely asleep), and until when; the replay a
    // late monitor gets says it too.
    let snap = snapshot(&farm);
    let rogue = snap["slaves"]
        .as_array()
        .and_then(|all| {
            all.iter()
                .filter(|s| s["label"] == "rogue")
                .find(|s| s["state"] != "gone")
        })
        .unwrap_or_else(|| panic!("no live slave \"rogue\": {snap:#}"));
    assert_eq!(rogue["state"], "cooling off", "{rogue:#}");
    let until = rogue["cooling_off_until"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .unwrap_or_else(|| panic!("no cooling_off_until: {rogue:#}"));
    assert!(until > chrono::Utc::now(), "{rogue:#}");
    assert_eq!(snap["bad_messages"], 0, "{snap:#}");
}
