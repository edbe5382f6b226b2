//! The whole master: start-up with every task, monitors' status and control sockets (from
//! Rust and from a Python pyzmq monitor), pausing, QUIT and SIGTERM.

use crate::core_support;

use std::time::Duration;

use chrono::TimeDelta;
use core_support::*;
use piwheels_master::master::Master;
use piwheels_protocol::monitor::{
    ControlMessage, ControlProtocol, SlaveEventKind, StatusMessage, StatusProtocol,
};
use piwheels_protocol::slave::{SlaveHello, SlaveProtocol, SlaveReply, SlaveRequest, SlaveStats};
use piwheels_protocol::transport::asynchronous::{Push, Req, Sub};
use piwheels_protocol::transport::{SocketOptions, zmq};
use tokio::io::AsyncWriteExt;

const WAIT: Duration = Duration::from_secs(30);

fn options() -> SocketOptions {
    SocketOptions::new().linger(Some(Duration::ZERO))
}

struct Monitor {
    sub: Sub<StatusProtocol>,
    push: Push<ControlProtocol>,
}

impl Monitor {
    fn connect(master: &Master) -> Monitor {
        let ctx = zmq::Context::new();
        Monitor {
            sub: Sub::connect(&ctx, master.status_endpoint(), &options()).unwrap(),
            push: Push::connect(&ctx, master.control_endpoint(), &options()).unwrap(),
        }
    }

    /// Sends `HELLO` until the master's `HELLO` comes back (a SUB misses what is published
    /// before it has joined).
    async fn hello(&mut self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            self.push.send(&ControlMessage::Hello).await.unwrap();
            let until = tokio::time::Instant::now() + Duration::from_millis(500);
            while let Ok(Ok(msg)) = tokio::time::timeout_at(until, self.sub.recv()).await {
                if let StatusMessage::Hello(h) = msg {
                    assert!(!h.label.is_empty());
                    return;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no HELLO from the master"
            );
        }
    }

    /// Waits for a message matching `want`.
    async fn wait_for(
        &mut self,
        what: &str,
        want: impl Fn(&StatusMessage) -> bool,
    ) -> StatusMessage {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.sub.recv()).await {
                Ok(Ok(msg)) if want(&msg) => return msg,
                Ok(_) => {}
                Err(_) => panic!("no {what} from the master"),
            }
        }
    }
}

fn slave_hello() -> SlaveHello {
    SlaveHello {
        build_timeout: TimeDelta::hours(3),
        busy_timeout: TimeDelta::minutes(5),
        py_version: "311".into(),
        abi: "cp311".into(),
        platform: "linux_x86_64".into(),
        label: "test-slave".into(),
        os_name: "Linux".into(),
        os_version: "1".into(),
        board_revision: "unknown".into(),
        board_serial: "unknown".into(),
    }
}

fn idle() -> SlaveRequest {
    SlaveRequest::Idle(SlaveStats {
        timestamp: chrono::Utc::now(),
        disk_size: 1,
        disk_free: 1,
        mem_size: 1,
        mem_free: 1,
        swap_size: 0,
        swap_free: 0,
        load_average: 0.0,
        cpu_temp: 0.0,
    })
}

async fn ask(req: &mut Req<SlaveProtocol>, msg: SlaveRequest) -> SlaveReply {
    tokio::time::timeout(WAIT, req.request(&msg))
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_master_runs_every_task_and_answers_monitors() {
    let env = Env::new().await;
    let master = Master::start(env.config.clone()).await.unwrap();
    assert_eq!(
        master.task_names(),
        [
            "the_scribe",
            "the_secretary",
            "big_brother",
            "file_juggler",
            "slave_driver",
            "mr_chase",
            "the_architect",
            "cloud_gazer",
            "lumberjack",
            "web_server"
        ]
    );
    let web = master.web_addr().expect("the web server runs");
    let slaves = master.slave_endpoint().to_owned();
    let mut monitor = Monitor::connect(&master);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let hub = master.hub().clone();
    let main = tokio::spawn(master.run_until(async {
        let _ = stop_rx.await;
    }));

    monitor.hello().await;
    // The statistics history is replayed (BigBrother samples at once).
    monitor
        .wait_for(
            "STATS",
            |m| matches!(m, StatusMessage::Stats(s) if s.disk_size > 0),
        )
        .await;

    // A slave: monitors see it, and the queue TheArchitect read gives it a job.
    let ctx = zmq::Context::new();
    let mut slave = Req::<SlaveProtocol>::connect(&ctx, &slaves, &options()).unwrap();
    let SlaveReply::Ack(ack) = ask(&mut slave, SlaveRequest::Hello(slave_hello())).await else {
        panic!("no ACK");
    };
    monitor
        .wait_for("the slave's HELLO", |m| {
            matches!(m, StatusMessage::Slave(e) if e.slave_id == ack.slave_id
                && matches!(e.kind(), Some(SlaveEventKind::Hello(_))))
        })
        .await;
    let mut queue = hub.queue.clone();
    tokio::time::timeout(WAIT, queue.wait_for(|q| q.contains_key(&target())))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ask(&mut slave, idle()).await,
        SlaveReply::Build(piwheels_protocol::slave::Job {
            package: "foo".into(),
            version: "1.0".into()
        })
    );
    let failed = SlaveRequest::Built(piwheels_protocol::slave::BuiltReport {
        status: false,
        duration: TimeDelta::seconds(1),
        output: "failed".into(),
        files: vec![],
    });
    assert_eq!(ask(&mut slave, failed).await, SlaveReply::Done);

    // SLEEP for everyone pauses the master; WAKE resumes it.
    monitor
        .push
        .send(&ControlMessage::Sleep(None))
        .await
        .unwrap();
    let mut paused = hub.paused.clone();
    tokio::time::timeout(WAIT, paused.wait_for(|p| *p))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ask(&mut slave, idle()).await, SlaveReply::Sleep(true));
    monitor
        .push
        .send(&ControlMessage::Wake(None))
        .await
        .unwrap();
    tokio::time::timeout(WAIT, paused.wait_for(|p| !*p))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ask(&mut slave, idle()).await,
        SlaveReply::Build(piwheels_protocol::slave::Job {
            package: "bar".into(),
            version: "1.0".into()
        })
    );

    // The web server serves the output.
    let mut http = tokio::net::TcpStream::connect(web).await.unwrap();
    http.write_all(b"GET /simple/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    within(
        WAIT,
        "whole answer from the web server",
        tokio::io::AsyncReadExt::read_to_end(&mut http, &mut answer),
    )
    .await
    .unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 "),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    // A monitor's QUIT stops the master.
    monitor.push.send(&ControlMessage::Quit).await.unwrap();
    tokio::time::timeout(WAIT, main)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(hub.quit.is_cancelled());
    drop(stop_tx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_master_and_a_bad_start_stops_what_it_started() {
    let env = Env::new().await;
    let master = Master::start(env.config.clone()).await.unwrap();
    let hub = master.hub().clone();
    // The same slave port again cannot be bound: the start fails and its tasks stop.
    let mut clash = env.config.clone();
    clash.slave_queue = master.slave_endpoint().to_owned();
    clash.status_queue = format!("ipc://{}", env.dir.path().join("status2").display());
    clash.control_queue = format!("ipc://{}", env.dir.path().join("control2").display());
    clash.import_queue = format!("ipc://{}", env.dir.path().join("import2").display());
    clash.web_listen = None;
    assert!(Master::start(clash).await.is_err());

    // SIGTERM goes to the whole test process, which under `cargo test` runs this crate's
    // other tests too. The listener made here, before any signal is sent, installs tokio's
    // handler for the rest of the process, so SIGTERM can never take its default action
    // (ending every test at once). The master's own listener is made when its task first
    // runs: the signal is sent again until the master has seen it.
    use tokio::signal::unix::{SignalKind, signal};
    let _handled = signal(SignalKind::terminate()).expect("a SIGTERM listener");
    let mut main = tokio::spawn(master.run_until_signal());
    let deadline = tokio::time::Instant::now() + WAIT;
    let stopped = loop {
        rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::TERM)
            .unwrap();
        tokio::select! {
            stopped = &mut main => break stopped,
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the master did not stop within {WAIT:?} of SIGTERM"
        );
    };
    stopped.unwrap().unwrap();
    assert!(hub.quit.is_cancelled());
}

/// A pyzmq monitor, as piw-monitor connects: SUB to the status queue, PUSH `HELLO` to the
/// control queue, and the master's `HELLO` and `STATS` decoded with cbor2.
const PY_MONITOR: &str = r#"
import sys, time, cbor2, zmq
status, control = sys.argv[1], sys.argv[2]
ctx = zmq.Context()
sub = ctx.socket(zmq.SUB); sub.setsockopt(zmq.LINGER, 0)
sub.connect(status); sub.setsockopt_string(zmq.SUBSCRIBE, "")
push = ctx.socket(zmq.PUSH); push.setsockopt(zmq.LINGER, 1000)
push.connect(control)
seen = set()
deadline = time.time() + 30
while time.time() < deadline and not {"HELLO", "STATS"} <= seen:
    push.send(cbor2.dumps("HELLO"))
    if sub.poll(500):
        msg = cbor2.loads(sub.recv())
        name, data = msg if isinstance(msg, list) else (msg, None)
        if name == "HELLO":
            assert len(data) == 6 and data[0].tzinfo is not None, data
        if name == "STATS":
            assert len(data) == 19 and isinstance(data[17], float), data
        seen.add(name)
print(" ".join(sorted(seen)))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_monitor_gets_hello_and_stats() {
    let Some(python) = python() else {
        skip(
            "a_python_monitor_gets_hello_and_stats",
            "no Python with pyzmq and cbor2 (set PIWHEELS_TEST_PYTHON or make scripts/py-env work)",
        );
        return;
    };
    let env = Env::new().await;
    let master = Master::start(env.config.clone()).await.unwrap();
    let (status, control) = (
        master.status_endpoint().to_owned(),
        master.control_endpoint().to_owned(),
    );
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let main = tokio::spawn(master.run_until(async {
        let _ = stop_rx.await;
    }));
    let out = tokio::task::spawn_blocking(move || {
        output_within(
            std::process::Command::new(&python).args(["-c", PY_MONITOR, &status, &control]),
            b"",
            Duration::from_secs(120),
            "the Python monitor",
        )
    })
    .await
    .unwrap();
    let _ = stop_tx.send(());
    tokio::time::timeout(WAIT, main)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "HELLO STATS");
}
