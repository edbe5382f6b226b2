//! The states both ends share: files, builds and slaves (spec §3.1, §3.4).
//!
//! [`FileState`] and [`BuildState`] are wire shapes (the 11-field file and the 8-field
//! import build); [`Build`] and [`SlaveState`] are the master's bookkeeping around them.
//! The transfer of one file is [`TransferState`](crate::transfer::TransferState).

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use indexmap::IndexMap;

use crate::slave::{SlaveHello, SlaveReply, SlaveRequest, SlaveStats};
use crate::wire_struct;

wire_struct! {
    /// One wheel as slaves and importers describe it (exactly 11 fields on the wire).
    pub struct FileState {
        /// The wheel's file name.
        pub filename: String,
        /// Its size in bytes.
        pub filesize: i64,
        /// Its SHA-256, lowercase hex.
        pub filehash: String,
        /// Package tag of the wheel name.
        pub package_tag: String,
        /// Version tag of the wheel name.
        pub package_version_tag: String,
        /// Python tag, e.g. `cp311`.
        pub py_version_tag: String,
        /// ABI tag, e.g. `cp311` or `none`.
        pub abi_tag: String,
        /// Platform tag, e.g. `linux_armv7l` or `any`.
        pub platform_tag: String,
        /// `Requires-Python`, if the wheel declares one.
        pub requires_python: Option<String>,
        /// Dependencies by tool: `"apt"`, `"pip"`, and `""` for unresolved libraries.
        pub dependencies: IndexMap<String, Vec<String>>,
        /// Where the file is published; always `"/simple"` from slaves.
        pub location: String,
    }
}

/// The suffix the armv6 twin rule replaces.
const ARMV7_SUFFIX: &str = "linux_armv7l.whl";
const ARMV6_SUFFIX: &str = "linux_armv6l.whl";

impl FileState {
    /// The `linux_armv6l` twin of a `linux_armv7l` wheel (same bytes, same hash): the
    /// master publishes armv7l wheels for armv6 too. `None` for other platforms.
    pub fn armv6_twin(&self) -> Option<FileState> {
        if self.platform_tag != "linux_armv7l" {
            return None;
        }
        let stem = self.filename.strip_suffix(ARMV7_SUFFIX)?;
        Some(FileState {
            filename: format!("{stem}{ARMV6_SUFFIX}"),
            platform_tag: "linux_armv6l".into(),
            ..self.clone()
        })
    }
}

wire_struct! {
    /// A build as `piw-import` sends it (`IMPORT` data, 8 fields).
    pub struct BuildState {
        /// Slave id (the master forces 0 for imports).
        pub slave_id: i64,
        /// Package name.
        pub package: String,
        /// Version.
        pub version: String,
        /// The ABI the build is for.
        pub abi_tag: String,
        /// Whether it succeeded.
        pub status: bool,
        /// How long it took.
        pub duration: TimeDelta,
        /// The build log.
        pub output: String,
        /// The wheels.
        pub files: Vec<FileState>,
    }
}

/// The master's view of one build while its files come in.
///
/// Files are kept by name, so they are transferred in sorted filename order, as the
/// original does; each remembers whether it has arrived and been verified.
#[derive(Debug, Clone, PartialEq)]
pub struct Build {
    /// Slave id (0 for imports).
    pub slave_id: i64,
    /// Package name.
    pub package: String,
    /// Version.
    pub version: String,
    /// The ABI built for (the slave's native ABI).
    pub abi_tag: String,
    /// Whether the build succeeded.
    pub status: bool,
    /// How long it took.
    pub duration: TimeDelta,
    /// The build log.
    pub output: String,
    /// The database id once the build is logged.
    pub build_id: Option<i64>,
    files: BTreeMap<String, (FileState, bool)>,
}

impl Build {
    /// A build from its wire form; every file still to be transferred.
    pub fn new(state: BuildState) -> Self {
        let files = state
            .files
            .into_iter()
            .map(|f| (f.filename.clone(), (f, false)))
            .collect();
        Build {
            slave_id: state.slave_id,
            package: state.package,
            version: state.version,
            abi_tag: state.abi_tag,
            status: state.status,
            duration: state.duration,
            output: state.output,
            build_id: None,
            files,
        }
    }

    /// Adds the armv6 twin of every armv7l wheel (already counted as transferred, since
    /// it is the same file), unless a real file of that name was built.
    pub fn add_armv6_twins(&mut self) {
        let twins: Vec<FileState> = self
            .files
            .values()
            .filter_map(|(f, _)| f.armv6_twin())
            .collect();
        for twin in twins {
            self.files
                .entry(twin.filename.clone())
                .or_insert((twin, true));
        }
    }

    /// Every file, in filename order, with whether it has been transferred.
    pub fn files(&self) -> impl Iterator<Item = (&FileState, bool)> {
        self.files.values().map(|(f, done)| (f, *done))
    }

    /// The file of that name.
    pub fn file(&self, filename: &str) -> Option<&FileState> {
        self.files.get(filename).map(|(f, _)| f)
    }

    /// The first file (in filename order) still to be transferred.
    pub fn next_file(&self) -> Option<&FileState> {
        self.files.values().find(|(_, done)| !done).map(|(f, _)| f)
    }

    /// Marks a file as transferred and verified; false if there is no such file.
    pub fn mark_transferred(&mut self, filename: &str) -> bool {
        match self.files.get_mut(filename) {
            Some((_, done)) => {
                *done = true;
                true
            }
            None => false,
        }
    }

    /// Whether every file has been transferred.
    pub fn all_transferred(&self) -> bool {
        self.files.values().all(|(_, done)| *done)
    }

    /// The wire form (files in filename order).
    pub fn to_state(&self) -> BuildState {
        BuildState {
            slave_id: self.slave_id,
            package: self.package.clone(),
            version: self.version.clone(),
            abi_tag: self.abi_tag.clone(),
            status: self.status,
            duration: self.duration,
            output: self.output.clone(),
            files: self.files.values().map(|(f, _)| f.clone()).collect(),
        }
    }
}

/// The master's record of one connected build slave (one per ROUTER identity).
#[derive(Debug, Clone, PartialEq)]
pub struct SlaveState {
    /// The id given in `ACK`.
    pub slave_id: i64,
    /// What the slave said in `HELLO`.
    pub hello: SlaveHello,
    /// When the `HELLO` arrived.
    pub first_seen: DateTime<Utc>,
    /// When the last request arrived.
    pub last_seen: DateTime<Utc>,
    /// The latest `IDLE`/`BUSY` statistics.
    pub stats: Option<SlaveStats>,
    /// The last reply other than `CONT` (CONT never changes what the slave may say next).
    pub last_reply: Option<SlaveReply>,
    /// The build in progress or being transferred.
    pub build: Option<Build>,
    /// Marked by a monitor's `KILL`: gets `DIE` at its next `IDLE`.
    pub killed: bool,
    /// Marked by a monitor's `SKIP` or a deletion: its build is abandoned (`DONE`).
    pub skipped: bool,
    /// Marked by a monitor's `SLEEP`: gets `SLEEP` instead of jobs until `WAKE`.
    pub sleeping: bool,
}

impl SlaveState {
    /// A new slave, from its `HELLO`.
    pub fn new(slave_id: i64, hello: SlaveHello, now: DateTime<Utc>) -> Self {
        SlaveState {
            slave_id,
            hello,
            first_seen: now,
            last_seen: now,
            stats: None,
            last_reply: None,
            build: None,
            killed: false,
            skipped: false,
            sleeping: false,
        }
    }

    /// The ABI whose queue this slave takes jobs from.
    pub fn native_abi(&self) -> &str {
        &self.hello.abi
    }

    /// Whether the slave has been silent longer than its busy timeout.
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        now - self.last_seen > self.hello.busy_timeout
    }

    /// Whether `request` may come next, given the last reply (spec §3.1.2): `IDLE`
    /// after `ACK`, `SLEEP` or `DONE`; `BUILT` after `BUILD`; `SENT` after `SEND`;
    /// `BUSY` and `BYE` at any time; `HELLO` only as a connection's first message.
    pub fn accepts(&self, request: &SlaveRequest) -> bool {
        match request {
            SlaveRequest::Idle(_) => matches!(
                self.last_reply,
                Some(SlaveReply::Ack(_) | SlaveReply::Sleep(_) | SlaveReply::Done)
            ),
            SlaveRequest::Built(_) => matches!(self.last_reply, Some(SlaveReply::Build(_))),
            SlaveRequest::Sent => matches!(self.last_reply, Some(SlaveReply::Send(_))),
            SlaveRequest::Busy(_) | SlaveRequest::Bye => true,
            SlaveRequest::Hello(_) => false,
        }
    }

    /// Records an incoming request: the time, and the statistics of `IDLE`/`BUSY`.
    pub fn record_request(&mut self, request: &SlaveRequest, now: DateTime<Utc>) {
        self.last_seen = now;
        if let SlaveRequest::Idle(stats) | SlaveRequest::Busy(stats) = request {
            self.stats = Some(stats.clone());
        }
    }

    /// Records an outgoing reply (all but `CONT` become the last reply).
    pub fn record_reply(&mut self, reply: &SlaveReply) {
        if *reply != SlaveReply::Cont {
            self.last_reply = Some(reply.clone());
        }
    }
}
