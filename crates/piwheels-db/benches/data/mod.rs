//! A synthetic PyPI-sized data set, generated deterministically, and loaded into either
//! backend in its fastest way (prepared inserts in one transaction on SQLite, binary COPY on
//! PostgreSQL). The loaded databases are kept (`target/bench-data/` for SQLite, a database
//! in the test server for PostgreSQL) and reused by later runs of the same size.
//!
//! Shape, for `packages` packages: 10 versions each, released at scattered times over ten
//! years; a build of every fifth version by cp311/linux_armv7l: 60 % a pure wheel (one pip
//! dependency), 25 % a compiled armv7l wheel plus its armv6l copy (two apt dependencies
//! each), 15 % a failure. Two build targets, cp311 and cp313 on linux_armv7l, as the
//! original's two ABIs. At 500,000 packages: 5 million versions, 1 million builds.

use std::pin::pin;

use chrono::{DateTime, Utc};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

/// Bumped when the generator changes, so that old cached databases are not reused.
pub const GENERATION: u32 = 1;

pub const VERSIONS_PER_PACKAGE: usize = 10;
pub const TARGETS: [(&str, &str); 2] = [("cp311", "linux_armv7l"), ("cp313", "linux_armv7l")];

/// One cell of a generated row.
#[derive(Debug, Clone)]
pub enum V {
    I(i64),
    T(String),
    B(bool),
    Ts(i64),
    Null,
}

pub fn package(i: usize) -> String {
    format!("p{i:06}")
}

pub fn version(k: usize) -> String {
    format!("1.{k}")
}

/// The global index of version `k` of package `i`.
pub fn index(i: usize, k: usize) -> usize {
    i * VERSIONS_PER_PACKAGE + k
}

/// Whether version `j` (global index) has a build.
pub fn built(j: usize) -> bool {
    j.is_multiple_of(5)
}

/// What the build of version `j` gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pure,
    Compiled,
    Fail,
}

pub fn outcome(j: usize) -> Outcome {
    match (j / 5) % 20 {
        0..=11 => Outcome::Pure,
        12..=16 => Outcome::Compiled,
        _ => Outcome::Fail,
    }
}

/// 2015-01-01 plus a scattered number of minutes within ten years, in microseconds.
pub fn released(j: usize) -> i64 {
    const BASE: i64 = 1_420_070_400;
    const SPAN_MINUTES: u64 = 10 * 365 * 24 * 60;
    let m = (j as u64).wrapping_mul(2_654_435_761) % SPAN_MINUTES;
    (BASE + m as i64 * 60) * 1_000_000
}

fn hash(name: &str) -> String {
    let mut h: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for b in name.bytes() {
        h ^= b as u128;
        h = h.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    format!("{h:032x}{:032x}", h.rotate_left(64))
}

/// One table's generated rows: its name, its columns, and the rows.
pub type Table = (
    &'static str,
    &'static [&'static str],
    Box<dyn Iterator<Item = Vec<V>>>,
);

/// The rows of every table, in load order.
pub fn tables(packages: usize) -> Vec<Table> {
    let pkgs = move || 0..packages;
    vec![
        (
            "packages",
            &["package", "skip", "description"],
            Box::new(pkgs().map(|i| {
                vec![
                    V::T(package(i)),
                    V::T(String::new()),
                    V::T(format!("Package number {i}")),
                ]
            })),
        ),
        (
            "package_names",
            &["name", "package", "seen"],
            Box::new(pkgs().map(|i| {
                vec![
                    V::T(package(i).to_uppercase()),
                    V::T(package(i)),
                    V::Ts(released(index(i, 0))),
                ]
            })),
        ),
        (
            "versions",
            &["package", "version", "released", "skip", "yanked"],
            Box::new(pkgs().flat_map(|i| {
                (0..VERSIONS_PER_PACKAGE).map(move |k| {
                    vec![
                        V::T(package(i)),
                        V::T(version(k)),
                        V::Ts(released(index(i, k))),
                        V::T(String::new()),
                        V::B(false),
                    ]
                })
            })),
        ),
        (
            "builds",
            &[
                "build_id",
                "package",
                "version",
                "built_by",
                "built_at",
                "duration_us",
                "status",
                "abi_tag",
                "platform_tag",
            ],
            Box::new(builds(packages).map(|(id, i, k, j)| {
                vec![
                    V::I(id),
                    V::T(package(i)),
                    V::T(version(k)),
                    V::I(1 + (j % 7) as i64),
                    V::Ts(released(j) + 86_400_000_000),
                    V::I(60_000_000 + (j % 600) as i64 * 1_000_000),
                    V::B(outcome(j) != Outcome::Fail),
                    V::T(TARGETS[0].0.into()),
                    V::T(TARGETS[0].1.into()),
                ]
            })),
        ),
        (
            "files",
            &[
                "filename",
                "build_id",
                "filesize",
                "filehash",
                "package_tag",
                "package_version_tag",
                "py_version_tag",
                "abi_tag",
                "platform_tag",
                "requires_python",
                "location",
                "twin_of",
            ],
            Box::new(builds(packages).flat_map(|(id, i, k, j)| {
                files(i, k, j)
                    .into_iter()
                    .map(move |(name, py, abi, platform, twin_of)| {
                        vec![
                            V::T(name.clone()),
                            V::I(id),
                            V::I(10_000 + (j % 90_000) as i64),
                            V::T(hash(&name)),
                            V::T(package(i)),
                            V::T(version(k)),
                            V::T(py.into()),
                            V::T(abi.into()),
                            V::T(platform.into()),
                            if j % 3 == 0 {
                                V::T(">=3.7".into())
                            } else {
                                V::Null
                            },
                            V::T("/simple".into()),
                            twin_of.map_or(V::Null, V::T),
                        ]
                    })
            })),
        ),
        (
            "dependencies",
            &["filename", "tool", "dependency"],
            Box::new(builds(packages).flat_map(|(_, i, k, j)| {
                files(i, k, j)
                    .into_iter()
                    .flat_map(move |(name, _, abi, _, _)| {
                        let deps: Vec<(&str, &str)> = if abi == "none" {
                            vec![("pip", "six")]
                        } else {
                            vec![("apt", "libc6"), ("apt", "libgcc-s1")]
                        };
                        deps.into_iter().map(move |(tool, dep)| {
                            vec![V::T(name.clone()), V::T(tool.into()), V::T(dep.into())]
                        })
                    })
            })),
        ),
    ]
}

/// (build id, package index, version index, global index) of every build.
fn builds(packages: usize) -> impl Iterator<Item = (i64, usize, usize, usize)> {
    (0..packages).flat_map(|i| {
        (0..VERSIONS_PER_PACKAGE).filter_map(move |k| {
            let j = index(i, k);
            built(j).then(|| ((j / 5 + 1) as i64, i, k, j))
        })
    })
}

/// The wheels of the build of version `j`: (name, py, abi, platform, copy of).
type Wheel = (
    String,
    &'static str,
    &'static str,
    &'static str,
    Option<String>,
);

fn files(i: usize, k: usize, j: usize) -> Vec<Wheel> {
    let (p, v) = (package(i), version(k));
    match outcome(j) {
        Outcome::Pure => vec![(
            format!("{p}-{v}-py3-none-any.whl"),
            "py3",
            "none",
            "any",
            None,
        )],
        Outcome::Compiled => {
            let real = format!("{p}-{v}-cp311-cp311-linux_armv7l.whl");
            vec![
                (real.clone(), "cp311", "cp311", "linux_armv7l", None),
                (
                    format!("{p}-{v}-cp311-cp311-linux_armv6l.whl"),
                    "cp311",
                    "cp311",
                    "linux_armv6l",
                    Some(real),
                ),
            ]
        }
        Outcome::Fail => Vec::new(),
    }
}

/// Loads every table into an SQLite file that already has the schema and targets.
pub fn load_sqlite(path: &std::path::Path, packages: usize) -> rusqlite::Result<u64> {
    let mut conn = rusqlite::Connection::open(path)?;
    conn.execute_batch(
        "PRAGMA synchronous = OFF; PRAGMA foreign_keys = ON; PRAGMA cache_size = -262144;",
    )?;
    let tx = conn.transaction()?;
    let mut rows = 0;
    for (table, columns, data) in tables(packages) {
        let marks: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
        let mut stmt = tx.prepare(&format!(
            "INSERT INTO {table} ({}) VALUES ({})",
            columns.join(", "),
            marks.join(", ")
        ))?;
        for row in data {
            let values: Vec<rusqlite::types::Value> = row
                .into_iter()
                .map(|v| match v {
                    V::I(i) | V::Ts(i) => rusqlite::types::Value::Integer(i),
                    V::B(b) => rusqlite::types::Value::Integer(i64::from(b)),
                    V::T(s) => rusqlite::types::Value::Text(s),
                    V::Null => rusqlite::types::Value::Null,
                })
                .collect();
            stmt.execute(rusqlite::params_from_iter(values))?;
            rows += 1;
        }
    }
    tx.commit()?;
    conn.execute_batch("ANALYZE")?;
    Ok(rows)
}

/// Loads every table into a PostgreSQL database that already has the schema and targets.
pub async fn load_postgres(
    client: &tokio_postgres::Client,
    packages: usize,
) -> Result<u64, tokio_postgres::Error> {
    let mut rows = 0;
    for (table, columns, data) in tables(packages) {
        let cols = columns.join(", ");
        let types: Vec<Type> = client
            .prepare(&format!("SELECT {cols} FROM {table} LIMIT 0"))
            .await?
            .columns()
            .iter()
            .map(|c| c.type_().clone())
            .collect();
        let sink = client
            .copy_in(&format!("COPY {table} ({cols}) FROM STDIN BINARY"))
            .await?;
        let mut writer = pin!(BinaryCopyInWriter::new(sink, &types));
        for row in data {
            let cells: Vec<Box<dyn ToSql + Sync + Send>> = row
                .into_iter()
                .map(|v| -> Box<dyn ToSql + Sync + Send> {
                    match v {
                        V::I(i) => Box::new(i),
                        V::T(s) => Box::new(s),
                        V::B(b) => Box::new(b),
                        V::Ts(us) => Box::new(
                            DateTime::<Utc>::from_timestamp_micros(us)
                                .unwrap()
                                .naive_utc(),
                        ),
                        V::Null => Box::new(None::<String>),
                    }
                })
                .collect();
            let refs: Vec<&(dyn ToSql + Sync)> = cells
                .iter()
                .map(|c| c.as_ref() as &(dyn ToSql + Sync))
                .collect();
            writer.as_mut().write(&refs).await?;
            rows += 1;
        }
        writer.finish().await?;
    }
    client
        .batch_execute("SELECT setval(pg_get_serial_sequence('builds', 'build_id'), (SELECT MAX(build_id) FROM builds)); ANALYZE")
        .await?;
    Ok(rows)
}
