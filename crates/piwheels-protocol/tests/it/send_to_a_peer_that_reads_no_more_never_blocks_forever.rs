//! The defect: a DEALER's only send waited for ever once its peer stopped reading (an
//! overloaded master, or one that has gone: ZeroMQ keeps a connecting DEALER's queue for
//! a reconnection), so a client with timeouts of its own (the slave's upload loop) hung in
//! it. `send_timeout` gives up with `TransportError::Timeout`, sends nothing, and leaves
//! the socket usable.
//!
//! Every scenario runs in a thread the test waits for with a deadline, so a send that
//! blocks makes the test fail (saying which scenario) instead of hang.

use std::time::Duration;

use piwheels_protocol::transport::{
    Dealer, RawDealer, RawRouter, Router, SocketOptions, TransportError,
};

use crate::common;
use crate::transport_support as support;
use support::*;

const SLICE: Duration = Duration::from_millis(50);

/// More sends than any queue here holds (high-water marks of 1 or 2, inproc or tcp with
/// small frames and the kernel's buffers: these frames are 256 KiB).
const MANY: usize = 200;

/// Runs `scenario` in a thread; fails if it has not returned within a minute.
fn within_a_minute(what: &str, scenario: impl FnOnce() + Send + 'static) {
    common::within(Duration::from_secs(60), what, scenario);
}

/// Sends `CHUNK n <256 KiB>` with `send_timeout` until one times out; how many went.
fn raw_sends_until_timeout(dealer: &mut RawDealer) -> usize {
    for n in 0..MANY {
        let frames = [
            b"CHUNK".to_vec(),
            n.to_string().into_bytes(),
            vec![0x5a; 256 << 10],
        ];
        match dealer.send_timeout(frames, SLICE) {
            Ok(()) => {}
            Err(TransportError::Timeout(t)) => {
                assert_eq!(t, SLICE);
                return n;
            }
            Err(e) => panic!("send {n}: {e}"),
        }
    }
    panic!("{MANY} sends to a peer that reads nothing all went through");
}

#[test]
fn raw_dealer_to_a_router_that_reads_nothing() {
    within_a_minute("raw DEALER → stalled ROUTER", || {
        let ctx = zmq::Context::new();
        let options = SocketOptions::new().hwm(1);
        let endpoint = Transport::Inproc.bind_endpoint();
        let mut router = RawRouter::bind(&ctx, &endpoint, &options).unwrap();
        let mut dealer = RawDealer::connect(&ctx, &endpoint, &options).unwrap();
        let sent = raw_sends_until_timeout(&mut dealer);
        assert!(sent >= 1, "not even one message was queued");
        // What was queued arrives whole and in order; the timed-out one never does.
        for n in 0..sent {
            let (_, frames) = router.recv_timeout(WAIT).expect("a queued CHUNK");
            let frames = frames.unwrap();
            assert_eq!(&frames[0][..], b"CHUNK");
            assert_eq!(&frames[1][..], n.to_string().as_bytes());
            assert_eq!(frames[2].len(), 256 << 10);
        }
        // Once the peer reads again, the socket sends again.
        dealer.send_timeout([b"DONE".to_vec()], WAIT).unwrap();
        let (_, frames) = router.recv_timeout(WAIT).expect("the DONE");
        assert_eq!(&frames.unwrap()[0][..], b"DONE");
    });
}

#[test]
fn raw_dealer_to_a_router_that_has_gone() {
    within_a_minute("raw DEALER → ROUTER gone", || {
        let endpoint = {
            let ctx = zmq::Context::new();
            let router = RawRouter::bind(&ctx, "tcp://127.0.0.1:*", &opts()).unwrap();
            router.endpoint().unwrap()
        };
        let ctx = zmq::Context::new();
        let mut dealer = RawDealer::connect(&ctx, &endpoint, &opts().hwm(2)).unwrap();
        raw_sends_until_timeout(&mut dealer);
        drop(dealer);
    });
}

#[test]
fn typed_dealer_to_a_router_that_reads_nothing() {
    within_a_minute("DEALER → stalled ROUTER", || {
        let ctx = zmq::Context::new();
        let options = SocketOptions::new().hwm(1);
        let endpoint = Transport::Inproc.bind_endpoint();
        let mut router = Router::<Test>::bind(&ctx, &endpoint, &options).unwrap();
        let mut dealer = Dealer::<Test>::connect(&ctx, &endpoint, &options).unwrap();
        let mut sent = 0;
        let timed_out = loop {
            assert!(
                sent < MANY,
                "{MANY} sends to a peer that reads nothing all went through"
            );
            match dealer.send_timeout(&ToMaster::Count(sent as u64), SLICE) {
                Ok(()) => sent += 1,
                Err(e) => break e,
            }
        };
        assert!(timed_out.is_timeout(), "{timed_out}");
        for n in 0..sent {
            let (_, msg) = router.recv_timeout(WAIT).expect("a queued COUNT");
            assert_eq!(msg.unwrap(), ToMaster::Count(n as u64));
        }
        dealer.send_timeout(&ToMaster::Hello, WAIT).unwrap();
        let (_, msg) = router.recv_timeout(WAIT).expect("the HELLO");
        assert_eq!(msg.unwrap(), ToMaster::Hello);
    });
}
