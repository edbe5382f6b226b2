//! The blocking transport over real ZeroMQ sockets: every socket pair piwheels uses over
//! tcp, ipc and inproc, envelopes, malformed input, limits, timeouts and IPv6.

use std::time::{Duration, Instant};

use piwheels_protocol::error::ProtocolError;
use piwheels_protocol::transport::{
    Dealer, Identity, Pub, Pull, Push, RawDealer, RawRouter, Req, Router, SocketOptions, Sub,
    TransportError, add_ipc_group_write, connectable, ipc_path, set_ipc_mode,
};

use crate::transport_support as support;
use support::*;

/// A ROUTER on `transport` and the endpoint to reach it.
fn router(ctx: &zmq::Context, transport: &Transport) -> (Router<Test>, String) {
    let router = Router::<Test>::bind(ctx, &transport.bind_endpoint(), &opts()).unwrap();
    let endpoint = router.endpoint().unwrap();
    (router, endpoint)
}

fn recv_ok(router: &mut Router<Test>) -> (Identity, ToMaster) {
    let (identity, msg) = router.recv_timeout(WAIT).unwrap();
    (identity, msg.unwrap())
}

fn recv_bad(router: &mut Router<Test>) -> (Identity, ProtocolError) {
    let (identity, msg) = router.recv_timeout(WAIT).unwrap();
    (identity, msg.unwrap_err())
}

/// Publishes until the subscriber sees a message (subscriptions take a moment to reach
/// the publisher), then checks what follows arrives in order.
fn pub_sub_exchange(publisher: &mut Pub<Test>, subscriber: &mut Sub<Test>) {
    let started = Instant::now();
    loop {
        publisher.send(&FromMaster::Sleep).unwrap();
        match subscriber.recv_timeout(Duration::from_millis(50)) {
            Ok(msg) => {
                assert_eq!(msg, FromMaster::Sleep);
                break;
            }
            Err(e) if e.is_timeout() && started.elapsed() < WAIT => continue,
            Err(e) => panic!("subscriber never received: {e}"),
        }
    }
    // Drain duplicates of the probe, then the real messages arrive in order.
    publisher.send(&FromMaster::Echo(1)).unwrap();
    publisher.send(&FromMaster::Ack).unwrap();
    let mut msg = subscriber.recv_timeout(WAIT).unwrap();
    while msg == FromMaster::Sleep {
        msg = subscriber.recv_timeout(WAIT).unwrap();
    }
    assert_eq!(msg, FromMaster::Echo(1));
    assert_eq!(subscriber.recv_timeout(WAIT).unwrap(), FromMaster::Ack);
}

// ---------------------------------------------------------------------------------------
// Every socket pair over every transport.

fn req_router(transport: Transport) {
    let ctx = zmq::Context::new();
    let (mut router, endpoint) = router(&ctx, &transport);
    let mut req = Req::<Test>::connect(&ctx, &endpoint, &opts()).unwrap();

    req.send(&ToMaster::Hello).unwrap();
    let (peer, msg) = recv_ok(&mut router);
    assert_eq!(msg, ToMaster::Hello);
    router.send_to(&peer, &FromMaster::Ack).unwrap();
    assert_eq!(req.recv_timeout(WAIT).unwrap(), FromMaster::Ack);

    // The same peer keeps its identity; data survives the trip.
    req.send(&ToMaster::Count(70_000)).unwrap();
    let (again, msg) = recv_ok(&mut router);
    assert_eq!((&again, msg), (&peer, ToMaster::Count(70_000)));
    router.send_to(&peer, &FromMaster::Echo(70_000)).unwrap();
    assert_eq!(req.recv_timeout(WAIT).unwrap(), FromMaster::Echo(70_000));
}

fn raw_dealer_router(transport: Transport) {
    let ctx = zmq::Context::new();
    let mut router = RawRouter::bind(&ctx, &transport.bind_endpoint(), &opts()).unwrap();
    let mut dealer = RawDealer::connect(&ctx, &router.endpoint().unwrap(), &opts()).unwrap();

    dealer.send(["HELLO", "1"]).unwrap();
    let (peer, frames) = router.recv_timeout(WAIT).unwrap();
    let frames = frames.unwrap();
    assert_eq!(
        frames.iter().map(|f| &f[..]).collect::<Vec<_>>(),
        [&b"HELLO"[..], b"1"]
    );

    router.send_to(&peer, ["FETCH", "0", "65536"]).unwrap();
    let fetch = dealer.recv_timeout(WAIT).unwrap();
    assert_eq!(
        fetch
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect::<Vec<_>>(),
        ["FETCH", "0", "65536"]
    );

    let chunk: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
    let expected = chunk.clone();
    dealer
        .send([
            zmq::Message::from("CHUNK"),
            zmq::Message::from("0"),
            zmq::Message::from(chunk),
        ])
        .unwrap();
    let (from, frames) = router.recv_timeout(WAIT).unwrap();
    let frames = frames.unwrap();
    assert_eq!(from, peer);
    assert_eq!((&frames[0][..], &frames[1][..]), (&b"CHUNK"[..], &b"0"[..]));
    assert_eq!(&frames[2][..], &expected[..]);

    router.send_to(&peer, ["DONE"]).unwrap();
    assert_eq!(&dealer.recv_timeout(WAIT).unwrap()[0][..], b"DONE");
}

fn typed_dealer_router(transport: Transport) {
    let ctx = zmq::Context::new();
    let (mut router, endpoint) = router(&ctx, &transport);
    let mut dealer = Dealer::<Test>::connect(&ctx, &endpoint, &opts()).unwrap();

    // No lockstep: two requests before any reply.
    dealer.send(&ToMaster::Idle).unwrap();
    dealer.send(&ToMaster::Count(3)).unwrap();
    let (peer, first) = recv_ok(&mut router);
    let (_, second) = recv_ok(&mut router);
    assert_eq!((first, second), (ToMaster::Idle, ToMaster::Count(3)));
    router.send_to(&peer, &FromMaster::Sleep).unwrap();
    router.send_to(&peer, &FromMaster::Echo(3)).unwrap();
    assert_eq!(dealer.recv_timeout(WAIT).unwrap(), FromMaster::Sleep);
    assert_eq!(dealer.recv_timeout(WAIT).unwrap(), FromMaster::Echo(3));
}

fn push_pull(transport: Transport) {
    let ctx = zmq::Context::new();
    let mut pull = Pull::<Test>::bind(&ctx, &transport.bind_endpoint(), &opts()).unwrap();
    let mut push = Push::<Test>::connect(&ctx, &pull.endpoint().unwrap(), &opts()).unwrap();
    for msg in [ToMaster::Hello, ToMaster::Count(1 << 40), ToMaster::Idle] {
        push.send(&msg).unwrap();
    }
    assert_eq!(pull.recv_timeout(WAIT).unwrap(), ToMaster::Hello);
    assert_eq!(pull.recv_timeout(WAIT).unwrap(), ToMaster::Count(1 << 40));
    assert_eq!(pull.recv_timeout(WAIT).unwrap(), ToMaster::Idle);
}

fn pub_sub(transport: Transport) {
    let ctx = zmq::Context::new();
    let mut publisher = Pub::<Test>::bind(&ctx, &transport.bind_endpoint(), &opts()).unwrap();
    let mut subscriber =
        Sub::<Test>::connect(&ctx, &publisher.endpoint().unwrap(), &opts()).unwrap();
    pub_sub_exchange(&mut publisher, &mut subscriber);
}

per_transport! {
    sync:
    req_to_router => req_router;
    raw_dealer_to_router => raw_dealer_router;
    typed_dealer_to_router => typed_dealer_router;
    push_to_pull => push_pull;
    pub_to_sub => pub_sub;
}

// ---------------------------------------------------------------------------------------
// Envelopes and malformed input.

#[test]
fn router_routes_replies_to_each_req_peer() {
    let ctx = zmq::Context::new();
    let (mut router, endpoint) = router(&ctx, &Transport::Tcp);
    let mut one = Req::<Test>::connect(&ctx, &endpoint, &opts()).unwrap();
    let mut two = Req::<Test>::connect(&ctx, &endpoint, &opts()).unwrap();
    one.send(&ToMaster::Count(1)).unwrap();
    two.send(&ToMaster::Count(2)).unwrap();

    let mut peers = Vec::new();
    for _ in 0..2 {
        let (peer, msg) = recv_ok(&mut router);
        let ToMaster::Count(n) = msg else {
            panic!("unexpected {msg:?}")
        };
        // Default identities are five bytes: a zero and a counter.
        assert_eq!(peer.as_bytes().len(), 5);
        assert_eq!(peer.as_bytes()[0], 0);
        peers.push((peer, n));
    }
    assert_ne!(peers[0].0, peers[1].0);
    // Answer in reverse order; each reply reaches its own requester.
    for (peer, n) in peers.iter().rev() {
        router.send_to(peer, &FromMaster::Echo(n * 10)).unwrap();
    }
    assert_eq!(one.recv_timeout(WAIT).unwrap(), FromMaster::Echo(10));
    assert_eq!(two.recv_timeout(WAIT).unwrap(), FromMaster::Echo(20));
}

#[test]
fn router_reports_malformed_messages_with_identity_and_stays_aligned() {
    let ctx = zmq::Context::new();
    let (mut router, endpoint) = router(&ctx, &Transport::Tcp);
    let dealer = raw_dealer(&ctx, &endpoint, b"rogue");
    let hello = encoded(&ToMaster::Hello);
    let rogue = Identity::from(&b"rogue"[..]);

    let cases: Vec<(Vec<Vec<u8>>, &str)> = vec![
        (
            vec![hello.clone()],
            "expected 3 frames [identity, empty delimiter, payload], received 2",
        ),
        (
            vec![b"x".to_vec(), hello.clone()],
            "expected an empty delimiter frame, received 1 bytes",
        ),
        (
            vec![vec![], hello.clone(), b"a".to_vec(), b"b".to_vec()],
            "expected 3 frames [identity, empty delimiter, payload], received 5",
        ),
    ];
    for (frames, what) in cases {
        dealer.send_multipart(frames, 0).unwrap();
        let (peer, error) = recv_bad(&mut router);
        assert_eq!(peer, rogue);
        assert_eq!(frames_error(&error), what);
        assert!(
            error
                .to_string()
                .starts_with("invalid message structure received"),
            "{error}"
        );
    }

    // Empty payload, garbage, a valid frame with trailing bytes, an unknown message.
    let bad_payloads: [(&[u8], Expect); 4] = [
        (b"", |e| matches!(e, ProtocolError::Decode(_))),
        (b"\xff\xfe\x00garbage", |e| {
            matches!(e, ProtocolError::Decode(_))
        }),
        (b"\x65HELLO\x00", |e| matches!(e, ProtocolError::Decode(_))),
        (b"\x64NOPE", |e| {
            *e == ProtocolError::UnknownMessage("NOPE".into())
        }),
    ];
    for (payload, expected) in bad_payloads {
        dealer.send_multipart([&b""[..], payload], 0).unwrap();
        let (peer, error) = recv_bad(&mut router);
        assert_eq!(peer, rogue);
        assert!(expected(&error), "payload {payload:?} gave {error:?}");
    }

    // The next good message is read whole and correctly, and the peer can be answered.
    dealer.send_multipart([&b""[..], &hello], 0).unwrap();
    let (peer, msg) = recv_ok(&mut router);
    assert_eq!((peer.clone(), msg), (rogue, ToMaster::Hello));
    router.send_to(&peer, &FromMaster::Ack).unwrap();
    let reply = dealer.recv_multipart(0).unwrap();
    assert_eq!(reply, [vec![], encoded(&FromMaster::Ack)]);
    assert!(
        router
            .recv_timeout(Duration::from_millis(100))
            .unwrap_err()
            .is_timeout()
    );
}

#[test]
fn router_rejects_a_message_of_the_other_direction() {
    let ctx = zmq::Context::new();
    let (mut router, endpoint) = router(&ctx, &Transport::Inproc);
    let dealer = raw_dealer(&ctx, &endpoint, b"confused");
    dealer
        .send_multipart([vec![], encoded(&FromMaster::Ack)], 0)
        .unwrap();
    let (_, error) = recv_bad(&mut router);
    assert_eq!(error, ProtocolError::UnknownMessage("ACK".into()));
}

#[test]
fn pull_rejects_multipart_messages_and_stays_aligned() {
    let ctx = zmq::Context::new();
    let mut pull = Pull::<Test>::bind(&ctx, "inproc://pull", &opts()).unwrap();
    let push = ctx.socket(zmq::PUSH).unwrap();
    push.connect("inproc://pull").unwrap();
    let hello = encoded(&ToMaster::Hello);

    push.send_multipart([hello.clone(), hello.clone()], 0)
        .unwrap();
    push.send_multipart([hello.clone(), vec![], vec![], vec![]], 0)
        .unwrap();
    push.send(&b"\x82\x65COUNT"[..], 0).unwrap();
    push.send(&hello[..], 0).unwrap();

    for what in [
        "expected 1 frame [payload], received 2",
        "expected 1 frame [payload], received 4",
    ] {
        match pull.recv_timeout(WAIT) {
            Err(TransportError::Protocol(error)) => assert_eq!(frames_error(&error), what),
            other => panic!("expected a protocol error, got {other:?}"),
        }
    }
    let truncated = pull.recv_timeout(WAIT).unwrap_err();
    assert!(truncated.is_protocol(), "{truncated:?}");
    assert_eq!(pull.recv_timeout(WAIT).unwrap(), ToMaster::Hello);
}

#[test]
fn req_rejects_a_multipart_reply_and_can_send_again() {
    let ctx = zmq::Context::new();
    let router = ctx.socket(zmq::ROUTER).unwrap();
    router.bind("inproc://multipart-reply").unwrap();
    let mut req = Req::<Test>::connect(&ctx, "inproc://multipart-reply", &opts()).unwrap();

    req.send(&ToMaster::Hello).unwrap();
    let request = router.recv_multipart(0).unwrap();
    assert_eq!(request[1..], [vec![], encoded(&ToMaster::Hello)]);
    let ack = encoded(&FromMaster::Ack);
    router
        .send_multipart([request[0].clone(), vec![], ack.clone(), ack.clone()], 0)
        .unwrap();
    let error = req.recv_timeout(WAIT).unwrap_err();
    assert!(error.is_protocol(), "{error:?}");

    // The bad reply was consumed whole: the next round trip is intact.
    req.send(&ToMaster::Idle).unwrap();
    let request = router.recv_multipart(0).unwrap();
    assert_eq!(request[2], encoded(&ToMaster::Idle));
    router
        .send_multipart([request[0].clone(), vec![], ack], 0)
        .unwrap();
    assert_eq!(req.recv_timeout(WAIT).unwrap(), FromMaster::Ack);
}

#[test]
fn dealer_rejects_a_reply_without_delimiter() {
    let ctx = zmq::Context::new();
    let mut router = RawRouter::bind(&ctx, "inproc://no-delimiter", &opts()).unwrap();
    let mut dealer = Dealer::<Test>::connect(&ctx, "inproc://no-delimiter", &opts()).unwrap();
    dealer.send(&ToMaster::Hello).unwrap();
    let (peer, frames) = router.recv_timeout(WAIT).unwrap();
    let frames = frames.unwrap();
    assert_eq!(
        frames.iter().map(|f| f.to_vec()).collect::<Vec<_>>(),
        [vec![], encoded(&ToMaster::Hello)]
    );

    router.send_to(&peer, [encoded(&FromMaster::Ack)]).unwrap();
    match dealer.recv_timeout(WAIT) {
        Err(TransportError::Protocol(e)) => {
            assert_eq!(
                frames_error(&e),
                "expected 2 frames [empty delimiter, payload], received 1"
            )
        }
        other => panic!("expected a protocol error, got {other:?}"),
    }
    router
        .send_to(&peer, [vec![], encoded(&FromMaster::Ack)])
        .unwrap();
    assert_eq!(dealer.recv_timeout(WAIT).unwrap(), FromMaster::Ack);
}

#[test]
fn raw_router_limits_frames_and_stays_aligned() {
    let ctx = zmq::Context::new();
    let mut router = RawRouter::bind(&ctx, "inproc://raw-limit", &opts()).unwrap();
    router.set_max_frames(3);
    let dealer = raw_dealer(&ctx, "inproc://raw-limit", b"many");

    dealer
        .send_multipart(vec![b"CHUNK".to_vec(); 1000], 0)
        .unwrap();
    dealer.send_multipart([&b"HELLO"[..], b"7"], 0).unwrap();
    let (peer, frames) = router.recv_timeout(WAIT).unwrap();
    assert_eq!(peer.as_bytes(), b"many");
    assert_eq!(
        frames_error(&frames.unwrap_err()),
        "expected at most 3 frames, received 1000"
    );
    let (_, frames) = router.recv_timeout(WAIT).unwrap();
    assert_eq!(
        frames
            .unwrap()
            .iter()
            .map(|f| f.to_vec())
            .collect::<Vec<_>>(),
        [b"HELLO".to_vec(), b"7".to_vec()]
    );
}

#[test]
fn raw_sends_need_a_frame() {
    let ctx = zmq::Context::new();
    let mut router = RawRouter::bind(&ctx, "inproc://raw-empty", &opts()).unwrap();
    let mut dealer = RawDealer::connect(&ctx, "inproc://raw-empty", &opts()).unwrap();
    let nothing: [&str; 0] = [];
    assert!(dealer.send(nothing).unwrap_err().is_protocol());
    assert!(
        router
            .send_to(&Identity::from(&b"x"[..]), nothing)
            .unwrap_err()
            .is_protocol()
    );
}

#[test]
fn an_unencodable_message_is_not_sent() {
    let ctx = zmq::Context::new();
    let (mut router, endpoint) = router(&ctx, &Transport::Inproc);
    let mut req = Req::<Test>::connect(&ctx, &endpoint, &opts()).unwrap();
    req.send(&ToMaster::Hello).unwrap();
    let (peer, _) = recv_ok(&mut router);

    let error = router.send_to(&peer, &FromMaster::Unsendable).unwrap_err();
    assert!(
        matches!(
            error,
            TransportError::Protocol(ProtocolError::Unencodable { .. })
        ),
        "{error:?}"
    );
    router.send_to(&peer, &FromMaster::Ack).unwrap();
    assert_eq!(req.recv_timeout(WAIT).unwrap(), FromMaster::Ack);
}

#[test]
fn req_out_of_turn_is_efsm() {
    let ctx = zmq::Context::new();
    let (_router, endpoint) = router(&ctx, &Transport::Inproc);
    let mut req = Req::<Test>::connect(&ctx, &endpoint, &opts()).unwrap();
    assert!(matches!(
        req.recv_timeout(WAIT),
        Err(TransportError::Zmq(zmq::Error::EFSM))
    ));
    req.send(&ToMaster::Hello).unwrap();
    assert!(matches!(
        req.send(&ToMaster::Hello),
        Err(TransportError::Zmq(zmq::Error::EFSM))
    ));
}

// ---------------------------------------------------------------------------------------
// Limits and timeouts.

#[test]
fn oversized_frames_are_dropped_and_the_router_keeps_serving() {
    let ctx = zmq::Context::new();
    let small = opts().max_message_size(Some(1024));
    let mut router = Router::<Test>::bind(&ctx, "tcp://127.0.0.1:*", &small).unwrap();
    let endpoint = router.endpoint().unwrap();
    let big = raw_dealer(&ctx, &endpoint, b"big");
    let good = raw_dealer(&ctx, &endpoint, b"good");
    let hello = encoded(&ToMaster::Hello);

    big.send_multipart([vec![], vec![0x5a; 2000]], 0).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    good.send_multipart([&b""[..], &hello], 0).unwrap();
    let (peer, msg) = recv_ok(&mut router);
    assert_eq!((peer.as_bytes(), msg), (&b"good"[..], ToMaster::Hello));
    // The oversized frame never arrives ...
    assert!(
        router
            .recv_timeout(Duration::from_millis(300))
            .unwrap_err()
            .is_timeout()
    );
    // A frame of exactly the limit arrives (and is then bad CBOR).
    good.send_multipart([vec![], vec![0xff; 1024]], 0).unwrap();
    let (peer, error) = recv_bad(&mut router);
    assert_eq!(peer.as_bytes(), b"good");
    assert!(matches!(error, ProtocolError::Decode(_)), "{error:?}");
    // The offender was disconnected; it reconnects and is served again. ZeroMQ may lose
    // what it sends while the old connection is torn down, so it tries until served.
    let started = Instant::now();
    loop {
        big.send_multipart([&b""[..], &hello], 0).unwrap();
        match router.recv_timeout(Duration::from_millis(200)) {
            Ok((peer, msg)) => {
                assert_eq!(
                    (peer.as_bytes(), msg.unwrap()),
                    (&b"big"[..], ToMaster::Hello)
                );
                break;
            }
            Err(e) if e.is_timeout() && started.elapsed() < WAIT => continue,
            Err(e) => panic!("the offender was never served again: {e}"),
        }
    }
}

#[test]
fn receive_timeouts_are_distinct_errors() {
    let ctx = zmq::Context::new();
    let timeout = Duration::from_millis(150);
    let (mut router, endpoint) = router(&ctx, &Transport::Inproc);

    let started = Instant::now();
    assert_timeout(router.recv_timeout(timeout), timeout, started);

    let mut req = Req::<Test>::connect(&ctx, &endpoint, &opts()).unwrap();
    req.send(&ToMaster::Hello).unwrap();
    let started = Instant::now();
    assert_timeout(req.recv_timeout(timeout), timeout, started);
    // The request was delivered all the same; a late reply is still received.
    let (peer, _) = recv_ok(&mut router);
    router.send_to(&peer, &FromMaster::Ack).unwrap();
    assert_eq!(req.recv_timeout(WAIT).unwrap(), FromMaster::Ack);

    let mut pull = Pull::<Test>::bind(&ctx, "inproc://timeout-pull", &opts()).unwrap();
    let started = Instant::now();
    assert_timeout(pull.recv_timeout(timeout), timeout, started);
    let mut raw = RawRouter::bind(&ctx, "inproc://timeout-raw", &opts()).unwrap();
    let started = Instant::now();
    assert_timeout(raw.recv_timeout(timeout), timeout, started);

    // A zero timeout only looks.
    let started = Instant::now();
    assert_timeout(pull.recv_timeout(Duration::ZERO), Duration::ZERO, started);
    assert!(
        TransportError::Timeout(timeout)
            .to_string()
            .contains("timed out")
    );
}

#[test]
fn push_send_timeout_without_a_peer() {
    let ctx = zmq::Context::new();
    let mut push = Push::<Test>::bind(&ctx, "inproc://nobody", &opts()).unwrap();
    let timeout = Duration::from_millis(10);
    let started = Instant::now();
    assert_timeout(
        push.send_timeout(&ToMaster::Hello, timeout),
        timeout,
        started,
    );

    // Once a peer connects, the same send goes through.
    let mut pull = Pull::<Test>::connect(&ctx, "inproc://nobody", &opts()).unwrap();
    push.send_timeout(&ToMaster::Idle, WAIT).unwrap();
    assert_eq!(pull.recv_timeout(WAIT).unwrap(), ToMaster::Idle);
}

// ---------------------------------------------------------------------------------------
// Options, endpoints, IPv6 and IPC files.

#[test]
fn options_are_applied() {
    let ctx = zmq::Context::new();
    let socket =
        Router::<Test>::bind(&ctx, "inproc://defaults", &SocketOptions::default()).unwrap();
    let s = socket.socket();
    assert!(s.is_ipv6().unwrap());
    assert_eq!(
        (s.get_sndhwm().unwrap(), s.get_rcvhwm().unwrap()),
        (1000, 1000)
    );
    assert_eq!(s.get_linger().unwrap(), 1000);
    assert_eq!(s.get_maxmsgsize().unwrap(), 64 << 20);

    let custom = SocketOptions::new()
        .hwm(piwheels_protocol::transport::HWM)
        .recv_hwm(piwheels_protocol::transport::FILE_QUEUE_HWM)
        .linger(None)
        .max_message_size(None)
        .ipv6(false);
    let socket = Pull::<Test>::bind(&ctx, "inproc://custom", &custom).unwrap();
    let s = socket.socket();
    assert!(!s.is_ipv6().unwrap());
    assert_eq!(
        (s.get_sndhwm().unwrap(), s.get_rcvhwm().unwrap()),
        (10, 500)
    );
    assert_eq!(s.get_linger().unwrap(), -1);
    assert_eq!(s.get_maxmsgsize().unwrap(), -1);

    let short = SocketOptions::new().linger(Some(Duration::from_micros(1)));
    let socket = Push::<Test>::bind(&ctx, "inproc://short", &short).unwrap();
    assert_eq!(
        socket.socket().get_linger().unwrap(),
        1,
        "rounded up, not to 0"
    );
}

#[test]
fn bind_reports_the_actual_endpoint() {
    let ctx = zmq::Context::new();
    let router = Router::<Test>::bind(&ctx, "tcp://127.0.0.1:*", &opts()).unwrap();
    let endpoint = router.endpoint().unwrap();
    assert!(endpoint.starts_with("tcp://127.0.0.1:"), "{endpoint}");
    let port: u16 = port_of(&endpoint).parse().unwrap();
    assert_ne!(port, 0);
    assert!(format!("{router:?}").contains(&endpoint));

    let raw = RawRouter::bind(&ctx, "inproc://raw-endpoint", &opts()).unwrap();
    assert_eq!(raw.endpoint().unwrap(), "inproc://raw-endpoint");
}

#[test]
fn bad_endpoints_are_errors_not_panics() {
    let ctx = zmq::Context::new();
    for endpoint in ["tcp://127.0.0.1:1\0", "nonsense", "tcp://"] {
        let error = Router::<Test>::bind(&ctx, endpoint, &opts()).unwrap_err();
        assert!(
            matches!(error, TransportError::Zmq(_)),
            "{endpoint:?}: {error:?}"
        );
    }
    let error = Req::<Test>::connect(&ctx, "inproc://x\0y", &opts()).unwrap_err();
    assert!(
        matches!(error, TransportError::Zmq(zmq::Error::EINVAL)),
        "{error:?}"
    );
}

#[test]
fn wildcard_bind_is_dual_stack() {
    if let Err(reason) = ipv6_loopback() {
        test_support::skip(
            "transport::wildcard_bind_is_dual_stack",
            &format!("no IPv6 loopback ({reason})"),
        );
        return;
    }
    let ctx = zmq::Context::new();
    let mut router = Router::<Test>::bind(&ctx, "tcp://*:*", &opts()).unwrap();
    let endpoint = router.endpoint().unwrap();
    assert!(endpoint.starts_with("tcp://[::]:"), "{endpoint}");
    let port = port_of(&endpoint);

    for host in ["[::1]", "127.0.0.1"] {
        let mut req = Req::<Test>::connect(&ctx, &format!("tcp://{host}:{port}"), &opts()).unwrap();
        req.send(&ToMaster::Hello).unwrap();
        let (peer, msg) = recv_ok(&mut router);
        assert_eq!(msg, ToMaster::Hello, "via {host}");
        router.send_to(&peer, &FromMaster::Ack).unwrap();
        assert_eq!(
            req.recv_timeout(WAIT).unwrap(),
            FromMaster::Ack,
            "via {host}"
        );
    }
}

#[test]
fn ipc_socket_file_mode() {
    use std::os::unix::fs::PermissionsExt;

    let transport = Transport::ipc();
    let ctx = zmq::Context::new();
    let publisher = Pub::<Test>::bind(&ctx, &transport.bind_endpoint(), &opts()).unwrap();
    let endpoint = publisher.endpoint().unwrap();
    let path = ipc_path(&endpoint).unwrap().to_owned();
    let mode = || std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;

    set_ipc_mode(&endpoint, 0o640).unwrap();
    assert_eq!(mode(), 0o640);
    add_ipc_group_write(&endpoint).unwrap();
    assert_eq!(mode(), 0o660);

    assert_eq!(
        ipc_path("ipc:///tmp/piw-status"),
        Some(std::path::Path::new("/tmp/piw-status"))
    );
    assert_eq!(ipc_path("ipc://@abstract"), None);
    assert_eq!(ipc_path("tcp://*:5555"), None);
    let error = add_ipc_group_write("tcp://*:5555").unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn identities_print_as_hex() {
    let identity = Identity::new(vec![0x00, 0x80, 0x00, 0x41, 0xa7]);
    assert_eq!(identity.to_string(), "00800041a7");
    assert_eq!(format!("{identity:?}"), "Identity(00800041a7)");
    assert_eq!(identity.as_ref(), &[0x00, 0x80, 0x00, 0x41, 0xa7]);
}

#[test]
fn sockets_can_move_to_other_threads() {
    fn send<T: Send>() {}
    send::<Router<Test>>();
    send::<Req<Test>>();
    send::<Dealer<Test>>();
    send::<Push<Test>>();
    send::<Pull<Test>>();
    send::<Pub<Test>>();
    send::<Sub<Test>>();
    send::<RawRouter>();
    send::<RawDealer>();
    send::<TransportError>();
}

/// A client given the master's bind address (`tcp://*:P`, as a shared `piwheels.conf`
/// holds it) connects to loopback instead, and reaches the master.
#[test]
fn a_wildcard_bind_address_is_connected_to_on_loopback() {
    assert_eq!(connectable("tcp://*:5556"), "tcp://127.0.0.1:5556");
    assert_eq!(connectable("tcp://0.0.0.0:5556"), "tcp://127.0.0.1:5556");
    assert_eq!(connectable("tcp://[::]:5556"), "tcp://[::1]:5556");
    for kept in [
        "tcp://10.0.0.1:5556",
        "tcp://master.example.org:5556",
        "ipc:///run/piwheels/import",
        "tcp://*",
    ] {
        assert_eq!(connectable(kept), kept);
    }
    let ctx = zmq::Context::new();
    let rep = ctx.socket(zmq::REP).unwrap();
    rep.bind("tcp://0.0.0.0:*").unwrap();
    let bound = rep.get_last_endpoint().unwrap().unwrap();
    let port = bound.rsplit_once(':').unwrap().1;
    let req = ctx.socket(zmq::REQ).unwrap();
    req.set_linger(0).unwrap();
    req.set_rcvtimeo(10_000).unwrap();
    rep.set_rcvtimeo(10_000).unwrap();
    req.connect(&connectable(&format!("tcp://*:{port}")))
        .unwrap();
    req.send("ping", 0).expect("the request is queued");
    assert_eq!(
        rep.recv_bytes(0).expect("the master hears it within 10 s"),
        b"ping"
    );
}
