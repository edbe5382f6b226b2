//! The admin queues' guard (`admin_auth`) on real sockets: MrChase's import queue over TCP
//! with CURVE admits the allow-listed key and nobody else; a network endpoint beyond
//! loopback without keys is refused at start unless `--allow-plain` or `--insecure`; the
//! `ipc://` socket files get mode 0660 and the configured group.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use piwheels_master::admin_auth::{self, IPC_MODE};
use piwheels_master::hub::{Hub, Inboxes, supervise};
use piwheels_master::master::Master;
use piwheels_master::mr_chase::MrChase;
use piwheels_master::{MasterConfig, config::QueueAuth};
use piwheels_protocol::auth::KeyPair;
use piwheels_protocol::import::{AddPackage, ImportProtocol, ImportReply, ImportRequest};
use piwheels_protocol::transport::asynchronous::Req;
use piwheels_protocol::transport::{Security, SocketOptions, zmq};

use crate::core_support::{skip, sqlite_master};

const WAIT: Duration = Duration::from_secs(10);
/// How long a refused tool is watched for an answer that must not come.
const QUIET: Duration = Duration::from_millis(500);

/// A master's key pair and an allow-list folder holding `admitted`'s public key.
struct Keys {
    master: KeyPair,
    admitted: KeyPair,
    other: KeyPair,
    dir: tempfile::TempDir,
}

fn keys() -> Keys {
    let dir = tempfile::tempdir().unwrap();
    let admitted = KeyPair::generate().unwrap();
    admitted.write(&dir.path().join("admin")).unwrap();
    Keys {
        master: KeyPair::generate().unwrap(),
        admitted,
        other: KeyPair::generate().unwrap(),
        dir,
    }
}

fn add(name: &str) -> ImportRequest {
    ImportRequest::AddPackage(AddPackage {
        package: name.into(),
        description: String::new(),
        skip: String::new(),
        unskip: false,
        aliases: Vec::new(),
    })
}

/// Asks `request` on `endpoint` with `security`; `None` if no answer came within `within`.
async fn ask(
    endpoint: &str,
    security: Security,
    request: ImportRequest,
    within: Duration,
) -> Option<ImportReply> {
    let ctx = zmq::Context::new();
    let options = SocketOptions::new()
        .linger(Some(Duration::ZERO))
        .security(security);
    let mut req = Req::<ImportProtocol>::connect(&ctx, endpoint, &options).unwrap();
    tokio::time::timeout(within, req.request(&request))
        .await
        .ok()
        .map(Result::unwrap)
}

async fn chase(dir: &Path, endpoint: &str, auth: QueueAuth) -> (Hub, String) {
    let (_dsn, _db, mut config) = sqlite_master(dir).await;
    config.import_queue = endpoint.into();
    config.auth = auth;
    let (hub, _inboxes) = Hub::new(_db, config);
    let chase = MrChase::bind(hub.clone()).unwrap();
    let endpoint = chase.endpoint().unwrap();
    supervise(chase, hub.quit.clone());
    (hub, endpoint)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_over_curve_admits_the_listed_key_only() {
    let dir = tempfile::tempdir().unwrap();
    let k = keys();
    let auth = QueueAuth {
        key: Some(k.master),
        allow_list: Some(k.dir.path().into()),
        ..QueueAuth::default()
    };
    let (hub, endpoint) = chase(dir.path(), "tcp://127.0.0.1:*", auth).await;
    let admitted = Security::CurveClient {
        server: k.master.public,
        own: k.admitted,
    };
    let reply = ask(&endpoint, admitted, add("foo"), WAIT).await;
    assert!(
        matches!(reply, Some(ImportReply::Done(_))),
        "the admitted key's request was answered {reply:?}"
    );
    // A key not in the folder, a client with the wrong server key, and a NULL client:
    // none reaches MrChase.
    let stranger = Security::CurveClient {
        server: k.master.public,
        own: k.other,
    };
    let wrong_server = Security::CurveClient {
        server: k.other.public,
        own: k.admitted,
    };
    for (who, security) in [
        ("an unlisted key", stranger),
        ("a client of another server key", wrong_server),
        ("a NULL client", Security::Null),
    ] {
        let reply = ask(&endpoint, security, add("bar"), QUIET).await;
        assert!(reply.is_none(), "{who} was answered {reply:?}");
    }
    assert!(hub.db.package_exists("foo").await.unwrap());
    assert!(!hub.db.package_exists("bar").await.unwrap());
    hub.quit.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exposed_import_queue_without_auth_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let (_dsn, db, mut config) = sqlite_master(dir.path()).await;
    config.import_queue = "tcp://0.0.0.0:*".into();
    let (hub, _inboxes) = Hub::new(db, config.clone());
    let error = MrChase::bind(hub).unwrap_err().to_string();
    assert!(
        error.contains("refusing to listen on tcp://0.0.0.0:*") && error.contains("--insecure"),
        "{error}"
    );

    // --allow-plain: NULL tools from the listed network only, by the ZAP handler.
    let mut plain = config.clone();
    plain.auth.allow_plain = vec!["127.0.0.1".parse().unwrap()];
    let (hub, _inboxes, port) = running_chase(plain).await;
    let local = format!("tcp://127.0.0.1:{port}");
    let reply = ask(&local, Security::Null, add("foo"), WAIT).await;
    assert!(matches!(reply, Some(ImportReply::Done(_))), "{reply:?}");
    hub.quit.cancel();

    let mut elsewhere = config.clone();
    elsewhere.auth.allow_plain = vec!["192.0.2.0/24".parse().unwrap()];
    let (hub, _inboxes, port) = running_chase(elsewhere).await;
    let reply = ask(
        &format!("tcp://127.0.0.1:{port}"),
        Security::Null,
        add("bar"),
        QUIET,
    )
    .await;
    assert!(
        reply.is_none(),
        "a peer outside --allow-plain was answered {reply:?}"
    );
    hub.quit.cancel();

    // --insecure: anyone (with a warning).
    let mut insecure = config;
    insecure.auth.insecure = true;
    let (hub, _inboxes) = Hub::new(hub_db(&insecure).await, insecure);
    assert!(MrChase::bind(hub).is_ok());
}

async fn hub_db(config: &MasterConfig) -> piwheels_db::Database {
    piwheels_db::Database::open(&config.dsn).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exposed_status_queue_without_auth_stops_the_master_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let (_dsn, _db, mut config) = sqlite_master(dir.path()).await;
    let ipc = |name: &str| format!("ipc://{}", dir.path().join(name).display());
    config.status_queue = "tcp://0.0.0.0:*".into();
    config.control_queue = ipc("control");
    config.import_queue = ipc("import");
    config.log_queue = ipc("log");
    config.slave_queue = "tcp://127.0.0.1:*".into();
    config.file_queue = "tcp://127.0.0.1:*".into();
    config.web_listen = None;
    config.follow = Some(Vec::new());
    let error = Master::start(config).await.unwrap_err().to_string();
    assert!(
        error.contains("refusing to listen on tcp://0.0.0.0:* (the status queue)"),
        "{error}"
    );
}

#[test]
fn loopback_endpoints() {
    for loopback in [
        "tcp://127.0.0.1:5555",
        "tcp://127.9.0.1:*",
        "tcp://[::1]:5555",
        "tcp://localhost:5555",
        "tcp://lo:5555",
    ] {
        assert!(admin_auth::is_loopback(loopback), "{loopback}");
    }
    for exposed in [
        "tcp://*:5555",
        "tcp://0.0.0.0:5555",
        "tcp://[::]:5555",
        "tcp://eth0:5555",
        "tcp://192.0.2.1:5555",
        "tcp://example:5555",
        "tcp://127.0.0.1",
    ] {
        assert!(!admin_auth::is_loopback(exposed), "{exposed}");
    }
}

/// A group of `/etc/group` other than the process's own, so that giving it to a file is
/// seen: (name, gid).
fn another_group() -> Option<(String, u32)> {
    let own = rustix::process::getegid().as_raw();
    std::fs::read_to_string("/etc/group")
        .ok()?
        .lines()
        .filter_map(|line| {
            let mut f = line.split(':');
            let name = f.next()?.to_owned();
            let gid = f.nth(1)?.parse().ok()?;
            Some((name, gid))
        })
        .find(|(_, gid)| *gid != own)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipc_sockets_get_mode_0660_and_the_group() {
    const TEST: &str = "admin_queue_auth::ipc_sockets_get_mode_0660_and_the_group";
    if !test_support::root_or_skip(TEST, "giving a file another group needs root") {
        return;
    }
    let Some((group, gid)) = another_group() else {
        skip(TEST, "/etc/group lists no group but the process's own");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("import");
    let (_dsn, db, mut config) = sqlite_master(dir.path()).await;
    config.import_queue = format!("ipc://{}", path.display());
    config.ipc_group = group.clone();
    let (hub, _inboxes) = Hub::new(db, config.clone());
    let _chase = MrChase::bind(hub).unwrap();
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(
        meta.permissions().mode() & 0o7777,
        IPC_MODE,
        "mode of {path:?}"
    );
    assert_eq!(meta.gid(), gid, "group of {path:?} (wanted {group})");
    drop(_chase);

    // A group that does not exist: the mode still, the owner's group kept.
    let path = dir.path().join("import2");
    config.import_queue = format!("ipc://{}", path.display());
    config.ipc_group = "no-such-group-piwheels-test".into();
    let (hub, _inboxes) = Hub::new(hub_db(&config).await, config);
    let _chase = MrChase::bind(hub).unwrap();
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(
        meta.permissions().mode() & 0o7777,
        IPC_MODE,
        "mode of {path:?}"
    );
    assert_eq!(meta.gid(), rustix::process::getegid().as_raw());
}

/// A hub on `config` (its own database) with MrChase bound and running; the other tasks'
/// inboxes (keep them while it runs) and its port.
async fn running_chase(config: MasterConfig) -> (Hub, Inboxes, String) {
    let (hub, inboxes) = Hub::new(hub_db(&config).await, config);
    let chase = MrChase::bind(hub.clone()).unwrap();
    let port = chase
        .endpoint()
        .unwrap()
        .rsplit_once(':')
        .unwrap()
        .1
        .to_owned();
    supervise(chase, hub.quit.clone());
    (hub, inboxes, port)
}

/// The log lines about failures before authentication from `peer`.
fn pre_auth_lines(capture: &crate::log_capture::LogCapture, peer: &str) -> Vec<String> {
    let from = format!("from {peer} on ");
    capture
        .stats()
        .kept
        .into_iter()
        .filter(|l| l.contains(&from) && l.contains("handshake"))
        .collect()
}

#[tokio::test]
async fn the_import_queue_logs_a_wrong_server_key_once_and_serves_the_admitted_tool() {
    let capture = crate::log_capture::LogCapture::new();
    let _guard = tracing::subscriber::set_default(capture.subscriber());
    let dir = tempfile::tempdir().unwrap();
    let k = keys();
    let auth = QueueAuth {
        key: Some(k.master),
        allow_list: Some(k.dir.path().into()),
        ..QueueAuth::default()
    };
    let (hub, endpoint) = chase(dir.path(), "tcp://127.0.0.1:*", auth).await;
    let admitted = Security::CurveClient {
        server: k.master.public,
        own: k.admitted,
    };
    let reply = ask(&endpoint, admitted, add("foo"), WAIT).await;
    assert!(matches!(reply, Some(ImportReply::Done(_))), "{reply:?}");
    // A tool with the wrong idea of the master's key, from 127.0.0.3, twice (each retries
    // its handshake while it waits).
    let wrong_server = Security::CurveClient {
        server: k.other.public,
        own: k.admitted,
    };
    let from = format!(
        "tcp://127.0.0.3:0;{}",
        endpoint.trim_start_matches("tcp://")
    );
    for _ in 0..2 {
        assert!(ask(&from, wrong_server, add("bar"), QUIET).await.is_none());
    }
    let reply = ask(&endpoint, admitted, add("baz"), WAIT).await;
    assert!(matches!(reply, Some(ImportReply::Done(_))), "{reply:?}");
    let deadline = tokio::time::Instant::now() + WAIT;
    while pre_auth_lines(&capture, "127.0.0.3").is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the wrong server key was never logged: {:#?}",
            capture.stats().kept
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let lines = pre_auth_lines(&capture, "127.0.0.3");
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].contains("cryptographic"), "{}", lines[0]);
    assert!(lines[0].contains("queue=\"import\""), "{}", lines[0]);
    // The admitted tool's connections, closed after their handshake, are not.
    assert!(
        pre_auth_lines(&capture, "127.0.0.1").is_empty(),
        "{:#?}",
        capture.stats().kept
    );
    hub.quit.cancel();
}
