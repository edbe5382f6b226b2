//! Issue 19, item 3: upload limits and cool-off. A build that declares a file over
//! `--max-wheel-size` or more files than `--max-build-files` is refused at `BUILT`, before
//! any transfer, and logged as a failed build whose log says why: it is not handed out
//! again, and it is no strike (an honestly large build would otherwise cool off every
//! slave that built it). A slave that breaks the protocol three times is refused jobs for
//! a cool-off (by its address: the misbehaving slaves connect from 127.0.0.1, the
//! well-behaved one from 127.0.0.2), monitors are told until when, and it is served again
//! after it; the well-behaved slave is unaffected throughout.

use crate::core_support;
use crate::log_capture;

use std::time::Duration;

use core_support::farm::*;
use core_support::*;
use log_capture::LogCapture;
use piwheels_master::hub::WebRequest;
use piwheels_master::slave_driver::CoolOffPolicy;
use piwheels_protocol::monitor::{SlaveEventKind, StatusMessage};
use piwheels_protocol::slave::{SlaveReply, SlaveRequest};
use piwheels_protocol::transport::SocketOptions;
use piwheels_protocol::transport::asynchronous::Req;
use piwheels_protocol::transport::zmq;

/// A slave connecting to the farm from `source` (a loopback address other than the
/// farm's 127.0.0.1, so it is another host as far as the master can tell).
fn slave_from(farm: &Farm, source: &str) -> Slave {
    let dest = farm.slaves.trim_start_matches("tcp://");
    let endpoint = format!("tcp://{source}:0;{dest}");
    let options = SocketOptions::new().linger(Some(Duration::ZERO));
    Slave {
        req: Req::connect(&zmq::Context::new(), &endpoint, &options).unwrap(),
    }
}

fn job_of(reply: &SlaveReply) -> String {
    match reply {
        SlaveReply::Build(job) => job.package.clone(),
        other => panic!("expected BUILD, got {other:?}"),
    }
}

/// Cool-off after one strike: a build over the limits that struck would show at once.
const STRICT: CoolOffPolicy = CoolOffPolicy {
    strikes: 1,
    window: Duration::from_secs(600),
    period: Duration::from_secs(600),
};

/// The build log the master recorded for the next build, and the page request after it.
async fn logged_failure(farm: &mut Farm) -> String {
    let WebRequest::Log { build_id, log } = farm.next_web().await else {
        panic!("expected the build's log first");
    };
    assert!(build_id > 0);
    assert_eq!(farm.next_web().await, WebRequest::Project("foo".into()));
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_too_large_declared_file_is_logged_as_a_failed_build_and_no_strike() {
    let mut farm = Farm::start(|env, _| {
        env.config.max_wheel_size = 10_000;
        env.config.cool_off = STRICT;
    })
    .await;
    let (mut a, _) = farm.hello(hello()).await;
    assert_eq!(a.ask(idle()).await, build("foo"));
    let data = wheel("foo", "1.0", 20_000);
    assert!(data.len() > 10_000);
    let declared = file_state("foo-1.0-py3-none-any.whl", &data, "any");
    // Refused at BUILT: DONE, no SEND, nothing expected from it.
    assert_eq!(
        a.ask(built(true, vec![declared.clone()])).await,
        SlaveReply::Done
    );
    assert!(staging(&farm.env).is_empty(), "no upload was prepared");
    // Logged as a failed build that says why.
    let log = logged_failure(&mut farm).await;
    let why = format!(
        "Refused by the master: \"foo-1.0-py3-none-any.whl\" is {} bytes, over --max-wheel-size 10000.",
        data.len()
    );
    assert!(log.contains(&why), "{log}");
    assert!(
        farm.hub.db.package_files("foo").await.unwrap().is_empty(),
        "nothing published"
    );
    // No strike (one would cool it off): the slave gets the next job, and foo is not
    // handed out again, to it or to another slave.
    assert_eq!(a.ask(idle()).await, build("bar"));
    let (mut b, _) = farm
        .hello_from(slave_from(&farm, "127.0.0.2"), hello())
        .await;
    assert_eq!(b.ask(idle()).await, SlaveReply::Sleep(false));
    // FileJuggler will not expect one either (imports go through it too), even one
    // declared at 2^62 bytes.
    let mut huge = declared;
    huge.filesize = 1 << 62;
    let refused = farm.hub.fs.prepare(sid(77), huge).await;
    assert!(refused.is_err(), "{refused:?}");
    farm.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_declared_files_are_logged_as_a_failed_build_and_no_strike() {
    let mut farm = Farm::start(|env, _| {
        env.config.max_build_files = 2;
        env.config.cool_off = STRICT;
    })
    .await;
    let (mut a, _) = farm.hello(hello()).await;
    assert_eq!(a.ask(idle()).await, build("foo"));
    let files = ["py3", "py38", "py39"]
        .iter()
        .map(|py| {
            let data = wheel("foo", "1.0", 100);
            file_state(&format!("foo-1.0-{py}-none-any.whl"), &data, "any")
        })
        .collect();
    assert_eq!(a.ask(built(true, files)).await, SlaveReply::Done);
    assert!(staging(&farm.env).is_empty(), "no upload was prepared");
    let log = logged_failure(&mut farm).await;
    assert!(
        log.contains(
            "Refused by the master: the build declared 3 files, over --max-build-files 2."
        ),
        "{log}"
    );
    assert_eq!(a.ask(idle()).await, build("bar"));
    farm.stop().await;
}

#[tokio::test]
async fn a_slave_that_misbehaves_three_times_cools_off() {
    let capture = LogCapture::new();
    let _log = tracing::subscriber::set_default(capture.subscriber());
    let period = Duration::from_millis(1500);
    let mut farm = Farm::start(|env, _| {
        env.config.cool_off = CoolOffPolicy {
            strikes: 3,
            window: Duration::from_secs(600),
            period,
        };
    })
    .await;
    for pkg in ["baz", "qux"] {
        farm.hub.db.add_new_package(pkg, "", "").await.unwrap();
        farm.hub
            .db
            .add_new_package_version(pkg, "1.0", Some(chrono::Utc::now()), "")
            .await
            .unwrap();
    }
    farm.wait_for_queue(|jobs| jobs.len() == 4).await;

    // The well-behaved slave, from another address, takes a job first.
    let (mut good, _) = farm
        .hello_from(slave_from(&farm, "127.0.0.2"), hello())
        .await;
    let good_job = job_of(&good.ask(idle()).await);

    // Strike 1: a message out of order (SENT after BUILD).
    let (mut bad, _) = farm.hello(hello()).await;
    job_of(&bad.ask(idle()).await);
    assert_eq!(bad.ask(SlaveRequest::Sent).await, SlaveReply::Die);
    // Strike 2, on a new connection (a new identity, the same address): IDLE while
    // building.
    let (mut bad, _) = farm.hello(hello()).await;
    job_of(&bad.ask(idle()).await);
    assert_eq!(bad.ask(idle()).await, SlaveReply::Die);
    // Strike 3: SENT after BUILD again.
    let (mut bad, _) = farm.hello(hello()).await;
    job_of(&bad.ask(idle()).await);
    assert_eq!(bad.ask(SlaveRequest::Sent).await, SlaveReply::Die);

    // In cool-off: a new connection from that address is ACKed but gets no job, though
    // jobs wait (every job it dropped went back in the queue).
    let (mut bad, bad_id) = farm.hello(hello()).await;
    assert_eq!(bad.ask(idle()).await, SlaveReply::Sleep(true));
    assert_eq!(bad.ask(idle()).await, SlaveReply::Sleep(true));
    // Monitors are told it sleeps until the cool-off ends (a SLEEP whose data is that
    // time), never a plain SLEEP true.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let msg = tokio::time::timeout_at(deadline, farm.status.recv())
            .await
            .expect("a cool-off SLEEP for the slave, on the status queue")
            .unwrap();
        if let StatusMessage::Slave(e) = msg
            && e.slave_id == bad_id
        {
            assert_ne!(
                e.kind(),
                Some(SlaveEventKind::Reply(SlaveReply::Sleep(true)))
            );
            if let Some(SlaveEventKind::CoolingOff(until)) = e.kind() {
                assert!(until > e.timestamp, "{until} is not after {}", e.timestamp);
                assert!(until <= e.timestamp + period, "{until} is past the period");
                break;
            }
        }
    }

    // The metrics count it (the three connections told DIE are stopping; the
    // well-behaved slave is building).
    let metrics = farm.hub.metrics.clone();
    eventually("the metrics to count one slave cooling off", || {
        let text = metrics.encode();
        async move {
            text.contains("piwheels_slaves{state=\"cooling_off\"} 1\n")
                && text.contains("piwheels_slaves{state=\"stopping\"} 3\n")
                && text.contains("piwheels_slaves{state=\"building\"} 1\n")
        }
    })
    .await;

    // The well-behaved slave is unaffected: its build goes on, and it gets the next job.
    assert_eq!(good.ask(busy()).await, SlaveReply::Cont);
    assert_eq!(good.ask(built(false, vec![])).await, SlaveReply::Done);
    let next = job_of(&good.ask(idle()).await);
    assert_ne!(next, good_job);

    // After the cool-off, the same connection is served again.
    let deadline = tokio::time::Instant::now() + WAIT;
    let served = loop {
        match bad.ask(idle()).await {
            SlaveReply::Sleep(true) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "still refused {WAIT:?} after a cool-off of {period:?}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => break other,
        }
    };
    job_of(&served);

    // Logged once when it began, once when it ended.
    let stats = capture.stats();
    assert_eq!(
        stats.matching("it gets no job during a cool-off").len(),
        1,
        "{:#?}",
        stats.kept
    );
    assert_eq!(stats.matching("the cool-off is over").len(), 1);
    farm.stop().await;
}
