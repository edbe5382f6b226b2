//! FileJuggler: receives wheels from build slaves (and `piw-import`, as slave 0) on the
//! file-transfer socket (`--file-queue`, port 5556; piwheels.md §3.2), checks them and stages them
//! for publishing.
//!
//! SlaveDriver (or MrChase) first tells it what to expect from a slave
//! ([`FsRequest::Expect`]): an upload file with an unguessable name is made in the output's
//! staging folder (see [`crate::output`]), pre-sized to the file's size. The slave's DEALER
//! then says `HELLO <id>`, and the transfer is driven by the protocol crate's
//! [`TransferFile`]: `FETCH`es within its credit, `CHUNK`s written where they belong (one
//! reaching past the declared size is refused, not written), `DONE` once every byte is in.
//! [`FsRequest::Verify`] then checks the file — its size and SHA-256; that its name,
//! declared tags and `METADATA` are those of the job's package and version; that no other
//! build's wheel has its name — and stages it. It is published only once its build is
//! recorded ([`crate::output::Output::publish`]).
//!
//! Where this differs from the original, on purpose:
//!
//! - a file larger than `max_wheel_size` is not expected at all (nothing is pre-sized for
//!   it), and no chunk may reach past the size declared;
//! - a slave uploads only the file its `EXPECT` names, a wheel of its job ([`WheelName`]),
//!   which lands in the staging folder and is never published over another build's wheel;
//! - a slave's transfer is taken only from the CURVE key (else the address) its build was
//!   declared from ([`crate::queue_auth::same_origin`]), so one admitted slave cannot send
//!   another's files;
//! - malformed frames are logged ([rate-limited](crate::log_limit)) and dropped, never
//!   fatal; an empty or short chunk earns no new `FETCH` and the transfer backs off
//!   ([`TransferState`]), so a client cannot make the master spin;
//! - upload files never outlive their transfer (removed on a new `EXPECT`, a failed
//!   verification, and at start-up), and hashing runs off the socket loop.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use piwheels_protocol::auth::ZapHandler;
use piwheels_protocol::quote::Quoted;
use piwheels_protocol::states::FileState;
use piwheels_protocol::transfer::{ClientFrame, ServerFrame, TransferFile, TransferState};
use piwheels_protocol::transport::asynchronous::RawRouter;
use piwheels_protocol::transport::{
    FILE_QUEUE_HWM, HandshakeWatch, Identity, Origin, SocketOptions, zmq,
};
use tokio::sync::mpsc;

use crate::error::Result;
use crate::hub::{FsError, FsRequest, Hub, StatsMessage, Task};
use crate::log_limit::PeerWarnings;
use crate::output::{Refusal, Staged, WheelName, remove_upload, statvfs};
use crate::queue_auth;
use crate::slave_id::SlaveId;

pub use crate::output::TEMP_PREFIX;

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
    /// Where it must come from (the connection that declared the build); `None`:
    /// anywhere.
    origin: Option<Origin>,
}

impl Transfer {
    fn discard(self) {
        let Transfer { temp, data, .. } = self;
        drop(data);
        if let Err(e) = remove_upload(&temp) {
            tracing::warn!(error = %e, "cannot remove a transfer's temporary file");
        }
    }
}

/// The file-transfer task (see the module docs).
pub struct FileJuggler {
    hub: Hub,
    inbox: mpsc::UnboundedReceiver<FsRequest>,
    router: RawRouter,
    endpoint: String,
    /// The endpoint for original (NULL) slaves, if bound.
    plain_endpoint: Option<String>,
    /// Transfers by slave id.
    transfers: HashMap<SlaveId, Transfer>,
    /// Which transfer each DEALER identity is sending.
    peers: HashMap<Identity, SlaveId>,
    /// The rate limit on warnings about peers' frames.
    warnings: PeerWarnings<Identity>,
    /// The ZAP handler of the socket's context, if its endpoints are checked (dropped
    /// after the socket).
    _zap: Option<ZapHandler>,
    /// Logs peers whose connection fails before authentication, if guarded.
    _watch: Option<HandshakeWatch>,
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
    /// Binds the file-transfer ROUTER at `hub.config.file_queue`, makes `OUT/simple` and
    /// its staging folder if needed, and removes uploads a previous run left there.
    pub fn bind(hub: Hub, inbox: mpsc::UnboundedReceiver<FsRequest>) -> Result<FileJuggler> {
        hub.output
            .prepare()
            .map_err(|e| crate::Error::io(e.what, e.path, e.source))?;
        let ctx = zmq::Context::new();
        // Chunks are at most 1 MiB (the protocol crate's window); anything much larger is
        // not a chunk we asked for.
        let options = SocketOptions::new()
            .hwm(FILE_QUEUE_HWM)
            .max_message_size(Some(4 << 20));
        let auth = &hub.config.auth;
        let plan = queue_auth::plan(
            auth,
            ("--file-queue", &hub.config.file_queue),
            ("--plain-file-queue", auth.plain_file_queue.as_deref()),
        )?;
        let zap = queue_auth::start_zap(&ctx, &hub.policy, &plan, Self::NAME)?;
        let router = RawRouter::bind(&ctx, &plan.main.0, &options.security(plan.main.1))?;
        let endpoint = router.endpoint()?;
        let plain_endpoint = queue_auth::bind_plain(router.socket(), options, &plan)?;
        let watch = queue_auth::watch_handshakes(&ctx, router.socket(), zap.as_ref(), Self::NAME)?;
        tracing::info!(endpoint = %endpoint, plain = ?plain_endpoint,
            curve = auth.key.is_some(), "file juggler listening");
        if let Some((size, free)) = statvfs(&hub.config.output_path) {
            hub.stat(StatsMessage::StatFs { size, free });
        }
        Ok(FileJuggler {
            hub,
            inbox,
            router,
            endpoint,
            plain_endpoint,
            transfers: HashMap::new(),
            peers: HashMap::new(),
            warnings: PeerWarnings::new(Self::NAME),
            _zap: zap,
            _watch: watch,
        })
    }

    /// The endpoint actually bound, e.g. `tcp://0.0.0.0:5556` (wildcard ports resolved).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The endpoint for original (NULL) slaves, when CURVE is on and one is configured.
    pub fn plain_endpoint(&self) -> Option<&str> {
        self.plain_endpoint.as_deref()
    }

    /// `EXPECT`: prepares the transfer of `file` from `slave_id`, replacing any earlier
    /// one from that slave.
    fn prepare(
        &mut self,
        id: SlaveId,
        file: FileState,
        origin: Option<Origin>,
    ) -> std::result::Result<(), FsError> {
        WheelName::parse(&file.filename).map_err(|e| FsError::Invalid(e.to_string()))?;
        let size = u64::try_from(file.filesize).map_err(|_| {
            FsError::Invalid(format!(
                "{}: negative size {}",
                Quoted::str(&file.filename),
                file.filesize
            ))
        })?;
        let max = self.hub.config.max_wheel_size;
        if size > max {
            return Err(FsError::Invalid(format!(
                "{}: {size} bytes, larger than the largest wheel allowed ({max} bytes)",
                Quoted::str(&file.filename),
            )));
        }
        if file.filehash.len() != 64
            || !file
                .filehash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(FsError::Invalid(format!(
                "{}: the hash {} is not a lowercase hex SHA-256",
                Quoted::str(&file.filename),
                Quoted::str(&file.filehash)
            )));
        }
        if let Some(old) = self.transfers.remove(&id) {
            tracing::debug!(slave = %id, file = %old.file.filename, "replacing an unfinished transfer");
            if let Some(peer) = &old.peer {
                self.peers.remove(peer);
            }
            old.discard();
        }
        let (handle, temp) = self.hub.output.new_upload()?;
        let data = TransferFile::new(handle, TransferState::new(size)).map_err(|source| {
            let _ = remove_upload(&temp);
            FsError::Storage(crate::output::OutputError {
                what: "sizing",
                path: temp.clone(),
                source,
            })
        })?;
        tracing::debug!(slave = %id, file = %file.filename, size, "expecting a file");
        self.transfers.insert(
            id,
            Transfer {
                file,
                temp,
                data,
                peer: None,
                origin,
            },
        );
        Ok(())
    }

    /// `VERIFY`: takes the slave's complete transfer, for checking and publishing.
    fn take_complete(&mut self, slave_id: SlaveId) -> std::result::Result<Transfer, FsError> {
        let Some(t) = self.transfers.remove(&slave_id) else {
            return Err(FsError::Incomplete(format!(
                "no file transfer from slave {slave_id}"
            )));
        };
        if let Some(peer) = &t.peer {
            self.peers.remove(peer);
        }
        if !t.data.state().is_complete() {
            let why = format!(
                "the transfer of {} from slave {slave_id} is not complete ({} of {} bytes missing)",
                Quoted::str(&t.file.filename),
                t.data.state().remaining(),
                t.data.state().size()
            );
            t.discard();
            return Err(FsError::Incomplete(why));
        }
        Ok(t)
    }

    fn handle_request(&mut self, req: FsRequest) {
        match req {
            FsRequest::Forget { slave_id } => {
                if let Some(old) = self.transfers.remove(&slave_id) {
                    tracing::info!(slave = %slave_id, file = %old.file.filename, "dropping the transfer of a lost slave");
                    if let Some(peer) = &old.peer {
                        self.peers.remove(peer);
                    }
                    old.discard();
                }
            }
            FsRequest::Expect {
                slave_id,
                file,
                origin,
                reply,
            } => {
                let result = self.prepare(slave_id, file, origin);
                if let Err(e) = &result {
                    tracing::warn!(slave = %slave_id, error = %e, "cannot expect a file");
                }
                let _ = reply.send(result);
            }
            FsRequest::Verify {
                slave_id,
                package,
                version,
                reply,
            } => match self.take_complete(slave_id) {
                Err(e) => {
                    tracing::warn!(slave = %slave_id, error = %e, "verification failed");
                    let _ = reply.send(Err(e));
                }
                Ok(t) => {
                    let hub = self.hub.clone();
                    tokio::spawn(async move {
                        let name = t.file.filename.clone();
                        let result = verify(&hub, t, &package, &version).await;
                        match &result {
                            Ok(_) => {
                                tracing::info!(slave = %slave_id, file = %name, "file verified and staged");
                                if let Some((size, free)) = statvfs(&hub.config.output_path) {
                                    hub.stat(StatsMessage::StatFs { size, free });
                                }
                            }
                            Err(e) => {
                                tracing::warn!(slave = %slave_id, error = %e, "verification failed")
                            }
                        }
                        let _ = reply.send(result);
                    });
                }
            },
        }
    }

    async fn handle_frames(
        &mut self,
        peer: Identity,
        origin: &Origin,
        frames: &[zmq::Message],
    ) -> Result<()> {
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
            (ClientFrame::Hello { slave_id: wire_id }, current) => {
                let Ok(slave_id) = SlaveId::try_from(wire_id) else {
                    if self.warnings.allow(&peer) {
                        tracing::warn!(peer = %peer, slave = wire_id, "HELLO from a slave with no transfer expected; dropped");
                    }
                    return Ok(());
                };
                if let Some(current) = current
                    && current != slave_id
                {
                    if self.warnings.allow(&peer) {
                        tracing::warn!(peer = %peer, slave = %slave_id, sending_for = %current,
                            "HELLO for another slave on a transfer under way; dropped");
                    }
                    return Ok(());
                }
                let Some(t) = self.transfers.get_mut(&slave_id) else {
                    if self.warnings.allow(&peer) {
                        tracing::warn!(peer = %peer, slave = %slave_id, "HELLO from a slave with no transfer expected; dropped");
                    }
                    return Ok(());
                };
                if let Some(expected) = &t.origin
                    && !queue_auth::same_origin(expected, origin)
                {
                    if self.warnings.allow(&peer) {
                        tracing::warn!(peer = %peer, slave = %slave_id,
                            from = ?origin.user_id.as_deref().map(Quoted::str),
                            address = ?origin.address,
                            "HELLO for a transfer from another key or address than the slave's; refused");
                    }
                    return Ok(());
                }
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
        match t.data.handle(&frame, Instant::now()) {
            Ok(()) => {
                if let ClientFrame::Chunk { data, .. } = frame {
                    self.hub.metrics.file_received(data.len() as u64);
                }
            }
            Err(e) => {
                if self.warnings.allow(&peer) {
                    tracing::warn!(peer = %peer, slave = %id, file = %t.file.filename, error = %e, "chunk refused");
                }
            }
        }
        let mut out = Vec::new();
        while let Some(next) = t.data.state_mut().next_frame() {
            if next == ServerFrame::Done {
                tracing::debug!(slave = %id, file = %t.file.filename, "transfer complete");
            }
            out.push(next);
        }
        for next in out {
            self.router.send_to(&peer, next.frames()).await?;
        }
        Ok(())
    }
}

/// Checks a complete transfer as a wheel of `package` `version` and stages it: not the
/// name of a wheel another build published (the database says), then everything
/// [`Output::stage`](crate::output::Output::stage) checks.
async fn verify(
    hub: &Hub,
    t: Transfer,
    package: &str,
    version: &str,
) -> std::result::Result<Staged, FsError> {
    let name = t.file.filename.clone();
    let taken = match hub.db.file(&name).await {
        Ok(found) => found.filter(|f| f.twin_of.is_none()),
        Err(source) => {
            t.discard();
            return Err(FsError::Database { file: name, source });
        }
    };
    if let Some(f) = taken {
        t.discard();
        return Err(FsError::Refused(Refusal {
            file: Quoted::str(&name).to_string(),
            why: format!("already published by build {}", f.build_id),
        }));
    }
    let Transfer {
        file, temp, data, ..
    } = t;
    let (handle, _) = data.into_parts();
    let output = hub.output.clone();
    let (package, version) = (package.to_owned(), version.to_owned());
    tokio::task::spawn_blocking(move || output.stage(handle, &temp, &file, &package, &version))
        .await
        .map_err(|e| {
            FsError::Corrupt(format!(
                "verification of {} failed: {e}",
                Quoted::str(&name)
            ))
        })?
        .map_err(FsError::from)
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
                msg = self.router.recv_with_origin() => match msg? {
                    (origin, (peer, Ok(frames))) => self.handle_frames(peer, &origin, &frames).await?,
                    (_, (peer, Err(e))) => {
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
