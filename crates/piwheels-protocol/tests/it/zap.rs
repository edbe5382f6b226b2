//! The ZAP handler on real sockets over TCP: CURVE peers admitted by the allow-list
//! folder (and refused once their key file is deleted), NULL peers by `--allow-plain`
//! network only, garbage before the handshake harmless, refusals reported once per peer
//! per minute; and the key files (czmq's layout, the secret one mode 0600).

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use piwheels_protocol::auth::{self, KeyPair, Network, Policy, PublicKey, Refusal, ZapHandler};

const WAIT: Duration = Duration::from_secs(10);
/// How long a refused peer is watched for a message that must not come.
const QUIET: Duration = Duration::from_millis(500);

struct Server {
    ctx: zmq::Context,
    rep: zmq::Socket,
    endpoint: String,
    keys: KeyPair,
    refusals: Arc<Mutex<Vec<Refusal>>>,
    _zap: ZapHandler,
}

fn server(policy: Policy, curve: bool) -> Server {
    let ctx = zmq::Context::new();
    let refusals = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&refusals);
    let zap = ZapHandler::start(&ctx, Arc::new(policy), move |r| {
        seen.lock().unwrap().push(r.clone())
    })
    .unwrap();
    let keys = KeyPair::generate().unwrap();
    let rep = ctx.socket(zmq::REP).unwrap();
    rep.set_linger(0).unwrap();
    if curve {
        auth::curve_server(&rep, &keys.secret).unwrap();
    } else {
        auth::plain_server(&rep).unwrap();
    }
    rep.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = rep.get_last_endpoint().unwrap().unwrap();
    Server {
        ctx,
        rep,
        endpoint,
        keys,
        refusals,
        _zap: zap,
    }
}

impl Server {
    fn client(&self, own: Option<&KeyPair>) -> zmq::Socket {
        let req = self.ctx.socket(zmq::REQ).unwrap();
        req.set_linger(0).unwrap();
        if let Some(own) = own {
            auth::curve_client(&req, &self.keys.public, own).unwrap();
        }
        req.connect(&self.endpoint).unwrap();
        req
    }

    /// Sends `text` from `client`; whether the server got it (and answered) in time.
    fn round_trip(&self, client: &zmq::Socket, text: &str, within: Duration) -> bool {
        client.send(text, 0).unwrap();
        if !readable(&self.rep, within) {
            return false;
        }
        assert_eq!(self.rep.recv_bytes(0).unwrap(), text.as_bytes());
        self.rep.send("OK", 0).unwrap();
        assert!(readable(client, WAIT), "no reply within {WAIT:?} to {text}");
        client.recv_bytes(0).unwrap();
        true
    }

    fn wait_refusals(&self, n: usize) -> Vec<Refusal> {
        let deadline = Instant::now() + WAIT;
        loop {
            let got = self.refusals.lock().unwrap().clone();
            if got.len() >= n || Instant::now() > deadline {
                assert!(
                    got.len() >= n,
                    "waited {WAIT:?} for {n} refusal(s), got {got:?}"
                );
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn readable(socket: &zmq::Socket, within: Duration) -> bool {
    let ms = i64::try_from(within.as_millis()).unwrap();
    zmq::poll(&mut [socket.as_poll_item(zmq::POLLIN)], ms).unwrap() > 0
}

#[test]
fn listed_key_admitted_unlisted_refused_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let listed = KeyPair::generate().unwrap();
    listed.write(&dir.path().join("slave1")).unwrap();
    let s = server(Policy::new(Some(dir.path().into()), vec![]), true);

    let stranger = KeyPair::generate().unwrap();
    let bad = s.client(Some(&stranger));
    assert!(
        !s.round_trip(&bad, "STRANGER", QUIET),
        "an unlisted key got through"
    );
    let good = s.client(Some(&listed));
    assert!(
        s.round_trip(&good, "LISTED", WAIT),
        "the listed key was refused"
    );

    let refusals = s.wait_refusals(1);
    assert_eq!(refusals[0].key, Some(stranger.public));
    assert_eq!(refusals[0].mechanism, "CURVE");
    // ZeroMQ reconnects the refused client again and again; it is reported once a minute.
    std::thread::sleep(QUIET);
    assert_eq!(
        s.refusals.lock().unwrap().len(),
        1,
        "a refused peer was reported twice"
    );
}

#[test]
fn deleting_a_key_file_refuses_the_next_connection() {
    let dir = tempfile::tempdir().unwrap();
    let slave = KeyPair::generate().unwrap();
    let (public, _secret) = slave.write(&dir.path().join("slave1")).unwrap();
    // Only the public half goes in an allow-list.
    std::fs::remove_file(dir.path().join("slave1.key_secret")).unwrap();
    let s = server(Policy::new(Some(dir.path().into()), vec![]), true);
    let first = s.client(Some(&slave));
    assert!(
        s.round_trip(&first, "BEFORE", WAIT),
        "the listed key was refused"
    );

    std::fs::remove_file(public).unwrap();
    let again = s.client(Some(&slave));
    assert!(
        !s.round_trip(&again, "AFTER", QUIET),
        "a revoked key got through"
    );
    assert_eq!(s.wait_refusals(1)[0].why, "key not in the allow-list");
}

#[test]
fn plain_peers_only_from_allowed_networks() {
    let loopback: Network = "127.0.0.0/8".parse().unwrap();
    let allowed = server(Policy::new(None, vec![loopback]), false);
    let c = allowed.client(None);
    assert!(
        allowed.round_trip(&c, "PLAIN", WAIT),
        "127.0.0.1 refused under 127.0.0.0/8"
    );

    let elsewhere: Network = "10.0.0.0/8".parse().unwrap();
    let refused = server(Policy::new(None, vec![elsewhere]), false);
    let c = refused.client(None);
    assert!(
        !refused.round_trip(&c, "PLAIN", QUIET),
        "127.0.0.1 admitted under 10.0.0.0/8"
    );
    let r = &refused.wait_refusals(1)[0];
    assert_eq!(
        (r.mechanism.as_str(), r.address.as_str()),
        ("NULL", "127.0.0.1")
    );
}

#[test]
fn a_plain_peer_cannot_reach_a_curve_socket_even_from_an_allowed_network() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(
        Policy::new(Some(dir.path().into()), vec!["127.0.0.1".parse().unwrap()]),
        true,
    );
    let c = s.client(None);
    assert!(
        !s.round_trip(&c, "PLAIN", QUIET),
        "a NULL peer talked to a CURVE socket"
    );
}

#[test]
fn garbage_before_the_handshake_leaves_admitted_peers_alone() {
    let dir = tempfile::tempdir().unwrap();
    let listed = KeyPair::generate().unwrap();
    listed.write(&dir.path().join("slave1")).unwrap();
    let s = server(Policy::new(Some(dir.path().into()), vec![]), true);
    let good = s.client(Some(&listed));
    assert!(s.round_trip(&good, "ONE", WAIT));
    let addr = s.endpoint.strip_prefix("tcp://").unwrap();
    for garbage in [&b"GET / HTTP/1.0\r\n\r\n"[..], &[0xff; 64], &[0; 4096]] {
        let mut tcp = std::net::TcpStream::connect(addr).unwrap();
        let _ = tcp.write_all(garbage);
    }
    assert!(
        s.round_trip(&good, "TWO", WAIT),
        "the admitted peer stopped being served"
    );
    let late = s.client(Some(&listed));
    assert!(
        s.round_trip(&late, "THREE", WAIT),
        "a new admitted peer was refused"
    );
}

#[test]
fn key_files_round_trip_with_safe_modes() {
    let dir = tempfile::tempdir().unwrap();
    let pair = KeyPair::generate().unwrap();
    let (public, secret) = pair.write(&dir.path().join("master")).unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&secret), 0o600);
    assert_eq!(mode(&public), 0o644);
    assert_eq!(KeyPair::read(&secret).unwrap(), pair);
    assert_eq!(PublicKey::read(&public).unwrap(), pair.public);
    assert!(
        KeyPair::read(&public).is_err(),
        "a public file read as a key pair"
    );
    assert!(
        pair.write(&dir.path().join("master")).is_err(),
        "a key pair was overwritten"
    );
    // A bare Z85 key is a public key file too; garbage is an error, not a panic.
    let bare = dir.path().join("bare");
    std::fs::write(&bare, format!("{}\n", pair.public)).unwrap();
    assert_eq!(PublicKey::read(&bare).unwrap(), pair.public);
    std::fs::write(&bare, "public-key = \"not z85 at all\"").unwrap();
    assert!(PublicKey::read(&bare).is_err());
}

#[test]
fn networks_parse_and_match() {
    let n = |s: &str| s.parse::<Network>().unwrap();
    let ip = |s: &str| s.parse().unwrap();
    assert!(n("10.0.0.0/8").contains(ip("10.1.2.3")));
    assert!(!n("10.0.0.0/8").contains(ip("11.0.0.1")));
    assert!(n("127.0.0.1").contains(ip("::ffff:127.0.0.1")));
    assert!(!n("127.0.0.1").contains(ip("127.0.0.2")));
    assert!(n("fd00::/8").contains(ip("fd12::1")));
    assert!(!n("fd00::/8").contains(ip("10.0.0.1")));
    assert!(n("0.0.0.0/0").contains(ip("8.8.8.8")));
    for bad in ["", "10.0.0.0/33", "::/129", "host.example", "1.2.3.4/x"] {
        assert!(bad.parse::<Network>().is_err(), "{bad:?} parsed");
    }
}
