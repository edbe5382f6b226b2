//! proptest strategies for every wire struct and every message of every direction.

use super::*;

// ---------------------------------------------------------------------------------------
// Strategies: scalars.

/// `0001-01-01T00:00:00Z` in microseconds since the epoch (Python's `datetime.min`).
pub(crate) const MIN_DATETIME_MICROS: i64 = -62_135_596_800_000_000;
/// `9999-12-31T23:59:59.999999Z` in microseconds since the epoch (`datetime.max`).
pub(crate) const MAX_DATETIME_MICROS: i64 = 253_402_300_799_999_999;
pub(crate) const MICROS_PER_DAY: i128 = 86_400_000_000;
/// Python's `timedelta.min`: -999999999 days.
pub(crate) const MIN_TIMEDELTA_MICROS: i128 = -999_999_999 * MICROS_PER_DAY;
/// Python's `timedelta.max`: 999999999 days, 86399 s, 999999 µs.
pub(crate) const MAX_TIMEDELTA_MICROS: i128 = 1_000_000_000 * MICROS_PER_DAY - 1;
/// [`Value::Int`]s below this magnitude come back as `Int` (see `big_bignums_stay_canonical`).
pub(crate) const VALUE_INT_LIMIT: i128 = 1 << 120;

/// Text of arbitrary Unicode scalar values, short.
pub(crate) fn text() -> impl Strategy<Value = String> {
    vec(any::<char>(), 0..12).prop_map(String::from_iter)
}

/// Text long enough to look like a build log.
pub(crate) fn long_text() -> impl Strategy<Value = String> {
    vec(any::<char>(), 0..300).prop_map(String::from_iter)
}

/// UTC datetimes in Python's range at microsecond precision, the bounds included; a
/// quarter are whole seconds (whose encoding omits the fraction).
pub(crate) fn datetime() -> impl Strategy<Value = DateTime<Utc>> {
    prop_oneof![
        1 => Just(MIN_DATETIME_MICROS),
        1 => Just(MAX_DATETIME_MICROS),
        6 => MIN_DATETIME_MICROS..=MAX_DATETIME_MICROS,
        3 => (MIN_DATETIME_MICROS / 1_000_000..=MAX_DATETIME_MICROS / 1_000_000)
            .prop_map(|s| s * 1_000_000),
    ]
    .prop_map(|us| DateTime::from_timestamp_micros(us).expect("within chrono's range"))
}

/// Timedeltas in Python's range, small and large, positive and negative.
pub(crate) fn timedelta() -> impl Strategy<Value = TimeDelta> {
    prop_oneof![
        1 => Just(MIN_TIMEDELTA_MICROS),
        1 => Just(MAX_TIMEDELTA_MICROS),
        4 => -10 * MICROS_PER_DAY..=10 * MICROS_PER_DAY,
        2 => (-1_000_000i128..=1_000_000).prop_map(|s| s * 1_000_000),
        4 => MIN_TIMEDELTA_MICROS..=MAX_TIMEDELTA_MICROS,
    ]
    .prop_map(|us| timedelta_from_micros(us).expect("within Python's range"))
}

/// Finite floats of every class: normal, subnormal, ±0.
pub(crate) fn finite_f64() -> impl Strategy<Value = f64> {
    use proptest::num::f64::{NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
    POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO
}

/// A `{str: T}` map with unique keys in generated (not sorted) order.
pub(crate) fn str_map<T: std::fmt::Debug>(
    keys: impl Strategy<Value = String>,
    values: impl Strategy<Value = T>,
    max: usize,
) -> impl Strategy<Value = IndexMap<String, T>> {
    vec((keys, values), 0..max).prop_map(|pairs| {
        let mut map = IndexMap::new();
        for (k, v) in pairs {
            map.entry(k).or_insert(v);
        }
        map
    })
}

/// Dependencies as slaves report them: mostly `apt`, `pip` and `""`, sometimes anything.
pub(crate) fn dependencies() -> impl Strategy<Value = IndexMap<String, Vec<String>>> {
    let tool = prop_oneof![
        Just("apt".to_string()),
        Just("pip".to_string()),
        Just(String::new()),
        text(),
    ];
    str_map(tool, vec(text(), 0..4), 5)
}

/// Per-ABI counters: `{abi: int}`.
pub(crate) fn abi_counts() -> impl Strategy<Value = IndexMap<String, i64>> {
    let abi = prop_oneof![Just("cp39".to_string()), Just("cp311".to_string()), text()];
    str_map(abi, any::<i64>(), 4)
}

// ---------------------------------------------------------------------------------------
// Strategies: Value trees.

/// Integers of every encoded size: immediate, 1–8 byte heads, and bignums.
pub(crate) fn value_int() -> impl Strategy<Value = i128> {
    prop_oneof![
        any::<i64>().prop_map(i128::from),
        any::<u64>().prop_map(i128::from),
        any::<u64>().prop_map(|u| -1 - i128::from(u)),
        -VALUE_INT_LIMIT..VALUE_INT_LIMIT,
        prop::sample::select(vec![
            -VALUE_INT_LIMIT,
            VALUE_INT_LIMIT - 1,
            1 << 64,
            -(1 << 64),
            -(1 << 64) - 1,
        ]),
    ]
}

/// Simple values other than false, true and null (20–22), which come back as `Bool`
/// and `Null`. 24–31 are not well-formed CBOR, but cbor2 5.6.5 reads them as simple
/// values and so does our decoder.
pub(crate) fn simple() -> impl Strategy<Value = u8> {
    prop_oneof![0u8..=19, 23u8..=255]
}

/// Tag numbers without a meaning to the codec: not 0, 1 (datetimes), 2, 3 (bignums),
/// 258 (sets), 2001 (timedeltas) or 2002 (NoData).
pub(crate) fn raw_tag() -> impl Strategy<Value = u64> {
    prop_oneof![
        4u64..=30,
        4u64..=257,
        259u64..=2000,
        2003u64..=65_535,
        2003u64..=u64::MAX
    ]
}

/// Any [`Value`] in its canonical form, nested at most 4 deep.
pub(crate) fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        value_int().prop_map(Value::Int),
        finite_f64().prop_map(Value::Float),
        text().prop_map(Value::Text),
        vec(any::<u8>(), 0..16).prop_map(Value::Bytes),
        datetime().prop_map(Value::DateTime),
        timedelta().prop_map(Value::TimeDelta),
        Just(Value::NoData),
        simple().prop_map(Value::Simple),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            vec((inner.clone(), inner.clone()), 0..4).prop_map(Value::Map),
            vec(inner.clone(), 0..6).prop_map(Value::Set),
            (raw_tag(), inner).prop_map(|(t, v)| Value::Tag(t, Box::new(v))),
        ]
    })
}

// ---------------------------------------------------------------------------------------
// Strategies: wire structs.

/// `wire!(Type { field: strategy, ... })`: a boxed strategy for a struct, one strategy
/// per field. The strategies are nested in pairs, so any number of fields works.
macro_rules! wire {
    ($ty:ident { $($field:ident: $strategy:expr),* $(,)? }) => {
        wire!(@nest $($strategy),*)
            .prop_map(|wire!(@pat $($field),*)| $ty { $($field),* })
            .boxed()
    };
    (@nest) => { Just(()) };
    (@nest $head:expr $(, $tail:expr)*) => { ($head, wire!(@nest $($tail),*)) };
    (@pat) => { () };
    (@pat $head:ident $(, $tail:ident)*) => { ($head, wire!(@pat $($tail),*)) };
}

pub(crate) fn file_state() -> BoxedStrategy<FileState> {
    wire!(FileState {
        filename: text(),
        filesize: any::<i64>(),
        filehash: text(),
        package_tag: text(),
        package_version_tag: text(),
        py_version_tag: text(),
        abi_tag: text(),
        platform_tag: text(),
        requires_python: option::of(text()),
        dependencies: dependencies(),
        location: text(),
    })
}

pub(crate) fn slave_hello() -> BoxedStrategy<SlaveHello> {
    wire!(SlaveHello {
        build_timeout: timedelta(),
        busy_timeout: timedelta(),
        py_version: text(),
        abi: text(),
        platform: text(),
        label: text(),
        os_name: text(),
        os_version: text(),
        board_revision: text(),
        board_serial: text(),
    })
}

pub(crate) fn slave_stats() -> BoxedStrategy<SlaveStats> {
    wire!(SlaveStats {
        timestamp: datetime(),
        disk_size: any::<i64>(),
        disk_free: any::<i64>(),
        mem_size: any::<i64>(),
        mem_free: any::<i64>(),
        swap_size: any::<i64>(),
        swap_free: any::<i64>(),
        load_average: finite_f64(),
        cpu_temp: finite_f64(),
    })
}

pub(crate) fn built_report() -> BoxedStrategy<BuiltReport> {
    wire!(BuiltReport {
        status: any::<bool>(),
        duration: timedelta(),
        output: long_text(),
        files: vec(file_state(), 0..4),
    })
}

pub(crate) fn master_hello() -> BoxedStrategy<MasterHello> {
    wire!(MasterHello {
        started: datetime(),
        label: text(),
        os_name: text(),
        os_version: text(),
        board_revision: text(),
        board_serial: text(),
    })
}

pub(crate) fn master_stats() -> BoxedStrategy<MasterStats> {
    wire!(MasterStats {
        timestamp: datetime(),
        packages_built: any::<i64>(),
        builds_last_hour: abi_counts(),
        builds_time: timedelta(),
        builds_size: any::<i64>(),
        builds_pending: abi_counts(),
        new_last_hour: any::<i64>(),
        files_count: any::<i64>(),
        downloads_last_hour: any::<i64>(),
        downloads_last_month: any::<i64>(),
        downloads_all: any::<i64>(),
        disk_size: any::<i64>(),
        disk_free: any::<i64>(),
        mem_size: any::<i64>(),
        mem_free: any::<i64>(),
        swap_size: any::<i64>(),
        swap_free: any::<i64>(),
        load_average: finite_f64(),
        cpu_temp: finite_f64(),
    })
}

pub(crate) fn slave_event() -> BoxedStrategy<SlaveEvent> {
    let names = vec![
        "HELLO", "STATS", "ACK", "SLEEP", "BUILD", "SEND", "DONE", "DIE",
    ];
    wire!(SlaveEvent {
        slave_id: any::<i64>(),
        timestamp: datetime(),
        msg: prop_oneof![prop::sample::select(names).prop_map(String::from), text()],
        data: value(),
    })
}

pub(crate) fn build_state() -> BoxedStrategy<BuildState> {
    wire!(BuildState {
        slave_id: any::<i64>(),
        package: text(),
        version: text(),
        abi_tag: text(),
        status: any::<bool>(),
        duration: timedelta(),
        output: long_text(),
        files: vec(file_state(), 0..3),
    })
}

pub(crate) fn rebuild_target() -> impl Strategy<Value = RebuildTarget> {
    prop_oneof![
        Just(RebuildTarget::Home),
        Just(RebuildTarget::Search),
        option::of(text()).prop_map(RebuildTarget::Project),
        option::of(text()).prop_map(RebuildTarget::Both),
    ]
}

/// `LOGDOWNLOAD` and `LOGSEARCH` data: the same 13 fields but the first one's name.
macro_rules! log_state {
    ($ty:ident, $first:ident) => {
        wire!($ty {
            $first: text(),
            host: text(),
            timestamp: datetime(),
            arch: option::of(text()),
            distro_name: option::of(text()),
            distro_version: option::of(text()),
            os_name: option::of(text()),
            os_version: option::of(text()),
            py_name: option::of(text()),
            py_version: option::of(text()),
            installer_name: option::of(text()),
            installer_version: option::of(text()),
            setuptools_version: option::of(text()),
        })
    };
}

pub(crate) fn project_hit() -> BoxedStrategy<ProjectHit> {
    wire!(ProjectHit {
        package: text(),
        host: text(),
        timestamp: datetime(),
        user_agent: text()
    })
}

// ---------------------------------------------------------------------------------------
// Strategies: messages, one per direction, every variant.

pub(crate) fn slave_request() -> BoxedStrategy<SlaveRequest> {
    prop_oneof![
        slave_hello().prop_map(SlaveRequest::Hello),
        slave_stats().prop_map(SlaveRequest::Idle),
        slave_stats().prop_map(SlaveRequest::Busy),
        built_report().prop_map(SlaveRequest::Built),
        Just(SlaveRequest::Sent),
        Just(SlaveRequest::Bye),
    ]
    .boxed()
}

pub(crate) fn slave_reply() -> BoxedStrategy<SlaveReply> {
    prop_oneof![
        wire!(Ack {
            slave_id: any::<i64>(),
            index_url: text()
        })
        .prop_map(SlaveReply::Ack),
        any::<bool>().prop_map(SlaveReply::Sleep),
        wire!(Job {
            package: text(),
            version: text()
        })
        .prop_map(SlaveReply::Build),
        text().prop_map(SlaveReply::Send),
        Just(SlaveReply::Cont),
        Just(SlaveReply::Done),
        Just(SlaveReply::Die),
    ]
    .boxed()
}

pub(crate) fn status_message() -> BoxedStrategy<StatusMessage> {
    prop_oneof![
        master_hello().prop_map(StatusMessage::Hello),
        master_stats().prop_map(StatusMessage::Stats),
        slave_event().prop_map(StatusMessage::Slave),
    ]
    .boxed()
}

pub(crate) fn control_message() -> BoxedStrategy<ControlMessage> {
    let target = || option::of(any::<i64>());
    prop_oneof![
        target().prop_map(ControlMessage::Kill),
        target().prop_map(ControlMessage::Sleep),
        target().prop_map(ControlMessage::Skip),
        target().prop_map(ControlMessage::Wake),
        Just(ControlMessage::Hello),
        Just(ControlMessage::Quit),
    ]
    .boxed()
}

pub(crate) fn import_request() -> BoxedStrategy<ImportRequest> {
    let aliases = || vec(text(), 0..4);
    prop_oneof![
        build_state().prop_map(ImportRequest::Import),
        wire!(AddPackage {
            package: text(),
            description: text(),
            skip: text(),
            unskip: any::<bool>(),
            aliases: aliases(),
        })
        .prop_map(ImportRequest::AddPackage),
        wire!(AddVersion {
            package: text(),
            version: text(),
            skip: text(),
            unskip: any::<bool>(),
            released: datetime(),
            yank: any::<bool>(),
            unyank: any::<bool>(),
            aliases: aliases(),
        })
        .prop_map(ImportRequest::AddVersion),
        wire!(RemovePackage {
            package: text(),
            builds: any::<bool>(),
            skip: text()
        })
        .prop_map(ImportRequest::RemovePackage),
        wire!(RemoveVersion {
            package: text(),
            version: text(),
            builds: any::<bool>(),
            skip: text(),
            yank: any::<bool>(),
        })
        .prop_map(ImportRequest::RemoveVersion),
        rebuild_target().prop_map(ImportRequest::Rebuild),
        Just(ImportRequest::Sent),
    ]
    .boxed()
}

pub(crate) fn import_reply() -> BoxedStrategy<ImportReply> {
    prop_oneof![
        text().prop_map(ImportReply::Send),
        text().prop_map(ImportReply::Done),
        text().prop_map(ImportReply::Error),
    ]
    .boxed()
}

pub(crate) fn log_message() -> BoxedStrategy<LogMessage> {
    prop_oneof![
        log_state!(DownloadState, filename).prop_map(LogMessage::Download),
        log_state!(SearchState, package).prop_map(LogMessage::Search),
        project_hit().prop_map(LogMessage::Project),
        project_hit().prop_map(LogMessage::Json),
        wire!(PageHit {
            page: text(),
            host: text(),
            timestamp: datetime(),
            user_agent: text()
        })
        .prop_map(LogMessage::Page),
    ]
    .boxed()
}
