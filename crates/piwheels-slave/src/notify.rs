//! systemd's notification protocol (`sd_notify`): `READY=1` once the slave runs,
//! `WATCHDOG=1` while it lives, `STOPPING=1` as it ends. The shipped unit of the original
//! (`Type=notify`, `WatchdogSec=2min`) expects them. Without `NOTIFY_SOCKET` (not started
//! by systemd) every call does nothing.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Sends one notification (e.g. `"READY=1"`); errors are ignored, as `sd_notify`'s are by
/// most callers: a missing or broken socket must not stop a build slave.
pub fn notify(state: &str) {
    if let Some(socket) = std::env::var_os("NOTIFY_SOCKET") {
        let _ = notify_to(&socket.to_string_lossy(), state);
    }
}

/// Sends one notification to the socket `socket` names (a path, or `@name` for an
/// abstract socket), as [`notify`] does to `$NOTIFY_SOCKET`.
///
/// # Errors
///
/// The address being invalid or the send failing.
pub fn notify_to(socket: &str, state: &str) -> std::io::Result<()> {
    let addr = match socket.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes())?,
        None => SocketAddr::from_pathname(socket)?,
    };
    UnixDatagram::unbound()?.send_to_addr(state.as_bytes(), &addr)?;
    Ok(())
}

static LAST_PING: Mutex<Option<Instant>> = Mutex::new(None);

/// Pings the watchdog, at most once every 10 seconds however often it is called.
pub fn watchdog() {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    let mut last = LAST_PING.lock().unwrap_or_else(|e| e.into_inner());
    if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
        *last = Some(Instant::now());
        notify("WATCHDOG=1");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_reach_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let server = UnixDatagram::bind(&path).unwrap();
        notify_to(path.to_str().unwrap(), "READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
        let name = format!("piw-slave-test-{}", std::process::id());
        let abs =
            UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap())
                .unwrap();
        notify_to(&format!("@{name}"), "WATCHDOG=1").unwrap();
        let n = abs.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"WATCHDOG=1");
        assert!(notify_to(dir.path().join("none").to_str().unwrap(), "X=1").is_err());
    }
}
