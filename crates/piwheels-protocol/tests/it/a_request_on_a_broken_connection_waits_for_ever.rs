//! Issue 14, items 8 and 9, the transport's part: a REQ whose connection broke while it
//! waited for a reply waited for its whole timeout (the request is lost with the
//! connection), and a master could not tell this project's slaves from the original's.
//! [`DisconnectWatch`] says when the connection broke; [`RoutingId`] names a socket to the
//! ROUTER it talks to.

use std::time::{Duration, Instant};

use piwheels_protocol::slave::{
    OUR_SLAVE_ID_PREFIX, SlaveProtocol, SlaveRequest, is_our_slave, our_slave_routing_id,
};
use piwheels_protocol::transport::{DisconnectWatch, Req, Router, RoutingId, SocketOptions};

const WAIT: Duration = Duration::from_secs(20);

fn options() -> SocketOptions {
    SocketOptions::new().linger(Some(Duration::ZERO))
}

#[test]
fn a_router_sees_the_routing_id_a_req_gives_itself() {
    let ctx = zmq::Context::new();
    let mut router = Router::<SlaveProtocol>::bind(&ctx, "tcp://127.0.0.1:*", &options()).unwrap();
    let endpoint = router.endpoint().unwrap();
    let id = our_slave_routing_id();
    assert!(is_our_slave(id.as_bytes()), "{id:?}");
    assert_ne!(our_slave_routing_id(), id, "a new id per socket");
    let mut ours =
        Req::<SlaveProtocol>::connect(&ctx, &endpoint, &options().routing_id(id)).unwrap();
    ours.send(&SlaveRequest::Bye).unwrap();
    let (peer, msg) = router.recv_timeout(WAIT).unwrap();
    assert_eq!(peer.as_bytes(), id.as_bytes());
    assert_eq!(msg.unwrap(), SlaveRequest::Bye);
    // A socket ZeroMQ names (as the original slave's) is not one of ours.
    let mut theirs = Req::<SlaveProtocol>::connect(&ctx, &endpoint, &options()).unwrap();
    theirs.send(&SlaveRequest::Bye).unwrap();
    let (peer, _) = router.recv_timeout(WAIT).unwrap();
    assert!(!is_our_slave(peer.as_bytes()), "{peer}");
    assert!(!peer.as_bytes().starts_with(OUR_SLAVE_ID_PREFIX));
}

#[test]
fn routing_ids_zeromq_keeps_for_itself_are_refused() {
    assert!(RoutingId::new(b"").is_none());
    assert!(RoutingId::new(b"\0abc").is_none());
    assert!(RoutingId::new(&[b'x'; RoutingId::MAX + 1]).is_none());
    assert_eq!(RoutingId::new(b"abc").unwrap().as_bytes(), b"abc");
}

#[test]
fn a_watch_says_when_the_connection_a_request_waits_on_breaks() {
    let ctx = zmq::Context::new();
    let mut router = Router::<SlaveProtocol>::bind(&ctx, "tcp://127.0.0.1:*", &options()).unwrap();
    let endpoint = router.endpoint().unwrap();
    let mut req = Req::<SlaveProtocol>::connect(&ctx, &endpoint, &options()).unwrap();
    let watch = DisconnectWatch::new(&ctx, req.socket()).unwrap();
    req.send(&SlaveRequest::Sent).unwrap();
    let (_, msg) = router.recv_timeout(WAIT).unwrap();
    assert_eq!(msg.unwrap(), SlaveRequest::Sent);
    assert!(!watch.disconnected().unwrap(), "nothing broke yet");
    // The master goes away before it answers.
    drop(router);
    let start = Instant::now();
    while !watch.disconnected().unwrap() {
        assert!(
            start.elapsed() < WAIT,
            "the broken connection was never reported"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Without the watch, the request would wait for its reply until its timeout.
    assert!(req.recv_timeout(Duration::from_millis(100)).is_err());
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn the_async_req_gives_itself_its_routing_id_too() {
    use piwheels_protocol::transport::asynchronous;
    let ctx = zmq::Context::new();
    let mut router = Router::<SlaveProtocol>::bind(&ctx, "tcp://127.0.0.1:*", &options()).unwrap();
    let endpoint = router.endpoint().unwrap();
    let id = our_slave_routing_id();
    let mut req =
        asynchronous::Req::<SlaveProtocol>::connect(&ctx, &endpoint, &options().routing_id(id))
            .unwrap();
    req.send(&SlaveRequest::Bye).await.unwrap();
    let (peer, _) = tokio::task::spawn_blocking(move || router.recv_timeout(WAIT).unwrap())
        .await
        .unwrap();
    assert_eq!(peer.as_bytes(), id.as_bytes());
}
