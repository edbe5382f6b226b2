//! The asynchronous (tokio) transport over real ZeroMQ sockets: every socket pair over
//! tcp, ipc and inproc, malformed input, limits, cancellation and IPv6.

use std::time::{Duration, Instant};

use piwheels_protocol::error::ProtocolError;
use piwheels_protocol::transport::asynchronous as aio;
use piwheels_protocol::transport::{Identity, Req, SocketOptions, TransportError};

use crate::transport_support as support;
use support::*;

async fn within<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, future).await.expect("timed out")
}

async fn req_router(transport: Transport) {
    let ctx = zmq::Context::new();
    let mut router = aio::Router::<Test>::bind(&ctx, &transport.bind_endpoint(), &opts()).unwrap();
    let endpoint = router.endpoint().unwrap();
    let mut req = aio::Req::<Test>::connect(&ctx, &endpoint, &opts()).unwrap();
    assert_eq!(req.endpoint(), endpoint);

    req.send(&ToMaster::Hello).await.unwrap();
    assert!(req.in_flight() && req.socket().is_none());
    let (peer, msg) = within(router.recv()).await.unwrap();
    assert_eq!(msg.unwrap(), ToMaster::Hello);
    router.send_to(&peer, &FromMaster::Ack).await.unwrap();
    assert_eq!(within(req.recv()).await.unwrap(), FromMaster::Ack);
    assert!(!req.in_flight() && req.socket().is_some());

    let (reply, served) = tokio::join!(within(req.request(&ToMaster::Count(1 << 33))), async {
        let (peer, msg) = within(router.recv()).await.unwrap();
        assert_eq!(msg.unwrap(), ToMaster::Count(1 << 33));
        router
            .send_to(&peer, &FromMaster::Echo(1 << 33))
            .await
            .unwrap();
        peer
    });
    assert_eq!(reply.unwrap(), FromMaster::Echo(1 << 33));
    assert_eq!(served, peer);
}

async fn raw_dealer_router(transport: Transport) {
    let ctx = zmq::Context::new();
    let mut router = aio::RawRouter::bind(&ctx, &transport.bind_endpoint(), &opts()).unwrap();
    let mut dealer = aio::RawDealer::connect(&ctx, &router.endpoint().unwrap(), &opts()).unwrap();

    dealer.send(["HELLO", "1"]).await.unwrap();
    let (peer, frames) = within(router.recv()).await.unwrap();
    assert_eq!(
        frames
            .unwrap()
            .iter()
            .map(|f| f.to_vec())
            .collect::<Vec<_>>(),
        [b"HELLO".to_vec(), b"1".to_vec()]
    );
    router
        .send_to(&peer, ["FETCH", "0", "65536"])
        .await
        .unwrap();
    let fetch = within(dealer.recv()).await.unwrap();
    assert_eq!(
        fetch
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect::<Vec<_>>(),
        ["FETCH", "0", "65536"]
    );

    let chunk: Vec<u8> = (0..65536u32).map(|i| (i % 253) as u8).collect();
    let expected = chunk.clone();
    dealer
        .send([
            zmq::Message::from("CHUNK"),
            zmq::Message::from("0"),
            zmq::Message::from(chunk),
        ])
        .await
        .unwrap();
    let (from, frames) = within(router.recv()).await.unwrap();
    let frames = frames.unwrap();
    assert_eq!(from, peer);
    assert_eq!(&frames[2][..], &expected[..]);
    router.send_to(&peer, ["DONE"]).await.unwrap();
    assert_eq!(&within(dealer.recv()).await.unwrap()[0][..], b"DONE");
}

async fn typed_dealer_router(transport: Transport) {
    let ctx = zmq::Context::new();
    let mut router = aio::Router::<Test>::bind(&ctx, &transport.bind_endpoint(), &opts()).unwrap();
    let mut dealer =
        aio::Dealer::<Test>::connect(&ctx, &router.endpoint().unwrap(), &opts()).unwrap();
    dealer.send(&ToMaster::Idle).await.unwrap();
    dealer.send(&ToMaster::Count(3)).await.unwrap();
    let (peer, first) = within(router.recv()).await.unwrap();
    let (_, second) = within(router.recv()).await.unwrap();
    assert_eq!(
        (first.unwrap(), second.unwrap()),
        (ToMaster::Idle, ToMaster::Count(3))
    );
    router.send_to(&peer, &FromMaster::Sleep).await.unwrap();
    assert_eq!(within(dealer.recv()).await.unwrap(), FromMaster::Sleep);
}

async fn push_pull(transport: Transport) {
    let ctx = zmq::Context::new();
    let mut pull = aio::Pull::<Test>::bind(&ctx, &transport.bind_endpoint(), &opts()).unwrap();
    let mut push = aio::Push::<Test>::connect(&ctx, &pull.endpoint().unwrap(), &opts()).unwrap();
    push.send(&ToMaster::Hello).await.unwrap();
    push.send(&ToMaster::Count(5)).await.unwrap();
    assert_eq!(within(pull.recv()).await.unwrap(), ToMaster::Hello);
    assert_eq!(within(pull.recv()).await.unwrap(), ToMaster::Count(5));
}

async fn pub_sub(transport: Transport) {
    let ctx = zmq::Context::new();
    let mut publisher = aio::Pub::<Test>::bind(&ctx, &transport.bind_endpoint(), &opts()).unwrap();
    let mut subscriber =
        aio::Sub::<Test>::connect(&ctx, &publisher.endpoint().unwrap(), &opts()).unwrap();
    let started = Instant::now();
    loop {
        publisher.send(&FromMaster::Sleep).await.unwrap();
        match tokio::time::timeout(Duration::from_millis(50), subscriber.recv()).await {
            Ok(msg) => break assert_eq!(msg.unwrap(), FromMaster::Sleep),
            Err(_) => assert!(started.elapsed() < WAIT, "subscriber never received"),
        }
    }
    publisher.send(&FromMaster::Echo(9)).await.unwrap();
    let mut msg = within(subscriber.recv()).await.unwrap();
    while msg == FromMaster::Sleep {
        msg = within(subscriber.recv()).await.unwrap();
    }
    assert_eq!(msg, FromMaster::Echo(9));
}

per_transport! {
    async:
    req_to_router => req_router;
    raw_dealer_to_router => raw_dealer_router;
    typed_dealer_to_router => typed_dealer_router;
    push_to_pull => push_pull;
    pub_to_sub => pub_sub;
}

#[tokio::test]
async fn router_reports_malformed_messages_with_identity_and_stays_aligned() {
    let ctx = zmq::Context::new();
    let mut router = aio::Router::<Test>::bind(&ctx, "tcp://127.0.0.1:*", &opts()).unwrap();
    let mut dealer = aio::RawDealer::connect(&ctx, &router.endpoint().unwrap(), &opts()).unwrap();
    let hello = encoded(&ToMaster::Hello);
    let sends: Vec<Vec<Vec<u8>>> = vec![
        vec![hello.clone()],
        vec![b"x".to_vec(), hello.clone()],
        vec![vec![], hello.clone(), vec![], vec![]],
        vec![vec![], vec![]],
        vec![vec![], b"\xff\xff".to_vec()],
    ];
    for frames in sends {
        dealer.send(frames).await.unwrap();
    }
    dealer.send([vec![], hello]).await.unwrap();

    let mut peers = Vec::new();
    for _ in 0..3 {
        let (peer, msg) = within(router.recv()).await.unwrap();
        assert!(matches!(msg, Err(ProtocolError::Frames(_))), "{msg:?}");
        peers.push(peer);
    }
    for _ in 0..2 {
        let (peer, msg) = within(router.recv()).await.unwrap();
        assert!(matches!(msg, Err(ProtocolError::Decode(_))), "{msg:?}");
        peers.push(peer);
    }
    let (peer, msg) = within(router.recv()).await.unwrap();
    assert_eq!(msg.unwrap(), ToMaster::Hello);
    assert!(peers.iter().all(|p| *p == peer));
    router.send_to(&peer, &FromMaster::Ack).await.unwrap();
    let reply = within(dealer.recv()).await.unwrap();
    assert_eq!(
        reply.iter().map(|f| f.to_vec()).collect::<Vec<_>>(),
        [vec![], encoded(&FromMaster::Ack)]
    );
}

#[tokio::test]
async fn pull_rejects_multipart_messages_and_stays_aligned() {
    let ctx = zmq::Context::new();
    let mut pull = aio::Pull::<Test>::bind(&ctx, "inproc://async-pull", &opts()).unwrap();
    let push = ctx.socket(zmq::PUSH).unwrap();
    push.connect("inproc://async-pull").unwrap();
    let hello = encoded(&ToMaster::Hello);
    push.send_multipart([hello.clone(), hello.clone()], 0)
        .unwrap();
    push.send(&hello[..], 0).unwrap();
    let error = within(pull.recv()).await.unwrap_err();
    assert!(error.is_protocol(), "{error:?}");
    assert_eq!(within(pull.recv()).await.unwrap(), ToMaster::Hello);
}

#[tokio::test]
async fn cancelled_req_receive_keeps_the_request_in_flight() {
    let ctx = zmq::Context::new();
    let mut router = aio::Router::<Test>::bind(&ctx, "inproc://async-timeout", &opts()).unwrap();
    let mut req = aio::Req::<Test>::connect(&ctx, "inproc://async-timeout", &opts()).unwrap();
    req.send(&ToMaster::Idle).await.unwrap();

    let timeout = Duration::from_millis(100);
    let started = Instant::now();
    assert!(tokio::time::timeout(timeout, req.recv()).await.is_err());
    assert!(started.elapsed() >= timeout);
    assert!(req.in_flight());
    // Still in flight: sending now is out of turn, and the late reply is received.
    assert!(matches!(
        req.send(&ToMaster::Hello).await,
        Err(TransportError::Zmq(zmq::Error::EFSM))
    ));
    let (peer, _) = within(router.recv()).await.unwrap();
    router.send_to(&peer, &FromMaster::Sleep).await.unwrap();
    assert_eq!(within(req.recv()).await.unwrap(), FromMaster::Sleep);

    // Nothing in flight: receiving is out of turn.
    assert!(matches!(
        within(req.recv()).await,
        Err(TransportError::Zmq(zmq::Error::EFSM))
    ));
    // A cancelled router receive consumes nothing.
    assert!(tokio::time::timeout(timeout, router.recv()).await.is_err());
    req.send(&ToMaster::Hello).await.unwrap();
    let (peer, msg) = within(router.recv()).await.unwrap();
    assert_eq!(msg.unwrap(), ToMaster::Hello);

    // A reply the table rejects is not sent; the router can still answer.
    let error = router
        .send_to(&peer, &FromMaster::Unsendable)
        .await
        .unwrap_err();
    assert!(error.is_protocol(), "{error:?}");
    router.send_to(&peer, &FromMaster::Ack).await.unwrap();
    assert_eq!(within(req.recv()).await.unwrap(), FromMaster::Ack);
}

#[tokio::test]
async fn oversized_frames_are_dropped_and_the_router_keeps_serving() {
    let ctx = zmq::Context::new();
    let small = opts().max_message_size(Some(1024));
    let mut router = aio::Router::<Test>::bind(&ctx, "tcp://127.0.0.1:*", &small).unwrap();
    assert_eq!(router.socket().get_maxmsgsize().unwrap(), 1024);
    let endpoint = router.endpoint().unwrap();
    let mut big = aio::RawDealer::connect(&ctx, &endpoint, &opts()).unwrap();
    let mut good = aio::Dealer::<Test>::connect(&ctx, &endpoint, &opts()).unwrap();

    big.send([vec![], vec![0x5a; 2000]]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    good.send(&ToMaster::Hello).await.unwrap();
    assert_eq!(
        within(router.recv()).await.unwrap().1.unwrap(),
        ToMaster::Hello
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(300), router.recv())
            .await
            .is_err()
    );
    // The offender reconnects and is served again (retrying: ZeroMQ may lose what it
    // sends while the old connection is torn down).
    let started = Instant::now();
    loop {
        big.send([vec![], encoded(&ToMaster::Idle)]).await.unwrap();
        match tokio::time::timeout(Duration::from_millis(200), router.recv()).await {
            Ok(received) => break assert_eq!(received.unwrap().1.unwrap(), ToMaster::Idle),
            Err(_) => assert!(
                started.elapsed() < WAIT,
                "the offender was never served again"
            ),
        }
    }
}

#[tokio::test]
async fn options_are_applied() {
    let ctx = zmq::Context::new();
    let custom = SocketOptions::new()
        .hwm(10)
        .linger(Some(Duration::from_millis(250)));
    let sub = aio::Sub::<Test>::connect(&ctx, "inproc://nowhere", &custom).unwrap();
    let s = sub.socket();
    assert!(s.is_ipv6().unwrap());
    assert_eq!((s.get_sndhwm().unwrap(), s.get_rcvhwm().unwrap()), (10, 10));
    assert_eq!(s.get_linger().unwrap(), 250);
    assert_eq!(s.get_maxmsgsize().unwrap(), 64 << 20);
    let req = aio::Req::<Test>::connect(&ctx, "inproc://nowhere", &custom).unwrap();
    assert_eq!(req.socket().unwrap().get_rcvhwm().unwrap(), 10);
    assert!(format!("{req:?}").contains("inproc://nowhere"));
    let error = aio::Router::<Test>::bind(&ctx, "inproc://a\0b", &custom).unwrap_err();
    assert!(
        matches!(error, TransportError::Zmq(zmq::Error::EINVAL)),
        "{error:?}"
    );
}

#[tokio::test]
async fn wildcard_bind_is_dual_stack() {
    if let Err(reason) = ipv6_loopback() {
        test_support::skip(
            "transport_async::wildcard_bind_is_dual_stack",
            &format!("no IPv6 loopback ({reason})"),
        );
        return;
    }
    let ctx = zmq::Context::new();
    let mut router = aio::Router::<Test>::bind(&ctx, "tcp://*:*", &opts()).unwrap();
    let endpoint = router.endpoint().unwrap();
    assert!(endpoint.starts_with("tcp://[::]:"), "{endpoint}");
    let port = port_of(&endpoint).to_owned();
    for host in ["[::1]", "127.0.0.1"] {
        let mut req =
            aio::Req::<Test>::connect(&ctx, &format!("tcp://{host}:{port}"), &opts()).unwrap();
        req.send(&ToMaster::Hello).await.unwrap();
        let (peer, msg) = within(router.recv()).await.unwrap();
        assert_eq!(msg.unwrap(), ToMaster::Hello, "via {host}");
        router.send_to(&peer, &FromMaster::Ack).await.unwrap();
        assert_eq!(
            within(req.recv()).await.unwrap(),
            FromMaster::Ack,
            "via {host}"
        );
    }
}

/// A blocking peer (in its own thread) and an asynchronous master share a context.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_req_talks_to_async_router() {
    let ctx = zmq::Context::new();
    let mut router = aio::Router::<Test>::bind(&ctx, "inproc://mixed", &opts()).unwrap();
    let peer_ctx = ctx.clone();
    let peer = std::thread::spawn(move || {
        let mut req = Req::<Test>::connect(&peer_ctx, "inproc://mixed", &opts()).unwrap();
        (0..3)
            .map(|n| req.request(&ToMaster::Count(n), WAIT).unwrap())
            .collect::<Vec<_>>()
    });
    for n in 0..3 {
        let (peer, msg) = within(router.recv()).await.unwrap();
        assert_eq!(msg.unwrap(), ToMaster::Count(n));
        router
            .send_to(&peer, &FromMaster::Echo(n + 100))
            .await
            .unwrap();
    }
    let replies = tokio::task::spawn_blocking(move || peer.join().unwrap())
        .await
        .unwrap();
    assert_eq!(
        replies,
        [
            FromMaster::Echo(100),
            FromMaster::Echo(101),
            FromMaster::Echo(102)
        ]
    );
}

/// Sockets and their futures can go into `tokio::spawn`.
#[tokio::test]
async fn sockets_and_their_futures_are_send() {
    fn send<T: Send>(_: &T) {}
    let ctx = zmq::Context::new();
    let mut router = aio::Router::<Test>::bind(&ctx, "inproc://send", &opts()).unwrap();
    let mut req = aio::Req::<Test>::connect(&ctx, "inproc://send", &opts()).unwrap();
    let mut raw = aio::RawRouter::bind(&ctx, "inproc://send-raw", &opts()).unwrap();
    send(&router.recv());
    send(&router.send_to(&Identity::from(&b"x"[..]), &FromMaster::Ack));
    send(&req.send(&ToMaster::Hello));
    send(&req.recv());
    send(&raw.recv());
    send(&raw.send_to(&Identity::from(&b"x"[..]), [vec![1u8]]));
    send(&req);
    send(&router);
    send(&raw);
}
