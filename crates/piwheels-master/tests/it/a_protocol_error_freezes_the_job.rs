//! Issue 14, item 3: a slave that broke the protocol (an IDLE after BUILD, a malformed
//! SENT) was told to die, but its job stayed out of the queue for the slave's build
//! timeout: an idle real slave got nothing for minutes, and a HELLO with a build timeout of
//! 10⁸ days kept a job out for good. Every abnormal end of a build now puts its job back
//! at once, and absurd HELLO timeouts are clamped.

use crate::core_support;

use std::time::Duration;

use chrono::TimeDelta;
use core_support::farm::*;
use core_support::*;
use piwheels_master::slave_driver::{BUSY_TIMEOUT_RANGE, MAX_BUILD_TIMEOUT};
use piwheels_protocol::Message;
use piwheels_protocol::monitor::{SlaveEventKind, StatusMessage};
use piwheels_protocol::slave::{SlaveReply, SlaveRequest};
use piwheels_protocol::transport::zmq;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_out_of_order_puts_the_job_back_at_once() {
    let farm = Farm::start(|_, _| {}).await;
    let (mut a, _) = farm.hello(hello()).await;
    let (mut b, _) = farm.hello(hello()).await;
    assert_eq!(a.ask(idle()).await, build("foo"));
    // IDLE while building: out of order.
    assert_eq!(a.ask(idle()).await, SlaveReply::Die);
    // The next slave gets foo at once, not bar.
    assert_eq!(b.ask(idle()).await, build("foo"));
    farm.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_sent_puts_the_job_back_and_drops_the_upload() {
    let farm = Farm::start(|_, _| {}).await;
    let endpoint = farm.slaves.clone();
    let data = wheel("foo", "1.0", 1000);
    let name = "foo-1.0-py3-none-any.whl";
    let declared = file_state(name, &data, "any");
    // A raw REQ: HELLO, IDLE, BUILT as CBOR, then a SENT with data it may not have.
    let replies = tokio::task::spawn_blocking(move || {
        let ctx = zmq::Context::new();
        let req = ctx.socket(zmq::REQ).unwrap();
        req.set_linger(0).unwrap();
        req.set_rcvtimeo(20_000).unwrap();
        req.connect(&endpoint).unwrap();
        let ask = |bytes: Vec<u8>| {
            req.send(bytes, 0).unwrap();
            SlaveReply::decode(&req.recv_bytes(0).expect("a reply within 20 s")).unwrap()
        };
        vec![
            ask(SlaveRequest::Hello(hello()).encode().unwrap()),
            ask(idle().encode().unwrap()),
            ask(built(true, vec![declared]).encode().unwrap()),
            // ["SENT", 1]: SENT takes no data.
            ask(b"\x82\x64SENT\x01".to_vec()),
        ]
    })
    .await
    .unwrap();
    assert!(matches!(replies[0], SlaveReply::Ack(_)), "{replies:?}");
    assert_eq!(replies[1], build("foo"));
    assert_eq!(replies[2], SlaveReply::Send(name.into()));
    assert_eq!(replies[3], SlaveReply::Done);
    // The upload it had begun is gone, and foo goes out again at once.
    let (mut b, _) = farm.hello(hello()).await;
    assert_eq!(b.ask(idle()).await, build("foo"));
    eventually("the dropped upload's file to go", || async {
        staging(&farm.env).is_empty()
    })
    .await;
    farm.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slave_gone_silent_puts_its_job_back() {
    let farm = Farm::start(|env, _| env.config.busy_timeout = Duration::from_millis(300)).await;
    let (mut a, _) = farm.hello(hello()).await;
    assert_eq!(a.ask(idle()).await, build("foo"));
    // a says nothing more: once forgotten, its job goes to the next slave.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (mut b, _) = farm.hello(hello()).await;
    assert_eq!(b.ask(idle()).await, build("foo"));
    farm.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_hello_timeouts_are_clamped() {
    let mut farm = Farm::start(|_, _| {}).await;
    let mut absurd = hello_for("linux_x86_64", TimeDelta::days(100_000_000));
    absurd.busy_timeout = TimeDelta::zero();
    let (mut s, id) = farm.hello(absurd).await;
    // Monitors see the timeouts the master uses.
    let deadline = tokio::time::Instant::now() + WAIT;
    let used = loop {
        let msg = tokio::time::timeout_at(deadline, farm.status.recv())
            .await
            .expect("the slave's HELLO for monitors")
            .unwrap();
        if let StatusMessage::Slave(e) = msg
            && e.slave_id == id
            && let Some(SlaveEventKind::Hello(h)) = e.kind()
        {
            break h;
        }
    };
    assert_eq!(
        used.build_timeout.to_std().unwrap(),
        MAX_BUILD_TIMEOUT,
        "10⁸ days is cut to the longest build timeout"
    );
    assert_eq!(used.busy_timeout.to_std().unwrap(), BUSY_TIMEOUT_RANGE.0);
    // It still works as a slave.
    assert_eq!(s.ask(idle()).await, build("foo"));
    farm.stop().await;
}
