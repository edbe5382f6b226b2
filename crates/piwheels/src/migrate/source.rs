//! The source of a migration: a piwheels 0.23 database on PostgreSQL, read in one
//! read-only, repeatable-read transaction (one snapshot for the whole run; the source is
//! never written), each table through a cursor in key order.

use std::collections::BTreeMap;

use piwheels_db::load::ACCESS_FIELDS;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row, Transaction};

use super::MigrateError;
use super::steps::{Key, StepDef};

/// The schema version a source must have.
pub const VERSION: &str = "0.23";

/// The columns of every table of a 0.23 database (spec §5.1), for the check that the
/// source is whole: a database half-way through an upgrade lacks some or has others.
pub fn columns() -> Vec<(&'static str, Vec<&'static str>)> {
    let access = |name: &'static str| {
        let mut cols = vec![name, "accessed_by", "accessed_at"];
        cols.extend(ACCESS_FIELDS);
        cols
    };
    vec![
        ("configuration", vec!["id", "version", "pypi_serial"]),
        ("packages", vec!["package", "skip", "description"]),
        ("package_names", vec!["package", "name", "seen"]),
        (
            "versions",
            vec!["package", "version", "released", "skip", "yanked"],
        ),
        ("build_abis", vec!["abi_tag", "skip"]),
        (
            "builds",
            vec![
                "build_id", "package", "version", "built_by", "built_at", "duration", "status",
                "abi_tag",
            ],
        ),
        (
            "files",
            vec![
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
            ],
        ),
        ("dependencies", vec!["filename", "tool", "dependency"]),
        ("downloads", access("filename")),
        ("searches", access("package")),
        (
            "project_page_hits",
            vec!["package", "accessed_by", "accessed_at", "user_agent", "bot"],
        ),
        (
            "project_json_downloads",
            vec!["package", "accessed_by", "accessed_at", "user_agent"],
        ),
        (
            "web_page_hits",
            vec!["page", "accessed_by", "accessed_at", "user_agent", "bot"],
        ),
        ("rewrites_pending", vec!["package", "added_at", "command"]),
        ("preinstalled_apt_packages", vec!["abi_tag", "apt_package"]),
    ]
}

/// Whether a column of 0.23's has the type piw-migrate reads it as (text columns may be
/// any text type: they are read as text).
fn type_ok(column: &str, ty: &str) -> bool {
    match column {
        "id" | "build_id" | "built_by" | "filesize" => ty == "integer",
        "pypi_serial" => ty == "bigint",
        "yanked" | "status" | "bot" => ty == "boolean",
        "seen" | "released" | "built_at" | "accessed_at" | "added_at" => {
            ty == "timestamp without time zone"
        }
        "duration" => ty == "interval",
        "accessed_by" => ty == "inet",
        _ => matches!(ty, "character varying" | "character" | "text"),
    }
}

/// Whether a column of 0.23's may hold NULL: `files.requires_python` and the optional
/// fields of the downloads and searches.
fn may_be_null(column: &str) -> bool {
    column == "requires_python" || ACCESS_FIELDS.contains(&column)
}

/// A connection to the source.
pub struct Source {
    client: Client,
    id: String,
}

impl Source {
    /// Connects to the source at `dsn` (a libpq `key=value` string or a `postgres://`
    /// URL), and checks that it is a whole 0.23 database.
    pub async fn connect(dsn: &str) -> Result<Self, MigrateError> {
        let config: tokio_postgres::Config = dsn
            .parse()
            .map_err(|e| MigrateError::Source(format!("the source address {dsn:?}: {e}")))?;
        let (client, conn) = config.connect(NoTls).await.map_err(pg("connecting"))?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::error!(error = %e, "the connection to the source failed");
            }
        });
        let row = client
            .query_one(
                "SELECT current_database()::text, COALESCE(inet_server_addr()::text, 'local'), \
                 COALESCE(inet_server_port(), 0), current_setting('server_version_num')::int",
                &[],
            )
            .await
            .map_err(pg("identifying"))?;
        let id = format!(
            "postgres {}:{} database {}",
            row.get::<_, String>(1),
            row.get::<_, i32>(2),
            row.get::<_, String>(0)
        );
        let source = Self { client, id };
        source.check_schema().await?;
        source.warn_if_in_use().await;
        Ok(source)
    }

    /// What identifies the source (server and database), for resuming.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Warns when other sessions use the source: rows the original master writes once the
    /// snapshot is taken are not copied.
    async fn warn_if_in_use(&self) {
        let others = self
            .client
            .query_one(
                "SELECT COUNT(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
                &[],
            )
            .await
            .map(|r| r.get::<_, i64>(0))
            .unwrap_or(0);
        if others > 0 {
            tracing::warn!(
                sessions = others,
                "other sessions use the source database: if the original master is still \
                 running, what it writes from now on is not copied (stop it first)"
            );
        }
    }

    /// Refuses a source that is not a whole 0.23 database.
    async fn check_schema(&self) -> Result<(), MigrateError> {
        let rows = self
            .client
            .query(
                "SELECT table_name::text, column_name::text, data_type::text, \
                 is_nullable::text = 'YES' FROM information_schema.columns \
                 WHERE table_schema = current_schema()",
                &[],
            )
            .await
            .map_err(pg("reading the schema"))?;
        let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut types: BTreeMap<(String, String), (String, bool)> = BTreeMap::new();
        for r in rows {
            found.entry(r.get(0)).or_default().push(r.get(1));
            types.insert((r.get(0), r.get(1)), (r.get(2), r.get(3)));
        }
        let Some(config) = found.get("configuration") else {
            return Err(MigrateError::NotOriginal(
                "it has no configuration table: it is not a piwheels database".into(),
            ));
        };
        if config.iter().any(|c| c == "software") {
            return Err(MigrateError::NotOriginal(
                "it is a database of this software, not of the original piwheels".into(),
            ));
        }
        let version: Option<String> = self
            .client
            .query_opt("SELECT version::text FROM configuration", &[])
            .await
            .map_err(pg("reading its version"))?
            .map(|r| r.get(0));
        let version = version.unwrap_or_default();
        if version != VERSION {
            return Err(MigrateError::NotOriginal(format!(
                "its schema is version {version:?}; piw-migrate reads version {VERSION} \
                 (upgrade it first with the original's piw-initdb)"
            )));
        }
        let mut wrong = Vec::new();
        for (table, columns) in columns() {
            let Some(have) = found.get(table) else {
                wrong.push(format!("table {table} is missing"));
                continue;
            };
            for c in &columns {
                match types.get(&(table.to_owned(), (*c).to_owned())) {
                    None => wrong.push(format!("{table}.{c} is missing")),
                    Some((ty, nullable)) => {
                        if !type_ok(c, ty) {
                            wrong.push(format!("{table}.{c} is {ty}"));
                        }
                        if *nullable && !may_be_null(c) {
                            wrong.push(format!("{table}.{c} may be NULL"));
                        }
                    }
                }
            }
            for h in have {
                if !columns.contains(&h.as_str()) {
                    wrong.push(format!("{table}.{h} is not a 0.23 column"));
                }
            }
        }
        if !wrong.is_empty() {
            return Err(MigrateError::NotOriginal(format!(
                "it says version {VERSION} but its tables are not 0.23's (an upgrade stopped \
                 half-way?): {}",
                wrong.join("; ")
            )));
        }
        Ok(())
    }

    /// Starts the one read-only snapshot every read of the run uses.
    pub async fn snapshot(&mut self) -> Result<Snapshot<'_>, MigrateError> {
        let tx = self
            .client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(pg("starting a read-only transaction"))?;
        // Physical order for the tables read by row address, and nothing written.
        tx.batch_execute(
            "SET LOCAL synchronize_seqscans = off; \
             SET LOCAL max_parallel_workers_per_gather = 0",
        )
        .await
        .map_err(pg("setting up the snapshot"))?;
        Ok(Snapshot { tx })
    }
}

/// The source's snapshot.
pub struct Snapshot<'a> {
    tx: Transaction<'a>,
}

impl Snapshot<'_> {
    /// `configuration.pypi_serial`.
    pub async fn serial(&self) -> Result<i64, MigrateError> {
        Ok(self
            .tx
            .query_one("SELECT pypi_serial FROM configuration", &[])
            .await
            .map_err(pg("reading the serial"))?
            .get(0))
    }

    /// The highest build id the source ever gave (its sequence's last value): ids up to it
    /// may name build logs, so the target never gives them again.
    pub async fn last_build_id(&self) -> Result<i64, MigrateError> {
        let row = self
            .tx
            .query_one(
                "SELECT GREATEST(COALESCE((SELECT MAX(build_id) FROM builds), 0)::bigint, \
                 COALESCE(pg_sequence_last_value(pg_get_serial_sequence('builds', 'build_id')::regclass), 0))",
                &[],
            )
            .await
            .map_err(pg("reading the last build id"))?;
        Ok(row.get(0))
    }

    /// Rows of `table`.
    pub async fn count(&self, table: &str) -> Result<u64, MigrateError> {
        let n: i64 = self
            .tx
            .query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])
            .await
            .map_err(pg("counting rows"))?
            .get(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Opens a cursor over `step`'s rows after `position` (the key of the last row done,
    /// as [`position_of`] made it), in key order.
    pub async fn cursor(
        &self,
        step: &StepDef,
        position: Option<&[String]>,
    ) -> Result<Cursor<'_, '_>, MigrateError> {
        let (sql, params) = step.query(position);
        let stmt = self
            .tx
            .prepare(&sql)
            .await
            .map_err(pg("preparing a read"))?;
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        let portal = self
            .tx
            .bind(&stmt, &refs)
            .await
            .map_err(pg("opening a cursor"))?;
        Ok(Cursor {
            tx: &self.tx,
            portal,
        })
    }

    /// Rows of a query without parameters.
    pub async fn query(&self, sql: &str) -> Result<Vec<Row>, MigrateError> {
        self.tx.query(sql, &[]).await.map_err(pg("reading"))
    }

    /// Rows of a query whose one parameter is a list of text.
    pub async fn query_with(&self, sql: &str, list: &[String]) -> Result<Vec<Row>, MigrateError> {
        self.tx.query(sql, &[&list]).await.map_err(pg("reading"))
    }
}

/// A cursor over one step's rows.
pub struct Cursor<'s, 't> {
    tx: &'s Transaction<'t>,
    portal: tokio_postgres::Portal,
}

impl Cursor<'_, '_> {
    /// The next `n` rows (none at the end).
    pub async fn next(&mut self, n: usize) -> Result<Vec<Row>, MigrateError> {
        self.tx
            .query_portal(&self.portal, i32::try_from(n).unwrap_or(i32::MAX))
            .await
            .map_err(pg("reading rows"))
    }
}

/// The key of a row as its step's position: the key columns, as text.
pub fn position_of(key: &Key, row: &Row) -> Vec<String> {
    (0..key.columns())
        .map(|i| row.get::<_, String>(i))
        .collect()
}

fn pg(what: &'static str) -> impl Fn(tokio_postgres::Error) -> MigrateError {
    move |e| {
        let detail = e
            .as_db_error()
            .map(|d| format!("{} ({})", d.message(), d.code().code()))
            .unwrap_or_else(|| e.to_string());
        MigrateError::Source(format!("{what}: {detail}"))
    }
}
