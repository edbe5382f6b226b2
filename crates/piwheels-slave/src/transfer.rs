//! The client side of the file transfer (port 5556, piwheels.md §3.2): a new DEALER for each
//! file, `HELLO <slave id>`, a `CHUNK` for every `FETCH`, until the master says `DONE`.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use piwheels_protocol::transfer::{CHUNK, ServerFrame, hello_frames};
use piwheels_protocol::transport::{HWM, RawDealer, Security, SocketOptions, TransportError, zmq};

use crate::StopFlag;

/// The most bytes sent for one `FETCH` (a master asking for more gets this much, and
/// asks again for the rest, as its range bookkeeping does for any short chunk).
pub const MAX_CHUNK: u64 = 16 << 20;

/// How long the client waits for the master before saying `HELLO` again (the original's
/// 5 seconds).
pub const RESEND_AFTER: Duration = Duration::from_secs(5);

/// How long a `HELLO` or `CHUNK` may wait to be queued before it is dropped as lost.
///
/// The send blocks only when the master reads no more: it is overloaded, or has gone
/// (ZeroMQ keeps the queue for a reconnection, so a plain send would wait for ever). A
/// dropped `CHUNK` is asked for again after the next `HELLO`, as a lost one is; meanwhile
/// the loop reads on (a `DONE` may be queued behind the `FETCH`es a master left when it
/// finished), checks the stop flag and `give_up`, and pings the watchdog.
pub const SEND_TIMEOUT: Duration = Duration::from_millis(200);

/// Why an upload did not finish.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The file could not be read.
    #[error("cannot read {0}: {1}")]
    Io(String, std::io::Error),
    /// The socket failed.
    #[error("file transfer socket: {0}")]
    Transport(#[from] TransportError),
    /// The master said nothing for too long.
    #[error("the master said nothing for {0:?} during the transfer")]
    Silent(Duration),
    /// The slave is stopping.
    #[error("stopped")]
    Stopped,
}

/// Uploads `path` to the master at `endpoint` (`tcp://host:5556`) as slave `slave_id`.
/// Returns at `DONE`; gives up if the master is silent for `give_up` or `stop` is set.
/// Bad frames from the master are logged and ignored.
///
/// # Errors
///
/// See [`UploadError`].
pub fn upload(
    ctx: &zmq::Context,
    endpoint: &str,
    slave_id: i64,
    path: &Path,
    give_up: Duration,
    stop: &StopFlag,
) -> Result<(), UploadError> {
    upload_secured(ctx, endpoint, Security::Null, slave_id, path, give_up, stop)
}

/// [`upload`], on a connection secured by `security` (a CURVE client to a master that
/// speaks CURVE).
///
/// # Errors
///
/// See [`UploadError`].
pub fn upload_secured(
    ctx: &zmq::Context,
    endpoint: &str,
    security: Security,
    slave_id: i64,
    path: &Path,
    give_up: Duration,
    stop: &StopFlag,
) -> Result<(), UploadError> {
    let file = File::open(path).map_err(|e| UploadError::Io(path.display().to_string(), e))?;
    let size = file
        .metadata()
        .map_err(|e| UploadError::Io(path.display().to_string(), e))?
        .len();
    let options = SocketOptions::new()
        .hwm(HWM)
        .max_message_size(Some(4096))
        .security(security);
    let mut dealer = RawDealer::connect(ctx, endpoint, &options)?;
    dealer.set_max_frames(4);
    let id = u64::try_from(slave_id).unwrap_or(0);
    send_or_drop(&mut dealer, hello_frames(id), "HELLO")?;
    let mut heard = Instant::now();
    let mut said_hello = Instant::now();
    let mut chunks = 0u64;
    loop {
        crate::notify::watchdog();
        if stop.is_set() {
            return Err(UploadError::Stopped);
        }
        if heard.elapsed() >= give_up {
            return Err(UploadError::Silent(give_up));
        }
        if said_hello.elapsed() >= RESEND_AFTER && heard.elapsed() >= RESEND_AFTER {
            tracing::debug!(
                "file transfer: nothing from the master for {RESEND_AFTER:?}; HELLO again"
            );
            send_or_drop(&mut dealer, hello_frames(id), "HELLO")?;
            said_hello = Instant::now();
        }
        let frames = match dealer.recv_timeout(Duration::from_millis(200)) {
            Ok(f) => f,
            Err(TransportError::Timeout(_)) => continue,
            Err(TransportError::Zmq(zmq::Error::EINTR)) => continue,
            Err(TransportError::Protocol(e)) => {
                tracing::warn!("file transfer: bad message from the master: {e}");
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        heard = Instant::now();
        match ServerFrame::parse(&frames) {
            Ok(ServerFrame::Done) => {
                tracing::debug!("file transfer of {} done ({chunks} chunks)", path.display());
                return Ok(());
            }
            Ok(ServerFrame::Fetch { offset, length }) => {
                let start = offset.min(size);
                let end = offset.saturating_add(length.min(MAX_CHUNK)).min(size);
                let mut data = vec![0u8; usize::try_from(end - start).unwrap_or(0)];
                file.read_exact_at(&mut data, start)
                    .map_err(|e| UploadError::Io(path.display().to_string(), e))?;
                // The offset goes back exactly as it came.
                let offset_frame = zmq::Message::from(&frames[1][..]);
                let chunk = [
                    zmq::Message::from(CHUNK),
                    offset_frame,
                    zmq::Message::from(data),
                ];
                if send_or_drop(&mut dealer, chunk, "CHUNK")? {
                    chunks += 1;
                }
            }
            Err(e) => tracing::warn!("file transfer: bad message from the master: {e}"),
        }
    }
}

/// Sends `frames` unless they cannot be queued within [`SEND_TIMEOUT`]; then they are
/// dropped (logged) as a message lost on the way would be. Whether they were sent.
fn send_or_drop<I, T>(dealer: &mut RawDealer, frames: I, what: &str) -> Result<bool, UploadError>
where
    I: IntoIterator<Item = T>,
    T: Into<zmq::Message>,
{
    match dealer.send_timeout(frames, SEND_TIMEOUT) {
        Ok(()) => Ok(true),
        Err(TransportError::Timeout(_)) => {
            tracing::debug!(
                "file transfer: the master took no {what} for {SEND_TIMEOUT:?}; dropped"
            );
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}
