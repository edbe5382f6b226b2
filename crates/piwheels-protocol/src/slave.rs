//! Build slave ↔ SlaveDriver (TCP 5555; slave REQ → master ROUTER; piwheels.md §3.1).
//!
//! The slave sends [`SlaveRequest`]s and the master answers each with exactly one
//! [`SlaveReply`] (except `BYE`, which gets none). Both ends use [`SlaveProtocol`].

use chrono::{DateTime, TimeDelta, Utc};

use crate::message::Protocol;
use crate::states::FileState;
use crate::{messages, wire_struct};

/// The port the original slave and importer hard-code for this socket.
pub const SLAVE_PORT: u16 = 5555;

/// How this project's slave names its socket to the master: this prefix, then random
/// hex digits (a new id per socket). The original slave lets ZeroMQ pick (an id starting
/// with a zero byte), so a master can tell the two apart without a change to the
/// protocol: it holds only our slaves' `IDLE`s for a job (the original slave cannot say
/// `BYE` while its `IDLE` waits), and tells only ours, when they speak to it after it
/// restarted, to start again with `HELLO` (the original ignores them, as before).
pub const OUR_SLAVE_ID_PREFIX: &[u8] = b"piw-rs/";

/// A new routing id for one of our slaves' sockets (see [`OUR_SLAVE_ID_PREFIX`]).
pub fn our_slave_routing_id() -> crate::transport::RoutingId {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // Randomly keyed per process, fed the time, the process and a counter: unique per
    // socket, which is all a routing id needs (it is not a secret).
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.write_u32(std::process::id());
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let id = format!(
        "{}{:016x}",
        String::from_utf8_lossy(OUR_SLAVE_ID_PREFIX),
        h.finish()
    );
    crate::transport::RoutingId::new(id.as_bytes()).expect("23 printable bytes")
}

/// Whether a slave's identity (as the master's ROUTER sees it) is one of our slaves'.
pub fn is_our_slave(identity: &[u8]) -> bool {
    identity.starts_with(OUR_SLAVE_ID_PREFIX)
}

wire_struct! {
    /// `HELLO` data: who the slave is (10 fields).
    pub struct SlaveHello {
        /// The slave's build timeout (`--timeout`, default 3 h): the master keeps a job
        /// out of the queue this long after handing it out.
        pub build_timeout: TimeDelta,
        /// How long the slave waits for any reply (fixed at 5 minutes by the original);
        /// the master forgets a slave silent for longer.
        pub busy_timeout: TimeDelta,
        /// Python version, e.g. `"311"`.
        pub py_version: String,
        /// Native ABI tag, e.g. `"cp311"`: the build queue it takes jobs from.
        pub abi: String,
        /// Native platform tag, e.g. `"linux_armv7l"`.
        pub platform: String,
        /// Label (default: hostname).
        pub label: String,
        /// OS name, e.g. `"Debian GNU/Linux"`.
        pub os_name: String,
        /// OS version, e.g. `"12 (bookworm)"`.
        pub os_version: String,
        /// Board revision (`"unknown"` off a Raspberry Pi).
        pub board_revision: String,
        /// Board serial (`"unknown"` off a Raspberry Pi).
        pub board_serial: String,
    }
}

wire_struct! {
    /// `IDLE`/`BUSY` data: the slave's resources (9 fields).
    pub struct SlaveStats {
        /// When the sample was taken.
        pub timestamp: DateTime<Utc>,
        /// Size of the build directory's filesystem, bytes.
        pub disk_size: i64,
        /// Free space there, bytes.
        pub disk_free: i64,
        /// Total memory, bytes.
        pub mem_size: i64,
        /// Available memory (`MemAvailable`), bytes.
        pub mem_free: i64,
        /// Total swap, bytes.
        pub swap_size: i64,
        /// Free swap, bytes.
        pub swap_free: i64,
        /// 1-minute load average (a float on the wire; an integer is rejected).
        pub load_average: f64,
        /// Board temperature in °C, 0.0 if unknown.
        pub cpu_temp: f64,
    }
}

wire_struct! {
    /// `BUILT` data: the outcome of a build.
    pub struct BuiltReport {
        /// Whether the build succeeded.
        pub status: bool,
        /// How long it took.
        pub duration: TimeDelta,
        /// The build log.
        pub output: String,
        /// The wheels built (empty on failure).
        pub files: Vec<FileState>,
    }
}

wire_struct! {
    /// `ACK` data: the reply to `HELLO`.
    pub struct Ack {
        /// The id the master gave this slave.
        pub slave_id: i64,
        /// The index pip builds against (`--index-url`).
        pub index_url: String,
    }
}

wire_struct! {
    /// `BUILD` data: the job.
    pub struct Job {
        /// Package name.
        pub package: String,
        /// Version.
        pub version: String,
    }
}

messages! {
    /// What a build slave sends the master.
    pub enum SlaveRequest {
        data {
            /// First message of a connection.
            "HELLO" => Hello(SlaveHello),
            /// Ready for a job.
            "IDLE" => Idle(SlaveStats),
            /// Still building (every 5–10 s).
            "BUSY" => Busy(SlaveStats),
            /// Build finished.
            "BUILT" => Built(BuiltReport),
        }
        bare {
            /// Finished uploading the file named in the last `SEND`.
            "SENT" => Sent,
            /// The slave is exiting; no reply.
            "BYE" => Bye,
        }
    }
}

messages! {
    /// What the master answers a build slave.
    pub enum SlaveReply {
        data {
            /// Reply to `HELLO`.
            "ACK" => Ack(Ack),
            /// Nothing to do: `true` because the master is paused, `false` for no job.
            "SLEEP" => Sleep(bool),
            /// Build this.
            "BUILD" => Build(Job),
            /// Upload this file now (on the file-transfer socket).
            "SEND" => Send(String),
        }
        bare {
            /// Keep building.
            "CONT" => Cont,
            /// Discard the build (cancel it if running) and go idle.
            "DONE" => Done,
            /// Terminate (the slave answers `BYE`).
            "DIE" => Die,
        }
    }
}

/// The slave protocol: the master receives [`SlaveRequest`] and sends [`SlaveReply`].
#[derive(Debug, Clone, Copy)]
pub struct SlaveProtocol;

impl Protocol for SlaveProtocol {
    type ToMaster = SlaveRequest;
    type FromMaster = SlaveReply;
}
