//! The libzmq we link has CURVE (ZeroMQ's encryption and authentication, libsodium
//! underneath): a CURVE REQ/REP pair over TCP talks, and a client that expects another
//! server key does not get through.

use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn libzmq_has_curve() {
    assert!(
        zmq::has("curve").unwrap_or(false),
        "the linked libzmq {:?} has no CURVE (built without libsodium?)",
        zmq::version()
    );
}

/// A REP server with `server` keys, bound to a free loopback port; its endpoint.
fn curve_rep(ctx: &zmq::Context, server: &zmq::CurveKeyPair) -> (zmq::Socket, String) {
    let rep = ctx.socket(zmq::REP).unwrap();
    rep.set_curve_server(true).unwrap();
    rep.set_curve_secretkey(&server.secret_key).unwrap();
    rep.set_linger(0).unwrap();
    rep.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = rep.get_last_endpoint().unwrap().unwrap();
    (rep, endpoint)
}

/// A REQ client with its own fresh keys that expects `server_public`.
fn curve_req(ctx: &zmq::Context, server_public: &[u8; 32], endpoint: &str) -> zmq::Socket {
    let client = zmq::CurveKeyPair::new().unwrap();
    let req = ctx.socket(zmq::REQ).unwrap();
    req.set_curve_serverkey(server_public).unwrap();
    req.set_curve_publickey(&client.public_key).unwrap();
    req.set_curve_secretkey(&client.secret_key).unwrap();
    req.set_linger(0).unwrap();
    req.connect(endpoint).unwrap();
    req
}

fn recv_within(socket: &zmq::Socket, what: &str) -> Option<Vec<u8>> {
    let ms = i64::try_from(WAIT.as_millis()).unwrap();
    let ready = zmq::poll(&mut [socket.as_poll_item(zmq::POLLIN)], ms).unwrap();
    if ready == 0 {
        eprintln!("nothing within {WAIT:?}: {what}");
        return None;
    }
    Some(socket.recv_bytes(0).unwrap())
}

#[test]
fn a_curve_req_rep_pair_talks() {
    let ctx = zmq::Context::new();
    let server = zmq::CurveKeyPair::new().unwrap();
    let (rep, endpoint) = curve_rep(&ctx, &server);
    let req = curve_req(&ctx, &server.public_key, &endpoint);
    req.send("HELLO", 0).unwrap();
    let got = recv_within(&rep, "the server's request over CURVE").expect("request");
    assert_eq!(got, b"HELLO");
    assert_eq!(rep.get_mechanism().unwrap(), zmq::Mechanism::ZMQ_CURVE);
    rep.send("ACK", 0).unwrap();
    let got = recv_within(&req, "the client's reply over CURVE").expect("reply");
    assert_eq!(got, b"ACK");
}

#[test]
fn a_client_expecting_another_server_key_gets_nothing_through() {
    let ctx = zmq::Context::new();
    let server = zmq::CurveKeyPair::new().unwrap();
    let impostor = zmq::CurveKeyPair::new().unwrap();
    let (rep, endpoint) = curve_rep(&ctx, &server);
    // The handshake fails (the client's HELLO box is not for this server), so the request
    // never reaches the REP; a right client afterwards still does.
    let wrong = curve_req(&ctx, &impostor.public_key, &endpoint);
    wrong.send("HELLO", 0).unwrap();
    let right = curve_req(&ctx, &server.public_key, &endpoint);
    right.send("RIGHT", 0).unwrap();
    let got = recv_within(&rep, "the right client's request").expect("request");
    assert_eq!(
        got, b"RIGHT",
        "only the client with the right server key gets through"
    );
    rep.send("ACK", 0).unwrap();
    assert_eq!(recv_within(&right, "reply").expect("reply"), b"ACK");
    let nothing = zmq::poll(&mut [rep.as_poll_item(zmq::POLLIN)], 500).unwrap();
    assert_eq!(nothing, 0, "the wrong client's request got through");
}
