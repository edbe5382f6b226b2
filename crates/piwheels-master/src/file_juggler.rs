//! FileJuggler: receives wheels from build slaves (and `piw-import`, as slave 0) on the
//! file-transfer socket (`--file-queue`, port 5556; spec §3.2), checks them and publishes
//! them under `OUT/simple/<package>/`.
//!
//! SlaveDriver (or MrChase) first tells it what to expect from a slave
//! ([`FsRequest::Expect`]): a temporary file with an unguessable name is made in
//! `OUT/simple`, pre-sized to the file's size. The slave's DEALER then says `HELLO <id>`,
//! and the transfer is driven by the protocol crate's [`TransferFile`]: `FETCH`es within
//! its credit, `CHUNK`s written where they belong (one reaching past the declared size is
//! refused, not written), `DONE` once every byte is in. [`FsRequest::Verify`] then checks
//! the size and SHA-256 and publishes the file: mode 0644, the package's directory (a
//! symlink in its place is replaced by a real directory), the PEP 658 metadata file
//! `<wheel>.metadata` extracted from the wheel and renamed in *before* the wheel itself,
//! the wheel renamed in, and for a `linux_armv7l` wheel the `linux_armv6l` symlinks.
//!
//! Where this differs from the original, on purpose:
//!
//! - a slave can only upload what it was told to: the file name comes from the `EXPECT`
//!   keyed by its slave id, and is checked (no `/`, `..` or NUL, a `.whl` name, a canonical
//!   package name) so nothing can land outside the output directory;
//! - malformed frames (a `HELLO` without an id, a non-numeric offset, a missing data
//!   frame) are logged and dropped; the task never dies of them, and the warnings about
//!   each peer are [rate-limited](crate::log_limit);
//! - a chunk that carries no bytes, or answers a `FETCH` short, is refused and earns no
//!   new `FETCH`, and the transfer backs off (see [`TransferState`]): a client cannot
//!   make the master spin;
//! - a zero-byte file is complete at once;
//! - a transfer never shows up half-done: the temporary file is removed when a new
//!   `EXPECT` replaces it, when verification fails, and (for those left by a killed master)
//!   at start-up;
//! - verification and publishing run off the socket loop, so hashing a large wheel does
//!   not stall other slaves' transfers.

mod publish;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use piwheels_protocol::quote::Quoted;
use piwheels_protocol::states::FileState;
use piwheels_protocol::transfer::{ClientFrame, ServerFrame, TransferFile, TransferState};
use piwheels_protocol::transport::asynchronous::RawRouter;
use piwheels_protocol::transport::{FILE_QUEUE_HWM, Identity, SocketOptions, zmq};
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::hub::{FsRequest, Hub, StatsMessage, Task};
use crate::log_limit::PeerWarnings;

pub use publish::{TEMP_PREFIX, check_filename, check_package, statvfs};

/// One file expected from a slave, from `EXPECT` to `VERIFY`.
#[derive(Debug)]
struct Transfer {
    /// What the file must be.
    file: FileState,
    /// The temporary file it is written to.
    temp: PathBuf,
    /// The file and its transfer state.
    data: TransferFile,
    /// The DEALER sending it, once it said `HELLO`.
    peer: Option<Identity>,
}

impl Transfer {
    fn discard(self) {
        let Transfer { temp, data, .. } = self;
        drop(data);
        if let Err(e) = std::fs::remove_file(&temp)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %temp.display(), error = %e, "cannot remove a transfer's temporary file");
        }
    }
}

/// The file-transfer task (see the module docs).
pub struct FileJuggler {
    hub: Hub,
    inbox: mpsc::UnboundedReceiver<FsRequest>,
    router: RawRouter,
    endpoint: String,
    simple: PathBuf,
    /// Transfers by slave id.
    transfers: HashMap<u64, Transfer>,
    /// Which transfer each DEALER identity is sending.
    peers: HashMap<Identity, u64>,
    /// The rate limit on warnings about peers' frames.
    warnings: PeerWarnings<Identity>,
}

impl std::fmt::Debug for FileJuggler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileJuggler")
            .field("endpoint", &self.endpoint)
            .field("transfers", &self.transfers.len())
            .finish_non_exhaustive()
    }
}

impl FileJuggler {
    /// Binds the file-transfer ROUTER at `hub.config.file_queue`, makes `OUT/simple` if
    /// needed and removes temporary files a previous run left there.
    pub fn bind(hub: Hub, inbox: mpsc::UnboundedReceiver<FsRequest>) -> Result<FileJuggler> {
        let simple = hub.config.output_path.join("simple");
        std::fs::create_dir_all(&simple).map_err(|e| Error::io("creating", &simple, e))?;
        publish::remove_stale_temps(&simple);
        let ctx = zmq::Context::new();
        // Chunks are at most 1 MiB (the protocol crate's window); anything much larger is
        // not a chunk we asked for.
        let options = SocketOptions::new()
            .hwm(FILE_QUEUE_HWM)
            .max_message_size(Some(4 << 20));
        let router = RawRouter::bind(&ctx, &hub.config.file_queue, &options)?;
        let endpoint = router.endpoint()?;
        tracing::info!(endpoint = %endpoint, "file juggler listening");
        if let Some((size, free)) = statvfs(&hub.config.output_path) {
            hub.stat(StatsMessage::StatFs { size, free });
        }
        Ok(FileJuggler {
            hub,
            inbox,
            router,
            endpoint,
            simple,
            transfers: HashMap::new(),
            peers: HashMap::new(),
            warnings: PeerWarnings::new(Self::NAME),
        })
    }

    /// The endpoint actually bound, e.g. `tcp://0.0.0.0:5556` (wildcard ports resolved).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// `EXPECT`: prepares the transfer of `file` from `slave_id`, replacing any earlier
    /// one from that slave.
    fn expect(&mut self, slave_id: i64, file: FileState) -> std::result::Result<(), String> {
        let id = u64::try_from(slave_id).map_err(|_| format!("bad slave id {slave_id}"))?;
        check_filename(&file.filename)?;
        let size = u64::try_from(file.filesize)
            .map_err(|_| format!("{}: negative size {}", file.filename, file.filesize))?;
        if file.filehash.len() != 64
            || !file
                .filehash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(format!(
                "{}: the hash {} is not a lowercase hex SHA-256",
                file.filename,
                Quoted::str(&file.filehash)
            ));
        }
        if let Some(old) = self.transfers.remove(&id) {
            tracing::debug!(slave = id, file = %old.file.filename, "replacing an unfinished transfer");
            if let Some(peer) = &old.peer {
                self.peers.remove(peer);
            }
            old.discard();
        }
        let (handle, temp) = publish::new_temp(&self.simple)?;
        let data = TransferFile::new(handle, TransferState::new(size)).map_err(|e| {
            let _ = std::fs::remove_file(&temp);
            format!("cannot size the temporary file for {}: {e}", file.filename)
        })?;
        tracing::debug!(slave = id, file = %file.filename, size, "expecting a file");
        self.transfers.insert(
            id,
            Transfer {
                file,
                temp,
                data,
                peer: None,
            },
        );
        Ok(())
    }

    /// `VERIFY`: takes the slave's complete transfer, for checking and publishing.
    fn take_complete(&mut self, slave_id: i64) -> std::result::Result<Transfer, String> {
        let id = u64::try_from(slave_id).map_err(|_| format!("bad slave id {slave_id}"))?;
        let Some(t) = self.transfers.remove(&id) else {
            return Err(format!("no file transfer from slave {slave_id}"));
        };
        if let Some(peer) = &t.peer {
            self.peers.remove(peer);
        }
        if !t.data.state().is_complete() {
            let why = format!(
                "the transfer of {} from slave {slave_id} is not complete ({} of {} bytes missing)",
                t.file.filename,
                t.data.state().remaining(),
                t.data.state().size()
            );
            t.discard();
            return Err(why);
        }
        Ok(t)
    }

    fn handle_request(&mut self, req: FsRequest) {
        match req {
            FsRequest::Forget { slave_id } => {
                let Ok(id) = u64::try_from(slave_id) else {
                    return;
                };
                if let Some(old) = self.transfers.remove(&id) {
                    tracing::info!(slave = id, file = %old.file.filename, "dropping the transfer of a lost slave");
                    if let Some(peer) = &old.peer {
                        self.peers.remove(peer);
                    }
                    old.discard();
                }
            }
            FsRequest::Expect {
                slave_id,
                file,
                reply,
            } => {
                let result = self.expect(slave_id, file);
                if let Err(e) = &result {
                    tracing::warn!(slave = slave_id, error = %e, "cannot expect a file");
                }
                let _ = reply.send(result);
            }
            FsRequest::Verify {
                slave_id,
                package,
                reply,
            } => match self.take_complete(slave_id) {
                Err(e) => {
                    tracing::warn!(slave = slave_id, error = %e, "verification failed");
                    let _ = reply.send(Err(e));
                }
                Ok(t) => {
                    let hub = self.hub.clone();
                    let simple = self.simple.clone();
                    tokio::spawn(async move {
                        let Transfer {
                            file, temp, data, ..
                        } = t;
                        let (handle, _) = data.into_parts();
                        let name = file.filename.clone();
                        let result = tokio::task::spawn_blocking(move || {
                            publish::verify_and_publish(handle, &temp, &file, &simple, &package)
                        })
                        .await
                        .unwrap_or_else(|e| Err(format!("verification of {name} failed: {e}")));
                        match &result {
                            Ok(()) => {
                                tracing::info!(slave = slave_id, file = %name, "file verified and published");
                                if let Some((size, free)) = statvfs(&hub.config.output_path) {
                                    hub.stat(StatsMessage::StatFs { size, free });
                                }
                            }
                            Err(e) => {
                                tracing::warn!(slave = slave_id, error = %e, "verification failed")
                            }
                        }
                        let _ = reply.send(result);
                    });
                }
            },
        }
    }

    async fn handle_frames(&mut self, peer: Identity, frames: &[zmq::Message]) -> Result<()> {
        let frame = match ClientFrame::parse(frames) {
            Ok(frame) => frame,
            Err(e) => {
                if self.warnings.allow(&peer) {
                    tracing::warn!(peer = %peer, error = %e, "invalid file-transfer message dropped");
                }
                return Ok(());
            }
        };
        let id = match (frame, self.peers.get(&peer).copied()) {
            (ClientFrame::Hello { slave_id }, current) => {
                if let Some(current) = current
                    && current != slave_id
                {
                    if self.warnings.allow(&peer) {
                        tracing::warn!(peer = %peer, slave = slave_id, sending_for = current,
                            "HELLO for another slave on a transfer under way; dropped");
                    }
                    return Ok(());
                }
                let Some(t) = self.transfers.get_mut(&slave_id) else {
                    if self.warnings.allow(&peer) {
                        tracing::warn!(peer = %peer, slave = slave_id, "HELLO from a slave with no transfer expected; dropped");
                    }
                    return Ok(());
                };
                if t.peer.as_ref() != Some(&peer) {
                    // A new DEALER for the same transfer (the slave re-sends): it takes over.
                    if let Some(old) = t.peer.replace(peer.clone()) {
                        self.peers.remove(&old);
                    }
                    self.peers.insert(peer.clone(), slave_id);
                }
                slave_id
            }
            (ClientFrame::Chunk { .. }, None) => {
                // A stale chunk of a finished or replaced transfer.
                tracing::trace!(peer = %peer, "chunk from a peer with no transfer ignored");
                return Ok(());
            }
            (ClientFrame::Chunk { .. }, Some(id)) => id,
        };
        let Some(t) = self.transfers.get_mut(&id) else {
            self.peers.remove(&peer);
            return Ok(());
        };
        // A refused chunk earns no FETCH: nothing below is sent for it.
        if let Err(e) = t.data.handle(&frame, Instant::now())
            && self.warnings.allow(&peer)
        {
            tracing::warn!(peer = %peer, slave = id, file = %t.file.filename, error = %e, "chunk refused");
        }
        let mut out = Vec::new();
        while let Some(next) = t.data.state_mut().next_frame() {
            if next == ServerFrame::Done {
                tracing::debug!(slave = id, file = %t.file.filename, "transfer complete");
            }
            out.push(next);
        }
        for next in out {
            self.router.send_to(&peer, next.frames()).await?;
        }
        Ok(())
    }
}

impl Task for FileJuggler {
    const NAME: &'static str = "file_juggler";

    async fn run(&mut self) -> Result<()> {
        let quit = self.hub.quit.clone();
        loop {
            tokio::select! {
                biased;
                () = quit.cancelled() => break,
                req = self.inbox.recv() => match req {
                    Some(req) => self.handle_request(req),
                    None => {
                        // Every sender is gone: the master is going down.
                        quit.cancelled().await;
                        break;
                    }
                },
                msg = self.router.recv() => match msg? {
                    (peer, Ok(frames)) => self.handle_frames(peer, &frames).await?,
                    (peer, Err(e)) => {
                        if self.warnings.allow(&peer) {
                            tracing::warn!(peer = %peer, error = %e, "invalid file-transfer message dropped");
                        }
                    }
                },
            }
        }
        for (_, t) in self.transfers.drain() {
            t.discard();
        }
        self.peers.clear();
        Ok(())
    }
}

impl Drop for FileJuggler {
    fn drop(&mut self) {
        for (_, t) in self.transfers.drain() {
            t.discard();
        }
    }
}
