//! Monitors ↔ master (piwheels.md §3.3): status broadcasts (master PUB → monitor SUB, no topic)
//! and control commands (monitor PUSH → master PULL).

use chrono::{DateTime, TimeDelta, Utc};
use indexmap::IndexMap;

use crate::cbor::{Decoder, Encoder, Value, Wire, WireError};
use crate::message::{NoMessage, Protocol};
use crate::slave::{SlaveHello, SlaveReply, SlaveStats};
use crate::{Message, ProtocolError, messages, wire_struct};

wire_struct! {
    /// Status `HELLO` data: who the master is (6 fields).
    pub struct MasterHello {
        /// When the master started.
        pub started: DateTime<Utc>,
        /// Label (the hostname).
        pub label: String,
        /// OS name.
        pub os_name: String,
        /// OS version.
        pub os_version: String,
        /// Board revision.
        pub board_revision: String,
        /// Board serial.
        pub board_serial: String,
    }
}

wire_struct! {
    /// Status `STATS` data: the master's statistics (19 fields). Also the data of the
    /// scribe's homepage request.
    pub struct MasterStats {
        /// When the sample was taken.
        pub timestamp: DateTime<Utc>,
        /// Packages with at least one successful build.
        pub packages_built: i64,
        /// Builds in the last hour, by ABI.
        pub builds_last_hour: IndexMap<String, i64>,
        /// Total build time.
        pub builds_time: TimeDelta,
        /// Total size of built files, bytes.
        pub builds_size: i64,
        /// Builds pending, by ABI.
        pub builds_pending: IndexMap<String, i64>,
        /// New packages/versions in the last hour.
        pub new_last_hour: i64,
        /// Files published.
        pub files_count: i64,
        /// Downloads in the last hour.
        pub downloads_last_hour: i64,
        /// Downloads in the last month.
        pub downloads_last_month: i64,
        /// Downloads ever.
        pub downloads_all: i64,
        /// Size of the output directory's filesystem, bytes.
        pub disk_size: i64,
        /// Free space there, bytes.
        pub disk_free: i64,
        /// Total memory, bytes.
        pub mem_size: i64,
        /// Available memory, bytes.
        pub mem_free: i64,
        /// Total swap, bytes.
        pub swap_size: i64,
        /// Free swap, bytes.
        pub swap_free: i64,
        /// 1-minute load average.
        pub load_average: f64,
        /// Board temperature, °C.
        pub cpu_temp: f64,
    }
}

wire_struct! {
    /// Status `SLAVE` data: something a slave said or was told (4 fields).
    ///
    /// `data` is anything on the wire (piwheels' `Extra`); [`SlaveEvent::kind`] reads it
    /// by `msg`, and the constructors build it from typed values.
    pub struct SlaveEvent {
        /// The slave.
        pub slave_id: i64,
        /// When (for `HELLO`: first seen).
        pub timestamp: DateTime<Utc>,
        /// `HELLO`, `STATS`, or the name of a reply the master sent.
        pub msg: String,
        /// The message's data: `NoData` (tag 2002) or `None` for replies without data.
        pub data: Value,
    }
}

/// A [`SlaveEvent`] read by its `msg`.
#[derive(Debug, Clone, PartialEq)]
pub enum SlaveEventKind {
    /// The slave's `HELLO`.
    Hello(SlaveHello),
    /// A statistics sample from `IDLE`/`BUSY`.
    Stats(SlaveStats),
    /// A reply the master sent (also a synthetic `DIE` when a slave is forgotten).
    Reply(SlaveReply),
    /// `SLEEP true` sent to a slave in cool-off (issue 19): the data is the time the
    /// cool-off ends instead of `true` ([`SlaveEvent::cooling_off`]).
    CoolingOff(DateTime<Utc>),
}

/// Re-reads a [`Value`] as a typed wire value (the value is re-encoded, then decoded).
pub fn value_as<T: Wire>(value: &Value) -> Result<T, WireError> {
    let mut buf = Vec::new();
    value
        .encode(&mut Encoder::new(&mut buf))
        .map_err(|reason| {
            WireError::Data(crate::DataError::new("encodable value", reason.to_string()))
        })?;
    T::decode(&mut Decoder::new(&buf))
}

/// The [`Value`] a typed wire value decodes to at the other end: an error (as data of
/// the status message `SLAVE`) if the other end could not represent it.
pub fn to_value<T: Wire>(value: &T) -> Result<Value, ProtocolError> {
    let mut buf = Vec::new();
    value
        .encode(&mut Encoder::new(&mut buf))
        .map_err(|reason| ProtocolError::Unencodable {
            msg: "SLAVE",
            reason,
        })?;
    Value::decode(&mut Decoder::new(&buf)).map_err(|e| match e {
        WireError::Decode(d) => ProtocolError::Decode(d),
        WireError::Data(error) => ProtocolError::InvalidData {
            msg: "SLAVE",
            error,
        },
    })
}

impl SlaveEvent {
    /// The event for a slave's `HELLO`.
    pub fn hello(
        slave_id: i64,
        first_seen: DateTime<Utc>,
        hello: &SlaveHello,
    ) -> Result<Self, ProtocolError> {
        Ok(SlaveEvent {
            slave_id,
            timestamp: first_seen,
            msg: "HELLO".into(),
            data: to_value(hello)?,
        })
    }

    /// The event for a statistics sample.
    pub fn stats(slave_id: i64, stats: &SlaveStats) -> Result<Self, ProtocolError> {
        Ok(SlaveEvent {
            slave_id,
            timestamp: stats.timestamp,
            msg: "STATS".into(),
            data: to_value(stats)?,
        })
    }

    /// The event for a reply sent at `when`; replies without data carry `NoData`.
    pub fn reply(
        slave_id: i64,
        when: DateTime<Utc>,
        reply: &SlaveReply,
    ) -> Result<Self, ProtocolError> {
        let data = match reply {
            SlaveReply::Ack(a) => to_value(a)?,
            SlaveReply::Sleep(b) => Value::Bool(*b),
            SlaveReply::Build(j) => to_value(j)?,
            SlaveReply::Send(f) => Value::Text(f.clone()),
            SlaveReply::Cont | SlaveReply::Done | SlaveReply::Die => Value::NoData,
        };
        Ok(SlaveEvent {
            slave_id,
            timestamp: when,
            msg: reply.name().into(),
            data,
        })
    }

    /// The event for the `SLEEP true` sent at `when` to a slave in cool-off until `until`.
    ///
    /// On the wire it is a `SLEEP` whose data is a datetime rather than `true`: the
    /// original monitor ignores `SLEEP`'s data (it shows the slave waiting, as before) and
    /// accepts any data in `SLAVE` messages (piwheels' `Extra`), while this project's
    /// monitor reads the time and shows the cool-off.
    pub fn cooling_off(slave_id: i64, when: DateTime<Utc>, until: DateTime<Utc>) -> Self {
        SlaveEvent {
            slave_id,
            timestamp: when,
            msg: "SLEEP".into(),
            data: Value::DateTime(until),
        }
    }

    /// Reads the data according to `msg`; `None` if the pair is not one the master sends
    /// (a monitor should show such an event, not fail on it).
    pub fn kind(&self) -> Option<SlaveEventKind> {
        let no_data = matches!(self.data, Value::NoData | Value::Null);
        Some(match self.msg.as_str() {
            "HELLO" => SlaveEventKind::Hello(value_as(&self.data).ok()?),
            "STATS" => SlaveEventKind::Stats(value_as(&self.data).ok()?),
            "ACK" => SlaveEventKind::Reply(SlaveReply::Ack(value_as(&self.data).ok()?)),
            "SLEEP" => match &self.data {
                Value::DateTime(until) => SlaveEventKind::CoolingOff(*until),
                data => SlaveEventKind::Reply(SlaveReply::Sleep(value_as(data).ok()?)),
            },
            "BUILD" => SlaveEventKind::Reply(SlaveReply::Build(value_as(&self.data).ok()?)),
            "SEND" => SlaveEventKind::Reply(SlaveReply::Send(value_as(&self.data).ok()?)),
            "CONT" if no_data => SlaveEventKind::Reply(SlaveReply::Cont),
            "DONE" if no_data => SlaveEventKind::Reply(SlaveReply::Done),
            "DIE" if no_data => SlaveEventKind::Reply(SlaveReply::Die),
            _ => return None,
        })
    }
}

messages! {
    /// What the master broadcasts to monitors on its status socket.
    pub enum StatusMessage {
        data {
            /// Who the master is (sent when a monitor says `HELLO`).
            "HELLO" => Hello(MasterHello),
            /// Master statistics (every 10 s).
            "STATS" => Stats(MasterStats),
            /// A slave event.
            "SLAVE" => Slave(SlaveEvent),
        }
        bare {}
    }
}

messages! {
    /// What monitors send the master on its control socket. `None` targets every slave.
    pub enum ControlMessage {
        data {
            /// Mark slave(s) to receive `DIE` at their next `IDLE`.
            "KILL" => Kill(Option<i64>),
            /// Pause: `None` pauses the master and every slave.
            "SLEEP" => Sleep(Option<i64>),
            /// Abandon the current build(s).
            "SKIP" => Skip(Option<i64>),
            /// Resume: `None` resumes the master and every slave.
            "WAKE" => Wake(Option<i64>),
        }
        bare {
            /// A new monitor: replay the state.
            "HELLO" => Hello,
            /// Terminate the master.
            "QUIT" => Quit,
        }
    }
}

/// The status socket: the master publishes [`StatusMessage`]s; nothing comes back.
#[derive(Debug, Clone, Copy)]
pub struct StatusProtocol;

impl Protocol for StatusProtocol {
    type ToMaster = NoMessage;
    type FromMaster = StatusMessage;
}

/// The control socket: monitors push [`ControlMessage`]s; nothing comes back.
#[derive(Debug, Clone, Copy)]
pub struct ControlProtocol;

impl Protocol for ControlProtocol {
    type ToMaster = ControlMessage;
    type FromMaster = NoMessage;
}
