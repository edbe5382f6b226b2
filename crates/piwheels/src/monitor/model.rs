//! What the monitor knows of the farm, built from the master's status messages alone
//! (piwheels.md §3.3), apart from any drawing: the master (its `HELLO` and latest `STATS`)
//! and each slave (its `HELLO`, latest statistics and what it was last told).
//!
//! A slave's state is read from the last reply the master sent it, and from whether it
//! has asked for work since (a statistics sample after the reply is an `IDLE` or `BUSY`):
//!
//! | last reply | then | state |
//! |---|---|---|
//! | `ACK`, `DONE` | nothing | starting / cleaning up |
//! | `ACK`, `DONE`, `SLEEP false` | a sample (it said `IDLE`) | idle |
//! | `SLEEP false` | nothing | idle (waiting for a job) |
//! | `SLEEP true` | — | sleeping (the master is paused, or the slave was put to sleep) |
//! | `SLEEP` until a time | — | cooling off until then (it broke the protocol repeatedly) |
//! | `BUILD` | — | building, since the `BUILD` |
//! | `SEND` | — | sending a file |
//! | `DIE` | — | gone |
//!
//! A slave silent for more than half its busy timeout is *silent*, for more than all of it
//! *lost* (the master forgets it then). Messages the monitor cannot read are counted, never
//! fatal.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use piwheels_protocol::monitor::{
    MasterHello, MasterStats, SlaveEvent, SlaveEventKind, StatusMessage,
};
use piwheels_protocol::slave::{Job, SlaveHello, SlaveReply, SlaveStats};
use serde_json::{Value, json};

/// How long the master may stay silent before it is shown as such (it sends `STATS` every
/// 10 s).
pub const MASTER_SILENT: TimeDelta = TimeDelta::seconds(30);

/// What a slave is doing, as far as the master's messages tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SlaveStatus {
    /// Said `HELLO`; has not asked for work yet.
    Starting,
    /// Waiting for a job.
    Idle,
    /// Told to sleep: the master is paused, or this slave was put to sleep.
    Sleeping,
    /// Told to sleep until its cool-off ends (it broke the protocol repeatedly).
    CoolingOff,
    /// Building a job.
    Building,
    /// Uploading a wheel.
    Sending,
    /// Told to drop its build; not asked for work since.
    CleaningUp,
    /// Silent for more than half its busy timeout.
    Silent,
    /// Silent for longer than its busy timeout: the master forgets it.
    Lost,
    /// Told to die, or said goodbye.
    Gone,
}

impl SlaveStatus {
    /// The word the screen, the JSON and the log lines use.
    pub fn as_str(self) -> &'static str {
        match self {
            SlaveStatus::Starting => "starting",
            SlaveStatus::Idle => "idle",
            SlaveStatus::Sleeping => "sleeping",
            SlaveStatus::CoolingOff => "cooling off",
            SlaveStatus::Building => "busy",
            SlaveStatus::Sending => "sending",
            SlaveStatus::CleaningUp => "cleaning up",
            SlaveStatus::Silent => "silent",
            SlaveStatus::Lost => "lost",
            SlaveStatus::Gone => "gone",
        }
    }
}

/// One slave as the monitor knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SlaveView {
    /// The master's id for it.
    pub id: i64,
    /// What it said in `HELLO` (`None` until the monitor has heard it).
    pub hello: Option<SlaveHello>,
    /// When the master first saw it.
    pub first_seen: Option<DateTime<Utc>>,
    /// The master's time of the latest event about it.
    pub last_seen: DateTime<Utc>,
    /// Its latest statistics.
    pub stats: Option<SlaveStats>,
    /// The last reply the master sent it (never `CONT`).
    pub last_reply: Option<SlaveReply>,
    /// Whether it has sent `IDLE`/`BUSY` since that reply.
    pub asked_since_reply: bool,
    /// The job it is building and when it was handed out.
    pub build: Option<(Job, DateTime<Utc>)>,
    /// The file it was last told to send.
    pub sending: Option<String>,
    /// Until when it is in cool-off, if its last reply was a cool-off's `SLEEP`.
    pub cooling_until: Option<DateTime<Utc>>,
}

impl SlaveView {
    fn new(id: i64, when: DateTime<Utc>) -> Self {
        SlaveView {
            id,
            hello: None,
            first_seen: None,
            last_seen: when,
            stats: None,
            last_reply: None,
            asked_since_reply: false,
            build: None,
            sending: None,
            cooling_until: None,
        }
    }

    /// Its label (from `HELLO`), or `"-"` before the `HELLO` is heard.
    pub fn label(&self) -> &str {
        self.hello.as_ref().map_or("-", |h| h.label.as_str())
    }

    /// Its build target `ABI/PLATFORM`, or `"-"`.
    pub fn target(&self) -> String {
        self.hello
            .as_ref()
            .map_or_else(|| "-".into(), |h| format!("{}/{}", h.abi, h.platform))
    }

    /// What it is doing at `now` (see the module docs).
    pub fn status(&self, now: DateTime<Utc>) -> SlaveStatus {
        if matches!(self.last_reply, Some(SlaveReply::Die)) {
            return SlaveStatus::Gone;
        }
        if let Some(busy) = self.hello.as_ref().map(|h| h.busy_timeout) {
            let silence = now - self.last_seen;
            if silence > busy {
                return SlaveStatus::Lost;
            }
            if silence > busy / 2 {
                return SlaveStatus::Silent;
            }
        }
        match &self.last_reply {
            None => SlaveStatus::Starting,
            Some(SlaveReply::Ack(_)) if !self.asked_since_reply => SlaveStatus::Starting,
            Some(SlaveReply::Done) if !self.asked_since_reply => SlaveStatus::CleaningUp,
            Some(SlaveReply::Ack(_) | SlaveReply::Done | SlaveReply::Sleep(false)) => {
                SlaveStatus::Idle
            }
            Some(SlaveReply::Sleep(true)) if self.cooling_until.is_some_and(|u| u > now) => {
                SlaveStatus::CoolingOff
            }
            Some(SlaveReply::Sleep(true)) => SlaveStatus::Sleeping,
            Some(SlaveReply::Build(_) | SlaveReply::Cont) => SlaveStatus::Building,
            Some(SlaveReply::Send(_)) => SlaveStatus::Sending,
            Some(SlaveReply::Die) => SlaveStatus::Gone,
        }
    }

    /// Its state at `now` in words: [`SlaveStatus::as_str`], and until when a cool-off
    /// lasts ("cooling off until 12:34 UTC").
    pub fn state_text(&self, now: DateTime<Utc>) -> String {
        match (self.status(now), self.cooling_until) {
            (SlaveStatus::CoolingOff, Some(until)) => {
                format!("cooling off until {} UTC", until.format("%H:%M"))
            }
            (status, _) => status.as_str().to_owned(),
        }
    }

    /// What it builds (package, version) and for how long at `now`, while it builds or
    /// sends the build's files.
    pub fn current_build(&self, now: DateTime<Utc>) -> Option<(&Job, TimeDelta)> {
        self.build.as_ref().map(|(job, since)| (job, now - *since))
    }

    fn apply(&mut self, event: &SlaveEvent, kind: SlaveEventKind) {
        self.last_seen = self.last_seen.max(event.timestamp);
        match kind {
            SlaveEventKind::Hello(hello) => {
                self.hello = Some(hello);
                self.first_seen = Some(event.timestamp);
                self.last_reply = None;
                self.asked_since_reply = false;
                self.build = None;
                self.sending = None;
                self.cooling_until = None;
            }
            SlaveEventKind::Stats(stats) => {
                self.stats = Some(stats);
                self.asked_since_reply = true;
            }
            SlaveEventKind::Reply(SlaveReply::Cont) => self.asked_since_reply = true,
            SlaveEventKind::CoolingOff(until) => {
                self.build = None;
                self.sending = None;
                self.last_reply = Some(SlaveReply::Sleep(true));
                self.asked_since_reply = false;
                self.cooling_until = Some(until);
            }
            SlaveEventKind::Reply(reply) => {
                self.cooling_until = None;
                match &reply {
                    SlaveReply::Build(job) => {
                        self.build = Some((job.clone(), event.timestamp));
                        self.sending = None;
                    }
                    SlaveReply::Send(file) => self.sending = Some(file.clone()),
                    _ => {
                        self.build = None;
                        self.sending = None;
                    }
                }
                self.last_reply = Some(reply);
                self.asked_since_reply = false;
            }
        }
    }

    /// The slave as JSON, its state taken at `now`.
    pub fn to_json(&self, now: DateTime<Utc>) -> Value {
        let hello = self.hello.as_ref();
        let text = |f: fn(&SlaveHello) -> &String| hello.map(|h| f(h).clone());
        json!({
            "id": self.id,
            "label": hello.map(|h| h.label.clone()),
            "target": hello.map(|_| self.target()),
            "state": self.status(now).as_str(),
            "cooling_off_until": self.cooling_until
                .filter(|_| self.status(now) == SlaveStatus::CoolingOff)
                .map(|t| t.to_rfc3339()),
            "build": self.current_build(now).map(|(job, took)| json!({
                "package": job.package,
                "version": job.version,
                "seconds": took.num_seconds(),
            })),
            "sending": self.sending,
            "first_seen": self.first_seen.map(|t| t.to_rfc3339()),
            "last_seen": self.last_seen.to_rfc3339(),
            "last_reply": self.last_reply.as_ref().map(reply_name),
            "python": text(|h| &h.py_version),
            "abi": text(|h| &h.abi),
            "platform": text(|h| &h.platform),
            "os_name": text(|h| &h.os_name),
            "os_version": text(|h| &h.os_version),
            "board_revision": text(|h| &h.board_revision),
            "board_serial": text(|h| &h.board_serial),
            "build_timeout_seconds": hello.map(|h| h.build_timeout.num_seconds()),
            "busy_timeout_seconds": hello.map(|h| h.busy_timeout.num_seconds()),
            "stats": self.stats.as_ref().map(|s| json!({
                "timestamp": s.timestamp.to_rfc3339(),
                "disk_size": s.disk_size, "disk_free": s.disk_free,
                "mem_size": s.mem_size, "mem_free": s.mem_free,
                "swap_size": s.swap_size, "swap_free": s.swap_free,
                "load_average": s.load_average, "cpu_temp": s.cpu_temp,
            })),
        })
    }

    /// One line about the slave, for `--watch`.
    pub fn summary(&self, now: DateTime<Utc>) -> String {
        let mut line = format!(
            "slave {} {} {} {}",
            self.id,
            self.label(),
            self.target(),
            self.state_text(now)
        );
        if let Some((job, _)) = &self.build {
            line += &format!(" {} {}", job.package, job.version);
        }
        if let Some(file) = &self.sending {
            line += &format!(" sending {file}");
        }
        line
    }
}

fn reply_name(reply: &SlaveReply) -> String {
    use piwheels_protocol::Message;
    match reply {
        SlaveReply::Sleep(paused) => format!("SLEEP {paused}"),
        other => other.name().to_owned(),
    }
}

/// Whether the master is paused, as far as the monitor can tell: the protocol has no
/// message for it, so this is what the monitor itself asked for, or what the slaves are
/// told (every slave told `SLEEP true`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paused {
    /// Nothing says so.
    No,
    /// This monitor paused it.
    ByUs,
    /// Every slave is told to sleep because of a pause.
    SlavesSleep,
}

/// The master as the monitor knows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MasterView {
    /// Its `HELLO` (who it is, when it started).
    pub hello: Option<MasterHello>,
    /// Its latest statistics.
    pub stats: Option<MasterStats>,
    /// When the monitor last heard from it (monitor's clock).
    pub last_heard: Option<DateTime<Utc>>,
    /// Whether this monitor paused it (`Some(false)` once it resumed it).
    pub paused_by_us: Option<bool>,
}

/// Everything the monitor knows (see the module docs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Model {
    /// The master.
    pub master: MasterView,
    /// The slaves by id.
    pub slaves: BTreeMap<i64, SlaveView>,
    /// Messages that could not be read (bad CBOR, not in the status table, a `SLAVE`
    /// event the master never sends).
    pub bad_messages: u64,
    /// Why the latest of them was bad.
    pub last_bad: Option<String>,
}

impl Model {
    /// A model that knows nothing yet.
    pub fn new() -> Self {
        Model::default()
    }

    /// Takes in one status message received at `now`.
    pub fn apply(&mut self, msg: StatusMessage, now: DateTime<Utc>) {
        self.master.last_heard = Some(now);
        match msg {
            StatusMessage::Hello(hello) => self.master.hello = Some(hello),
            StatusMessage::Stats(stats) => {
                // The replayed history comes oldest first; keep the newest.
                if self
                    .master
                    .stats
                    .as_ref()
                    .is_none_or(|s| s.timestamp <= stats.timestamp)
                {
                    self.master.stats = Some(stats);
                }
            }
            StatusMessage::Slave(event) => match event.kind() {
                Some(kind) => self
                    .slaves
                    .entry(event.slave_id)
                    .or_insert_with(|| SlaveView::new(event.slave_id, event.timestamp))
                    .apply(&event, kind),
                None => self.bad(format!(
                    "SLAVE event {:?} for slave {} with data the master never sends",
                    cut(&event.msg),
                    event.slave_id
                )),
            },
        }
    }

    /// Counts a message that could not be read.
    pub fn bad(&mut self, why: String) {
        self.bad_messages += 1;
        self.last_bad = Some(cut(&why));
    }

    /// Whether the master is paused, as far as the monitor can tell (see [`Paused`]).
    pub fn paused(&self, now: DateTime<Utc>) -> Paused {
        if self.master.paused_by_us == Some(true) {
            return Paused::ByUs;
        }
        let mut live = self.slaves.values().filter(|s| {
            !matches!(
                s.status(now),
                SlaveStatus::Gone | SlaveStatus::Lost | SlaveStatus::Starting
            )
        });
        let first = live.next();
        if first.is_some_and(|s| s.status(now) == SlaveStatus::Sleeping)
            && live.all(|s| s.status(now) == SlaveStatus::Sleeping)
        {
            Paused::SlavesSleep
        } else {
            Paused::No
        }
    }

    /// The master's state in a word: `unknown` before its `HELLO`, `silent`, `paused` or
    /// `running`.
    pub fn master_state(&self, now: DateTime<Utc>) -> &'static str {
        if self.master.hello.is_none() {
            return "unknown";
        }
        if self
            .master
            .last_heard
            .is_some_and(|t| now - t > MASTER_SILENT)
        {
            return "silent";
        }
        match self.paused(now) {
            Paused::No => "running",
            Paused::ByUs | Paused::SlavesSleep => "paused",
        }
    }

    /// The slaves in display order (by id).
    pub fn slave_list(&self) -> Vec<&SlaveView> {
        self.slaves.values().collect()
    }

    /// Everything as one JSON document, states taken at `now`.
    pub fn to_json(&self, now: DateTime<Utc>) -> Value {
        let m = &self.master;
        let stats = m.stats.as_ref().map(|s| {
            json!({
                "timestamp": s.timestamp.to_rfc3339(),
                "packages_built": s.packages_built,
                "builds_last_hour": per_target(&s.builds_last_hour),
                "builds_time_seconds": s.builds_time.num_seconds(),
                "builds_size": s.builds_size,
                "builds_pending": per_target(&s.builds_pending),
                "new_last_hour": s.new_last_hour,
                "files_count": s.files_count,
                "downloads_last_hour": s.downloads_last_hour,
                "downloads_last_month": s.downloads_last_month,
                "downloads_all": s.downloads_all,
                "disk_size": s.disk_size, "disk_free": s.disk_free,
                "mem_size": s.mem_size, "mem_free": s.mem_free,
                "swap_size": s.swap_size, "swap_free": s.swap_free,
                "load_average": s.load_average, "cpu_temp": s.cpu_temp,
            })
        });
        json!({
            "master": {
                "state": self.master_state(now),
                "label": m.hello.as_ref().map(|h| h.label.clone()),
                "started": m.hello.as_ref().map(|h| h.started.to_rfc3339()),
                "uptime_seconds": m.hello.as_ref().map(|h| (now - h.started).num_seconds()),
                "os_name": m.hello.as_ref().map(|h| h.os_name.clone()),
                "os_version": m.hello.as_ref().map(|h| h.os_version.clone()),
                "board_revision": m.hello.as_ref().map(|h| h.board_revision.clone()),
                "board_serial": m.hello.as_ref().map(|h| h.board_serial.clone()),
                "stats": stats,
            },
            "slaves": self.slaves.values().map(|s| s.to_json(now)).collect::<Vec<_>>(),
            "bad_messages": self.bad_messages,
            "last_bad": self.last_bad,
        })
    }

    /// One line per thing shown, keyed, for `--watch` (a line is printed when it changes).
    pub fn summaries(&self, now: DateTime<Utc>) -> BTreeMap<String, String> {
        let mut lines = BTreeMap::new();
        let master = match &self.master.hello {
            Some(h) => format!("master {} {}", h.label, self.master_state(now)),
            None => "master unknown".to_owned(),
        };
        lines.insert("master".to_owned(), master);
        if let Some(s) = &self.master.stats {
            let pending: Vec<String> = s
                .builds_pending
                .iter()
                .map(|(abi, n)| format!("{abi}={n}"))
                .collect();
            let built: i64 = s.builds_last_hour.values().sum();
            lines.insert(
                "queue".to_owned(),
                format!(
                    "queue {} built-last-hour {built} disk-free {}",
                    if pending.is_empty() {
                        "empty".to_owned()
                    } else {
                        pending.join(" ")
                    },
                    crate::monitor::ui::bytes(s.disk_free)
                ),
            );
        }
        for s in self.slaves.values() {
            lines.insert(format!("slave {:>12}", s.id), s.summary(now));
        }
        if self.bad_messages > 0 {
            lines.insert(
                "bad".to_owned(),
                format!(
                    "bad-messages {} last: {}",
                    self.bad_messages,
                    self.last_bad.as_deref().unwrap_or("-")
                ),
            );
        }
        lines
    }
}

/// A per-target figure as a JSON object, in the master's order.
fn per_target<'a>(map: impl IntoIterator<Item = (&'a String, &'a i64)>) -> Value {
    Value::Object(
        map.into_iter()
            .map(|(k, v)| (k.clone(), Value::from(*v)))
            .collect(),
    )
}

/// Peer text cut to a line.
fn cut(s: &str) -> String {
    piwheels_protocol::quote::cut(s, 200).to_string()
}

#[cfg(test)]
mod tests;
