//! Guarding the admin queues: the import queue ([`MrChase`](crate::mr_chase)), the status
//! and control queues ([`master`](crate::master)), and the log queue's socket file
//! ([`lumberjack`](crate::lumberjack)).
//!
//! What each bind gets ([`AdminGuard::options`]):
//!
//! * `ipc://` and `inproc://`: the NULL mechanism, unchecked. An `ipc://` socket file is
//!   guarded by the filesystem: [`secure_ipc`] makes it mode 0660 and gives it the
//!   [`IPC_GROUP`] group (when that group exists), so the admin tools and monitors run by
//!   that group, and nobody else, can connect.
//! * A network endpoint (`tcp://` and the rest), with the master's key
//!   (`config.auth.key`): CURVE, every connection put to a ZAP handler on the task's
//!   context that admits the public keys of the allow-list folder. One [`Policy`] (the
//!   hub's) serves every context, so a key deleted from the folder is refused everywhere
//!   from the next connection on.
//! * A network endpoint without a key: on loopback, NULL as before; elsewhere, NULL checked
//!   by the ZAP handler against `--allow-plain` when networks are listed, NULL for anyone
//!   (with a warning) when told `--insecure`, and otherwise refused at start:
//!   [`AdminAuthError::Exposed`].
//!
//! Each guarded socket also gets a [`HandshakeWatch`] ([`AdminGuard::watch`]), which logs
//! the peers whose connection fails before authentication (garbage, a wrong server key, a
//! NULL client on a CURVE endpoint), at most once per address a minute.

use std::collections::HashSet;
use std::io;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use piwheels_protocol::auth::{Policy, ZapHandler};
use piwheels_protocol::transport::{
    HandshakeWatch, Security, SocketOptions, TransportError, ipc_path, set_ipc_mode, zmq,
};

use crate::config::QueueAuth;

/// The group an `ipc://` admin socket file is given, when it exists.
pub const IPC_GROUP: &str = "piwheels";

/// The mode of an `ipc://` admin socket file: the owner and the group may connect.
pub const IPC_MODE: u32 = 0o660;

/// Why an admin queue cannot be bound as configured.
#[derive(Debug, thiserror::Error)]
pub enum AdminAuthError {
    /// A network endpoint beyond loopback with no key, no `--allow-plain` and no
    /// `--insecure`: anyone who can reach it could steer the master.
    #[error(
        "refusing to listen on {endpoint} (the {what} queue) without authentication: \
         give the master a key (--master-secret-key, with --allow-list), list the admitted networks \
         (--allow-plain), bind it to loopback or an ipc:// path, or say --insecure"
    )]
    Exposed {
        /// Which queue ("import", "status", "control").
        what: &'static str,
        /// Its endpoint.
        endpoint: String,
    },
    /// The ZAP handler of the queue's context could not be started.
    #[error("cannot start the ZAP handler for the {what} queue: {source}")]
    Zap {
        /// Which queue.
        what: &'static str,
        /// What ZeroMQ said.
        #[source]
        source: zmq::Error,
    },
    /// The watch on a guarded socket's handshakes could not be started.
    #[error("cannot watch the handshakes of the {what} queue: {source}")]
    Watch {
        /// Which queue.
        what: &'static str,
        /// What went wrong.
        #[source]
        source: TransportError,
    },
}

impl From<AdminAuthError> for crate::error::Error {
    fn from(e: AdminAuthError) -> Self {
        crate::error::Error::Other(e.to_string())
    }
}

/// The one policy of a master's guarded queues: the allow-list folder and the
/// `--allow-plain` networks of `auth`. Build it once and share it (the hub holds it).
pub fn policy(auth: &QueueAuth) -> Arc<Policy> {
    Arc::new(Policy::new(
        auth.allow_list.clone(),
        auth.allow_plain.clone(),
    ))
}

/// Whether `endpoint` stays on this machine without the network: `ipc://` and
/// `inproc://`.
fn is_local(endpoint: &str) -> bool {
    endpoint.starts_with("ipc://") || endpoint.starts_with("inproc://")
}

/// Whether a network endpoint binds loopback only: `tcp://127.0.0.1:N`, `tcp://[::1]:N`,
/// `tcp://localhost:N`, `tcp://lo:N`. A wildcard, another address, an interface name or a
/// host name is not.
pub fn is_loopback(endpoint: &str) -> bool {
    let Some((_, rest)) = endpoint.split_once("://") else {
        return false;
    };
    let Some((host, _port)) = rest.rsplit_once(':') else {
        return false;
    };
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    match host.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host == "localhost" || host == "lo",
    }
}

/// How a bind of `endpoint` is secured under `auth`, and whether it needs the context's
/// ZAP handler.
///
/// # Errors
///
/// [`AdminAuthError::Exposed`] for a network endpoint beyond loopback with no key, no
/// `--allow-plain` networks and no `--insecure`.
pub fn security(
    what: &'static str,
    endpoint: &str,
    auth: &QueueAuth,
) -> Result<Security, AdminAuthError> {
    if is_local(endpoint) {
        return Ok(Security::Null);
    }
    if let Some(key) = &auth.key {
        if auth.allow_list.is_none() {
            tracing::warn!(
                what,
                endpoint,
                "the {what} queue speaks CURVE but no allow-list is given: no tool is admitted"
            );
        }
        return Ok(Security::CurveServer(key.secret));
    }
    if is_loopback(endpoint) {
        return Ok(Security::Null);
    }
    if !auth.allow_plain.is_empty() {
        return Ok(Security::NullChecked);
    }
    if auth.insecure {
        tracing::warn!(
            what,
            endpoint,
            "--insecure: the {what} queue is open to anyone who can reach {endpoint}"
        );
        return Ok(Security::Null);
    }
    Err(AdminAuthError::Exposed {
        what,
        endpoint: endpoint.to_owned(),
    })
}

/// The guard of one task's ZeroMQ context: it starts the context's ZAP handler when the
/// first guarded socket is bound, and keeps it running for as long as it lives (keep it
/// with the sockets).
pub struct AdminGuard {
    ctx: zmq::Context,
    policy: Arc<Policy>,
    zap: Option<ZapHandler>,
    /// The endpoints given to [`AdminGuard::options`] that are checked by ZAP.
    guarded: HashSet<String>,
    watches: Vec<HandshakeWatch>,
}

impl std::fmt::Debug for AdminGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminGuard")
            .field("zap", &self.zap.is_some())
            .finish_non_exhaustive()
    }
}

impl AdminGuard {
    /// A guard for the sockets of `ctx`, applying `policy`.
    pub fn new(ctx: &zmq::Context, policy: Arc<Policy>) -> Self {
        AdminGuard {
            ctx: ctx.clone(),
            policy,
            zap: None,
            guarded: HashSet::new(),
            watches: Vec::new(),
        }
    }

    /// `base` with the security a bind of `endpoint` gets (see [`security`]); starts the
    /// context's ZAP handler if that security needs it.
    ///
    /// # Errors
    ///
    /// As [`security`], and [`AdminAuthError::Zap`].
    pub fn options(
        &mut self,
        what: &'static str,
        endpoint: &str,
        auth: &QueueAuth,
        base: SocketOptions,
    ) -> Result<SocketOptions, AdminAuthError> {
        let security = security(what, endpoint, auth)?;
        if matches!(security, Security::CurveServer(_) | Security::NullChecked)
            && self.zap.is_none()
        {
            let zap = ZapHandler::start(&self.ctx, Arc::clone(&self.policy), move |refusal| {
                tracing::warn!(queue = what, %refusal, "connection refused");
            })
            .map_err(|source| AdminAuthError::Zap { what, source })?;
            self.zap = Some(zap);
        }
        if matches!(security, Security::CurveServer(_) | Security::NullChecked) {
            self.guarded.insert(endpoint.to_owned());
        }
        Ok(base.security(security))
    }

    /// Watches `socket`, bound to `endpoint` with [`AdminGuard::options`], for peers whose
    /// connection fails before authentication, logged as warnings naming `what`; nothing
    /// if `endpoint` is not checked by ZAP (a close there says nothing of a handshake).
    /// The watch lives as long as the guard (keep the guard with the socket).
    ///
    /// # Errors
    ///
    /// [`AdminAuthError::Watch`]: the socket's monitor could not be started.
    pub fn watch(
        &mut self,
        what: &'static str,
        endpoint: &str,
        socket: &zmq::Socket,
    ) -> Result<(), AdminAuthError> {
        let Some(zap) = &self.zap else {
            return Ok(());
        };
        if !self.guarded.contains(endpoint) {
            return Ok(());
        }
        // The watch's thread logs to the subscriber of the task that starts it.
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        let watch = HandshakeWatch::start(&self.ctx, socket, zap.decisions(), move |report| {
            tracing::dispatcher::with_default(&dispatch, || {
                tracing::warn!(queue = what, "{report}");
            });
        })
        .map_err(|source| AdminAuthError::Watch { what, source })?;
        self.watches.push(watch);
        Ok(())
    }

    /// Whether a ZAP handler runs on the context.
    pub fn guarding(&self) -> bool {
        self.zap.is_some()
    }
}

/// The group id of `name` in `/etc/group`; `None` if there is no such group.
fn group_id(name: &str) -> io::Result<Option<u32>> {
    let text = match std::fs::read_to_string("/etc/group") {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(text.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next()? == name)
            .then(|| fields.nth(1)?.parse().ok())
            .flatten()
    }))
}

/// Makes a bound `ipc://` endpoint's socket file mode [`IPC_MODE`] and gives it `group`
/// (normally [`IPC_GROUP`]) when that group exists. Does nothing for an endpoint without
/// a file. Returns the group id given, if any.
///
/// # Errors
///
/// Changing the mode or the group failed (the master logs it and goes on: the file then
/// keeps its owner's group).
pub fn secure_ipc(endpoint: &str, group: &str) -> io::Result<Option<u32>> {
    let Some(path) = ipc_path(endpoint) else {
        return Ok(None);
    };
    set_ipc_mode(endpoint, IPC_MODE)?;
    let Some(gid) = group_id(group)? else {
        return Ok(None);
    };
    chown_group(path, gid)?;
    Ok(Some(gid))
}

fn chown_group(path: &Path, gid: u32) -> io::Result<()> {
    rustix::fs::chown(path, None, Some(rustix::fs::Gid::from_raw(gid))).map_err(io::Error::from)
}

/// [`secure_ipc`] for a bound socket, logging a failure as a warning.
pub fn secure_ipc_logged(what: &'static str, endpoint: &str, group: &str) {
    if let Err(e) = secure_ipc(endpoint, group) {
        tracing::warn!(queue = what, endpoint, group, error = %e,
            "cannot make the socket file mode 0660 with the group");
    }
}
