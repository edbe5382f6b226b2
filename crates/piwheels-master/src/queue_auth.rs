//! Securing the slave and file queues (`config.auth`, [`QueueAuth`]).
//!
//! One socket endpoint speaks one mechanism, so the master binds each queue's ROUTER on up
//! to two endpoints:
//!
//! | `--master-secret-key` | `--allow-plain` | main endpoint            | plain endpoint (`--plain-*-queue`) |
//! |---------|-----------------|--------------------------|------------------------------------|
//! | yes     | yes             | CURVE, keys from the allow-list | NULL, by address (required)  |
//! | yes     | no              | CURVE, keys from the allow-list | none (refused if given)      |
//! | no      | yes             | NULL, by address         | NULL, by address (optional)        |
//! | no      | no              | NULL, unchecked: loopback only unless `--insecure` | none     |
//!
//! Every checked endpoint is put to a [`ZapHandler`] on the task's own ZeroMQ context,
//! applying the hub's one [`Policy`]; refusals are logged at most once per address a
//! minute. The ZAP handler runs only at the handshake: SlaveDriver checks each message's
//! key against the policy again ([`revoked_key`]), so deleting a key file stops a slave
//! already connected.
//!
//! Peers that fail before ZAP hears of them (garbage, a replayed handshake, a wrong server
//! key, a NULL client on a CURVE endpoint) are logged by a [`HandshakeWatch`] on each
//! guarded socket ([`watch_handshakes`]), again at most once per address a minute.

use std::net::IpAddr;
use std::sync::Arc;

use piwheels_protocol::auth::{Policy, PublicKey, ZapHandler};
use piwheels_protocol::transport::{
    HandshakeWatch, Origin, Security, SocketOptions, TransportError, zmq,
};

use crate::config::QueueAuth;

/// Why the queues' security cannot be set up as configured.
#[derive(Debug, thiserror::Error)]
pub enum QueueAuthError {
    /// A queue would listen beyond loopback with nobody checked.
    #[error(
        "{option} {endpoint:?} listens beyond loopback, but there is no --master-secret-key and no \
         --allow-plain: anyone who reaches it could build and upload wheels. Give the \
         master --master-secret-key and --allow-list (and --allow-plain FROM for original slaves), bind \
         to loopback, or pass --insecure"
    )]
    Open {
        /// The option that names the endpoint.
        option: &'static str,
        /// The endpoint.
        endpoint: String,
    },
    /// `--allow-plain` with `--master-secret-key` but no endpoint for NULL peers.
    #[error(
        "--allow-plain with --master-secret-key needs --plain-slave-queue and --plain-file-queue: with \
         --master-secret-key the slave and file queues speak CURVE, and original (NULL) slaves need \
         endpoints of their own"
    )]
    NoPlainEndpoints,
    /// A plain endpoint with no `--allow-plain`, which would refuse every peer.
    #[error("{option} needs --allow-plain FROM (without it, every peer there is refused)")]
    PlainWithoutNetworks {
        /// The option that names the endpoint.
        option: &'static str,
    },
    /// A CURVE key with no allow-list, or an allow-list with no key.
    #[error("{0}")]
    Incomplete(&'static str),
    /// The ZAP handler could not start.
    #[error("cannot start the ZAP handler: {0}")]
    Zap(zmq::Error),
    /// A bind failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

impl From<QueueAuthError> for crate::Error {
    fn from(e: QueueAuthError) -> Self {
        match e {
            QueueAuthError::Transport(e) => crate::Error::Transport(e),
            other => crate::Error::Other(other.to_string()),
        }
    }
}

/// One queue's endpoints and how each is secured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuePlan {
    /// The main endpoint (`--slave-queue`, `--file-queue`) and its security.
    pub main: (String, Security),
    /// The endpoint for original (NULL) peers, when CURVE is on and `--allow-plain` given.
    pub plain: Option<(String, Security)>,
}

impl QueuePlan {
    /// Whether any endpoint needs the ZAP handler.
    pub fn needs_zap(&self) -> bool {
        std::iter::once(&self.main)
            .chain(&self.plain)
            .any(|(_, s)| *s != Security::Null)
    }
}

/// How one queue is bound: `option`/`endpoint` is its main endpoint, `plain_option`/`plain`
/// its plain one (if configured). Checks the combination (see the module docs); warns when
/// `--insecure` lets a queue listen beyond loopback unchecked.
pub fn plan(
    auth: &QueueAuth,
    (option, endpoint): (&'static str, &str),
    (plain_option, plain): (&'static str, Option<&str>),
) -> Result<QueuePlan, QueueAuthError> {
    let has_plain = !auth.allow_plain.is_empty();
    if auth.key.is_some() && auth.allow_list.is_none() {
        return Err(QueueAuthError::Incomplete(
            "--master-secret-key needs --allow-list DIR (the folder of the slaves' public keys)",
        ));
    }
    if auth.key.is_none() && auth.allow_list.is_some() {
        return Err(QueueAuthError::Incomplete(
            "--allow-list needs --master-secret-key (the master's own NAME.key_secret)",
        ));
    }
    if plain.is_some() && !has_plain {
        return Err(QueueAuthError::PlainWithoutNetworks {
            option: plain_option,
        });
    }
    let main = match &auth.key {
        Some(key) => Security::CurveServer(key.secret),
        None if has_plain => Security::NullChecked,
        None => {
            if !is_loopback(endpoint) {
                if !auth.insecure {
                    return Err(QueueAuthError::Open {
                        option,
                        endpoint: endpoint.to_owned(),
                    });
                }
                tracing::warn!(
                    option,
                    endpoint,
                    "--insecure: this queue listens beyond loopback and admits anyone; give the master --master-secret-key and --allow-list"
                );
            }
            Security::Null
        }
    };
    let plain = match (auth.key.is_some() && has_plain, plain) {
        (true, None) => return Err(QueueAuthError::NoPlainEndpoints),
        (_, Some(p)) => Some((p.to_owned(), Security::NullChecked)),
        (false, None) => None,
    };
    Ok(QueuePlan {
        main: (endpoint.to_owned(), main),
        plain,
    })
}

/// Whether `endpoint` can only be reached from this host: `tcp://` on a loopback address
/// or `localhost`, `ipc://`, `inproc://`.
pub fn is_loopback(endpoint: &str) -> bool {
    if endpoint.starts_with("ipc://") || endpoint.starts_with("inproc://") {
        return true;
    }
    let Some(rest) = endpoint.strip_prefix("tcp://") else {
        return false;
    };
    // A source address (`tcp://src;dst`) does not change where it listens.
    let rest = rest.rsplit(';').next().unwrap_or(rest);
    let host = match rest.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => rest.rsplit_once(':').map_or(rest, |(h, _)| h),
    };
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The ZAP handler for a task's context, if `plan` needs one: refusals are logged as
/// warnings naming `queue` (at most once per address a minute).
pub fn start_zap(
    ctx: &zmq::Context,
    policy: &Arc<Policy>,
    plan: &QueuePlan,
    queue: &'static str,
) -> Result<Option<ZapHandler>, QueueAuthError> {
    if !plan.needs_zap() {
        return Ok(None);
    }
    // The handler's thread logs to the subscriber of the task that starts it.
    let dispatch = tracing::dispatcher::get_default(Clone::clone);
    ZapHandler::start(ctx, Arc::clone(policy), move |refusal| {
        tracing::dispatcher::with_default(&dispatch, || {
            tracing::warn!(queue, "{refusal}");
        });
    })
    .map(Some)
    .map_err(QueueAuthError::Zap)
}

/// A watch on `socket` (made in `ctx`) that logs as warnings naming `queue` the peers
/// whose connection fails before authentication, at most once per address a minute; none
/// when the socket is not guarded (`zap` is the handler of `ctx`, from [`start_zap`]).
///
/// # Errors
///
/// The socket's monitor could not be started.
pub fn watch_handshakes(
    ctx: &zmq::Context,
    socket: &zmq::Socket,
    zap: Option<&ZapHandler>,
    queue: &'static str,
) -> Result<Option<HandshakeWatch>, TransportError> {
    let Some(zap) = zap else {
        return Ok(None);
    };
    // The watch's thread logs to the subscriber of the task that starts it.
    let dispatch = tracing::dispatcher::get_default(Clone::clone);
    HandshakeWatch::start(ctx, socket, zap.decisions(), move |report| {
        tracing::dispatcher::with_default(&dispatch, || {
            tracing::warn!(queue, "{report}");
        });
    })
    .map(Some)
}

/// Binds `socket` (already bound to the plan's main endpoint) to the plain endpoint too,
/// with `options` but NULL checked by ZAP; the plain endpoint as bound.
pub fn bind_plain(
    socket: &zmq::Socket,
    options: SocketOptions,
    plan: &QueuePlan,
) -> Result<Option<String>, QueueAuthError> {
    let Some((endpoint, security)) = &plan.plain else {
        return Ok(None);
    };
    if endpoint.contains('\0') {
        return Err(TransportError::Zmq(zmq::Error::EINVAL).into());
    }
    options
        .security(*security)
        .apply(socket)
        .map_err(TransportError::from)?;
    socket.bind(endpoint).map_err(TransportError::from)?;
    let bound = match socket.get_last_endpoint().map_err(TransportError::from)? {
        Ok(e) => e,
        Err(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
    };
    Ok(Some(bound))
}

/// The CURVE key a message came with, if ZAP named one that the policy no longer admits
/// (its file was deleted from the allow-list): the key, in Z85.
pub fn revoked_key<'a>(policy: &Policy, origin: &'a Origin) -> Option<&'a str> {
    let user = origin.user_id.as_deref()?;
    if user.starts_with("plain:") {
        return None;
    }
    match PublicKey::from_z85(user) {
        Ok(key) if policy.admits_key(&key) => None,
        _ => Some(user),
    }
}

/// Whether a file transfer from `got` comes from where its build was declared,
/// `expected`: the same CURVE key (or ZAP user) if ZAP named one, else the same address;
/// anything when the declaring connection told neither (`ipc://`, `inproc://`).
pub fn same_origin(expected: &Origin, got: &Origin) -> bool {
    match (&expected.user_id, expected.address) {
        (Some(user), _) => got.user_id.as_ref() == Some(user),
        (None, Some(addr)) => got.address.map(|a| a.to_canonical()) == Some(addr.to_canonical()),
        (None, None) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_endpoints() {
        for e in [
            "tcp://127.0.0.1:5555",
            "tcp://127.1.2.3:*",
            "tcp://[::1]:5555",
            "tcp://localhost:5555",
            "ipc:///tmp/x",
            "inproc://x",
        ] {
            assert!(is_loopback(e), "{e}");
        }
        for e in [
            "tcp://*:5555",
            "tcp://0.0.0.0:5555",
            "tcp://[::]:5555",
            "tcp://192.0.2.1:5555",
            "tcp://eth0:5555",
            "tcp://127.0.0.1;192.0.2.1:5555",
        ] {
            assert!(!is_loopback(e), "{e}");
        }
    }

    #[test]
    fn origins_match_by_key_else_address() {
        let key = |k: &str, a: &str| Origin {
            address: Some(a.parse().unwrap()),
            user_id: Some(k.into()),
        };
        let addr = |a: &str| Origin {
            address: Some(a.parse().unwrap()),
            user_id: None,
        };
        assert!(same_origin(&key("A", "192.0.2.1"), &key("A", "192.0.2.9")));
        assert!(!same_origin(&key("A", "192.0.2.1"), &key("B", "192.0.2.1")));
        assert!(!same_origin(&key("A", "192.0.2.1"), &addr("192.0.2.1")));
        assert!(same_origin(&addr("192.0.2.1"), &addr("::ffff:192.0.2.1")));
        assert!(!same_origin(&addr("192.0.2.1"), &addr("192.0.2.2")));
        assert!(same_origin(&Origin::default(), &addr("192.0.2.2")));
    }
}
