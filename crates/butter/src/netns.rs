//! A private network namespace held by a descriptor, and sockets made inside it from a
//! process that stays in its own.
//!
//! [`NetNamespace::new`] makes a network namespace with only a loopback interface (up),
//! on a helper thread (a thread's network namespace is its own: the caller's never
//! changes). [`NetNamespace::tcp_listener`] binds a TCP listener *inside* it, again from a
//! helper thread; a socket stays in the namespace it was made in, so the caller serves,
//! from its own network, connections made inside. A sandbox joins the namespace with
//! [`Sandbox::join_network`](crate::sandbox::Sandbox::join_network).
//!
//! ```no_run
//! use butter::netns::NetNamespace;
//!
//! let ns = NetNamespace::new()?;
//! let listener = ns.tcp_listener("127.0.0.1:0".parse().unwrap())?;
//! // `listener` accepts connections to 127.0.0.1 made inside `ns` only.
//! # Ok::<(), butter::Error>(())
//! ```
//!
//! Needs `CAP_SYS_ADMIN` (root).

use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use crate::error::{Error, Result};
use crate::namespace::{Namespaces, setns, unshare};

/// A network namespace, kept alive by its descriptor (see the module docs).
#[derive(Debug)]
pub struct NetNamespace {
    fd: OwnedFd,
}

impl NetNamespace {
    /// A new network namespace with its loopback interface up and nothing else.
    ///
    /// # Errors
    ///
    /// The namespace cannot be made (not root), or loopback cannot be brought up.
    pub fn new() -> Result<NetNamespace> {
        on_thread(|| {
            unshare(Namespaces::NET)?;
            loopback_up()?;
            let f = std::fs::File::open("/proc/thread-self/ns/net")
                .map_err(|e| Error::from_io("open", &e).with_path("/proc/thread-self/ns/net"))?;
            Ok(NetNamespace {
                fd: OwnedFd::from(f),
            })
        })
    }

    /// A TCP listener bound to `addr` inside the namespace (the backlog is 128), made
    /// close-on-exec. Accepting on it needs no namespace change.
    ///
    /// # Errors
    ///
    /// The namespace cannot be joined, or the address cannot be bound.
    pub fn tcp_listener(&self, addr: SocketAddr) -> Result<TcpListener> {
        let fd = self.fd.try_clone().map_err(|e| Error::from_io("dup", &e))?;
        on_thread(move || {
            setns(&fd, Namespaces::NET)?;
            TcpListener::bind(addr).map_err(|e| Error::from_io("bind", &e))
        })
    }
}

impl AsFd for NetNamespace {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Runs `f` on a thread of its own (whose namespaces it may change) and returns its
/// result; the thread ends with `f`.
fn on_thread<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    std::thread::Builder::new()
        .name("butter-netns".into())
        .spawn(f)
        .map_err(|e| Error::from_io("spawn a thread", &e))?
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// Sets IFF_UP on `lo` of the caller's network namespace (a new one's loopback starts
/// down).
pub(crate) fn loopback_up() -> Result<()> {
    let sock = rustix::net::socket(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::DGRAM,
        None,
    )
    .map_err(|e| Error::from_rustix("socket", e))?;
    // SAFETY: an all-zero ifreq is valid; the name is NUL-terminated.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (i, b) in b"lo\0".iter().enumerate() {
        req.ifr_name[i] = *b as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS and SIOCSIFFLAGS read and write `req`, a valid ifreq.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
            return Err(Error::last("ioctl(SIOCGIFFLAGS)"));
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) < 0 {
            return Err(Error::last("ioctl(SIOCSIFFLAGS)"));
        }
    }
    Ok(())
}
